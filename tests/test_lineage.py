"""A published checkpoint's lineage: one level of the checkpoint it started from, and the
training summed over the chain; the nested form of older manifests is read and bounded."""

from __future__ import annotations

import json

from darkdev.training.checkpoints import INIT_RECORD_NAME, start_record
from darkdev.training.lineage import bounded, earlier_checkpoint, lineage


def run_record(steps, wall_time_s, published_step, started_from=None):
    record = {"command": f"train --steps {steps}", "steps": steps, "wall_time_s": wall_time_s}
    record["published_step"] = published_step
    if started_from is not None:
        record["initialised_from"] = started_from
    return record


SCORES = {"psnr": 20.0, "ssim": 0.5, "psnr_high_iso": 18.0, "classical_psnr": 12.0}


def nested_chain(depth):
    """The form manifests had before bounding: each link holds the whole earlier record."""
    record = run_record(100, 10.0, 90)  # from scratch
    for link in range(1, depth):
        earlier = {"file": f"w{link}.safetensors", "sha256": f"{link:064x}", "training": record}
        earlier["validation"] = SCORES
        record = run_record(100 * (link + 1), 10.0, 50, earlier)
    return record


def test_lineage_sums_published_steps_and_wall_time_over_a_nested_chain():
    chain = lineage(nested_chain(4))
    assert chain == {"runs": 4, "steps": 90 + 3 * 50, "wall_time_s": 40.0, "complete": True}


def test_records_before_published_step_count_the_best_step():
    record = {"command": "c", "steps": 300, "best_step": 200, "wall_time_s": 1.0}
    assert lineage(record)["steps"] == 200


def test_bounded_keeps_one_level_and_is_idempotent():
    nested = nested_chain(5)
    record = bounded(nested)
    earlier = record["initialised_from"]
    assert "training" not in earlier and earlier["steps"] == 400 and earlier["published_step"] == 50
    assert earlier["initialised_from"] == {"file": "w3.safetensors", "sha256": f"{3:064x}"}
    assert earlier["validation"] == {"psnr": 20.0, "ssim": 0.5, "psnr_high_iso": 18.0}
    assert earlier["lineage"]["runs"] == 4 and record["lineage"] == lineage(nested)
    assert bounded(record) == record
    # Bounded, a record's size no longer grows with the length of its chain.
    assert len(json.dumps(bounded(nested_chain(12)))) - len(json.dumps(record)) < 20


def test_a_chain_from_unrecorded_weights_is_incomplete_and_says_where_it_stops():
    start = {"file": "runs/a/validated/step-000500.safetensors", "sha256": "0" * 64}
    record = run_record(100, 5.0, 100, start)
    assert lineage(record) == {
        "runs": 1,
        "steps": 100,
        "wall_time_s": 5.0,
        "complete": False,
        "unrecorded_start": start["file"],
        "unrecorded_sha256": start["sha256"],
    }
    later = run_record(
        50, 2.5, 40, earlier_checkpoint({"file": "x", "sha256": "1" * 64}, record, {})
    )
    assert lineage(later) == {**lineage(record), "runs": 2, "steps": 140, "wall_time_s": 7.5}


def test_earlier_checkpoint_the_manifest_does_not_know_is_its_file_and_hash():
    started = {"file": "w.safetensors", "sha256": "2" * 64}
    assert earlier_checkpoint(started, None, None) == started


def test_an_unreadable_start_record_falls_back_to_the_hash(tmp_path):
    assert start_record(tmp_path) is None  # a run from scratch has none
    (tmp_path / INIT_RECORD_NAME).write_text("{not json")
    assert start_record(tmp_path) is None
    (tmp_path / INIT_RECORD_NAME).write_text(json.dumps({"file": "w", "sha256": "3" * 64}))
    assert start_record(tmp_path) == {"file": "w", "sha256": "3" * 64}
