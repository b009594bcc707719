"""The photo catalogue of scripts/fetch_training_photos.py (data/training_photos.tsv) reads
cleanly, and a malformed row is named by file and line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.script_modules import load_script

ROOT = Path(__file__).resolve().parent.parent


def test_catalogue_reads_to_unique_complete_photos():
    fetch = load_script("fetch_training_photos.py")
    photos = fetch.read_catalogue(fetch.CATALOGUE)
    assert photos and photos == fetch.PHOTOS + fetch.SKIMAGE_PHOTOS
    assert fetch.PHOTOS and fetch.SKIMAGE_PHOTOS
    names = [photo.output_name for photo in photos]
    assert len(names) == len(set(names))
    for photo in photos:
        assert photo.package and photo.path and photo.licence and photo.credit, photo


def test_catalogue_note_may_be_left_off(tmp_path):
    """An editor that strips trailing whitespace drops the empty note's tab: still read."""
    fetch = load_script("fetch_training_photos.py")
    catalogue = tmp_path / "photos.tsv"
    catalogue.write_text(
        "package\tpath\tlicence\tcredit\tnote\npkg\tusr/share/a.jpg\tCC0\tSomeone\n",
        encoding="utf-8",
    )
    assert fetch.read_catalogue(catalogue) == (
        fetch.Photo("pkg", "usr/share/a.jpg", "CC0", "Someone"),
    )


def test_malformed_catalogue_row_names_file_and_line(tmp_path):
    fetch = load_script("fetch_training_photos.py")
    catalogue = tmp_path / "photos.tsv"
    catalogue.write_text(
        "# a comment\n"
        "package\tpath\tlicence\tcredit\tnote\n"
        "pkg\tusr/share/a.jpg\tCC0\tSomeone\t\n"
        "pkg\tusr/share/b.jpg\tCC0\n",
        encoding="utf-8",
    )
    with pytest.raises(
        ValueError, match=re.escape(f"{catalogue}:4: expected 5 tab-separated columns")
    ):
        fetch.read_catalogue(catalogue)


def test_empty_catalogue_is_refused(tmp_path):
    """No rows (or no header) would fetch nothing and write an empty photo folder: refused."""
    fetch = load_script("fetch_training_photos.py")
    for text in ("# only a comment\n", "package\tpath\tlicence\tcredit\tnote\n"):
        catalogue = tmp_path / "photos.tsv"
        catalogue.write_text(text, encoding="utf-8")
        with pytest.raises(ValueError, match="no photo rows"):
            fetch.read_catalogue(catalogue)
