"""The manifest of bundled checkpoints, and what is chosen from it without loading any.

The manifest (darkdev/checkpoints/manifest.json, or $DARKDEV_WEIGHTS_DIR's) records, for each
bundled file, its sha256, how it was trained, its validation scores and measured speed. From it:
the checkpoint --model auto picks per CFA kind and device, the names --model accepts, and the
`darkdev models` catalogue. Loading the files themselves is darkdev.weights. No torch:
darkdev.choices reads the manifest when the command line starts.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from darkdev.errors import ParameterError, WeightsError
from darkdev.files import write_atomic

WEIGHTS_DIR = Path(__file__).resolve().parent / "checkpoints"
MANIFEST_NAME = "manifest.json"
WEIGHTS_DIR_VARIABLE = "DARKDEV_WEIGHTS_DIR"


@dataclass
class CheckpointEntry:
    file: str
    sha256: str
    architecture: str
    arguments: dict[str, Any]
    cfa_kind: str
    default: bool = False
    size_bytes: int = 0
    training: dict[str, Any] = field(default_factory=dict)
    validation: dict[str, Any] = field(default_factory=dict)
    # The colour mode `--colour auto` uses (guided: chroma from LibRaw; network: its own), the
    # one that measured better on validation; guided for checkpoints that never measured it.
    colour: str = "guided"
    # Measured speed, e.g. {"cpu_2_cores_12mp_s": 14.3}: develop end to end, 12 MP, 2 CPU cores.
    speed: dict[str, Any] = field(default_factory=dict)

    @property
    def quality_db(self) -> float:
        """Mean PSNR over both validation splits (all ISO, high ISO) of the current validation
        sets; -inf for entries scored on older sets, which are not comparable."""
        value = self.validation.get("quality_psnr")
        return float(value) if value is not None else float("-inf")


def weights_dir() -> Path:
    """Bundled weights: $DARKDEV_WEIGHTS_DIR, else the package's checkpoints/ folder.

    A variable that is set must name a folder holding a manifest: a typo must not quietly turn
    every development into the classical pipeline.
    """
    configured = os.environ.get(WEIGHTS_DIR_VARIABLE)
    if configured is None:
        return WEIGHTS_DIR
    directory = Path(configured)
    if not configured:
        problem = "is set but empty (unset it to use the bundled weights)"
    elif not directory.exists():
        problem = "names no existing folder"
    elif not directory.is_dir():
        problem = "names a file, not a folder"
    elif not (directory / MANIFEST_NAME).is_file():
        problem = f"names a folder without {MANIFEST_NAME}"
    else:
        return directory
    raise WeightsError(f"{WEIGHTS_DIR_VARIABLE}={configured!r} {problem}")


def read_manifest(directory: Path | None = None) -> list[CheckpointEntry]:
    directory = directory or weights_dir()
    path = directory / MANIFEST_NAME
    if not path.exists():
        return []
    try:
        document = json.loads(path.read_text())
        entries = [CheckpointEntry(**entry) for entry in document.get("checkpoints", [])]
    except (json.JSONDecodeError, TypeError, AttributeError) as error:
        raise WeightsError(f"{path}: unreadable manifest ({error})") from error
    for entry in entries:
        # A manifest names files in its own folder; '../../etc/x' or '/x' would read elsewhere.
        name = PurePosixPath(str(entry.file))
        if not str(entry.file) or name.is_absolute() or ".." in name.parts or "\\" in entry.file:
            raise WeightsError(
                f"{path}: checkpoint path {entry.file!r} leaves the weights folder; refused"
            )
    return entries


def write_manifest(entries: list[CheckpointEntry], directory: Path | None = None) -> None:
    """Replace the manifest atomically: a reader sees the old one or the new one, never part."""
    directory = directory or weights_dir()
    document = {"checkpoints": [entry.__dict__ for entry in entries]}
    write_atomic(directory / MANIFEST_NAME, (json.dumps(document, indent=2) + "\n").encode())


CPU_SECONDS_TARGET = 20.0  # 12 MP end to end on 2 CPU cores: what --model auto accepts on a CPU


def default_entry(
    cfa_kind: str, directory: Path | None = None, device_type: str = "cpu"
) -> CheckpointEntry | None:
    """What --model auto develops a CFA kind with on a device, or None when nothing is bundled.

    The best-quality checkpoint (CheckpointEntry.quality_db), on a CPU only among those whose
    measured 12 MP time meets CPU_SECONDS_TARGET; the manifest's `default` flag breaks ties
    and decides among checkpoints without comparable scores.
    """
    candidates = [e for e in read_manifest(directory) if e.cfa_kind == cfa_kind]
    if device_type == "cpu":
        fast = [
            e
            for e in candidates
            if e.speed.get("cpu_2_cores_12mp_s", float("inf")) <= CPU_SECONDS_TARGET
        ]
        candidates = fast or candidates  # unmeasured checkpoints still beat the classical path
    if not candidates:
        return None
    return max(candidates, key=lambda e: (e.quality_db, e.default))


def entry_names(entry: CheckpointEntry) -> tuple[str, ...]:
    """The names --model accepts for a checkpoint (matched without regard to case)."""
    return (Path(entry.file).stem, entry.file, entry.architecture)


CATALOGUE_COLUMNS = (
    "name (--model)",
    "network",
    "all ISO",
    "high ISO",
    "detail",
    "2 views",
    "12 MP",
)
# The colour_modes key of the network's own colour through develop's views on a bfloat16 CPU
# (ensemble.HALF_CPU_ENSEMBLE_SIZE of them; publish_scores writes it).
VIEWS_MODE = "network_2_views"
CATALOGUE_NOTE = (
    "all ISO, high ISO: PSNR dB / SSIM on synthetic validation crops of held-out photos, in "
    "the checkpoint's --colour auto mode, one view ('-': scored on older sets, see the "
    "manifest); detail: the same on dead leaves at high ISO, where smeared fine detail shows "
    "('-': not scored); 2 views: high ISO with 2 views averaged, as develop does on a CPU "
    "that computes bfloat16 (network colour; '-': not scored). 12 MP: "
    "seconds to develop a 12 MP raw on 2 CPU cores with develop's defaults. "
    "--model takes the name or the "
    "architecture (any case; the architecture picks the checkpoint for the raw's sensor, "
    "the default one where widths share it). "
    "auto picks per device the best-scoring checkpoint, on a CPU one that develops 12 MP in "
    f"{CPU_SECONDS_TARGET:g} s or less."
)
# Numbers are never wrapped: a terminal too narrow for them wraps the network column instead.
CATALOGUE_NUMBER_COLUMNS = frozenset(CATALOGUE_COLUMNS[2:])


def _score(scores: dict[str, Any], suffix: str) -> str:
    if f"psnr{suffix}" not in scores:
        return "-"
    return f"{scores[f'psnr{suffix}']:.2f}/{scores[f'ssim{suffix}']:.3f}"


def _views_score(entry: CheckpointEntry) -> str:
    """High ISO with develop's CPU views, where that is what develop gives (network colour)."""
    views = entry.validation.get("colour_modes", {}).get(VIEWS_MODE, {}).get("high_iso")
    if views is None or entry.colour != "network":
        return "-"
    return f"{views[0]:.2f}/{views[1]:.3f}"


def catalogue_row(entry: CheckpointEntry, auto_on: str = "") -> tuple[str, ...]:
    """One row of `darkdev models`, in CATALOGUE_COLUMNS order; auto_on: the devices on which
    --model auto picks it."""
    scores = entry.validation
    arguments = ", ".join(f"{key} {value}" for key, value in sorted(entry.arguments.items()))
    architecture = f"{entry.architecture} ({arguments})" if arguments else entry.architecture
    network = f"{architecture}, {entry.cfa_kind}, {entry.colour} colour"
    if entry.training.get("white_balance_input"):
        network += ", white-balanced input (follows --white-balance)"
    if entry.training.get("below_black_input"):
        network += ", input kept below black"
    if auto_on:
        network += f"; auto on {auto_on}"
    seconds = entry.speed.get("cpu_2_cores_12mp_s")
    return (
        Path(entry.file).stem,
        network,
        _score(scores, "") if "quality_psnr" in scores else "-",
        _score(scores, "_high_iso"),
        _score(scores, "_detail"),
        _views_score(entry),
        "-" if seconds is None else f"{seconds:.1f} s",
    )


def auto_devices(entry: CheckpointEntry, directory: Path | None = None) -> str:
    """'CPU, GPU', 'GPU', ... : where --model auto develops this checkpoint's sensor with it."""
    picked = [
        label
        for label, device in (("CPU", "cpu"), ("GPU", "cuda"))
        if (chosen := default_entry(entry.cfa_kind, directory, device)) is not None
        and chosen.file == entry.file
    ]
    return ", ".join(picked)


def find_entry(name: str, cfa_kind: str, directory: Path | None = None) -> CheckpointEntry | None:
    """A bundled checkpoint by architecture name or file name (any case), for a CFA kind. Where
    widths share an architecture name, the default of the kind, else the latest published."""
    wanted = name.lower()
    matches = [
        entry
        for entry in read_manifest(directory)
        if entry.cfa_kind == cfa_kind and wanted in (n.lower() for n in entry_names(entry))
    ]
    return next((entry for entry in matches if entry.default), matches[-1] if matches else None)


def check_model_name(name: str, special: tuple[str, ...], directory: Path | None = None) -> None:
    """Refuse a --model that names nothing, before any raw is read or network loaded."""
    entries = read_manifest(directory)
    if name.lower() in special:
        return
    if any(name.lower() in (n.lower() for n in entry_names(e)) for e in entries):
        return
    known = list(special) + sorted({n for e in entries for n in entry_names(e)[::2]})
    raise ParameterError(f"unknown --model {name!r}; choose one of: {', '.join(known)}")


def require_entry(name: str, cfa_kind: str, directory: Path | None = None) -> CheckpointEntry:
    """find_entry, or an error saying which sensor the named checkpoint is for."""
    entry = find_entry(name, cfa_kind, directory)
    if entry is not None:
        return entry
    entries = read_manifest(directory)
    others = [e for e in entries if name.lower() in (n.lower() for n in entry_names(e))]
    fitting = sorted({Path(e.file).stem for e in entries if e.cfa_kind == cfa_kind})
    if others:
        alternatives = f"use --model auto or {' / '.join(fitting)}" if fitting else "none fits"
        raise ParameterError(
            f"--model {name} is for {others[0].cfa_kind} raws and this raw is {cfa_kind} "
            f"({alternatives})"
        )
    raise ParameterError(f"no bundled {cfa_kind} checkpoint named {name!r}; see `darkdev models`")
