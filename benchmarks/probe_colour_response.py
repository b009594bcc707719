"""Does a network see colour? Its output colour on flat inputs whose red and blue are varied.

    python benchmarks/probe_colour_response.py darkdev/checkpoints/lts-w16-xtrans.safetensors

Each input is a flat packed raw: green at --level, red and blue at a neutral-grey raw ratio
(Sony-like daylight) times 2**stops, for stops in -1..1. A network that turned raw colour into
sRGB colour moves its output's log2(R/G) and log2(B/G) with the input's (slope near 1 in linear
light); a colour-blind one gives the same grey whatever the input (slope near 0). This is how
the X-Trans LTS before 2026-12-05 was found colour-blind (docs/training-history.md).
"""

from __future__ import annotations

import argparse

import numpy as np

NEUTRAL_RAW_RATIO = {"red": 0.5, "blue": 0.6}  # raw R/G, B/G of grey in daylight, about
STOPS = (-1.0, -0.5, 0.0, 0.5, 1.0)
SIDE_PACKED_PX = 64


def output_log_ratios(
    model, kind: str, level: float, red: float, blue: float
) -> tuple[float, float]:
    from darkdev.cfa import BLOCK_SIZE, CHANNELS, channel_colours
    from darkdev.inference import run_network
    from darkdev.training.unprocessing import inverse_libraw_gamma

    colour_levels = np.array([level * red, level, level * blue], dtype=np.float32)
    packed = np.broadcast_to(
        colour_levels[channel_colours(kind)][:, None, None],
        (CHANNELS[kind], SIDE_PACKED_PX, SIDE_PACKED_PX),
    ).copy()
    output = run_network(model, packed, BLOCK_SIZE[kind])
    margin = output.shape[0] // 4  # away from the borders' padding
    linear = inverse_libraw_gamma(output[margin:-margin, margin:-margin])  # the targets' curve
    mean = linear.reshape(-1, 3).mean(axis=0)
    mean = np.maximum(mean, 1e-4)
    return float(np.log2(mean[0] / mean[1])), float(np.log2(mean[2] / mean[1]))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("weights", nargs="+")
    parser.add_argument("--level", type=float, default=0.1, help="green level of the packed input")
    arguments = parser.parse_args()

    import torch

    from darkdev.weights import load_model

    torch.set_num_threads(2)
    for weights in arguments.weights:
        model, meta = load_model(weights)
        kind = meta["cfa_kind"]
        print(f"{weights} ({meta['architecture']}, {kind})")
        print("| input stops | output log2 R/G (red varied) | output log2 B/G (blue varied) |")
        print("|---|---|---|")
        red_curve, blue_curve = [], []
        for stops in STOPS:
            gain = 2.0**stops
            red_ratio, _ = output_log_ratios(
                model,
                kind,
                arguments.level,
                NEUTRAL_RAW_RATIO["red"] * gain,
                NEUTRAL_RAW_RATIO["blue"],
            )
            _, blue_ratio = output_log_ratios(
                model,
                kind,
                arguments.level,
                NEUTRAL_RAW_RATIO["red"],
                NEUTRAL_RAW_RATIO["blue"] * gain,
            )
            red_curve.append(red_ratio)
            blue_curve.append(blue_ratio)
            print(f"| {stops:+.1f} | {red_ratio:+.3f} | {blue_ratio:+.3f} |")
        red_slope = np.polyfit(STOPS, red_curve, 1)[0]
        blue_slope = np.polyfit(STOPS, blue_curve, 1)[0]
        print(f"slope (output stops per input stop): red {red_slope:.2f}, blue {blue_slope:.2f}\n")


if __name__ == "__main__":
    main()
