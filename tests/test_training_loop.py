"""The training loop on tiny runs: exact resume after a session limit or a stop, the weight
average, precision, schedule length, detail validation on resume, kept and exported weights."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from darkdev import manifest, weights
from darkdev.errors import ParameterError, WeightsError
from darkdev.models import build_model
from darkdev.network_input import InputConvention
from darkdev.training.checkpoints import export_sharded, load_sharded, load_training_state
from darkdev.training.cli import evaluate_main
from darkdev.training.config import TrainConfig, parse_args
from darkdev.training.evaluation import evaluate, markdown_table, read_validation_sets
from darkdev.training.loop import train
from darkdev.training.publishing import publish
from tests.training_helpers import tiny_config

pytestmark = pytest.mark.usefixtures("one_thread")


def same_final_weights(whole, split):
    """The two runs' last training states, after checking their weights agree."""
    a = load_training_state(whole / "last.pt")
    b = load_training_state(split / "last.pt")
    for key, tensor in a["model"].items():
        assert torch.allclose(tensor, b["model"][key], atol=1e-6), key
    return a, b


def test_resumed_run_equals_uninterrupted_run(tmp_path, photo_folder):
    whole = train(tiny_config(tmp_path / "whole", photo_folder))
    first = train(tiny_config(tmp_path / "split", photo_folder, session_steps=4))
    assert first["stopped_by"] == "session_steps" and first["steps"] == 4
    second = train(tiny_config(tmp_path / "split", photo_folder, resume=True))
    assert second["steps"] == whole["steps"] == 6
    a, b = same_final_weights(tmp_path / "whole", tmp_path / "split")
    assert a["best_step"] == b["best_step"]
    # The history names every start: one for the whole run, a start and a resume for the split.
    assert [i["from_step"] for i in whole["invocations"]] == [0]
    assert [i["from_step"] for i in second["invocations"]] == [0, 4]
    assert all("code" in i and i["utc"].endswith("Z") for i in second["invocations"])
    assert second["validation"]["psnr"] == pytest.approx(whole["validation"]["psnr"], abs=1e-5)
    for name in ("psnr_high_iso", "psnr_detail", "ssim_detail"):
        assert second["validation"][name] == pytest.approx(whole["validation"][name], abs=1e-5)
    # Outputs of a finished run.
    out = tmp_path / "whole"
    for name in (
        "best.safetensors",
        "summary.json",
        "log.jsonl",
        "training_curves.png",
        "photos.json",
        "validation-bayer-all_iso.npz",
        "validation-bayer-high_iso.npz",
        "validation-bayer-detail.npz",
    ):
        assert (out / name).exists(), name
    summary = json.loads((out / "summary.json").read_text())
    assert summary["validation"]["n_images"] == 1 and summary["steps"] == 6
    assert summary["validation"]["crop_raw_px"] == 64
    model, metadata = weights.load_model(
        out / "best.safetensors", summary["export"]["sha256"], "bayer"
    )
    assert metadata == {
        "architecture": "lts",
        "arguments": {"width": 4},
        "cfa_kind": "bayer",
        "white_balance_input": False,
        "below_black_input": False,
    }
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in log if "loss" in e] == [1, 2, 3, 4, 5, 6]
    assert [e["step"] for e in log if "val_psnr_high_iso" in e] == [3, 6]
    assert [e["step"] for e in log if "val_ssim_detail" in e] == [3, 6]
    check_publish_and_evaluate(tmp_path, out, summary)


def test_interrupted_run_resumes_as_if_never_stopped(tmp_path, photo_folder, monkeypatch):
    """A stop asked mid-run (Ctrl-C) ends at a step boundary with a resumable checkpoint."""
    from darkdev.training import loop

    whole = train(tiny_config(tmp_path / "whole", photo_folder))
    after_step = loop.after_step

    def stop_at_step_four(run):
        after_step(run)
        if run.step == 4:
            loop.request_stop()

    monkeypatch.setattr(loop, "after_step", stop_at_step_four)
    first = train(tiny_config(tmp_path / "split", photo_folder))
    assert first["stopped_by"] == "interrupted" and first["steps"] == 4
    assert not (tmp_path / "split" / "summary.json").exists()
    monkeypatch.setattr(loop, "after_step", after_step)
    second = train(tiny_config(tmp_path / "split", photo_folder, resume=True))
    assert second["steps"] == whole["steps"] == 6
    same_final_weights(tmp_path / "whole", tmp_path / "split")


def test_weight_average_is_validated_kept_and_resumed_exactly(tmp_path, photo_folder):
    # A large learning rate, so that the average and the weights differ clearly.
    average = dict(ema_decay=0.5, lr=0.1)
    whole = train(
        tiny_config(tmp_path / "whole", photo_folder, keep_validated_weights=True, **average)
    )
    train(tiny_config(tmp_path / "split", photo_folder, session_steps=4, **average))
    split = train(tiny_config(tmp_path / "split", photo_folder, resume=True, **average))
    a, b = same_final_weights(tmp_path / "whole", tmp_path / "split")
    assert a["ema"].keys() == a["model"].keys()
    for key, tensor in a["ema"].items():
        assert torch.allclose(tensor, b["ema"][key], atol=1e-6), key
    assert split["validation"]["psnr"] == pytest.approx(whole["validation"]["psnr"], abs=1e-5)
    # What is validated and kept is the average: the last validation's weights are the final one.
    kept, _ = weights.load_model(
        tmp_path / "whole" / "validated" / "step-000006.safetensors", expected_cfa_kind="bayer"
    )
    for key, tensor in kept.state_dict().items():
        torch.testing.assert_close(tensor.float(), a["ema"][key], atol=1e-3, rtol=1e-3)
    # ... which is not the weights (far beyond the export's float16 rounding).
    assert max((a["ema"][k] - a["model"][k]).abs().max().item() for k in a["ema"]) > 1e-2
    # A run resumed with --ema-decay that had none starts its average from the resumed weights.
    train(tiny_config(tmp_path / "late", photo_folder, session_steps=4))
    train(tiny_config(tmp_path / "late", photo_folder, ema_decay=0.5, resume=True))
    assert load_training_state(tmp_path / "late" / "last.pt")["ema"]
    with pytest.raises(ParameterError, match="--ema-decay"):
        TrainConfig(ema_decay=1.0).validate()
    assert parse_args(["--ema-decay", "0.999"]).ema_decay == 0.999


def test_only_a_decaying_schedule_takes_its_length_from_the_measured_speed(tmp_path, photo_folder):
    """A constant rate's run on a time budget stops by time: a length fixed from a slow stretch
    of a shared machine once stopped such a run at 57% of its budget."""
    lengths = {}
    for schedule in ("constant", "cosine"):
        out = tmp_path / schedule
        config = dict(max_steps=None, max_minutes=60.0, session_steps=125, validate_every=1000)
        train(tiny_config(out, photo_folder, lr_schedule=schedule, **config))
        lengths[schedule] = load_training_state(out / "last.pt")["total_steps"]
    assert lengths["constant"] == -1 and lengths["cosine"] > 125
    assert not TrainConfig(lr_schedule="constant").schedule_from_speed
    assert not TrainConfig(max_steps=10).schedule_from_speed and TrainConfig().schedule_from_speed


def test_half_precision_trains_in_bfloat16_and_resumes_exactly(tmp_path, photo_folder):
    full = train(tiny_config(tmp_path / "full", photo_folder))
    half = train(tiny_config(tmp_path / "half", photo_folder, precision="half"))
    assert half["steps"] == full["steps"] == 6
    a = load_training_state(tmp_path / "full" / "last.pt")["model"]
    b = load_training_state(tmp_path / "half" / "last.pt")["model"]
    assert all(b[key].dtype == torch.float32 for key in b)  # master weights stay float32
    assert any(not torch.equal(a[key], b[key]) for key in a)  # bf16 really was used
    train(tiny_config(tmp_path / "split", photo_folder, precision="half", session_steps=4))
    train(tiny_config(tmp_path / "split", photo_folder, precision="half", resume=True))
    same_final_weights(tmp_path / "half", tmp_path / "split")


def test_stop_asked_before_the_first_step_is_honoured_once(tmp_path, photo_folder):
    from darkdev.training import loop

    loop.request_stop()  # e.g. Ctrl-C while the run was still building its model
    first = train(tiny_config(tmp_path / "run", photo_folder))
    assert first["stopped_by"] == "interrupted" and first["steps"] == 0
    assert (tmp_path / "run" / "last.pt").exists() and not loop.STOP_REQUESTED.is_set()
    second = train(tiny_config(tmp_path / "run", photo_folder, resume=True))
    assert second["steps"] == 6


def check_publish_and_evaluate(tmp_path, out, summary):
    """Publishing into a weights folder, then evaluating against the classical pipeline."""
    entry = publish(out, "lts-w4-bayer.safetensors", tmp_path / "weights")
    assert manifest.read_manifest(tmp_path / "weights") == [entry]
    validation = summary["validation"]
    assert entry.default and entry.validation["psnr"] == pytest.approx(validation["psnr"], abs=1e-3)
    assert entry.validation["psnr_high_iso"] == pytest.approx(validation["psnr_high_iso"], abs=1e-3)
    assert entry.validation["target"] == validation["target"]
    assert entry.training["invocations"] == summary["invocations"]
    assert entry.training["photo_count"] == len(summary["config"]["photo_names"])
    validations = read_validation_sets([out], "bayer")
    assert sorted(validations) == ["all_iso", "detail", "high_iso"]
    assert entry.validation["psnr_detail"] == pytest.approx(validation["psnr_detail"], abs=1e-3)
    rows = evaluate([tmp_path / "weights" / entry.file], validations, "bayer", threads=1)
    scores = {(row.name.split()[0], row.split): row for row in rows}
    for split, suffix in (("all_iso", ""), ("high_iso", "_high_iso")):
        classical = validation[f"classical_psnr{suffix}"]
        if not np.isnan(classical):
            assert scores["classical", split].psnr == pytest.approx(classical, abs=1e-6)
        network = scores["lts", split]
        assert network.psnr == pytest.approx(validation[f"psnr{suffix}"], abs=0.05)  # fp16 export
    table = markdown_table(rows, "bayer")
    assert "| classical" in table and "PSNR high ISO" in table and "SSIM all ISO" in table
    # Two views (identity and its 180-degree turn) score the same crops: close to one view.
    paired = evaluate([tmp_path / "weights" / entry.file], validations, "bayer", 1, ensemble=2)
    for one, two in zip(rows, paired, strict=True):
        assert (one.name, one.split) == (two.name, two.split)
        assert two.psnr == pytest.approx(one.psnr, abs=1.5) and np.isfinite(two.ssim)
    # Sets made without LibRaw (the GPU machine) have no classical row to score: shown as '-'.
    without_libraw = {
        s: dataclasses.replace(v, libraw=None, classical=None) for s, v in validations.items()
    }
    rows = evaluate([], without_libraw, "bayer", threads=1)
    assert "| classical (linear ratio + LibRaw) | - | - | - | - | - |" in markdown_table(
        rows, "bayer"
    )
    table_path = tmp_path / "hdr.md"
    assert evaluate_main([
        str(tmp_path / "weights" / entry.file), "--cfa", "bayer", "--threads", "1",
        "--validation-set", str(out), "--lam", "1", "--highlight-rich", "--out", str(table_path),
    ]) == 0  # fmt: skip
    table = table_path.read_text()
    assert "RIMEF lambda 1 alpha 1" in table and "highlight-rich half" in table
    assert table.count("\n| ") == 3  # header, classical, the checkpoint (both splits per line)


def test_resume_adds_the_detail_split_and_scores_the_best_on_it(tmp_path, photo_folder, capsys):
    from darkdev.training.state import saved_best_scores

    out = tmp_path / "run"
    first = train(tiny_config(out, photo_folder, session_steps=4, detail_validation=False))
    assert first["stopped_by"] == "session_steps"
    assert not (out / "validation-bayer-detail.npz").exists()
    saved = torch.load(out / "last.pt", weights_only=True)
    assert sorted(saved["best_scores"]) == ["all_iso", "high_iso"] and saved["best_step"] == 3
    # Resumed with the detail split (the default): the step-3 best is scored on it at once, so
    # later validations are ranked against it on all three splits.
    second = train(tiny_config(out, photo_folder, resume=True))
    assert "best weights (step 3) scored on detail too" in capsys.readouterr().out
    assert (out / "validation-bayer-detail.npz").exists()
    saved = torch.load(out / "last.pt", weights_only=True)
    assert sorted(saved["best_scores"]) == ["all_iso", "detail", "high_iso"]
    assert "psnr_detail" in second["validation"] and "ssim_detail" in second["validation"]
    # last.pt files from before per-split scores keep their best on resume.
    legacy = {"best_psnr": 28.0, "best_ssim": 0.8, "best_psnr_high_iso": 26.0}
    legacy["best_ssim_high_iso"] = 0.7
    assert saved_best_scores(legacy) == {"all_iso": (28.0, 0.8), "high_iso": (26.0, 0.7)}
    assert saved_best_scores({"best_psnr": 28.0, "best_ssim": 0.8}) == {"all_iso": (28.0, 0.8)}
    assert parse_args(["--no-detail-validation"]).detail_validation is False


def test_kept_weights_of_every_validation_and_best_by_ssim(tmp_path, photo_folder):
    out = tmp_path / "run"
    summary = train(tiny_config(out, photo_folder, select_by="ssim", keep_validated_weights=True))
    kept = sorted(p.name for p in (out / "validated").iterdir())
    assert kept == ["step-000003.safetensors", "step-000006.safetensors"]
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    scores = {e["step"]: e["val_ssim"] + e["val_ssim_high_iso"] for e in log if "val_ssim" in e}
    assert summary["best_step"] == max(scores, key=lambda step: scores[step])
    best, _ = weights.read_safetensors(out / "best.safetensors")
    same, _ = weights.read_safetensors(
        out / "validated" / f"step-{summary['best_step']:06d}.safetensors"
    )
    assert all(torch.equal(best[name], same[name]) for name in best)


def test_sharded_export_round_trips_and_verifies(tmp_path):
    torch.manual_seed(0)
    model = build_model("lts", "bayer", 4)  # 244 kB in float16, the largest tensor 74 kB
    describe = dict(architecture="lts", arguments={"width": 4}, cfa_kind="bayer")
    limit = 100 * 1024
    index_path = export_sharded(
        model, tmp_path, limit, **describe, convention=InputConvention(white_balance=True)
    )
    index = json.loads(index_path.read_text())
    assert len(index["shards"]) > 1
    for record in index["shards"]:
        assert (tmp_path / record["file"]).stat().st_size <= limit
        assert record["sha256"] == weights.sha256_of(tmp_path / record["file"])
    loaded, metadata = load_sharded(index_path, expected_cfa_kind="bayer")
    assert metadata["white_balance_input"] is True and metadata["arguments"] == {"width": 4}
    for key, tensor in model.state_dict().items():
        expected = tensor.to(torch.float16).to(torch.float32)
        assert torch.equal(loaded.state_dict()[key], expected), key
    # One file at the default limit; earlier shards of the same name are removed.
    single = export_sharded(model, tmp_path, **describe)
    assert single == index_path and len(list(tmp_path.glob("best-*.safetensors"))) == 1
    assert load_sharded(single)[1]["architecture"] == "lts"
    shard = tmp_path / json.loads(single.read_text())["shards"][0]["file"]
    shard.write_bytes(shard.read_bytes()[:-4] + b"\0\0\0\0")
    with pytest.raises(WeightsError, match="sha256"):
        load_sharded(single)
    other = export_sharded(model, tmp_path / "other", **describe)
    with pytest.raises(WeightsError, match="bayer"):
        load_sharded(other, expected_cfa_kind="xtrans")
    with pytest.raises(ParameterError, match="tensor"):
        export_sharded(model, tmp_path / "small", 2048, **describe)


def test_later_sgns_learn_at_their_own_rate(tmp_path, photo_folder):
    from darkdev.training.state import build_optimizer

    config = tiny_config(tmp_path / "run", photo_folder, model="rmcn-2-nobc", max_steps=2)
    config = dataclasses.replace(config, later_sgn_lr_scale=10.0)
    network = build_model("rmcn-2-nobc", "bayer", 4)
    first, later = build_optimizer(network, config).param_groups
    assert {id(p) for p in first["params"]} == {id(p) for p in network.sgns[0].parameters()}
    assert len(first["params"]) + len(later["params"]) == len(list(network.parameters()))
    train(config)
    groups = load_training_state(tmp_path / "run" / "last.pt")["optimizer"]["param_groups"]
    assert groups[1]["lr"] == pytest.approx(10 * groups[0]["lr"]) and groups[0]["lr"] > 0
    # A resumed run must keep the groups it was started with.
    with pytest.raises(ParameterError, match="later-sgn-lr-scale"):
        train(dataclasses.replace(config, later_sgn_lr_scale=1.0, resume=True, max_steps=3))
    (single,) = build_optimizer(build_model("lts", "bayer", 4), TrainConfig()).param_groups
    for bad in (TrainConfig(later_sgn_lr_scale=0), TrainConfig(later_sgn_lr_scale=float("inf"))):
        with pytest.raises(ParameterError, match="must be > 0"):
            bad.validate()
    with pytest.raises(ParameterError, match="one SGN"):
        TrainConfig(model="lts", later_sgn_lr_scale=10).validate()
