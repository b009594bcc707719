"""The photo catalogue and the manifest that describes the fetched photos.

It holds what the training photographs are: the Photo record, the catalogue
data/training_photos.tsv that lists them with their licences and credits, the
licence files that credit them, and OUT/manifest.tsv with each photo's size
read from its PNG / JPEG header.  scripts/fetch_training_photos.py imports it
and does the fetching (apt-get, dpkg-deb, edje_decc); keeping the two apart
lets the catalogue be read and tested without any of that.  Standard library only.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

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


CATALOGUE = Path(__file__).resolve().parent.parent / "data" / "training_photos.tsv"
CATALOGUE_COLUMNS = ("package", "path", "licence", "credit", "note")


def read_catalogue(path: Path) -> tuple[Photo, ...]:
    """The photos listed in a tab-separated catalogue, in file order.

    Lines starting with ``#`` and blank lines are skipped; the first other line
    must name the columns (CATALOGUE_COLUMNS), and every row after it must have
    those five fields; the note may be empty or left off (an editor may strip the tab).
    """
    photos: list[Photo] = []
    header_seen = False
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            line = line.rstrip("\r\n")
            if not line.strip() or line.startswith("#"):
                continue
            fields = tuple(line.split("\t"))
            if not header_seen:
                if fields != CATALOGUE_COLUMNS:
                    raise ValueError(f"{path}:{number}: expected the header {CATALOGUE_COLUMNS}")
                header_seen = True
            elif len(fields) not in (len(CATALOGUE_COLUMNS) - 1, len(CATALOGUE_COLUMNS)):
                raise ValueError(
                    f"{path}:{number}: expected {len(CATALOGUE_COLUMNS)} tab-separated "
                    f"columns ({', '.join(CATALOGUE_COLUMNS)}; the note may be left off), "
                    f"found {len(fields)}"
                )
            elif not all(fields[:4]):
                raise ValueError(f"{path}:{number}: package, path, licence and credit must be set")
            else:
                photos.append(Photo(*fields))
    if not photos:  # else the fetch would quietly write an empty photo folder
        raise ValueError(f"{path}: no photo rows (and a header naming {CATALOGUE_COLUMNS})")
    return tuple(photos)


# The photos and their credits live in data/training_photos.tsv: the Debian-packaged
# ones, then scikit-image's bundled real colour photographs (no download needed).
_CATALOGUE = read_catalogue(CATALOGUE)
PHOTOS: tuple[Photo, ...] = tuple(p for p in _CATALOGUE if p.package != SKIMAGE_PACKAGE)
SKIMAGE_PHOTOS: tuple[Photo, ...] = tuple(p for p in _CATALOGUE if p.package == SKIMAGE_PACKAGE)

# Licence files, besides usr/share/doc/PACKAGE/copyright, that credit the photos.
EXTRA_LICENCE_FILES: dict[str, tuple[str, ...]] = {
    "lxqt-themes": ("usr/share/lxqt/wallpapers/License",),
    "plasma-workspace-wallpapers": tuple(
        str(Path(photo.path).parents[2] / "metadata.json")
        for photo in PHOTOS
        if photo.package == "plasma-workspace-wallpapers"
    ),
}

JPEG_FRAME_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
JPEG_STANDALONE_MARKERS = frozenset(range(0xD0, 0xDA)) | {0x01}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


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
                # A marker must start here; anything else is a malformed header.
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


def original_path(photo: Photo, skimage_version: str) -> str:
    """Where the photo came from, for the manifest."""
    if photo.package == SKIMAGE_PACKAGE:
        version = f" {skimage_version}" if skimage_version else ""
        return f"skimage/data/{photo.path} (scikit-image{version})"
    if photo.path.endswith(".edj"):
        return f"{photo.path} (largest image inside, stored lossily; PNG from edje_decc)"
    return photo.path


def write_manifest(photos: list[Photo], out_directory: Path, skimage_version: str) -> int:
    """Rewrite OUT/manifest.tsv for the photos present; return the row count."""
    rows = ["\t".join(MANIFEST_COLUMNS)]
    for photo in photos:
        destination = out_directory / photo.output_name
        if not destination.exists():
            continue
        width, height = read_image_size(destination) or ("", "")
        fields = (
            photo.output_name,
            photo.package,
            original_path(photo, skimage_version),
            str(width),
            str(height),
            photo.licence,
            photo.credit_notes,
        )
        # Tabs or newlines inside a field would break the TSV.
        rows.append("\t".join(" ".join(field.split()) for field in fields))
    manifest = out_directory / "manifest.tsv"
    partial = manifest.with_name(manifest.name + ".part")
    partial.write_text("\n".join(rows) + "\n", encoding="utf-8")
    partial.replace(manifest)
    return len(rows) - 1
