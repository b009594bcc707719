"""Running a network over a packed raw: device choice, precision, overlapping tiles.

A 42 MP frame runs in bounded memory: tiles of tile_size_px (packed pixels) overlap by
tile_overlap_px and are blended with linear ramps, so no seam shows.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from typing import Literal

import numpy as np

from darkdev.errors import NetworkOutputError, ParameterError, ShapeError

# Packed pixels (1024 px of a Bayer mosaic): on 2 CPU cores 512 runs the 12 MP network stage
# 1.3x faster than 256 (less overlap recomputed) for 0.1 GiB more at 42 MP. cli/develop.py: same.
DEFAULT_TILE_SIZE_PX = 512
DEFAULT_TILE_OVERLAP_PX = 32
STRIDE = 16  # the U-Net's four 2x2 poolings


DEVICES = ("auto", "cpu", "cuda", "mps")
# auto: half precision where the hardware computes it natively (float16 on CUDA, bfloat16 on CPUs
# with AMX or AVX512-BF16: 1.5-1.7x faster there, 57 dB from float32); full: float32 everywhere.
PRECISIONS = ("auto", "full", "half")
DEVICE_NAMES = {"cuda": "CUDA GPU", "mps": "Apple GPU (Metal, mps)", "cpu": "CPU"}


def available_devices() -> dict[str, bool]:
    """Which torch device types this machine offers."""
    import torch

    mps = getattr(torch.backends, "mps", None)
    return {
        "cuda": bool(torch.cuda.is_available()),
        "mps": bool(mps is not None and mps.is_available()),
        "cpu": True,
    }


def select_device(name: str = "auto"):
    """'auto': CUDA, else Apple's GPU (mps), else the CPU; a named device must be available."""
    import torch

    if name not in DEVICES:
        raise ParameterError(f"device must be one of {', '.join(DEVICES)}, got {name!r}")
    available = available_devices()
    if name == "auto":
        name = next(kind for kind in ("cuda", "mps", "cpu") if available[kind])
    elif not available[name]:
        raise ParameterError(f"--device {name} asked for, but no {DEVICE_NAMES[name]} is available")
    return torch.device(name)


def native_half_dtype(device):
    """float16 on CUDA, bfloat16 on a CPU that computes it natively, None elsewhere."""
    import torch

    if device.type == "cuda":
        return torch.float16
    if device.type == "cpu":
        checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")  # torch >= 2.1
        if any(getattr(torch.cpu, name, lambda: False)() for name in checks):
            return torch.bfloat16
    return None


def check_precision(precision: str) -> None:
    """Refuse a precision outside PRECISIONS (develop's and training's option alike)."""
    if precision not in PRECISIONS:
        raise ParameterError(
            f"--precision must be one of {', '.join(PRECISIONS)}, got {precision!r}"
        )


def autocast_dtype(device, precision: str = "auto"):
    """The half dtype the network runs in on a device (None: float32); see PRECISIONS."""
    import torch

    check_precision(precision)
    if precision == "full":
        return None
    dtype = native_half_dtype(device)
    if precision == "half" and dtype is None:  # asked for where it is not native: emulated
        dtype = torch.bfloat16 if device.type == "cpu" else torch.float16
    return dtype


THREADS_PER_CORE_LIMIT = 4  # more threads than this per core only slows torch down


def thread_count(requested: int | None) -> int:
    """--threads: default all cores; 1 .. 4 per core, since huge counts crash or crawl."""
    cores = os.cpu_count() or 1
    if requested is None:
        return cores
    limit = THREADS_PER_CORE_LIMIT * cores
    if not 1 <= requested <= limit:
        raise ParameterError(
            f"--threads must be 1..{limit} ({THREADS_PER_CORE_LIMIT} per core, {cores} cores), "
            f"got {requested}"
        )
    return requested


def validate_tiling(tile_size_px: int, tile_overlap_px: int) -> None:
    if tile_size_px < 32 or tile_size_px > 4096 or tile_size_px % STRIDE:
        raise ParameterError(
            f"tile size must be a multiple of {STRIDE} in 32..4096, got {tile_size_px}"
        )
    if tile_overlap_px < 0 or 2 * tile_overlap_px >= tile_size_px:
        raise ParameterError(
            f"tile overlap must be >= 0 and under half the tile size, got {tile_overlap_px}"
        )


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets covering [0, length) with tiles of `tile` overlapping by at least `overlap`."""
    if length <= tile:
        return [0]
    count = math.ceil((length - overlap) / (tile - overlap))
    step = (length - tile) / (count - 1)
    return [round(index * step) for index in range(count)]


def _ramp(length: int, overlap: int, fade_start: bool, fade_end: bool) -> np.ndarray:
    weight = np.ones(length, dtype=np.float32)
    if overlap > 0:
        ramp = (np.arange(overlap, dtype=np.float32) + 0.5) / overlap
        if fade_start:
            weight[:overlap] = ramp
        if fade_end:
            weight[-overlap:] = ramp[::-1]
    return weight


def _tiles(height: int, width: int, tile: int, overlap: int) -> Iterator[tuple[int, int, int, int]]:
    tile_height, tile_width = min(tile, height), min(tile, width)
    for top in tile_starts(height, tile_height, overlap):
        for left in tile_starts(width, tile_width, overlap):
            yield top, left, tile_height, tile_width


def run_network(
    model,
    packed: np.ndarray,
    scale: int,
    device=None,
    tile_size_px: int = DEFAULT_TILE_SIZE_PX,
    tile_overlap_px: int = DEFAULT_TILE_OVERLAP_PX,
    precision: str = "auto",
    tiles_per_batch: int = 1,
    on_tile=None,
) -> np.ndarray:
    """(C, H, W) float32 network input (network_input) -> (H*s, W*s, 3) float32 sRGB in [0, 1].

    precision: PRECISIONS (autocast_dtype). on_tile(done, total), when given, is called after
    each batch of tiles (progress). Non-finite network output (NaN weights, float16 overflow)
    raises NetworkOutputError.
    """
    import torch

    from darkdev.models import channels_last

    if packed.ndim != 3 or packed.dtype != np.float32:
        raise ShapeError(f"packed raw must be (C, H, W) float32, got {packed.dtype} {packed.shape}")
    validate_tiling(tile_size_px, tile_overlap_px)
    device = device or torch.device("cpu")
    half_dtype = autocast_dtype(device, precision)
    channels, height, width = packed.shape
    # Pad to the network stride by reflection (edge when the image is tiny) and crop back later.
    padded_height = math.ceil(height / STRIDE) * STRIDE
    padded_width = math.ceil(width / STRIDE) * STRIDE
    pad = ((0, 0), (0, padded_height - height), (0, padded_width - width))
    mode: Literal["reflect", "edge"] = "reflect" if min(height, width) > STRIDE else "edge"
    source = (
        np.pad(packed, pad, mode=mode)
        if padded_height != height or padded_width != width
        else packed
    )

    output = np.zeros((3, padded_height * scale, padded_width * scale), dtype=np.float32)
    total_weight = np.zeros((padded_height, padded_width), dtype=np.float32)
    model = channels_last(model.to(device))
    tiles = list(_tiles(padded_height, padded_width, tile_size_px, tile_overlap_px))
    with torch.inference_mode():
        for first in range(0, len(tiles), tiles_per_batch):
            batch = tiles[first : first + tiles_per_batch]
            inputs = np.stack(
                [source[:, top : top + h, left : left + w] for top, left, h, w in batch]
            )
            tensor = channels_last(torch.from_numpy(inputs).to(device))
            with torch.autocast(device.type, dtype=half_dtype, enabled=half_dtype is not None):
                result = model(tensor)
            result = result.float()
            if not bool(torch.isfinite(result).all()):
                raise NetworkOutputError(
                    "the network produced NaN or infinite values (broken weights, or half "
                    "precision overflow: try --precision full)"
                )
            result = result.clamp_(0, 1).cpu().numpy()
            for (top, left, tile_height, tile_width), image in zip(batch, result, strict=True):
                weight = np.outer(
                    _ramp(tile_height, tile_overlap_px, top > 0, top + tile_height < padded_height),
                    _ramp(tile_width, tile_overlap_px, left > 0, left + tile_width < padded_width),
                )
                total_weight[top : top + tile_height, left : left + tile_width] += weight
                full_weight = np.repeat(np.repeat(weight, scale, 0), scale, 1)
                output[
                    :,
                    top * scale : (top + tile_height) * scale,
                    left * scale : (left + tile_width) * scale,
                ] += image * full_weight
            if on_tile is not None:
                on_tile(min(first + tiles_per_batch, len(tiles)), len(tiles))
    full_total = np.repeat(np.repeat(total_weight, scale, 0), scale, 1)
    output /= full_total
    return np.ascontiguousarray(output[:, : height * scale, : width * scale].transpose(1, 2, 0))
