"""Publishing a finished run: its best weights, or any validated step's (a run trained with
--keep-validated-weights), copied into the checkpoints folder with a manifest entry whose every
number is measured by code: the run's summary.json and log.jsonl, or scores on a validation folder
(publish_scores), the record of the entry it replaces (replacing), and its lineage (lineage,
followed through the manifest and unpublished runs' folders here).

Nothing is half-written: the weights are staged beside their final name, verified and scored,
then the manifest is replaced atomically and the staged file takes its name (`darkdev publish`).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from darkdev import manifest, weights
from darkdev.errors import ParameterError, WeightsError
from darkdev.files import staged_file
from darkdev.network_input import InputConvention
from darkdev.training.checkpoints import (
    EXPORT_NAME,
    SUMMARY_NAME,
    VALIDATED_DIR,
    portable_path,
    read_json_record,
    validated_weights_path,
)
from darkdev.training.curves import LOG_NAME, read_log
from darkdev.training.lineage import (
    LINEAGE_KEY,
    SCORE_NAMES,
    earlier_checkpoint,
    known_record,
    lineage,
)
from darkdev.training.publish_scores import (
    COLOUR_CHOICES,
    DeadLeaves,
    read_dead_leaves,
    read_split_sets,
    scored_validation,
)
from darkdev.training.replacing import kept_speed, replaced_record, with_entry
from darkdev.training.validation import ALL_SPLITS, ValidationSet, split_suffix

STEP_FILE = re.compile(r"step-(\d+)\.safetensors")
MAX_RUN_FOLDERS = 50  # how far a lineage follows unpublished runs' folders back (a loop's guard)


@dataclass
class PublishedWeights:
    """Which weights of a run are published, the step they are from and the run's own
    validation scores at that step (network colour, the run's validation sets)."""

    path: Path
    name: str  # relative to the run folder
    step: int
    own_validation: dict[str, float]


def read_summary(run_directory: Path) -> dict[str, Any]:
    if not run_directory.is_dir():
        raise ParameterError(f"{run_directory}: no such run folder")
    return read_json_record(
        run_directory / SUMMARY_NAME,
        {"config", "validation", "export"},
        "only a finished run can be published",
        "a finished run's summary",
    )


def _logged_scores(run_directory: Path, step: int) -> dict[str, float]:
    """The run's validation at a step, from log.jsonl (the last line for it: a resumed run
    truncates the log to its checkpoint, so only the kept timeline's lines are there)."""
    path = run_directory / LOG_NAME
    try:
        logged = [e for e in read_log(path, step) if e.get("step") == step and "val_psnr" in e]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ParameterError(f"{path}: unreadable ({error})") from error
    if not logged:
        raise ParameterError(
            f"{path}: no validation logged at step {step}, so its scores are unknown"
        )
    return {
        name: round(logged[-1][f"val_{name}"], 4)
        for name in SCORE_NAMES
        if f"val_{name}" in logged[-1]
    }


def choose_weights(
    run_directory: Path, weights_file: str | Path | None, summary: dict[str, Any]
) -> PublishedWeights:
    """The run's best.safetensors (weights_file None), or a validated/step-NNNNNN.safetensors of
    it (given as a path, or relative to the run folder); anything else is refused."""
    best = run_directory / EXPORT_NAME
    path = best
    if weights_file is not None:
        path = Path(weights_file)
        if not path.is_absolute() and not path.exists():
            path = run_directory / path
    if not path.is_file():
        raise ParameterError(f"{path}: weights file not found")
    resolved = path.resolve()
    if resolved == best.resolve():
        scores = {
            n: round(summary["validation"][n], 4) for n in SCORE_NAMES if n in summary["validation"]
        }
        return PublishedWeights(path, EXPORT_NAME, int(summary["best_step"]), scores)
    match = STEP_FILE.fullmatch(resolved.name)
    if match is None or validated_weights_path(run_directory, int(match[1])).resolve() != resolved:
        raise ParameterError(
            f"{path}: not {EXPORT_NAME} or a {VALIDATED_DIR}/step-NNNNNN.safetensors of the run "
            f"{run_directory}"
        )
    step = int(match[1])
    name = f"{VALIDATED_DIR}/{resolved.name}"
    return PublishedWeights(path, name, step, _logged_scores(run_directory, step))


def _initialisation_record(
    summary: dict[str, Any], directory: Path, depth: int = 0
) -> dict[str, Any]:
    """Where a continued run started: the file, its hash and how those weights were made and
    scored, one level deep (lineage.earlier_checkpoint), from the first that knows: the record
    the run made as it started, this manifest, or the run folder the weights are in."""
    started_from = summary["initialised_from"]  # records name paths as portable_path does
    started_from = {**started_from, "file": portable_path(Path(started_from["file"]))}
    if LINEAGE_KEY in started_from:  # what the manifest beside the weights said at the start
        return started_from
    known = known_record(started_from, manifest.read_manifest(directory))
    if known is None and depth < MAX_RUN_FOLDERS:
        known = _run_folder_record(started_from, directory, depth + 1)
    return known or earlier_checkpoint(started_from, None, None)


def _run_folder_record(
    started_from: dict[str, Any], directory: Path, depth: int
) -> dict[str, Any] | None:
    """How unpublished weights were made, from the finished run whose best.safetensors or
    validated/step-NNNNNN.safetensors they are (hash unchanged): its summary, its log's scores
    at that step and, in turn, where it started; None where there is no such run."""
    path = Path(started_from["file"])
    run_directory = path.parent.parent if path.parent.name == VALIDATED_DIR else path.parent
    if not (path.is_file() and (run_directory / SUMMARY_NAME).is_file()):
        return None
    try:
        if weights.sha256_of(path) != started_from["sha256"]:
            return None
        summary = read_summary(run_directory)
        published = choose_weights(run_directory, path, summary)
        training = _training_record(summary, directory, published, depth)
        set_name = _validation_record(summary["validation"])["set"]
    except (ParameterError, OSError, KeyError, TypeError):  # not a run this version can read
        return None
    scores = {**published.own_validation, "set": set_name}
    return {**earlier_checkpoint(started_from, training, scores), "run": str(run_directory)}


def _training_record(
    summary: dict[str, Any], directory: Path, published: PublishedWeights, depth: int = 0
) -> dict[str, Any]:
    config = summary["config"]
    record = {
        "command": summary["command"],
        "data": summary["data"],
        "steps": summary["steps"],
        "published_weights": published.name,
        "published_step": published.step,
        "own_validation": published.own_validation,
        "best_step": summary["best_step"],  # the run's best by its --select-by rule
        "select_by": config.get("select_by", "psnr"),
        "wall_time_s": summary["wall_time_s"],
        "machine": summary["machine"],
        "lr": config["lr"],
        "lr_schedule": config["lr_schedule"],
        "later_sgn_lr_scale": config.get("later_sgn_lr_scale", 1.0),
        "tv_weight": config["tv_weight"],
        "lowpass_weight": config.get("lowpass_weight", 0.0),
        "ssim_weight": config.get("ssim_weight", 0.0),
        "crop_packed_px": config["crop"],
        "batch": config["batch"],
        "white_balance_input": config["white_balance_input"],
        "below_black_input": config.get("below_black_input", False),
        "lam_max": config["lam_max"],
    }
    if "precision" in config:  # runs before the setting trained in float32 on CPU, bf16 on CUDA
        record["precision"] = config["precision"]
    if config.get("noise_widening") is not None:
        record["noise_widening"] = config["noise_widening"]
    if config.get("black_error_dn"):
        record["black_error_dn"] = config["black_error_dn"]
    if summary.get("invocations"):  # runs before the history recorded only the last command
        record["invocations"] = summary["invocations"]
    if config.get("photo_names"):
        record["photo_count"] = len(config["photo_names"])
    if summary.get("initialised_from"):
        record["initialised_from"] = _initialisation_record(summary, directory, depth)
    if summary.get("unpacked_from", {}).get("cut_before_training_finished"):
        record["cut"] = "the GPU call ended before training did: steps and time at the export"
    record[LINEAGE_KEY] = lineage(record)
    return record


def _validation_record(validation: dict[str, Any]) -> dict[str, Any]:
    """The summary's scores, every split it has (one from before the high-ISO split has one)."""
    measures = ("psnr", "ssim", "classical_psnr", "classical_ssim")
    names = [f"{measure}{split_suffix(split)}" for split in ALL_SPLITS for measure in measures]
    record: dict[str, Any] = {
        name: round(validation[name], 4) for name in names if name in validation
    }
    record["colour"] = "network"  # the run validates the network's own colour
    record["n_images"] = validation["n_images"]
    record["set"] = (
        f"synthetic, {validation['n_images']} fixed {validation['crop_raw_px']} px "
        "crops of held-out photos"
        + (", all ISO and high ISO" if "psnr_high_iso" in validation else "")
    )
    if "target" in validation:
        record["target"] = validation["target"]
    if "psnr_high_iso" in validation and validation.get("target") == "LibRaw default demosaic":
        # What --model auto ranks by (manifest.CheckpointEntry.quality_db): comparable only
        # between checkpoints scored on these validation sets.
        record["quality_psnr"] = round((validation["psnr"] + validation["psnr_high_iso"]) / 2, 4)
    return record


def _check_request(
    file_name: str, colour: str, validation_directory: object, dead_leaves_directory: object
) -> None:
    if Path(file_name).name != file_name or not file_name.endswith(".safetensors"):
        raise ParameterError(
            f"{file_name!r}: the published name is a file name ending in .safetensors"
        )
    if colour not in COLOUR_CHOICES:
        raise ParameterError(f"unknown colour {colour!r}; choose {', '.join(COLOUR_CHOICES)}")
    if colour == "auto" and validation_directory is None:
        raise ParameterError("colour auto measures both modes: it needs a validation folder")
    if dead_leaves_directory is not None and validation_directory is None:
        raise ParameterError("dead-leaves scores go beside a validation folder's: give both")


def _read_folders(
    config: dict[str, Any],
    validation_directory: Path | None,
    dead_leaves_directory: str | Path | None,
) -> tuple[dict[str, ValidationSet] | None, DeadLeaves | None]:
    """The validation folder's sets and the dead-leaves folder's (None where not given), each
    checked before anything is copied."""
    convention = InputConvention.from_metadata(config)
    sets = None
    if validation_directory is not None:
        sets = read_split_sets(validation_directory, config["cfa"], convention)
    return sets, read_dead_leaves(dead_leaves_directory, config["cfa"], convention)


def _load_staged(staged: Path, source: Path, config: dict[str, Any]):
    """The staged copy as a network, its metadata checked against the run's config."""
    try:
        state, strings = weights.read_safetensors(staged)
        meta = weights.CheckpointMeta.from_strings(strings, source)
        model, meta = weights.network_from_state(source, state, meta)
    except WeightsError as error:
        raise WeightsError(str(error).replace(str(staged), str(source))) from None
    found = (meta.architecture, meta.arguments, meta.cfa_kind, meta.input_convention)
    wanted = (
        config["model"],
        {"width": config["width"]},
        config["cfa"],
        InputConvention.from_metadata(config),
    )
    if found != wanted:
        raise WeightsError(f"{source}: holds {found}, the run trained {wanted}")
    return model, meta


def _read_weights(published: PublishedWeights, summary: dict[str, Any]) -> tuple[bytes, str]:
    """The published file's bytes and sha256; best.safetensors must be what the run exported."""
    try:
        payload = published.path.read_bytes()
    except OSError as error:
        raise WeightsError(f"{published.path}: unreadable ({error.strerror or error})") from error
    sha256 = hashlib.sha256(payload).hexdigest()
    if published.name == EXPORT_NAME and sha256 != summary["export"]["sha256"]:
        raise WeightsError(
            f"{published.path}: sha256 {sha256[:12]}... is not summary.json's "
            f"{summary['export']['sha256'][:12]}... (replaced after the run?)"
        )
    return payload, sha256


def publish(
    run_directory: str | Path,
    file_name: str,
    weights_directory: Path | None = None,
    default: bool = True,
    cpu_12mp_seconds: float | None = None,
    colour: str = "guided",
    weights_file: str | Path | None = None,
    validation_directory: str | Path | None = None,
    command: str | None = None,
    dead_leaves_directory: str | Path | None = None,
) -> manifest.CheckpointEntry:
    """Copy a finished run's weights into the checkpoints folder as file_name and add (or
    replace) its manifest entry; returns the entry.

    weights_file: the run's best.safetensors (None) or one of its validated/step-NNNNNN.safetensors.
    validation_directory: a folder with validation-CFA-all_iso.npz and -high_iso.npz (a run's
    own, or built from other photos) to score the weights on (publish_scores.scored_validation);
    without it, the run's own validation at the published step. dead_leaves_directory: a
    dead-leaves folder scored too (with validation_directory).
    colour: network, guided, or auto (the better on the validation folder); what --colour auto
    develops with. default: other entries of the CFA kind stop being the default.
    cpu_12mp_seconds: develop's measured 12 MP time on 2 CPU cores (benchmarks/bench_develop.py),
    which --model auto checks on a CPU; None keeps the replaced entry's for the same network.
    command: how the scores were made, recorded in the entry (the CLI's command line).
    """
    run_directory = Path(run_directory)
    directory = Path(weights_directory) if weights_directory else manifest.weights_dir()
    _check_request(file_name, colour, validation_directory, dead_leaves_directory)
    summary = read_summary(run_directory)
    config = summary["config"]
    published = choose_weights(run_directory, weights_file, summary)
    if validation_directory is not None:
        validation_directory = Path(validation_directory)
    sets, dead_leaves = _read_folders(config, validation_directory, dead_leaves_directory)
    payload, sha256 = _read_weights(published, summary)
    entries = manifest.read_manifest(directory)
    previous = next((e for e in entries if e.file == file_name), None)
    directory.mkdir(parents=True, exist_ok=True)
    with staged_file(directory / file_name, payload) as staged:
        if weights.sha256_of(staged) != sha256:
            raise WeightsError(f"{directory / file_name}: copy differs from {published.path}")
        model, meta = _load_staged(staged, published.path, config)
        if sets is None or validation_directory is None:
            scores = {**summary["validation"], **published.own_validation}
            validation, chosen = _validation_record(scores), colour
        else:
            command = command or (
                f"publish({str(run_directory)!r}, {file_name!r}, weights_file="
                f"{published.name!r}, validation_directory={str(validation_directory)!r})"
            )
            validation, chosen = scored_validation(
                model,
                meta.input_convention,
                sets,
                colour,
                validation_directory,
                command,
                dead_leaves=dead_leaves,
            )
        replaced = None
        if previous is not None:
            set_name = validation.get("set", "")  # scored_validation's, when sets are given
            replaced = replaced_record(previous, sha256, directory, sets, set_name)
        if replaced is not None:
            validation["previous"] = replaced
        entry = manifest.CheckpointEntry(
            file=file_name,
            sha256=sha256,
            architecture=config["model"],
            arguments={"width": config["width"]},
            cfa_kind=config["cfa"],
            default=default,
            size_bytes=len(payload),
            training=_training_record(summary, directory, published),
            validation=validation,
            colour=chosen,
        )
        entry.speed = kept_speed(previous, entry, cpu_12mp_seconds)
        manifest.write_manifest(with_entry(entries, entry), directory)
    return entry
