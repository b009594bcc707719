"""Checkpoints: safetensors files + a manifest, verified by SHA-256 before any byte is parsed.

A checkpoint carries the architecture name, its arguments and the CFA kind in the safetensors
metadata, so the network can be rebuilt from the file alone; one made by `darkdev finetune` also
records the camera it was tuned for (TUNED_FOR_KEY: make, model, profile sha256, ...). The manifest
(darkdev/checkpoints/manifest.json) records, for each bundled file, its sha256, how it was trained
and its validation scores. The checkpoints are package data: every kind of install (editable,
wheel, pipx, git URL) carries them.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, cast

from darkdev.errors import ParameterError, WeightsError
from darkdev.files import write_atomic

if TYPE_CHECKING:
    from darkdev.cfa import CfaKind

WEIGHTS_DIR = Path(__file__).resolve().parent / "checkpoints"
MANIFEST_NAME = "manifest.json"
WEIGHTS_DIR_VARIABLE = "DARKDEV_WEIGHTS_DIR"
TUNED_FOR_KEY = "tuned_for"  # metadata of a fine-tuned checkpoint: JSON, see finetune


@dataclass(frozen=True)
class CheckpointMeta:
    """What a checkpoint says about itself: enough to rebuild and feed its network."""

    architecture: str
    arguments: dict[str, Any]
    cfa_kind: CfaKind
    # The network was trained on packed raw multiplied by the as-shot white balance gains, so
    # it must be fed the same (the input convention travels with the weights).
    white_balance_input: bool = False
    tuned_for: dict[str, Any] | None = None  # the camera `darkdev finetune` tuned it for

    def as_dict(self) -> dict[str, Any]:
        """Plain fields (the training code's interface); tuned_for only when there is one."""
        fields = asdict(self)
        if fields[TUNED_FOR_KEY] is None:
            del fields[TUNED_FOR_KEY]
        return fields

    def to_strings(self) -> dict[str, str]:
        """safetensors metadata (strings only)."""
        strings = {
            "architecture": self.architecture,
            "arguments": json.dumps(self.arguments, sort_keys=True),
            "cfa_kind": self.cfa_kind,
            "white_balance_input": json.dumps(bool(self.white_balance_input)),
        }
        if self.tuned_for is not None:
            strings[TUNED_FOR_KEY] = json.dumps(self.tuned_for, sort_keys=True)
        return strings

    @classmethod
    def from_strings(cls, metadata: dict[str, str], path: Path) -> CheckpointMeta:
        try:
            architecture = metadata["architecture"]
            arguments = json.loads(metadata.get("arguments", "{}"))
            cfa_kind = metadata["cfa_kind"]
            white_balance_input = json.loads(metadata.get("white_balance_input", "false"))
            tuned_for = json.loads(metadata[TUNED_FOR_KEY]) if TUNED_FOR_KEY in metadata else None
        except (KeyError, json.JSONDecodeError) as error:
            raise WeightsError(
                f"{path}: checkpoint lacks architecture metadata ({error})"
            ) from error
        if cfa_kind not in ("bayer", "xtrans"):
            raise WeightsError(f"{path}: unknown CFA kind {cfa_kind!r} in the checkpoint")
        if not isinstance(white_balance_input, bool):
            raise WeightsError(f"{path}: white_balance_input must be true or false")
        if not isinstance(arguments, dict):
            raise WeightsError(f"{path}: checkpoint arguments must be a JSON object")
        if tuned_for is not None and not isinstance(tuned_for, dict):
            raise WeightsError(f"{path}: {TUNED_FOR_KEY} must be a JSON object")
        return cls(
            architecture, arguments, cast("CfaKind", cfa_kind), white_balance_input, tuned_for
        )


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


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


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
    directory = directory or weights_dir()
    document = {"checkpoints": [entry.__dict__ for entry in entries]}
    (directory / MANIFEST_NAME).write_text(json.dumps(document, indent=2) + "\n")


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
    "architecture",
    "sensor",
    "--model auto on",
    "colour",
    "PSNR / SSIM all ISO",
    "PSNR / SSIM high ISO",
    "12 MP on 2 CPU cores",
)
CATALOGUE_NOTE = (
    "--model takes the name or the architecture (any case; the architecture picks the "
    "checkpoint for the raw's sensor). Scores: synthetic validation crops of held-out photos "
    "(dB / SSIM, the checkpoint's --colour auto mode; '-': scored on older sets, see the "
    "manifest). auto picks per device the best-scoring checkpoint, on a CPU one that develops "
    f"12 MP in {CPU_SECONDS_TARGET:g} s or less."
)


def _score(scores: dict[str, Any], suffix: str) -> str:
    if f"psnr{suffix}" not in scores:
        return "-"
    return f"{scores[f'psnr{suffix}']:.2f} / {scores[f'ssim{suffix}']:.3f}"


def catalogue_row(entry: CheckpointEntry, auto_on: str = "") -> tuple[str, ...]:
    """One row of `darkdev models`, in CATALOGUE_COLUMNS order; auto_on: the devices on which
    --model auto picks it."""
    scores = entry.validation
    arguments = ", ".join(f"{key} {value}" for key, value in sorted(entry.arguments.items()))
    seconds = entry.speed.get("cpu_2_cores_12mp_s")
    return (
        Path(entry.file).stem,
        f"{entry.architecture} ({arguments})" if arguments else entry.architecture,
        entry.cfa_kind,
        auto_on,
        entry.colour,
        _score(scores, "") if "quality_psnr" in scores else "-",
        _score(scores, "_high_iso"),
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
    """A bundled checkpoint by architecture name or file name (any case), for a CFA kind."""
    wanted = name.lower()
    for entry in read_manifest(directory):
        if entry.cfa_kind == cfa_kind and wanted in (n.lower() for n in entry_names(entry)):
            return entry
    return None


def checkpoint_metadata(
    architecture: str, arguments: dict[str, Any], cfa_kind: str, white_balance_input: bool = False
) -> dict[str, str]:
    """The safetensors metadata that lets a network be rebuilt from its file alone."""
    return CheckpointMeta(
        architecture, arguments, cast("CfaKind", cfa_kind), white_balance_input
    ).to_strings()


def export_state(model: Any, half_precision: bool = True) -> dict[str, Any]:
    """The model's tensors as stored: contiguous, on the CPU, floats in float16 by default."""
    import torch

    return {
        name: (
            tensor.detach().to(torch.float16)
            if half_precision and tensor.is_floating_point()
            else tensor.detach()
        )
        .contiguous()
        .cpu()
        for name, tensor in model.state_dict().items()
    }


def write_safetensors_atomically(
    path: Path, state: dict[str, Any], metadata: dict[str, str]
) -> str:
    """Write a safetensors file through the one atomic writer (files.py); returns its sha256."""
    from safetensors.torch import save

    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, save(state, metadata=metadata))
    return sha256_of(path)


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


def save_checkpoint(
    path: Path,
    model: Any,
    architecture: str,
    arguments: dict[str, Any],
    cfa_kind: str,
    half_precision: bool = True,
    white_balance_input: bool = False,
) -> str:
    """Write a safetensors checkpoint atomically; returns its sha256.

    white_balance_input: the network was trained on packed raw multiplied by the as-shot white
    balance gains, so it must be fed the same (the input convention travels with the weights).
    """
    metadata = checkpoint_metadata(architecture, arguments, cfa_kind, white_balance_input)
    return write_safetensors_atomically(path, export_state(model, half_precision), metadata)


def read_safetensors(path: Path) -> tuple[dict[str, Any], dict[str, str]]:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            state = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
    except (SafetensorError, OSError, ValueError) as error:
        raise WeightsError(f"{path}: not a readable safetensors file ({error})") from error
    return state, metadata


def _read_torch_file(path: Path) -> tuple[dict[str, Any], dict[str, str]]:
    import pickle

    import torch

    try:
        # weights_only=True: never unpickle arbitrary objects from a user-supplied file.
        document = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, OSError, EOFError) as error:
        raise WeightsError(f"{path}: refused or unreadable torch checkpoint ({error})") from error
    if not isinstance(document, dict) or "state_dict" not in document:
        raise WeightsError(f"{path}: expected a dict with 'state_dict', 'architecture', 'cfa_kind'")
    metadata = {
        "architecture": str(document.get("architecture", "")),
        "arguments": json.dumps(document.get("arguments", {})),
        "cfa_kind": str(document.get("cfa_kind", "")),
        "white_balance_input": json.dumps(bool(document.get("white_balance_input", False))),
    }
    return document["state_dict"], metadata


def _check_finite(path: Path, state: dict[str, Any]) -> None:
    """NaN or infinite weights develop every raw to a black image: refuse them at load."""
    import torch

    for name, tensor in state.items():
        if (
            torch.is_tensor(tensor)
            and tensor.is_floating_point()
            and not torch.isfinite(tensor).all()
        ):
            raise WeightsError(f"{path}: tensor {name} holds NaN or infinite values; refused")


def load_checkpoint(
    path: Path, expected_sha256: str | None = None, expected_cfa_kind: str | None = None
) -> tuple[Any, CheckpointMeta]:
    """Verify (when a hash is given) and load a checkpoint: (model in eval mode, its metadata)."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: weights file not found")
    if expected_sha256 is not None:
        actual = sha256_of(path)
        if actual != expected_sha256:
            raise WeightsError(
                f"{path}: sha256 {actual[:12]}... does not match the manifest's "
                f"{expected_sha256[:12]}... (corrupt or tampered file)"
            )
    if path.suffix == ".safetensors":
        state, strings = read_safetensors(path)
    else:
        state, strings = _read_torch_file(path)
    return network_from_state(
        path, state, CheckpointMeta.from_strings(strings, path), expected_cfa_kind
    )


def network_from_state(
    path: Path,
    state: dict[str, Any],
    meta: CheckpointMeta,
    expected_cfa_kind: str | None = None,
) -> tuple[Any, CheckpointMeta]:
    """Rebuild the network `meta` names and load its tensors (path: for errors)."""
    import torch

    from darkdev.models import build_model

    _check_finite(path, state)
    if expected_cfa_kind is not None and meta.cfa_kind != expected_cfa_kind:
        raise WeightsError(
            f"{path}: checkpoint is for {meta.cfa_kind} sensors, the raw is {expected_cfa_kind}"
        )
    try:
        model = build_model(meta.architecture, meta.cfa_kind, **meta.arguments)
        model.load_state_dict({k: v.to(torch.float32) for k, v in state.items()}, strict=True)
    except (RuntimeError, TypeError, ValueError) as error:
        raise WeightsError(
            f"{path}: weights do not fit {meta.architecture} {meta.arguments}: {error}"
        ) from error
    model.eval()
    return model, meta


def model_from_state(
    path: Path,
    state: dict[str, Any],
    metadata: dict[str, str],
    expected_cfa_kind: str | None = None,
) -> tuple[Any, dict[str, Any]]:
    """network_from_state from safetensors metadata strings, the metadata as a plain dict."""
    meta = CheckpointMeta.from_strings(metadata, path)
    model, meta = network_from_state(path, state, meta, expected_cfa_kind)
    return model, meta.as_dict()


def load_model(
    path: Path, expected_sha256: str | None = None, expected_cfa_kind: str | None = None
) -> tuple[Any, dict[str, Any]]:
    """load_checkpoint with the metadata as a plain dict (the training code's interface)."""
    model, meta = load_checkpoint(path, expected_sha256, expected_cfa_kind)
    return model, meta.as_dict()


def load_entry(entry: CheckpointEntry, directory: Path | None = None) -> tuple[Any, CheckpointMeta]:
    directory = directory or weights_dir()
    return load_checkpoint(directory / entry.file, entry.sha256, entry.cfa_kind)
