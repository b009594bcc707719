"""Calibrate and evaluate the automatic exposure ratio on synthetic validation pairs.

    python benchmarks/eval_auto_ratio.py [--photos ~/.cache/darkdev/photos] --count 24

1. Calibration (training photos only): the median robust level of the clean raw, the level the
   true ratio brings a frame to (exposure.TARGET_MEAN should match it).
2. Evaluation (validation photos, never trained on): the ratio estimated from the noisy raw
   against the true ratio, in stops, and PSNR with the estimated versus the true ratio, for the
   classical pipeline and for the bundled network of each CFA kind, against SID-style targets
   (LibRaw's default development of the clean raw). Pairs come from darkdev.training.synthetic.
"""

from __future__ import annotations

import argparse

import numpy as np


def make_pair(bank, kind: str, side_px: int, seed: list[int], photo: int):
    """(plan, pair tensors) of one synthetic pair of the all-ISO training distribution."""
    import torch

    from darkdev.training import synthetic

    augment = synthetic.AugmentConfig()
    rng = np.random.default_rng(seed)
    plan = synthetic.plan_item(rng, bank, kind, side_px, augment, photo=photo % len(bank))
    with torch.no_grad():
        return plan, synthetic.make_item(bank, kind, side_px, plan, augment)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--photos", default=None, help="default ~/.cache/darkdev/photos")
    parser.add_argument("--count", type=int, default=24)
    parser.add_argument("--kinds", nargs="+", default=["bayer", "xtrans"])
    parser.add_argument("--target-level", type=float, default=None, help="default: calibrated")
    arguments = parser.parse_args()

    import torch

    from darkdev import cfa, manifest, rimef, weights
    from darkdev.exposure import TARGET_MEAN, estimate_ratio, robust_level
    from darkdev.inference import run_network
    from darkdev.metrics import psnr
    from darkdev.network_input import network_input
    from darkdev.training import photos, synthetic, unprocessing
    from darkdev.training.validation import VALIDATION_PACKED_PX, libraw_development

    torch.set_num_threads(2)
    names = photos.list_photo_names(arguments.photos)
    training_names, validation_names = photos.split_names(names)
    training = synthetic.PhotoBank(photos.load_photos(arguments.photos, names=training_names))
    validation = synthetic.PhotoBank(photos.load_photos(arguments.photos, names=validation_names))
    print(f"photos: {len(training)} training, {len(validation)} validation")
    for kind in arguments.kinds:
        side_px = VALIDATION_PACKED_PX[kind] * cfa.BLOCK_SIZE[kind]
        layout = cfa.CfaLayout(kind, 0, 0)
        levels = []
        for index in range(48):
            _, pair = make_pair(training, kind, side_px, [777, index], index)
            clean = unprocessing.from_digital_numbers(pair.clean_dn.numpy())
            levels.append(robust_level(cfa.pack(clean, layout)))
        calibrated = float(np.median(levels))
        target_level = arguments.target_level or calibrated
        print(
            f"[{kind}] calibrated target level {calibrated:.4f} (exposure.TARGET_MEAN = {TARGET_MEAN})"
        )
        entry = manifest.default_entry(kind)
        model, meta = weights.load_entry(entry) if entry else (None, None)
        rows = []
        for index in range(arguments.count):
            plan, pair = make_pair(validation, kind, side_px, [4242, index], index)
            packed = pair.noisy_packed.numpy()
            estimated = estimate_ratio(packed, target_level)
            target = libraw_development(pair.clean_dn.numpy(), kind, plan.gains, None)
            row = [np.log2(estimated / plan.ratio)]
            for ratio in (plan.ratio, estimated):
                classical = libraw_development(pair.noisy_dn.numpy(), kind, plan.gains, ratio)
                row.append(psnr(target, classical))
            if model is not None:
                for ratio in (plan.ratio, estimated):
                    amplified = network_input(
                        packed,
                        kind,
                        plan.gains,
                        meta.input_convention,
                        rimef.RimefParams(ratio=ratio),
                    )
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
