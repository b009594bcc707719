"""Log-linear relations across ISOs (ELD's calibration): log K ~ log ISO, log sigma ~ log K.

numpy only. Natural logarithms, as ELD's noise_params. With one calibrated ISO the slope is
fixed (K proportional to ISO; sigma slopes from ELD's Sony A7S II calibration) and only the bias
is fitted, so an uncalibrated ISO still gets an estimate; the profile says so (slope_fixed).
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

ELD_PARAMS_PATH = Path(__file__).resolve().parent.parent / "noise_params.json"
GAIN_PER_ISO_SLOPE = 1.0  # analog gain: K proportional to ISO


@functools.lru_cache(maxsize=1)
def eld_slopes() -> dict[str, float]:
    """Slopes of log sigma against log K in ELD's calibration (darkdev/noise_params.json)."""
    params = json.loads(ELD_PARAMS_PATH.read_text())
    return {name: float(params[name]["slope"]) for name in ("g_scale", "G_scale", "R_scale")}


@dataclass(frozen=True)
class LogLine:
    """log y = slope * log x + bias; residual_sigma: spread of the points around it (log units)."""

    slope: float
    bias: float
    residual_sigma: float
    points: int
    slope_fixed: bool

    def at(self, x: float) -> float:
        return math.exp(self.slope * math.log(x) + self.bias)

    def inverse(self, y: float) -> float:
        """The x where the line gives y."""
        return math.exp((math.log(y) - self.bias) / self.slope)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict | None) -> LogLine | None:
        return None if values is None else cls(**values)


def fit_log_line(
    x: Sequence[float], y: Sequence[float], default_slope: float, floor: float = 1e-3
) -> LogLine | None:
    """Least-squares line through (log x, log y); None without points. y below floor is floored
    (a camera without row noise has row sigma ~0, whose logarithm is useless)."""
    if len(x) == 0:
        return None
    log_x = np.log(np.asarray(x, dtype=np.float64))
    log_y = np.log(np.maximum(np.asarray(y, dtype=np.float64), floor))
    distinct = len(set(np.round(log_x, 9)))
    if distinct < 2:
        slope = default_slope
        bias = float(np.mean(log_y - slope * log_x))
        fixed = True
    else:
        slope, bias = (float(v) for v in np.polyfit(log_x, log_y, 1))
        fixed = False
    residuals = log_y - (slope * log_x + bias)
    degrees = len(x) - (1 if fixed else 2)
    residual_sigma = float(np.sqrt(np.sum(residuals**2) / degrees)) if degrees > 0 else 0.0
    return LogLine(slope, bias, residual_sigma, len(x), fixed)


def interpolate_in_log(isos: Sequence[float], values: Sequence[float], iso: float) -> float:
    """Piecewise linear in log ISO between calibrated ISOs, held flat outside them."""
    order = np.argsort(isos)
    log_isos = np.log(np.asarray(isos, dtype=np.float64)[order])
    return float(np.interp(math.log(iso), log_isos, np.asarray(values, dtype=np.float64)[order]))
