"""How much does clipping the raw at black cost? A probe for the network's input convention.

    python benchmarks/probe_below_black.py --cfa bayer --split high_iso \
        --photos ~/.cache/darkdev/photos79 --radii 0 1 2 4

darkdev, like SID, feeds the network the raw clipped at black: every sample whose read and shot
noise took it below black becomes 0, and the dark half of the noise is gone. This builds a
validation split's crops (the same seeds as every run's), keeps their noisy mosaic in DN, and
compares the two inputs a network could be given, clipped at black and kept below it, through
the simplest denoiser there is: the mean over a (2r+1)^2 window of each packed channel, amplified
by the pair's ratio, scored in linear raw against the clean long exposure's mosaic (PSNR dB,
clipped at white as the target is). Also printed: the share of input samples at or below black,
and the mean amplified level against the clean one (the clipped input's bias). A network is not
a box filter; this bounds nothing, it shows how much of the signal the clipping hides.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from darkdev import cfa  # noqa: E402
from darkdev.filters import box_smooth  # noqa: E402
from darkdev.training import unprocessing  # noqa: E402
from darkdev.training.evaluation import held_out_photos  # noqa: E402
from darkdev.training.validation import SPLITS, validation_pairs, validation_side_px  # noqa: E402

SCALE_DN = unprocessing.WHITE_LEVEL_DN - unprocessing.BLACK_LEVEL_DN


def psnr_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    """PSNR for data range 1 of any two arrays of one shape (metrics.psnr takes images only)."""
    return float(10 * np.log10(1.0 / np.mean((reference - estimate) ** 2)))


def crops(photos: str, kind: str, split: str, count: int):
    """(ratio, noisy packed below black kept, clean long exposure packed) per crop, normalised
    to white."""
    side_px = validation_side_px(kind)
    block = cfa.BLOCK_SIZE[kind]
    index = cfa.pack_index(kind, side_px // block, side_px // block)  # type: ignore[arg-type]
    for _, plan, pair in validation_pairs(held_out_photos(photos), kind, split, count):
        noisy = (pair.noisy_dn.numpy() - unprocessing.BLACK_LEVEL_DN) / SCALE_DN
        clean = (pair.clean_dn.numpy() - unprocessing.BLACK_LEVEL_DN) / SCALE_DN
        yield plan.ratio, np.minimum(noisy, 1.0).reshape(-1)[index], clean.reshape(-1)[index]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cfa", default="bayer", choices=["bayer", "xtrans"])
    parser.add_argument("--split", default="high_iso", choices=list(SPLITS))
    parser.add_argument("--photos", default=str(Path.home() / ".cache/darkdev/photos79"))
    parser.add_argument("--count", type=int, default=16)
    parser.add_argument("--radii", type=int, nargs="+", default=[0, 1, 2, 4])
    arguments = parser.parse_args()
    scores: dict[tuple[str, int], list[float]] = {}
    at_black, mean_levels = [], {"clean": [], "clipped": [], "kept": []}
    for ratio, kept, clean in crops(
        arguments.photos, arguments.cfa, arguments.split, arguments.count
    ):
        clipped = np.maximum(kept, 0.0)
        at_black.append(float((kept <= 0).mean()))
        target = np.minimum(clean, 1.0)  # the long exposure: what the amplified input estimates
        mean_levels["clean"].append(float(np.mean(target)))
        for name, value in (("clipped", clipped), ("kept", kept)):
            mean_levels[name].append(float(np.mean(value) * ratio))
        for radius in arguments.radii:
            for name, noisy in (("clipped", clipped), ("kept", kept)):
                smooth = np.stack([box_smooth(channel, radius) for channel in noisy])
                estimate = np.clip(smooth * ratio, 0.0, 1.0)
                scores.setdefault((name, radius), []).append(psnr_db(target, estimate))
    print(
        f"{arguments.cfa} {arguments.split}, {arguments.count} crops: "
        f"{100 * np.mean(at_black):.1f}% of input samples at or below black; mean amplified "
        f"level clean {np.mean(mean_levels['clean']):.4f}, clipped input "
        f"{np.mean(mean_levels['clipped']):.4f}, kept below black {np.mean(mean_levels['kept']):.4f}"
    )
    print("| window | clipped at black | kept below black | difference |")
    print("|---|---|---|---|")
    for radius in arguments.radii:
        clipped_db = float(np.mean(scores[("clipped", radius)]))
        kept_db = float(np.mean(scores[("kept", radius)]))
        side = 2 * radius + 1
        print(f"| {side}x{side} | {clipped_db:.2f} | {kept_db:.2f} | {kept_db - clipped_db:+.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
