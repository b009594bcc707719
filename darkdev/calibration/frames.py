"""Calibration frames: raw digital numbers with their CFA colours, levels, ISO and camera.

numpy only. Frames go through the same front end as develop (raw.read_raw), then the unclipped
digital numbers are read again (raw.visible_dn): dark-frame work needs the values below black.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from darkdev import raw
from darkdev.errors import CalibrationError, ShapeError

CHANNEL_NAMES = ("R", "G", "B", "G2")  # LibRaw colour indices 0..3


@dataclass(frozen=True)
class CameraIdentity:
    """What must agree between all frames of one calibration (and a dark frame and its image)."""

    make: str
    model: str
    height: int
    width: int
    cfa_kind: str
    cfa_pattern: tuple[tuple[int, ...], ...]  # LibRaw colour indices of the top-left period

    @property
    def name(self) -> str:
        return f"{self.make} {self.model}".strip() or "an unknown camera"

    def describe(self) -> str:
        return f"{self.name}, {self.width}x{self.height} {self.cfa_kind}"


def identity_of(frame: raw.RawFrame) -> CameraIdentity:
    period = frame.layout.period
    pattern = tuple(tuple(int(v) for v in row) for row in frame.colour_map[:period, :period])
    return CameraIdentity(
        make=frame.camera.make,
        model=frame.camera.model,
        height=frame.height,
        width=frame.width,
        cfa_kind=frame.layout.kind,
        cfa_pattern=pattern,
    )


def check_same_camera(
    expected: CameraIdentity, expected_source: str, actual: CameraIdentity, source: str
) -> None:
    """Refuse a frame of another camera, sensor mode or CFA phase, naming both files."""
    if actual != expected:
        raise CalibrationError(
            f"{source}: {actual.describe()}, but {expected_source} is {expected.describe()}; "
            "calibrate one camera (and one image size) at a time"
        )


@dataclass
class CalibrationFrame:
    source: str
    dn: np.ndarray = field(repr=False)  # (H, W) float32 raw digital numbers
    colour_map: np.ndarray = field(repr=False)  # (H, W) uint8 LibRaw colour indices
    black_level_per_channel: tuple[int, ...]
    white_level: int
    iso: int
    exposure_time_s: float | None
    identity: CameraIdentity

    @property
    def black_map(self) -> np.ndarray:
        """(H, W) float32 black level of each site."""
        return np.asarray(self.black_level_per_channel, dtype=np.float32)[self.colour_map]

    @property
    def channels(self) -> list[int]:
        """LibRaw colour indices present in the mosaic (0 R, 1 G, 2 B, 3 second G)."""
        return [int(c) for c in np.unique(self.colour_map[:6, :6])]

    @property
    def range_dn(self) -> float:
        """Digital numbers between the highest black level and white."""
        return float(self.white_level - max(self.black_level_per_channel))


def from_raw_frame(frame: raw.RawFrame) -> CalibrationFrame:
    if frame.camera.iso is None:
        raise CalibrationError(
            f"{frame.source}: no ISO in its metadata; calibration groups frames by ISO"
        )
    dn = raw.visible_dn(frame).astype(np.float32)
    if dn.shape != frame.colour_map.shape:
        raise ShapeError(
            f"{frame.source}: raw values {dn.shape} and colour map {frame.colour_map.shape} differ"
        )
    return CalibrationFrame(
        source=frame.source,
        dn=dn,
        colour_map=frame.colour_map,
        black_level_per_channel=frame.black_level_per_channel,
        white_level=frame.white_level,
        iso=int(frame.camera.iso),
        exposure_time_s=frame.camera.exposure_time_s,
        identity=identity_of(frame),
    )


def read_frame(path: str | Path) -> tuple[raw.RawFrame, CalibrationFrame]:
    """Decode one calibration raw: (the RawFrame develop would see, its raw digital numbers)."""
    frame = raw.read_raw(path)
    return frame, from_raw_frame(frame)


def expand_paths(items: Iterable[str | Path]) -> list[Path]:
    """Files as given; a folder stands for its raw files in name order."""
    paths: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            found = sorted(
                p for p in path.iterdir() if p.is_file() and p.suffix.lower() in raw.RAW_EXTENSIONS
            )
            if not found:
                raise CalibrationError(f"{path}: a folder with no raw files")
            paths += found
        else:
            paths.append(path)
    return paths


def central_window(height: int, width: int, share: float = 0.5) -> tuple[slice, slice]:
    """The central share of each side, in whole 6-pixel periods (Bayer and X-Trans phase kept)."""
    period = 6
    rows = max(int(height * share) // period * period, period)
    cols = max(int(width * share) // period * period, period)
    top = (height - rows) // 2 // period * period
    left = (width - cols) // 2 // period * period
    return slice(top, top + rows), slice(left, left + cols)


def channel_values(values: np.ndarray, colour_map: np.ndarray, channel: int) -> np.ndarray:
    """1-D values at the sites of one LibRaw colour index."""
    return values[colour_map == channel]


def clipped_mean(values: np.ndarray, spread: float = 6.0) -> float:
    """Mean within +-spread robust sigmas of the median: symmetric, so unbiased for symmetric
    noise, while one-sided outliers (hot pixels) are dropped."""
    values = values.astype(np.float64, copy=False)
    median = float(np.median(values))
    robust_sigma = 1.4826 * float(np.median(np.abs(values - median)))
    if robust_sigma == 0:
        return float(values.mean())
    kept = values[np.abs(values - median) <= spread * robust_sigma]
    return float(kept.mean())
