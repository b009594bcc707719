"""Minimal CFA DNG writer (tifffile): synthetic training raws and test fixtures that LibRaw reads.

Writes one uncompressed CFA IFD with the tags LibRaw needs: CFA pattern, black/white level,
colour matrix, as-shot neutral, orientation, exposure time and ISO.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
import tifffile

from darkdev.errors import ShapeError

# XYZ -> camera matrices (x1e-4), as LibRaw ships them.
CAMERA_MATRICES = {
    "Sony ILCE-7SM2": (5838, -1430, -246, -3497, 11477, 2297, -748, 1885, 5778),
    "Sony ILCE-7RM3": (6640, -1847, -503, -5238, 13010, 2474, -993, 1673, 6527),
    "Fujifilm X-T2": (11434, -4948, -1210, -3746, 12042, 1903, -666, 1479, 5235),
}


@dataclass
class DngMetadata:
    make: str = "Sony"
    model: str = "ILCE-7SM2"
    black_level: int = 512
    white_level: int = 16383
    color_matrix: tuple[int, ...] = CAMERA_MATRICES["Sony ILCE-7SM2"]
    as_shot_neutral: tuple[float, float, float] | None = (0.5, 1.0, 0.6)  # None: tag left out
    orientation: int = 1
    exposure_time_s: float = 0.1
    iso: int = 3200
    extra_tags: list = field(default_factory=list)


def _rational(value: float) -> tuple[int, int]:
    fraction = Fraction(value).limit_denominator(1_000_000)
    return fraction.numerator, fraction.denominator


def dng_tags(cfa_pattern: np.ndarray, meta: DngMetadata) -> list[tuple]:
    """The CFA and DNG tags (tifffile extratags) LibRaw needs, for a 2x2 or 6x6 pattern."""
    pattern = np.asarray(cfa_pattern, dtype=np.uint8)
    if pattern.shape not in ((2, 2), (6, 6)) or pattern.max() > 2:
        raise ShapeError(f"CFA pattern must be 2x2 or 6x6 of 0..2, got {pattern.shape}")
    matrix = [v for entry in meta.color_matrix for v in (int(entry), 10000)]
    exposure = _rational(meta.exposure_time_s)
    neutral: list[tuple] = []
    if meta.as_shot_neutral is not None:
        values = [v for entry in meta.as_shot_neutral for v in _rational(entry)]
        neutral = [(50728, 5, 3, values)]  # AsShotNeutral
    return [
        (254, 4, 1, 0),  # NewSubfileType: main image
        (271, "s", 0, meta.make),
        (272, "s", 0, meta.model),
        (274, 3, 1, meta.orientation),
        (33421, 3, 2, pattern.shape),  # CFARepeatPatternDim
        (33422, 1, pattern.size, pattern.ravel().tolist()),  # CFAPattern
        (33434, 5, 1, exposure),  # ExposureTime
        (34855, 3, 1, meta.iso),  # ISOSpeedRatings
        (50706, 1, 4, (1, 4, 0, 0)),  # DNGVersion
        (50708, "s", 0, f"{meta.make} {meta.model}"),  # UniqueCameraModel
        (50710, 1, 3, (0, 1, 2)),  # CFAPlaneColor
        (50711, 3, 1, 1),  # CFALayout: rectangular
        (50714, 3, 1, meta.black_level),
        (50717, 3, 1, meta.white_level),
        (50721, 10, 9, matrix),  # ColorMatrix1
        *neutral,
        (50778, 3, 1, 21),  # CalibrationIlluminant1: D65
        *meta.extra_tags,
    ]


def write_cfa_dng(
    destination: str | Path | io.BytesIO,
    mosaic: np.ndarray,
    cfa_pattern: np.ndarray,
    meta: DngMetadata,
) -> None:
    """Write a uint16 (H, W) mosaic with a 2x2 Bayer or 6x6 X-Trans pattern (0 R, 1 G, 2 B)."""
    if mosaic.ndim != 2 or mosaic.dtype != np.uint16:
        raise ShapeError(f"mosaic must be 2-D uint16, got {mosaic.dtype} {mosaic.shape}")
    tifffile.imwrite(
        destination,
        mosaic,
        photometric=32803,  # CFA
        compression=None,
        extratags=dng_tags(cfa_pattern, meta),
        metadata=None,
    )


def dng_bytes(mosaic: np.ndarray, cfa_pattern: np.ndarray, meta: DngMetadata) -> bytes:
    buffer = io.BytesIO()
    write_cfa_dng(buffer, mosaic, cfa_pattern, meta)
    return buffer.getvalue()
