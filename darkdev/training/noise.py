"""The ELD physics-based noise model (Wei et al., CVPR 2020): parameters and their application.

    noisy DN = black + K * Poisson(signal / K) + read + row + offset + quantisation, clipped to 14 bit

K is the system gain (DN per electron; high ISO = high K); read noise is Gaussian or
Tukey-lambda with a log-sigma linear in log K; row noise is one Gaussian offset per sensor row;
offset: a black level off by a fraction of a DN per colour (ELD's colour bias; zero unless a
training run asks for it: the amplification multiplies it by the ratio).
Parameters: darkdev/noise_params.json (ELD's Sony A7S II calibration, MIT), or a camera profile's
noise_params (darkdev calibrate; training.camera). No calibrated X-Trans parameters exist; X-Trans
uses the Sony ranges widened (NOISE_WIDENING, our decision).

The model is written once over a random source, numpy (LibRaw reference path) or torch (the
GPU data path).
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from darkdev.errors import ParameterError, ShapeError
from darkdev.training.unprocessing import BLACK_LEVEL_DN, WHITE_LEVEL_DN

NOISE_PARAMS_PATH = Path(__file__).resolve().parent.parent / "noise_params.json"
NOISE_WIDENING = {"bayer": 1.0, "xtrans": 1.5}


@functools.lru_cache(maxsize=1)
def noise_parameters() -> dict:
    return json.loads(NOISE_PARAMS_PATH.read_text())


@dataclass(frozen=True)
class NoiseRange:
    """Where noise parameters are drawn: a K range (fractions of the camera's log K range) and
    how often read noise is Gaussian instead of Tukey-lambda."""

    gain_low_fraction: float = 0.0  # 0: the calibration's Kmin; 0.5: the upper (high-ISO) half
    gain_high_fraction: float = 1.0
    gaussian_read_probability: float = 0.2
    widening: float | None = None  # None: NOISE_WIDENING of the CFA kind
    black_error_sigma_dn: float = 0.0  # spread of each colour's black level error (0: exact)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.black_error_sigma_dn) and self.black_error_sigma_dn >= 0):
            raise ParameterError(
                f"black_error_sigma_dn must be >= 0, got {self.black_error_sigma_dn}"
            )
        if not 0 <= self.gain_low_fraction <= self.gain_high_fraction:
            raise ParameterError(
                f"need 0 <= gain_low_fraction <= gain_high_fraction, got "
                f"{self.gain_low_fraction}, {self.gain_high_fraction}"
            )
        if not 0 <= self.gaussian_read_probability <= 1:
            raise ParameterError(
                f"gaussian_read_probability must be in [0, 1], got {self.gaussian_read_probability}"
            )


HIGH_ISO = NoiseRange(gain_low_fraction=0.5, gaussian_read_probability=0.5)


@dataclass(frozen=True)
class NoiseSample:
    system_gain_dn_per_electron: float
    read_sigma_dn: float
    row_sigma_dn: float
    tukey_lambda: float | None  # None: Gaussian read noise
    # What the sensor's black level lies above the one the developer subtracts, per colour (R, G, B).
    black_offsets_dn: tuple[float, float, float] = (0.0, 0.0, 0.0)


def sample_noise(
    kind: str,
    rng: np.random.Generator,
    noise_range: NoiseRange = NoiseRange(),
    params: dict | None = None,
) -> NoiseSample:
    """Draw ELD noise parameters (log K uniform; log sigmas linear in log K + Gaussian).

    params: a camera's noise in the form of noise_params.json (a camera profile's noise_params);
    None: noise_params.json, widened by NOISE_WIDENING for the kind. A profile was calibrated on
    the camera itself, so its ranges are not widened.
    """
    default_widening = NOISE_WIDENING[kind] if params is None else 1.0
    params = noise_parameters() if params is None else params
    widening = default_widening if noise_range.widening is None else noise_range.widening
    low, high = math.log(params["Kmin"] / widening), math.log(params["Kmax"] * widening)
    log_gain = rng.uniform(
        low + noise_range.gain_low_fraction * (high - low),
        low + noise_range.gain_high_fraction * (high - low),
    )
    gaussian = rng.random() < noise_range.gaussian_read_probability
    read = params["g_scale"] if gaussian else params["G_scale"]

    def log_sigma(line: dict) -> float:
        return line["slope"] * log_gain + line["bias"] + rng.normal() * line["sigma"] * widening

    read_sigma = math.exp(log_sigma(read))
    row_sigma = math.exp(log_sigma(params["R_scale"]))
    shapes = params["G_shape_tukey_lambda"]
    tukey = None if gaussian else float(shapes[rng.integers(len(shapes))])
    offsets = (0.0, 0.0, 0.0)
    if noise_range.black_error_sigma_dn > 0:  # drawn last, and only then: other streams unchanged
        red, green, blue = rng.normal(0.0, noise_range.black_error_sigma_dn, 3)
        offsets = (float(red), float(green), float(blue))
    return NoiseSample(math.exp(log_gain), read_sigma, row_sigma, tukey, offsets)


class NumpySource:
    """Random draws from a numpy Generator (float32)."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng

    def poisson(self, mean: np.ndarray) -> np.ndarray:
        return self.rng.poisson(mean).astype(np.float32)

    def normal(self, like: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        return self.rng.standard_normal(shape, dtype=np.float32)

    def uniform(self, like: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        return self.rng.random(shape, dtype=np.float32)


class TorchSource:
    """Random draws from a torch Generator on the tensors' device."""

    def __init__(self, generator) -> None:
        self.generator = generator

    def poisson(self, mean):
        import torch

        return torch.poisson(mean, generator=self.generator)

    def normal(self, like, shape: tuple[int, ...]):
        import torch

        return torch.randn(shape, generator=self.generator, device=like.device, dtype=like.dtype)

    def uniform(self, like, shape: tuple[int, ...]):
        import torch

        return torch.rand(shape, generator=self.generator, device=like.device, dtype=like.dtype)


def tukey_lambda_samples(source, like, shape: tuple[int, ...], lam: float):
    """Standard Tukey-lambda variates by inverse CDF (lam = 0: logistic)."""
    uniform = source.uniform(like, shape).clip(1e-6, 1 - 1e-6)
    if abs(lam) < 1e-6:
        odds = uniform / (1 - uniform)
        return np.log(odds) if isinstance(odds, np.ndarray) else odds.log()
    return (uniform**lam - (1 - uniform) ** lam) / lam


def add_noise(clean_dark_dn, noise: NoiseSample, source, colours=None):
    """Dark signal in DN above black (float32, (H, W)) -> noisy DN as float32 whole numbers, with
    black, 14-bit quantisation and clipping (what the sensor would write). colours: each site's
    colour index (0 R, 1 G, 2 B; (H, W), numpy or torch as the signal), needed only for a sample
    with black offsets."""
    gain = noise.system_gain_dn_per_electron
    signal = source.poisson(clean_dark_dn.clip(min=0) / gain) * gain  # shot noise
    shape = tuple(clean_dark_dn.shape)
    if noise.tukey_lambda is None:
        read = source.normal(clean_dark_dn, shape) * noise.read_sigma_dn
    else:
        read = tukey_lambda_samples(source, clean_dark_dn, shape, noise.tukey_lambda)
        read = read * noise.read_sigma_dn
    row = source.normal(clean_dark_dn, (*shape[:-1], 1)) * noise.row_sigma_dn  # per sensor row
    values = BLACK_LEVEL_DN + signal + read + row
    if any(noise.black_offsets_dn):
        if colours is None or tuple(colours.shape) != shape:
            raise ShapeError(
                f"black offsets need each site's colour, a map of shape {shape}; got "
                f"{None if colours is None else tuple(colours.shape)}"
            )
        offsets = np.asarray(noise.black_offsets_dn, dtype=np.float32)
        if not isinstance(values, np.ndarray):  # torch reads a uint8 index as a mask
            offsets, colours = values.new_tensor(offsets), colours.long()
        values = values + offsets[colours]
    return values.round().clip(0, WHITE_LEVEL_DN)
