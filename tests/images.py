"""Test helper: read outputs back. 16-bit RGB PNGs (Pillow cannot): all five filters, no interlace."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np

from darkdev.errors import ShapeError


def _paeth(left: np.ndarray, up: np.ndarray, up_left: np.ndarray) -> np.ndarray:
    estimate = left.astype(np.int16) + up - up_left
    distance_left, distance_up = np.abs(estimate - left), np.abs(estimate - up)
    distance_up_left = np.abs(estimate - up_left)
    use_left = (distance_left <= distance_up) & (distance_left <= distance_up_left)
    use_up = ~use_left & (distance_up <= distance_up_left)
    return np.where(use_left, left, np.where(use_up, up, up_left)).astype(np.uint8)


def read_png16(payload: bytes) -> np.ndarray:
    position, data, header = 8, b"", None
    while position < len(payload):
        (length,) = struct.unpack(">I", payload[position : position + 4])
        kind = payload[position + 4 : position + 8]
        body = payload[position + 8 : position + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            data += body
        position += 12 + length
    if header is None or header[2:5] != (16, 2, 0) or header[6] != 0:
        raise ShapeError("only non-interlaced 16-bit RGB PNGs are read here")
    width, height = header[0], header[1]
    stride, pixel_bytes = width * 6, 6
    raw = np.frombuffer(zlib.decompress(data), dtype=np.uint8).reshape(height, stride + 1)
    rows = np.zeros((height, stride), dtype=np.uint8)
    previous = np.zeros(stride, dtype=np.uint8)
    for index in range(height):
        kind, line = raw[index, 0], raw[index, 1:].copy()
        if kind == 2:
            line += previous
        elif kind in (1, 3, 4):
            for position in range(stride):  # left-dependent filters are sequential by nature
                left = line[position - pixel_bytes] if position >= pixel_bytes else 0
                up = previous[position]
                up_left = previous[position - pixel_bytes] if position >= pixel_bytes else 0
                if kind == 1:
                    predictor = left
                elif kind == 3:
                    predictor = (int(left) + int(up)) // 2
                else:
                    predictor = _paeth(np.uint8(left), np.uint8(up), np.uint8(up_left))
                line[position] = (int(line[position]) + int(predictor)) & 0xFF
        rows[index] = line
        previous = line
    return rows.view(">u2").reshape(height, width, 3).astype(np.uint16)


def decode_image(payload: bytes) -> np.ndarray:
    """Read PNG/JPEG bytes back as (H, W, 3) uint8/uint16 (Pillow reads 16-bit PNG as 8-bit)."""
    if payload.startswith(b"\x89PNG") and payload[24] == 16:
        return read_png16(payload)
    import imageio.v3 as iio

    return iio.imread(io.BytesIO(payload))
