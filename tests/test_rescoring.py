"""Rescoring published entries on another validation folder: what is measured again, what is kept,
what is refused, and `darkdev rescore`."""

from __future__ import annotations

import pytest

from darkdev import manifest, weights
from darkdev.errors import ParameterError, WeightsError
from darkdev.network_input import InputConvention
from darkdev.training.publishing import publish
from tests.training_helpers import copy_sets, run_darkdev

pytestmark = pytest.mark.usefixtures("one_thread")


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
    assert sorted(validation["colour_modes"]["network_2_views"]) == sorted(network)
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
    # Measured again on the same sets, the same scores: no copy is kept aside.
    [same] = rescore(["net"], out, directory, command="again")
    assert same.entry.validation == {**validation, "command": "again"}
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
    assert [line.split()[0] for line in lines[1:5]] == [
        "network", "guided", "network_2_views", "classical",
    ]  # fmt: skip
    network = entry.validation["colour_modes"]["network"]
    assert lines[1].split()[1:] == [
        item for psnr, ssim in network.values() for item in (f"{psnr:.2f}", "/", f"{ssim:.4f}")
    ]
    was = entry.validation["rescored_from"][0]
    assert lines[5] == (
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


def test_publish_and_rescore_score_a_dead_leaves_folder(tmp_path, validated_run):
    """--dead-leaves-set: a second folder's splits scored beside the photo splits, recorded under
    the entry's dead_leaves (the README's last two columns), and refused alone or unreadable."""
    out, _ = validated_run
    directory = tmp_path / "weights"
    dead_leaves = copy_sets(out, tmp_path / "dead-leaves", drop="detail")
    result = run_darkdev(
        "publish", out, "--name", "net.safetensors", "--validation-set", out,
        "--dead-leaves-set", dead_leaves, "--weights-dir", directory, "--threads", "1",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    [entry] = manifest.read_manifest(directory)
    recorded = entry.validation["dead_leaves"]
    assert sorted(recorded) == ["classical", "guided", "network", "set", "set_sha256"]
    assert sorted(recorded["network"]) == ["all_iso", "high_iso"]
    assert recorded["set_sha256"]["high_iso"] == weights.sha256_of(
        dead_leaves / "validation-bayer-high_iso.npz"
    )
    # The folder holds copies of the photo splits: the same crops, the same scores.
    modes = entry.validation["colour_modes"]
    for development in ("network", "guided"):
        assert recorded[development]["high_iso"] == modes[development]["high_iso"]
    assert recorded["classical"]["all_iso"] == [
        entry.validation["classical_psnr"], entry.validation["classical_ssim"],
    ]  # fmt: skip
    lines = result.stdout.splitlines()
    at = lines.index(f"dead leaves, {recorded['set']}; PSNR dB / SSIM, all ISO, high ISO:")
    assert [line.split()[0] for line in lines[at + 1 : at + 4]] == [
        "network", "guided", "classical",
    ]  # fmt: skip
    # Rescored without the folder, the entry keeps its dead-leaves scores; with it, measures
    # them again (the same, so nothing is kept aside).
    arguments = ["--validation-set", out, "--weights-dir", directory, "--threads", "1"]
    assert run_darkdev("rescore", "net", *arguments).returncode == 0
    rescored = manifest.read_manifest(directory)[0].validation
    assert rescored["dead_leaves"] == recorded
    assert rescored["colour_modes"]["chosen"] == modes["chosen"]  # how the mode was picked
    again = run_darkdev("rescore", "net", *arguments, "--dead-leaves-set", dead_leaves)
    assert again.returncode == 0, again.stderr
    assert f"dead leaves, {recorded['set']}" in again.stdout
    assert "rescored_from" not in manifest.read_manifest(directory)[0].validation
    # Alone, or a folder without the sets: one line, nothing written.
    before = (directory / "manifest.json").read_bytes()
    with pytest.raises(ParameterError, match="give both"):
        publish(out, "other.safetensors", directory, dead_leaves_directory=dead_leaves)
    empty = tmp_path / "empty"
    empty.mkdir()
    refused = run_darkdev("rescore", "net", *arguments, "--dead-leaves-set", empty)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1
    assert f"{empty / 'validation-bayer-all_iso.npz'}: missing" in refused.stderr
    assert (directory / "manifest.json").read_bytes() == before
    assert sorted(p.name for p in directory.iterdir()) == ["manifest.json", "net.safetensors"]
