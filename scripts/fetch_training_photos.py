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
The catalogue, the photo records and the manifest live in the sibling module
scripts/photo_catalogue.py; this script does the fetching.

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
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from photo_catalogue import (
    EXTRA_LICENCE_FILES,
    IMAGE_SUFFIXES,
    PHOTOS,
    SKIMAGE_PACKAGE,
    SKIMAGE_PHOTOS,
    Photo,
    read_image_size,
    write_manifest,
)

DEFAULT_OUT = Path("~/.cache/darkdev/photos")
EDJE_PACKAGE = "libedje-bin"


class FetchError(Exception):
    """A photo or package could not be fetched; the message says why."""


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
