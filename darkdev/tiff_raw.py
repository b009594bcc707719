"""TIFF/DNG identification for decode: tifffile's reading of a TIFF-based file's tags and image
data (TiffFacts: first IFD, truncated CFA data, raw data anywhere), and the tests that tell a
camera raw (DNG version, a maker, CFA data or a camera colour matrix) from a plain TIFF image.

numpy only; never imports torch.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass, field

import numpy as np
import rawpy

TIFF_SIGNATURES = (b"II*\x00", b"MM\x00*")
DNG_VERSION, MAKE, MODEL, PHOTOMETRIC, PHOTOMETRIC_CFA = 50706, 271, 272, 262, 32803
PHOTOMETRIC_LINEAR_RAW = 34892
# Names that promise a TIFF or a DNG: without DNGVersion and raw data they are editors' exports.
TIFF_OR_DNG_SUFFIXES = (".tif", ".tiff", ".dng")


@dataclass
class TiffFacts:
    """What a TIFF parser that handles tiled, compressed DNGs in either byte order (tifffile)
    says about a TIFF-based file; exifread misses tags in e.g. CinemaDNG files."""

    first_ifd: dict[int, object] = field(default_factory=dict)  # {tag code: value}
    truncated: bool = False  # a CFA image's data (tiles or strips) lies past the end of the file
    raw_data: bool = False  # some IFD or SubIFD holds CFA or linear raw data


def tiff_facts(data: bytes) -> TiffFacts:
    if data[:4] not in TIFF_SIGNATURES:
        return TiffFacts()
    import logging

    import tifffile  # lazy: only TIFF-based raws need it

    quiet = logging.Filter("darkdev: a malformed TIFF is reported by darkdev itself")
    quiet.filter = lambda record: False  # type: ignore[method-assign]
    logger = logging.getLogger("tifffile")
    logger.addFilter(quiet)
    try:
        with tifffile.TiffFile(io.BytesIO(data)) as tiff:
            first = tiff.pages.first
            facts = TiffFacts({tag.code: tag.value for tag in first.tags.values()})
            pages = [first, *(first.pages or [])]
            for page in pages:
                if page.photometric == PHOTOMETRIC_CFA:
                    pairs = zip(page.dataoffsets, page.databytecounts, strict=False)
                    ends = [offset + count for offset, count in pairs]
                    facts.truncated |= not ends or max(ends) > len(data)
            with contextlib.suppress(Exception):  # a damaged later IFD: the first one decided
                pages += list(tiff.pages)[1:]
            raw_photometrics = (PHOTOMETRIC_CFA, PHOTOMETRIC_LINEAR_RAW)
            facts.raw_data = any(
                getattr(page, "photometric", None) in raw_photometrics for page in pages
            )
            return facts
    except Exception:  # tifffile raises many types on odd files; LibRaw has the last word
        return TiffFacts()
    finally:
        logger.removeFilter(quiet)


def names_a_camera(first_ifd: dict[int, object]) -> bool:
    """The first IFD says DNG, names a maker, or holds CFA data."""
    return (
        DNG_VERSION in first_ifd
        or bool(str(first_ifd.get(MAKE, "")).strip())
        or first_ifd.get(PHOTOMETRIC) == PHOTOMETRIC_CFA
    )


def is_camera_raw(raw: rawpy.RawPy, first_ifd: dict[int, object]) -> bool:
    """LibRaw reads any TIFF as a headerless raw; a camera raw is one where LibRaw found the
    camera's colour matrix (it knows the camera, or read a DNG ColorMatrix) or whose tags name
    a camera."""
    return bool(np.any(np.asarray(raw.rgb_xyz_matrix)[:3])) or names_a_camera(first_ifd)
