"""Synthetic low-light pairs, batched in torch on the training device (the GPU data path).

For each item of a batch (SPEC.md, README "Training"):
1. crop a photo at a random scale and place, in linear light (antialiased resize), rotate, flip;
2. unprocess: linear sRGB -> camera RGB (inverse rgb_cam, inverse white balance, exposure),
   clipped at white and quantised to 14-bit DN;
3. target: that camera image developed by LibRaw's colour pipeline without any demosaic
   (white balance, rgb_cam, BT.709 curve): the un-mosaiced image itself, sharper than any
   demosaic of the clean raw (README measures it against LibRaw's LINEAR and AHD developments);
4. input: the camera image mosaicked to the canonical CFA phase, darkened by the ratio, given
   ELD noise, quantised, normalised (below black kept), packed and amplified by RIMEF exactly as
   `develop` amplifies (darkdev.network_input).

Every scalar choice comes from numpy's Generator([seed, step, item]) and every noise tensor
from a torch Generator seeded by it, so a batch depends only on (seed, step, items) whatever the
device: resumed and data-parallel runs see exactly the batches of one uninterrupted process.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from darkdev import cfa, rimef
from darkdev.errors import ParameterError, ShapeError
from darkdev.network_input import InputConvention, network_input
from darkdev.training import unprocessing
from darkdev.training.camera import SyntheticCamera
from darkdev.training.noise import NoiseRange, NoiseSample, TorchSource, add_noise, sample_noise


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
    red_gain_min: float = 1.8
    red_gain_max: float = 2.5
    blue_gain_min: float = 1.3
    blue_gain_max: float = 1.9
    noise: NoiseRange = field(default_factory=NoiseRange)
    lam_max: float = 0.0  # RIMEF lambda drawn in [0, lam_max] (0: SID's linear amplification)
    # What the network sees: white-balanced or not, kept below black or clipped (SPEC.md).
    input_convention: InputConvention = field(default_factory=InputConvention)
    camera: SyntheticCamera | None = None  # noise and colour (None: the kind's modelled camera)

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

    @property
    def colour_matrix(self) -> tuple[float, ...] | None:
        """The camera's XYZ -> camera matrix (x1e4), None for the kind's modelled camera."""
        return None if self.camera is None else self.camera.camera_from_xyz_x10000

    @property
    def noise_params(self) -> dict | None:
        """The camera's noise_params, None for darkdev/noise_params.json."""
        return None if self.camera is None else self.camera.noise_params


HIGH_ISO_RATIOS = (100.0, 300.0)


def log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))


def step_generator(seed: int, step: int, item: int = 0) -> np.random.Generator:
    """A generator that depends only on (seed, step, item): resumed runs draw the same samples."""
    return np.random.default_rng([seed, step, item])


@dataclass(frozen=True)
class ItemPlan:
    """Every random choice of one pair, drawn on the CPU from its (seed, step, item) generator."""

    photo: int
    region_px: int
    top: int
    left: int
    quarter_turns: int
    mirrored: bool
    gains: tuple[float, float, float]
    exposure: float
    ratio: float
    noise: NoiseSample
    lam: float
    tensor_seed: int


class PhotoBank:
    """Photographs as (3, H, W) uint8 tensors on the training device, with their names."""

    def __init__(self, photos: list, device: torch.device | str = "cpu") -> None:
        if not photos:
            raise ParameterError("no training photos")
        self.device = torch.device(device)
        self.names = [photo.name for photo in photos]
        self.pixels = [
            torch.from_numpy(np.ascontiguousarray(photo.pixels.transpose(2, 0, 1))).to(self.device)
            for photo in photos
        ]
        self.linear_table = torch.from_numpy(unprocessing.linear_from_uint8()).to(self.device)

    def __len__(self) -> int:
        return len(self.pixels)

    def size(self, index: int) -> tuple[int, int]:
        return int(self.pixels[index].shape[1]), int(self.pixels[index].shape[2])


def plan_item(
    rng: np.random.Generator,
    bank: PhotoBank,
    kind: str,
    side_px: int,
    augment: AugmentConfig,
    photo: int | None = None,
) -> ItemPlan:
    """Draw one pair's choices: photo (unless given), scale and place, orientation, colour,
    exposure, noise."""
    drawn = int(rng.integers(len(bank)))
    photo = drawn if photo is None else photo
    height, width = bank.size(photo)
    max_scale = min(augment.scale_max, min(height, width) / side_px)
    if max_scale * side_px < 16:
        raise ShapeError(
            f"photo {bank.names[photo]} ({width}x{height}) is too small for {side_px} px crops"
        )
    low_scale = min(augment.scale_min, max_scale)
    scale = rng.uniform(low_scale, max_scale) if max_scale > low_scale else max_scale
    region = max(1, min(int(round(side_px * scale)), height, width))
    gains = (
        float(rng.uniform(augment.red_gain_min, augment.red_gain_max)),
        1.0,
        float(rng.uniform(augment.blue_gain_min, augment.blue_gain_max)),
    )
    return ItemPlan(
        photo=photo,
        region_px=region,
        top=int(rng.integers(0, height - region + 1)),
        left=int(rng.integers(0, width - region + 1)),
        quarter_turns=int(rng.integers(4)),
        mirrored=bool(rng.random() < 0.5),
        gains=gains,
        exposure=log_uniform(rng, augment.exposure_min, augment.exposure_max),
        ratio=log_uniform(rng, augment.ratio_min, augment.ratio_max),
        noise=sample_noise(kind, rng, augment.noise, augment.noise_params),
        lam=float(rng.uniform(0.0, augment.lam_max)) if augment.lam_max > 0 else 0.0,
        tensor_seed=int(rng.integers(2**62)),
    )


def linear_crop(bank: PhotoBank, plan: ItemPlan, side_px: int) -> torch.Tensor:
    """(3, side, side) float32 crop in LINEAR light, scaled (antialiased), turned and mirrored.

    Scaling happens in linear light (physically right); turning before mosaicking keeps the CFA
    phase canonical.
    """
    region = plan.region_px
    pixels = bank.pixels[plan.photo][
        :, plan.top : plan.top + region, plan.left : plan.left + region
    ]
    crop = bank.linear_table[pixels.long()]
    if region != side_px:
        crop = F.interpolate(
            crop[None],
            size=(side_px, side_px),
            mode="bilinear",
            antialias=True,
            align_corners=False,
        )[0]
    crop = torch.rot90(crop, plan.quarter_turns, dims=(1, 2))
    return crop.flip(2) if plan.mirrored else crop


@functools.lru_cache(maxsize=16)
def _cfa_tables(kind: str, side_px: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(colour index map (1, H, W), pack index (C, h, w)) as tensors on the device."""
    colours = unprocessing.colour_index_map(kind, side_px, side_px).astype(np.int64)
    block = cfa.BLOCK_SIZE[kind]
    index = cfa.pack_index(kind, side_px // block, side_px // block)  # type: ignore[arg-type]
    return torch.from_numpy(colours)[None].to(device), torch.from_numpy(index).to(device)


@dataclass
class PairTensors:
    """One pair on the device."""

    input: (
        torch.Tensor
    )  # (C, h, w) float32 in [0, 1] ([BELOW_BLACK_FLOOR, 1] below black): what it sees
    target: torch.Tensor  # (3, h*s, w*s) float32 sRGB in [0, 1], un-mosaiced development
    noisy_packed: (
        torch.Tensor
    )  # (C, h, w) noisy packed raw (<= 1, < 0 below black), before WB, RIMEF
    noisy_dn: torch.Tensor  # (h*s, w*s) float32 whole DN, black included
    clean_dn: torch.Tensor  # (h*s, w*s) float32 whole DN of the clean mosaic, black included


def make_item(
    bank: PhotoBank, kind: str, side_px: int, plan: ItemPlan, augment: AugmentConfig
) -> PairTensors:
    """The tensors of one planned pair."""
    device = bank.device
    linear = linear_crop(bank, plan, side_px)
    unprocess = torch.from_numpy(
        unprocessing.unprocess_matrix(kind, plan.gains, plan.exposure, augment.colour_matrix)
    )
    camera = unprocessing.quantise(
        unprocessing.apply_matrix(unprocess.to(device), linear).clamp(0.0, 1.0)
    )
    gains_vector = torch.tensor(
        unprocessing.normalised_gains(plan.gains), dtype=torch.float32, device=device
    )[:, None, None]
    target = unprocessing.develop_camera_rgb(
        camera, kind, plan.gains, gains_vector, augment.colour_matrix
    )
    colours, index = _cfa_tables(kind, side_px, device)
    mosaic = camera.gather(0, colours)[0]
    scale = unprocessing.WHITE_LEVEL_DN - unprocessing.BLACK_LEVEL_DN
    generator = torch.Generator(device=device)
    generator.manual_seed(plan.tensor_seed)
    noisy_dn = add_noise(
        mosaic * (scale / plan.ratio), plan.noise, TorchSource(generator), colours[0]
    )
    # Clipped at white only, as raw.decode normalises: network_input clips at black if need be.
    normalised = ((noisy_dn - unprocessing.BLACK_LEVEL_DN) / scale).clamp(max=1.0)
    packed = normalised.reshape(-1)[index]
    params = rimef.RimefParams(ratio=plan.ratio, lam=plan.lam)
    amplified = network_input(packed, kind, plan.gains, augment.input_convention, params)  # type: ignore[arg-type]
    clean_dn = (mosaic * scale).round() + unprocessing.BLACK_LEVEL_DN
    return PairTensors(amplified, target, packed, noisy_dn, clean_dn)


@dataclass
class SyntheticBatch:
    inputs: (
        torch.Tensor
    )  # (N, C, h, w) float32 in [0, 1] ([BELOW_BLACK_FLOOR, 1] below black): what it sees
    targets: torch.Tensor  # (N, 3, h*s, w*s) float32 sRGB in [0, 1]
    plans: list[ItemPlan]


def synthetic_batch(
    bank: PhotoBank,
    kind: str,
    crop_packed_px: int,
    batch_size: int,
    seed: int,
    step: int,
    augment: AugmentConfig = AugmentConfig(),
    first_item: int = 0,
) -> SyntheticBatch:
    """Items first_item .. first_item + batch_size - 1 of a step's batch, on the bank's device.

    Data-parallel ranks each build their own slice; together they build exactly the batch one
    process would.
    """
    if kind not in cfa.CHANNELS:
        raise ParameterError(f"unknown CFA kind {kind!r}")
    if augment.camera is not None and augment.camera.cfa_kind != kind:
        raise ParameterError(
            f"camera {augment.camera.name} is {augment.camera.cfa_kind}, not {kind}"
        )
    if crop_packed_px % 2 or crop_packed_px < 8:
        raise ShapeError(f"packed crop must be even and >= 8, got {crop_packed_px}")
    side_px = crop_packed_px * cfa.BLOCK_SIZE[kind]
    inputs, targets, plans = [], [], []
    for item in range(first_item, first_item + batch_size):
        plan = plan_item(step_generator(seed, step, item), bank, kind, side_px, augment)
        pair = make_item(bank, kind, side_px, plan, augment)
        inputs.append(pair.input)
        targets.append(pair.target)
        plans.append(plan)
    return SyntheticBatch(torch.stack(inputs), torch.stack(targets), plans)
