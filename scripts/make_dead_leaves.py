#!/usr/bin/env python3
"""Write dead-leaves images (darkdev/training/dead_leaves.py) as a training photo folder:

    python scripts/make_dead_leaves.py --out ~/.cache/darkdev/photos-dead-leaves --count 40 \
        [--photos ~/.cache/darkdev/photos] [--link-photos] [--side-px 1024] [--seed 0] [--workers N]

Leaf colours are pixels of the photo folder's training split (never its validation photos).
--link-photos also links every photo of --photos into --out and lists them first, in their
order, in OUT/manifest.tsv, so `--photos OUT` trains on both and validates on the very crops
--photos does (about 0.85 COUNT / (0.85 COUNT + 72) of the training crops then come from dead
leaves: images on the validation side of the name hash are left out, photos.split_names).
Images are our own synthesis (no licence to record); each is written atomically, and existing
ones are kept.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from darkdev.training import photos as photo_files  # noqa: E402
from darkdev.training.dead_leaves import write_training_folder  # noqa: E402


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
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    arguments = parser.parse_args()
    write_training_folder(
        arguments.photos,
        arguments.out,
        arguments.count,
        seed=arguments.seed,
        side_px=arguments.side_px,
        radius_min_px=arguments.radius_min_px,
        link_photos=arguments.link_photos,
        workers=arguments.workers,
        report=lambda path, seconds: print(f"{path} ({seconds:.1f} s)", flush=True),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
