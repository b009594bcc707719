"""A published checkpoint's lineage: the checkpoint its run started from, one level deep (file,
hash, command, steps, wall time, scores, and the hash *it* started from), and the training summed
over the whole chain of runs. A manifest entry so stays one size however often a network is
continued; the chain can still be walked by hash through the entries' and runs' own records.

Where the starting weights' record comes from (publishing): what the manifest beside them knew
when the run started (the run's init.json), else the manifest by hash (an entry, or the record an
entry keeps of the one it replaced), else the run folder they are in (unpublished weights).

Manifests written before this rule nested each earlier entry's whole record; `bounded` reads that
form too and cuts it to this one.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from darkdev.manifest import CheckpointEntry
from darkdev.training.validation import ALL_SPLITS, split_suffix

LINEAGE_KEY = "lineage"
# A validation's own scores: PSNR and SSIM of every split it has.
SCORE_NAMES = tuple(f"{m}{split_suffix(s)}" for s in ALL_SPLITS for m in ("psnr", "ssim"))
# What earlier_checkpoint adds to a file and hash: how the weights were made and scored.
EARLIER_KEYS = (
    "command",
    "steps",
    "published_step",
    "wall_time_s",
    "validation",
    "initialised_from",
    LINEAGE_KEY,
)


def published_step(training: dict[str, Any]) -> int:
    """The step whose weights were published (records before the choice published the best)."""
    return int(training.get("published_step", training.get("best_step", training["steps"])))


def lineage(training: dict[str, Any]) -> dict[str, Any]:
    """The chain of runs that made a checkpoint, this run included: how many runs, the steps
    that led to the published weights (each run's published step), the runs' wall time, and
    whether the chain is known back to a run that started from scratch (complete; if not,
    unrecorded_start names the weights where the record stops)."""
    if LINEAGE_KEY in training:
        return training[LINEAGE_KEY]
    own = {
        "runs": 1,
        "steps": published_step(training),
        "wall_time_s": round(float(training["wall_time_s"]), 1),
        "complete": True,
    }
    earlier = training.get("initialised_from")
    if not earlier:
        return own
    if LINEAGE_KEY in earlier:
        before = earlier[LINEAGE_KEY]
    elif "training" in earlier:  # the nested form of manifests before bounding
        before = lineage(earlier["training"])
    else:  # started from weights the manifest had no record of
        unrecorded = {
            "unrecorded_start": earlier.get("file"),
            "unrecorded_sha256": earlier.get("sha256"),
        }
        return {**own, "complete": False, **unrecorded}
    return {
        **before,
        "runs": own["runs"] + before["runs"],
        "steps": own["steps"] + before["steps"],
        "wall_time_s": round(own["wall_time_s"] + before["wall_time_s"], 1),
    }


def earlier_checkpoint(
    started_from: dict[str, Any],
    training: dict[str, Any] | None,
    validation: dict[str, Any] | None,
) -> dict[str, Any]:
    """What a new entry records of the checkpoint its run started from: the run summary's
    file and hash and, where a record of those weights is known (a manifest entry's, or one
    made from their run folder: training and validation), how they were made and scored, one
    level deep. training must be complete (is_complete_record)."""
    record = {k: v for k, v in started_from.items() if k not in ("training", "validation")}
    if training is None:
        return record
    record.update(command=training["command"], steps=training["steps"])
    record.update(published_step=published_step(training), wall_time_s=training["wall_time_s"])
    scores = validation or {}
    record["validation"] = {n: scores[n] for n in (*SCORE_NAMES, "set") if n in scores}
    started = training.get("initialised_from")
    if started:
        record["initialised_from"] = {k: started[k] for k in ("file", "sha256") if k in started}
    record[LINEAGE_KEY] = lineage(training)
    return record


def is_complete_record(training: dict[str, Any]) -> bool:
    """Whether a training record says how its weights were made (command, steps, wall time):
    what earlier_checkpoint needs; hand-made or foreign entries may not."""
    return {"command", "steps", "wall_time_s"} <= training.keys()


def known_record(
    started_from: dict[str, Any], entries: Iterable[CheckpointEntry]
) -> dict[str, Any] | None:
    """What a manifest knows of the weights a run started from, found by their hash: an entry's
    record (earlier_checkpoint), or the one an entry keeps of the entry it replaced; None if
    neither."""
    for entry in entries:
        if entry.sha256 == started_from["sha256"] and is_complete_record(entry.training):
            return earlier_checkpoint(started_from, entry.training, entry.validation)
        replaced = entry.validation.get("previous") or {}
        if replaced.get("sha256") == started_from["sha256"] and LINEAGE_KEY in replaced:
            return {**started_from, **{k: replaced[k] for k in EARLIER_KEYS if k in replaced}}
    return None


def bounded(training: dict[str, Any]) -> dict[str, Any]:
    """A training record in the bounded form publish writes: initialised_from one level deep,
    and the lineage of the whole chain. Reads the nested form as well; idempotent."""
    record = dict(training)
    earlier = training.get("initialised_from")
    if earlier and "training" in earlier:
        record["initialised_from"] = earlier_checkpoint(
            earlier, earlier["training"], earlier.get("validation")
        )
    record[LINEAGE_KEY] = lineage(training)
    return record
