"""Training package: loss, learning, exact resume, data parallel, outputs, evaluation, export;
tiny width-4 models, a few steps, 64 px validation crops."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from unittest.mock import ANY

import imageio.v3 as imageio
import numpy as np
import pytest
import torch

from darkdev import manifest, weights
from darkdev.errors import ParameterError, ShapeError, WeightsError
from darkdev.models import build_model
from darkdev.network_input import BELOW_BLACK_FLOOR, InputConvention
from darkdev.training import photos as photo_files
from darkdev.training import synthetic
from darkdev.training.batches import BatchSource, Prefetcher, validation_sets
from darkdev.training.checkpoints import export_sharded, load_sharded, load_training_state
from darkdev.training.cli import evaluate_main
from darkdev.training.config import TrainConfig, bfloat16_autocast, parse_args
from darkdev.training.evaluation import evaluate, markdown_table, read_validation_sets
from darkdev.training.loop import train
from darkdev.training.loss import (
    compute_loss,
    learning_rate,
    structural_similarity,
    total_variation,
)
from darkdev.training.publishing import publish

REPOSITORY = Path(__file__).resolve().parents[1]


def smooth_photo(height: int = 300, width: int = 320, seed: int = 0) -> photo_files.Photo:
    """A smooth colourful 8-bit 'photo'."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:height, 0:width] / max(height, width)
    image = np.stack([0.2 + 0.6 * rows, 0.3 + 0.5 * cols, 0.7 - 0.4 * (rows + cols) / 2], axis=-1)
    image += 0.1 * np.sin(rows[..., None] * 6 + rng.random(3) * 6)
    pixels = (np.clip(image, 0, 1) * 255).round().astype(np.uint8)
    return photo_files.Photo(f"smooth-{seed}.png", pixels)


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: on a busy 2-core machine, 2 spinning threads are several times slower."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def photo_folder(tmp_path_factory):
    import imageio.v3 as imageio

    folder = tmp_path_factory.mktemp("photos")
    for seed in range(4):
        imageio.imwrite(folder / f"smooth-{seed}.png", smooth_photo(260, 280, seed).pixels)
    return folder


def tiny_config(out, photos, **changes) -> TrainConfig:
    values = dict(
        model="lts",
        cfa="bayer",
        width=4,
        crop=16,
        batch=2,
        max_steps=6,
        out=str(out),
        photos=str(photos),
        threads=1,
        data_workers=0,
        validate_every=3,
        validation_count=1,
        validation_packed_px=32,
        lr=1e-3,
        checkpoint_minutes=1000.0,
        log_every=1,
        precision="full",  # the same numbers on every machine (auto is bf16 on AMX CPUs)
    )
    values.update(changes)
    return TrainConfig(**values)


def test_loss_terms():
    target = torch.zeros(1, 3, 8, 8)
    flat = torch.full((1, 3, 8, 8), 0.5)
    assert total_variation(flat).item() == 0
    assert compute_loss([flat, flat], target, 1.0).item() == pytest.approx(1.0)  # two L1 terms
    stripes = torch.zeros(1, 3, 8, 8)
    stripes[..., ::2] = 1
    assert total_variation(stripes).item() == pytest.approx(1.0)
    assert compute_loss([stripes], target, 0.5).item() == pytest.approx(0.5 + 0.5)
    # Block means: stripes average to 0.5 over 8x8 blocks; a flat 0.5 image costs the same.
    assert compute_loss([stripes], target, 0.0, 2.0).item() == pytest.approx(0.5 + 2 * 0.5)
    shifted = stripes[..., [1, 0, 3, 2, 5, 4, 7, 6]]  # same block means, every pixel wrong
    assert compute_loss([shifted], stripes, 0.0, 2.0).item() == pytest.approx(1.0)


def test_torch_ssim_is_the_metric_and_its_loss_term_learns():
    from darkdev.metrics import ssim

    generator = torch.Generator().manual_seed(0)
    reference = torch.rand(2, 3, 24, 20, generator=generator, dtype=torch.float64)
    image = (reference + 0.2 * torch.rand(2, 3, 24, 20, generator=generator)).clamp(0, 1)
    expected = [
        ssim(r.permute(1, 2, 0).numpy(), i.permute(1, 2, 0).numpy())
        for r, i in zip(reference, image, strict=True)
    ]
    for index in range(2):
        assert structural_similarity(
            image[index : index + 1], reference[index : index + 1]
        ).item() == pytest.approx(expected[index], abs=1e-6)
    assert structural_similarity(reference, reference).item() == pytest.approx(1.0)
    assert compute_loss(
        [reference.float()], reference.float(), 0.0, 0.0, 3.0
    ).item() == pytest.approx(0, abs=1e-5)
    noisy = image.float().requires_grad_()
    compute_loss([noisy], reference.float(), 0.0, 0.0, 1.0).backward()
    assert (
        noisy.grad is not None and torch.isfinite(noisy.grad).all() and noisy.grad.abs().sum() > 0
    )
    with pytest.raises(ShapeError, match="SSIM needs"):
        structural_similarity(image[..., :6, :], reference[..., :6, :])
    with pytest.raises(ParameterError, match="--ssim-weight"):
        TrainConfig(ssim_weight=-1).validate()


def test_learning_rate_schedules():
    config = TrainConfig(lr=1e-4)
    assert learning_rate(config, 0, 100) == 1e-4 and learning_rate(config, 50, 100) == 1e-5
    cosine = TrainConfig(lr=1e-3, lr_schedule="cosine")
    assert learning_rate(cosine, 0, 100) == pytest.approx(1e-3)
    assert learning_rate(cosine, 100, 100) == pytest.approx(0, abs=1e-12)


def test_schedule_length_follows_a_slowing_machine():
    """A time budget's schedule is re-fixed from the session's speed until half of it passed."""
    import time
    from types import SimpleNamespace

    from darkdev.training.loop import refine_schedule_length

    def fake_run(config: TrainConfig, step: int, total_steps: int):
        # 0.3 s a step so far, 300 of 6000 s spent; the start guessed 0.15 s a step.
        return SimpleNamespace(
            config=config,
            step=step,
            total_steps=total_steps,
            session_start_step=0,
            session_start_time=time.monotonic() - 0.3 * step,
            budget_s=lambda: 6000.0,
            elapsed=lambda: 0.3 * step,
        )

    run = fake_run(TrainConfig(max_minutes=100), 1000, 38000)
    refine_schedule_length(run)
    assert run.total_steps == pytest.approx(1000 + 0.95 * 5700 / 0.3, abs=20)
    past_half = fake_run(TrainConfig(max_minutes=100), 20000, 38000)
    refine_schedule_length(past_half)  # the step schedule has dropped: keep it where it is
    assert past_half.total_steps == 38000
    fixed = fake_run(TrainConfig(max_minutes=100, max_steps=38000), 1000, 38000)
    refine_schedule_length(fixed)
    assert fixed.total_steps == 38000


@pytest.mark.parametrize("name", ["lts", "rmcn-2"])
def test_loss_falls_on_a_fixed_batch(name):
    torch.manual_seed(0)
    bank = synthetic.PhotoBank([smooth_photo()])
    batch = synthetic.synthetic_batch(bank, "bayer", 16, 2, seed=0, step=0)
    model = build_model(name, "bayer", 4)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        loss = compute_loss(model.forward_all(batch.inputs), batch.targets, 0.1)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert np.mean(losses[-5:]) < 0.7 * losses[0]


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


@pytest.mark.parametrize("native", [True, False])
def test_auto_precision_trains_in_bfloat16_where_native(monkeypatch, native):
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: native, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: native, raising=False)
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert bfloat16_autocast(cpu, "auto") is native and bfloat16_autocast(cuda, "auto")
    assert not bfloat16_autocast(cuda, "full") and bfloat16_autocast(cpu, "half")
    with pytest.raises(ParameterError, match="--precision"):
        TrainConfig(precision="double").validate()


def test_stop_asked_before_the_first_step_is_honoured_once(tmp_path, photo_folder):
    from darkdev.training import loop

    loop.request_stop()  # e.g. Ctrl-C while the run was still building its model
    first = train(tiny_config(tmp_path / "run", photo_folder))
    assert first["stopped_by"] == "interrupted" and first["steps"] == 0
    assert (tmp_path / "run" / "last.pt").exists() and not loop.STOP_REQUESTED.is_set()
    second = train(tiny_config(tmp_path / "run", photo_folder, resume=True))
    assert second["steps"] == 6


def test_ctrl_c_saves_a_checkpoint_and_says_how_to_go_on(tmp_path, photo_folder):
    import os
    import signal
    import time

    out = tmp_path / "run"
    arguments = [
        "--model", "lts", "--cfa", "bayer", "--width", "4", "--crop", "16", "--batch", "2",
        "--max-steps", "100000", "--threads", "1", "--validate-every", "100000",
        "--validation-count", "1", "--validation-packed-px", "32", "--log-every", "1",
        "--photos", str(photo_folder), "--out", str(out),
    ]  # fmt: skip
    environment = {**os.environ, "PYTHONPATH": str(REPOSITORY), "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "darkdev.train", *arguments],
        env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    log = out / "log.jsonl"
    deadline = time.monotonic() + 120
    while not (log.exists() and '"loss"' in log.read_text()) and time.monotonic() < deadline:
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr[-2000:]
    assert "interrupted at step" in stderr and "--resume" in stderr
    assert "Traceback" not in stderr
    state = load_training_state(out / "last.pt")
    assert 0 < state["step"] < 100000 and not (out / "summary.json").exists()


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


def test_evaluate_builds_both_splits_from_photos(tmp_path, photo_folder, tiny_weights):
    table_path = tmp_path / "table.md"
    arguments = ["--cfa", "bayer", "--photos", str(photo_folder), "--count", "1"]
    arguments += ["--validation-packed-px", "32", "--threads", "1", "--out", str(table_path)]
    assert evaluate_main([str(tiny_weights / "lts-w4-bayer.safetensors"), *arguments]) == 0
    table = table_path.read_text()
    assert "all ISO 1, high ISO 1" in table and table.count("\n| ") == 3
    sheet_path = tmp_path / "sheet.png"
    checkpoint = str(tiny_weights / "lts-w4-bayer.safetensors")
    assert evaluate_main([checkpoint, *arguments, "--sheet", str(sheet_path)]) == 0
    sheet = imageio.imread(sheet_path)
    # One row (one crop of 64 px), four panels: input, classical, the checkpoint, target.
    assert sheet.ndim == 3 and sheet.shape[1] == 4 * 288 and sheet.shape[0] > 64
    with pytest.raises(ParameterError, match="no such validation split"):
        evaluate_main([checkpoint, *arguments, "--sheet", str(sheet_path), "--sheet-split", "x"])
    jpeg_path = tmp_path / "sheet.jpg"
    assert evaluate_main([checkpoint, *arguments, "--sheet", str(jpeg_path)]) == 0
    assert jpeg_path.read_bytes()[:3] == b"\xff\xd8\xff"  # a JPEG, by the extension asked for
    assert imageio.imread(jpeg_path).shape == sheet.shape
    with pytest.raises(ParameterError, match=".png or .jpg"):
        evaluate_main([checkpoint, *arguments, "--sheet", str(tmp_path / "sheet.tif")])
    assert not (tmp_path / "sheet.tif").exists()
    with pytest.raises(ParameterError, match="no validation set"):
        read_validation_sets([tmp_path], "bayer")


def test_evaluate_saves_the_sets_it_builds(tmp_path, photo_folder, tiny_weights):
    checkpoint = str(tiny_weights / "lts-w4-bayer.safetensors")
    arguments = [checkpoint, "--cfa", "bayer", "--count", "1", "--threads", "1"]
    arguments += ["--validation-packed-px", "32"]
    built, scored = tmp_path / "built.md", tmp_path / "scored.md"
    sets = tmp_path / "sets"
    from_photos = [*arguments, "--photos", str(photo_folder), "--save-validation-set", str(sets)]
    assert evaluate_main([*from_photos, "--out", str(built)]) == 0
    assert sorted(p.name for p in sets.iterdir()) == [
        f"validation-bayer-{split}.npz" for split in ("all_iso", "detail", "high_iso")
    ]
    assert evaluate_main([*arguments, "--validation-set", str(sets), "--out", str(scored)]) == 0
    assert scored.read_text() == built.read_text()  # the saved sets score as they were built
    # The very crops a training run of that folder builds for itself.
    run = tmp_path / "run"
    run.mkdir()
    config = TrainConfig(
        out=str(run), photos=str(photo_folder), validation_count=1, validation_packed_px=32
    )
    by_run = validation_sets(config)
    for split, validation in read_validation_sets([sets], "bayer").items():
        assert validation.names == by_run[split].names and validation.ratios == by_run[split].ratios
        for saved, built_by_run in zip(
            validation.noisy_packed, by_run[split].noisy_packed, strict=True
        ):
            assert np.array_equal(saved, built_by_run)
    before = {p.name: p.read_bytes() for p in sets.iterdir()}
    with pytest.raises(ParameterError, match="validation-bayer-all_iso.npz: exists"):
        evaluate_main(from_photos)
    assert {p.name: p.read_bytes() for p in sets.iterdir()} == before
    without_detail = tmp_path / "two"
    evaluate_main([*arguments, "--photos", str(photo_folder), "--no-detail-validation",
                   "--save-validation-set", str(without_detail)])  # fmt: skip
    assert len(list(without_detail.iterdir())) == 2
    with pytest.raises(ParameterError, match="go with --photos"):
        evaluate_main([*arguments, "--validation-set", str(sets), "--save-validation-set", "x"])


def test_evaluate_refuses_before_it_scores(tmp_path, photo_folder, tiny_weights, monkeypatch):
    """A sheet it cannot write, a saved set it would replace, an unreadable set: refused before
    minutes of building or scoring, in one line."""
    checkpoint = str(tiny_weights / "lts-w4-bayer.safetensors")
    sets = tmp_path / "sets"
    sets.mkdir()
    (sets / "validation-bayer-high_iso.npz").write_bytes(b"not an npz")
    monkeypatch.setattr("darkdev.training.evaluation.build_split", pytest.fail)
    monkeypatch.setattr("darkdev.training.evaluation.score_classical", pytest.fail)
    arguments = [checkpoint, "--cfa", "bayer", "--photos", str(photo_folder), "--count", "1"]
    with pytest.raises(ParameterError, match="validation-bayer-high_iso.npz: exists"):
        evaluate_main([*arguments, "--save-validation-set", str(sets)])
    with pytest.raises(ParameterError, match="validation-bayer-high_iso.npz: not a readable"):
        evaluate_main([checkpoint, "--cfa", "bayer", "--validation-set", str(sets)])
    with pytest.raises(ParameterError, match="sheet.tif: write a .png or .jpg sheet"):
        evaluate_main([*arguments, "--sheet", str(tmp_path / "sheet.tif")])
    with pytest.raises(ParameterError, match="evaluate: unrecognized arguments: --colour"):
        evaluate_main([*arguments, "--colour", "network"])
    # --debug shows tracebacks; it is not part of what trained a run's weights.
    command = parse_args(["--cfa", "bayer", "--debug", "--out", "runs/x"]).command
    assert command == "python -m darkdev.train --cfa bayer --out runs/x"


def test_cli_arguments_and_validation():
    config = parse_args(
        [
            "--model",
            "rmcn-3",
            "--cfa",
            "xtrans",
            "--crop",
            "64",
            "--max-minutes",
            "2",
            "--out",
            "runs/x",
            "--resume",
            "--white-balance-input",
            "--tv-weight",
            "0.1",
        ]
    )
    assert (config.model, config.cfa, config.crop, config.max_minutes) == (
        "rmcn-3",
        "xtrans",
        64,
        2.0,
    )
    assert config.resume and config.white_balance_input and config.tv_weight == 0.1
    assert config.command.startswith("python -m darkdev.train --model rmcn-3")
    assert parse_args([]).photos == "~/.cache/darkdev/photos"
    with pytest.raises(ParameterError, match="20"):
        TrainConfig(crop=20).validate()
    with pytest.raises(ParameterError, match="weird"):
        TrainConfig(lr_schedule="weird").validate()
    with pytest.raises(ParameterError, match="'lpips'"):
        TrainConfig(select_by="lpips").validate()
    chosen = parse_args(["--select-by", "psnr+ssim", "--keep-validated-weights"])
    assert chosen.select_by == "psnr+ssim" and chosen.keep_validated_weights


def test_selection_rules_weigh_psnr_and_ssim():
    from darkdev.training.state import selection_score

    def splits(all_iso, high_iso, all_ssim, high_ssim):
        return {"all_iso": (all_iso, all_ssim), "high_iso": (high_iso, high_ssim)}

    # A step that trades 0.1 dB for +0.01 SSIM near 0.8: PSNR alone keeps the first.
    before, after = splits(29.2, 27.0, 0.815, 0.755), splits(29.1, 26.9, 0.825, 0.765)
    assert selection_score("psnr", before) == pytest.approx(28.1)
    assert selection_score("psnr", after) < selection_score("psnr", before)
    assert selection_score("ssim", after) == pytest.approx(0.795)
    # SSIM in dB: -10 log10(1 - 0.8) = 6.99 dB; 0.01 SSIM there is worth about 0.22 dB.
    assert selection_score("psnr+ssim", splits(20, 20, 0.8, 0.8)) == pytest.approx(
        20 + 6.9897, abs=1e-4
    )
    assert selection_score("psnr+ssim", after) > selection_score("psnr+ssim", before)
    assert selection_score("psnr+ssim", splits(20, 20, 1.0, 1.0)) == pytest.approx(120)  # finite
    # The detail split counts like the others: a detail gain outweighs a smaller photo loss.
    detail_before = {**before, "detail": (20.0, 0.60)}
    detail_after = {**after, "detail": (20.5, 0.64)}
    assert selection_score("psnr", detail_before) == pytest.approx((29.2 + 27.0 + 20.0) / 3)
    assert selection_score("psnr", detail_after) > selection_score("psnr", detail_before)
    with pytest.raises(ParameterError, match="no validation scores"):
        selection_score("psnr", {})
    with pytest.raises(ParameterError, match="lpips"):
        selection_score("lpips", before)


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


def test_a_run_validates_on_the_sets_it_is_given(tmp_path, validated_run, photo_folder):
    out, _ = validated_run
    run = tmp_path / "run"
    config = tiny_config(run, photo_folder, max_steps=1, validation_set=str(out))
    summary = train(config)
    for split in ("all_iso", "high_iso", "detail"):
        name = f"validation-bayer-{split}.npz"
        assert (run / name).read_bytes() == (out / name).read_bytes(), split
    assert summary["config"]["validation_set"] == str(out)
    assert parse_args(["--validation-set", "sets"]).validation_set == "sets"
    partial = copy_sets(out, tmp_path / "partial", drop="detail")
    with pytest.raises(ParameterError, match="validation-bayer-detail.npz: --validation-set"):
        train(tiny_config(tmp_path / "refused", photo_folder, validation_set=str(partial)))
    assert not (tmp_path / "refused" / "last.pt").exists()


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


@pytest.fixture(scope="module")
def validated_run(tmp_path_factory, photo_folder):
    """A finished tiny run that kept the weights of each validated step (3 and 6), with its
    validation-bayer-*.npz sets in its folder; publishing only reads it."""
    out = tmp_path_factory.mktemp("validated-run")
    summary = train(tiny_config(out, photo_folder, keep_validated_weights=True))
    return out, summary


def logged_validation(out: Path, step: int) -> dict[str, float]:
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    line = [e for e in log if e["step"] == step and "val_psnr" in e][-1]
    return {k.removeprefix("val_"): round(v, 4) for k, v in line.items() if k.startswith("val_")}


def test_publish_a_validated_step_with_the_runs_scores_at_it(tmp_path, validated_run):
    out, summary = validated_run
    step_file = out / "validated" / "step-000003.safetensors"
    entry = publish(out, "step.safetensors", tmp_path / "weights", weights_file=step_file)
    published = tmp_path / "weights" / "step.safetensors"
    assert published.read_bytes() == step_file.read_bytes()
    assert entry.sha256 == weights.sha256_of(step_file) == weights.sha256_of(published)
    training = entry.training
    assert training["published_step"] == 3 and training["best_step"] == summary["best_step"]
    assert training["published_weights"] == "validated/step-000003.safetensors"
    own = logged_validation(out, 3)
    assert training["own_validation"] == own
    # Without a validation folder the entry's scores are the run's at the published step.
    assert {k: entry.validation[k] for k in own} == own
    assert entry.validation["classical_psnr"] == pytest.approx(
        summary["validation"]["classical_psnr"], abs=1e-4
    )
    assert manifest.read_manifest(tmp_path / "weights") == [entry]
    # A path relative to the run folder names the same file; best.safetensors its best step.
    again = publish(
        out,
        "step.safetensors",
        tmp_path / "weights",
        weights_file="validated/step-000006.safetensors",
    )
    assert again.training["published_step"] == 6
    best = publish(out, "best.safetensors", tmp_path / "weights")
    assert best.training["published_step"] == summary["best_step"]
    assert best.training["own_validation"]["psnr"] == round(summary["validation"]["psnr"], 4)
    # Only the run's own weights: a copy elsewhere, or another file of the run, is refused.
    elsewhere = tmp_path / "step-000003.safetensors"
    elsewhere.write_bytes(step_file.read_bytes())
    for refused in (elsewhere, out / "last.pt"):
        with pytest.raises(ParameterError, match="not best.safetensors or a validated/step-"):
            publish(out, "other.safetensors", tmp_path / "weights", weights_file=refused)
    with pytest.raises(ParameterError, match="summary.json: missing .only a finished run"):
        publish(tmp_path, "other.safetensors", tmp_path / "weights")
    with pytest.raises(ParameterError, match="weights file not found"):
        publish(
            out,
            "other.safetensors",
            tmp_path / "weights",
            weights_file="validated/step-000009.safetensors",
        )
    assert sorted(p.name for p in (tmp_path / "weights").iterdir()) == [
        "best.safetensors", "manifest.json", "step.safetensors",
    ]  # fmt: skip


def test_publish_scored_on_a_validation_folder(tmp_path, validated_run, monkeypatch):
    out, summary = validated_run
    entry = publish(
        out, "scored.safetensors", tmp_path / "weights", colour="auto", validation_directory=out
    )
    validation, modes = entry.validation, entry.validation["colour_modes"]
    assert entry.colour == validation["colour"] in ("network", "guided")
    # The run's own folder holds the sets it validated on: the network scores as the run did
    # (within the export's float16 rounding), the classical development exactly.
    network = modes["network"]
    assert network["all_iso"][0] == pytest.approx(summary["validation"]["psnr"], abs=0.05)
    assert network["high_iso"][0] == pytest.approx(summary["validation"]["psnr_high_iso"], abs=0.05)
    assert validation["classical_psnr_high_iso"] == pytest.approx(
        summary["validation"]["classical_psnr_high_iso"], abs=1e-4
    )
    chosen = modes[entry.colour]
    assert [validation["psnr"], validation["ssim"]] == chosen["all_iso"]
    assert [validation["psnr_high_iso"], validation["ssim_high_iso"]] == chosen["high_iso"]
    assert validation["quality_psnr"] == pytest.approx(
        (chosen["all_iso"][0] + chosen["high_iso"][0]) / 2, abs=1e-4
    )
    assert modes["chosen"].startswith(f"{entry.colour} (--colour auto: PSNR + SSIM in dB")
    assert "1 all ISO + 1 high ISO + 1 detail fixed 64 px crops" in validation["set"]
    assert [validation["psnr_detail"], validation["ssim_detail"]] == chosen["detail"]
    assert "validation-bayer-SPLIT.npz" in validation["set"] and validation["n_images"] == 1
    assert validation["set_sha256"]["high_iso"] == weights.sha256_of(
        out / "validation-bayer-high_iso.npz"
    )
    assert "validation_directory=" in validation["command"]
    # The library's one rule, which benchmarks/eval_colour.py prints, gives the same numbers.
    from darkdev.training.evaluation import score_colour_modes
    from darkdev.training.validation import load_validation_set

    model, meta = weights.load_model(tmp_path / "weights" / "scored.safetensors")
    direct = score_colour_modes(model, load_validation_set(out / "validation-bayer-all_iso.npz"))
    assert modes["guided"]["all_iso"] == [
        round(direct["guided"].psnr, 4),
        round(direct["guided"].ssim, 4),
    ]
    assert modes["mean_chroma"]["target"][0] == round(direct["target"].chroma, 4)
    # Asked for guided: the entry's scores are guided colour's.
    guided = publish(
        out, "guided.safetensors", tmp_path / "weights", colour="guided", validation_directory=out
    )
    assert guided.colour == "guided" and guided.validation["psnr"] == modes["guided"]["all_iso"][0]
    assert guided.validation["colour_modes"]["chosen"].startswith("guided (asked for")
    # Scoring fails: nothing is copied, the manifest is as it was.
    before = (tmp_path / "weights" / "manifest.json").read_bytes()
    import darkdev.training.publishing as publishing

    def failing(*args, **kwargs):
        raise RuntimeError("scoring failed")

    monkeypatch.setattr(publishing, "scored_validation", failing)
    with pytest.raises(RuntimeError, match="scoring failed"):
        publish(out, "failed.safetensors", tmp_path / "weights", validation_directory=out)
    assert sorted(p.name for p in (tmp_path / "weights").iterdir()) == [
        "guided.safetensors", "manifest.json", "scored.safetensors",
    ]  # fmt: skip
    assert (tmp_path / "weights" / "manifest.json").read_bytes() == before


def test_colour_auto_weighs_psnr_and_ssim_in_db():
    from darkdev.training.evaluation import DevelopmentScore
    from darkdev.training.publish_scores import choose_colour

    def scores(network, guided):
        return {
            split: {
                "network": DevelopmentScore(*network, 0.05),
                "guided": DevelopmentScore(*guided, 0.07),
            }
            for split in ("all_iso", "high_iso")
        }

    # -10 log10(1 - SSIM): 0.80 is 6.99 dB, 0.83 is 7.70 dB; 1 dB of PSNR outweighs it.
    chosen, why = choose_colour(scores((29.0, 0.80), (28.0, 0.83)), "auto")
    assert chosen == "network" and "35.990 against guided's 35.696" in why
    assert "all ISO PSNR +1.00 dB, SSIM -0.0300" in why
    # 0.4 dB of PSNR does not outweigh SSIM 0.80 -> 0.90 (3 dB).
    assert choose_colour(scores((28.4, 0.80), (28.0, 0.90)), "auto")[0] == "guided"
    assert choose_colour(scores((29.0, 0.80), (28.0, 0.83)), "guided")[0] == "guided"
    with pytest.raises(ParameterError, match="unknown colour 'purple'"):
        choose_colour(scores((29.0, 0.80), (28.0, 0.83)), "purple")
    with pytest.raises(ParameterError, match="needs a validation folder"):
        publish("anywhere", "x.safetensors", colour="auto")


def test_republishing_records_the_previous_entry_and_keeps_its_speed(tmp_path, validated_run):
    out, _ = validated_run
    directory = tmp_path / "weights"
    step_3 = "validated/step-000003.safetensors"
    first = publish(
        out,
        "lts.safetensors",
        directory,
        cpu_12mp_seconds=3.4,
        colour="network",
        weights_file=step_3,
    )
    # The same weights again: nothing replaced, so no record of a previous entry (not itself).
    again = publish(out, "lts.safetensors", directory, colour="network", weights_file=step_3)
    assert "previous" not in again.validation and again.speed == {"cpu_2_cores_12mp_s": 3.4}
    entry = publish(out, "lts.safetensors", directory, colour="network", validation_directory=out)
    previous = entry.validation["previous"]
    assert previous["file"] == "lts.safetensors" and previous["sha256"] == first.sha256
    names = ("psnr", "ssim", "psnr_high_iso", "ssim_high_iso", "psnr_detail", "ssim_detail", "set")
    assert previous["validation"] == {k: first.validation[k] for k in names}
    # Scored again on the same crops as the new weights, in its own colour mode.
    this_set = previous["this_set"]
    assert this_set["colour"] == "network" and len(this_set["high_iso"]) == 2
    assert this_set["set"] == entry.validation["set"]  # named: a republish keeps the record
    assert this_set["all_iso"][0] == pytest.approx(first.validation["psnr"], abs=0.05)
    # The same weights published again (to mend their record) keep what they replaced.
    again = publish(out, "lts.safetensors", directory, colour="network", validation_directory=out)
    assert entry.sha256 != first.sha256 and again.validation["previous"] == previous
    assert again.speed == entry.speed
    # The same network (architecture, width, CFA) in the same colour mode: the same speed.
    assert entry.speed["cpu_2_cores_12mp_s"] == 3.4 and "kept from the entry" in entry.speed["note"]
    assert [e.file for e in manifest.read_manifest(directory)] == ["lts.safetensors"]
    # Guided colour adds the guide's time; a measured time replaces it; another width's is never kept.
    assert publish(out, "lts.safetensors", directory, colour="guided").speed == {}
    assert publish(out, "lts.safetensors", directory, cpu_12mp_seconds=2.0).speed == {
        "cpu_2_cores_12mp_s": 2.0
    }
    # The same weights again keep their own measurement as it was.
    assert publish(out, "lts.safetensors", directory).speed == {"cpu_2_cores_12mp_s": 2.0}
    wider = manifest.read_manifest(directory)[0]
    wider.arguments = {"width": 8}
    manifest.write_manifest([wider], directory)
    assert publish(out, "lts.safetensors", directory).speed == {}


def run_darkdev(*arguments, **environment):
    import os

    command = [str(Path(sys.executable).parent / "darkdev"), *map(str, arguments)]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=300, env={**os.environ, **environment}
    )


def test_evaluate_and_train_refuse_bad_checkpoints_in_one_line(
    tmp_path, validated_run, tiny_weights, photo_folder, monkeypatch
):
    out, _ = validated_run
    bayer, xtrans = (tiny_weights / f"lts-w4-{kind}.safetensors" for kind in ("bayer", "xtrans"))
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint at all")
    evaluate_arguments = ["--cfa", "bayer", "--validation-set", out, "--threads", "1"]
    for arguments, code, problem in (
        ([bayer, xtrans], 1, f"{xtrans}: checkpoint is for xtrans sensors, the validation set"),
        ([bayer, tmp_path / "absent.safetensors"], 1, "absent.safetensors: weights file not found"),
        ([junk], 1, f"{junk}: refused: not a safetensors file nor a torch checkpoint of plain"),
        (["lts-w4-xtrans"], 1, "lts-w4-xtrans: weights file not found, nor a bundled bayer"),
    ):
        result = run_darkdev("evaluate", *arguments, *evaluate_arguments)
        assert result.returncode == code and result.stdout == "", result.stderr
        assert result.stderr.count("\n") == 1 and problem in result.stderr, result.stderr
    # Bundled checkpoints by name (any case, or their architecture), verified by their hash.
    named = run_darkdev("evaluate", "LTS-W4-BAYER", "lts", *evaluate_arguments)
    assert named.returncode == 0, named.stderr
    assert named.stdout.count(f"({bayer})") == 1, named.stdout  # both names: the same row
    payload = bayer.read_bytes()
    bayer.write_bytes(payload[:-2] + b"  ")
    tampered = run_darkdev("evaluate", "lts-w4-bayer", *evaluate_arguments)
    assert tampered.returncode == 1 and f"{bayer}: missing or not the manifest's" in tampered.stderr
    bayer.write_bytes(payload)
    debugged = run_darkdev("evaluate", junk, *evaluate_arguments, "--debug")
    assert debugged.returncode != 0 and "Traceback" in debugged.stderr
    # Every checkpoint is checked before any scoring starts.
    monkeypatch.setattr("darkdev.training.evaluation.score_classical", pytest.fail)
    with pytest.raises(WeightsError, match="xtrans sensors"):
        evaluate([bayer, xtrans], read_validation_sets([out], "bayer"), "bayer", threads=1)
    run = tmp_path / "run"
    result = run_darkdev(
        "train", "--cfa", "bayer", "--init-from", xtrans, "--photos", photo_folder, "--out", run
    )
    assert result.returncode == 1 and result.stdout == "", result.stderr
    assert result.stderr.count("\n") == 1
    assert f"{xtrans}: checkpoint is for xtrans sensors, not bayer" in result.stderr
    assert not run.exists()  # a run that cannot start leaves no folder behind
    missing_photos = run_darkdev(
        "train", "--cfa", "bayer", "--photos", tmp_path / "no-photos", "--out", run
    )
    assert missing_photos.returncode == 2 and "no-photos" in missing_photos.stderr
    assert not run.exists()


def test_publish_command(tmp_path, validated_run):
    out, _ = validated_run
    directory = tmp_path / "weights"
    result = run_darkdev(
        "publish", out, "--name", "lts-w4-bayer.safetensors", "--weights",
        "validated/step-000006.safetensors", "--validation-set", out, "--weights-dir", directory,
        "--cpu-12mp-seconds", "1.5", "--threads", "1",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    entry = manifest.read_manifest(directory)[0]
    lines = result.stdout.splitlines()
    assert lines[0].startswith(
        f"published lts-w4-bayer.safetensors (sha256 {entry.sha256[:12]}...)"
    )
    assert "step 6" in lines[0] and "default for bayer" in lines[0]
    assert lines[1].endswith("PSNR dB / SSIM, all ISO, high ISO, detail:")
    assert [line.split()[0] for line in lines[2:5]] == ["network", "guided", "classical"]
    network = entry.validation["colour_modes"]["network"]
    assert lines[2].split()[1:] == [
        item for psnr, ssim in network.values() for item in (f"{psnr:.2f}", "/", f"{ssim:.4f}")
    ]
    assert lines[-1] == f"colour: {entry.validation['colour_modes']['chosen']}"
    assert entry.validation["command"].startswith(f"darkdev publish {out} --name lts-w4-bayer")
    assert entry.speed == {"cpu_2_cores_12mp_s": 1.5} and entry.training["published_step"] == 6
    listed = run_darkdev("models", DARKDEV_WEIGHTS_DIR=str(directory))
    assert listed.returncode == 0 and "lts-w4-bayer" in listed.stdout, listed.stderr
    # Bad input: one line naming the file and the problem, exit 2, nothing written.
    empty = tmp_path / "empty"
    empty.mkdir()
    before = (directory / "manifest.json").read_bytes()
    for arguments, problem in (
        (["--validation-set", empty], f"{empty / 'validation-bayer-all_iso.npz'}: missing"),
        (["--weights", out / "last.pt"], f"{out / 'last.pt'}: not best.safetensors"),
        (["--colour", "purple"], "publish: argument --colour: invalid choice: 'purple'"),
    ):
        result = run_darkdev(
            "publish", out, "--name", "x.safetensors", "--weights-dir", directory, *arguments
        )
        assert result.returncode == 2 and result.stdout == ""
        assert result.stderr.count("\n") == 1 and problem in result.stderr, result.stderr
    assert sorted(p.name for p in directory.iterdir()) == [
        "lts-w4-bayer.safetensors",
        "manifest.json",
    ]
    assert (directory / "manifest.json").read_bytes() == before


def copy_sets(source: Path, target: Path, drop: str = "") -> Path:
    """A folder with source's bayer sets (without the split `drop`, and saved as before the
    below-black key when drop is "below_black")."""
    target.mkdir()
    for split in ("all_iso", "high_iso", "detail"):
        if split == drop:
            continue
        with np.load(source / f"validation-bayer-{split}.npz") as archive:
            fields = {key: archive[key] for key in archive.files if key != drop}
        np.savez(target / f"validation-bayer-{split}.npz", **fields)
    return target


def test_rescore_measures_entries_again_and_keeps_what_they_said(tmp_path, validated_run):
    from darkdev.training.rescoring import rescore

    out, _ = validated_run
    directory = tmp_path / "weights"
    step_3 = "validated/step-000003.safetensors"
    step_6 = "validated/step-000006.safetensors"  # replaced below: the entry records it
    publish(out, "net.safetensors", directory, colour="guided", weights_file=step_6)
    first = publish(
        out, "net.safetensors", directory, cpu_12mp_seconds=2.5, colour="network",
        weights_file=step_3,
    )  # fmt: skip
    payload = (directory / "net.safetensors").read_bytes()
    # An entry from before the detail split, with a probe of its weights beside its scores.
    old = dict(first.validation)
    for name in ("psnr_detail", "ssim_detail", "classical_psnr_detail", "classical_ssim_detail"):
        old.pop(name, None)
    first.validation = {**old, "colour_response": "red 1.10, blue 1.52"}
    manifest.write_manifest([first], directory)
    [result] = rescore(["NET"], out, directory)
    entry, validation = result.entry, result.entry.validation
    assert (entry.file, entry.sha256, entry.colour) == ("net.safetensors", first.sha256, "network")
    assert entry.speed == first.speed and entry.training == first.training
    assert (directory / "net.safetensors").read_bytes() == payload
    network = validation["colour_modes"]["network"]
    assert sorted(network) == ["all_iso", "detail", "high_iso"]
    assert [validation["psnr_detail"], validation["ssim_detail"]] == network["detail"]
    assert validation["colour_modes"]["chosen"].startswith("network (kept: the mode the entry")
    # The run's own folder is the set it validated on: the same scores, now with detail.
    assert validation["psnr"] == pytest.approx(old["psnr"], abs=0.05)
    assert validation["set_sha256"]["detail"] == weights.sha256_of(
        out / "validation-bayer-detail.npz"
    )
    # What the scores replaced moves aside; what describes the weights stays.
    replaced_keys = {"psnr", "ssim", "psnr_high_iso", "ssim_high_iso", "classical_psnr",
                     "classical_ssim", "classical_psnr_high_iso", "classical_ssim_high_iso",
                     "colour", "n_images", "set", "target", "quality_psnr"}  # fmt: skip
    assert result.replaced == {key: old[key] for key in replaced_keys}
    assert validation["rescored_from"] == [{key: old[key] for key in replaced_keys}]
    assert validation["colour_response"] == "red 1.10, blue 1.52"
    assert validation["previous"] == old["previous"]  # the publication's record
    assert manifest.read_manifest(directory) == [entry]
    # A rescore on a folder without the detail set drops the detail scores it no longer has.
    no_detail = copy_sets(out, tmp_path / "no-detail", drop="detail")
    [again] = rescore(["net.safetensors"], no_detail, directory)
    assert "psnr_detail" not in again.entry.validation
    assert again.replaced["psnr_detail"] == validation["psnr_detail"]
    assert [r["set"] for r in again.entry.validation["rescored_from"]] == [
        old["set"], validation["set"],
    ]  # fmt: skip
    assert again.entry.validation["command"] == (
        f"rescore(['net.safetensors'], {str(no_detail)!r})"
    )


def test_rescore_refuses_what_it_cannot_score_alike(tmp_path, validated_run):
    from darkdev.training.rescoring import rescore

    out, _ = validated_run
    directory = tmp_path / "weights"
    publish(out, "a.safetensors", directory, colour="network", validation_directory=out)
    publish(out, "b.safetensors", directory, default=False, colour="network")
    clipped = copy_sets(out, tmp_path / "clipped", drop="below_black")
    # --model auto ranks a by its scores on the run's sets: b alone may not move to others.
    with pytest.raises(ParameterError, match=f"{clipped}: its bayer .* not those a.safetensors"):
        rescore(["b"], clipped, directory)
    both = rescore(["b", "a"], clipped, directory)
    assert [r.entry.file for r in both] == ["a.safetensors", "b.safetensors"]
    assert both[0].entry.validation["set_sha256"] == both[1].entry.validation["set_sha256"]
    # A checkpoint that wants input kept below black, on sets saved clipped at black.
    entries = manifest.read_manifest(directory)
    model, meta = weights.load_checkpoint(directory / "b.safetensors")
    entries[1].sha256 = weights.save_checkpoint(
        directory / "b.safetensors", model, meta.architecture, meta.arguments, "bayer",
        convention=InputConvention(below_black=True),
    )  # fmt: skip
    manifest.write_manifest(entries, directory)
    before = (directory / "manifest.json").read_bytes()
    with pytest.raises(ParameterError, match="clipped/validation-bayer-all_iso.npz: the bayer"):
        rescore(["b"], clipped, directory)
    with pytest.raises(ParameterError, match=r"manifest.json: no checkpoint named 'lts' .*a, b"):
        rescore(["a", "lts"], out, directory)
    (directory / "a.safetensors").write_bytes(b"tampered")
    with pytest.raises(WeightsError, match="does not match the manifest's"):
        rescore(["b", "a"], out, directory)
    assert (directory / "manifest.json").read_bytes() == before  # nothing written
    entries[0].colour = "purple"
    manifest.write_manifest(entries, directory)
    before = (directory / "manifest.json").read_bytes()
    with pytest.raises(WeightsError, match="a.safetensors has colour 'purple', not one of"):
        rescore(["a"], out, directory)
    assert (directory / "manifest.json").read_bytes() == before


def test_rescore_command(tmp_path, validated_run):
    out, _ = validated_run
    directory = tmp_path / "weights"
    publish(out, "lts-w4-bayer.safetensors", directory, colour="network")
    arguments = ["--validation-set", out, "--weights-dir", directory, "--threads", "1"]
    result = run_darkdev("rescore", "lts-w4-bayer", *arguments)
    assert result.returncode == 0, result.stderr
    entry = manifest.read_manifest(directory)[0]
    lines = result.stdout.splitlines()
    assert lines[0] == (
        f"rescored lts-w4-bayer.safetensors (sha256 {entry.sha256[:12]}...) on {out}; "
        "PSNR dB / SSIM, all ISO, high ISO, detail:"
    )
    assert [line.split()[0] for line in lines[1:4]] == ["network", "guided", "classical"]
    network = entry.validation["colour_modes"]["network"]
    assert lines[1].split()[1:] == [
        item for psnr, ssim in network.values() for item in (f"{psnr:.2f}", "/", f"{ssim:.4f}")
    ]
    was = entry.validation["rescored_from"][0]
    assert lines[4] == (
        f"  was (network): {was['psnr']:.2f} / {was['ssim']:.4f}   "
        f"{was['psnr_high_iso']:.2f} / {was['ssim_high_iso']:.4f}   "
        f"{was['psnr_detail']:.2f} / {was['ssim_detail']:.4f}, on {was['set']}"
    )
    assert entry.validation["command"].startswith("darkdev rescore lts-w4-bayer --validation-set")
    listed = run_darkdev("models", DARKDEV_WEIGHTS_DIR=str(directory))
    assert f"{network['detail'][0]:.2f}/{network['detail'][1]:.3f}" in listed.stdout
    before = (directory / "manifest.json").read_bytes()
    result = run_darkdev("rescore", "nothing", *arguments)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "no checkpoint named 'nothing'" in result.stderr
    assert (directory / "manifest.json").read_bytes() == before


def test_worker_process_gives_the_same_batches(tmp_path, photo_folder):
    config = tiny_config(tmp_path / "run", photo_folder)
    config.photo_names = photo_files.list_photo_names(photo_folder)
    inline = Prefetcher(BatchSource(config), first_step=3, workers=0)
    worker = Prefetcher(BatchSource(config), first_step=3, workers=1, depth=2)
    try:
        for _ in range(3):
            (a_inputs, a_targets), (b_inputs, b_targets) = inline.get(), worker.get()
            assert torch.equal(a_inputs, b_inputs) and torch.equal(a_targets, b_targets)
    finally:
        worker.close()


def test_two_data_parallel_ranks_train_like_one_process(tmp_path, photo_folder):
    """torchrun, gloo, 2 CPU ranks with half the batch each == one process with the whole batch."""
    import os

    arguments = [
        "--model", "lts", "--cfa", "bayer", "--width", "4", "--crop", "16", "--batch", "4",
        "--max-steps", "4", "--threads", "1", "--data-workers", "0", "--validate-every", "2",
        "--validation-count", "1", "--validation-packed-px", "32", "--lr", "1e-3",
        "--log-every", "1", "--photos", str(photo_folder), "--precision", "full",
    ]  # fmt: skip
    environment = {**os.environ, "PYTHONPATH": str(REPOSITORY), "OMP_NUM_THREADS": "1"}
    completed = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "darkdev.train", *arguments, "--out", str(tmp_path / "ddp")],
        env=environment, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    single = tiny_config(tmp_path / "single", photo_folder, batch=4, max_steps=4, validate_every=2)
    train(single)
    a = load_training_state(tmp_path / "ddp" / "last.pt")
    b = load_training_state(tmp_path / "single" / "last.pt")
    assert a["step"] == b["step"] == 4
    for key, tensor in a["model"].items():
        assert torch.allclose(tensor, b["model"][key], atol=1e-5), key
    summary = json.loads((tmp_path / "ddp" / "summary.json").read_text())
    assert "2 ranks" in summary["machine"]
    losses = [json.loads(x) for x in (tmp_path / "ddp" / "log.jsonl").read_text().splitlines()]
    single_losses = [
        json.loads(x) for x in (tmp_path / "single" / "log.jsonl").read_text().splitlines()
    ]
    assert [e["loss"] for e in losses if "loss" in e] == pytest.approx(
        [e["loss"] for e in single_losses if "loss" in e], rel=1e-4
    )


def test_batch_must_split_evenly_over_ranks():
    with pytest.raises(ParameterError, match="multiple of the number of ranks"):
        BatchSource(TrainConfig(batch=3), rank=0, world_size=2)


def test_init_from_a_checkpoint(tmp_path, photo_folder):
    first = train(tiny_config(tmp_path / "first", photo_folder, max_steps=2))
    source = tmp_path / "first" / "best.safetensors"
    config = tiny_config(tmp_path / "second", photo_folder, max_steps=0, init_from=str(source))
    summary = train(config)
    assert summary["initialised_from"]["sha256"] == first["export"]["sha256"]
    start, _ = weights.load_model(tmp_path / "second" / "best.safetensors")
    original, _ = weights.load_model(source)
    for key, tensor in original.state_dict().items():
        assert torch.equal(tensor, start.state_dict()[key]), key
    # Publishing the continued run keeps the record of the checkpoint it started from.
    publish(tmp_path / "first", "first.safetensors", tmp_path / "weights")
    entry = publish(tmp_path / "second", "first.safetensors", tmp_path / "weights")
    started = entry.training["initialised_from"]
    assert started["sha256"] == first["export"]["sha256"] and started["steps"] == 2
    assert entry.training["lineage"]["runs"] == 2 and entry.training["lineage"]["complete"]
    # A third link records the second one level deep: the manifest stays one size per entry.
    third = tiny_config(tmp_path / "third", photo_folder, max_steps=0)
    train(dataclasses.replace(third, init_from=str(tmp_path / "weights" / "first.safetensors")))
    entry = publish(tmp_path / "third", "first.safetensors", tmp_path / "weights")
    started = entry.training["initialised_from"]
    assert "training" not in started and started["lineage"]["runs"] == 2
    assert started["initialised_from"]["sha256"] == first["export"]["sha256"]
    assert entry.training["lineage"] == {**started["lineage"], "runs": 3, "wall_time_s": ANY}
    with pytest.raises(ParameterError, match="init-from"):
        train(tiny_config(tmp_path / "narrow", photo_folder, width=2, init_from=str(source)))
    with pytest.raises(ParameterError, match="init-from"):
        train(tiny_config(tmp_path / "fourth", photo_folder, model="rmcn-2", init_from=str(source)))


def test_lineage_follows_run_folders_and_outlives_replaced_entries(
    tmp_path, photo_folder, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # runs name --init-from as given, e.g. runs/x/validated/...
    weights_folder = tmp_path / "weights"

    def run(name, **changes):
        return train(tiny_config(Path(name), photo_folder, **{"max_steps": 2, **changes}))

    run("first", max_steps=3, keep_validated_weights=True)
    step_file = "first/validated/step-000003.safetensors"
    second = run("second", init_from=step_file)
    third = run("third", init_from="second/best.safetensors")
    # Neither earlier run was published: their folders tell how they were made.
    made = publish("third", "net.safetensors", weights_folder)
    started = made.training["initialised_from"]
    assert started["run"] == "second" and started["initialised_from"]["file"] == step_file
    assert (
        started["validation"]["psnr"]
        == logged_validation(Path("second"), second["best_step"])["psnr"]
    )
    steps = 3 + second["best_step"] + third["best_step"]
    assert made.training["lineage"] == {
        "runs": 3,
        "steps": steps,
        "wall_time_s": ANY,
        "complete": True,
    }
    # A run from the entry keeps the manifest's record of it as it starts (init.json) ...
    fourth = run("fourth", init_from=str(weights_folder / "net.safetensors"))
    assert fourth["initialised_from"]["lineage"]["runs"] == 3
    assert fourth["initialised_from"]["file"] == "weights/net.safetensors"  # no machine's path
    # ... and one from a copy found by hash later, in the record of the entry it was.
    loose = tmp_path / "loose.safetensors"
    loose.write_bytes((weights_folder / "net.safetensors").read_bytes())
    fifth = run("fifth", init_from=str(loose))
    assert "lineage" not in fifth["initialised_from"]
    publish("first", "net.safetensors", weights_folder)  # replaces the entry both started from
    for name in ("fourth", "fifth"):
        chain = publish(name, f"{name}.safetensors", weights_folder).training["lineage"]
        assert chain["runs"] == 4 and chain["complete"], name
    # Weights changed after their run: the record stops there and names them by the old hash.
    first_sha = weights.sha256_of(Path(step_file))
    Path(step_file).write_bytes(Path("second/best.safetensors").read_bytes())
    chain = publish("third", "net.safetensors", tmp_path / "fresh").training["lineage"]
    assert chain["runs"] == 2 and not chain["complete"]
    assert (chain["unrecorded_start"], chain["unrecorded_sha256"]) == (step_file, first_sha)


def test_a_run_with_black_error_says_so_and_publishes_it(tmp_path, photo_folder):
    summary = train(tiny_config(tmp_path / "run", photo_folder, max_steps=1, black_error_dn=0.5))
    assert "black level off by N(0, 0.5) DN per colour" in summary["data"]
    entry = publish(tmp_path / "run", "a.safetensors", tmp_path / "weights")
    assert entry.training["black_error_dn"] == 0.5


def test_a_run_below_black_records_its_input_everywhere(tmp_path, photo_folder):
    """--below-black-input: the checkpoint says it (develop and evaluate feed it so), the run's
    own sets keep values below black, publishing records it, and an old clipped set is refused."""
    arguments = ["--below-black-input", "--white-balance-input"]
    assert parse_args(arguments).input_convention == InputConvention(True, True)
    run = tmp_path / "run"
    config = tiny_config(run, photo_folder, max_steps=1, white_balance_input=True)
    summary = train(dataclasses.replace(config, below_black_input=True))
    assert "input white-balanced, kept below black" in summary["data"]
    _, meta = weights.load_checkpoint(run / "best.safetensors")
    assert meta.input_convention == InputConvention(True, True)
    entry = publish(run, "below.safetensors", tmp_path / "weights")
    assert entry.training["below_black_input"] is True
    assert "input kept below black" in manifest.catalogue_row(entry)[1]
    # Scores measured on a validation folder name the floor the input had.
    scored = publish(run, "below.safetensors", tmp_path / "weights", validation_directory=run)
    assert scored.validation["input_floor"] == BELOW_BLACK_FLOOR
    sets = read_validation_sets([run], "bayer")
    assert all(v.below_black for v in sets.values())
    old = tmp_path / "old"
    old.mkdir()
    with np.load(run / "validation-bayer-all_iso.npz") as archive:
        fields = {key: archive[key] for key in archive.files if key != "below_black"}
    np.savez(old / "validation-bayer-all_iso.npz", **fields)
    # A run keeps its input convention: resumed without the flag, or started on clipped sets,
    # it is refused before a step.
    with pytest.raises(ParameterError, match="resume with the options it started with"):
        train(dataclasses.replace(config, resume=True, max_steps=2))
    clipped_start = dataclasses.replace(config, out=str(old), below_black_input=True)
    with pytest.raises(ParameterError, match="saved clipped at black"):
        train(clipped_start)
    assert not (old / "last.pt").exists()
    checkpoint = str(tmp_path / "weights" / "below.safetensors")
    with pytest.raises(
        ParameterError,
        match="below.safetensors: the bayer all_iso validation set was saved clipped",
    ):
        evaluate_main([checkpoint, "--cfa", "bayer", "--validation-set", str(old)])


def test_init_from_takes_a_bundled_checkpoint_by_name(tiny_weights, tmp_path):
    config = parse_args(["--cfa", "xtrans", "--init-from", "LTS"])
    assert config.init_from == str(tiny_weights / "lts-w4-xtrans.safetensors")
    own = tmp_path / "own.safetensors"
    own.write_bytes(b"a file is taken as it is; loading checks it")
    assert parse_args(["--init-from", str(own)]).init_from == str(own)
    with pytest.raises(WeightsError, match="rmcn-3: weights file not found, nor a bundled bayer"):
        parse_args(["--cfa", "bayer", "--init-from", "rmcn-3"])


def test_init_from_a_narrower_checkpoint_widens_it(tmp_path, photo_folder):
    train(tiny_config(tmp_path / "narrow", photo_folder, max_steps=2))
    source = tmp_path / "narrow" / "best.safetensors"
    wide = tiny_config(tmp_path / "wide", photo_folder, width=8, init_from=str(source))
    train(dataclasses.replace(wide, max_steps=0))
    narrow, _ = weights.load_model(source)
    start, metadata = weights.load_model(tmp_path / "wide" / "best.safetensors")
    assert metadata["arguments"] == {"width": 8}
    x = torch.rand(1, 4, 32, 32)
    with torch.no_grad():
        assert torch.allclose(start(x), narrow(x), atol=1e-5)


def test_init_from_an_lts_grows_an_rmcn_without_back_connection(tmp_path, photo_folder):
    train(tiny_config(tmp_path / "lts", photo_folder, max_steps=2))
    source = str(tmp_path / "lts" / "best.safetensors")
    grown = tiny_config(tmp_path / "grown", photo_folder, model="rmcn-2-nobc", init_from=source)
    summary = train(dataclasses.replace(grown, max_steps=0))
    lts, _ = weights.load_model(Path(source))
    start, metadata = weights.load_model(tmp_path / "grown" / "best.safetensors")
    assert metadata["architecture"] == "rmcn-2-nobc" and summary["initialised_from"] is not None
    x = torch.rand(1, 4, 32, 32)
    with torch.no_grad():
        assert torch.equal(start(x), lts(x))
    wider = tiny_config(tmp_path / "wider", photo_folder, model="rmcn-2-nobc", width=8)
    train(dataclasses.replace(wider, max_steps=0, init_from=source))
    start, _ = weights.load_model(tmp_path / "wider" / "best.safetensors")
    with torch.no_grad():
        assert torch.allclose(start(x), lts(x), atol=1e-5)
    with pytest.raises(ParameterError, match="rmcn-N-nobc"):
        train(tiny_config(tmp_path / "bc", photo_folder, model="rmcn-2", init_from=source))


def test_validation_of_lambda_range_runs_is_linear(tmp_path, photo_folder):
    """A run trained on RIMEF-amplified input still validates on linear amplification."""
    sets = {}
    for lam_max in (0.0, 1.0):
        config = tiny_config(tmp_path / f"run-{lam_max}", photo_folder, lam_max=lam_max)
        config.photo_names = photo_files.list_photo_names(photo_folder)
        (tmp_path / f"run-{lam_max}").mkdir()
        sets[lam_max] = validation_sets(config)
    for split, validation in sets[1.0].items():
        assert all(
            np.array_equal(a, b)
            for a, b in zip(validation.noisy_packed, sets[0.0][split].noisy_packed, strict=True)
        )
        linear = [
            np.clip(packed * ratio, 0.0, 1.0)
            for packed, ratio in zip(validation.noisy_packed, validation.ratios, strict=True)
        ]
        inputs = validation.network_inputs(InputConvention())
        assert all(np.allclose(a, b, atol=1e-6) for a, b in zip(inputs, linear, strict=True))


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


def test_develop_path_never_imports_training(tmp_path, tiny_weights):
    """darkdev.cli and the develop path (a whole network development) load no training code."""
    import os

    from tests.conftest import write_raw

    raw = write_raw(tmp_path / "frame.dng")
    script = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from darkdev.cli import app\n"
        f"result = CliRunner().invoke(app, ['develop', {str(raw)!r}, '-o', "
        f"{str(tmp_path / 'out.png')!r}, '--quiet'])\n"
        "assert result.exit_code == 0, result.output\n"
        "loaded = [m for m in sys.modules if m.startswith(('darkdev.train', 'darkdev.evaluate'))]\n"
        "assert not loaded, loaded\n"
    )
    environment = {
        **os.environ,
        "PYTHONPATH": str(REPOSITORY),
        "DARKDEV_WEIGHTS_DIR": str(tiny_weights),
    }
    completed = subprocess.run(
        [sys.executable, "-c", script], env=environment, capture_output=True, text=True, timeout=120
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert (tmp_path / "out.png").exists()


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


def test_training_with_a_closed_stdout_still_trains(tmp_path, photo_folder):
    """`darkdev train ... >&-`: progress lines go nowhere; the run must not die at its first."""
    arguments = [
        "--model", "lts", "--width", "4", "--crop", "16", "--batch", "2", "--max-steps", "3",
        "--threads", "1", "--data-workers", "0", "--validate-every", "2",
        "--validation-count", "1", "--validation-packed-px", "32", "--log-every", "1",
        "--photos", str(photo_folder), "--out", str(tmp_path / "run"),
    ]  # fmt: skip
    darkdev = Path(sys.executable).with_name("darkdev")
    command = " ".join(f"'{part}'" for part in [darkdev, "train", *arguments]) + " >&-"
    completed = subprocess.run(["bash", "-c", command], capture_output=True, timeout=300)
    assert completed.returncode == 0, completed.stderr.decode()[-2000:]
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["steps"] == 3
