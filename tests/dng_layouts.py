"""DNGs in the layouts real writers use: tiles, lossless-JPEG compression, linearisation tables.

darkdev.dng writes the simplest DNG (one uncompressed strip). Cameras, phones, Adobe DNG
Converter and CinemaDNG recorders write tiled, compressed files, often with a
LinearizationTable; these helpers write such files with tifffile and a small lossless JPEG
(ITU T.81 process 14, predictor 1) encoder, for tests only.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator

import numpy as np
import tifffile

from darkdev.dng import DngMetadata, dng_tags

# Huffman code lengths for the 17 difference categories (a valid prefix code, no all-ones code).
_LENGTH_COUNTS = [0, 0, 6, 2, 2, 2, 2, 2, 1, 0, 0, 0, 0, 0, 0, 0]  # codes of 1..16 bits


def _huffman_codes() -> dict[int, tuple[int, int]]:
    """Category -> (code, length), assigned canonically as JPEG decoders rebuild them."""
    codes, code, symbol = {}, 0, 0
    for length, count in enumerate(_LENGTH_COUNTS, start=1):
        for _ in range(count):
            codes[symbol] = (code, length)
            code, symbol = code + 1, symbol + 1
        code <<= 1
    return codes


def _segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">HH", marker, len(payload) + 2) + payload


def ljpeg_encode(tile: np.ndarray, precision: int = 16) -> bytes:
    """(H, W) uint16 -> a one-component lossless JPEG with predictor 1 (left; above in column 0)."""
    height, width = tile.shape
    codes = _huffman_codes()
    values = tile.astype(np.int64)
    bits: list[str] = []
    for row in range(height):
        for col in range(width):
            if col:
                prediction = values[row, col - 1]
            elif row:
                prediction = values[row - 1, 0]
            else:
                prediction = 1 << (precision - 1)
            diff = int(values[row, col] - prediction)
            category = abs(diff).bit_length()
            code, length = codes[category]
            bits.append(format(code, f"0{length}b"))
            if 0 < category < 16:
                extra = diff if diff > 0 else diff + (1 << category) - 1
                bits.append(format(extra, f"0{category}b"))
    stream = "".join(bits)
    stream += "1" * (-len(stream) % 8)
    data = int(stream, 2).to_bytes(len(stream) // 8, "big") if stream else b""
    data = data.replace(b"\xff", b"\xff\x00")
    table = bytes([0]) + bytes(_LENGTH_COUNTS) + bytes(range(17))
    frame = struct.pack(">BHHB", precision, height, width, 1) + bytes([1, 0x11, 0])
    scan = bytes([1, 1, 0x00, 1, 0, 0])  # one component, table 0, predictor 1, Se 0, Ah/Al 0
    return (
        b"\xff\xd8"
        + _segment(0xFFC4, table)
        + _segment(0xFFC3, frame)
        + _segment(0xFFDA, scan)
        + data
        + b"\xff\xd9"
    )


def _tiles(mosaic: np.ndarray, tile: int) -> Iterator[np.ndarray]:
    height, width = mosaic.shape
    padded = np.pad(mosaic, ((0, -height % tile), (0, -width % tile)), mode="edge")
    for top in range(0, padded.shape[0], tile):
        for left in range(0, padded.shape[1], tile):
            yield padded[top : top + tile, left : left + tile]


def layout_dng_bytes(
    mosaic: np.ndarray,
    cfa_pattern: np.ndarray,
    meta: DngMetadata,
    tile: int | None = None,
    compressed: bool = False,
    linearization_table: np.ndarray | None = None,
    byteorder: str = "<",
    without_tags: tuple[int, ...] = (),
) -> bytes:
    """A CFA DNG of `mosaic` (stored values) in strips or square tiles, raw or lossless JPEG."""
    tags = [tag for tag in dng_tags(cfa_pattern, meta) if tag[0] not in without_tags]
    if linearization_table is not None:
        table = np.asarray(linearization_table, dtype=np.uint16)
        tags.append((50712, 3, table.size, table.tolist()))  # LinearizationTable
    buffer = io.BytesIO()
    options: dict = {"photometric": 32803, "extratags": tags, "metadata": None}
    with tifffile.TiffWriter(buffer, byteorder=byteorder) as writer:
        if compressed:
            if tile is None:
                raise ValueError("lossless JPEG DNGs here are tiled")
            # tifffile writes pre-encoded tiles as given, but wants a codec it knows for the
            # Compression tag: write them as 'deflate' and set the tag to 7 (JPEG) afterwards.
            segments = (ljpeg_encode(piece) for piece in _tiles(mosaic, tile))
            writer.write(
                segments,
                shape=mosaic.shape,
                dtype=np.uint16,
                tile=(tile, tile),
                compression=8,
                **options,
            )
        else:
            writer.write(mosaic, tile=(tile, tile) if tile else None, **options)
    data = buffer.getvalue()
    return _set_compression(data, 7) if compressed else data


def _set_compression(data: bytes, value: int) -> bytes:
    with tifffile.TiffFile(io.BytesIO(data)) as tiff:
        tag = tiff.pages[0].tags["Compression"]
        offset, order = tag.valueoffset, tiff.byteorder
    patched = bytearray(data)
    patched[offset : offset + 2] = struct.pack(f"{order}H", value)
    return bytes(patched)
