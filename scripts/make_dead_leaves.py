#!/usr/bin/env python3
"""Write dead-leaves images (darkdev/training/dead_leaves.py) as a training photo folder:

    python scripts/make_dead_leaves.py --out ~/.cache/darkdev/photos-dead-leaves --count 40 \
        [--photos ~/.cache/darkdev/photos] [--link-photos] [--side-px 1024] [--seed 0]

Leaf colours are pixels of the photo folder's training split (never its validation photos).
--link-photos also links every photo of --photos into --out, so `--photos OUT` trains on both
(about COUNT / (COUNT + 72) of the crops then come from dead leaves). Images are our own
synthesis (no licence to record); each is written atomically, and existing ones are kept.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from darkdev.files import write_atomic  # noqa: E402
from darkdev.training import photos as photo_files  # noqa: E402
from darkdev.training.dead_leaves import dead_leaves_image, photo_palette  # noqa: E402

PALETTE_SIZE = 100_000


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--count", type=int, default=40)
    parser.add_argument("--photos", default=str(photo_files.DEFAULT_PHOTOS))
    parser.add_argument("--link-photos", action="store_true")
    parser.add_argument("--side-px", type=int, default=1024)
    parser.add_argument("--radius-min-px", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args()

    import imageio.v3 as imageio

    folder = photo_files.photo_folder(arguments.photos)
    names = photo_files.list_photo_names(folder)
    training_names = photo_files.split_names(names)[0]
    photos = photo_files.load_photos(folder, names=training_names)
    palette = photo_palette(
        [p.pixels for p in photos], np.random.default_rng([arguments.seed, 1]), PALETTE_SIZE
    )
    out = arguments.out.expanduser()
    out.mkdir(parents=True, exist_ok=True)
    if arguments.link_photos:
        for name in names:
            link = out / name
            if not link.exists():
                link.symlink_to((folder / name).resolve())
    for index in range(arguments.count):
        path = out / f"dead-leaves-s{arguments.seed}-{index:03d}.png"
        if path.exists():
            continue
        start = time.perf_counter()
        rng = np.random.default_rng([arguments.seed, 2, index])
        image = dead_leaves_image(
            rng, arguments.side_px, palette, radius_min_px=arguments.radius_min_px
        )
        buffer = io.BytesIO()
        imageio.imwrite(buffer, image, extension=".png")
        write_atomic(path, buffer.getvalue())
        print(f"{path} ({time.perf_counter() - start:.1f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
