"""The command line's closed sets of values as Enums: --help lists them, a typo is a usage error
(exit 2) naming the valid ones. Plain str Enums, no torch: `darkdev --help` stays instant."""

from __future__ import annotations

from enum import Enum

AUTO, CLASSICAL = "auto", "classical"


class Device(str, Enum):
    """inference.DEVICES"""

    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"
    mps = "mps"


class Precision(str, Enum):
    """inference.PRECISIONS"""

    auto = "auto"
    full = "full"
    half = "half"


class ColourMode(str, Enum):
    """develop.COLOUR_MODES"""

    auto = "auto"
    guided = "guided"
    network = "network"


class OutputFormat(str, Enum):
    """render.EXTENSION_BY_FORMAT"""

    png = "png"
    png16 = "png16"
    jpg = "jpg"
    tiff16 = "tiff16"


def model_names() -> list[str]:
    """auto, classical, then every bundled checkpoint's architecture and file stem."""
    from pathlib import Path

    from darkdev.errors import DarkdevError
    from darkdev.manifest import read_manifest

    names = [AUTO, CLASSICAL]
    try:
        entries = read_manifest()
    except DarkdevError:  # `darkdev models` reports an unreadable manifest
        entries = []
    for entry in entries:
        for name in (entry.architecture, Path(entry.file).stem):
            if name not in names:
                names.append(name)
    return names


# Built from the installed manifest when the command line starts.
ModelName = Enum("ModelName", {name: name for name in model_names()}, type=str)  # type: ignore[misc]
