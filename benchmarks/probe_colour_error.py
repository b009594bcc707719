"""How much of a network's error is white balance and exposure: oracle corrections per crop.

    python benchmarks/probe_colour_error.py CHECKPOINT runs/val79/validation-bayer-SPLIT.npz

For each validation crop, the network's output is corrected in linear light (sRGB curve
approximated by gamma 2.2) by the least-squares gains that best match the target, then scored:
- exposure: one gain for all three channels;
- white balance: red and blue gains relative to green (green, so brightness, left as it was);
- both: three free gains.
Each row's gain over the plain output is what a network that knew that quantity perfectly could
at most win. A network fed raw that is not white-balanced must guess the white balance from the
scene (a blue sky or a blue cast?); develop knows the file's as-shot white balance.
"""

from __future__ import annotations

import argparse

import numpy as np

GAMMA = 2.2


def corrected(output: np.ndarray, target: np.ndarray, mode: str) -> np.ndarray:
    """output with the per-channel linear gains of `mode` fitted to target (least squares)."""
    linear_output, linear_target = output**GAMMA, target**GAMMA
    per_channel = (linear_output * linear_target).reshape(-1, 3).sum(0) / np.maximum(
        (linear_output**2).reshape(-1, 3).sum(0), 1e-12
    )
    if mode == "exposure":
        overall = (linear_output * linear_target).sum() / max((linear_output**2).sum(), 1e-12)
        gains = np.full(3, overall)
    elif mode == "white balance":
        gains = per_channel / per_channel[1]
    else:
        gains = per_channel
    return np.clip(linear_output * gains, 0.0, 1.0) ** (1 / GAMMA)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("weights")
    parser.add_argument("validation", nargs="+")
    parser.add_argument("--threads", type=int, default=2)
    arguments = parser.parse_args()

    import torch

    from darkdev.metrics import psnr, ssim
    from darkdev.network_input import InputConvention
    from darkdev.training.evaluation import predict
    from darkdev.training.validation import load_validation_set
    from darkdev.weights import load_model

    torch.set_num_threads(arguments.threads)
    model, meta = load_model(arguments.weights)
    model.eval()
    modes = ("plain", "exposure", "white balance", "both")
    print(f"{arguments.weights}: PSNR dB / SSIM with per-crop oracle gains")
    print("| set | " + " | ".join(modes) + " |\n|---" + "|---" * len(modes) + "|")
    for path in arguments.validation:
        validation = load_validation_set(path)
        scores: dict[str, list[tuple[float, float]]] = {mode: [] for mode in modes}
        inputs = validation.network_inputs(InputConvention.from_metadata(meta))
        for packed, target in zip(inputs, validation.targets, strict=True):
            output = predict(model, packed, torch.device("cpu"))
            for mode in modes:
                image = output if mode == "plain" else corrected(output, target, mode)
                scores[mode].append((psnr(target, image), ssim(target, image)))
        cells = [
            f"{np.mean([p for p, _ in scores[m]]):.2f} / {np.mean([s for _, s in scores[m]]):.3f}"
            for m in modes
        ]
        print(f"| {validation.kind} {validation.split} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
