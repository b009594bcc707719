"""Training data: synthetic dark raws unprocessed from sRGB photos, and the SID dataset layout.

numpy only (torch is never imported here). A synthetic pair is made like this (SPEC.md):

1. crop / scale / rotate / flip an sRGB photo (before unprocessing, so the CFA phase stays right);
2. unprocess it into camera raw: invert LibRaw's output curve (BT.709 gamma 2.222 / 4.5 as
   rawpy applies it), multiply by an exposure, apply the inverse of LibRaw's own rgb_cam matrix
   for the camera (Sony A7S II for Bayer, Fuji X-T2 for X-Trans), divide by white-balance gains
   drawn at random (the file's as-shot neutral), mosaic to the canonical CFA phase;
3. the CLEAN raw (black 512, white 16383, 14 bit) is written as a DNG and developed by
   `raw.develop_with_libraw(raw.decode(...))`: the target means what an SID target means;
4. the DARK raw is the clean signal / ratio with the ELD noise model (shot noise with system gain
   K, Tukey-lambda or Gaussian read noise, row noise, 14-bit quantisation and clipping), decoded
   exactly as `raw.decode` decodes it, packed with `cfa.pack` and amplified with `rimef.amplify`
   at the sample's true ratio.

Noise parameters: darkdev/noise_params.json (ELD's Sony A7S2 calibration, MIT). No calibrated
X-Trans parameters exist; X-Trans samples use the Sony ranges widened (see NOISE_WIDENING).

Synthetic targets are developed at crop size (< 512 px), where LibRaw demosaics LINEAR, for
training and validation alike; real SID frames are full size (AHD / X-Trans 3-pass).
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from darkdev import cfa, dng, raw, rimef
from darkdev.errors import ParameterError, ShapeError

BLACK_LEVEL_DN = 512
WHITE_LEVEL_DN = 16383
CAMERA_FOR_KIND = {"bayer": ("Sony", "ILCE-7SM2"), "xtrans": ("Fujifilm", "X-T2")}
MATRIX_FOR_KIND = {"bayer": "Sony ILCE-7SM2", "xtrans": "Fujifilm X-T2"}
PATTERN_FOR_KIND = {"bayer": cfa.BAYER_CANONICAL, "xtrans": cfa.XTRANS_CANONICAL}
NOISE_PARAMS_PATH = Path(__file__).resolve().parent / "noise_params.json"
# X-Trans has no published calibration: widen Sony's K range by this factor each way and its
# log-sigma spread by the same factor (our decision, SPEC.md / data README).
NOISE_WIDENING = {"bayer": 1.0, "xtrans": 1.5}
VALIDATION_PERCENT = 15  # share of whole photos held out, by a stable hash of the file name
PHOTO_EXTENSIONS = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".bmp")
MAX_PHOTO_SIDE_PX = 2048  # photos are box-downscaled to this long side once (less JPEG noise)
SKIMAGE_FALLBACK = ("astronaut", "chelsea", "coffee", "rocket", "retina", "immunohistochemistry")
# LibRaw's develop uses LINEAR demosaic below 512 px; synthetic validation crops stay below it
# so training and validation targets come from the same demosaic.
VALIDATION_RAW_SIDE_PX = 480


# ----------------------------------------------------------------------------- augmentation


@dataclass(frozen=True)
class AugmentConfig:
    """Random ranges of one synthetic sample (all drawn per sample)."""

    ratio_min: float = 50.0
    ratio_max: float = 300.0
    scale_min: float = 1.0  # photo pixels per raw pixel: >= 1 downscales, averaging JPEG noise
    scale_max: float = 2.5
    exposure_min: float = 0.35  # multiplies linear light before mosaicking
    exposure_max: float = 1.4
    # Camera white-balance gains (G = 1; inverse = as-shot neutral), around Sony daylight.
    # The bundled Bayer model's first stage used wider ranges (R 1.4-3.0, B 1.1-2.6). Networks
    # come out grey for the first ~7000 steps whatever the range (README, training experiments).
    red_gain_min: float = 1.8
    red_gain_max: float = 2.5
    blue_gain_min: float = 1.3
    blue_gain_max: float = 1.9
    gaussian_read_probability: float = 0.2  # else Tukey-lambda read noise (ELD's full model)
    lam_max: float = 0.0  # RIMEF lambda drawn in [0, lam_max] (0: SID's linear amplification)
    white_balance_input: bool = False  # multiply the packed raw by the as-shot gains (SPEC.md)

    def __post_init__(self) -> None:
        if not 1 <= self.ratio_min <= self.ratio_max <= rimef.MAX_RATIO:
            raise ParameterError(
                f"need 1 <= ratio_min <= ratio_max, got {self.ratio_min}, {self.ratio_max}"
            )
        if not 0 < self.scale_min <= self.scale_max:
            raise ParameterError(
                f"need 0 < scale_min <= scale_max, got {self.scale_min}, {self.scale_max}"
            )
        if not 0 < self.exposure_min <= self.exposure_max:
            raise ParameterError("need 0 < exposure_min <= exposure_max")
        if self.lam_max < 0:
            raise ParameterError(f"lam_max must be >= 0, got {self.lam_max}")


def log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))


# ----------------------------------------------------------------------------- colour


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


def libraw_gamma(linear: np.ndarray) -> np.ndarray:
    """LibRaw's default output curve (what rawpy.postprocess applies), linear [0, 1] -> [0, 1]."""
    linear = np.clip(linear, 0.0, 1.0)
    curved = (
        np.power(np.maximum(linear, GAMMA_THRESHOLD_IN), GAMMA_POWER) * (1 + GAMMA_OFFSET)
        - GAMMA_OFFSET
    )
    return np.where(linear < GAMMA_THRESHOLD_IN, linear * GAMMA_TOE_SLOPE, curved)


def inverse_libraw_gamma(encoded: np.ndarray) -> np.ndarray:
    """Inverse of libraw_gamma: a developed image value in [0, 1] -> linear light."""
    encoded = np.clip(encoded, 0.0, 1.0)
    power_part = np.power(
        (np.maximum(encoded, GAMMA_THRESHOLD_OUT) + GAMMA_OFFSET) / (1 + GAMMA_OFFSET),
        1 / GAMMA_POWER,
    )
    return np.where(encoded < GAMMA_THRESHOLD_OUT, encoded / GAMMA_TOE_SLOPE, power_part)


def dng_metadata(
    kind: str,
    as_shot_neutral: tuple[float, float, float] = (0.5, 1.0, 0.6),
    exposure_time_s: float = 0.1,
    iso: int = 3200,
) -> dng.DngMetadata:
    make, model = CAMERA_FOR_KIND[kind]
    return dng.DngMetadata(
        make=make,
        model=model,
        black_level=BLACK_LEVEL_DN,
        white_level=WHITE_LEVEL_DN,
        color_matrix=dng.CAMERA_MATRICES[MATRIX_FOR_KIND[kind]],
        as_shot_neutral=as_shot_neutral,
        exposure_time_s=exposure_time_s,
        iso=iso,
    )


@functools.lru_cache(maxsize=4)
def camera_from_rgb_matrix(kind: str) -> np.ndarray:
    """(3, 3) linear sRGB -> camera RGB: the inverse of the rgb_cam matrix LibRaw itself uses.

    Asked from LibRaw (a tiny DNG with the camera's ColorMatrix1) rather than re-derived, so the
    round trip photo -> raw -> develop_with_libraw returns the photo.
    """
    import rawpy  # rawpy is a core dependency; imported here to keep module import cheap

    pattern = PATTERN_FOR_KIND[kind]
    mosaic = np.full((12 * pattern.shape[0], 12 * pattern.shape[1]), 2000, dtype=np.uint16)
    data = dng.dng_bytes(mosaic, pattern, dng_metadata(kind))
    with rawpy.imread(io.BytesIO(data)) as opened:
        rgb_from_camera = np.array(opened.color_matrix, dtype=np.float64)[:3, :3]
    return np.linalg.inv(rgb_from_camera)


def colour_index_map(kind: str, height: int, width: int) -> np.ndarray:
    """(H, W) colour (0 R, 1 G, 2 B) of each site of a canonical-phase mosaic."""
    pattern = PATTERN_FOR_KIND[kind]
    period = pattern.shape[0]
    reps = (math.ceil(height / period), math.ceil(width / period))
    return np.tile(pattern, reps)[:height, :width]


def unprocess(
    srgb: np.ndarray, kind: str, white_balance_gains: Sequence[float], exposure: float = 1.0
) -> np.ndarray:
    """(H, W, 3) developed image in [0, 1] -> (H, W) normalised clean raw mosaic in [0, 1].

    white_balance_gains: camera (R, G, B) multipliers LibRaw applies (G = 1, others >= 1).
    """
    if srgb.ndim != 3 or srgb.shape[2] != 3:
        raise ShapeError(f"photo crop must be (H, W, 3), got {srgb.shape}")
    return unprocess_linear(
        inverse_libraw_gamma(srgb).astype(np.float32), kind, white_balance_gains, exposure
    )


def unprocess_linear(
    linear: np.ndarray, kind: str, white_balance_gains: Sequence[float], exposure: float = 1.0
) -> np.ndarray:
    """unprocess() for an image already in linear light (float32 (H, W, 3))."""
    if linear.ndim != 3 or linear.shape[2] != 3:
        raise ShapeError(f"linear crop must be (H, W, 3), got {linear.shape}")
    gains = np.asarray(white_balance_gains, dtype=np.float64)
    if gains.shape != (3,) or gains.min() <= 0:
        raise ParameterError(
            f"white-balance gains must be 3 positive numbers, got {white_balance_gains}"
        )
    # LibRaw divides the multipliers by their minimum (highlight clipping mode), then applies
    # rgb_cam; invert both in one 3x3 matrix, folding the exposure in too.
    matrix = camera_from_rgb_matrix(kind) / (gains / gains.min())[:, None] * exposure
    colours = colour_index_map(kind, linear.shape[0], linear.shape[1])
    mosaic = np.zeros(linear.shape[:2], dtype=np.float32)
    for colour in range(3):  # only the CFA colour of each site is needed
        row = matrix[colour].astype(np.float32)
        value = linear[..., 0] * row[0] + linear[..., 1] * row[1] + linear[..., 2] * row[2]
        mosaic = np.where(colours == colour, value, mosaic)
    return np.clip(mosaic, 0.0, 1.0)


def to_digital_numbers(normalised: np.ndarray) -> np.ndarray:
    """Normalised [0, 1] mosaic -> uint16 DN with black 512, white 16383 (rounded, clipped)."""
    values = BLACK_LEVEL_DN + np.asarray(normalised, dtype=np.float64) * (
        WHITE_LEVEL_DN - BLACK_LEVEL_DN
    )
    return np.clip(np.round(values), 0, WHITE_LEVEL_DN).astype(np.uint16)


def from_digital_numbers(values: np.ndarray) -> np.ndarray:
    """uint16 DN -> normalised mosaic, exactly as raw.decode normalises (float32, clipped)."""
    mosaic = (values.astype(np.float32) - np.float32(BLACK_LEVEL_DN)) / (
        np.float32(WHITE_LEVEL_DN) - np.float32(BLACK_LEVEL_DN)
    )
    return np.clip(mosaic, 0.0, 1.0)


# ----------------------------------------------------------------------------- noise


@functools.lru_cache(maxsize=1)
def noise_parameters() -> dict:
    return json.loads(NOISE_PARAMS_PATH.read_text())


@dataclass(frozen=True)
class NoiseSample:
    system_gain_dn_per_electron: float
    read_sigma_dn: float
    row_sigma_dn: float
    tukey_lambda: float | None  # None: Gaussian read noise


def sample_noise(
    kind: str, rng: np.random.Generator, gaussian_probability: float = 0.2
) -> NoiseSample:
    """Draw ELD noise parameters (log K uniform; log sigmas linear in log K + Gaussian)."""
    params = noise_parameters()
    widening = NOISE_WIDENING[kind]
    log_gain = rng.uniform(math.log(params["Kmin"] / widening), math.log(params["Kmax"] * widening))
    gaussian = rng.random() < gaussian_probability
    read = params["g_scale"] if gaussian else params["G_scale"]

    def log_sigma(line: dict) -> float:
        return line["slope"] * log_gain + line["bias"] + rng.normal() * line["sigma"] * widening

    read_sigma = math.exp(log_sigma(read))
    row_sigma = math.exp(log_sigma(params["R_scale"]))
    shapes = params["G_shape_tukey_lambda"]
    tukey = None if gaussian else float(shapes[rng.integers(len(shapes))])
    return NoiseSample(math.exp(log_gain), read_sigma, row_sigma, tukey)


def tukey_lambda_samples(
    rng: np.random.Generator, shape: tuple[int, ...], lam: float
) -> np.ndarray:
    """Standard Tukey-lambda variates by inverse CDF (lam = 0: logistic)."""
    uniform = np.clip(rng.random(shape, dtype=np.float32), 1e-6, 1 - 1e-6)
    if abs(lam) < 1e-6:
        return np.log(uniform / (1 - uniform))
    return (uniform**lam - (1 - uniform) ** lam) / lam


def add_noise(
    clean_dark_dn: np.ndarray, noise: NoiseSample, rng: np.random.Generator
) -> np.ndarray:
    """Dark signal in DN above black (float, H x W) -> noisy uint16 raw with black and clipping."""
    gain = noise.system_gain_dn_per_electron
    electrons = np.maximum(clean_dark_dn, 0) / gain
    signal = rng.poisson(electrons).astype(np.float32) * np.float32(gain)  # shot noise
    if noise.tukey_lambda is None:
        read = rng.standard_normal(signal.shape, dtype=np.float32) * np.float32(noise.read_sigma_dn)
    else:
        read = tukey_lambda_samples(rng, signal.shape, noise.tukey_lambda) * np.float32(
            noise.read_sigma_dn
        )
    row = rng.standard_normal((signal.shape[0], 1), dtype=np.float32) * np.float32(
        noise.row_sigma_dn
    )
    values = np.float32(BLACK_LEVEL_DN) + signal + read + row  # one offset per sensor row
    return np.clip(np.round(values), 0, WHITE_LEVEL_DN).astype(np.uint16)  # 14-bit quantisation


# ----------------------------------------------------------------------------- photos


@dataclass
class Photo:
    name: str
    pixels: np.ndarray = field(repr=False)  # (H, W, 3) uint8 sRGB


def is_validation_photo(name: str) -> bool:
    """Stable split by whole photo: ~15% of names (by SHA-256 of the file name) are validation."""
    digest = hashlib.sha256(Path(name).name.encode()).digest()
    return int.from_bytes(digest[:4], "big") % 100 < VALIDATION_PERCENT


def _box_downscale(pixels: np.ndarray, factor: int) -> np.ndarray:
    """Mean of factor x factor blocks of a uint8 (H, W, 3) image, rounded (integer arithmetic)."""
    height, width = (pixels.shape[0] // factor) * factor, (pixels.shape[1] // factor) * factor
    blocks = pixels[:height, :width].reshape(height // factor, factor, width // factor, factor, 3)
    sums = blocks.sum(axis=(1, 3), dtype=np.uint32)
    return ((sums + factor * factor // 2) // (factor * factor)).astype(np.uint8)


def _prepare(pixels: np.ndarray) -> np.ndarray:
    if pixels.ndim == 2:
        pixels = np.stack([pixels] * 3, axis=-1)
    pixels = pixels[..., :3]
    if pixels.dtype != np.uint8:
        pixels = np.clip(
            pixels.astype(np.float64) / (65535.0 if pixels.max() > 255 else 255.0), 0, 1
        )
        pixels = (pixels * 255).round().astype(np.uint8)
    factor = math.ceil(max(pixels.shape[:2]) / MAX_PHOTO_SIDE_PX)
    return _box_downscale(pixels, factor) if factor > 1 else np.ascontiguousarray(pixels)


def list_photo_names(folder: str | Path | None) -> list[str]:
    """File names of a photo folder: manifest.tsv's 'filename' column, else every image file."""
    folder = Path(folder) if folder else None
    if folder is None or not folder.is_dir():
        return []
    manifest = folder / "manifest.tsv"
    if manifest.exists():
        lines = [line.split("\t") for line in manifest.read_text().splitlines() if line.strip()]
        header = [column.strip() for column in lines[0]] if lines else []
        if "filename" in header:
            column = header.index("filename")
            names = [line[column].strip() for line in lines[1:] if len(line) > column]
            return [name for name in names if (folder / name).is_file()]
    return sorted(p.name for p in folder.iterdir() if p.suffix.lower() in PHOTO_EXTENSIONS)


def _read_photo(path: Path, cache_dir: Path | None) -> np.ndarray:
    """Decode and prepare a photo; with cache_dir, keep the prepared pixels as .npy (fast reload)."""
    import imageio.v3 as imageio  # core dependency; lazy so importing darkdev.data stays cheap

    if cache_dir is None:
        return _prepare(np.asarray(imageio.imread(path)))
    status = path.stat()
    key = f"{path.stem}-{status.st_size}-{status.st_mtime_ns}-{MAX_PHOTO_SIDE_PX}.npy"
    cached = cache_dir / key
    if cached.exists():
        try:
            return np.load(cached)
        except (OSError, ValueError):
            pass  # a damaged cache entry: decode again
    pixels = _prepare(np.asarray(imageio.imread(path)))
    cache_dir.mkdir(parents=True, exist_ok=True)
    temporary = cache_dir / f".{key}.{os.getpid()}.tmp.npy"
    np.save(temporary, pixels)
    os.replace(temporary, cached)  # atomic: concurrent readers never see half a file
    return pixels


def load_photos(
    folder: str | Path | None,
    min_side_px: int = 256,
    names: Sequence[str] | None = None,
    cache_dir: str | Path | None = None,
) -> list[Photo]:
    """Photos of a folder (see list_photo_names), or exactly `names` from it.

    names: a run's recorded photo list, so a resumed run sees the same set. cache_dir: where
    prepared pixels are kept between runs. Falls back to scikit-image's sample photos when the
    folder is missing or has no usable photo.
    """
    photos: list[Photo] = []
    cache = Path(cache_dir) if cache_dir else None
    folder = Path(folder) if folder else None
    if names is not None and any(name.startswith("skimage-") for name in names):
        folder = None  # the recorded list is the scikit-image fallback
    if folder is not None and folder.is_dir():
        for name in list(names) if names is not None else list_photo_names(folder):
            try:
                pixels = _read_photo(folder / name, cache)
            except (OSError, ValueError):
                continue  # unreadable photo: skip it rather than stop training
            if min(pixels.shape[:2]) >= min_side_px:
                photos.append(Photo(name, pixels))
    if not photos:
        import skimage.data  # fallback only (train/test dependency)

        for name in SKIMAGE_FALLBACK:
            pixels = _prepare(np.asarray(getattr(skimage.data, name)()))
            if min(pixels.shape[:2]) >= min_side_px:
                photos.append(Photo(f"skimage-{name}.png", pixels))
    return photos


def split_names(names: Sequence[str]) -> tuple[list[str], list[str]]:
    """split_photos() on file names alone, so each side loads only its own photos."""
    validation = [n for n in names if is_validation_photo(n)]
    training = [n for n in names if not is_validation_photo(n)]
    if not validation and len(training) > 1:
        validation = [training.pop()]
    if not training and len(validation) > 1:
        training = [validation.pop()]
    return training, validation


def split_photos(photos: list[Photo]) -> tuple[list[Photo], list[Photo]]:
    """(training, validation) by whole photo; guarantees at least one of each when possible."""
    by_name = {photo.name: photo for photo in photos}
    training, validation = split_names(list(by_name))
    return [by_name[n] for n in training], [by_name[n] for n in validation]


def _linear_weights(source: int, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    positions = (np.arange(size) + 0.5) * source / size - 0.5
    low = np.clip(np.floor(positions).astype(np.int64), 0, source - 1)
    high = np.minimum(low + 1, source - 1)
    weight = np.clip(positions - low, 0, 1).astype(np.float32)
    return low, high, weight


def _bilinear_resize(image: np.ndarray, size: int) -> np.ndarray:
    """(h, w, 3) float32 -> (size, size, 3) by separable bilinear sampling at pixel centres."""
    low, high, weight = _linear_weights(image.shape[0], size)
    rows = image[low] * (1 - weight)[:, None, None] + image[high] * weight[:, None, None]
    low, high, weight = _linear_weights(image.shape[1], size)
    return rows[:, low] * (1 - weight)[None, :, None] + rows[:, high] * weight[None, :, None]


def random_photo_crop(
    photo: Photo, side_px: int, rng: np.random.Generator, augment: AugmentConfig
) -> np.ndarray:
    """A (side, side, 3) float32 crop in LINEAR light: random scale, position, rotation, flip.

    Scaling happens in linear light (physically right); rotation and flip before mosaicking keep
    the CFA phase canonical.
    """
    height, width = photo.pixels.shape[:2]
    max_scale = min(augment.scale_max, min(height, width) / side_px)
    if max_scale * side_px < 16:
        raise ShapeError(
            f"photo {photo.name} ({width}x{height}) is too small for {side_px} px crops"
        )
    low_scale = min(augment.scale_min, max_scale)
    scale = rng.uniform(low_scale, max_scale) if max_scale > low_scale else max_scale
    region = max(1, min(int(round(side_px * scale)), height, width))
    top = int(rng.integers(0, height - region + 1))
    left = int(rng.integers(0, width - region + 1))
    pixels = photo.pixels[top : top + region, left : left + region]
    if region >= 2 * side_px:  # box-average first so bilinear sampling does not alias
        pixels = _box_downscale(pixels, region // side_px)
    crop = linear_from_uint8()[pixels]
    if crop.shape[:2] != (side_px, side_px):
        crop = _bilinear_resize(crop, side_px)
    crop = np.rot90(crop, int(rng.integers(4)))
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    return np.ascontiguousarray(crop, dtype=np.float32)


@functools.lru_cache(maxsize=1)
def linear_from_uint8() -> np.ndarray:
    """Lookup table: 8-bit developed value -> linear light (inverse LibRaw curve), float32."""
    return inverse_libraw_gamma(np.arange(256) / 255.0).astype(np.float32)


# ----------------------------------------------------------------------------- pairs


@dataclass
class SyntheticPair:
    input_packed: np.ndarray  # (C, h, w) float32 in [0, 1], amplified
    target: np.ndarray  # (3, h*s, w*s) float32 sRGB in [0, 1]
    ratio: float
    noisy_dn: np.ndarray | None = field(default=None, repr=False)  # (h*s, w*s) uint16, if kept
    as_shot_neutral: tuple[float, float, float] = (1.0, 1.0, 1.0)
    noisy_packed: np.ndarray | None = field(default=None, repr=False)  # before WB/RIMEF, if kept


@dataclass
class CleanSample:
    """The noise-free half of a pair: clean raw (DN) and its LibRaw-developed target."""

    kind: str
    clean_dn: np.ndarray = field(repr=False)  # (H, W) uint16, black 512, canonical phase
    target: np.ndarray = field(repr=False)  # (3, H, W) float32 sRGB in [0, 1]
    gains: tuple[float, float, float]  # camera white-balance multipliers (G = 1)

    @property
    def as_shot_neutral(self) -> tuple[float, float, float]:
        return (1 / self.gains[0], 1.0, 1 / self.gains[2])


def make_clean(
    photo: Photo,
    kind: str,
    crop_packed_px: int,
    rng: np.random.Generator,
    augment: AugmentConfig = AugmentConfig(),
) -> CleanSample:
    """Crop/augment a photo, unprocess it to a clean raw and develop the target with LibRaw."""
    if kind not in cfa.CHANNELS:
        raise ParameterError(f"unknown CFA kind {kind!r}")
    if crop_packed_px % 2 or crop_packed_px < 8:
        raise ShapeError(f"packed crop must be even and >= 8, got {crop_packed_px}")
    side_px = crop_packed_px * cfa.BLOCK_SIZE[kind]
    crop = random_photo_crop(photo, side_px, rng, augment)
    gains = (
        float(rng.uniform(augment.red_gain_min, augment.red_gain_max)),
        1.0,
        float(rng.uniform(augment.blue_gain_min, augment.blue_gain_max)),
    )
    exposure = log_uniform(rng, augment.exposure_min, augment.exposure_max)
    clean_dn = to_digital_numbers(unprocess_linear(crop, kind, gains, exposure))
    sample = CleanSample(kind, clean_dn, np.zeros(0, np.float32), gains)
    meta = dng_metadata(kind, as_shot_neutral=sample.as_shot_neutral)
    target_frame = raw.decode(
        dng.dng_bytes(clean_dn, PATTERN_FOR_KIND[kind], meta), "synthetic-clean"
    )
    sample.target = np.ascontiguousarray(raw.develop_with_libraw(target_frame).transpose(2, 0, 1))
    return sample


def make_noisy(
    clean: CleanSample,
    rng: np.random.Generator,
    augment: AugmentConfig = AugmentConfig(),
    keep_noisy: bool = False,
) -> SyntheticPair:
    """Darken a clean sample by a random ratio, add ELD noise, decode, pack and amplify."""
    ratio = log_uniform(rng, augment.ratio_min, augment.ratio_max)
    noise = sample_noise(clean.kind, rng, augment.gaussian_read_probability)
    dark_dn = (clean.clean_dn.astype(np.float32) - np.float32(BLACK_LEVEL_DN)) / np.float32(ratio)
    noisy_dn = add_noise(dark_dn, noise, rng)
    layout = cfa.CfaLayout(clean.kind, 0, 0)  # type: ignore[arg-type]  # canonical phase by construction
    packed = cfa.pack(from_digital_numbers(noisy_dn), layout)
    input_packed = prepare_input(packed, clean.kind, ratio, clean.gains, augment, rng)
    return SyntheticPair(
        input_packed=np.ascontiguousarray(input_packed, dtype=np.float32),
        target=clean.target.astype(np.float32, copy=False),
        ratio=ratio,
        noisy_dn=noisy_dn if keep_noisy else None,
        as_shot_neutral=clean.as_shot_neutral,
        noisy_packed=packed.astype(np.float32) if keep_noisy else None,
    )


def make_pair(
    photo: Photo,
    kind: str,
    crop_packed_px: int,
    rng: np.random.Generator,
    augment: AugmentConfig = AugmentConfig(),
    keep_noisy: bool = False,
) -> SyntheticPair:
    """One synthetic (input, target) pair from a photo; every random choice comes from rng."""
    clean = make_clean(photo, kind, crop_packed_px, rng, augment)
    return make_noisy(clean, rng, augment, keep_noisy)


def network_input(
    packed: np.ndarray,
    kind: str,
    gains: Sequence[float],
    white_balance_input: bool,
    params: rimef.RimefParams,
) -> np.ndarray:
    """Optional white-balance multiplication, then RIMEF amplification: what a network sees."""
    if white_balance_input:
        packed = cfa.white_balance(packed, kind, gains)  # type: ignore[arg-type]
    return rimef.amplify(packed.astype(np.float32), params)


def prepare_input(
    packed: np.ndarray,
    kind: str,
    ratio: float,
    gains: Sequence[float],
    augment: AugmentConfig,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Training input at the true ratio, with lambda drawn in [0, lam_max] when asked."""
    lam = (
        float(rng.uniform(0.0, augment.lam_max))
        if (augment.lam_max > 0 and rng is not None)
        else 0.0
    )
    return network_input(
        packed, kind, gains, augment.white_balance_input, rimef.RimefParams(ratio=ratio, lam=lam)
    )


def step_generator(seed: int, step: int, item: int = 0) -> np.random.Generator:
    """A generator that depends only on (seed, step, item): resumed runs draw the same samples."""
    return np.random.default_rng([seed, step, item])


def synthetic_batch(
    photos: list[Photo],
    kind: str,
    crop_packed_px: int,
    batch_size: int,
    seed: int,
    step: int,
    augment: AugmentConfig = AugmentConfig(),
    content_reuse: int = 1,
    cache: dict | None = None,
    first_item: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """(N, C, h, w) inputs and (N, 3, h*s, w*s) targets for one training step.

    Items first_item .. first_item + N - 1 of the step: data-parallel ranks each build their own
    slice, and together they build exactly the batch one process would.

    content_reuse k: the clean crop (and its LibRaw target) of item i is shared by steps
    k*j .. k*j + k - 1, each with fresh noise, ratio and noise parameters; developing targets is
    the costly part of a pair. Which crop a step uses depends only on (seed, step // k, i), and
    `cache` (any dict, e.g. one per worker) only avoids recomputing it.
    """
    if not photos:
        raise ParameterError("no training photos")
    if content_reuse < 1:
        raise ParameterError(f"content_reuse must be >= 1, got {content_reuse}")
    inputs, targets = [], []
    for item in range(first_item, first_item + batch_size):
        if content_reuse == 1:
            rng = step_generator(seed, step, item)
            photo = photos[int(rng.integers(len(photos)))]
            pair = make_pair(photo, kind, crop_packed_px, rng, augment)
        else:
            key = (seed, step // content_reuse, item)
            clean = cache.get(key) if cache is not None else None
            if clean is None:
                content_rng = np.random.default_rng([seed, step // content_reuse, item, 1])
                photo = photos[int(content_rng.integers(len(photos)))]
                clean = make_clean(photo, kind, crop_packed_px, content_rng, augment)
                if cache is not None:
                    for old in [k for k in cache if k[1] < key[1]]:
                        del cache[old]  # only the current content block is ever needed again
                    cache[key] = clean
            pair = make_noisy(clean, np.random.default_rng([seed, step, item, 2]), augment)
        inputs.append(pair.input_packed)
        targets.append(pair.target)
    return np.stack(inputs), np.stack(targets)


# ----------------------------------------------------------------------------- validation set


@dataclass
class ValidationSet:
    kind: str
    inputs: list[np.ndarray]  # (C, h, w) float32
    targets: list[np.ndarray]  # (H, W, 3) float32
    classical: list[np.ndarray]  # (H, W, 3) float32: linear ratio + LibRaw develop
    names: list[str]
    ratios: list[float]
    # Noisy packed raw before white balance and RIMEF, and the camera's white-balance gains (R,
    # G, B), so checkpoints with another input convention or RIMEF setting see the same crops.
    noisy_packed: list[np.ndarray] | None = None
    gains: list[tuple[float, float, float]] | None = None

    def __len__(self) -> int:
        return len(self.inputs)

    def network_inputs(
        self, white_balance_input: bool, lam: float = 0.0, alpha: float = 1.0
    ) -> list[np.ndarray]:
        """The crops prepared for a network trained with the given input convention."""
        if self.noisy_packed is None or self.gains is None:
            raise ParameterError(
                "this validation set predates noisy_packed/gains; rebuild it to evaluate "
                "other input conventions"
            )
        return [
            network_input(
                packed,
                self.kind,
                gains,
                white_balance_input,
                rimef.RimefParams(ratio=ratio, lam=lam, alpha=alpha),
            )
            for packed, gains, ratio in zip(self.noisy_packed, self.gains, self.ratios, strict=True)
        ]


def classical_develop(
    noisy_dn: np.ndarray, kind: str, ratio: float, as_shot_neutral: tuple[float, float, float]
) -> np.ndarray:
    """Classical baseline: linear ratio, LibRaw demosaic, camera WB, gamma: (H, W, 3) float32."""
    frame = raw.decode(
        dng.dng_bytes(
            noisy_dn, PATTERN_FOR_KIND[kind], dng_metadata(kind, as_shot_neutral=as_shot_neutral)
        ),
        "synthetic-noisy",
    )
    return raw.develop_with_libraw(frame, np.clip(frame.mosaic * ratio, 0.0, 1.0))


def validation_crop_packed_px(kind: str) -> int:
    """Packed side of validation crops: a multiple of 16 whose raw side stays <= 480 px."""
    return VALIDATION_RAW_SIDE_PX // cfa.BLOCK_SIZE[kind] // 16 * 16


def build_validation_set(
    photos: list[Photo],
    kind: str,
    count: int = 16,
    seed: int = 12345,
    augment: AugmentConfig = AugmentConfig(),
) -> ValidationSet:
    """Fixed validation crops (fixed seeds) from validation photos, with the classical baseline."""
    if not photos:
        raise ParameterError("no validation photos")
    crop = validation_crop_packed_px(kind)
    result = ValidationSet(kind, [], [], [], [], [], [], [])
    for index in range(count):
        rng = np.random.default_rng([seed, index])
        photo = photos[index % len(photos)]
        pair = make_pair(photo, kind, crop, rng, augment, keep_noisy=True)
        result.inputs.append(pair.input_packed)
        result.targets.append(pair.target.transpose(1, 2, 0).copy())
        assert pair.noisy_dn is not None
        result.classical.append(
            classical_develop(pair.noisy_dn, kind, pair.ratio, pair.as_shot_neutral)
        )
        result.names.append(photo.name)
        result.ratios.append(pair.ratio)
        assert result.noisy_packed is not None and result.gains is not None
        assert pair.noisy_packed is not None
        result.noisy_packed.append(pair.noisy_packed)
        neutral = pair.as_shot_neutral
        result.gains.append((1 / neutral[0], 1 / neutral[1], 1 / neutral[2]))
    return result


def save_validation_set(validation: ValidationSet, path: Path) -> None:
    np.savez(
        path,
        kind=validation.kind,
        inputs=np.stack(validation.inputs),
        targets=np.stack(validation.targets),
        classical=np.stack(validation.classical),
        names=np.array(validation.names),
        ratios=np.array(validation.ratios),
        **(
            {"noisy_packed": np.stack(validation.noisy_packed), "gains": np.array(validation.gains)}
            if validation.noisy_packed is not None and validation.gains is not None
            else {}
        ),
    )


def load_validation_set(path: Path) -> ValidationSet:
    with np.load(path) as archive:
        return ValidationSet(
            str(archive["kind"]),
            list(archive["inputs"]),
            list(archive["targets"]),
            list(archive["classical"]),
            [str(n) for n in archive["names"]],
            [float(r) for r in archive["ratios"]],
            list(archive["noisy_packed"]) if "noisy_packed" in archive else None,
            [tuple(float(g) for g in row) for row in archive["gains"]]  # type: ignore[misc]
            if "gains" in archive
            else None,
        )


# ----------------------------------------------------------------------------- SID dataset

EXPOSURE_PATTERN = re.compile(r"_([0-9.]+)s\.[A-Za-z0-9]+$")
MAX_SID_RATIO = 300.0


def exposure_from_name(name: str) -> float:
    """'10003_00_0.04s.ARW' -> 0.04 (seconds), as SID's scripts parse it."""
    match = EXPOSURE_PATTERN.search(Path(name).name)
    if not match:
        raise ParameterError(f"{name}: no exposure time like '_0.04s' in the file name")
    return float(match.group(1))


@dataclass(frozen=True)
class SidPair:
    short_path: Path
    long_path: Path
    ratio: float


def read_sid_list(root: str | Path, list_file: str | Path) -> list[SidPair]:
    """Parse an official SID list ('./Sony/short/x.ARW ./Sony/long/y.ARW ISO200 F9' lines)."""
    root = Path(root)
    pairs = []
    for line in Path(list_file).read_text().splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        short_path, long_path = root / parts[0], root / parts[1]
        ratio = min(exposure_from_name(parts[1]) / exposure_from_name(parts[0]), MAX_SID_RATIO)
        pairs.append(SidPair(short_path, long_path, ratio))
    return pairs


class SidDataset:
    """SID pairs: packed short exposures (amplified by the ratio) and LibRaw-developed long ones.

    Decoded short exposures and developed targets are cached as .npy files under cache_dir
    (one per file) so each raw is decoded once. Several short exposures share one long one.
    """

    def __init__(
        self,
        root: str | Path,
        list_file: str | Path,
        cache_dir: str | Path,
        crop_packed_px: int = 512,
        white_balance_input: bool = False,
    ) -> None:
        self.pairs = read_sid_list(root, list_file)
        if not self.pairs:
            raise ParameterError(f"{list_file}: no pairs")
        self.cache_dir = Path(cache_dir)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self.crop_packed_px = crop_packed_px
        self.white_balance_input = white_balance_input

    def __len__(self) -> int:
        return len(self.pairs)

    def _cache_path(self, path: Path, suffix: str) -> Path:
        key = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
        return self.cache_dir / f"{path.stem}-{key}-{suffix}.npy"

    def packed_short(self, index: int) -> tuple[np.ndarray, str, tuple[float, float, float]]:
        """(C, h, w) float32 packed short exposure (not amplified), CFA kind, WB gains."""
        pair = self.pairs[index]
        path = self._cache_path(pair.short_path, "packed")
        meta_path = path.with_suffix(".json")
        if path.exists() and meta_path.exists():
            meta = json.loads(meta_path.read_text())
            return np.load(path), meta["kind"], tuple(meta["gains"])  # type: ignore[return-value]
        frame = raw.read_raw(pair.short_path)
        packed = cfa.pack(frame.mosaic, frame.layout).astype(np.float32)
        meta = {
            "kind": frame.layout.kind,
            "gains": list(frame.camera_whitebalance),
            "offset": [frame.layout.offset_rows, frame.layout.offset_cols],
        }
        np.save(path, packed)
        meta_path.write_text(json.dumps(meta))
        return packed, frame.layout.kind, frame.camera_whitebalance

    def target(self, index: int) -> tuple[np.ndarray, tuple[int, int]]:
        """(H, W, 3) float32 developed long exposure and the (rows, cols) CFA offset of its file."""
        pair = self.pairs[index]
        path = self._cache_path(pair.long_path, "target")
        meta_path = path.with_suffix(".json")
        if path.exists() and meta_path.exists():
            offset = tuple(json.loads(meta_path.read_text())["offset"])
            return np.load(path).astype(np.float32) / 65535.0, offset  # type: ignore[return-value]
        frame = raw.read_raw(pair.long_path)
        developed = raw.develop_with_libraw(frame)
        np.save(path, np.round(developed * 65535.0).astype(np.uint16))  # 16 bit: as LibRaw made it
        offset = (frame.layout.offset_rows, frame.layout.offset_cols)
        meta_path.write_text(json.dumps({"offset": list(offset)}))
        return developed, offset

    def sample(self, index: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """A random aligned crop: (C, p, p) amplified input and (3, p*s, p*s) target, flipped."""
        pair = self.pairs[index]
        packed, kind, gains = self.packed_short(index)
        target, (offset_rows, offset_cols) = self.target(index)
        block = cfa.BLOCK_SIZE[kind]
        crop = min(self.crop_packed_px, packed.shape[1], packed.shape[2]) // 2 * 2
        if crop < 2:
            raise ShapeError(f"{pair.short_path}: too small to crop")
        top = (
            int(rng.integers(0, packed.shape[1] - crop + 1)) // 2 * 2
        )  # keep X-Trans sub-block parity
        left = int(rng.integers(0, packed.shape[2] - crop + 1)) // 2 * 2
        input_crop = packed[:, top : top + crop, left : left + crop]
        row0, col0 = offset_rows + top * block, offset_cols + left * block
        target_crop = target[row0 : row0 + crop * block, col0 : col0 + crop * block].transpose(
            2, 0, 1
        )
        if target_crop.shape[1:] != (crop * block, crop * block):
            raise ShapeError(f"{pair.long_path}: long exposure smaller than the short one")
        augment = AugmentConfig(white_balance_input=self.white_balance_input)
        amplified = prepare_input(input_crop, kind, pair.ratio, gains, augment)
        # Flips and transposes of packed crops, as SID trains.
        if rng.random() < 0.5:
            amplified, target_crop = amplified[:, :, ::-1], target_crop[:, :, ::-1]
        if rng.random() < 0.5:
            amplified, target_crop = amplified[:, ::-1], target_crop[:, ::-1]
        if rng.random() < 0.5:
            amplified, target_crop = amplified.transpose(0, 2, 1), target_crop.transpose(0, 2, 1)
        return (
            np.ascontiguousarray(amplified, dtype=np.float32),
            np.ascontiguousarray(target_crop, dtype=np.float32),
        )

    def batch(
        self, batch_size: int, seed: int, step: int, first_item: int = 0
    ) -> tuple[np.ndarray, np.ndarray]:
        inputs, targets = [], []
        for item in range(first_item, first_item + batch_size):
            rng = step_generator(seed, step, item)
            index = int(rng.integers(len(self.pairs)))
            x, y = self.sample(index, rng)
            inputs.append(x)
            targets.append(y)
        return np.stack(inputs), np.stack(targets)
