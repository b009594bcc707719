"""How the networks hold up on noise they never trained on: ELD's other calibrated camera bodies.

    python benchmarks/eval_foreign_noise.py ../shared/data/noise/ELD_params_summary.json \
        --cfa bayer --photos ~/.cache/darkdev/photos79 --out runs/foreign CHECKPOINT...

Every bundled network trained on one noise calibration (ELD's Sony A7S II; X-Trans: its ranges
widened). Here each body in ELD's summary (Canon EOS 5D4 / 700D / 70D, Nikon D850, Sony A7S II)
lends its own noise curves (read noise Gaussian or Tukey-lambda, row noise, each a line in log K)
at two system-gain ranges:
- "A7S II K": the upper half of the A7S II's K range, the high-ISO split's: the same photon noise,
  another body's read and row noise;
- "own K": the upper half of the body's own range (K up to 14-29 DN/e- against the A7S II's 6):
  how far past its training the network still works.
Colour stays the kind's modelled camera, so only noise differs. Crops, ratios and targets come
from the high-ISO split's seeds, so every row scores the same pictures; sets are cached in --out.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

GAIN_RANGES = {"A7S II K": "a7s2", "own K": "own"}
REFERENCE_BODY = "SonyA7S2"  # the calibration the networks trained on


def body_noise(summary: dict, body: str, gain_range: str) -> dict:
    """A body's ELD noise in noise_params.json form, its K range or the A7S II's."""
    from darkdev.training.noise import noise_parameters

    entry = summary["cameras"][body]
    profile = entry["Profile-1"]
    params = {
        "Kmin": entry["Kmin"],
        "Kmax": entry["Kmax"],
        **{key: profile[key] for key in ("g_scale", "G_scale", "R_scale")},
        "G_shape_tukey_lambda": entry["G_shape_tukey_lambda"],
    }
    if gain_range == "a7s2":
        params.update(Kmin=noise_parameters()["Kmin"], Kmax=noise_parameters()["Kmax"])
    return params


def foreign_set(
    summary: dict, body: str, gain_range: str, kind: str, photos, count: int, out: Path
):
    """The high-ISO split's crops with a body's noise (built once, then read from out)."""
    from darkdev import dng
    from darkdev.training.camera import SyntheticCamera
    from darkdev.training.unprocessing import MATRIX_FOR_KIND
    from darkdev.training.validation import (
        build_validation_set,
        load_validation_set,
        save_validation_set,
    )

    path = out / f"foreign-{kind}-{body}-{gain_range}-{count}.npz"
    if path.exists():
        return load_validation_set(path)
    camera = SyntheticCamera(
        make="ELD",
        model=body,
        cfa_kind=kind,
        camera_from_xyz_x10000=tuple(dng.CAMERA_MATRICES[MATRIX_FOR_KIND[kind]]),
        noise_params=body_noise(summary, body, gain_range),
    )
    validation = build_validation_set(photos(), kind, "high_iso", count, camera=camera)
    save_validation_set(validation, path)
    return validation


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("summary", help="ELD_params_summary.json")
    parser.add_argument("checkpoints", nargs="+")
    parser.add_argument("--cfa", choices=("bayer", "xtrans"), default="bayer")
    parser.add_argument("--photos", required=True, help="the photo folder training validated on")
    parser.add_argument("--out", type=Path, required=True, help="where the sets are cached")
    parser.add_argument("--count", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    arguments = parser.parse_args()

    from darkdev.training.evaluation import CLASSICAL_LABEL, evaluate, held_out_photos

    summary = json.loads(Path(arguments.summary).read_text())
    arguments.out.mkdir(parents=True, exist_ok=True)
    held_out: list = []

    def photos() -> list:  # decoded only when a set must be built
        if not held_out:
            held_out.extend(held_out_photos(arguments.photos))
        return held_out

    labels = [CLASSICAL_LABEL] + [Path(c).stem for c in arguments.checkpoints]
    print(f"{arguments.cfa}, high-ISO crops ({arguments.count}), PSNR dB / SSIM against LibRaw")
    print("| noise | K (DN/e-) | " + " | ".join(labels) + " |")
    print("|---" * (len(labels) + 2) + "|")
    for body in sorted(summary["cameras"], key=lambda b: (b != REFERENCE_BODY, b)):
        for title, gain_range in GAIN_RANGES.items():
            if body == REFERENCE_BODY and gain_range == "own":
                continue  # the same as its A7S II K row
            validation = foreign_set(
                summary, body, gain_range, arguments.cfa, photos, arguments.count, arguments.out
            )
            rows = evaluate(
                arguments.checkpoints,
                {"high_iso": validation},
                arguments.cfa,
                threads=arguments.threads,
            )
            params = body_noise(summary, body, gain_range)
            k_range = f"{(params['Kmin'] * params['Kmax']) ** 0.5:.1f}-{params['Kmax']:.1f}"
            cells = [f"{row.psnr:.2f} / {row.ssim:.3f}" for row in rows]
            print(f"| {body} ({title}) | {k_range} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
