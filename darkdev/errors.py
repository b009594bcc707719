"""Exception types: the CLI maps each to one line and an exit code."""


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
