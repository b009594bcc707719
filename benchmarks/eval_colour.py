"""Network colour versus guided colour (colour.py) on a training run's fixed validation crops.

    python benchmarks/eval_colour.py darkdev/checkpoints/lts-w16-bayer.safetensors runs/lts-w16-bayer/validation-bayer-all_iso.npz

Also prints each development's mean chroma (mean absolute deviation of R, G, B from their
per-pixel mean), against the targets': a network that has not learnt colour comes out grey.

The scores are darkdev.training.evaluation.score_colour_modes's, the very ones `darkdev publish
--validation-set` records in the manifest: the network on whole crops in float32 (as `darkdev
evaluate`), the guide the validation set's full-resolution classical development (linear ratio,
LibRaw); `darkdev develop` uses LibRaw's half-size development of the same amplified raw.
"""

from __future__ import annotations

import argparse
import math


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("weights")
    parser.add_argument("validation")
    arguments = parser.parse_args()

    import torch

    from darkdev.network_input import InputConvention
    from darkdev.training.evaluation import score_colour_modes
    from darkdev.training.validation import load_validation_set
    from darkdev.weights import load_model

    torch.set_num_threads(2)
    model, meta = load_model(arguments.weights)
    validation = load_validation_set(arguments.validation)
    if validation.classical is None:
        raise SystemExit(f"{arguments.validation}: made without LibRaw, so no classical guide")
    scores = score_colour_modes(model, validation, InputConvention.from_metadata(meta))
    print(
        f"{meta['architecture']} w{meta['arguments'].get('width')} {validation.kind}, {len(validation)} crops"
    )
    print("| development | PSNR (dB) | SSIM | mean chroma |\n|---|---|---|---|")
    for name, score in scores.items():
        if math.isnan(score.psnr):
            print(f"| {name} | - | - | {score.chroma:.3f} |")
        else:
            print(f"| {name} | {score.psnr:.2f} | {score.ssim:.3f} | {score.chroma:.3f} |")


if __name__ == "__main__":
    main()
