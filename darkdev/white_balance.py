"""Which white balance a raw is developed with: the file's as-shot gains, else LibRaw's fallback.

LibRaw, asked for the camera's white balance of a file that records none, balances by grey world
(its auto white balance); darkdev does the same so its network input, its classical development
and its guided colour agree. `develop --white-balance` chooses other gains for all three.
numpy only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np

from darkdev.errors import ParameterError, RawDecodeError, ShapeError

if TYPE_CHECKING:
    from darkdev.raw import RawFrame

WhiteBalanceSource = Literal["as shot", "grey world", "daylight", "none", "given"]
AS_SHOT, AUTO, DAYLIGHT = "as-shot", "auto", "daylight"
WHITE_BALANCE_CHOICES = (AS_SHOT, AUTO, DAYLIGHT)
Gains = tuple[float, float, float]  # R, G, B with G = 1
GREY_WORLD_BLOCK_PX = 8  # LibRaw averages 8x8 blocks and leaves out any block with a clipped pixel
LIBRAW_CLIP_MARGIN_DN = 25  # a pixel above white level - 25 DN counts as clipped


def clip_level(white_level: int, black_levels: Sequence[int]) -> float:
    """The normalised level above which LibRaw counts a pixel as clipped (white - 25 DN)."""
    return 1.0 - LIBRAW_CLIP_MARGIN_DN / (white_level - min(black_levels))


def usable_gains(values: Sequence[float]) -> Gains | None:
    """R, G, B gains normalised to G = 1, or None when any is missing, zero or not finite."""
    gains = [float(v) for v in values[:3]]
    if len(gains) < 3 or not all(np.isfinite(gains)) or min(gains) <= 0:
        return None
    return gains[0] / gains[1], 1.0, gains[2] / gains[1]


def grey_world_gains(
    mosaic: np.ndarray, colour_map: np.ndarray, clipped_above: float
) -> Gains | None:
    """Gains that make the mean of each CFA colour equal, over 8x8 blocks without clipped pixels.

    mosaic: (H, W) normalised raw (<= 1, negative below black; read clipped at 0, as LibRaw
    reads it); colour_map: (H, W) LibRaw colour indices (0 R, 1 G, 2 B, 3 second G);
    clipped_above: the normalised level above which a pixel is clipped
    (clip_level).
    None when no block is usable or a colour has no signal.
    """
    if mosaic.ndim != 2 or mosaic.shape != colour_map.shape:
        raise ShapeError(f"mosaic {mosaic.shape} and colour map {colour_map.shape} must match")
    block = GREY_WORLD_BLOCK_PX
    height, width = (size - size % block for size in mosaic.shape)
    if height == 0 or width == 0:
        return None

    def blocks(array: np.ndarray) -> np.ndarray:  # (blocks, 64)
        tiles = array[:height, :width].reshape(height // block, block, width // block, block)
        return tiles.transpose(0, 2, 1, 3).reshape(-1, block * block)

    values, colours = blocks(mosaic), blocks(np.where(colour_map == 3, 1, colour_map))
    unclipped = values.max(axis=1) <= clipped_above
    values, colours = np.maximum(values[unclipped], 0.0), colours[unclipped]
    means = []
    for colour in range(3):
        chosen = colours == colour
        if not chosen.any():
            return None
        means.append(float(values[chosen].mean(dtype=np.float64)))
    if min(means) <= 0:
        return None
    return means[1] / means[0], 1.0, means[1] / means[2]


def choose_white_balance(
    as_shot: Sequence[float],
    daylight: Sequence[float],
    mosaic: np.ndarray,
    colour_map: np.ndarray,
    clipped_above: float,
) -> tuple[Gains, WhiteBalanceSource]:
    """The file's as-shot gains; else grey world, as LibRaw; else the camera's daylight gains."""
    gains = usable_gains(as_shot)
    if gains is not None:
        return gains, "as shot"
    gains = grey_world_gains(mosaic, colour_map, clipped_above)
    if gains is not None:
        return gains, "grey world"
    gains = usable_gains(daylight)
    if gains is not None:
        return gains, "daylight"
    return (1.0, 1.0, 1.0), "none"


def parse_white_balance(text: str) -> str | Gains:
    """'as-shot', 'auto' (grey world), 'daylight', or 'R,G,B' gains (normalised to G = 1)."""
    name = text.strip().lower()
    if name in WHITE_BALANCE_CHOICES:
        return name
    usage = (
        f"white balance must be {', '.join(WHITE_BALANCE_CHOICES)} or R,G,B gains such as 2.1,1,1.6"
    )
    parts = name.split(",")
    try:
        values = [float(part) for part in parts]
    except ValueError:
        raise ParameterError(f"{usage}; got {text!r}") from None
    gains = usable_gains(values) if len(values) == 3 else None
    if gains is None:
        raise ParameterError(f"{usage} (three positive numbers); got {text!r}")
    return gains


def apply_white_balance(frame: RawFrame, choice: str | Gains) -> RawFrame:
    """The frame with the chosen gains as its white balance (as-shot: unchanged)."""
    if choice == AS_SHOT:
        return frame
    source: WhiteBalanceSource
    if choice == AUTO:
        level = clip_level(frame.white_level, frame.black_level_per_channel)
        gains = grey_world_gains(frame.mosaic, frame.colour_map, level)
        if gains is None:
            raise RawDecodeError(f"{frame.source}: no unclipped signal to balance by grey world")
        source = "grey world"
    elif choice == DAYLIGHT:
        gains = frame.daylight_whitebalance
        if gains is None:
            raise RawDecodeError(f"{frame.source}: the camera's daylight white balance is unknown")
        source = "daylight"
    elif isinstance(choice, tuple):
        gains, source = choice, "given"
    else:
        raise ParameterError(f"unknown white balance {choice!r}")
    return dataclasses.replace(frame, camera_whitebalance=gains, white_balance_source=source)


def missing_white_balance_warning(frame: RawFrame) -> list[str]:
    """One line when the file has no usable as-shot white balance (colours may be cast)."""
    if frame.white_balance_source == "as shot":
        return []
    used = {
        "grey world": "grey world (LibRaw's fallback)",
        "daylight": "the camera's daylight balance",
    }.get(frame.white_balance_source, "no white balance (gains 1, 1, 1)")
    return [f"the file records no usable as-shot white balance; used {used}: colours may be cast"]
