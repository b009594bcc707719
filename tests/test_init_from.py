"""Starting a run from a checkpoint (--init-from): by file or bundled name, widened or grown, and
the lineage records its published entries keep."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from unittest.mock import ANY

import pytest
import torch

from darkdev import weights
from darkdev.errors import ParameterError, WeightsError
from darkdev.training.config import parse_args
from darkdev.training.loop import train
from darkdev.training.publishing import publish
from tests.training_helpers import logged_validation, tiny_config

pytestmark = pytest.mark.usefixtures("one_thread")


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
