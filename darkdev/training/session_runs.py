"""A GPU session's results as a finished run's folder here, for `darkdev publish`, evaluation or
a CPU run's --init-from.

The session (session.py) brings back results.json, log.txt and the best weights as fp16 shards;
the run's own folder stays on the lent machine. So results.json carries the run's summary.json,
its log.jsonl and a SHA-256 of the tensors of its best.safetensors (RUN_KEY), and

    darkdev unpack-session SESSION_OUT RUN_DIR

rebuilds the run folder: best.safetensors joined from the verified shards (its tensors checked
against that SHA-256, so they are the run's export, bit for bit), summary.json (its export
record naming the joined file) and log.jsonl, beside copies of results.json and log.txt. The
folder appears whole or not at all, and nothing in SESSION_OUT is changed. A call cut at its
limit before training ended never wrote that record into results.json; every export also
writes it beside the shards (STEM.run.json, the loop's export_progress: the run as it stood at
that step), and unpack falls back to it, saying so in the summary.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from darkdev import weights
from darkdev.errors import OneLineParser, ParameterError, WeightsError
from darkdev.training.checkpoints import (
    EXPORT_NAME,
    SUMMARY_NAME,
    read_json_record,
    read_sharded,
    tensors_sha256,
)
from darkdev.training.curves import LOG_NAME, read_log, write_log

RESULTS_NAME = "results.json"
SESSION_LOG_NAME = "log.txt"  # what scripts/train_on_gpu.sh printed
RUN_KEY = "run"
RUN_RECORD_KEYS = {"summary", "log", "export_tensors_sha256"}  # what record_of writes
PROGRESS_SUFFIX = ".run.json"  # STEM.run.json: the record of the run at its latest export


def record_of(
    summary: dict[str, Any], log_path: Path, export_tensors_sha256: str
) -> dict[str, Any]:
    """A run's record: its summary, its log up to the summary's step and the SHA-256 of the
    exported weights' tensors (checkpoints.tensors_sha256)."""
    return {
        "summary": summary,
        "log": read_log(log_path, summary["steps"]),
        "export_tensors_sha256": export_tensors_sha256,
    }


def run_record(run_directory: Path) -> dict[str, Any]:
    """What results.json carries of a finished run (the session's)."""
    state, _ = weights.read_safetensors(run_directory / EXPORT_NAME)
    summary = json.loads((run_directory / SUMMARY_NAME).read_text())
    return record_of(summary, run_directory / LOG_NAME, tensors_sha256(state))


def progress_path(export_directory: Path, stem: str) -> Path:
    return export_directory / f"{stem}{PROGRESS_SUFFIX}"


def export_stem(plan: dict[str, Any]) -> str:
    """The shards' file stem (session.SessionPlan.export_stem, from results.json's plan)."""
    return plan.get("export_name") or f"{plan['model']}-w{plan['width']}-{plan['cfa']}"


def read_results(session_directory: Path) -> dict[str, Any]:
    path = session_directory / RESULTS_NAME
    results = read_json_record(
        path, {"plan", "stages"}, "not a GPU session's output folder", "a GPU session's results"
    )
    record = results.get(RUN_KEY)
    if isinstance(record, dict) and record.keys() >= RUN_RECORD_KEYS:
        return results
    progress = progress_path(session_directory, export_stem(results["plan"]))
    if not progress.is_file():
        done = ", ".join(results["stages"]) or "none"
        raise ParameterError(
            f"{path}: the session stopped before its training finished (stages done: {done}) "
            f"and {progress.name} is missing: no run to unpack"
        )
    results[RUN_KEY] = read_json_record(
        progress, RUN_RECORD_KEYS, "the run's record at its latest export", "a run's record"
    )
    results[RUN_KEY]["cut"] = True
    return results


def _joined_weights(
    session_directory: Path, results: dict[str, Any], staging: Path
) -> dict[str, Any]:
    """best.safetensors in staging, joined from the session's shards; returns its export record."""
    record = results[RUN_KEY]
    summary = record["summary"]
    index_path = session_directory / f"{export_stem(results['plan'])}.index.json"
    if not index_path.is_file():
        raise ParameterError(f"{index_path}: missing (the session's shard index)")
    state, index = read_sharded(index_path)
    if index.get("step", summary["best_step"]) != summary["best_step"]:
        raise WeightsError(
            f"{index_path}: shards of step {index['step']}, the run's best is step "
            f"{summary['best_step']}"
        )
    if tensors_sha256(state) != record["export_tensors_sha256"]:
        raise WeightsError(
            f"{index_path}: the shards' tensors are not the run's best.safetensors' "
            "(exported at another step, or altered)"
        )
    sha256 = weights.write_safetensors_atomically(staging / EXPORT_NAME, state, index["metadata"])
    export = {
        "sha256": sha256,
        "tensors_sha256": record["export_tensors_sha256"],
        "joined_from": index_path.name,
    }
    if summary["export"].get("sha256"):  # a finished run's own file: same tensors, other order
        export["session_file_sha256"] = summary["export"]["sha256"]
    return export


def unpack_session(session_directory: str | Path, run_directory: str | Path) -> Path:
    """Rebuild a GPU session's run as the folder run_directory (which must not exist); returns
    it. Raises ParameterError / WeightsError naming what is missing or does not verify."""
    session_directory, run_directory = Path(session_directory), Path(run_directory)
    if run_directory.exists():
        raise ParameterError(f"{run_directory}: already exists; unpack into a new folder")
    results = read_results(session_directory)
    record = results[RUN_KEY]
    run_directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{run_directory.name}-", dir=run_directory.parent))
    try:
        export = _joined_weights(session_directory, results, staging)
        summary = {
            **record["summary"],
            "export": {"file": str(run_directory / EXPORT_NAME), **export},
            "unpacked_from": {
                "folder": str(session_directory),
                "machine": results.get("machine"),
                "stages": results["stages"],
                # cut: the device call ended before training did; this is its latest export
                "cut_before_training_finished": bool(record.get("cut")),
            },
        }
        (staging / SUMMARY_NAME).write_text(json.dumps(summary, indent=2) + "\n")
        write_log(staging / LOG_NAME, record["log"])
        for name in (RESULTS_NAME, SESSION_LOG_NAME):
            if (session_directory / name).is_file():
                shutil.copyfile(session_directory / name, staging / f"session-{name}")
        staging.rename(run_directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return run_directory


def main(argv: list[str] | None = None) -> int:
    parser: argparse.ArgumentParser = OneLineParser(
        prog="darkdev unpack-session",
        description="Rebuild a GPU session's training run (scripts/train_on_gpu.sh's output "
        "folder) as a finished run's folder here, for darkdev publish, evaluate or --init-from.",
    )
    parser.add_argument("session", metavar="SESSION_OUT", help="the session's output folder")
    parser.add_argument("run", metavar="RUN_DIR", help="the run folder to create (must not exist)")
    arguments = parser.parse_args(argv)
    run_directory = unpack_session(arguments.session, arguments.run)
    summary = json.loads((run_directory / SUMMARY_NAME).read_text())
    cut = summary["unpacked_from"]["cut_before_training_finished"]
    print(
        f"{run_directory}: {summary['steps']} steps in {summary['wall_time_s']:.0f} s on "
        f"{summary['machine']}{' (cut: its latest export)' if cut else ''}; best step "
        f"{summary['best_step']}; darkdev publish {run_directory} --name FILE.safetensors "
        "publishes it"
    )
    return 0
