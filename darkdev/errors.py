"""Exception types: the CLI maps each to one line and an exit code."""

import argparse


class DarkdevError(Exception):
    """Base class of every error darkdev reports to the user."""


class RawDecodeError(DarkdevError):
    """The file is not a raw LibRaw can decode (corrupt, truncated, not a raw at all)."""


class UnsupportedSensorError(DarkdevError):
    """The raw decodes but its sensor layout is not one darkdev can pack (Foveon, mono, linear)."""


class ParameterError(DarkdevError, ValueError):
    """A user-supplied parameter is out of its valid range."""


class ShapeError(DarkdevError, ValueError):
    """A tensor or array has the wrong shape, dtype or value range."""


class WeightsError(DarkdevError):
    """A checkpoint is missing, corrupt, tampered with, or does not match its manifest."""


class OutputError(DarkdevError):
    """The output cannot be written (unwritable folder, would overwrite an input, disk full)."""


class CalibrationError(DarkdevError):
    """Calibration frames that cannot give a camera profile (wrong camera, not dark, clipped)."""


class OutputExistsError(OutputError):
    """The output name is taken (found at the final, exclusive link: another run may have won)."""


class DiskFullError(OutputError):
    """No space (or quota) left for the output: every later file would fail the same way."""


class NetworkOutputError(DarkdevError):
    """The network produced NaN or infinite values."""


class NoRawFilesError(DarkdevError):
    """The inputs name no raw file at all (empty folders, no raw extension)."""


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad option as a ParameterError (one line, exit 2), as every other
    darkdev refusal, instead of printing its usage and exiting."""

    def error(self, message: str):
        raise ParameterError(f"{self.prog.removeprefix('darkdev ')}: {message}")
