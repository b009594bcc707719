"""Dark frames of one ISO: master dark, black-level error, read noise and row noise.

numpy only. Frames are added one at a time (a few at most are in memory, whatever their
number): their sum makes the master dark; consecutive frames pair up, and each pair's difference
(fixed pattern and black level cancel) gives the temporal noise:

- row noise: the variance of the difference's row means is 2 row_sigma^2 plus the read noise
  averaged over a row, 2 sigma^2 / W; the latter is measured and taken off;
- read noise: the difference minus its row means; Gaussian and Tukey-lambda fits
  (distributions.py) and its plain variance (the photon-transfer intercept).

The noise parameters therefore describe what is left after dark-frame subtraction, which is what
`develop --profile` leaves in an image.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from darkdev.calibration.distributions import (
    MAX_FIT_SAMPLES,
    ReadNoiseFit,
    fit_read_noise,
    subsample,
)
from darkdev.calibration.frames import (
    CHANNEL_NAMES,
    CalibrationFrame,
    central_window,
    clipped_mean,
)
from darkdev.errors import CalibrationError

MIN_DARK_FRAMES = 2
# A lens-cap frame sits at the black level; a median this far above it (share of the range
# from black to white) means light reached the sensor.
NOT_DARK_MEDIAN_SHARE = 0.01
NOT_DARK_HIGH_SHARE = 0.05  # the same for the 95th percentile (amp glow stays well below it)


@dataclass
class DarkResult:
    iso: int
    frame_count: int
    pair_count: int
    exposure_time_s: float | None
    black_level_error_dn: dict[int, float]  # LibRaw colour index -> dark mean minus file black
    read_noise: ReadNoiseFit
    read_variance_dn2: float  # plain variance of the temporal read noise (rows removed)
    row_sigma_dn: float
    master_dark_offset_dn: np.ndarray = field(repr=False)  # (H, W) float32 dark mean - black
    difference_sample_dn: np.ndarray = field(repr=False)  # pair differences, rows removed
    row_mean_sample_dn: np.ndarray = field(repr=False)  # pair differences' row means


def check_dark(source: str, above_black_dn: np.ndarray, range_dn: float) -> None:
    """Refuse a frame that saw light (lens cap off, a light leak, a flat given as a dark)."""
    median, high = np.percentile(above_black_dn, [50, 95])
    if median > NOT_DARK_MEDIAN_SHARE * range_dn or high > NOT_DARK_HIGH_SHARE * range_dn:
        raise CalibrationError(
            f"{source}: not a dark frame (median {median:.0f} DN and 95th percentile "
            f"{high:.0f} DN above black, of {range_dn:.0f}); shoot with the lens cap on"
        )


def pair_statistics(first: np.ndarray, second: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(difference minus its row means, the row means) of two frames of digital numbers."""
    difference = first.astype(np.float64) - second
    row_means = difference.mean(axis=1)
    return difference - row_means[:, None], row_means


class DarkAccumulator:
    """Collects the dark frames of one ISO, one at a time."""

    def __init__(self, iso: int) -> None:
        self.iso = iso
        self.sources: list[str] = []
        self.exposures: list[float] = []
        self._sum: np.ndarray | None = None
        self._pending: np.ndarray | None = None
        self._colour_map: np.ndarray | None = None  # of the first frame; all share it
        self._channels: list[int] = []
        self._residuals: list[np.ndarray] = []
        self._row_means: list[np.ndarray] = []
        self._read_variances: list[float] = []
        self._row_variances: list[float] = []

    def add(self, frame: CalibrationFrame) -> None:
        above_black = frame.dn - frame.black_map  # a file's own black: some cameras vary it
        check_dark(frame.source, above_black, frame.range_dn)
        if self._colour_map is None:
            self._colour_map, self._channels = frame.colour_map, frame.channels
            self._sum = np.zeros(frame.dn.shape, dtype=np.float64)
        self._sum += above_black
        self.sources.append(frame.source)
        if frame.exposure_time_s:
            self.exposures.append(frame.exposure_time_s)
        if self._pending is None:
            self._pending = above_black
            return
        residual, row_means = pair_statistics(self._pending, above_black)
        width = residual.shape[1]
        residual_variance = float(residual.var()) * width / (width - 1)
        self._read_variances.append(residual_variance / 2)
        self._row_variances.append((float(row_means.var()) - residual_variance / width) / 2)
        self._residuals.append(subsample(residual, MAX_FIT_SAMPLES, seed=len(self._residuals)))
        self._row_means.append(row_means)
        self._pending = None

    def result(self) -> DarkResult:
        count = len(self.sources)
        if count < MIN_DARK_FRAMES or self._colour_map is None or self._sum is None:
            raise CalibrationError(
                f"ISO {self.iso}: {count} dark frame(s); {MIN_DARK_FRAMES} or more are needed"
            )
        offset = (self._sum / count).astype(np.float32)
        window = central_window(*offset.shape)  # amp glow sits at the edges and corners
        centre, colours = offset[window], self._colour_map[window]
        black_error = {
            channel: clipped_mean(centre[colours == channel]) for channel in self._channels
        }
        residuals = np.concatenate(self._residuals)
        return DarkResult(
            iso=self.iso,
            frame_count=count,
            pair_count=len(self._read_variances),
            exposure_time_s=float(np.median(self.exposures)) if self.exposures else None,
            black_level_error_dn=black_error,
            read_noise=fit_read_noise(residuals),
            read_variance_dn2=float(np.mean(self._read_variances)),
            row_sigma_dn=float(np.sqrt(max(float(np.mean(self._row_variances)), 0.0))),
            master_dark_offset_dn=offset,
            difference_sample_dn=subsample(residuals, MAX_FIT_SAMPLES),
            row_mean_sample_dn=np.concatenate(self._row_means),
        )


def channel_label(channel: int) -> str:
    return CHANNEL_NAMES[channel]
