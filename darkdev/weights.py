"""Checkpoints: safetensors files + a manifest, verified by SHA-256 before any byte is parsed.

A checkpoint carries the architecture name, its arguments and the CFA kind in the safetensors
metadata, so the network can be rebuilt from the file alone; one made by `darkdev finetune` also
records the camera it was tuned for (TUNED_FOR_KEY: make, model, profile sha256, ...). The
manifest (weights/manifest.json) records, for each bundled file, its sha256, how it was trained
and its validation scores.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from darkdev.errors import WeightsError

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
MANIFEST_NAME = "manifest.json"
TUNED_FOR_KEY = "tuned_for"  # metadata of a fine-tuned checkpoint: JSON, see finetune


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


def weights_dir() -> Path:
    """Bundled weights: $DARKDEV_WEIGHTS_DIR, else the repository's weights/ folder."""
    return Path(os.environ.get("DARKDEV_WEIGHTS_DIR", WEIGHTS_DIR))


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
        return [CheckpointEntry(**entry) for entry in document.get("checkpoints", [])]
    except (json.JSONDecodeError, TypeError) as error:
        raise WeightsError(f"{path}: unreadable manifest ({error})") from error


def write_manifest(entries: list[CheckpointEntry], directory: Path | None = None) -> None:
    directory = directory or weights_dir()
    document = {"checkpoints": [entry.__dict__ for entry in entries]}
    (directory / MANIFEST_NAME).write_text(json.dumps(document, indent=2) + "\n")


def default_entry(cfa_kind: str, directory: Path | None = None) -> CheckpointEntry | None:
    """The bundled checkpoint develop uses for a CFA kind, or None when there is none."""
    candidates = [e for e in read_manifest(directory) if e.cfa_kind == cfa_kind]
    for entry in candidates:
        if entry.default:
            return entry
    return candidates[0] if candidates else None


def find_entry(name: str, cfa_kind: str, directory: Path | None = None) -> CheckpointEntry | None:
    """A bundled checkpoint by architecture name or file name, for a CFA kind."""
    for entry in read_manifest(directory):
        if entry.cfa_kind == cfa_kind and name in (
            entry.architecture,
            entry.file,
            Path(entry.file).stem,
        ):
            return entry
    return None


def checkpoint_metadata(
    architecture: str, arguments: dict[str, Any], cfa_kind: str, white_balance_input: bool = False
) -> dict[str, str]:
    """The safetensors metadata that lets a network be rebuilt from its file alone."""
    return {
        "architecture": architecture,
        "arguments": json.dumps(arguments, sort_keys=True),
        "cfa_kind": cfa_kind,
        "white_balance_input": json.dumps(bool(white_balance_input)),
    }


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
    """Write a safetensors file through a temporary beside it; returns its sha256."""
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        save_file(state, temporary, metadata=metadata)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return sha256_of(path)


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


def load_model(
    path: Path, expected_sha256: str | None = None, expected_cfa_kind: str | None = None
):
    """Verify (when a hash is given) and load a checkpoint; returns (model in eval mode, metadata)."""
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
        state, metadata = read_safetensors(path)
    else:
        state, metadata = _read_torch_file(path)
    return model_from_state(path, state, metadata, expected_cfa_kind)


def model_from_state(
    path: Path,
    state: dict[str, Any],
    metadata: dict[str, str],
    expected_cfa_kind: str | None = None,
):
    """Rebuild the network a checkpoint's metadata names and load its tensors (path: for errors)."""
    import torch

    from darkdev.models import build_model

    try:
        architecture = metadata["architecture"]
        arguments = json.loads(metadata.get("arguments", "{}"))
        cfa_kind = metadata["cfa_kind"]
        white_balance_input = json.loads(metadata.get("white_balance_input", "false"))
        tuned_for = json.loads(metadata[TUNED_FOR_KEY]) if TUNED_FOR_KEY in metadata else None
    except (KeyError, json.JSONDecodeError) as error:
        raise WeightsError(f"{path}: checkpoint lacks architecture metadata ({error})") from error
    if expected_cfa_kind is not None and cfa_kind != expected_cfa_kind:
        raise WeightsError(
            f"{path}: checkpoint is for {cfa_kind} sensors, the raw is {expected_cfa_kind}"
        )
    try:
        model = build_model(architecture, cfa_kind, **arguments)
        model.load_state_dict({k: v.to(torch.float32) for k, v in state.items()}, strict=True)
    except (RuntimeError, TypeError, ValueError) as error:
        raise WeightsError(
            f"{path}: weights do not fit {architecture} {arguments}: {error}"
        ) from error
    model.eval()
    if not isinstance(white_balance_input, bool):
        raise WeightsError(f"{path}: white_balance_input must be true or false")
    if tuned_for is not None and not isinstance(tuned_for, dict):
        raise WeightsError(f"{path}: {TUNED_FOR_KEY} must be a JSON object")
    described = {
        "architecture": architecture,
        "arguments": arguments,
        "cfa_kind": cfa_kind,
        "white_balance_input": white_balance_input,
    }
    return model, described if tuned_for is None else {**described, TUNED_FOR_KEY: tuned_for}


def load_entry(entry: CheckpointEntry, directory: Path | None = None):
    directory = directory or weights_dir()
    return load_model(directory / entry.file, entry.sha256, entry.cfa_kind)
