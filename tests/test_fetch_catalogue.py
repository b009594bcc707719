"""The photo catalogue of scripts/fetch_training_photos.py (data/training_photos.tsv, read by
scripts/photo_catalogue.py) reads cleanly, and a malformed row is named by file and line."""

from __future__ import annotations

import re
import sys
from dataclasses import astuple
from pathlib import Path

import pytest

from tests.script_modules import load_script

ROOT = Path(__file__).resolve().parent.parent


def test_catalogue_reads_to_unique_complete_photos():
    module = load_script("photo_catalogue.py")
    photos = module.read_catalogue(module.CATALOGUE)
    assert photos and photos == module.PHOTOS + module.SKIMAGE_PHOTOS
    assert module.PHOTOS and module.SKIMAGE_PHOTOS
    names = [photo.output_name for photo in photos]
    assert len(names) == len(set(names))
    for photo in photos:
        assert photo.package and photo.path and photo.licence and photo.credit, photo


def test_fetch_script_imports_the_catalogue(monkeypatch):
    """The script finds its sibling module, as `python scripts/fetch_training_photos.py` does."""
    # Not one an earlier test loaded: the script must find the file itself.
    monkeypatch.delitem(sys.modules, "photo_catalogue", raising=False)
    fetch = load_script("fetch_training_photos.py")
    module = load_script("photo_catalogue.py")
    # Each load defines its own Photo class, so compare the fields.
    fetched = [astuple(photo) for photo in fetch.PHOTOS + fetch.SKIMAGE_PHOTOS]
    assert fetched == [astuple(photo) for photo in module.read_catalogue(module.CATALOGUE)]


def test_catalogue_note_may_be_left_off(tmp_path):
    """An editor that strips trailing whitespace drops the empty note's tab: still read."""
    module = load_script("photo_catalogue.py")
    catalogue = tmp_path / "photos.tsv"
    catalogue.write_text(
        "package\tpath\tlicence\tcredit\tnote\npkg\tusr/share/a.jpg\tCC0\tSomeone\n",
        encoding="utf-8",
    )
    assert module.read_catalogue(catalogue) == (
        module.Photo("pkg", "usr/share/a.jpg", "CC0", "Someone"),
    )


def test_malformed_catalogue_row_names_file_and_line(tmp_path):
    module = load_script("photo_catalogue.py")
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
        module.read_catalogue(catalogue)


def test_empty_catalogue_is_refused(tmp_path):
    """No rows (or no header) would fetch nothing and write an empty photo folder: refused."""
    module = load_script("photo_catalogue.py")
    for text in ("# only a comment\n", "package\tpath\tlicence\tcredit\tnote\n"):
        catalogue = tmp_path / "photos.tsv"
        catalogue.write_text(text, encoding="utf-8")
        with pytest.raises(ValueError, match="no photo rows"):
            module.read_catalogue(catalogue)
