"""Compare finished training runs on one fixed validation set (docs/training-history.md,
earliest experiments).

    python benchmarks/compare_runs.py runs/x10-* --validation runs/x10-lts-beta1/validation-bayer-all_iso.npz

For each run (a folder with summary.json and best.safetensors, written by darkdev.train): its
settings, steps and wall time, then PSNR / SSIM / mean chroma of its best checkpoint on every
crop with linear input (lambda 0), and PSNR / SSIM on the highlight-rich half of the crops with
`--hdr` input (RIMEF lambda = alpha = 1). Each checkpoint gets its own input convention.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def mean_chroma(images: list[np.ndarray]) -> float:
    from darkdev.metrics import chroma

    return float(np.mean([chroma(image) for image in images]))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("runs", nargs="+", help="finished run folders")
    parser.add_argument("--validation", required=True, help="a run's validation-<cfa>-<split>.npz")
    parser.add_argument("--threads", type=int, default=2)
    arguments = parser.parse_args()

    import torch

    from darkdev.models import parameter_count
    from darkdev.network_input import InputConvention
    from darkdev.training.evaluation import highlight_rich, predict, score_classical, score_images
    from darkdev.training.validation import load_validation_set
    from darkdev.weights import load_model

    torch.set_num_threads(arguments.threads)
    device = torch.device("cpu")
    validation = load_validation_set(Path(arguments.validation))
    bright = highlight_rich(validation)
    print(
        f"{validation.kind} {validation.split}: {len(validation)} validation crops (target: "
        f"{validation.target_name}); HDR columns: the {len(bright)} "
        "most highlight-rich, input RIMEF lambda = alpha = 1\n"
    )
    print(
        "| run | model | params | beta | lowpass | lambda max | WB input | steps | minutes "
        "| PSNR | SSIM | chroma | HDR PSNR | HDR SSIM |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    if validation.classical is not None:  # absent from sets made without LibRaw
        print(
            f"| classical | - | - | - | - | - | - | - | - | "
            f"{' | '.join(f'{v:.3f}' for v in score_classical(validation))}"
            f" | {mean_chroma(validation.classical):.3f} | - | - |"
        )
    for run in arguments.runs:
        run_path = Path(run)
        summary = json.loads((run_path / "summary.json").read_text())
        config = summary["config"]
        model, meta = load_model(run_path / "best.safetensors", expected_cfa_kind=validation.kind)
        convention = InputConvention.from_metadata(meta)
        balanced = convention.white_balance
        outputs = [predict(model, x, device) for x in validation.network_inputs(convention)]
        psnr_db, ssim_value = score_images(validation.targets, outputs)
        hdr_outputs = [
            predict(model, x, device) for x in bright.network_inputs(convention, lam=1.0, alpha=1.0)
        ]
        hdr_psnr, hdr_ssim = score_images(bright.targets, hdr_outputs)
        print(
            f"| {run_path.name} | {meta['architecture']} w{meta['arguments'].get('width')} "
            f"| {parameter_count(model) / 1e6:.2f}M | {config['tv_weight']:g} "
            f"| {config.get('lowpass_weight', 0):g} | {config['lam_max']:g} | {balanced} "
            f"| {summary['steps']} | {summary['wall_time_s'] / 60:.1f} | {psnr_db:.3f} "
            f"| {ssim_value:.4f} | {mean_chroma(outputs):.3f} | {hdr_psnr:.3f} | {hdr_ssim:.4f} |",
            flush=True,
        )
    print(f"\ntarget mean chroma {mean_chroma(validation.targets):.3f}")


if __name__ == "__main__":
    main()
