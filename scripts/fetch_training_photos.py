#!/usr/bin/env python3
"""Fetch the clean real photographs used for synthetic training, plus their credits.

The photographs are never committed to this repository (several licences are
attribution / share-alike); this script re-creates them on any Debian 12
(bookworm) machine:

    python scripts/fetch_training_photos.py --out ~/.cache/darkdev/photos

What it does, per Debian package in the catalogue data/training_photos.tsv (79
photos in 8 packages, chosen by eye, with their licences and credits; see
data/PHOTO_CREDITS.md):

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
3. Copy the package's copyright file (and the lxqt-themes wallpaper License and
   the KDE wallpapers' metadata.json) to ``OUT/licences/<package>__<file>`` so
   that the credits travel with the photos.

When scikit-image is importable, its bundled real colour photographs are copied
byte for byte from ``skimage/data`` as ``OUT/scikit-image__<name>.<ext>``
(PNG, except rocket, which scikit-image ships as JPEG and is kept as JPEG).

Finally ``OUT/manifest.tsv`` is rewritten with one row per photo present:
filename, package, original_path, width, height, licence, credit_notes.
Width and height are read from the PNG / JPEG headers with the standard
library, so the script needs nothing beyond Python (3.10 or later) and apt.

It is idempotent: photos already in OUT are skipped, and a package is only
downloaded when one of its photos or licence files is missing.  It prints one
line per photo and exits 0 when every photo is present, 1 when some failed,
2 when something must be downloaded and apt-get / dpkg-deb are unavailable.
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
from collections.abc import Iterator
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
    storage = "storage unknown"
    for source in output_directory.glob("*.edc"):
        match = re.search(
            rf'image:\s*"{re.escape(largest.name)}"\s+(LOSSY\s+\d+|COMP|RAW|USER)',
            source.read_text(errors="replace"),
        )
        if match:
            storage = " ".join(match.group(1).split())
    return largest, f"{largest.name} in the .edj, stored {storage}"


def licence_name(package: str, path: str) -> str:
    """File name under OUT/licences/ for a licence file of a package."""
    parts = Path(path).parts
    # KDE metadata.json files differ only by their wallpaper folder.
    label = parts[-2] if parts[-1] == "metadata.json" else ""
    return "__".join(part for part in (package, label, parts[-1]) if part)


def licence_files(package: str) -> dict[str, str]:
    """Licence files of a package: path inside it -> name under OUT/licences/."""
    paths = [f"usr/share/doc/{package}/copyright"]
    paths += EXTRA_LICENCE_FILES.get(package, ())
    return {path: licence_name(package, path) for path in paths}


def fetch_package(
    package: str, photos: list[Photo], out_directory: Path
) -> Iterator[tuple[Photo, str, str]]:
    """Download and unpack one package; copy the given photos and its licences.

    Yields (photo, error, detail) as each photo is done: error is empty on
    success; detail says, for an .edj archive, which image was taken and how the
    archive stored it.  Raises FetchError when the package itself fails.
    """
    with tempfile.TemporaryDirectory(prefix="darkdev-photos-") as temporary:
        work_directory = Path(temporary)
        try:
            run_command(["apt-get", "download", package], work_directory)
        except FetchError as error:
            # An empty or stale package list is the usual cause on a fresh machine.
            raise FetchError(f"{error} (run `apt-get update` first?)") from error
        archives = sorted(work_directory.glob("*.deb"))
        if not archives:
            raise FetchError(f"apt-get download {package} produced no .deb")
        root = work_directory / "root"
        run_command(["dpkg-deb", "-x", str(archives[0]), str(root)], work_directory)
        licence_directory = out_directory / "licences"
        licence_directory.mkdir(exist_ok=True)
        for path, name in licence_files(package).items():
            if (root / path).is_file():
                copy_atomically(root / path, licence_directory / name)
            else:
                print(f"warning: licence file {path} is not in {archives[0].name}")
        for photo in photos:
            source = root / photo.path
            detail = ""
            try:
                if not source.exists():
                    raise FetchError(f"{photo.path} is not in {archives[0].name}")
                if source.suffix == ".edj":
                    source, detail = extract_from_edj(source, work_directory)
                copy_atomically(source, out_directory / photo.output_name)
            except FetchError as error:
                yield photo, str(error), ""
                continue
            yield photo, "", detail


def skimage_data_directory() -> Path | None:
    """scikit-image's bundled data folder, or None when it is not importable."""
    specification = importlib.util.find_spec("skimage")
    if specification is None or not specification.submodule_search_locations:
        return None
    return Path(next(iter(specification.submodule_search_locations))) / "data"


def is_complete(package: str, photos: list[Photo], out_directory: Path) -> bool:
    """Whether every photo and licence file of a package is already in OUT."""
    wanted = [out_directory / photo.output_name for photo in photos]
    wanted += [out_directory / "licences" / name for name in licence_files(package).values()]
    return all(path.exists() for path in wanted)


def check_apt() -> None:
    """Exit with a clear message when apt cannot be used."""
    missing = [tool for tool in ("apt-get", "dpkg-deb") if not shutil.which(tool)]
    if missing:
        print(
            f"error: {' and '.join(missing)} not found. This script fetches photos"
            " from Debian 12 (bookworm) packages and needs a Debian system with apt.",
            file=sys.stderr,
        )
        sys.exit(2)
    os_release = Path("/etc/os-release")
    codename = ""
    if os_release.is_file():
        match = re.search(r"^VERSION_CODENAME=(\S+)", os_release.read_text(), re.M)
        codename = match.group(1).strip('"') if match else ""
    if codename != "bookworm":
        # Package contents differ between releases; failures will name the paths.
        print(f"warning: expected Debian 12 (bookworm), found '{codename or '?'}'")


def report(status: str, photo: Photo, out_directory: Path, detail: str = "") -> None:
    """Print the one progress line of a photo: status, output name, size."""
    size = read_image_size(out_directory / photo.output_name)
    dimensions = f"{size[0]}x{size[1]}" if size else "?x?"
    suffix = f" ({detail})" if detail else ""
    print(f"{status:8} {photo.output_name} {dimensions}{suffix}", flush=True)


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


def fetch_packages(out_directory: Path) -> int:
    """Fetch every catalogued Debian photo missing from out_directory; the number that failed."""
    packages: dict[str, list[Photo]] = {}
    for photo in PHOTOS:
        packages.setdefault(photo.package, []).append(photo)
    needed = [
        package
        for package, members in packages.items()
        if not is_complete(package, members, out_directory)
    ]
    if needed:
        check_apt()

    failures = 0
    for package, members in packages.items():
        missing = []
        for photo in members:
            if (out_directory / photo.output_name).exists():
                report("present", photo, out_directory)
            else:
                missing.append(photo)
        if package not in needed:
            continue
        done: set[Photo] = set()
        try:
            # Print each photo as soon as it is done: .edj archives take minutes.
            for photo, error, detail in fetch_package(package, missing, out_directory):
                done.add(photo)
                if error:
                    failures += 1
                    print(f"FAILED   {photo.package} {photo.path}: {error}", flush=True)
                else:
                    report("fetched", photo, out_directory, detail)
        except FetchError as error:
            for photo in missing:
                if photo not in done:
                    failures += 1
                    print(f"FAILED   {photo.package} {photo.path}: {error}", flush=True)
    return failures


def copy_skimage_photos(data_directory: Path, out_directory: Path) -> int:
    """Copy scikit-image's photographs missing from out_directory; the number that failed."""
    failures = 0
    for photo in SKIMAGE_PHOTOS:
        destination = out_directory / photo.output_name
        if destination.exists():
            report("present", photo, out_directory)
            continue
        source = data_directory / photo.path
        if not source.is_file():
            failures += 1
            print(f"FAILED   {photo.package} {photo.path}: not in {data_directory}")
            continue
        copy_atomically(source, destination)
        report("fetched", photo, out_directory)
    return failures


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

    names = [photo.output_name for photo in PHOTOS + SKIMAGE_PHOTOS]
    # Two photos mapped to one file would silently overwrite each other.
    if len(names) != len(set(names)):
        sys.exit("error: duplicate output names in PHOTOS / SKIMAGE_PHOTOS")

    failures = fetch_packages(out_directory)
    skimage_version = ""
    data_directory = None if arguments.no_skimage else skimage_data_directory()
    if data_directory is None:
        print("skipping scikit-image photographs (not importable, or --no-skimage)")
    else:
        skimage_version = importlib.metadata.version(SKIMAGE_PACKAGE)
        failures += copy_skimage_photos(data_directory, out_directory)

    # List every photo present, also scikit-image ones kept from an earlier run.
    rows = write_manifest(list(PHOTOS + SKIMAGE_PHOTOS), out_directory, skimage_version)
    print(f"{rows} photos in {out_directory}, {failures} failed; see manifest.tsv")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
