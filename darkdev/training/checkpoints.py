"""Checkpoints: the resumable training state (last.pt), starting from other weights, and the
exported weights (best.safetensors, or shards under 16 MiB for a machine that can only send
back files that small).

last.pt holds plain tensors and dicts (loadable with weights_only=True): model, optimizer,
torch_rng, step, elapsed_s, total_steps, best_step, best_selection, best_scores ({split:
[PSNR, SSIM]}; older files have best_psnr, best_ssim and their _high_iso), best_model, ema (the
weight average with --ema-decay; {} without).
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from pathlib import Path
from typing import Any

import torch

from darkdev import manifest, weights
from darkdev.errors import ParameterError, WeightsError
from darkdev.files import write_atomic
from darkdev.models import build_model
from darkdev.models.growth import can_grow, grow_from_single, widen_from
from darkdev.network_input import InputConvention
from darkdev.training.config import TrainConfig
from darkdev.training.lineage import known_record

CHECKPOINT_NAME = "last.pt"
INIT_NAME = "init.safetensors"  # copy of --init-from
INIT_RECORD_NAME = "init.json"  # its file, hash and the manifest's record of it at the start
EXPORT_NAME = "best.safetensors"
SUMMARY_NAME = "summary.json"  # a finished run's record (loop.finish writes it)
VALIDATED_DIR = "validated"  # --keep-validated-weights: one checkpoint per validated step


SHARD_INDEX_FORMAT = "darkdev sharded safetensors 1"
MAX_SHARD_BYTES = 15 * 2**20  # under the 16 MiB a GPU machine can send back per file
# Room kept in each shard for the safetensors header: per-tensor entries and the metadata.
SHARD_HEADER_BASE_BYTES = 1024
SHARD_HEADER_PER_TENSOR_BYTES = 128


def read_json_record(path: Path, required: set[str], missing: str, kind: str) -> dict[str, Any]:
    """A JSON object a run or session wrote (summary.json, results.json) with at least the
    required keys; otherwise a ParameterError naming the file, why it may be missing, or what
    it is not (kind)."""
    if not path.is_file():
        raise ParameterError(f"{path}: missing ({missing})")
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ParameterError(f"{path}: unreadable ({error})") from error
    if not isinstance(record, dict) or not required <= record.keys():
        raise ParameterError(f"{path}: not {kind} (no {'/'.join(sorted(required))})")
    return record


def validated_weights_path(run_dir: Path, step: int) -> Path:
    return run_dir / VALIDATED_DIR / f"step-{step:06d}.safetensors"


def _atomic_torch_save(document: dict, path: Path) -> None:
    buffer = io.BytesIO()
    torch.save(document, buffer)
    write_atomic(path, buffer.getvalue())


def save_training_state(
    path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, state: dict[str, Any]
) -> None:
    """Model, optimizer, step and bookkeeping as plain tensors/dicts (loadable weights_only)."""
    _atomic_torch_save(
        {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "torch_rng": torch.get_rng_state(),
            **state,
        },
        path,
    )


def load_training_state(path: Path) -> dict[str, Any]:
    return torch.load(path, map_location="cpu", weights_only=True)


def initialise_from(model: torch.nn.Module, config: TrainConfig) -> None:
    """Load a checkpoint's weights into a fresh model of the same architecture and CFA: at the same
    width, or widened from a narrower one; an LTS also grows into an RMCN without back connection
    of its width or wider (models.growth). Every start computes the checkpoint's network exactly."""
    assert config.init_from is not None
    source, metadata = weights.load_model(Path(config.init_from), expected_cfa_kind=config.cfa)
    found_model, found_width = metadata["architecture"], metadata["arguments"].get("width")
    grows = found_model == "lts" and config.model != "lts" and can_grow(model)
    if (
        not isinstance(found_width, int)
        or found_width > config.width
        or not (grows or found_model == config.model)
    ):
        raise ParameterError(
            f"--init-from {config.init_from} is {found_model} {metadata['arguments']}, the run "
            f"trains {config.model} {{'width': {config.width}}} (a checkpoint starts the same "
            "model at its width or wider; an LTS also grows into rmcn-N-nobc)"
        )
    if grows and found_width < config.width:  # grow at the LTS's width, then widen
        grown = build_model(config.model, config.cfa, found_width)
        grow_from_single(grown, source)
        source = grown
    if found_width < config.width:
        widen_from(model, source)
    elif grows:
        grow_from_single(model, source)
    else:
        model.load_state_dict(source.state_dict())


def keep_init_copy(config: TrainConfig) -> None:
    """Copy --init-from into the run folder, and what the manifest beside it knows of those
    weights into init.json: the summary's hash must name these weights even if the file is
    replaced later, and their record must outlive their manifest entry (lineage)."""
    assert config.init_from is not None
    source, out = Path(config.init_from), Path(config.out)
    shutil.copyfile(source, out / INIT_NAME)
    started_from = {"file": portable_path(source), "sha256": weights.sha256_of(out / INIT_NAME)}
    try:
        known = known_record(started_from, manifest.read_manifest(source.parent))
    except WeightsError:  # a foreign or broken manifest there: the file and hash will do
        known = None
    record = json.dumps(known or started_from, indent=2) + "\n"
    write_atomic(out / INIT_RECORD_NAME, record.encode())


def portable_path(path: Path) -> str:
    """A path as a record names it: relative to the working folder where it lies inside it
    (runs/..., darkdev/checkpoints/...), so records name no one machine's folders."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def start_record(out: Path) -> dict[str, Any] | None:
    """Where the run in this folder started (keep_init_copy's init.json); None without one (a run
    from scratch, or one started before init.json was written)."""
    try:
        record = json.loads((out / INIT_RECORD_NAME).read_text())
    except (OSError, ValueError):  # none, or unreadable: the summary falls back to the hash
        return None
    return record if isinstance(record, dict) and "sha256" in record else None


def export_weights(model: torch.nn.Module, config: TrainConfig, path: Path) -> str:
    """The run's weights as a bundled-style safetensors checkpoint; returns its sha256."""
    return weights.save_checkpoint(
        path,
        model,
        config.model,
        {"width": config.width},
        config.cfa,
        convention=config.input_convention,
    )


# ----------------------------------------------------------------------------- sharded export


def _plan_shards(
    state: dict[str, torch.Tensor], metadata: dict[str, str], max_shard_bytes: int
) -> list[list[str]]:
    """Tensor names per shard, in state order, each shard's file under max_shard_bytes."""
    base = SHARD_HEADER_BASE_BYTES + len(json.dumps(metadata))
    shards: list[list[str]] = [[]]
    used = base
    for name, tensor in state.items():
        size = tensor.numel() * tensor.element_size() + SHARD_HEADER_PER_TENSOR_BYTES + len(name)
        if base + size > max_shard_bytes:
            raise ParameterError(
                f"tensor {name} needs {size} bytes, more than a shard of {max_shard_bytes} bytes"
            )
        if shards[-1] and used + size > max_shard_bytes:
            shards.append([])
            used = base
        shards[-1].append(name)
        used += size
    return shards


def export_sharded(
    model: torch.nn.Module,
    directory: str | Path,
    max_shard_bytes: int = MAX_SHARD_BYTES,
    *,
    architecture: str,
    arguments: dict[str, Any],
    cfa_kind: str,
    convention: InputConvention = InputConvention(),
    half_precision: bool = True,
    stem: str = "best",
    step: int | None = None,
) -> Path:
    """Write the weights as STEM-00001-of-0000N.safetensors files, each under max_shard_bytes
    and carrying the checkpoint metadata of darkdev.weights, plus STEM.index.json naming each
    shard's SHA-256 and tensors, the SHA-256 of all the tensors (tensors_sha256) and the training
    step they are from, where given. Returns the index's path (written last, so it names only
    complete shards)."""
    directory = Path(directory)
    state = weights.export_state(model, half_precision)
    metadata = weights.checkpoint_metadata(architecture, arguments, cfa_kind, convention)
    plan = _plan_shards(state, metadata, max_shard_bytes)
    records = []
    for number, names in enumerate(plan, start=1):
        path = directory / f"{stem}-{number:05d}-of-{len(plan):05d}.safetensors"
        sha256 = weights.write_safetensors_atomically(path, {n: state[n] for n in names}, metadata)
        size = path.stat().st_size
        if size > max_shard_bytes:
            raise WeightsError(f"{path}: {size} bytes, over the shard limit of {max_shard_bytes}")
        records.append({"file": path.name, "sha256": sha256, "size_bytes": size, "tensors": names})
    index: dict[str, Any] = {"format": SHARD_INDEX_FORMAT, "metadata": metadata, "shards": records}
    index["tensors_sha256"] = tensors_sha256(state)  # what a run's record names them by
    if step is not None:
        index["step"] = step
    index_path = directory / f"{stem}.index.json"
    write_atomic(index_path, (json.dumps(index, indent=1) + "\n").encode())
    current = {record["file"] for record in records}
    for stale in directory.glob(f"{stem}-*-of-*.safetensors"):
        if stale.name not in current:  # shards of an earlier export with another shard count
            stale.unlink()
    return index_path


def _read_index(index_path: Path) -> dict[str, Any]:
    try:
        index = json.loads(index_path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise WeightsError(f"{index_path}: unreadable shard index ({error})") from error
    if not isinstance(index, dict) or index.get("format") != SHARD_INDEX_FORMAT:
        raise WeightsError(f"{index_path}: not a {SHARD_INDEX_FORMAT!r} index")
    return index


def read_sharded(index_path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Every shard's SHA-256 verified against the index, the tensors reassembled; returns
    (state, index)."""
    index_path = Path(index_path)
    index = _read_index(index_path)
    state: dict[str, torch.Tensor] = {}
    for record in index["shards"]:
        path = index_path.parent / record["file"]
        if not path.is_file():
            raise WeightsError(f"{path}: shard named by {index_path.name} is missing")
        actual = weights.sha256_of(path)
        if actual != record["sha256"]:
            raise WeightsError(
                f"{path}: sha256 {actual[:12]}... does not match the index's "
                f"{record['sha256'][:12]}... (corrupt or incomplete shard)"
            )
        tensors, metadata = weights.read_safetensors(path)
        if metadata != index["metadata"] or sorted(tensors) != sorted(record["tensors"]):
            raise WeightsError(f"{path}: metadata or tensors differ from {index_path.name}")
        repeated = set(tensors) & set(state)
        if repeated:
            raise WeightsError(f"{path}: tensors {sorted(repeated)} already in another shard")
        state.update(tensors)
    return state, index


def load_sharded(index_path: str | Path, expected_cfa_kind: str | None = None):
    """The sharded weights (read_sharded) as a network; returns (model in eval mode,
    metadata) like darkdev.weights.load_model."""
    state, index = read_sharded(index_path)
    return weights.model_from_state(Path(index_path), state, index["metadata"], expected_cfa_kind)


def tensors_sha256(state: dict[str, torch.Tensor]) -> str:
    """A SHA-256 of the tensors alone (names, dtypes, shapes, bytes; in name order): equal for the
    same weights however they were written (a safetensors file's metadata order is not fixed)."""
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()
