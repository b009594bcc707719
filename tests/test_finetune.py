"""Fine-tuning for a camera profile: the camera in the synthetic data path (the default path
unchanged), `darkdev finetune` (tiny width-4 "bundled" model, a few steps, resume), the tuned
checkpoint's record of its camera, develop's warning on another camera."""

from __future__ import annotations

import dataclasses
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from darkdev import dng, manifest, weights
from darkdev.develop import Developer, DevelopOptions
from darkdev.errors import CalibrationError, ParameterError
from darkdev.raw import read_raw
from darkdev.training import synthetic, unprocessing, validation
from darkdev.training.camera import ISO_GAIN_SPREAD, camera_from_profile
from darkdev.training.finetune import FinetuneOptions, finetune
from darkdev.training.photos import list_photo_names
from tests.conftest import write_raw
from tests.synthetic_camera import write_eld_camera_profile
from tests.test_cli import darkdev
from tests.training_helpers import smooth_photo

# Computed before the camera was threaded through the data path (bayer, xtrans): a default
# batch (2 photos, crop 16, 2 items, seed 3, step 5) must stay exactly what it was.
REFERENCE_GAINS = {
    "bayer": (0.16627463449550117, 0.2577597525857914),
    "xtrans": (0.12391059109996291, 0.2092285901439989),
}
REFERENCE_INPUT_MEANS = {
    "bayer": (0.05329253897070885, 0.1358059197664261, 0.09931470453739166, 0.13694798946380615),
    "xtrans": (
        0.04956352338194847, 0.04880363494157791, 0.09353611618280411, 0.0929253101348877,
        0.13445597887039185, 0.13630658388137817, 0.13427048921585083, 0.1327085644006729,
        0.13442450761795044,
    ),
}  # fmt: skip
REFERENCE_TARGET_MEANS = {
    "bayer": (0.2590322494506836, 0.34082716703414917, 0.38626956939697266),
    "xtrans": (0.2722321152687073, 0.33949190378189087, 0.3789089322090149),
}
REFERENCE_TARGET_CORNER = {  # targets[1, :, 0, :3]
    "bayer": (
        (0.4210772216320038, 0.4211444556713104, 0.42122867703437805),
        (0.2777871787548065, 0.27891284227371216, 0.28068679571151733),
        (0.28487005829811096, 0.2829853892326355, 0.28266987204551697),
    ),
    "xtrans": (
        (0.44382378458976746, 0.4436960518360138, 0.4437437951564789),
        (0.25851869583129883, 0.26044997572898865, 0.2623082995414734),
        (0.2827054262161255, 0.282685786485672, 0.2809365689754486),
    ),
}
OTHER_MATRIX = dng.CAMERA_MATRICES["Sony ILCE-7RM3"]


@pytest.fixture(autouse=True)
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def bank():
    return synthetic.PhotoBank([smooth_photo(seed=0), smooth_photo(seed=1)])


@pytest.fixture
def photo_folder(tmp_path):
    import imageio.v3 as imageio

    folder = tmp_path / "photos"
    folder.mkdir()
    for seed in range(3):
        imageio.imwrite(folder / f"smooth-{seed}.png", smooth_photo(260, 280, seed).pixels)
    return folder


@pytest.mark.parametrize("kind", ["bayer", "xtrans"])
def test_default_pairs_are_unchanged(bank, kind):
    batch = synthetic.synthetic_batch(bank, kind, 16, 2, seed=3, step=5)
    gains = tuple(plan.noise.system_gain_dn_per_electron for plan in batch.plans)
    assert gains == REFERENCE_GAINS[kind]  # numpy draws: exact
    means = batch.inputs.mean(dim=(0, 2, 3)).tolist()
    assert means == pytest.approx(REFERENCE_INPUT_MEANS[kind], abs=1e-6)
    assert batch.targets.mean(dim=(0, 2, 3)).tolist() == pytest.approx(
        REFERENCE_TARGET_MEANS[kind], abs=1e-6
    )
    corner = np.array(REFERENCE_TARGET_CORNER[kind])
    np.testing.assert_allclose(batch.targets[1, :, 0, :3].numpy(), corner, atol=1e-6)


def test_profile_camera_gives_its_noise_and_colour(bank, tmp_path):
    path = write_eld_camera_profile(
        tmp_path / "cam.json", gain_factor=3.0, row_noise_factor=2.0, color_matrix=OTHER_MATRIX
    )
    camera = camera_from_profile(path)
    assert camera.noise_params["Kmax"] == pytest.approx(3 * 6.010628535562261)
    augment = synthetic.AugmentConfig(camera=camera)
    batch = synthetic.synthetic_batch(bank, "bayer", 16, 8, seed=3, step=5, augment=augment)
    default = synthetic.synthetic_batch(bank, "bayer", 16, 8, seed=3, step=5)
    for plan, plain in zip(batch.plans, default.plans, strict=True):
        # Same draws, on this camera's lines: K x3 (not widened: the kind is Bayer anyway).
        gain = plan.noise.system_gain_dn_per_electron
        assert gain == pytest.approx(3 * plain.noise.system_gain_dn_per_electron)
    assert not torch.allclose(batch.targets, default.targets, atol=1e-3)  # another colour
    # LibRaw develops the validation DNGs with the profile's matrix: its rgb_cam is ours.
    import rawpy

    meta = unprocessing.dng_metadata("bayer", camera=camera)
    assert (meta.make, meta.model) == (camera.make, camera.model)
    mosaic = np.full((24, 24), 2000, dtype=np.uint16)
    with rawpy.imread(io.BytesIO(dng.dng_bytes(mosaic, unprocessing.PATTERN_FOR_KIND["bayer"], meta))) as opened:  # fmt: skip
        libraw = np.array(opened.color_matrix, dtype=np.float64)[:3, :3]
    np.testing.assert_allclose(unprocessing.rgb_from_camera_matrix("bayer", OTHER_MATRIX), libraw, atol=1e-6)  # fmt: skip
    # --iso: K within a third of a stop of that ISO's (ISO 800 is the profile's lowest K).
    at_iso = camera_from_profile(path, iso=800)
    low = 3 * 0.09391607086816033
    assert at_iso.noise_params["Kmin"] == pytest.approx(low / ISO_GAIN_SPREAD)
    assert at_iso.noise_params["Kmax"] == pytest.approx(low * ISO_GAIN_SPREAD)
    held_out = validation.build_validation_set(
        [smooth_photo()], "bayer", "all_iso", 1, packed_px=16
    )
    mine = validation.build_validation_set(
        [smooth_photo()], "bayer", "all_iso", 1, packed_px=16, camera=camera
    )
    assert not np.array_equal(held_out.noisy_packed[0], mine.noisy_packed[0])
    document = json.loads(path.read_text())
    document["noise_params"] = None
    (tmp_path / "no-noise.json").write_text(json.dumps(document))
    with pytest.raises(CalibrationError, match="no noise model"):
        camera_from_profile(tmp_path / "no-noise.json")


def tiny_options(tmp_path, photos, profile, **changes) -> FinetuneOptions:
    values = dict(
        profile=profile,
        output=tmp_path / "tuned.safetensors",
        minutes=5.0,
        photos=str(photos),
        photo_cache=str(tmp_path / "photo-cache"),
        dead_leaves=2,
        dead_leaves_side_px=48,
        mix_cache=str(tmp_path / "mixes"),
        threads=1,
        validation_count=1,
        validate_every=2,
        max_steps=2,
        crop=16,
        batch=2,
        validation_packed_px=32,
    )
    values.update(changes)
    return FinetuneOptions(**values)


def test_finetune_resumes_and_records_the_camera(tmp_path, photo_folder, tiny_weights, monkeypatch):
    profile = write_eld_camera_profile(tmp_path / "cam.json", gain_factor=3.0, black_offset_dn=3)
    options = tiny_options(tmp_path, photo_folder, profile, max_steps=4, checkpoint_minutes=0.0)
    from darkdev.training import loop

    original_after_step = loop.after_step

    def interrupted_at_step_two(run):
        original_after_step(run)  # checkpoints every step (checkpoint_minutes 0)
        if run.step == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(loop, "after_step", interrupted_at_step_two)
    lines: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        finetune(options, report=lines.append)
    assert not options.output.exists() and (tmp_path / "tuned.finetune" / "last.pt").exists()
    monkeypatch.setattr(loop, "after_step", original_after_step)
    # A fresh start in a used work folder, or resuming another camera's, is refused at once.
    with pytest.raises(ParameterError, match="--resume"):
        finetune(options)
    other = write_eld_camera_profile(tmp_path / "other.json", gain_factor=2.0)
    with pytest.raises(ParameterError, match="another profile"):
        finetune(tiny_options(tmp_path, photo_folder, other, resume=True))
    resumed = finetune(dataclasses.replace(options, resume=True), report=lines.append)
    assert resumed.steps == 4 and resumed.work == tmp_path / "tuned.finetune"
    words = [line.split()[0] for line in lines]
    # The first start draws the dead leaves (once); the resumed one trains on the same mix.
    assert words[:7] == [
        "fine-tuning",
        "drawing",
        "drew",
        "before",
        "fine-tuning",
        "before",
        "after",
    ]
    assert words[7:] in ([], ["warning:"])  # a few steps of a random model may not improve it
    mix = Path(resumed.training_photos)
    assert mix.parent == tmp_path / "mixes" and len(list(mix.glob("dead-leaves-*.png"))) == 2
    assert json.loads((resumed.work / "photos.json").read_text()) == list_photo_names(mix)
    assert "for Testmaker Night One (bayer)" in lines[0]
    assert set(resumed.before) == set(resumed.after) == {"all_iso", "high_iso", "detail"}
    assert all(math.isfinite(psnr) for psnr, _ in resumed.after.values())
    with pytest.raises(ParameterError, match="exists"):
        finetune(dataclasses.replace(options, resume=True))
    model, metadata = weights.load_model(options.output, resumed.output_sha256, "bayer")
    record = metadata[weights.TUNED_FOR_KEY]
    assert (record["make"], record["model"]) == ("Testmaker", "Night One")
    assert record["profile_sha256"] == weights.sha256_of(profile) and record["steps"] == 4
    bundled = manifest.default_entry("bayer")
    assert record["from"] == {"file": bundled.file, "sha256": bundled.sha256}
    assert metadata["architecture"] == "lts" and metadata["arguments"] == {"width": 4}


def test_cli_finetune_then_develop_warns_on_another_camera(tmp_path, photo_folder, tiny_weights):
    profile = write_eld_camera_profile(tmp_path / "cam.json", make="Sony", model="ILCE-7RM3")
    output = tmp_path / "mine.safetensors"
    arguments = ["--photos", photo_folder, "--photo-cache", tmp_path / "cache", "--threads", "1"]
    arguments += ["--dead-leaves", "0"]  # photos alone: nothing drawn, nothing in --mix-cache
    arguments += ["--max-steps", "2", "--crop", "16"]
    arguments += ["--batch", "2", "--validation-count", "1", "--validation-packed-px", "32"]
    result = darkdev("finetune", "--profile", profile, "-o", output, *arguments)
    assert result.returncode == 0, result.stderr.decode()
    table = result.stdout.decode()
    assert "bundled: lts-w4-bayer.safetensors" in " ".join(table.split())  # the caption may wrap
    assert all(word in table for word in ("classical", "tuned", "PSNR", "SSIM", "detail"))
    assert output.exists()
    again = darkdev("finetune", "--profile", profile, "-o", output, *arguments)
    assert again.returncode == 2 and again.stderr.decode().count("\n") == 1  # one line
    assert b"exists" in again.stderr
    # The raw of conftest is a Sony ILCE-7SM2: one line of warning; the tuned camera's: none.
    options = DevelopOptions(weights_path=output, ratio=20, colour="network")
    other = Developer(options).develop(read_raw(write_raw(tmp_path / "a7s.dng")))
    assert [w for w in other.warnings if "fine-tuned for Sony ILCE-7RM3" in w] == other.warnings
    assert len(other.warnings) == 1
    same = write_raw(tmp_path / "a7r.dng", make="Sony", model="ILCE-7RM3")
    assert Developer(options).develop(read_raw(same)).warnings == []
