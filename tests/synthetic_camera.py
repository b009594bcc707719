"""A synthetic camera for the calibration tests: dark and flat DNGs with known noise.

Written by the tests into their tmp folders: ELD's noise model (shot noise with system gain K,
Gaussian or Tukey-lambda read noise, row noise, quantisation) plus per-channel black-level
offsets and a fixed pattern (pixel offsets, column stripes and amp glow in one corner).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from darkdev.calibration.distributions import tukey_lambda_standard
from darkdev.cfa import BAYER_CANONICAL
from darkdev.dng import CAMERA_MATRICES, DngMetadata, write_cfa_dng

HEIGHT, WIDTH = 128, 160
BLACK_LEVEL, WHITE_LEVEL = 256, 4095  # a 12-bit camera: profiles scale to ELD's 14 bits
MAKE, MODEL = "Testmaker", "Night One"
CHANNEL_GAINS = (0.55, 1.0, 0.7, 1.0)  # light reaching R, G, B, G2 of a grey flat


@dataclass(frozen=True)
class IsoNoise:
    iso: int
    gain_dn_per_electron: float
    read_sigma_dn: float  # Gaussian sigma, or the Tukey-lambda scale when tukey_lambda is set
    tukey_lambda: float | None
    row_sigma_dn: float
    black_offsets_dn: tuple[float, float, float, float]  # LibRaw colours R, G, B, G2
    amp_glow_dn: float


CAMERA = (
    IsoNoise(800, 0.8, 2.0, None, 0.6, (2.0, -1.0, 3.0, 0.5), 12.0),
    IsoNoise(3200, 3.2, 2.0, -0.1, 1.2, (4.0, -2.0, 1.0, 1.5), 30.0),
)


def colour_map(height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    """LibRaw colour indices of the canonical RGGB mosaic (3 = second green)."""
    colours = np.tile(np.array([[0, 1], [3, 2]]), (height // 2, width // 2))
    return colours.astype(np.uint8)


def fixed_pattern(noise: IsoNoise, height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    """(H, W) DN of the same-every-frame pattern: pixel offsets, column stripes, amp glow."""
    rng = np.random.default_rng(noise.iso)
    pattern = rng.normal(0.0, 1.5, (height, width)) + rng.normal(0.0, 0.5, (1, width))
    colours = colour_map(height, width)
    for channel in range(4):  # zero mean per channel: the black offsets carry the mean
        pattern[colours == channel] -= pattern[colours == channel].mean()
    rows, cols = np.mgrid[0:height, 0:width]
    glow = noise.amp_glow_dn * np.exp(-(rows + (width - cols)) / 25.0)
    return pattern + glow


def black_map(noise: IsoNoise) -> np.ndarray:
    return BLACK_LEVEL + np.asarray(noise.black_offsets_dn)[colour_map()]


def frame_dn(noise: IsoNoise, signal_dn: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One exposure: signal (DN above black) -> uint16 raw with every noise source."""
    electrons = np.maximum(signal_dn, 0) / noise.gain_dn_per_electron
    shot = rng.poisson(electrons) * noise.gain_dn_per_electron
    if noise.tukey_lambda is None:
        read = rng.normal(0.0, noise.read_sigma_dn, signal_dn.shape)
    else:
        uniform = np.clip(rng.random(signal_dn.shape), 1e-9, 1 - 1e-9)
        read = tukey_lambda_standard(uniform, noise.tukey_lambda) * noise.read_sigma_dn
    row = rng.normal(0.0, noise.row_sigma_dn, (signal_dn.shape[0], 1))
    values = black_map(noise) + fixed_pattern(noise) + shot + read + row
    return np.clip(np.round(values), 0, WHITE_LEVEL).astype(np.uint16)


def flat_signal(level: float, height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    """An evenly lit surface: level (share of the range) with mild vignetting and 1% PRNU."""
    rows, cols = np.mgrid[0:height, 0:width]
    radius2 = ((rows - height / 2) ** 2 + (cols - width / 2) ** 2) / (height**2 + width**2)
    vignetting = 1.0 - 0.3 * radius2
    prnu = 1.0 + np.random.default_rng(7).normal(0.0, 0.01, (height, width))
    gains = np.asarray(CHANNEL_GAINS)[colour_map(height, width)]
    return level * (WHITE_LEVEL - BLACK_LEVEL) * vignetting * prnu * gains


def write_frame(path: Path, mosaic: np.ndarray, iso: int, exposure_s: float = 1.0, **meta) -> Path:
    fields = {
        "make": MAKE,
        "model": MODEL,
        "black_level": BLACK_LEVEL,
        "white_level": WHITE_LEVEL,
        "color_matrix": CAMERA_MATRICES["Sony ILCE-7RM3"],
        "iso": iso,
        "exposure_time_s": exposure_s,
        **meta,
    }
    write_cfa_dng(path, mosaic, BAYER_CANONICAL, DngMetadata(**fields))
    return path


def write_darks(folder: Path, noise: IsoNoise, count: int = 4, seed: int = 0) -> list[Path]:
    rng = np.random.default_rng(seed + noise.iso)
    zero = np.zeros((HEIGHT, WIDTH))
    return [
        write_frame(folder / f"dark_{noise.iso}_{n}.dng", frame_dn(noise, zero, rng), noise.iso)
        for n in range(count)
    ]


def write_flats(
    folder: Path, noise: IsoNoise, levels=(0.08, 0.2, 0.45), seed: int = 0
) -> list[Path]:
    rng = np.random.default_rng(seed + 10 * noise.iso)
    paths = []
    for level in levels:
        signal = flat_signal(level)
        for shot in range(2):
            mosaic = frame_dn(noise, signal, rng)
            paths.append(
                write_frame(folder / f"flat_{noise.iso}_{level}_{shot}.dng", mosaic, noise.iso)
            )
    return paths
