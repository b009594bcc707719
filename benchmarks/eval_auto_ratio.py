"""Calibrate and evaluate the automatic exposure ratio on synthetic validation pairs.

    python benchmarks/eval_auto_ratio.py --photos /work/cache/photos --count 24

1. Calibration (training photos only): the median of (true ratio x robust level of the noisy
   raw), the level the true ratio brings a frame to (exposure.TARGET_MEAN should match it).
2. Evaluation (validation photos, never trained on): the ratio estimated from the noisy raw
   against the true ratio, in stops, and PSNR with the estimated versus the true ratio, for the
   classical pipeline and for the bundled network of each CFA kind.
"""

from __future__ import annotations

import argparse

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--photos", default="/work/cache/photos")
    parser.add_argument("--count", type=int, default=24)
    parser.add_argument("--kinds", nargs="+", default=["bayer", "xtrans"])
    parser.add_argument("--target-level", type=float, default=None, help="default: calibrated")
    arguments = parser.parse_args()

    import torch

    from darkdev import cfa, data, rimef, weights
    from darkdev.exposure import TARGET_MEAN, estimate_ratio, robust_level
    from darkdev.inference import run_network
    from darkdev.metrics import psnr

    torch.set_num_threads(2)
    training, validation = data.split_photos(data.load_photos(arguments.photos))
    print(f"photos: {len(training)} training, {len(validation)} validation")
    for kind in arguments.kinds:
        crop = data.validation_crop_packed_px(kind)
        levels = []
        for index in range(48):
            rng = np.random.default_rng([777, index])
            clean = data.make_clean(training[index % len(training)], kind, crop, rng)
            levels.append(
                robust_level(
                    cfa.pack(data.from_digital_numbers(clean.clean_dn), cfa.CfaLayout(kind, 0, 0))
                )
            )
        calibrated = float(np.median(levels))
        target_level = arguments.target_level or calibrated
        print(
            f"[{kind}] calibrated target level {calibrated:.4f} (exposure.TARGET_MEAN = {TARGET_MEAN})"
        )
        entry = weights.default_entry(kind)
        model = weights.load_entry(entry)[0] if entry else None
        rows = []
        for index in range(arguments.count):
            rng = np.random.default_rng([4242, index])
            pair = data.make_pair(
                validation[index % len(validation)], kind, crop, rng, keep_noisy=True
            )
            packed = cfa.pack(data.from_digital_numbers(pair.noisy_dn), cfa.CfaLayout(kind, 0, 0))
            estimated = estimate_ratio(packed, target_level)
            target = pair.target.transpose(1, 2, 0)
            row = [np.log2(estimated / pair.ratio)]
            for ratio in (pair.ratio, estimated):
                row.append(
                    psnr(
                        target,
                        data.classical_develop(pair.noisy_dn, kind, ratio, pair.as_shot_neutral),
                    )
                )
            if model is not None:
                for ratio in (pair.ratio, estimated):
                    amplified = rimef.amplify(packed, rimef.RimefParams(ratio=ratio))
                    row.append(psnr(target, run_network(model, amplified, cfa.BLOCK_SIZE[kind])))
            rows.append(row)
        table = np.array(rows)
        print(
            f"[{kind}] {len(rows)} validation crops; estimate - truth: median {np.median(table[:, 0]):+.2f} stops, "
            f"median |error| {np.median(np.abs(table[:, 0])):.2f} stops"
        )
        print(
            f"[{kind}] PSNR classical: true ratio {table[:, 1].mean():.2f} dB, estimated {table[:, 2].mean():.2f} dB"
        )
        if model is not None:
            print(
                f"[{kind}] PSNR {entry.file}: true ratio {table[:, 3].mean():.2f} dB, estimated {table[:, 4].mean():.2f} dB"
            )


if __name__ == "__main__":
    main()
