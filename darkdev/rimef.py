"""RIMEF: the raw illumination map estimation function (paper Sec. 3.4, SPEC.md).

    T(p) = max(0, max over packed channels of x(p))   (optionally box-smoothed, radius r)
    M(p) = max(ratio / (1 + lam * ratio * T(p)) ** alpha, lower_bound)
    x_in = min(x * M, 1)

lam = 0 is SID's linear amplification. numpy only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from darkdev.errors import ParameterError, ShapeError
from darkdev.filters import box_smooth

# --hdr defaults: with lam = alpha = 1 the amplified illumination ratio*T/(1+ratio*T) never clips,
# while dark pixels (ratio*T << 1) keep nearly the full ratio.
HDR_LAMBDA = 1.0
HDR_ALPHA = 1.0
MAX_RATIO = 10_000.0


@dataclass(frozen=True)
class RimefParams:
    ratio: float
    lam: float = 0.0
    alpha: float = 1.0
    lower_bound: float = 1.0
    smooth_radius_px: int = 0

    def __post_init__(self) -> None:
        validate(self)


def validate(params: RimefParams) -> None:
    if not (math.isfinite(params.ratio) and 0 < params.ratio <= MAX_RATIO):
        raise ParameterError(
            f"ratio must be a finite number in (0, {MAX_RATIO:g}], got {params.ratio}"
        )
    if not (math.isfinite(params.lam) and params.lam >= 0):
        raise ParameterError(f"lambda must be finite and >= 0, got {params.lam}")
    if not (math.isfinite(params.alpha) and 0 < params.alpha <= 1):
        raise ParameterError(f"alpha must be in (0, 1], got {params.alpha}")
    if not (math.isfinite(params.lower_bound) and params.lower_bound >= 1):
        raise ParameterError(f"lower bound must be >= 1, got {params.lower_bound}")
    if params.lower_bound > params.ratio:
        # Every gain would be the lower bound: the ratio would be silently ignored.
        raise ParameterError(
            f"ratio {params.ratio:.4g} is below the lower bound {params.lower_bound:g} (the "
            f"smallest gain): darkdev only amplifies; give a ratio >= {params.lower_bound:g}"
        )
    if not (0 <= params.smooth_radius_px <= 64):
        raise ParameterError(f"smoothing radius must be 0..64 px, got {params.smooth_radius_px}")


def hdr_params(
    ratio: float,
    lam: float | None = None,
    alpha: float | None = None,
    lower_bound: float = 1.0,
    hdr: bool = False,
) -> RimefParams:
    """Resolve CLI-style options: --hdr selects the HDR defaults, explicit values override."""
    default_lam, default_alpha = (HDR_LAMBDA, HDR_ALPHA) if hdr else (0.0, 1.0)
    return RimefParams(
        ratio=ratio,
        lam=default_lam if lam is None else lam,
        alpha=default_alpha if alpha is None else alpha,
        lower_bound=lower_bound,
    )


def is_torch(array: object) -> bool:
    return type(array).__module__.startswith("torch")  # no torch import on the numpy-only path


def at_least(values, floor):
    """Element-wise max(values, floor) for numpy arrays and torch tensors alike (also the floors
    network_input puts on its input)."""
    if is_torch(values):
        return values.clamp(min=floor) if isinstance(floor, float) else values.maximum(floor)
    return np.maximum(values, floor)


def _at_most_one(values):
    return values.clamp(max=1.0) if is_torch(values) else np.minimum(values, 1.0)


def illumination_map(packed, smooth_radius_px: int = 0):
    """T: (..., C, H, W) packed raw (<= 1, < 0 below black) -> (..., H, W) max over channels,
    at least 0 (numpy or torch): read noise below black is no illumination, and T < 0 could
    make 1 + lam * ratio * T negative."""
    if packed.ndim < 3:
        raise ShapeError(f"packed raw must be (C, H, W) or (N, C, H, W), got {tuple(packed.shape)}")
    if is_torch(packed):
        if smooth_radius_px > 0:
            raise ParameterError("smoothed RIMEF illumination is only implemented for numpy input")
        return packed.amax(dim=-3).clamp(min=0.0)
    illumination = np.maximum(packed.max(axis=-3), 0.0)
    if smooth_radius_px > 0:
        illumination = box_smooth(illumination, smooth_radius_px)
    return illumination


def gain(illumination, ratio, lam, alpha, lower_bound):
    """M = max(ratio / (1 + lam * ratio * T) ** alpha, L): the formula, for numpy or torch.

    ratio, lam, alpha, lower_bound: numbers, or arrays broadcasting against T (one per batch item).
    """
    return at_least(ratio / (1.0 + lam * ratio * illumination) ** alpha, lower_bound)


def gain_map(packed, params: RimefParams):
    """M: (..., C, H, W) packed raw -> (..., H, W) float32 gain, every value >= lower_bound."""
    if is_torch(packed):
        if not packed.is_floating_point():
            raise ShapeError(f"packed raw must be floating point, got {packed.dtype}")
    elif packed.dtype not in (np.float32, np.float64):
        raise ShapeError(f"packed raw must be float32/float64, got {packed.dtype}")
    if params.lam == 0 and not is_torch(packed):
        return np.full(packed.shape[-2:], max(params.ratio, params.lower_bound), dtype=np.float32)
    illumination = illumination_map(packed, params.smooth_radius_px)
    if not is_torch(packed):
        illumination = illumination.astype(np.float32)
    result = gain(illumination, params.ratio, params.lam, params.alpha, params.lower_bound)
    return result if is_torch(result) else result.astype(np.float32)


def amplify(packed, params: RimefParams):
    """x_in = min(x * M, 1) for a (..., C, H, W) packed raw (<= 1, < 0 below black); float32
    numpy or torch (values below black are amplified too: network_input decides whether to keep
    them)."""
    gain_values = gain_map(packed, params)
    if is_torch(packed):
        return _at_most_one(packed * gain_values.unsqueeze(-3))
    return _at_most_one(packed.astype(np.float32) * gain_values[..., None, :, :])


def output_curve(illumination: np.ndarray, params: RimefParams) -> tuple[np.ndarray, np.ndarray]:
    """(gain, amplified value) of a pixel of illumination T, for plotting what --hdr does."""
    illumination = np.asarray(illumination, dtype=np.float64)
    gain = np.maximum(
        params.ratio / (1.0 + params.lam * params.ratio * illumination) ** params.alpha,
        params.lower_bound,
    )
    return gain, np.minimum(illumination * gain, 1.0)
