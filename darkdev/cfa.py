"""CFA layouts: phase detection, packing and unpacking of Bayer (4 ch) and X-Trans (9 ch) mosaics.

numpy only. Colour indices follow LibRaw: 0 = R, 1 = G, 2 = B, 3 = second G (Bayer).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from darkdev.errors import ParameterError, ShapeError, UnsupportedSensorError

CfaKind = Literal["bayer", "xtrans"]

# Canonical Bayer RGGB; packed channel order (R, G1, B, G2) as SID packs Sony files.
BAYER_CANONICAL = np.array([[0, 1], [1, 2]], dtype=np.uint8)
BAYER_SITES = ((0, 0), (0, 1), (1, 1), (1, 0))

# Canonical X-Trans: the Fuji X-T2 phase assumed by SID's packer (SPEC.md).
XTRANS_CANONICAL = np.array(
    [[int(c) for c in row] for row in ("021201", "110112", "112110", "201021", "112110", "110112")],
    dtype=np.uint8,
)

BLOCK_SIZE = {"bayer": 2, "xtrans": 3}
CHANNELS = {"bayer": 4, "xtrans": 9}
PERIOD = {"bayer": 2, "xtrans": 6}


def network_shape(kind: str) -> tuple[int, int]:
    """(input channels, upscale factor) of a network for this CFA kind's packed raw."""
    if kind not in CHANNELS:
        raise ParameterError(f"unknown CFA kind {kind!r}; choose 'bayer' or 'xtrans'")
    return CHANNELS[kind], BLOCK_SIZE[kind]


def _xtrans_sites(pattern: np.ndarray) -> np.ndarray:
    """Site offsets (sub-block row, sub-block col, channel) -> (row, col) within the 6x6 period.

    Channel k takes, in each 3x3 sub-block, its k-th site in the order R, R, B, B, G x 5
    (raster order within a colour), so each packed channel carries one colour.
    """
    sites = np.zeros((2, 2, 9, 2), dtype=np.int64)
    for block_row in range(2):
        for block_col in range(2):
            block = pattern[3 * block_row : 3 * block_row + 3, 3 * block_col : 3 * block_col + 3]
            ordered = []
            for colour, count in ((0, 2), (2, 2), (1, 5)):
                positions = [(r, c) for r in range(3) for c in range(3) if block[r, c] == colour]
                if len(positions) != count:
                    raise UnsupportedSensorError(
                        f"X-Trans sub-block has {len(positions)} sites of colour {colour}, "
                        f"expected {count}"
                    )
                ordered += positions
            for channel, (r, c) in enumerate(ordered):
                sites[block_row, block_col, channel] = (3 * block_row + r, 3 * block_col + c)
    return sites


XTRANS_SITES = _xtrans_sites(XTRANS_CANONICAL)


@dataclass(frozen=True)
class CfaLayout:
    """Where the canonical phase starts inside a file's visible mosaic."""

    kind: CfaKind
    offset_rows: int
    offset_cols: int

    @property
    def block_size(self) -> int:
        return BLOCK_SIZE[self.kind]

    @property
    def channels(self) -> int:
        return CHANNELS[self.kind]

    @property
    def period(self) -> int:
        return PERIOD[self.kind]


def detect_layout(colour_map: np.ndarray) -> CfaLayout:
    """Find the CFA kind and the leading rows/cols to skip so the mosaic starts in canonical phase.

    colour_map: (H, W) LibRaw colour indices of the visible mosaic (raw_colors_visible) or its
    repeating pattern; at least one period in each direction.
    """
    if colour_map.ndim != 2:
        raise ShapeError(f"colour map must be 2-D, got shape {colour_map.shape}")
    colours = np.where(colour_map == 3, 1, colour_map).astype(np.uint8)  # G2 is green
    for kind, canonical in (("bayer", BAYER_CANONICAL), ("xtrans", XTRANS_CANONICAL)):
        period = canonical.shape[0]
        if colours.shape[0] < 2 * period or colours.shape[1] < 2 * period:
            continue
        window = colours[: 2 * period, : 2 * period]
        # The map must actually repeat with this period, or it is not this kind.
        if not np.array_equal(window[:period, :period], window[period:, period:]):
            continue
        for offset_rows in range(period):
            for offset_cols in range(period):
                shifted = window[
                    offset_rows : offset_rows + period, offset_cols : offset_cols + period
                ]
                if np.array_equal(shifted, canonical):
                    return CfaLayout(kind, offset_rows, offset_cols)  # type: ignore[arg-type]
    raise UnsupportedSensorError(
        "unknown CFA layout (not a Bayer or 6x6 X-Trans pattern): "
        + " / ".join("".join(str(v) for v in row) for row in colours[:6, :6])
    )


def packed_size(layout: CfaLayout, height: int, width: int) -> tuple[int, int]:
    """Packed (rows, cols) obtained from a visible mosaic of height x width."""
    step = layout.period  # X-Trans needs whole 6x6 periods so sub-block types alternate
    usable_rows = (height - layout.offset_rows) // step * step
    usable_cols = (width - layout.offset_cols) // step * step
    if usable_rows <= 0 or usable_cols <= 0:
        raise ShapeError(f"mosaic {height}x{width} is too small to pack as {layout.kind}")
    return usable_rows // layout.block_size, usable_cols // layout.block_size


def pack_index(kind: CfaKind, rows: int, cols: int) -> np.ndarray:
    """(C, rows, cols) int64: the flat position, in a canonical-phase (rows*s, cols*s) region, of
    each packed value. The one statement of which site feeds which channel; pack() and the
    training data path (torch) both gather through it."""
    block = BLOCK_SIZE[kind]
    if rows <= 0 or cols <= 0 or (kind == "xtrans" and (rows % 2 or cols % 2)):
        raise ShapeError(f"cannot pack {kind} into {rows}x{cols} (X-Trans needs even sides)")
    width = cols * block
    row_of = np.zeros((CHANNELS[kind], rows, cols), dtype=np.int64)
    col_of = np.zeros_like(row_of)
    packed_rows = np.arange(rows)[:, None]
    packed_cols = np.arange(cols)[None, :]
    if kind == "bayer":
        for channel, (r, c) in enumerate(BAYER_SITES):
            row_of[channel] = 2 * packed_rows + r
            col_of[channel] = 2 * packed_cols + c
    else:
        # Packed pixel (i, j) is 3x3 sub-block (i, j); its type within the 6x6 period is (i%2, j%2).
        sites = XTRANS_SITES[packed_rows % 2, packed_cols % 2]  # (rows, cols, 9, 2)
        row_of[:] = (6 * (packed_rows // 2))[None] + np.moveaxis(sites[..., 0], -1, 0)
        col_of[:] = (6 * (packed_cols // 2))[None] + np.moveaxis(sites[..., 1], -1, 0)
    return row_of * width + col_of


def pack(mosaic: np.ndarray, layout: CfaLayout) -> np.ndarray:
    """(H, W) mosaic -> (C, H', W') packed in canonical channel order (C = 4 or 9).

    Skips layout.offset rows/cols and drops the remainder that does not fill a whole period.
    """
    if mosaic.ndim != 2:
        raise ShapeError(f"mosaic must be 2-D, got shape {mosaic.shape}")
    rows, cols = packed_size(layout, *mosaic.shape)
    block = layout.block_size
    region = mosaic[
        layout.offset_rows : layout.offset_rows + rows * block,
        layout.offset_cols : layout.offset_cols + cols * block,
    ]
    # Strided copies from the site tables (as unpack): a 12 MP gather through pack_index would
    # build a 100 MB index first and take 10x longer; tests hold the two to the same result.
    packed = np.empty((layout.channels, rows, cols), dtype=mosaic.dtype)
    if layout.kind == "bayer":
        for channel, (r, c) in enumerate(BAYER_SITES):
            packed[channel] = region[r::2, c::2]
        return packed
    for block_row in range(2):
        for block_col in range(2):
            for channel in range(9):
                r, c = XTRANS_SITES[block_row, block_col, channel]
                packed[channel, block_row::2, block_col::2] = region[r::6, c::6]
    return packed


def unpack(packed: np.ndarray, layout: CfaLayout) -> np.ndarray:
    """Inverse of pack: (C, H', W') -> (H' * s, W' * s) mosaic in canonical phase (no offset)."""
    if packed.ndim != 3 or packed.shape[0] != layout.channels:
        raise ShapeError(
            f"packed {layout.kind} array must be ({layout.channels}, H, W), got {packed.shape}"
        )
    block = layout.block_size
    _, rows, cols = packed.shape
    mosaic = np.empty((rows * block, cols * block), dtype=packed.dtype)
    if layout.kind == "bayer":
        for channel, (r, c) in enumerate(BAYER_SITES):
            mosaic[r::2, c::2] = packed[channel]
        return mosaic
    if rows % 2 or cols % 2:
        raise ShapeError(f"packed X-Trans array needs even size, got {rows}x{cols}")
    for block_row in range(2):
        for block_col in range(2):
            for channel in range(9):
                r, c = XTRANS_SITES[block_row, block_col, channel]
                mosaic[r::6, c::6] = packed[channel, block_row::2, block_col::2]
    return mosaic


def channel_colours(kind: CfaKind) -> np.ndarray:
    """Colour (0 R, 1 G, 2 B) carried by each packed channel."""
    if kind == "bayer":
        return np.array([0, 1, 2, 1])
    return np.array([0, 0, 2, 2, 1, 1, 1, 1, 1])


def white_balance(packed, kind: CfaKind, gains: Sequence[float]):
    """(..., C, h, w) packed raw (<= 1; negative below black) (numpy or torch) times the (R, G, B)
    gains of each channel's colour, <= 1."""
    if len(gains) != 3:
        raise ShapeError(f"white-balance gains must be (R, G, B), got {list(gains)}")
    channel_gains = np.asarray(gains, dtype=np.float32)[channel_colours(kind)][:, None, None]
    if packed.ndim < 3 or packed.shape[-3] != len(channel_gains):
        raise ShapeError(
            f"packed {kind} raw must be ({len(channel_gains)}, h, w), got {tuple(packed.shape)}"
        )
    if type(packed).__module__.startswith("torch"):
        return (packed * packed.new_tensor(channel_gains)).clamp(max=1.0)
    return np.minimum(packed * channel_gains, 1.0)


def amplify_mosaic(mosaic: np.ndarray, layout: CfaLayout, gain: np.ndarray) -> np.ndarray:
    """Apply a packed-resolution (h, w) gain map to the whole visible (H, W) mosaic, each gain
    spread over its block and the rows/columns outside the packed region taking the nearest
    block's gain; clipped at 1."""
    block = layout.block_size
    full = np.repeat(np.repeat(gain, block, 0), block, 1)
    pad_bottom = mosaic.shape[0] - layout.offset_rows - full.shape[0]
    pad_right = mosaic.shape[1] - layout.offset_cols - full.shape[1]
    full = np.pad(
        full, ((layout.offset_rows, pad_bottom), (layout.offset_cols, pad_right)), mode="edge"
    )
    return np.minimum(mosaic * full, 1.0)


def place_output(image: np.ndarray, layout: CfaLayout, height: int, width: int) -> np.ndarray:
    """A network's (h*s, w*s, 3) output for the packed region -> the visible (height, width, 3),
    edges replicated (at most 1 px per side for Bayer, 5 for X-Trans)."""
    pad_bottom = height - layout.offset_rows - image.shape[0]
    pad_right = width - layout.offset_cols - image.shape[1]
    return np.pad(
        image,
        ((layout.offset_rows, pad_bottom), (layout.offset_cols, pad_right), (0, 0)),
        mode="edge",
    )
