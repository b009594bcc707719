#!/usr/bin/env python3
"""Pack the training photos for a GPU machine (its working tree travels in at most 64 MiB):

    python scripts/make_photo_pack.py [--photos ~/.cache/darkdev/photos] [--out gpu-pack/photos]

Writes resized JPEG copies (long side 2048 px, quality 92, 4:4:4) and a manifest.tsv into the
ignored folder gpu-pack/photos (about 27 MiB for the 85 photos, scikit-image's 6 included); never
commit it (licences). The pack and the working tree that travels with it must stay under 64 MiB:
a pack too big is written again smaller (its size goes at most with the side squared), never
below MIN_SIDE_PX; exits 1 if even that does not fit. Where the bundled checkpoints weigh too
much, `python scripts/gpu_tree.py leave-behind --cfa KIND` first leaves out those the session
does not read (and `restore` after the call).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from darkdev.training import photos  # noqa: E402

DEVICE_INBOUND_LIMIT_BYTES = 64 * 2**20  # the device machine takes the tree plus carry in 64 MiB
HEADROOM_BYTES = 2**20  # for what the session writes between packing and the device call
# The session's default crop, 256 packed px, is 768 photo px for X-Trans (3 raw px a packed px);
# crops are cut within the short side, 853 px for a 3:2 photo at 1280: never upsampled.
MIN_SIDE_PX = 1280
LIGHTER = "python scripts/gpu_tree.py leave-behind --cfa KIND leaves checkpoints behind"


def working_tree_bytes(repository: Path) -> int:
    """Bytes of what travels without being carried: tracked files and untracked, not ignored."""
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=repository,
        capture_output=True,
        check=True,
    ).stdout
    names = {name for name in listing.decode().split("\0") if name}
    return sum(
        (repository / name).stat().st_size for name in names if (repository / name).is_file()
    )


def write_fitting_pack(
    source: str, destination: str, side_px: int, quality: int, budget_bytes: int
) -> tuple[int, int, int]:
    """Writes the pack at `side_px`, or smaller until it fits `budget_bytes`.
    Returns (photos, bytes, long side px); bytes > budget_bytes means even MIN_SIDE_PX did not fit."""
    while True:
        count, size = photos.write_photo_pack(source, destination, side_px, quality)
        print(f"{count} photos at {side_px} px: {size / 2**20:.1f} MiB in {destination}")
        if size <= budget_bytes or side_px <= MIN_SIDE_PX:
            return count, size, side_px
        # 3% below the side the squared law predicts, in steps of 64 px: photos already smaller
        # than the side do not shrink, so the law overestimates the saving and may take retries
        predicted = side_px * (budget_bytes / size) ** 0.5 * 0.97
        side_px = max(MIN_SIDE_PX, min(side_px - 64, int(predicted) // 64 * 64))
        print(f"over the {budget_bytes / 2**20:.1f} MiB left: writing it again at {side_px} px")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", default=str(photos.DEFAULT_PHOTOS))
    parser.add_argument("--out", default="gpu-pack/photos")
    parser.add_argument("--side", type=int, default=photos.PACK_SIDE_PX, help="long side, px")
    parser.add_argument("--quality", type=int, default=photos.PACK_QUALITY)
    arguments = parser.parse_args()
    tree = working_tree_bytes(Path(__file__).resolve().parent.parent)
    budget = DEVICE_INBOUND_LIMIT_BYTES - HEADROOM_BYTES - tree
    print(f"the working tree travels with {tree / 2**20:.1f} MiB: {budget / 2**20:.1f} MiB left")
    if budget <= 0:
        print(f"the working tree alone leaves no room for a photo pack; {LIGHTER}", file=sys.stderr)
        return 1
    count, size, side = write_fitting_pack(
        arguments.photos, arguments.out, arguments.side, arguments.quality, budget
    )
    limit = DEVICE_INBOUND_LIMIT_BYTES / 2**20
    print(f"with the working tree: {(tree + size) / 2**20:.1f} of {limit:.0f} MiB")
    if size > budget:
        print(f"too big for the device machine even at {side} px; {LIGHTER}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
