"""Checkpoint files: safetensors, verified by SHA-256 before any byte is parsed; saving and loading.

A checkpoint carries the architecture name, its arguments and the CFA kind in the safetensors
metadata, so the network can be rebuilt from the file alone; one made by `darkdev finetune` also
records the camera it was tuned for (TUNED_FOR_KEY: make, model, profile sha256, ...). The
manifest that lists the bundled files with their sha256 is darkdev.manifest. The checkpoints are
package data: every kind of install (editable, wheel, pipx, git URL) carries them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from darkdev.errors import WeightsError
from darkdev.files import write_atomic
from darkdev.manifest import CheckpointEntry, find_entry, weights_dir
from darkdev.network_input import InputConvention

if TYPE_CHECKING:
    from darkdev.cfa import CfaKind

TUNED_FOR_KEY = "tuned_for"  # metadata of a fine-tuned checkpoint: JSON, see finetune


@dataclass(frozen=True)
class CheckpointMeta:
    """What a checkpoint says about itself: enough to rebuild and feed its network."""

    architecture: str
    arguments: dict[str, Any]
    cfa_kind: CfaKind
    # How the network's input was prepared in training (network_input.InputConvention): it
    # must be fed the same, so the convention travels with the weights.
    white_balance_input: bool = False
    below_black_input: bool = False
    tuned_for: dict[str, Any] | None = None  # the camera `darkdev finetune` tuned it for

    @property
    def input_convention(self) -> InputConvention:
        return InputConvention(self.white_balance_input, self.below_black_input)

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
        if self.below_black_input:  # absent means false: older files stay byte-identical
            strings["below_black_input"] = "true"
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
            below_black_input = json.loads(metadata.get("below_black_input", "false"))
            tuned_for = json.loads(metadata[TUNED_FOR_KEY]) if TUNED_FOR_KEY in metadata else None
        except (KeyError, json.JSONDecodeError) as error:
            raise WeightsError(
                f"{path}: checkpoint lacks architecture metadata ({error})"
            ) from error
        if cfa_kind not in ("bayer", "xtrans"):
            raise WeightsError(f"{path}: unknown CFA kind {cfa_kind!r} in the checkpoint")
        for name, value in (
            ("white_balance_input", white_balance_input),
            ("below_black_input", below_black_input),
        ):
            if not isinstance(value, bool):
                raise WeightsError(f"{path}: {name} must be true or false, got {value!r}")
        if not isinstance(arguments, dict):
            raise WeightsError(f"{path}: checkpoint arguments must be a JSON object")
        if tuned_for is not None and not isinstance(tuned_for, dict):
            raise WeightsError(f"{path}: {TUNED_FOR_KEY} must be a JSON object")
        return cls(
            architecture,
            arguments,
            cast("CfaKind", cfa_kind),
            white_balance_input=white_balance_input,
            below_black_input=below_black_input,
            tuned_for=tuned_for,
        )


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def resolve_checkpoint(name_or_path: str | Path, cfa_kind: str) -> Path:
    """A checkpoint file named by its path, or a bundled one by its name in `darkdev models`
    (e.g. rmcn-3-nobc-w16-bayer, or its architecture for that CFA kind), verified by the
    manifest's SHA-256: where pip put the package need not be known."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    entry = find_entry(str(name_or_path), cfa_kind)
    if entry is None:
        raise WeightsError(
            f"{path}: weights file not found, nor a bundled {cfa_kind} checkpoint of that name "
            "(see `darkdev models`)"
        )
    bundled = weights_dir() / entry.file
    if not bundled.is_file() or sha256_of(bundled) != entry.sha256:
        raise WeightsError(
            f"{bundled}: missing or not the manifest's (sha256 {entry.sha256[:12]}...)"
        )
    return bundled


def checkpoint_metadata(
    architecture: str,
    arguments: dict[str, Any],
    cfa_kind: str,
    convention: InputConvention = InputConvention(),
) -> dict[str, str]:
    """The safetensors metadata that lets a network be rebuilt, and fed, from its file alone."""
    return CheckpointMeta(
        architecture,
        arguments,
        cast("CfaKind", cfa_kind),
        white_balance_input=convention.white_balance,
        below_black_input=convention.below_black,
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


def save_checkpoint(
    path: Path,
    model: Any,
    architecture: str,
    arguments: dict[str, Any],
    cfa_kind: str,
    half_precision: bool = True,
    convention: InputConvention = InputConvention(),
) -> str:
    """Write a safetensors checkpoint atomically; returns its sha256. convention: how the
    network's input was prepared in training (it must be fed the same)."""
    metadata = checkpoint_metadata(architecture, arguments, cfa_kind, convention)
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
    except pickle.UnpicklingError as error:
        # torch's own text runs to many lines and suggests weights_only=False: never that.
        raise WeightsError(
            f"{path}: refused: not a safetensors file nor a torch checkpoint of plain tensors "
            "(torch files load with weights_only=True)"
        ) from error
    except (RuntimeError, OSError, EOFError) as error:
        text = str(error).strip()  # torch's messages run to many lines: the first says it
        reason = text.splitlines()[0] if text else type(error).__name__
        raise WeightsError(f"{path}: unreadable torch checkpoint ({reason})") from error
    if not isinstance(document, dict) or "state_dict" not in document:
        raise WeightsError(f"{path}: expected a dict with 'state_dict', 'architecture', 'cfa_kind'")
    metadata = {
        "architecture": str(document.get("architecture", "")),
        "arguments": json.dumps(document.get("arguments", {})),
        "cfa_kind": str(document.get("cfa_kind", "")),
        "white_balance_input": json.dumps(bool(document.get("white_balance_input", False))),
        "below_black_input": json.dumps(bool(document.get("below_black_input", False))),
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
            f"{path}: checkpoint is for {meta.cfa_kind} sensors, not {expected_cfa_kind}"
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
