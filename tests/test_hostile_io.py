"""Never lose a photo, round two (issue 13): hostile inputs, streams and weights.

Each test reproduces one case of the adversarial sweep; the outputs' cases are in
test_hostile_outputs.py.
"""

import io
import json
import os
from pathlib import Path

import numpy as np
import pytest

from darkdev.errors import NetworkOutputError, ParameterError, RawDecodeError
from darkdev.inputs import read_bytes, read_limited, read_stream
from tests.conftest import file_hash, write_raw
from tests.hostile_helpers import one_error_line, run
from tests.test_cli import darkdev

# --- inputs -------------------------------------------------------------------------------


def test_stdin_that_is_the_output_file_is_refused(tmp_path, tiny_weights):
    raw = write_raw(tmp_path / "photo.dng")
    before = file_hash(raw)
    with open(raw, "rb") as stdin:
        result = run(
            "develop", "-", "-o", raw, "--format", "png", "--overwrite", "--ratio", "5",
            stdin=stdin,
        )  # fmt: skip
    assert result.returncode == 1 and "input" in one_error_line(result.stderr)
    assert file_hash(raw) == before


def test_stdout_appending_to_an_input_is_refused(tmp_path, tiny_weights):
    raw = write_raw(tmp_path / "photo.dng")
    before = file_hash(raw)
    with open(raw, "ab") as stdout:
        result = run("develop", raw, "-o", "-", "--ratio", "5", stdout=stdout)
    assert result.returncode == 2 and "standard output" in one_error_line(result.stderr)
    assert file_hash(raw) == before


@pytest.mark.parametrize("suffix", ["/../../escape", "..", "a\\b", "_x/y"])
def test_suffix_with_separators_or_dotdot_refused(tmp_path, suffix):
    (tmp_path / "in").mkdir()
    raw = write_raw(tmp_path / "in" / "a.dng")
    out = tmp_path / "out" / "deep"
    result = darkdev("develop", raw, "-o", out, "--suffix", suffix, "--model", "classical")
    assert result.returncode == 2 and "--suffix" in one_error_line(result.stderr)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.dng", "in"]  # no stray folder


def test_devices_fifos_and_loops_refused_at_once(tmp_path, tiny_weights):
    """Non-regular files: one line each, nothing read or waited on, the batch goes on."""
    folder = tmp_path / "in"
    folder.mkdir()
    from tests.test_robustness import special_files

    specials = special_files(folder)
    write_raw(folder / "good.dng")
    inputs = ["/dev/zero", "/dev/urandom", *specials, folder / "good.dng"]
    result = darkdev("develop", *inputs, "-o", tmp_path / "out", "--ratio", "5", "--json")
    assert result.returncode == 1
    stderr = result.stderr.decode()
    assert "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == len(inputs) - 1
    assert sum("character device" in line for line in errors) == 3  # /dev/zero twice, urandom
    assert any("FIFO" in line for line in errors) and any("symlink loop" in line for line in errors)
    records = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert [Path(r["input"]).name for r in records if r["status"] == "done"] == ["good.dng"]


def test_input_size_limit(tmp_path, monkeypatch):
    huge = tmp_path / "huge.ARW"
    with open(huge, "wb") as handle:
        handle.truncate((1 << 30) + 1)  # sparse: takes no disk space
    with pytest.raises(RawDecodeError, match="huge.ARW: .*input size limit of 1 GiB"):
        read_bytes(huge)
    with pytest.raises(RawDecodeError, match="<stdin>: more than .*input size limit"):
        read_stream(io.BytesIO(bytes(2048)), limit_bytes=1024)
    assert read_limited(io.BytesIO(bytes(1024)), "x", 1024) == bytes(1024)


def test_stdin_errors_name_it_once(tmp_path):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(bytes(range(256)) * 4)
    with open(junk, "rb") as stdin:
        result = run("develop", "-", "-o", tmp_path / "x.png", "--ratio", "5", stdin=stdin)
    line = one_error_line(result.stderr)
    assert result.returncode == 1 and line.startswith("error: <stdin>: "), line
    assert not (tmp_path / "x.png").exists()


def test_stdin_terminal_refused():
    leader, follower = os.openpty()
    try:
        with (
            open(follower, "rb", closefd=False) as terminal,
            pytest.raises(RawDecodeError, match="terminal"),
        ):
            read_stream(terminal)
    finally:
        os.close(leader)
        os.close(follower)


def test_threads_bounded():
    from darkdev.inference import thread_count

    cores = os.cpu_count() or 1
    assert thread_count(None) == cores and thread_count(1) == 1
    with pytest.raises(ParameterError, match="--threads must be 1.."):
        thread_count(100000)
    for threads in ("100000", "0"):
        result = darkdev("develop", "x.dng", "--threads", threads)
        assert result.returncode == 2 and "--threads" in one_error_line(result.stderr)


def test_file_name_not_utf8_is_printed_escaped(tmp_path, tiny_weights):
    folder = os.fsencode(tmp_path)
    raw = write_raw(Path(os.fsdecode(folder + b"/caf\xe9.dng")))
    result = darkdev("develop", raw, "--ratio", "5")
    stderr = result.stderr.decode()
    assert result.returncode == 0, stderr
    assert "Traceback" not in stderr and "caf\\xe9.png" in stderr
    assert os.path.exists(folder + b"/caf\xe9.png")


# --- weights ------------------------------------------------------------------------------


def _nan_checkpoint(path: Path) -> Path:
    import torch

    from darkdev import weights
    from darkdev.models import build_model

    model = build_model("lts", "bayer", width=4)
    with torch.no_grad():
        next(model.parameters()).fill_(float("nan"))
    weights.save_checkpoint(path, model, "lts", {"width": 4}, "bayer")
    return path


def test_nan_weights_refused(tmp_path):
    checkpoint = _nan_checkpoint(tmp_path / "nan.safetensors")
    raw = write_raw(tmp_path / "a.dng")
    result = darkdev("develop", raw, "-o", tmp_path / "a.png", "--weights", checkpoint)
    assert result.returncode == 1 and "NaN" in one_error_line(result.stderr)
    assert not (tmp_path / "a.png").exists()


def test_non_finite_network_output_refused():
    import torch

    from darkdev.inference import run_network

    class Broken(torch.nn.Module):
        def forward(self, x):
            return torch.full((x.shape[0], 3, x.shape[2] * 2, x.shape[3] * 2), float("inf"))

    with pytest.raises(NetworkOutputError, match="NaN or infinite"):
        run_network(Broken(), np.zeros((4, 32, 32), np.float32), 2)


def test_manifest_path_outside_its_folder_refused(tmp_path, tiny_weights, monkeypatch):
    from darkdev.errors import WeightsError
    from darkdev.manifest import read_manifest

    manifest = json.loads((tiny_weights / "manifest.json").read_text())
    for bad in ("../../../etc/hostname", "/etc/hostname"):
        manifest["checkpoints"][0]["file"] = bad
        (tiny_weights / "manifest.json").write_text(json.dumps(manifest))
        with pytest.raises(WeightsError, match="leaves the weights folder"):
            read_manifest()
    result = darkdev("develop", write_raw(tmp_path / "a.dng"), "--ratio", "5")
    assert result.returncode == 2 and "leaves the weights folder" in one_error_line(result.stderr)


@pytest.mark.parametrize("kind", ["missing", "empty", "file", "no manifest"])
def test_weights_dir_variable_must_name_a_weights_folder(tmp_path, monkeypatch, kind):
    folder = tmp_path / "weights"
    if kind == "file":
        folder.write_text("not a folder")
    elif kind == "no manifest":
        folder.mkdir()
    monkeypatch.setenv("DARKDEV_WEIGHTS_DIR", "" if kind == "empty" else str(folder))
    result = darkdev("develop", write_raw(tmp_path / "a.dng"), "--ratio", "5")
    line = one_error_line(result.stderr)
    assert result.returncode == 2 and "DARKDEV_WEIGHTS_DIR" in line
    assert kind == "empty" or str(folder) in line
    assert not (tmp_path / "a.png").exists()
    listed = darkdev("models")  # the same configuration error, the same exit code
    assert listed.returncode == 2 and "DARKDEV_WEIGHTS_DIR" in one_error_line(listed.stderr)
