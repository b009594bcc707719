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


# ----------------------------------------------------------------------------- profiles from ELD

ELD_LOW_ISO, ELD_HIGH_ISO = 800, 51200  # ISOs placed at ELD's Kmin and Kmax (a ratio of 64)


def eld_camera_profile(
    gain_factor: float = 1.0,
    row_noise_factor: float = 1.0,
    black_offset_dn: float = 0.0,
    make: str = MAKE,
    model: str = MODEL,
    color_matrix=CAMERA_MATRICES["Sony ILCE-7SM2"],
) -> dict:
    """A camera profile document (darkdev/calibration/profile.py's schema, 14-bit DN) written
    directly from ELD's Sony A7S II noise_params: K times gain_factor at every ISO (read noise
    following ELD's relation to K), row noise times row_noise_factor, a black-level offset in
    every channel. For fine-tuning; it has no master darks and no per-ISO noise beyond K."""
    import json
    import math

    from darkdev.training.noise import NOISE_PARAMS_PATH

    eld = json.loads(NOISE_PARAMS_PATH.read_text())
    gains = (eld["Kmin"] * gain_factor, eld["Kmax"] * gain_factor)
    noise_params = {key: eld[key] for key in ("g_scale", "G_scale", "G_shape_tukey_lambda")}
    noise_params.update(
        Kmin=gains[0],
        Kmax=gains[1],
        R_scale={**eld["R_scale"], "bias": eld["R_scale"]["bias"] + math.log(row_noise_factor)},
        color_bias=[[black_offset_dn] * 4] * 8,
    )
    black = {name: black_offset_dn for name in ("R", "G", "B", "G2")}
    isos = [
        {"iso": iso, "system_gain_dn_per_electron": gain, "black_level_error_dn": black}
        for iso, gain in zip((ELD_LOW_ISO, ELD_HIGH_ISO), gains, strict=True)
    ]
    slope = math.log(gains[1] / gains[0]) / math.log(ELD_HIGH_ISO / ELD_LOW_ISO)
    gain_line = {
        "slope": slope,
        "bias": math.log(gains[0]) - slope * math.log(ELD_LOW_ISO),
        "residual_sigma": 0.0,
        "points": 2,
        "slope_fixed": False,
    }
    return {
        "format": "darkdev camera profile",
        "format_version": 1,
        "camera": {
            "make": make,
            "model": model,
            "cfa_kind": "bayer",
            "cfa_pattern": [[0, 1], [3, 2]],
            "visible_size_px": [HEIGHT, WIDTH],
            "black_level_per_channel": [512] * 4,
            "white_level": 16383,
            "dng_color_matrix_x10000": list(color_matrix),
            "dng_color_matrix_source": "ELD-derived test profile",
        },
        "dn_to_14bit_scale": 1.0,
        "isos": isos,
        "fits": {"log_k_vs_log_iso": gain_line},
        "noise_params": noise_params,
        "master_darks": None,
    }


def write_eld_camera_profile(path: Path, **changes) -> Path:
    import json

    path.write_text(json.dumps(eld_camera_profile(**changes), indent=1) + "\n")
    return path
