"""Rendering and writing: quantisation, orientation, PNG (8/16 bit) and JPEG, atomic writes.

PNG is encoded here with zlib because Pillow cannot write 16-bit RGB; JPEG goes through imageio.
"""

from __future__ import annotations

import errno
import io
import os
import struct
import tempfile
import zlib
from pathlib import Path
from typing import BinaryIO, Literal

import numpy as np

from darkdev.errors import (
    DiskFullError,
    OutputError,
    OutputExistsError,
    ParameterError,
    ShapeError,
)

ImageFormat = Literal["png", "png16", "jpg"]
FORMAT_BY_EXTENSION = {".png": "png", ".jpg": "jpg", ".jpeg": "jpg"}
EXTENSION_BY_FORMAT = {"png": ".png", "png16": ".png", "jpg": ".jpg"}
# errno values meaning "this file system has no hard links"
NO_HARD_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS, errno.EMLINK}


def format_for(path: str | Path, requested: str | None) -> ImageFormat:
    """Output format: an explicit request wins, else the extension decides."""
    suffix = Path(path).suffix.lower()
    if requested is not None:
        if requested not in EXTENSION_BY_FORMAT:
            raise ParameterError(f"format must be png, png16 or jpg, got {requested!r}")
        # An image extension that names another format would mislabel the file (JPEG in a .png).
        if (
            suffix in FORMAT_BY_EXTENSION
            and EXTENSION_BY_FORMAT[requested] != (EXTENSION_BY_FORMAT[FORMAT_BY_EXTENSION[suffix]])
        ):
            raise ParameterError(
                f"{path}: the extension {suffix} contradicts --format {requested}; "
                "make them agree or drop one"
            )
        return requested  # type: ignore[return-value]
    if suffix not in FORMAT_BY_EXTENSION:
        raise ParameterError(
            f"{path}: unknown output extension {suffix!r}; use .png, .jpg or --format"
        )
    return FORMAT_BY_EXTENSION[suffix]  # type: ignore[return-value]


def check_image(image: np.ndarray) -> None:
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.float32:
        raise ShapeError(f"image must be (H, W, 3) float32, got {image.dtype} {image.shape}")


def quantise(image: np.ndarray, bits: int) -> np.ndarray:
    """(H, W, 3) float in [0, 1] (clipped) -> uint8 or uint16, round to nearest."""
    check_image(image)
    if bits not in (8, 16):
        raise ParameterError(f"bit depth must be 8 or 16, got {bits}")
    peak = 255 if bits == 8 else 65535
    values = np.clip(image, 0.0, 1.0) * peak + 0.5
    return values.astype(np.uint8 if bits == 8 else np.uint16)


def orient(image: np.ndarray, flip: int) -> np.ndarray:
    """Apply LibRaw's orientation flag: 3 = 180 deg, 5 = 90 deg counter-clockwise, 6 = clockwise."""
    if flip == 3:
        return image[::-1, ::-1]
    if flip == 5:
        return np.rot90(image, 1)
    if flip == 6:
        return np.rot90(image, -1)
    return image


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))
        + kind
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)
    )


def encode_png(pixels: np.ndarray, exif: bytes | None = None, compression_level: int = 6) -> bytes:
    """(H, W, 3) uint8/uint16 -> PNG bytes (colour type 2, 'Up' filter on every row)."""
    if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype not in (np.uint8, np.uint16):
        raise ShapeError(
            f"PNG pixels must be (H, W, 3) uint8/uint16, got {pixels.dtype} {pixels.shape}"
        )
    height, width, _ = pixels.shape
    bit_depth = 8 if pixels.dtype == np.uint8 else 16
    rows = np.ascontiguousarray(pixels.astype(pixels.dtype.newbyteorder(">"), copy=False))
    row_bytes = rows.view(np.uint8).reshape(height, -1)
    # 'Up' filter: each row minus the one above, modulo 256; compresses photos well and is cheap.
    filtered = row_bytes.copy()
    filtered[1:] -= row_bytes[:-1]
    scanlines = np.concatenate([np.full((height, 1), 2, dtype=np.uint8), filtered], axis=1)
    header = struct.pack(">IIBBBBB", width, height, bit_depth, 2, 0, 0, 0)
    chunks = [_png_chunk(b"IHDR", header)]
    if exif:
        chunks.append(_png_chunk(b"eXIf", exif))
    chunks.append(_png_chunk(b"IDAT", zlib.compress(scanlines.tobytes(), compression_level)))
    chunks.append(_png_chunk(b"IEND", b""))
    return b"\x89PNG\r\n\x1a\n" + b"".join(chunks)


def encode_jpeg(pixels: np.ndarray, quality: int = 92, exif: bytes | None = None) -> bytes:
    import imageio.v3 as iio

    if not 1 <= quality <= 100:
        raise ParameterError(f"JPEG quality must be 1..100, got {quality}")
    if pixels.dtype != np.uint8:
        raise ShapeError(f"JPEG pixels must be uint8, got {pixels.dtype}")
    extra = {"exif": exif} if exif else {}
    return iio.imwrite("<bytes>", pixels, extension=".jpg", quality=quality, **extra)


def encode(
    image: np.ndarray, image_format: ImageFormat, quality: int = 92, exif: bytes | None = None
) -> bytes:
    """Float sRGB image -> file bytes in the requested format."""
    if image_format == "jpg":
        return encode_jpeg(quantise(image, 8), quality, exif)
    return encode_png(quantise(image, 16 if image_format == "png16" else 8), exif)


def _output_error(path: Path, action: str, error: OSError) -> OutputError:
    """A full disk gets its own type: the batch stops early instead of failing every file."""
    kind = DiskFullError if error.errno in (errno.ENOSPC, errno.EDQUOT) else OutputError
    return kind(f"{path}: {action} ({error.strerror or error})")


def _link_exclusive(temporary: str, path: Path) -> None:
    """Give the complete file its final name only if the name is free, in one atomic step."""
    try:
        os.link(temporary, path)  # fails with FileExistsError if another run got there first
    except FileExistsError:
        raise
    except OSError as error:
        if error.errno not in NO_HARD_LINKS:
            raise
        # File systems without hard links (FAT, some network mounts): claim the name, then fill it.
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        os.replace(temporary, path)


def write_atomic(path: str | Path, payload: bytes, overwrite: bool = True) -> None:
    """Write to a temporary file in the target folder, fsync, then give it the target's name.

    A crash or interrupt at any point leaves either no file or the complete one. Without
    overwrite the final name is created exclusively, so of two runs racing for one name the
    loser gets OutputExistsError instead of silently replacing the winner's image.
    """
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise OutputError(f"{path}: output folder {directory} does not exist")
    try:
        handle, temporary = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".part")
    except OSError as error:
        raise _output_error(path, f"cannot write in {directory}", error) from error
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(payload)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o644)
        if overwrite:
            os.replace(temporary, path)
        else:
            _link_exclusive(temporary, path)
    except FileExistsError as error:
        raise OutputExistsError(
            f"{path}: output exists (use --overwrite to replace it or --skip-existing)"
        ) from error
    except OSError as error:
        raise _output_error(path, "write failed", error) from error
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def write_stream(stream: BinaryIO | None, payload: bytes, name: str = "<stdout>") -> None:
    """Write an image to a stream (standard output); a closed, full or broken pipe is an error."""
    if stream is None:
        raise OutputError(f"{name}: standard output is closed")
    try:
        # A buffered write returns a short count, not an error, when the reader left mid-way;
        # writing the rest is what raises BrokenPipeError.
        remaining = memoryview(payload)
        while remaining:
            written = stream.write(remaining)
            if not written:
                raise OSError(errno.EAGAIN, "the stream accepts no more bytes")
            remaining = remaining[written:]
        stream.flush()
    except OSError as error:
        # Point the stream's descriptor at /dev/null, so the interpreter's own flush at exit
        # does not fail a second time with a traceback ("Exception ignored ... BrokenPipeError").
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, stream.fileno())
            os.close(devnull)
        except (OSError, ValueError):
            pass
        if isinstance(error, BrokenPipeError):
            raise OutputError(
                f"{name}: broken pipe (the reader closed it before the whole image was written)"
            ) from error
        raise _output_error(Path(name), "write failed", error) from error


def decode_image(payload: bytes) -> np.ndarray:
    """Read PNG/JPEG bytes back as (H, W, 3) uint8/uint16 (Pillow reads 16-bit PNG as 8-bit)."""
    if payload.startswith(b"\x89PNG") and payload[24] == 16:
        from darkdev.pngread import read_png16

        return read_png16(payload)
    import imageio.v3 as iio

    return iio.imread(io.BytesIO(payload))


def exif_bytes(camera) -> bytes | None:
    """EXIF for the output: make, model, exposure, ISO, date; orientation 1 (pixels are rotated)."""
    from PIL import Image  # Pillow comes with imageio

    exif = Image.Exif()
    exif[0x0112] = 1  # Orientation: already applied to the pixels
    exif[0x0131] = "darkdev"  # Software
    if camera is None:
        return exif.tobytes()
    if camera.make:
        exif[0x010F] = camera.make
    if camera.model:
        exif[0x0110] = camera.model
    details = {}
    if camera.exposure_time_s:
        from fractions import Fraction

        from PIL.TiffImagePlugin import IFDRational

        fraction = Fraction(camera.exposure_time_s).limit_denominator(100000)
        details[0x829A] = IFDRational(fraction.numerator, fraction.denominator)
    if camera.iso:
        details[0x8827] = int(camera.iso)
    if camera.datetime_original:
        details[0x9003] = camera.datetime_original
        exif[0x0132] = camera.datetime_original
    if details:
        exif.get_ifd(0x8769).update(details)
    return exif.tobytes()
