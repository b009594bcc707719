"""Raw decoding with rawpy (LibRaw): levels, CFA layout, metadata, and LibRaw's own development.

numpy only; never imports torch.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import stat
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import rawpy

from darkdev.cfa import CfaLayout, detect_layout
from darkdev.errors import DarkdevError, RawDecodeError, UnsupportedSensorError

_RAW_EXTENSION_NAMES = (
    ".arw .srf .sr2 .raf .dng .nef .nrw .cr2 .cr3 .crw .orf .rw2 .pef .srw .x3f .3fr .erf .kdc "
    ".mrw .mef .mos .iiq .rwl"
)
RAW_EXTENSIONS = frozenset(_RAW_EXTENSION_NAMES.split())
MAX_PIXELS = 200_000_000  # larger than any production sensor; guards against absurd headers
# 1 GiB: above any real raw (200 MP at 16 bits is 400 MB); /dev/zero or a runaway pipe stops here.
MAX_INPUT_BYTES = 1 << 30


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
    """A decoded raw: the visible mosaic normalised to [0, 1] after per-channel black level."""

    source: str  # file name used in messages
    data: bytes = field(repr=False)  # the raw file, kept so LibRaw can develop it again
    mosaic: np.ndarray = field(repr=False)  # (H, W) float32 in [0, 1]
    colour_map: np.ndarray = field(repr=False)  # (H, W) LibRaw colour indices
    layout: CfaLayout
    black_level_per_channel: tuple[int, ...]
    white_level: int
    camera_whitebalance: tuple[float, float, float]  # R, G, B gains with G = 1
    flip: int  # LibRaw's orientation flag: 0 none, 3 180 deg, 5 90 ccw, 6 90 cw
    camera: CameraInfo

    @property
    def height(self) -> int:
        return int(self.mosaic.shape[0])

    @property
    def width(self) -> int:
        return int(self.mosaic.shape[1])


def _file_kind(mode: int) -> str:
    """What a non-regular file is, in words, for the refusal message."""
    kinds = (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISSOCK, "a socket"),
    )
    return next((name for test, name in kinds if test(mode)), "not a regular file")


def _gibibytes(size_bytes: int) -> str:
    return f"{size_bytes / (1 << 30):.3g} GiB"


def read_limited(stream: BinaryIO, source: str, limit_bytes: int = MAX_INPUT_BYTES) -> bytes:
    """Read a whole stream, refusing it once it passes limit_bytes (never reads without bound)."""
    data = stream.read(limit_bytes + 1)
    if data is None:  # a non-blocking stream with nothing to read yet
        raise RawDecodeError(f"{source}: nothing to read (a non-blocking stream)")
    if len(data) > limit_bytes:
        raise RawDecodeError(
            f"{source}: more than {_gibibytes(limit_bytes)}, darkdev's input size limit "
            "(no camera raw is that large)"
        )
    return data


def read_bytes(path: str | Path, limit_bytes: int = MAX_INPUT_BYTES) -> bytes:
    """Read a regular file fully (opened read-only, never modified), up to limit_bytes."""
    try:
        status = os.stat(path)
        if not stat.S_ISREG(status.st_mode):
            raise RawDecodeError(f"{path}: is {_file_kind(status.st_mode)}, not a raw file")
        if status.st_size > limit_bytes:
            raise RawDecodeError(
                f"{path}: {_gibibytes(status.st_size)} is over darkdev's input size limit of "
                f"{_gibibytes(limit_bytes)} (no camera raw is that large)"
            )
        # O_NONBLOCK: a path swapped for a FIFO after the check above must not hang the open.
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        with os.fdopen(descriptor, "rb") as stream:
            if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
                raise RawDecodeError(f"{path}: changed into a non-regular file while opened")
            return read_limited(stream, str(path), limit_bytes)
    except FileNotFoundError as error:
        raise RawDecodeError(f"{path}: no such file") from error
    except PermissionError as error:
        raise RawDecodeError(f"{path}: permission denied") from error
    except OSError as error:
        reason = "symlink loop" if error.errno == errno.ELOOP else error.strerror or error
        raise RawDecodeError(f"{path}: cannot read ({reason})") from error


def read_stream(
    stream: BinaryIO | None, source: str = "<stdin>", limit_bytes: int = MAX_INPUT_BYTES
) -> bytes:
    """Read a raw from a stream (standard input) with the same size limit as files."""
    if stream is None:
        raise RawDecodeError(f"{source}: standard input is closed")
    if stream.isatty():
        raise RawDecodeError(f"{source}: standard input is a terminal; pipe a raw file into it")
    try:
        return read_limited(stream, source, limit_bytes)
    except OSError as error:
        raise RawDecodeError(f"{source}: cannot read ({error.strerror or error})") from error


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


TIFF_SIGNATURES = (b"II*\x00", b"MM\x00*")
DNG_VERSION, MAKE, MODEL, PHOTOMETRIC, PHOTOMETRIC_CFA = 50706, 271, 272, 262, 32803
PHOTOMETRIC_LINEAR_RAW = 34892
# Names that promise a TIFF or a DNG: without DNGVersion and raw data they are editors' exports.
TIFF_OR_DNG_SUFFIXES = (".tif", ".tiff", ".dng")


@dataclass
class TiffFacts:
    """What a TIFF parser that handles tiled, compressed DNGs in either byte order (tifffile)
    says about a TIFF-based file; exifread misses tags in e.g. CinemaDNG files."""

    first_ifd: dict[int, object] = field(default_factory=dict)  # {tag code: value}
    truncated: bool = False  # a CFA image's data (tiles or strips) lies past the end of the file
    raw_data: bool = False  # some IFD or SubIFD holds CFA or linear raw data


def _tiff_facts(data: bytes) -> TiffFacts:
    if data[:4] not in TIFF_SIGNATURES:
        return TiffFacts()
    import logging

    import tifffile  # lazy: only TIFF-based raws need it

    quiet = logging.Filter("darkdev: a malformed TIFF is reported by darkdev itself")
    quiet.filter = lambda record: False  # type: ignore[method-assign]
    logger = logging.getLogger("tifffile")
    logger.addFilter(quiet)
    try:
        with tifffile.TiffFile(io.BytesIO(data)) as tiff:
            first = tiff.pages.first
            facts = TiffFacts({tag.code: tag.value for tag in first.tags.values()})
            pages = [first, *(first.pages or [])]
            for page in pages:
                if page.photometric == PHOTOMETRIC_CFA:
                    pairs = zip(page.dataoffsets, page.databytecounts, strict=False)
                    ends = [offset + count for offset, count in pairs]
                    facts.truncated |= not ends or max(ends) > len(data)
            with contextlib.suppress(Exception):  # a damaged later IFD: the first one decided
                pages += list(tiff.pages)[1:]
            raw_photometrics = (PHOTOMETRIC_CFA, PHOTOMETRIC_LINEAR_RAW)
            facts.raw_data = any(
                getattr(page, "photometric", None) in raw_photometrics for page in pages
            )
            return facts
    except Exception:  # tifffile raises many types on odd files; LibRaw has the last word
        return TiffFacts()
    finally:
        logger.removeFilter(quiet)


def _names_a_camera(first_ifd: dict[int, object]) -> bool:
    """The first IFD says DNG, names a maker, or holds CFA data."""
    return (
        DNG_VERSION in first_ifd
        or bool(str(first_ifd.get(MAKE, "")).strip())
        or first_ifd.get(PHOTOMETRIC) == PHOTOMETRIC_CFA
    )


def _is_camera_raw(raw: rawpy.RawPy, first_ifd: dict[int, object]) -> bool:
    """LibRaw reads any TIFF as a headerless raw; a camera raw is one where LibRaw found the
    camera's colour matrix (it knows the camera, or read a DNG ColorMatrix) or whose tags name
    a camera."""
    return bool(np.any(np.asarray(raw.rgb_xyz_matrix)[:3])) or _names_a_camera(first_ifd)


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
    tiff = _tiff_facts(data)
    first_ifd = tiff.first_ifd
    if tiff.truncated:
        raise RawDecodeError(f"{source}: corrupt or truncated raw (image data past end of file)")
    plain_tiff = RawDecodeError(
        f"{source}: a plain TIFF image (no DNG version, maker, CFA data or camera colour "
        "matrix), not a camera raw"
    )
    if (
        first_ifd
        and Path(source).suffix.lower() in TIFF_OR_DNG_SUFFIXES
        and DNG_VERSION not in first_ifd
        and not tiff.raw_data
    ):
        # LibRaw reads a greyscale TIFF whose Make names a camera (an editor's export) as a raw.
        raise RawDecodeError(
            f"{source}: a plain TIFF image (no DNG version or CFA data), not a camera raw"
        )
    try:
        with open_libraw(data, source) as raw:
            if data[:4] in TIFF_SIGNATURES and not _is_camera_raw(raw, first_ifd):
                raise plain_tiff
            return _frame(raw, data, source, first_ifd)
    except DarkdevError as error:
        # A readable TIFF that names no camera is a plain image, whatever LibRaw made of it.
        if error is plain_tiff or not first_ifd or _names_a_camera(first_ifd):
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
    np.clip(mosaic, 0.0, 1.0, out=mosaic)
    gains = [float(v) for v in raw.camera_whitebalance[:3]]
    if not all(np.isfinite(gains)) or gains[1] <= 0 or min(gains) <= 0:
        gains = [1.0, 1.0, 1.0]  # no usable as-shot white balance in the file
    whitebalance = (gains[0] / gains[1], 1.0, gains[2] / gains[1])
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

    amplified_mosaic: optional (H, W) normalised mosaic in [0, 1] replacing the file's data
    (e.g. after RIMEF). Returns (H, W, 3) float32 sRGB in [0, 1], oriented as LibRaw orients it.
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
        image = raw.postprocess(
            use_camera_wb=True,
            no_auto_bright=True,
            output_bps=16,
            demosaic_algorithm=algorithm,
            half_size=half_size,
            user_flip=0,
        )
    return image.astype(np.float32) / 65535.0


def visible_dn(frame: RawFrame) -> np.ndarray:
    """The visible mosaic in raw digital numbers: (H, W) uint16, black not subtracted, unclipped.

    Decodes frame.data again: RawFrame keeps only the normalised mosaic, clipped at black, which
    hides what dark-frame work needs (values below the black level).
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
