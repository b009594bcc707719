"""A GPU session's output unpacked into a run folder (training.session_runs): the joined weights
verified against the run's export, errors that name what is wrong, nothing half-written. The
whole path (session, unpack, publish) runs in test_gpu_session.py's rehearsal."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from darkdev import weights
from darkdev.errors import ParameterError, WeightsError
from darkdev.models import build_model
from darkdev.training.checkpoints import export_sharded, read_sharded, tensors_sha256
from darkdev.training.session_runs import main, unpack_session
from tests.training_helpers import run_darkdev

STEM = "lts-w4-bayer"


def _session(folder, best_step=6, shard_step=6):
    """A session's output as session.py leaves it: shards of a tiny network, results.json
    with the run's record, log.txt."""
    torch.manual_seed(0)
    model = build_model("lts", "bayer", 4)
    describe = dict(architecture="lts", arguments={"width": 4}, cfa_kind="bayer")
    folder.mkdir()
    index = export_sharded(model, folder, 100 * 1024, **describe, stem=STEM, step=shard_step)
    state, _ = read_sharded(index)
    log = [{"step": 0, "loss": 0.5}, {"step": best_step, "val_psnr": 20.0, "val_ssim": 0.5}]
    results = {
        "plan": {"model": "lts", "width": 4, "cfa": "bayer", "export_name": ""},
        "machine": "x86_64, torch 2.11, NVIDIA H100",
        "stages": {"self_check": {"at_seconds": 30.0}, "training": {"at_seconds": 400.0}},
        "run": {
            "summary": {"steps": 8, "best_step": best_step, "wall_time_s": 300.0,
                        "machine": "x86_64 16 cpus, device cuda",
                        "export": {"file": "/tmp/x/best.safetensors", "sha256": "ab" * 32}},
            "log": log,
            "export_tensors_sha256": tensors_sha256(state),
        },
    }  # fmt: skip
    (folder / "results.json").write_text(json.dumps(results))
    (folder / "log.txt").write_text("step 6: validation ...\n")
    return folder, state


def test_unpack_rebuilds_the_run_folder(tmp_path):
    session, state = _session(tmp_path / "out")
    before = {p.name: p.read_bytes() for p in session.iterdir()}
    run = unpack_session(session, tmp_path / "runs" / "gpu")
    names = sorted(p.name for p in run.iterdir())
    assert names == [
        "best.safetensors",
        "log.jsonl",
        "session-log.txt",
        "session-results.json",
        "summary.json",
    ]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["export"]["sha256"] == weights.sha256_of(run / "best.safetensors")
    assert summary["export"]["file"] == str(run / "best.safetensors")
    assert summary["export"]["joined_from"] == f"{STEM}.index.json"
    assert summary["export"]["session_file_sha256"] == "ab" * 32
    assert summary["unpacked_from"]["machine"].endswith("H100")
    joined, _ = weights.read_safetensors(run / "best.safetensors")
    assert sorted(joined) == sorted(state)
    assert all(torch.equal(joined[name], state[name]) for name in state)
    model, _ = weights.load_model(run / "best.safetensors")
    assert model.__class__.__name__  # it loads as a network
    lines = (run / "log.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [0, 6]
    assert {p.name: p.read_bytes() for p in session.iterdir()} == before  # input untouched


def test_unpack_refuses_what_does_not_verify(tmp_path):
    session, _ = _session(tmp_path / "out")
    (tmp_path / "taken").mkdir()
    with pytest.raises(ParameterError, match="already exists"):
        unpack_session(session, tmp_path / "taken")
    with pytest.raises(ParameterError, match="results.json: missing"):
        unpack_session(tmp_path / "taken", tmp_path / "run")
    cut = tmp_path / "cut"
    shutil.copytree(session, cut)
    results = json.loads((cut / "results.json").read_text())
    del results["run"]
    (cut / "results.json").write_text(json.dumps(results))
    with pytest.raises(ParameterError, match="stopped before its training finished"):
        unpack_session(cut, tmp_path / "run")
    other, _ = _session(tmp_path / "other", best_step=6, shard_step=4)
    with pytest.raises(WeightsError, match="step 4"):
        unpack_session(other, tmp_path / "run")
    altered = tmp_path / "altered"
    shutil.copytree(session, altered)
    results = json.loads((altered / "results.json").read_text())
    results["run"]["export_tensors_sha256"] = "0" * 64
    (altered / "results.json").write_text(json.dumps(results))
    with pytest.raises(WeightsError, match="not the run's best"):
        unpack_session(altered, tmp_path / "run")
    for shard in session.glob(f"{STEM}-00001-*.safetensors"):
        shard.write_bytes(shard.read_bytes()[:-4] + b"\0\0\0\0")
    with pytest.raises(WeightsError, match="sha256"):
        unpack_session(session, tmp_path / "run")
    # Every refusal left nothing behind: no run folder, no staging folder.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["altered", "cut", "other", "out", "taken"]


def test_a_cut_session_unpacks_from_its_latest_export(tmp_path):
    """A call cut before training ended: no run record in results.json, but the one the loop
    wrote beside the shards at their export."""
    session, state = _session(tmp_path / "out")
    results = json.loads((session / "results.json").read_text())
    record = results.pop("run")
    record["summary"] = {
        **record["summary"],
        "steps": 6,
        "stopped_by": "in progress: the latest export",
        "export": {"file": f"{STEM}.index.json", "sha256": None},
    }
    (session / "results.json").write_text(json.dumps(results))
    (session / f"{STEM}.run.json").write_text(json.dumps(record))
    run = unpack_session(session, tmp_path / "run")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["unpacked_from"]["cut_before_training_finished"] is True
    assert summary["steps"] == summary["best_step"] == 6
    assert "session_file_sha256" not in summary["export"]
    joined, _ = weights.read_safetensors(run / "best.safetensors")
    assert all(torch.equal(joined[name], state[name]) for name in state)
    finished = unpack_session(_session(tmp_path / "finished")[0], tmp_path / "run-finished")
    summary = json.loads((finished / "summary.json").read_text())
    assert summary["unpacked_from"]["cut_before_training_finished"] is False


def test_tensors_sha256_ignores_how_the_file_was_written(tmp_path):
    model = build_model("lts", "bayer", 4)
    state = weights.export_state(model)
    assert tensors_sha256(state) == tensors_sha256(dict(reversed(list(state.items()))))
    name = next(iter(state))
    changed = {**state, name: state[name] + 1}
    assert tensors_sha256(changed) != tensors_sha256(state)
    assert tensors_sha256({name: state[name].float()}) != tensors_sha256({name: state[name]})


def test_unpack_session_command(tmp_path):
    session, _ = _session(tmp_path / "out")
    assert main([str(session), str(tmp_path / "run")]) == 0
    result = run_darkdev("unpack-session", str(session), str(tmp_path / "run"))
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0 and "already exists" in result.stderr
