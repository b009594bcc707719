"""End to end through the installed console script."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from darkdev.network_input import InputConvention
from tests.conftest import file_hash, write_raw
from tests.images import decode_image


def darkdev(*args, input_bytes=None, cwd=None):
    # The console script installed beside this interpreter (not whatever else is on PATH).
    beside = Path(sys.executable).parent / "darkdev"
    executable = str(beside) if beside.exists() else shutil.which("darkdev")
    assert executable, "the darkdev console script is not installed"
    return subprocess.run(
        [executable, *map(str, args)], input=input_bytes, capture_output=True, cwd=cwd, timeout=300
    )


def test_help_is_fast_and_lists_commands():
    result = darkdev("--help")
    assert result.returncode == 0 and b"develop" in result.stdout and b"models" in result.stdout


@pytest.mark.parametrize("kind,size", [("bayer", (96, 128)), ("xtrans", (96, 132))])
def test_develop_network_png16(tmp_path, tiny_weights, kind, size):
    raw = write_raw(
        tmp_path / f"night.{'ARW' if kind == 'bayer' else 'RAF'}", kind, *size, shift=(1, 0)
    )
    before = file_hash(raw)
    result = darkdev(
        "develop",
        raw,
        "-o",
        tmp_path / "out.png",
        "--format",
        "png16",
        "--ratio",
        "100",
        "--device",
        "cpu",
    )
    assert result.returncode == 0, result.stderr.decode()
    image = decode_image((tmp_path / "out.png").read_bytes())
    assert image.shape == (*size, 3) and image.dtype == np.uint16
    assert file_hash(raw) == before
    assert b"lts" in result.stderr  # reports go to stderr so stdout stays clean for pipelines


def test_classical_fallback_warns_without_weights(tmp_path, monkeypatch):
    (tmp_path / "none").mkdir()
    (tmp_path / "none" / "manifest.json").write_text('{"checkpoints": []}')
    monkeypatch.setenv("DARKDEV_WEIGHTS_DIR", str(tmp_path / "none"))
    raw = write_raw(tmp_path / "a.dng")
    result = darkdev("develop", raw, "-o", tmp_path / "a.jpg", "--ratio", "50", "--hdr")
    assert result.returncode == 0, result.stderr.decode()
    assert b"classical" in result.stderr and (tmp_path / "a.jpg").read_bytes()[:2] == b"\xff\xd8"
    # Loud, in the summary: which pipeline and why, not a one-off line that scrolls away.
    summary = result.stderr.decode().strip().splitlines()[-1]
    assert "classical pipeline" in summary and "no trained bayer network" in summary
    # And in --json: model classical with the reason.
    result = darkdev("develop", raw, "-o", tmp_path / "b.jpg", "--ratio", "50", "--json")
    assert result.returncode == 0, result.stderr.decode()
    record = json.loads(result.stdout)
    assert record["model"] == "classical" and "no trained bayer network" in record["model_reason"]


def test_asked_for_classical_has_no_fallback_reason(tmp_path, tiny_weights):
    raw = write_raw(tmp_path / "a.dng")
    result = darkdev("develop", raw, "-o", tmp_path / "a.jpg", "--model", "classical", "--json")
    assert result.returncode == 0, result.stderr.decode()
    record = json.loads(result.stdout)
    assert record["model"] == "classical" and record["model_reason"] is None
    assert b"classical pipeline" not in result.stderr


def test_bad_ratio_is_one_line_and_exit_2(tmp_path, tiny_weights):
    raw = write_raw(tmp_path / "a.dng")
    result = darkdev("develop", raw, "-o", tmp_path / "a.png", "--ratio", "-3")
    assert result.returncode == 2
    assert b"ratio" in result.stderr and b"Traceback" not in result.stderr
    assert not (tmp_path / "a.png").exists()


def test_batch_with_corrupt_file_goes_on(tmp_path, tiny_weights):
    folder = tmp_path / "shoot"
    (folder / "sub").mkdir(parents=True)
    write_raw(folder / "a.dng", seed=1)
    write_raw(folder / "sub" / "b.DNG", "xtrans", 96, 96, seed=2)
    (folder / "broken.ARW").write_bytes(b"\xff\xd8\xff\xe0 this is a jpeg")
    hashes = {p: file_hash(p) for p in folder.rglob("*") if p.is_file()}
    result = darkdev("develop", folder, "-r", "-o", tmp_path / "out", "--ratio", "80", "--json")
    assert result.returncode == 1
    records = [json.loads(line) for line in result.stdout.decode().splitlines()]
    statuses = {r["input"].split("/")[-1]: r["status"] for r in records}
    assert statuses == {"a.dng": "done", "b.DNG": "done", "broken.ARW": "failed"}
    assert (tmp_path / "out" / "a.png").exists() and (tmp_path / "out" / "sub" / "b.png").exists()
    assert b"broken.ARW" in result.stderr
    assert sorted(p.name for p in (tmp_path / "out").rglob("*") if p.is_file()) == [
        "a.png",
        "b.png",
    ]
    assert hashes == {p: file_hash(p) for p in folder.rglob("*") if p.is_file()}


def test_existing_output_refused_then_skipped_then_overwritten(tmp_path, tiny_weights):
    raw = write_raw(tmp_path / "a.dng")
    out = tmp_path / "a.png"
    out.write_bytes(b"keep me")
    refused = darkdev("develop", raw, "-o", out, "--ratio", "10")
    assert (
        refused.returncode == 1
        and b"--overwrite" in refused.stderr
        and out.read_bytes() == b"keep me"
    )
    skipped = darkdev("develop", raw, "-o", out, "--ratio", "10", "--skip-existing")
    assert skipped.returncode == 0 and out.read_bytes() == b"keep me"
    replaced = darkdev("develop", raw, "-o", out, "--ratio", "10", "--overwrite")
    assert replaced.returncode == 0 and out.read_bytes()[:4] == b"\x89PNG"


def test_never_overwrites_its_input(tmp_path, tiny_weights):
    raw = write_raw(tmp_path / "a.png")  # a raw that happens to be named .png
    before = file_hash(raw)
    result = darkdev("develop", raw, "-o", raw, "--ratio", "10", "--overwrite")
    assert result.returncode == 1 and b"input" in result.stderr
    assert file_hash(raw) == before


def test_stdin_to_stdout(tmp_path, tiny_weights):
    raw = write_raw(tmp_path / "a.dng")
    result = darkdev("develop", "-", "-o", "-", "--ratio", "20", input_bytes=raw.read_bytes())
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout[:8] == b"\x89PNG\r\n\x1a\n"
    assert decode_image(result.stdout).shape == (96, 128, 3)
    jpeg = darkdev(
        "develop", "-", "-o", "-", "--format", "jpg", "--ratio", "20", input_bytes=raw.read_bytes()
    )
    assert jpeg.stdout[:2] == b"\xff\xd8"


def test_shards_partition_a_folder(tmp_path, tiny_weights):
    folder = tmp_path / "in"
    folder.mkdir()
    for index in range(5):
        write_raw(folder / f"f{index}.dng", seed=index, height=48, width=64)
    outputs = []
    for shard in ("1/3", "2/3", "3/3"):
        result = darkdev(
            "develop",
            folder,
            "-o",
            tmp_path / "out",
            "--shard",
            shard,
            "--ratio",
            "10",
            "--model",
            "classical",
            "--quiet",
        )
        assert result.returncode == 0, result.stderr.decode()
        outputs.append(sorted(p.name for p in (tmp_path / "out").iterdir()))
    names = outputs[-1]
    assert names == [f"f{index}.png" for index in range(5)]
    assert [len(a) for a in outputs] == [2, 4, 5]  # each shard adds its own, none twice


def test_models_lists_bundled_checkpoints(tiny_weights):
    result = darkdev("models", "--json")
    assert result.returncode == 0
    assert {entry["cfa_kind"] for entry in json.loads(result.stdout)} == {"bayer", "xtrans"}


def test_tampered_bundled_weights_refused(tmp_path, tiny_weights):
    checkpoint = tiny_weights / "lts-w4-bayer.safetensors"
    checkpoint.write_bytes(checkpoint.read_bytes()[:-10])
    raw = write_raw(tmp_path / "a.dng")
    result = darkdev("develop", raw, "-o", tmp_path / "a.png", "--ratio", "10")
    assert result.returncode == 1 and b"sha256" in result.stderr
    assert not (tmp_path / "a.png").exists()


def test_same_input_gives_identical_bytes(tmp_path, tiny_weights):
    raw = write_raw(tmp_path / "a.dng")
    for name in ("one.png", "two.png"):
        assert darkdev("develop", raw, "-o", tmp_path / name, "--ratio", "30").returncode == 0
    assert (tmp_path / "one.png").read_bytes() == (tmp_path / "two.png").read_bytes()


def test_several_inputs_need_an_output_folder(tmp_path):
    first, second = write_raw(tmp_path / "a.dng"), write_raw(tmp_path / "b.dng", seed=1)
    result = darkdev("develop", first, second, "-o", tmp_path / "out.png")
    assert result.returncode == 2 and b"FOLDER" in result.stderr
    assert not (tmp_path / "out.png").exists()


def test_missing_gpu_is_a_usage_error(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    result = darkdev("develop", write_raw(tmp_path / "a.dng"), "--device", "cuda")
    assert result.returncode == 2 and b"CUDA" in result.stderr


def test_white_balanced_checkpoints_get_white_balanced_input(tmp_path, tiny_weights):
    from darkdev import manifest, weights

    raw = write_raw(tmp_path / "a.dng", brightness=0.05)
    assert (
        darkdev(
            "develop", raw, "-o", tmp_path / "plain.png", "--ratio", "8", "--colour", "network"
        ).returncode
        == 0
    )
    # The same weights, saved as trained on white-balanced input: the convention is in the file.
    entries = manifest.read_manifest(tiny_weights)
    for entry in entries:
        model, meta = weights.load_entry(entry, tiny_weights)
        assert meta.white_balance_input is False
        entry.sha256 = weights.save_checkpoint(
            tiny_weights / entry.file, model, "lts", {"width": 4}, entry.cfa_kind,
            half_precision=False, convention=InputConvention(white_balance=True),
        )  # fmt: skip
    manifest.write_manifest(entries, tiny_weights)
    assert (
        darkdev(
            "develop", raw, "-o", tmp_path / "balanced.png", "--ratio", "8", "--colour", "network"
        ).returncode
        == 0
    )
    assert (
        darkdev(
            "develop", raw, "-o", tmp_path / "direct.png", "--ratio", "8", "--colour", "network",
            "--weights", tiny_weights / "lts-w4-bayer.safetensors",
        ).returncode
        == 0
    )  # fmt: skip
    assert (tmp_path / "direct.png").read_bytes() == (tmp_path / "balanced.png").read_bytes()
    plain = decode_image((tmp_path / "plain.png").read_bytes()).astype(float)
    balanced = decode_image((tmp_path / "balanced.png").read_bytes()).astype(float)
    assert (
        plain.shape == balanced.shape and np.abs(plain - balanced).mean() > 0.01
    )  # identical if unused


def test_tif_output_is_16_bit_srgb_tiff_with_the_png16_values(tmp_path, tiny_weights):
    import tifffile

    raw = write_raw(tmp_path / "night.ARW", "bayer", 96, 128, exposure_time_s=0.25, iso=6400)
    common = ["--ratio", "50", "--device", "cpu"]
    assert darkdev("develop", raw, "-o", tmp_path / "a.tif", *common).returncode == 0
    assert (
        darkdev("develop", raw, "-o", tmp_path / "b.png", "--format", "png16", *common).returncode
        == 0
    )
    with tifffile.TiffFile(tmp_path / "a.tif") as tiff:
        page = tiff.pages.first
        pixels = page.asarray()
        assert 34675 in page.tags and page.tags[272].value == "ILCE-7SM2"
    assert pixels.dtype == np.uint16 and pixels.shape == (96, 128, 3)
    assert np.array_equal(pixels, decode_image((tmp_path / "b.png").read_bytes()))
    result = darkdev("develop", raw, "-o", f"{tmp_path / 'out'}/", "--format", "tiff16", *common)
    assert result.returncode == 0 and (tmp_path / "out" / "night.tif").exists()


@pytest.mark.parametrize(
    "option,choices",
    [
        ("--device", ["auto", "cpu", "cuda", "mps"]),
        ("--model", ["auto", "classical", "lts", "lts-w4-bayer", "lts-w4-xtrans"]),
        ("--colour", ["auto", "guided", "network"]),
        ("--format", ["png", "png16", "jpg", "tiff16"]),
    ],
)
def test_typo_in_a_choice_is_usage_error_listing_choices(tmp_path, tiny_weights, option, choices):
    raw = write_raw(tmp_path / "a.dng")
    result = darkdev("develop", raw, "-o", tmp_path / "a.png", option, "bogus")
    assert result.returncode == 2
    message = " ".join(result.stderr.decode().replace("│", " ").split())
    assert "'bogus' is not one of" in message
    assert all(f"'{choice}'" in message for choice in choices), message
    assert not (tmp_path / "a.png").exists()


def test_choice_enums_match_the_library():
    from darkdev.choices import ColourMode, Device, OutputFormat
    from darkdev.develop import COLOUR_MODES
    from darkdev.inference import DEVICES
    from darkdev.render import EXTENSION_BY_FORMAT

    assert [member.value for member in Device] == list(DEVICES)
    assert [member.value for member in ColourMode] == list(COLOUR_MODES)
    assert [member.value for member in OutputFormat] == list(EXTENSION_BY_FORMAT)


def test_ensemble_averages_views_and_says_so(tmp_path, tiny_weights):
    raw = write_raw(tmp_path / "a.dng")
    single = darkdev(
        "develop", raw, "-o", tmp_path / "one.png", "--ratio", "20", "--ensemble", "1", "--json"
    )
    paired = darkdev(
        "develop", raw, "-o", tmp_path / "two.png", "--ratio", "20", "--ensemble", "2", "--json"
    )
    assert single.returncode == 0 and paired.returncode == 0, paired.stderr
    assert "ensemble" not in json.loads(single.stdout)["model"]
    assert "2-view ensemble" in json.loads(paired.stdout)["model"]
    one = decode_image((tmp_path / "one.png").read_bytes()).astype(float)
    two = decode_image((tmp_path / "two.png").read_bytes()).astype(float)
    assert one.shape == two.shape and 0 < np.abs(one - two).mean() < 0.1 * 255


def test_default_ensemble_follows_the_cpus_native_precision(tmp_path, tiny_weights):
    import torch

    from darkdev.inference import native_half_dtype

    raw = write_raw(tmp_path / "a.dng")
    default = darkdev("develop", raw, "-o", tmp_path / "a.png", "--ratio", "20", "--json")
    full = darkdev(
        "develop", raw, "-o", tmp_path / "b.png", "--ratio", "20", "--precision", "full", "--json"
    )
    assert default.returncode == 0 and full.returncode == 0, default.stderr
    native = native_half_dtype(torch.device("cpu")) is not None
    assert ("2-view ensemble" in json.loads(default.stdout)["model"]) == native
    assert "ensemble" not in json.loads(full.stdout)["model"]  # float32 on a CPU: one view


def test_ensemble_size_refused_before_any_file_is_read(tmp_path):
    raw = write_raw(tmp_path / "a.dng")
    result = darkdev("develop", raw, "-o", tmp_path / "a.png", "--ensemble", "3")
    assert (
        result.returncode == 2 and b"--ensemble must be one of 1, 2, 4, 8, got 3" in result.stderr
    )
    assert not (tmp_path / "a.png").exists()
