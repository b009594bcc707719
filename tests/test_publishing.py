"""Publishing a run into a weights folder: the step and scores its manifest entry records, colour
choice, what republishing keeps, `darkdev publish`, and a run's data options in its record."""

from __future__ import annotations

import pytest

from darkdev import manifest, weights
from darkdev.errors import ParameterError
from darkdev.training.loop import train
from darkdev.training.publishing import publish
from tests.training_helpers import logged_validation, run_darkdev, tiny_config

pytestmark = pytest.mark.usefixtures("one_thread")


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
    # Develop's CPU views: the network's own colour through the ensemble, a score of its own.
    import torch

    from darkdev.training.evaluation import score_model

    model, checkpoint = weights.load_checkpoint(tmp_path / "weights" / "scored.safetensors")
    high_iso = load_validation_set(out / "validation-bayer-high_iso.npz")
    convention = checkpoint.input_convention
    views = score_model(model, high_iso, torch.device("cpu"), convention, ensemble=2)
    assert modes["network_2_views"]["high_iso"] == [round(views[0], 4), round(views[1], 4)]
    assert sorted(modes["network_2_views"]) == ["all_iso", "detail", "high_iso"]
    assert modes["network_2_views"]["high_iso"] != modes["network"]["high_iso"]
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
    assert [line.split()[0] for line in lines[2:6]] == [
        "network", "guided", "network_2_views", "classical",
    ]  # fmt: skip
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


def test_a_run_with_black_error_says_so_and_publishes_it(tmp_path, photo_folder):
    summary = train(tiny_config(tmp_path / "run", photo_folder, max_steps=1, black_error_dn=0.5))
    assert "black level off by N(0, 0.5) DN per colour" in summary["data"]
    entry = publish(tmp_path / "run", "a.safetensors", tmp_path / "weights")
    assert entry.training["black_error_dn"] == 0.5
