"""Read-noise shape: Gaussian and Tukey-lambda fits by probability-plot correlation (as ELD).

numpy only. ELD fits single dark frames; darkdev fits the difference of two dark frames, which
cancels the fixed pattern and the black level exactly. The difference of two independent
Tukey-lambda(lambda, scale) variates is scale * (T1 - T2) with T standard Tukey-lambda; its
quantiles have no closed form, so they come from a fixed-seed simulation per lambda. The
probability plot of the sorted differences against those quantiles is a straight line through
the origin with slope = scale; the lambda whose plot is straightest (highest correlation) wins.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from darkdev.errors import ShapeError

COARSE_LAMBDAS = tuple(round(v, 3) for v in np.arange(-0.30, 0.301, 0.05))
FINE_STEP = 0.01
SIMULATED_DIFFERENCES = 1 << 18
MAX_FIT_SAMPLES = 100_000
# Tukey-lambda is named the better fit only when it removes at least this share of the Gaussian
# misfit (1 - correlation): near lambda = 0.14 Tukey-lambda mimics a Gaussian and wins by noise.
TUKEY_MISFIT_REDUCTION = 0.3


@dataclass(frozen=True)
class ReadNoiseFit:
    gaussian_sigma_dn: float  # probability-plot slope against a normal (ELD's g_scale)
    gaussian_correlation: float
    tukey_lambda: float  # Tukey-lambda shape (ELD's G_shape)
    tukey_scale_dn: float  # Tukey-lambda scale (ELD's G_scale)
    tukey_correlation: float

    @property
    def better_fit(self) -> str:
        gaussian_misfit = 1.0 - self.gaussian_correlation
        tukey_misfit = 1.0 - self.tukey_correlation
        if tukey_misfit < (1.0 - TUKEY_MISFIT_REDUCTION) * gaussian_misfit:
            return "tukey-lambda"
        return "gaussian"


def tukey_lambda_standard(uniform: np.ndarray, lam: float) -> np.ndarray:
    """Standard Tukey-lambda variates from uniform ones (lambda = 0: logistic), as data.py draws."""
    if abs(lam) < 1e-6:
        return np.log(uniform / (1 - uniform))
    return (uniform**lam - (1 - uniform) ** lam) / lam


@functools.lru_cache(maxsize=64)
def sorted_tukey_differences(lam: float) -> np.ndarray:
    rng = np.random.default_rng(20200614)  # fixed: every lambda is compared on the same draws
    uniform = np.clip(rng.random((2, SIMULATED_DIFFERENCES)), 1e-9, 1 - 1e-9)
    first = tukey_lambda_standard(uniform[0], lam)
    second = tukey_lambda_standard(uniform[1], lam)
    return np.sort(first - second)


def plotting_positions(count: int) -> np.ndarray:
    """Filliben's order-statistic medians of a uniform sample (scipy.stats.probplot's choice)."""
    positions = (np.arange(1, count + 1) - 0.3175) / (count + 0.365)
    positions[-1] = 0.5 ** (1.0 / count)
    positions[0] = 1 - positions[-1]
    return positions


def tukey_difference_quantiles(lam: float, probabilities: np.ndarray) -> np.ndarray:
    simulated = sorted_tukey_differences(round(float(lam), 4))
    index = probabilities * (simulated.size - 1)
    return np.interp(index, np.arange(simulated.size), simulated)


def gaussian_difference_quantiles(probabilities: np.ndarray) -> np.ndarray:
    """Quantiles of the difference of two standard normals, N(0, 2)."""
    inverse = np.vectorize(NormalDist(0.0, np.sqrt(2.0)).inv_cdf, otypes=[np.float64])
    return inverse(probabilities)


def _line(quantiles: np.ndarray, observed: np.ndarray) -> tuple[float, float]:
    """(correlation, slope) of the probability plot observed against quantiles."""
    centred = quantiles - quantiles.mean()
    slope = float(np.dot(centred, observed - observed.mean()) / np.dot(centred, centred))
    correlation = float(np.corrcoef(quantiles, observed)[0, 1])
    return correlation, slope


def subsample(values: np.ndarray, count: int, seed: int = 0) -> np.ndarray:
    """At most count values, drawn without replacement with a fixed seed."""
    values = np.asarray(values).ravel()
    if values.size <= count:
        return values
    return np.random.default_rng(seed).choice(values, count, replace=False)


def fit_read_noise(differences_dn: np.ndarray) -> ReadNoiseFit:
    """Fit Gaussian and Tukey-lambda read noise to differences of two dark frames (DN)."""
    if differences_dn.ndim != 1 or differences_dn.size < 1000:
        raise ShapeError(
            f"read-noise fit needs >= 1000 dark-frame differences, got shape {differences_dn.shape}"
        )
    observed = np.sort(subsample(differences_dn, MAX_FIT_SAMPLES).astype(np.float64))
    probabilities = plotting_positions(observed.size)
    gaussian_correlation, gaussian_sigma = _line(
        gaussian_difference_quantiles(probabilities), observed
    )

    def score(lam: float) -> tuple[float, float]:
        return _line(tukey_difference_quantiles(lam, probabilities), observed)

    coarse = {lam: score(lam) for lam in COARSE_LAMBDAS}
    best = max(coarse, key=lambda lam: coarse[lam][0])
    fine_grid = np.arange(best - 0.04, best + 0.0401, FINE_STEP)
    fine = {round(float(lam), 3): score(round(float(lam), 3)) for lam in fine_grid}
    best = max(fine, key=lambda lam: fine[lam][0])
    tukey_correlation, tukey_scale = fine[best]
    return ReadNoiseFit(
        gaussian_sigma_dn=gaussian_sigma,
        gaussian_correlation=gaussian_correlation,
        tukey_lambda=float(best),
        tukey_scale_dn=tukey_scale,
        tukey_correlation=tukey_correlation,
    )
