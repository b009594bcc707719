"""Reading inputs safely: raw files and standard input, whole, up to a size limit.

read_bytes takes regular files only (a directory, device, FIFO or socket is refused, saying
which; a symlink loop says so), opens them read-only and non-blocking (a path swapped for a FIFO
after the check cannot hang the open); read_stream refuses a closed or terminal stdin. No read
goes past MAX_INPUT_BYTES. Every failure is a RawDecodeError. Standard library only.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO

from darkdev.errors import RawDecodeError

# 1 GiB: above any real raw (200 MP at 16 bits is 400 MB); /dev/zero or a runaway pipe stops here.
MAX_INPUT_BYTES = 1 << 30


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
