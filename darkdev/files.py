"""Files and streams: the one atomic writer every output, checkpoint and sheet goes through,
and the writer of images to standard output."""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from darkdev.errors import DiskFullError, OutputError, OutputExistsError

# errno values meaning "this file system has no hard links"
NO_HARD_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS, errno.EMLINK}


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


def _write_temporary(path: Path, payload: bytes) -> str:
    """The payload in a new file beside path (same folder, so a rename is atomic), fsynced;
    returns its name. The caller gives it its final name or removes it."""
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
    except OSError as error:
        os.unlink(temporary)
        raise _output_error(path, "write failed", error) from error
    return temporary


def write_atomic(path: str | Path, payload: bytes, overwrite: bool = True) -> None:
    """Write to a temporary file in the target folder, fsync, then give it the target's name.

    A crash or interrupt at any point leaves either no file or the complete one. Without
    overwrite the final name is created exclusively, so of two runs racing for one name the
    loser gets OutputExistsError instead of silently replacing the winner's image.
    """
    path = Path(path)
    temporary = _write_temporary(path, payload)
    try:
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


@contextlib.contextmanager
def staged_file(path: str | Path, payload: bytes) -> Iterator[Path]:
    """The payload written (and fsynced) beside `path` under a temporary name, which the block
    can check and use; a clean exit from the block gives it path's name in one atomic step
    (replacing any file there), an error removes it. So a file that must pass checks before it
    takes its name (published weights) is never seen half-written or unchecked."""
    path = Path(path)
    temporary = Path(_write_temporary(path, payload))
    try:
        yield temporary
        try:
            os.replace(temporary, path)
        except OSError as error:
            raise _output_error(path, "write failed", error) from error
    finally:
        if temporary.exists():
            temporary.unlink()


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
