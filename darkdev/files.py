"""Files: the one atomic writer every output, checkpoint and sheet goes through."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from darkdev.errors import OutputError


def write_atomic(path: str | Path, payload: bytes) -> None:
    """Write to a temporary file in the target folder, fsync, then rename over the target.

    A crash or interrupt at any point leaves either no file or the complete one.
    """
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise OutputError(f"{path}: output folder {directory} does not exist")
    try:
        handle, temporary = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".part")
    except OSError as error:
        raise OutputError(f"{path}: cannot write in {directory} ({error.strerror})") from error
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(payload)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except OSError as error:
        raise OutputError(f"{path}: write failed ({error.strerror or error})") from error
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
