#!/usr/bin/env python3
"""Fetch the clean real photographs used for synthetic training, plus their credits.

The photographs are never committed to this repository (several licences are
attribution / share-alike); this script re-creates them on any Debian 12
(bookworm) machine:

    python scripts/fetch_training_photos.py --out ~/.cache/darkdev/photos

What it does, per Debian package in PHOTOS (79 photos in 8 packages, chosen by
eye; see data/PHOTO_CREDITS.md):

1. ``apt-get download PACKAGE`` into a temporary folder (no install needed) and
   ``dpkg-deb -x`` it there.
2. Copy each listed photo, unchanged and in its original format, to
   ``OUT/<package>__<basename>``.  Two exceptions, both lossless:
   - enlightenment-data keeps its photos inside ``.edj`` (EET) archives;
     ``edje_decc`` (Debian package libedje-bin, installed with apt-get when
     missing and running as root) unpacks them, and the largest image in each
     archive is copied as ``OUT/enlightenment-data__<Name>.png``.  edje_decc
     writes PNG; the archive itself stores the pixels lossily (quality 99).
   - plasma-workspace-wallpapers ships every wallpaper as
     ``<Name>/contents/images/<W>x<H>.jpg`` where all sizes are symlinks to the
     largest (2560x1600), so the output is named after the wallpaper:
     ``OUT/plasma-workspace-wallpapers__<Name>.jpg``.
3. Copy the package's copyright file (and any per-wallpaper licence file) to
   ``OUT/licences/`` so that the credits travel with the photos.

When scikit-image is importable, its bundled real colour photographs are copied
byte for byte from ``skimage/data`` as ``OUT/scikit-image__<name>.<ext>``
(PNG, except rocket, which scikit-image ships as JPEG and is kept as JPEG).

Finally ``OUT/manifest.tsv`` is rewritten with one row per photo present:
filename, package, original_path, width, height, licence, credit_notes.
Width and height are read from the PNG / JPEG headers with the standard
library, so the script needs nothing beyond Python 3.11 and apt.

It is idempotent: photos already in OUT are skipped, and a package is only
downloaded when one of its photos or licence files is missing.  It prints one
line per photo and exits 0 when every photo is present, 1 when some failed,
2 when apt-get / dpkg-deb are unavailable.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

DEFAULT_OUT = Path("~/.cache/darkdev/photos")
MANIFEST_COLUMNS = (
    "filename",
    "package",
    "original_path",
    "width",
    "height",
    "licence",
    "credit_notes",
)
SKIMAGE_PACKAGE = "scikit-image"
EDJE_PACKAGE = "libedje-bin"


@dataclass(frozen=True)
class Photo:
    """One photograph: where it lives, and whom to credit."""

    package: str
    path: str
    licence: str
    credit: str
    note: str = ""

    @property
    def output_name(self) -> str:
        source = Path(self.path)
        # edje_decc always writes PNG, whatever the archive is called.
        if source.suffix == ".edj":
            return f"{self.package}__{source.stem}.png"
        # KDE wallpapers all share size-named files, so name them by wallpaper.
        if source.parent.name == "images" and source.parent.parent.name == "contents":
            return f"{self.package}__{source.parent.parent.parent.name}{source.suffix}"
        return f"{self.package}__{source.name}"

    @property
    def credit_notes(self) -> str:
        return f"{self.credit}; {self.note}" if self.note else self.credit


ENLIGHTENMENT_CREDIT = (
    "Carsten Haitzler and various contributors, 2000-2020 (no photographer named)"
)
LXQT_STEFONARCH_CREDIT = "stefonarch (Stef Binde), LXQt Project Team 2022"
LXQT_TEAM_CREDIT = "LXQt Project Team 2022 (no photographer named)"
TUXPAINT_CREDIT = "Bill Kendrick"

# The photos, with per-file licence and credit taken from each package's
# usr/share/doc/PACKAGE/copyright (lxqt-themes: wallpapers/License; KDE: each
# wallpaper's metadata.json; tuxpaint: AUTHORS.txt); notes flag weak photos.
PHOTOS: tuple[Photo, ...] = (
    Photo(
        "enlightenment-data",
        "usr/share/enlightenment/data/backgrounds/Bamboo.edj",
        "BSD-2-clause",
        ENLIGHTENMENT_CREDIT,
    ),
    Photo(
        "enlightenment-data",
        "usr/share/enlightenment/data/backgrounds/Foggy-Trees.edj",
        "BSD-2-clause",
        ENLIGHTENMENT_CREDIT,
        "nearly flat",
    ),
    Photo(
        "enlightenment-data",
        "usr/share/enlightenment/data/backgrounds/God-Rays.edj",
        "BSD-2-clause",
        ENLIGHTENMENT_CREDIT,
    ),
    Photo(
        "enlightenment-data",
        "usr/share/enlightenment/data/backgrounds/Green-Maple.edj",
        "BSD-2-clause",
        ENLIGHTENMENT_CREDIT,
    ),
    Photo(
        "enlightenment-data",
        "usr/share/enlightenment/data/backgrounds/Lichen-Branches.edj",
        "BSD-2-clause",
        ENLIGHTENMENT_CREDIT,
    ),
    Photo(
        "enlightenment-data",
        "usr/share/enlightenment/data/backgrounds/Mountain.edj",
        "BSD-2-clause",
        ENLIGHTENMENT_CREDIT,
    ),
    Photo(
        "enlightenment-data",
        "usr/share/enlightenment/data/backgrounds/Peaks.edj",
        "BSD-2-clause",
        ENLIGHTENMENT_CREDIT,
        "nearly flat",
    ),
    Photo(
        "enlightenment-data",
        "usr/share/enlightenment/data/backgrounds/Red-Maple.edj",
        "BSD-2-clause",
        ENLIGHTENMENT_CREDIT,
    ),
    Photo(
        "enlightenment-data",
        "usr/share/enlightenment/data/backgrounds/Sea-of-Lanterns.edj",
        "BSD-2-clause",
        ENLIGHTENMENT_CREDIT,
        "already noisy",
    ),
    Photo(
        "enlightenment-data",
        "usr/share/enlightenment/data/backgrounds/Snow-Trees.edj",
        "BSD-2-clause",
        ENLIGHTENMENT_CREDIT,
    ),
    Photo(
        "enlightenment-data",
        "usr/share/enlightenment/data/backgrounds/Spruce-Needles.edj",
        "BSD-2-clause",
        ENLIGHTENMENT_CREDIT,
    ),
    Photo(
        "enlightenment-data",
        "usr/share/enlightenment/data/backgrounds/Sunset-Clouds.edj",
        "BSD-2-clause",
        ENLIGHTENMENT_CREDIT,
    ),
    Photo(
        "enlightenment-data",
        "usr/share/enlightenment/data/backgrounds/White-Flower.edj",
        "BSD-2-clause",
        ENLIGHTENMENT_CREDIT,
    ),
    Photo(
        "enlightenment-data",
        "usr/share/enlightenment/data/backgrounds/Yellow-Flower.edj",
        "BSD-2-clause",
        ENLIGHTENMENT_CREDIT,
    ),
    Photo(
        "lomiri-wallpapers-16.04",
        "usr/share/backgrounds/aitzgorri_by_Aitzol_Berasategi.jpg",
        "CC-BY-4.0",
        "Aitzol Berasategi, 2018",
    ),
    Photo(
        "lomiri-wallpapers-16.04",
        "usr/share/backgrounds/analogpattern_by_Peter_Nerlich.jpg",
        "CC-BY-SA-4.0",
        "Peter Nerlich, 2018",
    ),
    Photo(
        "lomiri-wallpapers-16.04",
        "usr/share/backgrounds/Bridge_by_Sander_Klootwijk.jpg",
        "CC-BY-SA-4.0",
        "Sander Klootwijk, 2018",
    ),
    Photo(
        "lomiri-wallpapers-16.04",
        "usr/share/backgrounds/Dragonfly_by_Bolly.jpg",
        "CC-BY-SA-4.0",
        '"Bolly", 2018',
    ),
    Photo(
        "lomiri-wallpapers-16.04",
        "usr/share/backgrounds/free_by_Peter_Nerlich.jpg",
        "CC-BY-SA-4.0",
        "Peter Nerlich, 2018",
    ),
    Photo(
        "lomiri-wallpapers-16.04",
        "usr/share/backgrounds/friends_by_Aitzol_Berasategi.jpg",
        "CC-BY-4.0",
        "Aitzol Berasategi, 2018",
    ),
    Photo(
        "lomiri-wallpapers-16.04",
        "usr/share/backgrounds/greentock_by_Peter_Nerlich.jpg",
        "CC-BY-SA-4.0",
        "Peter Nerlich, 2018",
    ),
    Photo(
        "lomiri-wallpapers-16.04",
        "usr/share/backgrounds/life_by_Aitzol_Berasategi.jpg",
        "CC-BY-4.0",
        "Aitzol Berasategi, 2018",
    ),
    Photo(
        "lomiri-wallpapers-16.04",
        "usr/share/backgrounds/picosdeeuropa_by_Aitzol_Berasategi.jpg",
        "CC-BY-4.0",
        "Aitzol Berasategi, 2018",
    ),
    Photo(
        "lomiri-wallpapers-16.04",
        "usr/share/backgrounds/Picture_0B_by_freespace.jpg",
        "CC-BY-4.0",
        'Trevor "Freespace", 2018',
    ),
    Photo(
        "lomiri-wallpapers-16.04",
        "usr/share/backgrounds/Picture_1A_by_freespace.jpg",
        "CC-BY-4.0",
        'Trevor "Freespace", 2018',
    ),
    Photo(
        "lomiri-wallpapers-16.04",
        "usr/share/backgrounds/seeding_by_Clements_Engelhardt.jpg",
        "CC0-1.0",
        "Clemens Engelhardt, 2018",
    ),
    Photo(
        "lomiri-wallpapers-16.04",
        "usr/share/backgrounds/sunset_by_Aitzol_Berasategi.jpg",
        "CC-BY-4.0",
        "Aitzol Berasategi, 2018",
    ),
    Photo(
        "lomiri-wallpapers-16.04",
        "usr/share/backgrounds/Wine_by_Jakkub_Mede.jpg",
        "CC-BY-4.0",
        "Jakub Mede, 2018",
        "heavily compressed JPEG",
    ),
    Photo(
        "lomiri-wallpapers-20.04",
        "usr/share/backgrounds/Kleiber_by_Lukas_Baubkus.jpg",
        "CC-BY-SA-3.0",
        "Lukas Baubkus, 2021",
    ),
    Photo(
        "lxqt-themes",
        "usr/share/lxqt/wallpapers/after-the-rain.jpg",
        "CC-BY-SA-3.0",
        LXQT_STEFONARCH_CREDIT,
    ),
    Photo(
        "lxqt-themes",
        "usr/share/lxqt/wallpapers/appleflower.png",
        "CC-BY-SA-3.0",
        LXQT_STEFONARCH_CREDIT,
    ),
    Photo(
        "lxqt-themes", "usr/share/lxqt/wallpapers/beam.png", "CC-BY-SA-3.0", LXQT_STEFONARCH_CREDIT
    ),
    Photo(
        "lxqt-themes",
        "usr/share/lxqt/wallpapers/Butterfly-Kenneth-Wimer.jpg",
        "CC-BY-SA-3.0",
        "LXQt Project Team 2022; file name credits Kenneth Wimer",
        "heavily compressed JPEG",
    ),
    Photo(
        "lxqt-themes",
        "usr/share/lxqt/wallpapers/butterfly.png",
        "CC-BY-SA-3.0",
        LXQT_STEFONARCH_CREDIT,
    ),
    Photo("lxqt-themes", "usr/share/lxqt/wallpapers/cloud.png", "CC-BY-SA-3.0", LXQT_TEAM_CREDIT),
    Photo(
        "lxqt-themes", "usr/share/lxqt/wallpapers/drop.png", "CC-BY-SA-3.0", LXQT_STEFONARCH_CREDIT
    ),
    Photo(
        "lxqt-themes",
        "usr/share/lxqt/wallpapers/flowers.png",
        "CC-BY-SA-3.0",
        LXQT_STEFONARCH_CREDIT,
    ),
    Photo(
        "lxqt-themes", "usr/share/lxqt/wallpapers/fog.jpg", "CC-BY-SA-3.0", LXQT_STEFONARCH_CREDIT
    ),
    Photo(
        "lxqt-themes",
        "usr/share/lxqt/wallpapers/this-is-not-windows.jpg",
        "CC-BY-SA-3.0",
        LXQT_STEFONARCH_CREDIT,
    ),
    Photo(
        "lxqt-themes", "usr/share/lxqt/wallpapers/Valendas.png", "CC-BY-SA-3.0", LXQT_TEAM_CREDIT
    ),
    Photo(
        "mate-backgrounds",
        "usr/share/backgrounds/mate/nature/Aqua.jpg",
        "GPL-2+",
        "2008, Charles Barbin",
        "heavily compressed JPEG",
    ),
    Photo(
        "mate-backgrounds",
        "usr/share/backgrounds/mate/nature/Blinds.jpg",
        "GPL-2+",
        "2008, Lennart Poettering",
    ),
    Photo(
        "mate-backgrounds",
        "usr/share/backgrounds/mate/nature/Dune.jpg",
        "GPL-2+",
        "2007, Marco Cogoni",
    ),
    Photo(
        "mate-backgrounds",
        "usr/share/backgrounds/mate/nature/FreshFlower.jpg",
        "GPL-2+",
        "2005, Jens Ansorg",
        "heavily compressed JPEG",
    ),
    Photo(
        "mate-backgrounds",
        "usr/share/backgrounds/mate/nature/Garden.jpg",
        "GPL-2+",
        "2008, Charles Barbin",
    ),
    Photo(
        "mate-backgrounds",
        "usr/share/backgrounds/mate/nature/GreenMeadow.jpg",
        "GPL-2+",
        "2005, Timothy Schellhase",
    ),
    Photo(
        "mate-backgrounds",
        "usr/share/backgrounds/mate/nature/LadyBird.jpg",
        "GPL-2+",
        "2008, Charles Barbin",
    ),
    Photo(
        "mate-backgrounds",
        "usr/share/backgrounds/mate/nature/RainDrops.jpg",
        "GPL-2+",
        '2008, "blackcombwhistler07"',
    ),
    Photo(
        "mate-backgrounds",
        "usr/share/backgrounds/mate/nature/Storm.jpg",
        "GPL-2+",
        "2008, Sergey Nazarov",
    ),
    Photo(
        "mate-backgrounds",
        "usr/share/backgrounds/mate/nature/TwoWings.jpg",
        "GPL-2+",
        "2008, Charles Barbin",
    ),
    Photo(
        "mate-backgrounds",
        "usr/share/backgrounds/mate/nature/Wood.jpg",
        "GPL-2+",
        "2008, Jean-François Fortin Tam",
    ),
    Photo(
        "mate-backgrounds",
        "usr/share/backgrounds/mate/nature/YellowFlower.jpg",
        "GPL-2+",
        "2008, Charles Barbin",
    ),
    Photo(
        "plasma-workspace-wallpapers",
        "usr/share/wallpapers/BytheWater/contents/images/2560x1600.jpg",
        "LGPL-3",
        "Maciej Wiklo",
    ),
    Photo(
        "plasma-workspace-wallpapers",
        "usr/share/wallpapers/ColdRipple/contents/images/2560x1600.jpg",
        "LGPL-3",
        "Risto Saukonpää",
    ),
    Photo(
        "plasma-workspace-wallpapers",
        "usr/share/wallpapers/ColorfulCups/contents/images/2560x1600.jpg",
        "LGPL-3",
        "Dmitri Popov",
    ),
    Photo(
        "plasma-workspace-wallpapers",
        "usr/share/wallpapers/DarkestHour/contents/images/2560x1600.jpg",
        "LGPL-3",
        "Risto Saukonpää",
        "dark",
    ),
    Photo(
        "plasma-workspace-wallpapers",
        "usr/share/wallpapers/EveningGlow/contents/images/2560x1600.jpg",
        "LGPL-3",
        "Ian Hex",
    ),
    Photo(
        "plasma-workspace-wallpapers",
        "usr/share/wallpapers/FallenLeaf/contents/images/2560x1600.jpg",
        "LGPL-3",
        "Martin Klapetek",
    ),
    Photo(
        "plasma-workspace-wallpapers",
        "usr/share/wallpapers/Grey/contents/images/2560x1600.jpg",
        "LGPL-3",
        "Sigi Sagi",
        "heavily compressed JPEG",
    ),
    Photo(
        "plasma-workspace-wallpapers",
        "usr/share/wallpapers/Kite/contents/images/2560x1600.jpg",
        "LGPL-3",
        "Risto Saukonpää",
        "nearly flat",
    ),
    Photo(
        "plasma-workspace-wallpapers",
        "usr/share/wallpapers/OneStandsOut/contents/images/2560x1600.jpg",
        "LGPL-3",
        "Risto Saukonpää",
    ),
    Photo(
        "plasma-workspace-wallpapers",
        "usr/share/wallpapers/Path/contents/images/2560x1600.jpg",
        "LGPL-3",
        "Risto Saukonpää",
    ),
    Photo(
        "plasma-workspace-wallpapers",
        "usr/share/wallpapers/summer_1am/contents/images/2560x1600.jpg",
        "LGPL-3",
        "Risto Saukonpää",
        "dark",
    ),
    Photo(
        "sddm-theme-maldives",
        "usr/share/sddm/themes/maldives/background.jpg",
        "CC-BY-3.0",
        "Nevit Dilmen, 2008 (commons.wikimedia.org/wiki/User:Nevit)",
    ),
    Photo(
        "tuxpaint-data", "usr/share/tuxpaint/templates/burnt_bark.jpg", "GPL-2+", TUXPAINT_CREDIT
    ),
    Photo("tuxpaint-data", "usr/share/tuxpaint/templates/cliff.jpg", "GPL-2+", TUXPAINT_CREDIT),
    Photo("tuxpaint-data", "usr/share/tuxpaint/templates/corn_maze.jpg", "GPL-2+", TUXPAINT_CREDIT),
    Photo(
        "tuxpaint-data",
        "usr/share/tuxpaint/templates/jellyfish.jpg",
        "GPL-2+",
        TUXPAINT_CREDIT,
        "heavily compressed JPEG",
    ),
    Photo(
        "tuxpaint-data", "usr/share/tuxpaint/templates/lighthouse.jpg", "GPL-2+", TUXPAINT_CREDIT
    ),
    Photo("tuxpaint-data", "usr/share/tuxpaint/templates/mossy_log.jpg", "GPL-2+", TUXPAINT_CREDIT),
    Photo("tuxpaint-data", "usr/share/tuxpaint/templates/mudstone.jpg", "GPL-2+", TUXPAINT_CREDIT),
    Photo(
        "tuxpaint-data", "usr/share/tuxpaint/templates/ocean_splash.jpg", "GPL-2+", TUXPAINT_CREDIT
    ),
    Photo(
        "tuxpaint-data", "usr/share/tuxpaint/templates/ocean_waves.jpg", "GPL-2+", TUXPAINT_CREDIT
    ),
    Photo(
        "tuxpaint-data",
        "usr/share/tuxpaint/templates/redwoods_above.jpg",
        "GPL-2+",
        TUXPAINT_CREDIT,
    ),
    Photo("tuxpaint-data", "usr/share/tuxpaint/templates/rocks.jpg", "GPL-2+", TUXPAINT_CREDIT),
    Photo("tuxpaint-data", "usr/share/tuxpaint/templates/sheep.jpg", "GPL-2+", TUXPAINT_CREDIT),
    Photo(
        "tuxpaint-data", "usr/share/tuxpaint/templates/spiders_web.jpg", "GPL-2+", TUXPAINT_CREDIT
    ),
    Photo(
        "tuxpaint-data",
        "usr/share/tuxpaint/templates/sun_behind_clouds.jpg",
        "GPL-2+",
        TUXPAINT_CREDIT,
    ),
    Photo(
        "tuxpaint-data",
        "usr/share/tuxpaint/templates/sun_behind_leaves.jpg",
        "GPL-2+",
        TUXPAINT_CREDIT,
    ),
)

# Licence files, besides usr/share/doc/PACKAGE/copyright, that credit the photos.
EXTRA_LICENCE_FILES: dict[str, tuple[str, ...]] = {
    "lxqt-themes": ("usr/share/lxqt/wallpapers/License",),
    "plasma-workspace-wallpapers": tuple(
        str(Path(photo.path).parents[2] / "metadata.json")
        for photo in PHOTOS
        if photo.package == "plasma-workspace-wallpapers"
    ),
}

# Real colour photographs bundled in scikit-image's wheel (no download needed);
# licences from the skimage.data docstrings.
SKIMAGE_PHOTOS: tuple[Photo, ...] = (
    Photo(
        SKIMAGE_PACKAGE,
        "astronaut.png",
        "public domain",
        "NASA (Eileen Collins), NASA Great Images, https://flic.kr/p/r9qvLn",
        "people",
    ),
    Photo(SKIMAGE_PACKAGE, "chelsea.png", "CC0", "Stefan van der Walt"),
    Photo(
        SKIMAGE_PACKAGE,
        "coffee.png",
        "CC0",
        "Rachel Michetti, courtesy of Pikolo Espresso Bar",
    ),
    Photo(
        SKIMAGE_PACKAGE,
        "rocket.jpg",
        "public domain",
        "SpaceX (DSCOVR launch on Falcon 9), released into the public domain",
        "JPEG as shipped",
    ),
    Photo(
        SKIMAGE_PACKAGE,
        "motorcycle_left.png",
        "no licence stated (research data set)",
        "Middlebury 2014 stereo data set, Scharstein et al., GCPR 2014",
        "left view of a stereo pair, downsampled 4x; keep with motorcycle_right",
    ),
    Photo(
        SKIMAGE_PACKAGE,
        "motorcycle_right.png",
        "no licence stated (research data set)",
        "Middlebury 2014 stereo data set, Scharstein et al., GCPR 2014",
        "right view of a stereo pair, downsampled 4x; keep with motorcycle_left",
    ),
)

JPEG_FRAME_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
JPEG_STANDALONE_MARKERS = frozenset(range(0xD0, 0xDA)) | {0x01}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


class FetchError(Exception):
    """A photo or package could not be fetched; the message says why."""


def read_image_size(path: Path) -> tuple[int, int] | None:
    """Width and height from a PNG or JPEG header, or None if unrecognised."""
    with path.open("rb") as handle:
        header = handle.read(24)
        if header.startswith(b"\x89PNG\r\n\x1a\n") and header[12:16] == b"IHDR":
            width, height = struct.unpack(">II", header[16:24])
            return width, height
        if not header.startswith(b"\xff\xd8"):
            return None
        handle.seek(2)
        while True:
            byte = handle.read(1)
            if not byte:
                return None
            if byte != b"\xff":
                # Only entropy-coded data follows markers we skip; give up.
                return None
            marker = handle.read(1)
            # Any number of 0xFF fill bytes may precede a marker code.
            while marker == b"\xff":
                marker = handle.read(1)
            if not marker:
                return None
            code = marker[0]
            if code in JPEG_STANDALONE_MARKERS:
                continue
            (length,) = struct.unpack(">H", handle.read(2))
            if code in JPEG_FRAME_MARKERS:
                _precision, height, width = struct.unpack(">BHH", handle.read(5))
                return width, height
            handle.seek(length - 2, os.SEEK_CUR)


def run_command(command: list[str], working_directory: Path) -> None:
    """Run a command quietly; raise FetchError with its last error line."""
    result = subprocess.run(
        command, cwd=working_directory, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        # apt prints harmless sandbox warnings first; the last line is the cause.
        reason = lines[-1] if lines else f"exit status {result.returncode}"
        raise FetchError(f"`{' '.join(command)}` failed: {reason}")


def copy_atomically(source: Path, destination: Path) -> None:
    """Copy (following symlinks) so that an interrupted run leaves no partial file."""
    partial = destination.with_name(destination.name + ".part")
    shutil.copyfile(source, partial)
    partial.replace(destination)


def ensure_edje_decc() -> str:
    """Path of edje_decc, installing libedje-bin with apt-get when possible."""
    found = shutil.which("edje_decc")
    if found:
        return found
    if os.geteuid() != 0:
        raise FetchError(f"edje_decc is missing: run `apt-get install {EDJE_PACKAGE}` as root")
    print(f"installing {EDJE_PACKAGE} (provides edje_decc) with apt-get", flush=True)
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    result = subprocess.run(
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", EDJE_PACKAGE],
        capture_output=True,
        text=True,
        env=environment,
        check=False,
    )
    found = shutil.which("edje_decc")
    if result.returncode != 0 or not found:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        reason = lines[-1] if lines else "edje_decc still not found"
        raise FetchError(f"could not install {EDJE_PACKAGE}: {reason}")
    return found


def extract_from_edj(archive: Path, work_directory: Path) -> tuple[Path, str]:
    """Unpack an .edj archive; return its largest image and how it was stored."""
    output_directory = work_directory / archive.stem
    run_command(
        [ensure_edje_decc(), str(archive), "-no-build-sh", "-o", str(output_directory)],
        work_directory,
    )
    candidates = []
    for image in output_directory.iterdir():
        size = read_image_size(image) if image.suffix in IMAGE_SUFFIXES else None
        if size:
            candidates.append((size[0] * size[1], image))
    if not candidates:
        raise FetchError(f"no image found inside {archive.name}")
    # Each archive holds one photo at several sizes; the largest is the original.
    largest = max(candidates)[1]
    if largest.suffix != ".png":
        raise FetchError(f"{archive.name}: expected a PNG, edje_decc wrote {largest}")
    # The .edc source records whether the archive stored the pixels lossily.
    storage = ""
    for source in output_directory.glob("*.edc"):
        match = re.search(
            rf'image:\s*"{re.escape(largest.name)}"\s+(LOSSY\s+\d+|COMP|RAW)',
            source.read_text(errors="replace"),
        )
        if match:
            storage = f"stored {' '.join(match.group(1).split())} in the .edj"
    return largest, storage


def fetch_package(package: str, photos: list[Photo], out_directory: Path) -> dict[Photo, str]:
    """Download and unpack one package; copy its photos. Returns notes per photo."""
    extra_notes: dict[Photo, str] = {}
    with tempfile.TemporaryDirectory(prefix="darkdev-photos-") as temporary:
        work_directory = Path(temporary)
        run_command(["apt-get", "download", package], work_directory)
        archives = sorted(work_directory.glob("*.deb"))
        if not archives:
            raise FetchError(f"apt-get download {package} produced no .deb")
        root = work_directory / "root"
        run_command(["dpkg-deb", "-x", str(archives[0]), str(root)], work_directory)
        licence_directory = out_directory / "licences"
        licence_directory.mkdir(exist_ok=True)
        copyright_file = root / "usr/share/doc" / package / "copyright"
        if copyright_file.is_file():
            copy_atomically(copyright_file, licence_directory / f"{package}.copyright")
        for extra in EXTRA_LICENCE_FILES.get(package, ()):
            extra_path = root / extra
            if extra_path.is_file():
                copy_atomically(extra_path, licence_directory / licence_name(package, extra))
        for photo in photos:
            destination = out_directory / photo.output_name
            if destination.exists():
                continue
            source = root / photo.path
            try:
                if not source.exists():
                    raise FetchError(f"{photo.path} is not in {archives[0].name}")
                if source.suffix == ".edj":
                    source, storage = extract_from_edj(source, work_directory)
                    extra_notes[photo] = storage
                copy_atomically(source, destination)
            except FetchError as error:
                extra_notes[photo] = f"FAILED: {error}"
    return extra_notes


def licence_name(package: str, path: str) -> str:
    """File name under OUT/licences/ for an extra licence file."""
    parts = Path(path).parts
    # KDE metadata.json files differ only by their wallpaper folder.
    label = parts[-2] if parts[-1] == "metadata.json" else ""
    return "__".join(part for part in (package, label, parts[-1]) if part)


def skimage_data_directory() -> Path | None:
    """scikit-image's bundled data folder, or None when it is not importable."""
    specification = importlib.util.find_spec("skimage")
    if specification is None or not specification.submodule_search_locations:
        return None
    return Path(next(iter(specification.submodule_search_locations))) / "data"


def missing_outputs(package: str, photos: list[Photo], out_directory: Path) -> bool:
    """Whether any photo or licence file of a package is missing from OUT."""
    if any(not (out_directory / photo.output_name).exists() for photo in photos):
        return True
    licence_directory = out_directory / "licences"
    wanted = [f"{package}.copyright"] + [
        licence_name(package, extra) for extra in EXTRA_LICENCE_FILES.get(package, ())
    ]
    return any(not (licence_directory / name).exists() for name in wanted)


def check_apt() -> None:
    """Exit with a clear message when apt cannot be used."""
    missing = [tool for tool in ("apt-get", "dpkg-deb") if not shutil.which(tool)]
    if missing:
        sys.exit(
            f"error: {' and '.join(missing)} not found. This script fetches photos"
            " from Debian 12 (bookworm) packages and needs a Debian system with apt."
        )
    os_release = Path("/etc/os-release")
    codename = ""
    if os_release.is_file():
        match = re.search(r"^VERSION_CODENAME=(\S+)", os_release.read_text(), re.M)
        codename = match.group(1).strip('"') if match else ""
    if codename != "bookworm":
        # Package contents differ between releases; failures will name the paths.
        print(f"warning: expected Debian 12 (bookworm), found '{codename or '?'}'")


def describe(photo: Photo, out_directory: Path) -> str:
    """One progress line fragment: output name and size."""
    size = read_image_size(out_directory / photo.output_name)
    dimensions = f"{size[0]}x{size[1]}" if size else "?x?"
    return f"{photo.output_name} {dimensions}"


def write_manifest(
    photos: list[Photo],
    original_paths: dict[Photo, str],
    extra_notes: dict[Photo, str],
    out_directory: Path,
) -> int:
    """Rewrite OUT/manifest.tsv for the photos present; return the row count."""
    rows = ["\t".join(MANIFEST_COLUMNS)]
    for photo in photos:
        destination = out_directory / photo.output_name
        if not destination.exists():
            continue
        width, height = read_image_size(destination) or ("", "")
        notes = photo.credit_notes
        if extra_notes.get(photo):
            notes = f"{notes}; {extra_notes[photo]}"
        fields = (
            photo.output_name,
            photo.package,
            original_paths[photo],
            str(width),
            str(height),
            photo.licence,
            notes,
        )
        # Tabs or newlines inside a field would break the TSV.
        rows.append("\t".join(" ".join(field.split()) for field in fields))
    manifest = out_directory / "manifest.tsv"
    partial = manifest.with_name(manifest.name + ".part")
    partial.write_text("\n".join(rows) + "\n", encoding="utf-8")
    partial.replace(manifest)
    return len(rows) - 1


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="See the module docstring and data/PHOTO_CREDITS.md for details.",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help=f"output folder (default: {DEFAULT_OUT})",
    )
    parser.add_argument(
        "--no-skimage",
        action="store_true",
        help="skip scikit-image's bundled photographs",
    )
    arguments = parser.parse_args()
    out_directory = arguments.out.expanduser().resolve()
    out_directory.mkdir(parents=True, exist_ok=True)

    photos = list(PHOTOS)
    original_paths = {photo: photo.path for photo in PHOTOS}
    extra_notes: dict[Photo, str] = {}
    names = [photo.output_name for photo in PHOTOS + SKIMAGE_PHOTOS]
    # Two photos mapped to one file would silently overwrite each other.
    assert len(names) == len(set(names)), "duplicate output names in PHOTOS"

    packages: dict[str, list[Photo]] = {}
    for photo in PHOTOS:
        packages.setdefault(photo.package, []).append(photo)
    needed = [
        package
        for package, members in packages.items()
        if missing_outputs(package, members, out_directory)
    ]
    if needed:
        check_apt()
    failures = 0
    for package, members in packages.items():
        if package in needed:
            try:
                extra_notes.update(fetch_package(package, members, out_directory))
            except FetchError as error:
                extra_notes.update({photo: f"FAILED: {error}" for photo in members})
        for photo in members:
            if photo.output_name.endswith(".png") and photo.path.endswith(".edj"):
                original_paths[photo] = f"{photo.path}:largest image"
            if (out_directory / photo.output_name).exists():
                status = "fetched" if package in needed else "present"
                note = extra_notes.get(photo, "")
                if note.startswith("FAILED"):
                    status = "present"
                print(f"{status:8} {describe(photo, out_directory)}", flush=True)
            else:
                failures += 1
                reason = extra_notes.get(photo, "FAILED: not copied")
                print(f"FAILED   {photo.package} {photo.path}: {reason}", flush=True)

    data_directory = None if arguments.no_skimage else skimage_data_directory()
    if data_directory is None:
        print("skipping scikit-image photographs (not importable or --no-skimage)")
    else:
        version = importlib.metadata.version(SKIMAGE_PACKAGE)
        for photo in SKIMAGE_PHOTOS:
            photos.append(photo)
            original_paths[photo] = f"skimage/data/{photo.path} (scikit-image {version})"
            destination = out_directory / photo.output_name
            if destination.exists():
                print(f"present  {describe(photo, out_directory)}", flush=True)
                continue
            source = data_directory / photo.path
            if not source.is_file():
                failures += 1
                print(f"FAILED   {SKIMAGE_PACKAGE} {photo.path}: not in {data_directory}")
                continue
            copy_atomically(source, destination)
            print(f"fetched  {describe(photo, out_directory)}", flush=True)

    extra_notes = {
        photo: note for photo, note in extra_notes.items() if not note.startswith("FAILED")
    }
    rows = write_manifest(photos, original_paths, extra_notes, out_directory)
    print(f"{rows} photos in {out_directory}, {failures} failed; see manifest.tsv")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
