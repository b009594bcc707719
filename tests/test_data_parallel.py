"""Batches from worker processes and data-parallel ranks (torchrun, gloo) train like one process."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from darkdev.errors import ParameterError
from darkdev.training import photos as photo_files
from darkdev.training.batches import BatchSource, Prefetcher
from darkdev.training.checkpoints import load_training_state
from darkdev.training.config import TrainConfig
from darkdev.training.loop import train
from tests.training_helpers import REPOSITORY, tiny_config

pytestmark = pytest.mark.usefixtures("one_thread")


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
