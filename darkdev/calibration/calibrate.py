"""`darkdev calibrate`: dark and flat frames of one camera -> per-ISO noise and master darks.

numpy only. Files are read one at a time and grouped by the ISO in their metadata; dark frames
pair up in the order they come, flats pair up in the order given within each ISO (the two shots
of a pair one after the other). Nothing is written here: profile.py writes the result.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from darkdev import raw
from darkdev.calibration.darks import DarkAccumulator, DarkResult
from darkdev.calibration.frames import (
    CalibrationFrame,
    CameraIdentity,
    check_same_camera,
    expand_paths,
    read_frame,
)
from darkdev.calibration.ptc import GainResult, PairPoint, fit_gain, pair_point
from darkdev.errors import CalibrationError


@dataclass
class IsoCalibration:
    iso: int
    dark: DarkResult | None = None
    gain: GainResult | None = None


@dataclass
class CalibrationResult:
    camera: CameraIdentity
    black_level_per_channel: tuple[int, ...]
    white_level: int
    colour_matrices: dict  # raw.libraw_colour_matrices of the first frame
    isos: list[IsoCalibration] = field(default_factory=list)  # ascending ISO
    flat_points: dict[int, list[PairPoint]] = field(default_factory=dict)


class _Reference:
    """The first frame: every later frame must come from the same camera and mode."""

    def __init__(self) -> None:
        self.frame: CalibrationFrame | None = None
        self.colour_matrices: dict = {}

    def check(self, raw_frame: raw.RawFrame, frame: CalibrationFrame) -> None:
        if self.frame is None:
            self.frame = frame
            self.colour_matrices = raw.libraw_colour_matrices(raw_frame)
            return
        check_same_camera(self.frame.identity, self.frame.source, frame.identity, frame.source)
        if frame.white_level != self.frame.white_level:
            raise CalibrationError(
                f"{frame.source}: white level {frame.white_level}, but {self.frame.source} has "
                f"{self.frame.white_level}; calibrate one bit depth at a time"
            )


def _frames(paths: list[Path], reference: _Reference, progress) -> Iterable[CalibrationFrame]:
    for path in paths:
        if progress is not None:
            progress(str(path))
        raw_frame, frame = read_frame(path)
        reference.check(raw_frame, frame)
        yield frame


def _pair_flats(paths: list[Path], reference: _Reference, progress) -> dict[int, list[PairPoint]]:
    pending: dict[int, CalibrationFrame] = {}
    points: dict[int, list[PairPoint]] = {}
    for frame in _frames(paths, reference, progress):
        first = pending.pop(frame.iso, None)
        if first is None:
            pending[frame.iso] = frame
            continue
        points.setdefault(frame.iso, []).append(pair_point(first, frame))
    if pending:
        iso, frame = next(iter(pending.items()))
        raise CalibrationError(
            f"ISO {iso}: an odd number of flats ({frame.source} has no partner); flats come "
            "in pairs, two shots of the same light"
        )
    return points


def calibrate(
    dark_paths: Iterable[str | Path],
    flat_paths: Iterable[str | Path] = (),
    progress: Callable[[str], None] | None = None,
) -> CalibrationResult:
    """Analyse dark frames (2+ per ISO) and flat pairs (2+ brightness levels per ISO)."""
    darks, flats = expand_paths(dark_paths), expand_paths(flat_paths)
    if not darks:
        raise CalibrationError("no dark frames; give --dark with 2 or more lens-cap frames per ISO")
    reference = _Reference()
    accumulators: dict[int, DarkAccumulator] = {}
    for frame in _frames(darks, reference, progress):
        accumulators.setdefault(frame.iso, DarkAccumulator(frame.iso)).add(frame)
    dark_results = {iso: accumulator.result() for iso, accumulator in accumulators.items()}
    flat_points = _pair_flats(flats, reference, progress)
    isos = []
    for iso in sorted(set(dark_results) | set(flat_points)):
        dark = dark_results.get(iso)
        gain = None
        if iso in flat_points:
            gain = fit_gain(
                iso,
                flat_points[iso],
                dark.black_level_error_dn if dark else None,
                dark.read_variance_dn2 if dark else None,
            )
        isos.append(IsoCalibration(iso, dark, gain))
    first = reference.frame
    assert first is not None  # darks is not empty
    return CalibrationResult(
        camera=first.identity,
        black_level_per_channel=first.black_level_per_channel,
        white_level=first.white_level,
        colour_matrices=reference.colour_matrices,
        isos=isos,
        flat_points=flat_points,
    )
