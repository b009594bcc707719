"""The command lines: `python -m darkdev.train` / `darkdev train` arguments, Ctrl-C and a closed
stdout, one-line refusals of bad checkpoints by `darkdev train` and `evaluate`, and a develop path
that never loads training code."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from darkdev.errors import ParameterError, WeightsError
from darkdev.training.checkpoints import load_training_state
from darkdev.training.config import TrainConfig, parse_args
from darkdev.training.evaluation import evaluate, read_validation_sets
from tests.training_helpers import REPOSITORY, run_darkdev

pytestmark = pytest.mark.usefixtures("one_thread")


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
