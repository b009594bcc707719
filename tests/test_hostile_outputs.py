"""Never lose a photo, round two (issue 13): hostile outputs and streams, a full disk simulated."""

import json
import os
import subprocess
from pathlib import Path

import pytest

from darkdev.errors import DiskFullError, OutputError, OutputExistsError
from darkdev.files import write_atomic
from tests.conftest import write_raw
from tests.hostile_helpers import EXECUTABLE, one_error_line, run
from tests.test_cli import darkdev

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
