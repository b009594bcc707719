"""Raw decoding with rawpy (LibRaw): levels, CFA layout, metadata, and LibRaw's own development.

Files are read through darkdev.inputs (regular files only, size limit); TIFF-based files are
identified by darkdev.tiff_raw before LibRaw sees them. numpy only; never imports torch.
"""

from __future__ import annotations

import io
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rawpy

from darkdev.cfa import CfaLayout, detect_layout
from darkdev.errors import DarkdevError, RawDecodeError, UnsupportedSensorError
from darkdev.inputs import read_bytes
from darkdev.tiff_raw import (
    DNG_VERSION,
    MAKE,
    MODEL,
    TIFF_OR_DNG_SUFFIXES,
    TIFF_SIGNATURES,
    is_camera_raw,
    names_a_camera,
    tiff_facts,
)
from darkdev.white_balance import (
    WhiteBalanceSource,
    choose_white_balance,
    clip_level,
    usable_gains,
)

_RAW_EXTENSION_NAMES = (
    ".arw .srf .sr2 .raf .dng .nef .nrw .cr2 .cr3 .crw .orf .rw2 .pef .srw .x3f .3fr .erf .kdc "
    ".mrw .mef .mos .iiq .rwl"
)
RAW_EXTENSIONS = frozenset(_RAW_EXTENSION_NAMES.split())
MAX_PIXELS = 200_000_000  # larger than any production sensor; guards against absurd headers


@dataclass
class CameraInfo:
    make: str = ""
    model: str = ""
    lens: str = ""
    exposure_time_s: float | None = None
    iso: int | None = None
    f_number: float | None = None
    datetime_original: str = ""


@dataclass
class RawFrame:
    """A decoded raw: the visible mosaic normalised after per-channel black level, 1 at white.

    Values below black stay negative (read noise around black; a dark frame's offset): a network
    trained on them sees them, every other reader clips at zero as LibRaw does.
    """

    source: str  # file name used in messages
    data: bytes = field(repr=False)  # the raw file, kept so LibRaw can develop it again
    mosaic: np.ndarray = field(repr=False)  # (H, W) float32, <= 1, negative below black
    colour_map: np.ndarray = field(repr=False)  # (H, W) LibRaw colour indices
    layout: CfaLayout
    black_level_per_channel: tuple[int, ...]
    white_level: int
    camera_whitebalance: tuple[float, float, float]  # R, G, B gains with G = 1
    white_balance_source: WhiteBalanceSource  # where camera_whitebalance came from
    daylight_whitebalance: tuple[float, float, float] | None  # the camera's, from its matrix
    flip: int  # LibRaw's orientation flag: 0 none, 3 180 deg, 5 90 ccw, 6 90 cw
    camera: CameraInfo

    @property
    def height(self) -> int:
        return int(self.mosaic.shape[0])

    @property
    def width(self) -> int:
        return int(self.mosaic.shape[1])


_silence_lock = threading.Lock()
_silence_depth = 0
_saved_stderr_fd: int | None = None


@contextmanager
def libraw_messages_silenced() -> Iterator[None]:
    """Point fd 2 at /dev/null while LibRaw runs: it prints 'Unexpected end of file' itself.

    Our own reports go through a duplicate of fd 2 (see darkdev.cli), so they are not affected.
    """
    global _silence_depth, _saved_stderr_fd
    if os.environ.get("DARKDEV_LIBRAW_MESSAGES"):
        yield
        return
    with _silence_lock:
        if _silence_depth == 0:
            if sys.stderr is not None:  # None when started without a stderr
                sys.stderr.flush()
            _saved_stderr_fd = os.dup(2)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 2)
            os.close(devnull)
        _silence_depth += 1
    try:
        yield
    finally:
        with _silence_lock:
            _silence_depth -= 1
            if _silence_depth == 0 and _saved_stderr_fd is not None:
                os.dup2(_saved_stderr_fd, 2)
                os.close(_saved_stderr_fd)
                _saved_stderr_fd = None


@contextmanager
def open_libraw(data: bytes, source: str) -> Iterator[rawpy.RawPy]:
    """Open raw bytes with LibRaw, turning every LibRaw failure into RawDecodeError."""
    if len(data) == 0:
        raise RawDecodeError(f"{source}: empty file")
    with libraw_messages_silenced(), _open_libraw(data, source) as raw:
        yield raw


def _libraw_reason(error: Exception) -> str:
    """LibRaw's message as plain text (rawpy passes it as bytes)."""
    reason = error.args[0] if error.args else error
    if isinstance(reason, bytes):
        reason = reason.decode(errors="replace")
    return str(reason).strip().lower() or type(error).__name__


@contextmanager
def _open_libraw(data: bytes, source: str) -> Iterator[rawpy.RawPy]:
    try:
        raw = rawpy.imread(io.BytesIO(data))
    except rawpy.LibRawFileUnsupportedError as error:
        raise RawDecodeError(f"{source}: not a raw file LibRaw can read") from error
    except (rawpy.LibRawError, OSError, ValueError) as error:
        raise RawDecodeError(
            f"{source}: corrupt or truncated raw ({_libraw_reason(error)})"
        ) from error
    try:
        yield raw
    except NotImplementedError as error:  # rawpy: a CFA layout it cannot describe
        raise UnsupportedSensorError(f"{source}: unsupported sensor layout ({error})") from error
    except (rawpy.LibRawError, OSError) as error:
        raise RawDecodeError(
            f"{source}: corrupt or truncated raw ({_libraw_reason(error)})"
        ) from error
    finally:
        raw.close()


def _read_tags(data: bytes) -> dict:
    import exifread  # lazy: only needed once per file

    try:
        return exifread.process_file(io.BytesIO(data), details=False, debug=False)
    except Exception:  # exifread raises many types on odd files; metadata is optional
        return {}


def _camera_info(tags: dict, first_ifd: dict[int, object], libraw_other) -> CameraInfo:
    """Camera facts from exifread, else from the TIFF's first IFD and what LibRaw read."""

    def tag(*names: str) -> str:
        for name in names:
            if name in tags:
                return str(tags[name]).strip()
        return ""

    def number(*names: str) -> float | None:
        for name in names:
            if name in tags:
                values = getattr(tags[name], "values", None)
                try:
                    value: Any = values[0] if isinstance(values, list) and values else values
                    number_value = float(value)  # exifread's Ratio supports float()
                    return number_value if number_value > 0 else None  # 0 means "not recorded"
                except (TypeError, ValueError, ZeroDivisionError):
                    continue
        return None

    def libraw(value: float) -> float | None:
        return float(value) if np.isfinite(value) and value > 0 else None

    iso = number("EXIF ISOSpeedRatings", "Image ISOSpeedRatings", "EXIF PhotographicSensitivity")
    iso = iso or libraw(libraw_other.iso_speed)
    exposure = number("EXIF ExposureTime", "Image ExposureTime")
    return CameraInfo(
        make=tag("Image Make") or str(first_ifd.get(MAKE, "")).strip(),
        model=tag("Image Model") or str(first_ifd.get(MODEL, "")).strip(),
        lens=tag("EXIF LensModel", "MakerNote LensModel"),
        exposure_time_s=exposure or libraw(libraw_other.shutter_speed),
        iso=int(iso) if iso else None,
        f_number=number("EXIF FNumber", "Image FNumber"),
        datetime_original=tag("EXIF DateTimeOriginal", "Image DateTime"),
    )


IMAGE_SIGNATURES = {
    b"\xff\xd8\xff": "a JPEG image",
    b"\x89PNG": "a PNG image",
    b"GIF8": "a GIF image",
    b"RIFF": "a RIFF (WebP/AVI) file",
    b"%PDF": "a PDF document",
}


def _not_a_raw(data: bytes) -> str | None:
    """Name common non-raw formats, so the message says what the file really is."""
    for signature, description in IMAGE_SIGNATURES.items():
        if data.startswith(signature):
            return description
    if data[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftypavif"):
        return "a HEIF/AVIF image"
    return None


def decode(data: bytes, source: str) -> RawFrame:
    """Decode raw bytes into a normalised visible mosaic with its CFA layout and metadata."""
    actual = _not_a_raw(data)
    if actual is not None:
        raise RawDecodeError(f"{source}: {actual}, not a camera raw")
    tiff = tiff_facts(data)
    first_ifd = tiff.first_ifd
    if tiff.truncated:
        raise RawDecodeError(f"{source}: corrupt or truncated raw (image data past end of file)")
    plain_tiff = RawDecodeError(
        f"{source}: a plain TIFF image (no DNG version or CFA data), not a camera raw"
    )
    if (
        first_ifd
        and Path(source).suffix.lower() in TIFF_OR_DNG_SUFFIXES
        and DNG_VERSION not in first_ifd
        and not tiff.raw_data
    ):
        # LibRaw reads a greyscale TIFF whose Make names a camera (an editor's export) as a raw.
        raise plain_tiff
    try:
        with open_libraw(data, source) as raw:
            if data[:4] in TIFF_SIGNATURES and not is_camera_raw(raw, first_ifd):
                raise plain_tiff
            return _frame(raw, data, source, first_ifd)
    except DarkdevError as error:
        # A readable TIFF that names no camera is a plain image, whatever LibRaw made of it.
        if error is plain_tiff or not first_ifd or names_a_camera(first_ifd):
            raise
        raise plain_tiff from error


def _frame(raw: rawpy.RawPy, data: bytes, source: str, first_ifd: dict[int, object]) -> RawFrame:
    """The RawFrame of an opened camera raw."""
    if raw.raw_type != rawpy.RawType.Flat or raw.raw_pattern is None:
        raise UnsupportedSensorError(
            f"{source}: not a colour filter array raw (Foveon, linear DNG or already "
            "demosaiced data); darkdev packs Bayer and X-Trans sensors only"
        )
    if raw.num_colors < 3:
        raise UnsupportedSensorError(f"{source}: monochrome sensor is not supported")
    sizes = raw.sizes
    if sizes.height * sizes.width > MAX_PIXELS or min(sizes.height, sizes.width) < 16:
        raise RawDecodeError(f"{source}: implausible image size {sizes.width}x{sizes.height}")
    visible = raw.raw_image_visible
    if visible.shape != (sizes.height, sizes.width):
        raise RawDecodeError(f"{source}: raw data is smaller than its header says")
    colour_map = np.array(raw.raw_colors_visible, dtype=np.uint8)
    try:
        layout = detect_layout(colour_map)
    except UnsupportedSensorError as error:
        raise UnsupportedSensorError(f"{source}: {error}") from error
    black_levels = tuple(int(v) for v in raw.black_level_per_channel)
    white_level = int(raw.white_level)
    if white_level <= max(black_levels):
        raise RawDecodeError(
            f"{source}: white level {white_level} is not above black level {max(black_levels)}"
        )
    black_map = np.asarray(black_levels, dtype=np.float32)[colour_map]
    mosaic = (visible.astype(np.float32) - black_map) / (white_level - black_map)
    np.minimum(mosaic, 1.0, out=mosaic)  # below black is kept: see RawFrame
    whitebalance, whitebalance_source = choose_white_balance(
        raw.camera_whitebalance,
        raw.daylight_whitebalance,
        mosaic,
        colour_map,
        clip_level(white_level, black_levels),
    )
    flip = int(sizes.flip)
    camera = _camera_info(_read_tags(data), first_ifd, raw.other)
    return RawFrame(
        source=source,
        data=data,
        mosaic=mosaic,
        colour_map=colour_map,
        layout=layout,
        black_level_per_channel=black_levels,
        white_level=white_level,
        camera_whitebalance=whitebalance,
        white_balance_source=whitebalance_source,
        daylight_whitebalance=usable_gains(raw.daylight_whitebalance),
        flip=flip,
        camera=camera,
    )


def read_raw(path: str | Path) -> RawFrame:
    """Read and decode a raw file from disk."""
    return decode(read_bytes(path), str(path))


def develop_with_libraw(
    frame: RawFrame, amplified_mosaic: np.ndarray | None = None, half_size: bool = False
) -> np.ndarray:
    """LibRaw's own pipeline (AHD demosaic, camera white balance, sRGB), as SID develops targets.

    amplified_mosaic: optional (H, W) normalised mosaic (<= 1; clipped at 0 here, as LibRaw reads
    raw values) replacing the file's data (e.g. after RIMEF). Returns (H, W, 3) float32 sRGB in
    [0, 1], oriented as LibRaw orients it.
    """
    with open_libraw(frame.data, frame.source) as raw:
        if amplified_mosaic is not None:
            if amplified_mosaic.shape != (frame.height, frame.width):
                raise ValueError(
                    f"amplified mosaic shape {amplified_mosaic.shape} != visible "
                    f"{(frame.height, frame.width)}"
                )
            black_map = np.asarray(frame.black_level_per_channel, dtype=np.float32)[
                frame.colour_map
            ]
            values = black_map + np.clip(amplified_mosaic, 0, 1) * (frame.white_level - black_map)
            raw.raw_image_visible[:] = np.round(values).astype(np.uint16)
        # X-Trans: LibRaw's default 3-pass demosaic needs both sides >= 512 px; LINEAR works below.
        small = min(frame.height, frame.width) < 512
        algorithm = rawpy.DemosaicAlgorithm.LINEAR if small and not half_size else None
        # The file's own white balance through LibRaw's rule; any other gains given explicitly.
        as_shot = frame.white_balance_source == "as shot"
        red, _, blue = frame.camera_whitebalance
        image = raw.postprocess(
            use_camera_wb=as_shot,
            user_wb=None if as_shot else [red, 1.0, blue, 1.0],
            no_auto_bright=True,
            output_bps=16,
            demosaic_algorithm=algorithm,
            half_size=half_size,
            user_flip=0,
        )
    return image.astype(np.float32) / 65535.0


def visible_dn(frame: RawFrame) -> np.ndarray:
    """The visible mosaic in raw digital numbers: (H, W) uint16, black not subtracted, unclipped.

    Decodes frame.data again: RawFrame keeps only the normalised mosaic, clipped at white, which
    hides what dark-frame work needs (the raw values themselves).
    """
    with open_libraw(frame.data, frame.source) as raw:
        return np.array(raw.raw_image_visible, dtype=np.uint16)  # a copy: LibRaw frees its buffer


def libraw_colour_matrices(frame: RawFrame) -> dict[str, list[list[float]]]:
    """The camera's colour matrices as LibRaw reports them (rawpy names).

    rgb_xyz_matrix: (4, 3) XYZ -> camera (LibRaw cam_xyz); color_matrix: (3, 4) camera -> sRGB.
    """
    with open_libraw(frame.data, frame.source) as raw:
        return {
            "rgb_xyz_matrix": np.asarray(raw.rgb_xyz_matrix, dtype=np.float64).tolist(),
            "color_matrix": np.asarray(raw.color_matrix, dtype=np.float64).tolist(),
        }
