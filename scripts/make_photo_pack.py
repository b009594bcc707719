#!/usr/bin/env python3
"""Pack the training photos for a GPU machine (its working tree travels in at most 64 MiB):

    python scripts/make_photo_pack.py [--photos ~/.cache/darkdev/photos] [--out gpu-pack/photos]

Writes resized JPEG copies (long side 2048 px, quality 92, 4:4:4) and a manifest.tsv into the
ignored folder gpu-pack/photos (about 27 MiB for the 79 photos); never commit it (licences).
Then adds the working tree that travels with it and exits 1 if the two exceed 64 MiB.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from darkdev.training import photos  # noqa: E402

DEVICE_INBOUND_LIMIT_BYTES = 64 * 2**20  # the device machine takes the tree plus carry in 64 MiB


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", default=str(photos.DEFAULT_PHOTOS))
    parser.add_argument("--out", default="gpu-pack/photos")
    parser.add_argument("--side", type=int, default=photos.PACK_SIDE_PX, help="long side, px")
    parser.add_argument("--quality", type=int, default=photos.PACK_QUALITY)
    arguments = parser.parse_args()
    count, size = photos.write_photo_pack(
        arguments.photos, arguments.out, arguments.side, arguments.quality
    )
    print(f"{count} photos, {size / 2**20:.1f} MiB in {arguments.out}")
    tree = working_tree_bytes(Path(__file__).resolve().parent.parent)
    total = tree + size
    limit = DEVICE_INBOUND_LIMIT_BYTES / 2**20
    print(f"with the working tree ({tree / 2**20:.1f} MiB): {total / 2**20:.1f} of {limit:.0f} MiB")
    if total > DEVICE_INBOUND_LIMIT_BYTES:
        print("too big for the device machine: rerun with a smaller --side", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
