"""Helpers for the hostile-IO tests: darkdev with standard streams of a test's choosing, and the
one error line it must print."""

import subprocess
import sys
from pathlib import Path

EXECUTABLE = str(Path(sys.executable).parent / "darkdev")


def run(*args, stdin=None, stdout=subprocess.PIPE, timeout=120):
    """darkdev with standard streams of the test's choosing (a file, /dev/full, a pipe)."""
    return subprocess.run(
        [EXECUTABLE, *map(str, args)],
        stdin=stdin,
        stdout=stdout,
        stderr=subprocess.PIPE,
        timeout=timeout,
    )


def one_error_line(stderr: bytes) -> str:
    text = stderr.decode(errors="replace")
    assert "Traceback" not in text and "Exception ignored" not in text, text
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    return lines[0]
