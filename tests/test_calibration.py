"""Calibration on a synthetic camera with known noise (tests/synthetic_camera.py)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from darkdev import raw
from darkdev.calibration.calibrate import calibrate
from darkdev.calibration.camera_profile import CameraProfile
from darkdev.calibration.darkframe import DarkSubtraction
from darkdev.calibration.distributions import tukey_lambda_standard
from darkdev.calibration.frames import CHANNEL_NAMES
from darkdev.calibration.profile import master_darks_path, write_profile
from darkdev.errors import CalibrationError
from tests import synthetic_camera as camera
from tests.test_cli import darkdev

SCALE_TO_14_BIT = (16383 - 512) / (camera.WHITE_LEVEL - camera.BLACK_LEVEL)


@pytest.fixture(scope="module")
def shoot(tmp_path_factory):
    """Dark and flat frames of both ISOs, and the profile calibrated from them."""
    folder = tmp_path_factory.mktemp("shoot")
    darks, flats = [], []
    for noise in camera.CAMERA:
        darks += camera.write_darks(folder, noise)
        flats += camera.write_flats(folder, noise)
    result = calibrate(darks, flats)
    profile_path = folder / "mycamera.json"
    write_profile(result, profile_path)
    return {
        "folder": folder,
        "darks": darks,
        "flats": flats,
        "result": result,
        "profile": CameraProfile.load(profile_path),
    }


def relative_error(measured: float, truth: float) -> float:
    return abs(measured - truth) / truth


def gaussian_sigma_dn(noise) -> float:
    """The true standard deviation (DN) of an ISO's read noise, Gaussian or Tukey-lambda."""
    if noise.tukey_lambda is None:
        return noise.read_sigma_dn
    quantiles = (np.arange(1_000_000) + 0.5) / 1_000_000
    return float(np.std(tukey_lambda_standard(quantiles, noise.tukey_lambda))) * noise.read_sigma_dn


@pytest.mark.parametrize("noise", camera.CAMERA, ids=lambda noise: f"iso{noise.iso}")
def test_recovers_gain_read_row_and_black(shoot, noise):
    entry = shoot["profile"].entry(noise.iso)
    assert relative_error(entry["system_gain_dn_per_electron"], noise.gain_dn_per_electron) < 0.10
    if noise.tukey_lambda is None:
        assert entry["read_noise_better_fit"] == "gaussian"
        assert relative_error(entry["read_sigma_dn"], noise.read_sigma_dn) < 0.10
    else:
        assert entry["read_noise_better_fit"] == "tukey-lambda"
        assert relative_error(entry["tukey_scale_dn"], noise.read_sigma_dn) < 0.10
        assert abs(entry["tukey_lambda"] - noise.tukey_lambda) < 0.05
    assert relative_error(entry["row_sigma_dn"], noise.row_sigma_dn) < 0.15
    measured = [entry["black_level_error_dn"][name] for name in CHANNEL_NAMES]
    assert np.max(np.abs(np.subtract(measured, noise.black_offsets_dn))) < 0.5
    assert entry["dark_frames"] == 4 and entry["flat_pairs"] == 3


def test_interpolates_an_uncalibrated_iso(shoot):
    low, high = camera.CAMERA
    noise = shoot["profile"].noise_at_iso(1600)  # halfway in log ISO and log K
    assert not noise.measured
    assert relative_error(noise.system_gain_dn_per_electron, 1.6) < 0.10
    expected_row = math.sqrt(low.row_sigma_dn * high.row_sigma_dn)  # log-linear in log K
    assert relative_error(noise.row_sigma_dn, expected_row) < 0.15
    # Gaussian read sigma, log-linear in log K: ISO 3200's is its Tukey-lambda's std deviation.
    expected_read = math.sqrt(low.read_sigma_dn * gaussian_sigma_dn(high))
    assert relative_error(noise.read_sigma_dn, expected_read) < 0.10
    expected_black = (np.array(low.black_offsets_dn) + high.black_offsets_dn) / 2
    measured_black = [noise.black_level_error_dn[name] for name in CHANNEL_NAMES]
    assert np.max(np.abs(measured_black - expected_black)) < 0.5
    reference = shoot["profile"].noise_at_iso(1600, reference_14bit=True)
    assert reference.system_gain_dn_per_electron == pytest.approx(
        noise.system_gain_dn_per_electron * SCALE_TO_14_BIT
    )
    assert reference.tukey_lambda == noise.tukey_lambda
    fields = reference.noise_sample_fields(
        tukey=True
    )  # what darkdev.training.noise.add_noise takes
    assert fields["read_sigma_dn"] == reference.tukey_scale_dn
    assert fields["tukey_lambda"] == noise.tukey_lambda
    from darkdev.training.noise import NoiseSample

    assert NoiseSample(**fields).read_sigma_dn == reference.tukey_scale_dn


def test_profile_carries_camera_and_eld_noise_params(shoot):
    document = shoot["profile"].document
    cam = document["camera"]
    assert (cam["make"], cam["model"], cam["white_level"]) == (
        camera.MAKE,
        camera.MODEL,
        camera.WHITE_LEVEL,
    )
    assert np.asarray(cam["rgb_xyz_matrix"]).shape == (4, 3)
    assert np.asarray(cam["color_matrix"]).shape == (3, 4)
    # LibRaw reports no rgb_xyz_matrix for these DNGs: derived from color_matrix, it must be
    # the DNG's ColorMatrix1 up to the row scale LibRaw normalises away.
    from darkdev.colour import XYZ_FROM_LINEAR_SRGB
    from darkdev.dng import CAMERA_MATRICES

    def normalised(matrix) -> np.ndarray:
        matrix = np.reshape(matrix, (3, 3)).astype(float)
        return matrix / (matrix @ XYZ_FROM_LINEAR_SRGB).sum(axis=1, keepdims=True)

    derived = normalised(cam["dng_color_matrix_x10000"])
    assert np.allclose(derived, normalised(CAMERA_MATRICES["Sony ILCE-7RM3"]), atol=2e-3)
    eld = json.loads((Path(raw.__file__).parent / "noise_params.json").read_text())
    params = document["noise_params"]
    for key in ("Kmin", "Kmax", "g_scale", "G_scale", "R_scale", "G_shape_tukey_lambda"):
        assert type(params[key]) is type(eld[key])
    assert params["Kmin"] == pytest.approx(0.8 * SCALE_TO_14_BIT, rel=0.1)
    assert params["Kmax"] == pytest.approx(3.2 * SCALE_TO_14_BIT, rel=0.1)
    assert np.asarray(params["color_bias"]).shape == (8, 4)
    assert document["fits"]["log_k_vs_log_iso"]["slope"] == pytest.approx(1.0, abs=0.1)


def test_master_dark_holds_the_fixed_pattern(shoot):
    low = camera.CAMERA[0]
    offset = shoot["profile"].master_dark_offset(low.iso)
    truth = camera.fixed_pattern(low) + np.asarray(low.black_offsets_dn)[camera.colour_map()]
    # What is left is the temporal noise of a 4-frame mean: read sigma / 2, row sigma / 2.
    assert offset.dtype == np.float32 and offset.shape == truth.shape
    assert np.sqrt(np.mean((offset - truth) ** 2)) < 0.7 * low.read_sigma_dn
    assert shoot["profile"].master_dark_offset(1600) is None


def test_tampered_master_darks_are_refused(shoot, tmp_path):
    source = shoot["profile"].path
    copy = tmp_path / source.name
    copy.write_text(source.read_text())
    master_darks_path(copy).write_bytes(master_darks_path(source).read_bytes()[:-10] + b"x" * 10)
    with pytest.raises(CalibrationError, match="does not match"):
        CameraProfile.load(copy).master_dark_offset(800)


def fixed_pattern_error_dn(frame: raw.RawFrame, noise, signal_dn: np.ndarray) -> float:
    """RMS (DN) of the frame's normalised mosaic against the clean signal."""
    black_map = np.asarray(frame.black_level_per_channel, dtype=np.float32)[frame.colour_map]
    measured = frame.mosaic * (frame.white_level - black_map)
    return float(np.sqrt(np.mean((measured - signal_dn) ** 2)))


def write_patterned_image(path: Path, noise, temporal: bool = False) -> np.ndarray:
    """A dim flat image with the camera's fixed pattern (no temporal noise); its clean signal."""
    signal = camera.flat_signal(0.05)
    values = camera.black_map(noise) + camera.fixed_pattern(noise) + signal
    camera.write_frame(path, np.round(values).astype(np.uint16), noise.iso)
    return signal


def test_profile_master_dark_removes_the_fixed_pattern(shoot, tmp_path):
    low = camera.CAMERA[0]
    signal = write_patterned_image(tmp_path / "night.dng", low)
    frame = raw.read_raw(tmp_path / "night.dng")
    corrected, warnings = DarkSubtraction.from_profile(shoot["profile"].path).apply(frame)
    before = fixed_pattern_error_dn(frame, low, signal)
    after = fixed_pattern_error_dn(corrected, low, signal)
    assert after < 0.5 * before and warnings == []


def test_profile_corrects_the_black_level_at_an_iso_without_master_dark(shoot, tmp_path):
    low, high = camera.CAMERA
    expected = (np.array(low.black_offsets_dn) + high.black_offsets_dn) / 2  # ISO 1600's
    between = camera.IsoNoise(1600, 1.6, 2.0, None, 0.0, tuple(expected), 0.0)
    signal = camera.flat_signal(0.05)
    mosaic = np.round(camera.black_map(between) + signal).astype(np.uint16)
    camera.write_frame(tmp_path / "iso1600.dng", mosaic, 1600)
    frame = raw.read_raw(tmp_path / "iso1600.dng")
    corrected, warnings = DarkSubtraction.from_profile(shoot["profile"].path).apply(frame)
    assert len(warnings) == 1 and "black level only" in warnings[0]
    colours = camera.colour_map()

    def channel_errors_dn(image: raw.RawFrame) -> np.ndarray:
        black = np.asarray(image.black_level_per_channel, dtype=np.float32)[image.colour_map]
        error = image.mosaic * (image.white_level - black) - signal
        return np.array([error[colours == channel].mean() for channel in range(4)])

    np.testing.assert_allclose(channel_errors_dn(frame), expected, atol=0.1)  # before: the offsets
    assert np.max(np.abs(channel_errors_dn(corrected))) < 0.5


def test_dark_frame_removes_the_fixed_pattern(tmp_path):
    quiet = camera.IsoNoise(800, 0.8, 0.2, None, 0.0, (2.0, -1.0, 3.0, 0.5), 12.0)
    signal = write_patterned_image(tmp_path / "night.dng", quiet)
    rng = np.random.default_rng(1)
    dark = camera.frame_dn(quiet, np.zeros_like(signal), rng)
    camera.write_frame(tmp_path / "dark.dng", dark, quiet.iso)
    frame = raw.read_raw(tmp_path / "night.dng")
    corrected, _ = DarkSubtraction.from_dark_frame(tmp_path / "dark.dng").apply(frame)
    before = fixed_pattern_error_dn(frame, quiet, signal)
    after = fixed_pattern_error_dn(corrected, quiet, signal)
    assert before > 2.0 and after < 0.5


def test_dark_frame_of_another_size_is_refused(tmp_path, shoot):
    small = np.full((64, 96), camera.BLACK_LEVEL, dtype=np.uint16)
    camera.write_frame(tmp_path / "small_dark.dng", small, 800)
    subtraction = DarkSubtraction.from_dark_frame(tmp_path / "small_dark.dng")
    frame = raw.read_raw(shoot["darks"][0])
    with pytest.raises(CalibrationError, match="96x64"):
        subtraction.apply(frame)


@pytest.mark.parametrize(
    "case,message",
    [
        ("not dark", "not a dark frame"),
        ("clipped flat", "clipped flat"),
        ("not flat", "not flat"),
        ("one level", "one brightness level"),
        ("odd flats", "odd number of flats"),
        ("one dark", "2 or more are needed"),
    ],
)
def test_bad_calibration_input_is_refused(shoot, tmp_path, case, message):
    low = camera.CAMERA[0]
    darks = [p for p in shoot["darks"] if f"_{low.iso}_" in p.name]
    flats = [p for p in shoot["flats"] if f"_{low.iso}_" in p.name]
    if case == "not dark":
        darks = [*darks, flats[-1]]
    elif case == "clipped flat":
        flats = camera.write_flats(tmp_path, low, levels=(0.2, 1.2))
    elif case == "not flat":
        scene = camera.flat_signal(0.2) * (1 + np.tile(np.arange(160) % 40 < 20, (128, 1)))
        mosaic = camera.frame_dn(low, scene, np.random.default_rng(0))
        flats = [camera.write_frame(tmp_path / f"scene{n}.dng", mosaic, low.iso) for n in (0, 1)]
    elif case == "one level":
        flats = flats[:2] + flats[:2]
    elif case == "odd flats":
        flats = flats[:3]
    elif case == "one dark":
        darks = darks[:1]
    with pytest.raises(CalibrationError, match=message):
        calibrate(darks, flats)


def test_cli_calibrate_writes_profile_table_and_plots(shoot, tmp_path):
    output = tmp_path / "cam.json"
    result = darkdev(
        "calibrate", "--dark", *shoot["darks"], "--flat", *shoot["flats"], "-o", output, "--plot"
    )
    assert result.returncode == 0, result.stderr.decode()
    assert b"3200" in result.stdout and b"log K" in result.stdout
    assert json.loads(output.read_text())["format"] == "darkdev camera profile"
    for suffix in (".darks.npz", ".ptc.png", ".noise.png"):
        assert (tmp_path / f"cam{suffix}").stat().st_size > 0
    before = output.read_bytes()
    again = darkdev("calibrate", "--dark", *shoot["darks"], "-o", output)
    assert again.returncode == 2 and b"--overwrite" in again.stderr
    assert output.read_bytes() == before


def test_cli_calibrate_refuses_another_camera_in_one_line(shoot, tmp_path):
    stranger = camera.write_frame(
        tmp_path / "other.dng",
        camera.frame_dn(camera.CAMERA[0], np.zeros((128, 160)), np.random.default_rng(0)),
        800,
        model="Other Body",
    )
    output = tmp_path / "cam.json"
    result = darkdev("calibrate", "--dark", *shoot["darks"][:2], stranger, "-o", output)
    assert result.returncode == 1
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and "calibrate one camera" in lines[0], lines
    assert list(tmp_path.iterdir()) == [stranger]


def test_cli_develop_batch_with_profile_and_dark_frame(shoot, tmp_path):
    folder = tmp_path / "night"
    folder.mkdir()
    for iso in (800, 1600):
        noise = camera.IsoNoise(iso, 0.8, 2.0, None, 0.6, (2.0, -1.0, 3.0, 0.5), 12.0)
        write_patterned_image(folder / f"iso{iso}.dng", noise)
    common = ("--model", "classical", "--ratio", "8")
    result = darkdev(
        "develop", folder, "-o", tmp_path / "out", "--profile", shoot["profile"].path, *common
    )
    assert result.returncode == 0, result.stderr.decode()
    assert b"black level only" in result.stderr  # ISO 1600 has no master dark
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["iso1600.png", "iso800.png"]
    dark = darkdev(
        "develop", folder, "-o", tmp_path / "out2", "--dark-frame", shoot["darks"][0], *common
    )
    assert dark.returncode == 0, dark.stderr.decode()
    not_dark = darkdev(
        "develop", folder, "-o", tmp_path / "out3", "--dark-frame", shoot["flats"][-1], *common
    )
    assert not_dark.returncode == 2 and b"not a dark frame" in not_dark.stderr
    assert not (tmp_path / "out3").exists()


@pytest.mark.parametrize("columns", [200, 80, 60, 40])
def test_calibration_table_never_cuts_a_number(shoot, columns):
    """calibrate's table at any terminal width: every number whole, no line too wide; a terminal
    too narrow for the table gets one block per ISO."""
    import io

    from rich.console import Console

    from darkdev.cli.tools import _calibration_rows, print_calibration_table

    document = json.loads((shoot["folder"] / "mycamera.json").read_text())
    rows = _calibration_rows(document)
    output = io.StringIO()
    print_calibration_table(Console(file=output, width=columns, color_system=None), document)
    text = output.getvalue()
    assert "…" not in text and max(len(line) for line in text.splitlines()) <= columns, text
    words = text.split()
    assert all(word in words for row in rows for cell in row for word in cell.split()), text
    assert ("┃" in text) == (columns >= 80), text  # the table where it fits, else blocks
    if columns < 80:
        assert all(f"ISO {row[0]}" in text for row in rows), text
