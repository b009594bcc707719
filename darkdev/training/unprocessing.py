"""LibRaw's colour pipeline and its inverse: what turns a photo into camera raw and back.

Develop (LibRaw, as SID develops its targets): camera RGB -> x white-balance gains (divided by
their minimum), clip at white -> x rgb_cam -> clip -> BT.709 curve (power 1/2.222, toe 4.5).
Unprocess inverts each step. Every function takes numpy arrays or torch tensors (the GPU data
path), so the pipeline is written once.
"""

from __future__ import annotations

import functools

import numpy as np

from darkdev import cfa, dng
from darkdev.colour import XYZ_FROM_LINEAR_SRGB
from darkdev.errors import ParameterError, ShapeError

BLACK_LEVEL_DN = 512
WHITE_LEVEL_DN = 16383  # 14-bit raw, as the Sony A7S II writes
CAMERA_FOR_KIND = {"bayer": ("Sony", "ILCE-7SM2"), "xtrans": ("Fujifilm", "X-T2")}
MATRIX_FOR_KIND = {"bayer": "Sony ILCE-7SM2", "xtrans": "Fujifilm X-T2"}
PATTERN_FOR_KIND = {"bayer": cfa.BAYER_CANONICAL, "xtrans": cfa.XTRANS_CANONICAL}


def _where(condition, when_true, when_false):
    if type(condition).__module__.startswith("torch"):
        import torch

        return torch.where(condition, when_true, when_false)
    return np.where(condition, when_true, when_false)


def _libraw_gamma_constants(
    power: float = 1 / 2.222, toe_slope: float = 4.5
) -> tuple[float, float, float]:
    """LibRaw's gamma_curve(): (output threshold g2, input threshold g3, offset g4) by bisection."""
    bounds = [0.0, 1.0]  # toe_slope >= 1: bnd[1] = 1 as in LibRaw
    threshold_out = 0.0
    for _ in range(48):
        threshold_out = (bounds[0] + bounds[1]) / 2
        above = (pow(threshold_out / toe_slope, -power) - 1) / power - 1 / threshold_out > -1
        bounds[1 if above else 0] = threshold_out
    threshold_in = threshold_out / toe_slope
    offset = threshold_out * (1 / power - 1)
    return threshold_out, threshold_in, offset


GAMMA_POWER = 1 / 2.222
GAMMA_TOE_SLOPE = 4.5
GAMMA_THRESHOLD_OUT, GAMMA_THRESHOLD_IN, GAMMA_OFFSET = _libraw_gamma_constants()


def libraw_gamma(linear):
    """LibRaw's default output curve (what rawpy.postprocess applies), linear [0, 1] -> [0, 1]."""
    linear = linear.clip(0.0, 1.0)
    curved = linear.clip(min=GAMMA_THRESHOLD_IN) ** GAMMA_POWER * (1 + GAMMA_OFFSET) - GAMMA_OFFSET
    return _where(linear < GAMMA_THRESHOLD_IN, linear * GAMMA_TOE_SLOPE, curved)


def inverse_libraw_gamma(encoded):
    """Inverse of libraw_gamma: a developed image value in [0, 1] -> linear light."""
    encoded = encoded.clip(0.0, 1.0)
    power_part = ((encoded.clip(min=GAMMA_THRESHOLD_OUT) + GAMMA_OFFSET) / (1 + GAMMA_OFFSET)) ** (
        1 / GAMMA_POWER
    )
    return _where(encoded < GAMMA_THRESHOLD_OUT, encoded / GAMMA_TOE_SLOPE, power_part)


@functools.lru_cache(maxsize=1)
def linear_from_uint8() -> np.ndarray:
    """Lookup table: 8-bit developed value -> linear light (inverse LibRaw curve), float32."""
    return inverse_libraw_gamma(np.arange(256) / 255.0).astype(np.float32)


@functools.lru_cache(maxsize=8)
def camera_from_rgb_matrix(
    kind: str, camera_from_xyz_x10000: tuple[float, ...] | None = None
) -> np.ndarray:
    """(3, 3) linear sRGB -> camera RGB: the inverse of LibRaw's rgb_cam for the camera.

    camera_from_xyz_x10000: a DNG ColorMatrix1 (XYZ -> camera, x1e4, 9 values), e.g. a camera
    profile's; None: the kind's modelled camera (Sony A7S II, Fujifilm X-T2). LibRaw's
    cam_xyz_coeff: cam_rgb = cam_xyz @ xyz_rgb with rows normalised to sum 1, and rgb_cam its
    inverse. Computed here without LibRaw (the GPU machine has no rawpy); a test checks it
    against rawpy's color_matrix.
    """
    if kind not in MATRIX_FOR_KIND:
        raise ParameterError(f"unknown CFA kind {kind!r}")
    if camera_from_xyz_x10000 is None:
        camera_from_xyz_x10000 = dng.CAMERA_MATRICES[MATRIX_FOR_KIND[kind]]
    if len(camera_from_xyz_x10000) != 9:
        raise ParameterError(f"a colour matrix has 9 values, got {len(camera_from_xyz_x10000)}")
    camera_from_xyz = np.array(camera_from_xyz_x10000, float).reshape(3, 3)
    camera_from_srgb = camera_from_xyz / 1e4 @ XYZ_FROM_LINEAR_SRGB
    return camera_from_srgb / camera_from_srgb.sum(axis=1, keepdims=True)


def rgb_from_camera_matrix(
    kind: str, camera_from_xyz_x10000: tuple[float, ...] | None = None
) -> np.ndarray:
    """LibRaw's rgb_cam: camera RGB (white balanced) -> linear sRGB."""
    return np.linalg.inv(camera_from_rgb_matrix(kind, camera_from_xyz_x10000))


def normalised_gains(gains) -> np.ndarray:
    """White-balance multipliers divided by their minimum, as LibRaw applies them."""
    gains = np.asarray(gains, dtype=np.float64)
    if gains.shape != (3,) or not np.all(gains > 0):
        raise ParameterError(f"white-balance gains must be 3 positive numbers, got {gains}")
    return gains / gains.min()


def unprocess_matrix(
    kind: str,
    gains,
    exposure: float = 1.0,
    camera_from_xyz_x10000: tuple[float, ...] | None = None,
) -> np.ndarray:
    """(3, 3) linear sRGB -> camera RGB before white balance, exposure folded in (float32)."""
    camera_from_rgb = camera_from_rgb_matrix(kind, camera_from_xyz_x10000)
    matrix = camera_from_rgb / normalised_gains(gains)[:, None] * exposure
    return matrix.astype(np.float32)


def apply_matrix(matrix, image):
    """(3, 3) x (..., 3, H, W) colour image (numpy or torch; matrix of the same kind)."""
    if image.shape[-3] != 3:
        raise ShapeError(f"colour image must be (..., 3, H, W), got {tuple(image.shape)}")
    flat = image.reshape(*image.shape[:-2], -1)
    return (matrix @ flat).reshape(image.shape)


def develop_camera_rgb(camera, kind: str, gains, gains_vector=None, camera_from_xyz_x10000=None):
    """LibRaw's development of a full-colour (un-mosaiced) camera image in [0, 1]: the target.

    camera: (..., 3, H, W) camera RGB, normalised above black. gains_vector: the normalised gains
    as an array/tensor of camera's kind shaped to broadcast (..., 3, 1, 1).
    camera_from_xyz_x10000: the camera's colour matrix (None: the kind's modelled camera).
    """
    if gains_vector is None:
        gains_vector = normalised_gains(gains).astype(np.float32)[:, None, None]
    balanced = (camera * gains_vector).clip(0.0, 1.0)  # LibRaw's scale_colors clips at white
    matrix = rgb_from_camera_matrix(kind, camera_from_xyz_x10000).astype(np.float32)
    if type(camera).__module__.startswith("torch"):
        matrix = camera.new_tensor(matrix)
    return libraw_gamma(apply_matrix(matrix, balanced).clip(0.0, 1.0))


def colour_index_map(kind: str, height: int, width: int) -> np.ndarray:
    """(H, W) colour (0 R, 1 G, 2 B) of each site of a canonical-phase mosaic."""
    pattern = PATTERN_FOR_KIND[kind]
    period = pattern.shape[0]
    reps = (-(-height // period), -(-width // period))
    return np.tile(pattern, reps)[:height, :width]


def quantise(normalised):
    """Normalised values -> the same values after a round trip through 14-bit DN (clipped)."""
    scale = WHITE_LEVEL_DN - BLACK_LEVEL_DN
    return ((normalised * scale).round().clip(-BLACK_LEVEL_DN, scale)) / scale


def to_digital_numbers(normalised: np.ndarray) -> np.ndarray:
    """Normalised [0, 1] mosaic -> uint16 DN with black 512, white 16383 (rounded, clipped)."""
    values = BLACK_LEVEL_DN + np.asarray(normalised, dtype=np.float64) * (
        WHITE_LEVEL_DN - BLACK_LEVEL_DN
    )
    return np.clip(np.round(values), 0, WHITE_LEVEL_DN).astype(np.uint16)


def from_digital_numbers(values):
    """DN -> normalised mosaic, exactly as raw.decode normalises (float32, clipped at white)."""
    mosaic = (values.astype(np.float32) - np.float32(BLACK_LEVEL_DN)) / (
        np.float32(WHITE_LEVEL_DN) - np.float32(BLACK_LEVEL_DN)
    )
    return np.minimum(mosaic, 1.0)


def dng_metadata(
    kind: str,
    as_shot_neutral: tuple[float, float, float] = (0.5, 1.0, 0.6),
    exposure_time_s: float = 0.1,
    iso: int = 3200,
    camera=None,
) -> dng.DngMetadata:
    """Metadata of a synthetic raw of this kind's modelled camera, or of `camera` (a
    training.camera.SyntheticCamera: its make, model and colour matrix), for LibRaw."""
    make, model = CAMERA_FOR_KIND[kind] if camera is None else (camera.make, camera.model)
    matrix = dng.CAMERA_MATRICES[MATRIX_FOR_KIND[kind]]
    return dng.DngMetadata(
        make=make,
        model=model,
        black_level=BLACK_LEVEL_DN,
        white_level=WHITE_LEVEL_DN,
        color_matrix=matrix if camera is None else camera.camera_from_xyz_x10000,
        as_shot_neutral=as_shot_neutral,
        exposure_time_s=exposure_time_s,
        iso=iso,
    )
