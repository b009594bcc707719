"""Validation sets and scoring: `evaluate` builds, saves, reads and refuses sets, a run validates
on the sets it is given, and their input (linear amplification, kept below black)."""

from __future__ import annotations

import dataclasses

import imageio.v3 as imageio
import numpy as np
import pytest

from darkdev import manifest, weights
from darkdev.errors import ParameterError
from darkdev.network_input import BELOW_BLACK_FLOOR, InputConvention
from darkdev.training import photos as photo_files
from darkdev.training.batches import validation_sets
from darkdev.training.cli import evaluate_main
from darkdev.training.config import TrainConfig, parse_args
from darkdev.training.evaluation import read_validation_sets
from darkdev.training.loop import train
from darkdev.training.publishing import publish
from tests.training_helpers import copy_sets, tiny_config

pytestmark = pytest.mark.usefixtures("one_thread")


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
    with pytest.raises(ParameterError, match="go with --photos"):
        evaluate_main([*arguments, "--validation-set", str(sets), "--seed", "2"])
    # Another seed: fresh crops and noise of the same held-out photos, the same again.
    reseeded = [tmp_path / "seed2", tmp_path / "seed2-again"]
    for folder in reseeded:
        evaluate_main([*arguments, "--photos", str(photo_folder), "--no-detail-validation",
                       "--seed", "2", "--save-validation-set", str(folder)])  # fmt: skip
    first, again = (read_validation_sets([folder], "bayer") for folder in reseeded)
    default = read_validation_sets([sets], "bayer")
    for split in ("all_iso", "high_iso"):
        assert np.array_equal(first[split].noisy_packed[0], again[split].noisy_packed[0])
        assert not np.array_equal(first[split].noisy_packed[0], default[split].noisy_packed[0])
        assert first[split].names == default[split].names  # the same held-out photo


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
