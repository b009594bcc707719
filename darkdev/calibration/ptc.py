"""Flat frames of one ISO: system gain K by the photon-transfer method.

numpy only. Two flats of the same light differ only by noise: half the variance of their
difference is K * mean + read variance (+ row variance, taken off by removing the difference's
row means), while vignetting and pixel response non-uniformity cancel. Each pair gives one point
(mean above the dark level, variance) per CFA channel; K is the slope over the brightness
levels. With dark frames at the same ISO the intercept is their measured read variance,
otherwise it is fitted too. Only the central half of each side is used (least vignetting).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from darkdev.calibration.frames import CalibrationFrame, central_window
from darkdev.errors import CalibrationError

CENTRAL_SHARE = 0.5  # of each side
CLIP_SHARE = 0.98  # of the range above black: values this high may be clipped or non-linear
MAX_CLIPPED_PIXELS = 0.001
MAX_BLOCK_VARIATION = 0.2  # std / mean of 8x8 block means: a lit surface, not a scene
MAX_PAIR_DIFFERENCE = 0.05  # relative difference of the two means of a pair
MIN_LEVEL_SPAN = 1.5  # brightest / dimmest pair mean
MIN_PAIRS = 2
BLOCKS_PER_SIDE = 8
MIN_FLAT_SHARE = 0.005  # of the range: dimmer than this is a dark frame, not a flat


@dataclass
class PairPoint:
    sources: tuple[str, str]
    mean_above_black_dn: dict[int, float]  # per LibRaw colour index
    variance_dn2: dict[int, float]  # half the variance of the difference, rows removed


@dataclass
class GainResult:
    iso: int
    pair_count: int
    system_gain_dn_per_electron: float  # joint fit over all channels
    gain_per_channel: dict[int, float]
    intercept_dn2: float  # read variance used (measured from darks) or fitted
    intercept_from_darks: bool
    points: list[tuple[int, float, float]] = field(default_factory=list)  # channel, mean, var


def central_crop(frame: CalibrationFrame) -> tuple[np.ndarray, np.ndarray]:
    """(digital numbers above black, colour map) of the central region, whole CFA periods."""
    height, width = frame.dn.shape
    window = central_window(height, width, CENTRAL_SHARE)
    return (frame.dn - frame.black_map)[window], frame.colour_map[window]


def check_flat(frame: CalibrationFrame, above_black: np.ndarray) -> None:
    """Refuse clipped flats and flats that show a scene rather than an evenly lit surface."""
    if float(above_black.mean()) < MIN_FLAT_SHARE * frame.range_dn:
        raise CalibrationError(
            f"{frame.source}: too dark for a flat ({above_black.mean():.1f} DN above black); "
            "was it a dark frame?"
        )
    clipped = float(np.mean(above_black >= CLIP_SHARE * frame.range_dn))
    if clipped > MAX_CLIPPED_PIXELS:
        raise CalibrationError(
            f"{frame.source}: clipped flat ({clipped:.1%} of the centre at white); "
            "shoot it darker (at most about 3/4 of full scale)"
        )
    rows, cols = above_black.shape
    block_rows = max(rows // BLOCKS_PER_SIDE // 6 * 6, 6)
    block_cols = max(cols // BLOCKS_PER_SIDE // 6 * 6, 6)
    usable = above_black[: rows // block_rows * block_rows, : cols // block_cols * block_cols]
    blocks = usable.reshape(
        usable.shape[0] // block_rows, block_rows, usable.shape[1] // block_cols, block_cols
    ).mean(axis=(1, 3))
    mean = float(blocks.mean())
    variation = float(blocks.std()) / mean if mean > 0 else float("inf")
    if variation > MAX_BLOCK_VARIATION:
        raise CalibrationError(
            f"{frame.source}: not flat (brightness varies by {variation:.0%} across the centre); "
            "photograph an evenly lit, defocused surface"
        )


def pair_point(first: CalibrationFrame, second: CalibrationFrame) -> PairPoint:
    """One photon-transfer point per channel from two flats of the same light."""
    first_values, colours = central_crop(first)
    second_values, _ = central_crop(second)
    check_flat(first, first_values)
    check_flat(second, second_values)
    first_mean, second_mean = float(first_values.mean()), float(second_values.mean())
    if abs(first_mean - second_mean) > MAX_PAIR_DIFFERENCE * max(first_mean, second_mean, 1e-9):
        raise CalibrationError(
            f"{second.source}: {second_mean:.0f} DN above black, but its pair {first.source} has "
            f"{first_mean:.0f} DN; give the two flats of each pair one after the other"
        )
    difference = first_values.astype(np.float64) - second_values
    difference -= difference.mean(axis=1, keepdims=True)  # row noise
    width = difference.shape[1]
    means, variances = {}, {}
    for channel in first.channels:
        sites = colours == channel
        means[channel] = float((first_values[sites].mean() + second_values[sites].mean()) / 2)
        variances[channel] = float(difference[sites].var()) / 2 * width / (width - 1)
    return PairPoint((first.source, second.source), means, variances)


def fit_gain(
    iso: int,
    points: list[PairPoint],
    black_error_dn: dict[int, float] | None,
    read_variance_dn2: float | None,
) -> GainResult:
    """K from the pair points of one ISO (weighted least squares, weights 1 / variance^2)."""
    if len(points) < MIN_PAIRS:
        raise CalibrationError(
            f"ISO {iso}: {len(points)} flat pair(s); {MIN_PAIRS} or more pairs at different "
            "brightness levels are needed"
        )
    channels = sorted(points[0].mean_above_black_dn)
    table = [
        (
            channel,
            point.mean_above_black_dn[channel] - (black_error_dn or {}).get(channel, 0.0),
            point.variance_dn2[channel],
        )
        for point in points
        for channel in channels
    ]
    spans = []
    for channel in channels:  # per channel: the colour of the light alone spreads the levels
        levels = [mean for row_channel, mean, _ in table if row_channel == channel]
        spans.append(max(levels) / min(levels) if min(levels) > 0 else 0.0)
    if min(spans) < MIN_LEVEL_SPAN:
        raise CalibrationError(
            f"ISO {iso}: the flat pairs span one brightness level; shoot pairs at several "
            "levels (for instance 1/8, 1/4 and 1/2 of full scale)"
        )

    def fit(rows: list[tuple[int, float, float]]) -> tuple[float, float]:
        means = np.array([mean for _, mean, _ in rows])
        variances = np.array([variance for _, _, variance in rows])
        weights = 1.0 / np.maximum(variances, 1e-12) ** 2
        if read_variance_dn2 is not None:
            slope = np.sum(weights * means * (variances - read_variance_dn2)) / np.sum(
                weights * means**2
            )
            return float(slope), float(read_variance_dn2)
        design = np.stack([means, np.ones_like(means)], axis=1) * np.sqrt(weights)[:, None]
        slope, intercept = np.linalg.lstsq(design, variances * np.sqrt(weights), rcond=None)[0]
        return float(slope), float(intercept)

    gain, intercept = fit(table)
    per_channel = {c: fit([row for row in table if row[0] == c])[0] for c in channels}
    if not gain > 0:
        raise CalibrationError(
            f"ISO {iso}: the flats' noise does not grow with brightness (K = {gain:.3g}); "
            "are these flats of the same light, in pairs?"
        )
    return GainResult(
        iso=iso,
        pair_count=len(points),
        system_gain_dn_per_electron=gain,
        gain_per_channel=per_channel,
        intercept_dn2=intercept,
        intercept_from_darks=read_variance_dn2 is not None,
        points=table,
    )
