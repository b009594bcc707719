"""Publishing a finished run: its best weights copied into the checkpoints folder with a manifest entry whose
numbers come from the run's summary.json (measured by this code), both validation splits
included."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from darkdev import manifest, weights
from darkdev.training.checkpoints import EXPORT_NAME


def _initialisation_record(summary: dict[str, Any], directory: Path) -> dict[str, Any]:
    """Where a continued run started: the file, its hash and, if the manifest knows that hash,
    the training and validation record of that earlier checkpoint (so the chain stays known)."""
    record = dict(summary["initialised_from"])
    for entry in manifest.read_manifest(directory):
        if entry.sha256 == record["sha256"]:
            record["training"] = entry.training
            record["validation"] = entry.validation
    return record


def _training_record(summary: dict[str, Any], directory: Path) -> dict[str, Any]:
    config = summary["config"]
    record = {
        "command": summary["command"],
        "data": summary["data"],
        "steps": summary["steps"],
        "best_step": summary["best_step"],
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
        "lam_max": config["lam_max"],
    }
    if "precision" in config:  # runs before the setting trained in float32 on CPU, bf16 on CUDA
        record["precision"] = config["precision"]
    if config.get("noise_widening") is not None:
        record["noise_widening"] = config["noise_widening"]
    if summary.get("initialised_from"):
        record["initialised_from"] = _initialisation_record(summary, directory)
    return record


def _validation_record(validation: dict[str, Any]) -> dict[str, Any]:
    """The summary's scores, both splits (a summary from before the high-ISO split has only one)."""
    names = ["psnr", "ssim", "classical_psnr", "classical_ssim"]
    names += [f"{name}_high_iso" for name in names]
    record: dict[str, Any] = {
        name: round(validation[name], 4) for name in names if name in validation
    }
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


def publish(
    run_directory: str | Path,
    file_name: str,
    weights_directory: Path | None = None,
    default: bool = True,
    cpu_12mp_seconds: float | None = None,
    colour: str = "guided",
) -> manifest.CheckpointEntry:
    """Copy a finished run's best.safetensors into the checkpoints folder and add/replace its
    manifest entry.

    With default=True, other entries of the same CFA kind stop being the default.
    cpu_12mp_seconds: develop's measured end-to-end time for 12 MP on 2 CPU cores
    (benchmarks/bench_develop.py), which --model auto checks on a CPU. colour: the colour mode
    that measured better with it (benchmarks/eval_colour.py), which --colour auto uses.
    """
    run_directory = Path(run_directory)
    directory = weights_directory or manifest.weights_dir()
    summary = json.loads((run_directory / "summary.json").read_text())
    config = summary["config"]
    destination = directory / file_name
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(run_directory / EXPORT_NAME, destination)
    sha256 = weights.sha256_of(destination)
    if sha256 != summary["export"]["sha256"]:
        raise OSError(f"{destination}: copy differs from {run_directory / EXPORT_NAME}")
    entry = manifest.CheckpointEntry(
        file=file_name,
        sha256=sha256,
        architecture=config["model"],
        arguments={"width": config["width"]},
        cfa_kind=config["cfa"],
        default=default,
        size_bytes=destination.stat().st_size,
        training=_training_record(summary, directory),
        validation=_validation_record(summary["validation"]),
        speed={} if cpu_12mp_seconds is None else {"cpu_2_cores_12mp_s": cpu_12mp_seconds},
        colour=colour,
    )
    entries = [e for e in manifest.read_manifest(directory) if e.file != file_name]
    if default:
        for other in entries:
            if other.cfa_kind == entry.cfa_kind:
                other.default = False
    manifest.write_manifest([*entries, entry], directory)
    return entry
