"""Never lose a photo, round two (issue 13): hostile inputs, outputs and streams.

Each test reproduces one case of the adversarial sweep; failures that need root (a full disk)
are simulated in-process, as in test_robustness.py.
"""

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from darkdev.errors import (
    DiskFullError,
    NetworkOutputError,
    OutputError,
    OutputExistsError,
    ParameterError,
    RawDecodeError,
)
from darkdev.files import write_atomic
from darkdev.inputs import read_bytes, read_limited, read_stream
from tests.conftest import file_hash, write_raw
from tests.test_cli import darkdev

EXECUTABLE = str(Path(sys.executable).parent / "darkdev")


def run(*args, stdin=None, stdout=subprocess.PIPE, timeout=120):
    """darkdev with standard streams of the test's choosing (a file, /dev/full, a pipe)."""
    return subprocess.run(
        [EXECUTABLE, *map(str, args)],
        stdin=stdin,
        stdout=stdout,
        stderr=subprocess.PIPE,
        timeout=timeout,
    )


def one_error_line(stderr: bytes) -> str:
    text = stderr.decode(errors="replace")
    assert "Traceback" not in text and "Exception ignored" not in text, text
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    return lines[0]


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


# --- outputs ------------------------------------------------------------------------------


def test_exclusive_write_never_replaces(tmp_path):
    target = tmp_path / "a.png"
    write_atomic(target, b"first", overwrite=False)
    with pytest.raises(OutputExistsError, match="exists"):
        write_atomic(target, b"second", overwrite=False)
    assert target.read_bytes() == b"first" and os.listdir(tmp_path) == ["a.png"]
    write_atomic(target, b"third")
    assert target.read_bytes() == b"third"


def test_exclusive_write_without_hard_links(tmp_path, monkeypatch):
    """File systems without hard links (FAT): the name is claimed with O_EXCL instead."""

    def no_links(source, target):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    target = tmp_path / "a.png"
    write_atomic(target, b"first", overwrite=False)
    with pytest.raises(OutputExistsError):
        write_atomic(target, b"second", overwrite=False)
    assert target.read_bytes() == b"first" and os.listdir(tmp_path) == ["a.png"]


class _RivalDeveloper:
    """Develops classically, but another run writes the same output meanwhile."""

    def __init__(self, output: Path) -> None:
        from darkdev.develop import Developer, DevelopOptions

        self.inner = Developer(DevelopOptions(ratio=5, model="classical"))
        self.output = output

    def develop(self, frame, on_tile=None):
        self.output.write_bytes(b"the other run's image")
        return self.inner.develop(frame, on_tile)


@pytest.mark.parametrize("skip_existing", [False, True])
def test_batch_that_loses_the_race_reports_exists(tmp_path, skip_existing):
    from darkdev.batch import run_batch
    from darkdev.planning import plan_jobs

    raw = write_raw(tmp_path / "a.dng")
    output = tmp_path / "a.png"
    jobs = plan_jobs([str(raw)], str(output))
    results = list(run_batch(jobs, _RivalDeveloper(output), skip_existing=skip_existing))
    assert [r.status for r in results] == ["skipped" if skip_existing else "failed"]
    assert "exists" in results[0].error and results[0].model == "classical"
    assert output.read_bytes() == b"the other run's image"
    assert sorted(os.listdir(tmp_path)) == ["a.dng", "a.png"]


def test_two_batches_into_one_folder_write_each_image_once(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for index in range(4):
        write_raw(folder / f"f{index}.dng", seed=index)
    command = [EXECUTABLE, "develop", str(folder), "-o", str(tmp_path / "out"), "--json"]
    command += ["--ratio", "5", "--model", "classical", "--threads", "1"]
    runs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in "ab"]
    outputs = [process.communicate(timeout=300)[0] for process in runs]
    done: dict[str, int] = {}
    for stdout in outputs:
        for record in map(json.loads, stdout.decode().splitlines()):
            if record["status"] == "done":
                done[record["output"]] = done.get(record["output"], 0) + 1
            else:
                assert "exists" in record["error"]
    assert sorted(Path(name).name for name in done) == [f"f{index}.png" for index in range(4)]
    assert set(done.values()) == {1}  # no image written by both runs


def test_output_extension_contradicting_format_refused(tmp_path):
    from darkdev.render import format_for

    assert format_for("x.jpeg", "jpg") == "jpg" and format_for("x.png", "png16") == "png16"
    assert format_for("x.dng", "png") == "png"
    result = darkdev(
        "develop", write_raw(tmp_path / "a.dng"), "-o", tmp_path / "x.png", "--format", "jpg"
    )
    assert result.returncode == 2 and "contradicts --format jpg" in one_error_line(result.stderr)
    assert not (tmp_path / "x.png").exists()


def test_broken_pipe_reported(tmp_path, tiny_weights):
    """`-o - | head -c 10`: an image larger than the pipe's buffer, the reader gone after 10 bytes."""
    raw = write_raw(tmp_path / "a.dng", height=512, width=512)
    process = subprocess.Popen(
        [EXECUTABLE, "develop", str(raw), "-o", "-", "--format", "png16", "--model", "classical"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert len(process.stdout.read(10)) == 10
    process.stdout.close()
    stderr = process.stderr.read()
    assert process.wait(timeout=120) == 1
    assert "broken pipe" in one_error_line(stderr)


def test_stdout_full_or_closed(tmp_path, tiny_weights):
    raw = write_raw(tmp_path / "a.dng")
    with open("/dev/full", "wb") as full:
        image = run("develop", raw, "-o", "-", "--ratio", "5", stdout=full)
        lines = run("develop", raw, "-o", tmp_path / "a.png", "--ratio", "5", "--json", stdout=full)
        table = run("models", stdout=full)
    for result in (image, lines, table):
        assert result.returncode == 1 and "No space left" in one_error_line(result.stderr)
    closed = subprocess.run(
        ["bash", "-c", f"'{EXECUTABLE}' develop '{raw}' -o - --ratio 5 >&-"],
        capture_output=True,
        timeout=120,
    )
    assert closed.returncode == 1 and "standard output is closed" in one_error_line(closed.stderr)


def test_closed_stdout_fails_every_command_that_prints(tmp_path, tiny_weights):
    """`>&-`: a table, --help or --version must not vanish with exit 0."""
    raw = write_raw(tmp_path / "a.dng")
    for args in (["models"], ["--help"], ["--version"], ["info", raw]):
        closed = subprocess.run(
            ["bash", "-c", f"'{EXECUTABLE}' {' '.join(map(str, args))} >&-"],
            capture_output=True,
            timeout=120,
        )
        assert closed.returncode == 1, args
        assert "standard output (it is closed)" in one_error_line(closed.stderr), args


def test_closed_stderr_develops_as_with_dev_null(tmp_path, tiny_weights):
    """`2>&-` once failed every file with "internal error" on stdout (LibRaw's silencer)."""
    raw = write_raw(tmp_path / "a.dng")
    command = f"'{EXECUTABLE}' develop '{raw}' -o - --ratio 5 --model classical --json 2>&-"
    closed = subprocess.run(["bash", "-c", command], capture_output=True, timeout=120)
    assert closed.returncode == 0 and closed.stdout.startswith(b"\x89PNG")
    info = subprocess.run(
        ["bash", "-c", f"'{EXECUTABLE}' info '{raw}' --json 2>&-"], capture_output=True, timeout=120
    )
    assert info.returncode == 0 and json.loads(info.stdout)["cfa_kind"] == "bayer"


def test_output_without_extension_and_format_names_the_image(tmp_path):
    """`-o night --format jpg` (one input): the image is `night`; no folder of that name."""
    raw = write_raw(tmp_path / "a.dng")
    result = darkdev(
        "develop", raw, "-o", tmp_path / "night", "--format", "jpg", "--model", "classical"
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "night").read_bytes()[:2] == b"\xff\xd8"


def test_full_disk_stops_the_batch_early(tmp_path, monkeypatch):
    from darkdev.batch import run_batch
    from darkdev.develop import Developer, DevelopOptions
    from darkdev.planning import plan_jobs
    from darkdev.report import Tally

    folder = tmp_path / "in"
    folder.mkdir()
    for index in range(3):
        write_raw(folder / f"f{index}.dng", seed=index)
    jobs = plan_jobs([str(folder)], str(tmp_path / "out"))
    (tmp_path / "out").mkdir()

    def full(descriptor):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    developer = Developer(DevelopOptions(ratio=7, model="classical"))
    results = list(run_batch(jobs, developer))
    assert len(results) == 1 and results[0].stops_batch
    record = results[0].record()
    assert record["status"] == "failed" and "No space left" in record["error"]
    assert record["ratio"] == 7 and record["model"] == "classical"  # known, so kept
    assert os.listdir(tmp_path / "out") == []
    tally = Tally(len(jobs))
    tally.add(results[0])
    assert (
        tally.summary()
        == "stopped early, the disk is full: 0 done, 0 skipped, 1 failed, 2 not attempted"
    )
    with pytest.raises(DiskFullError):
        write_atomic(tmp_path / "x.png", b"x")


def test_write_to_closed_stream_is_an_output_error():
    from darkdev.files import write_stream

    with pytest.raises(OutputError, match="closed"):
        write_stream(None, b"x")
