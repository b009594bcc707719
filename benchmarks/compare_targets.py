"""What a training target means: LibRaw LINEAR vs its default demosaic vs the un-mosaiced image.

    python benchmarks/compare_targets.py [--photos ~/.cache/darkdev/photos] [--count 16]
        [--photo-side-px 2048] [--scale 1 2.5] [--kinds bayer xtrans]

On clean synthetic raws of the held-out photos (the validation crops' seeds, 512/528 px), prints
PSNR / SSIM of each target definition against SID-style ground truth (LibRaw's default demosaic:
AHD for Bayer, 3-pass for X-Trans): the ceiling a network trained towards that target has there.
LINEAR's score also says how detailed the crops are at the pixel level (lower: more detail);
--photo-side-px (photos box-downscaled to it once; 0: native) and --scale (photo pixels per raw
pixel) change the crops' scale from the training defaults.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from darkdev import cfa, dng, metrics  # noqa: E402
from darkdev.training import photos, synthetic, unprocessing, validation  # noqa: E402


def libraw(clean_dn: np.ndarray, kind: str, gains, algorithm) -> np.ndarray:
    import rawpy

    meta = unprocessing.dng_metadata(kind, as_shot_neutral=(1 / gains[0], 1.0, 1 / gains[2]))
    data = dng.dng_bytes(clean_dn.astype(np.uint16), unprocessing.PATTERN_FOR_KIND[kind], meta)
    with rawpy.imread(io.BytesIO(data)) as opened:
        image = opened.postprocess(
            use_camera_wb=True, no_auto_bright=True, output_bps=16, demosaic_algorithm=algorithm
        )
    return image.astype(np.float32) / 65535.0


def main() -> int:
    import rawpy

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", default=str(photos.DEFAULT_PHOTOS))
    parser.add_argument("--count", type=int, default=16)
    parser.add_argument("--photo-side-px", type=int, default=photos.MAX_PHOTO_SIDE_PX)
    defaults = synthetic.AugmentConfig()
    parser.add_argument(
        "--scale", type=float, nargs=2, default=[defaults.scale_min, defaults.scale_max]
    )
    parser.add_argument("--kinds", nargs="+", default=["bayer", "xtrans"])
    arguments = parser.parse_args()
    photos.MAX_PHOTO_SIDE_PX = arguments.photo_side_px or 1_000_000  # the loader reads it
    names = photos.split_names(photos.list_photo_names(arguments.photos))[1]
    held_out = photos.load_photos(arguments.photos, names=names)
    for kind in arguments.kinds:
        bank = synthetic.PhotoBank(held_out)
        side_px = validation.VALIDATION_PACKED_PX[kind] * cfa.BLOCK_SIZE[kind]
        scores: dict[str, list[tuple[float, float]]] = {"LINEAR": [], "un-mosaiced": []}
        for index in range(arguments.count):
            rng = np.random.default_rng([validation.VALIDATION_SEED, index])
            augment = synthetic.AugmentConfig(
                scale_min=arguments.scale[0], scale_max=arguments.scale[1]
            )
            plan = synthetic.plan_item(rng, bank, kind, side_px, augment, photo=index % len(bank))
            pair = synthetic.make_item(bank, kind, side_px, plan, augment)
            clean = pair.clean_dn.numpy()
            reference = libraw(clean, kind, plan.gains, None)
            linear = libraw(clean, kind, plan.gains, rawpy.DemosaicAlgorithm.LINEAR)
            unmosaiced = pair.target.permute(1, 2, 0).numpy()
            for name, image in (("LINEAR", linear), ("un-mosaiced", unmosaiced)):
                scores[name].append(
                    (metrics.psnr(reference, image), metrics.ssim(reference, image))
                )
        for name, values in scores.items():
            psnr, ssim = np.mean(values, axis=0)
            print(
                f"{kind}: {name} target vs LibRaw default demosaic: {psnr:.2f} dB / {ssim:.4f} "
                f"(photos at {arguments.photo_side_px or 'native'} px, scale {arguments.scale})"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
