"""Network colour versus guided colour (colour.py) on a training run's fixed validation crops.

    python benchmarks/eval_colour.py darkdev/checkpoints/lts-w16-bayer.safetensors runs/lts-w16-bayer/validation-bayer-all_iso.npz

Also prints each development's mean chroma (mean absolute deviation of R, G, B from their
per-pixel mean), against the targets': a network that has not learnt colour comes out grey.

The guide here is the validation set's full-resolution classical development (linear ratio,
LibRaw); `darkdev develop` uses LibRaw's half-size development of the same amplified raw.
"""

from __future__ import annotations

import argparse

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("weights")
    parser.add_argument("validation")
    arguments = parser.parse_args()

    import torch

    from darkdev.cfa import BLOCK_SIZE
    from darkdev.colour import guided_colour
    from darkdev.inference import run_network
    from darkdev.metrics import chroma, psnr, ssim
    from darkdev.training.validation import load_validation_set
    from darkdev.weights import load_model

    torch.set_num_threads(2)
    model, meta = load_model(arguments.weights)
    validation = load_validation_set(arguments.validation)
    if validation.classical is None:
        raise SystemExit(f"{arguments.validation}: made without LibRaw, so no classical guide")
    scores: dict[str, list[tuple[float, float, float]]] = {
        "target": [],
        "classical": [],
        "network": [],
        "guided": [],
    }
    inputs = validation.network_inputs(meta["white_balance_input"])
    for packed, target, classical in zip(
        inputs, validation.targets, validation.classical, strict=True
    ):
        output = run_network(model, packed, BLOCK_SIZE[validation.kind])
        for name, image in (
            ("target", target),
            ("classical", classical),
            ("network", output),
            ("guided", guided_colour(output, classical)),
        ):
            scores[name].append((psnr(target, image), ssim(target, image), chroma(image)))
    print(
        f"{meta['architecture']} w{meta['arguments'].get('width')} {validation.kind}, {len(validation)} crops"
    )
    print("| development | PSNR (dB) | SSIM | mean chroma |\n|---|---|---|---|")
    for name, values in scores.items():
        psnrs, ssims, chromas = zip(*values, strict=True)
        if name == "target":
            print(f"| target | - | - | {np.mean(chromas):.3f} |")
        else:
            print(
                f"| {name} | {np.mean(psnrs):.2f} | {np.mean(ssims):.3f} | {np.mean(chromas):.3f} |"
            )


if __name__ == "__main__":
    main()
