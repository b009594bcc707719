"""Could develop fix a network's colour cast from the raw itself? A probe, not a feature.

    python benchmarks/probe_raw_balance.py CHECKPOINT --cfa xtrans --split high_iso \
        --photos ~/.cache/darkdev/photos --black-errors 0 0.5 -0.5

Builds a validation split's crops (the same seeds as every run's) and keeps their noisy mosaic
in DN, below black included. Each network output is then scaled per channel, in linear light, so
that its mean matches the mean the raw itself predicts: the amplified, white-balanced mosaic
(unclipped below black, clipped at white as the target is) through the camera matrix. Rows:
- network: as developed;
- raw means: all three gains; raw chroma: the same gains normalised to keep luminance;
- oracle: the target's own means (the most such a correction could win).
A black level wrong by e DN (both the network's input and the means see it) shows how much the
correction depends on knowing black exactly, which the amplified means magnify by the ratio.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from darkdev import cfa, metrics, rimef, weights
from darkdev.colour import XYZ_FROM_LINEAR_SRGB
from darkdev.network_input import InputConvention, network_input
from darkdev.training import unprocessing
from darkdev.training.evaluation import held_out_photos, predict
from darkdev.training.validation import SPLITS, libraw_development, validation_pairs

LUMINANCE = XYZ_FROM_LINEAR_SRGB[1]  # Y of linear sRGB: what keep_luminance holds


def balanced(output: np.ndarray, mean_linear: np.ndarray, keep_luminance: bool) -> np.ndarray:
    """output (sRGB, LibRaw's curve) with per-channel linear gains that give it mean_linear."""
    linear = unprocessing.inverse_libraw_gamma(output).astype(np.float64)
    gains = mean_linear / np.maximum(linear.reshape(-1, 3).mean(0), 1e-6)
    if keep_luminance:
        gains = gains / (gains @ LUMINANCE)
    return unprocessing.libraw_gamma(np.clip(linear * gains, 0.0, 1.0)).astype(np.float32)


def raw_mean(dn: np.ndarray, kind: str, gains, ratio: float, black_error_dn: float) -> np.ndarray:
    """Mean linear sRGB the amplified raw predicts (camera white balance, LibRaw's matrix)."""
    scale = unprocessing.WHITE_LEVEL_DN - unprocessing.BLACK_LEVEL_DN
    colours = unprocessing.colour_index_map(kind, *dn.shape)
    normalised_gains = unprocessing.normalised_gains(gains)
    amplified = (dn - unprocessing.BLACK_LEVEL_DN - black_error_dn) / scale * ratio
    white_balanced = np.minimum(amplified * normalised_gains[colours], 1.0)
    camera = np.array([white_balanced[colours == c].mean() for c in range(3)])
    return unprocessing.rgb_from_camera_matrix(kind) @ camera


def probe(model, convention: InputConvention, kind: str, split: str, photos, count: int, errors):
    """{black error: [PSNR rows (network, raw means, raw chroma, oracle) per crop]}."""
    block = cfa.BLOCK_SIZE[kind]
    scale = unprocessing.WHITE_LEVEL_DN - unprocessing.BLACK_LEVEL_DN
    rows: dict[float, list[list[float]]] = {error: [] for error in errors}
    for _, plan, pair in validation_pairs(photos, kind, split, count):
        dn, clean_dn = pair.noisy_dn.numpy(), pair.clean_dn.numpy()
        target = libraw_development(clean_dn, kind, plan.gains, None)
        oracle = unprocessing.inverse_libraw_gamma(target).reshape(-1, 3).mean(0)
        pack = cfa.pack_index(kind, dn.shape[0] // block, dn.shape[1] // block)  # type: ignore[arg-type]
        for error in errors:
            shifted = (dn - unprocessing.BLACK_LEVEL_DN - error) / scale
            packed = np.minimum(shifted, 1.0).reshape(-1)[pack].astype(np.float32)
            params = rimef.RimefParams(ratio=plan.ratio, lam=0.0)
            inputs = network_input(packed, kind, plan.gains, convention, params)  # type: ignore[arg-type]
            output = predict(model, inputs, torch.device("cpu"))
            predicted = raw_mean(dn, kind, plan.gains, plan.ratio, error)
            developments = [
                output,
                balanced(output, predicted, keep_luminance=False),
                balanced(output, predicted, keep_luminance=True),
                balanced(output, oracle, keep_luminance=False),
            ]
            rows[error].append([metrics.psnr(target, image) for image in developments])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--cfa", choices=("bayer", "xtrans"), required=True)
    parser.add_argument("--split", choices=tuple(SPLITS), default="high_iso")
    parser.add_argument("--photos", default="~/.cache/darkdev/photos")
    parser.add_argument("--count", type=int, default=16)
    parser.add_argument("--black-errors", type=float, nargs="+", default=[0.0, 0.5, -0.5])
    parser.add_argument("--threads", type=int, default=1)
    options = parser.parse_args()
    torch.set_num_threads(options.threads)
    model, metadata = weights.load_model(Path(options.checkpoint))
    model.eval()
    photos = held_out_photos(Path(options.photos).expanduser())
    rows = probe(
        model,
        InputConvention.from_metadata(metadata),
        options.cfa,
        options.split,
        photos,
        options.count,
        options.black_errors,
    )
    print(f"{options.checkpoint}, {options.cfa} {options.split}, {options.count} crops, PSNR dB")
    print("| black error (DN) | network | raw means | raw chroma | oracle means |")
    print("|---|---|---|---|---|")
    for error, values in rows.items():
        means = np.mean(values, axis=0)
        print(f"| {error:+.1f} | " + " | ".join(f"{value:.2f}" for value in means) + " |")


if __name__ == "__main__":
    main()
