"""Issue 13's silent surprises and a newcomer's stumbles: each says what happens, or refuses."""

import json
import os
import select
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from darkdev.errors import ParameterError
from tests.conftest import write_raw
from tests.test_cli import darkdev

ROOT = Path(__file__).resolve().parent.parent


# --- silent surprises ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "options", [["--ratio", "0.5"], ["--ratio", "1e-300"], ["--ratio", "10", "--lower-bound", "50"]]
)
def test_ratio_below_lower_bound_refused(tmp_path, options):
    result = darkdev("develop", write_raw(tmp_path / "a.dng"), "--model", "classical", *options)
    assert result.returncode == 2 and b"below the lower bound" in result.stderr
    assert b"Traceback" not in result.stderr and not (tmp_path / "a.png").exists()


def test_estimated_ratio_below_lower_bound_says_what_was_used(tmp_path):
    from darkdev.develop import Developer, DevelopOptions
    from darkdev.raw import read_raw
    from darkdev.rimef import RimefParams

    with pytest.raises(ParameterError, match="below the lower bound"):
        RimefParams(ratio=0.5)
    frame = read_raw(write_raw(tmp_path / "a.dng", brightness=0.2))
    result = Developer(DevelopOptions(model="classical", lower_bound=300)).develop(frame)
    assert result.ratio == 300 and result.ratio_estimated
    assert any("below --lower-bound 300; used 300" in warning for warning in result.warnings)


def test_no_raw_files_found_is_said_and_fails(tmp_path):
    empty, texts = tmp_path / "empty", tmp_path / "texts"
    empty.mkdir()
    texts.mkdir()
    (texts / "notes.txt").write_text("not a raw")
    for folder in (empty, texts):
        result = darkdev("develop", folder, "-o", tmp_path / "out")
        assert result.returncode == 1
        line = result.stderr.decode().strip()
        assert f"no raw files found in {folder}" in line and ".arw" in line and "\n" not in line
    shoot = tmp_path / "shoot"
    shoot.mkdir()
    write_raw(shoot / "a.dng")
    mixed = darkdev("develop", empty, shoot, "-o", tmp_path / "out", "--model", "classical")
    assert mixed.returncode == 0 and f"no raw files found in {empty}".encode() in mixed.stderr


def test_empty_shard_is_said_and_succeeds(tmp_path):
    for index in range(2):
        write_raw(tmp_path / f"f{index}.dng", seed=index)
    result = darkdev("develop", tmp_path, "-o", tmp_path / "out", "--shard", "3/3")
    assert result.returncode == 0
    assert b"shard 3/3 has no files (2 files in all)" in result.stderr


# --- help, version, models, info -----------------------------------------------------------


def test_help_is_plain_and_complete(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    text = darkdev("develop", "--help").stdout.decode()
    for noise in ("<bool>", "<list[str]>", "{inputs}", "{INPUT}"):
        assert noise not in text, noise
    assert "INPUT..." in text and "1 with --hdr" in text and "--lam 1 --alpha 1" in text
    assert "lts-w16-bayer" in text  # --model lists its names
    assert "<bool>" not in darkdev("--help").stdout.decode()
    version = darkdev("--version")
    from darkdev import __version__

    assert version.returncode == 0 and version.stdout.decode().strip() == f"darkdev {__version__}"


def test_models_table_names_each_checkpoint(tiny_weights, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    text = darkdev("models").stdout.decode()
    assert "name (--model)" in text and "lts-w4-bayer " in text and "lts-w4-xtrans " in text
    assert "lts (width 4)" in text and "{'width'" not in text
    assert "high ISO" in text and "PSNR dB / SSIM" in text and "auto on CPU, GPU" in text


def test_models_table_says_which_networks_follow_white_balance():
    from darkdev.manifest import CheckpointEntry, catalogue_row

    def network_column(training):
        entry = CheckpointEntry("a.safetensors", "0" * 64, "lts", {}, "bayer", training=training)
        return catalogue_row(entry)[1]

    assert "white-balanced input" in network_column({"white_balance_input": True})
    assert "white-balanced" not in network_column({"white_balance_input": False})
    assert "below black" not in network_column({"white_balance_input": True})


def test_models_table_shows_detail_scores_where_measured():
    from darkdev.manifest import CATALOGUE_COLUMNS, CheckpointEntry, catalogue_row

    scores = {"psnr": 29.5, "ssim": 0.828, "psnr_high_iso": 27.1, "ssim_high_iso": 0.779}
    entry = CheckpointEntry("a.safetensors", "0" * 64, "lts", {}, "bayer", validation=scores)
    column = CATALOGUE_COLUMNS.index("detail")
    assert catalogue_row(entry)[column] == "-"
    entry.validation.update(psnr_detail=18.946, ssim_detail=0.5792)
    assert catalogue_row(entry)[column] == "18.95/0.579"


def test_models_table_shows_two_view_scores_where_develop_gives_them():
    from darkdev.ensemble import HALF_CPU_ENSEMBLE_SIZE
    from darkdev.manifest import CATALOGUE_COLUMNS, VIEWS_MODE, CheckpointEntry, catalogue_row

    assert f"network_{HALF_CPU_ENSEMBLE_SIZE}_views" == VIEWS_MODE  # what publish scores
    entry = CheckpointEntry("a.safetensors", "0" * 64, "lts", {}, "bayer", colour="network")
    column = CATALOGUE_COLUMNS.index("2 views")
    assert catalogue_row(entry)[column] == "-"
    views = {"all_iso": [30.1, 0.85], "high_iso": [28.514, 0.8152]}
    entry.validation["colour_modes"] = {"network_2_views": views}
    assert catalogue_row(entry)[column] == "28.51/0.815"
    entry.colour = "guided"  # develop's guided colour is not what the views were scored in
    assert catalogue_row(entry)[column] == "-"


@pytest.mark.parametrize("columns", [200, 96, 80, 60, 40])
def test_models_shows_every_column_of_the_bundled_catalogue_at_any_width(
    tmp_path, monkeypatch, columns
):
    """Names and numbers are never cut and no column is dropped: a terminal too narrow for the
    table gets one block per checkpoint instead."""
    from darkdev import manifest

    (tmp_path / "manifest.json").write_bytes(
        (ROOT / "darkdev/checkpoints/manifest.json").read_bytes()
    )
    monkeypatch.setenv("DARKDEV_WEIGHTS_DIR", str(tmp_path))
    monkeypatch.setenv("COLUMNS", str(columns))
    text = darkdev("models").stdout.decode()
    lines = text.splitlines()
    assert "…" not in text and max(len(line) for line in lines) <= columns, text
    entries = manifest.read_manifest(tmp_path)
    for entry in entries:
        row = manifest.catalogue_row(entry, manifest.auto_devices(entry))
        for cell in (row[0], *row[2:]):
            assert any(f" {cell} " in f" {line} " for line in lines), (cell, text)
        for word in row[1].split():
            assert word in text, (word, text)
    if columns >= 200:
        assert "┃ high ISO" in text, text  # the table
    if columns <= 60:
        assert "┃" not in text and "\n  high ISO " in text, text  # the blocks


def test_models_table_never_cuts_a_name_on_a_narrow_terminal(tiny_weights, monkeypatch):
    monkeypatch.setenv("COLUMNS", "60")
    words = darkdev("models").stdout.decode().split()  # a table's cells or blocks' lines
    assert "lts-w4-bayer" in words and "lts-w4-xtrans" in words, words


def test_model_names_any_case_and_wrong_sensor_explained(tmp_path, tiny_weights):
    raw = write_raw(tmp_path / "a.dng")
    for name in ("LTS", "lts-w4-BAYER"):
        result = darkdev(
            "develop", raw, "-o", tmp_path / f"{name}.png", "--ratio", "5", "--model", name
        )
        assert result.returncode == 0 and b"lts (lts-w4-bayer" in result.stderr, result.stderr
    other = darkdev(
        "develop", raw, "-o", tmp_path / "x.png", "--ratio", "5", "--model", "lts-w4-xtrans"
    )
    assert other.returncode == 1
    assert b"is for xtrans raws and this raw is bayer (use --model auto or lts-w4-bayer)" in (
        other.stderr
    )


def test_architecture_name_picks_the_default_among_widths(tmp_path):
    from darkdev import manifest

    def entry(width: int, default: bool) -> manifest.CheckpointEntry:
        return manifest.CheckpointEntry(
            file=f"rmcn-3-nobc-w{width}-xtrans.safetensors",
            sha256="0" * 64,
            architecture="rmcn-3-nobc",
            arguments={"width": width},
            cfa_kind="xtrans",
            default=default,
            size_bytes=1,
            training={},
            validation={},
        )

    for entries, wanted in (
        ([entry(16, False), entry(24, True)], 24),  # the default, though listed second
        ([entry(16, True), entry(24, False)], 16),
        ([entry(16, False), entry(24, False)], 24),  # no default: the latest published
    ):
        manifest.write_manifest(entries, tmp_path)
        found = manifest.find_entry("RMCN-3-nobc", "xtrans", tmp_path)
        assert found is not None and found.arguments == {"width": wanted}
        by_file = manifest.find_entry("rmcn-3-nobc-w16-xtrans", "xtrans", tmp_path)
        assert by_file is not None and by_file.arguments == {"width": 16}
    assert manifest.find_entry("rmcn-3-nobc", "bayer", tmp_path) is None


def test_unknown_model_is_a_usage_error_before_loading(tmp_path, tiny_weights):
    result = darkdev("develop", write_raw(tmp_path / "a.dng"), "--model", "foo")
    assert result.returncode == 2  # typer refuses it from the installed manifest's names
    text = " ".join(result.stderr.decode().split())
    for name in ("'foo'", "auto", "classical", "lts", "lts-w4-bayer", "lts-w4-xtrans"):
        assert name in text, text


def test_info_names_the_camera_once(tmp_path):
    from darkdev.info import camera_name

    assert camera_name("Canon", "Canon EOS Kiss X4") == "Canon EOS Kiss X4"
    assert camera_name("Sony", "ILCE-7SM2") == "Sony ILCE-7SM2"
    raw = write_raw(tmp_path / "a.dng", make="Canon", model="Canon EOS Kiss X4")
    assert json.loads(darkdev("info", raw, "--json").stdout)["camera"] == "Canon EOS Kiss X4"


# --- progress ------------------------------------------------------------------------------


def test_network_reports_tiles_and_batch_names_the_file_being_developed(tmp_path, tiny_weights):
    from darkdev.batch import run_batch
    from darkdev.develop import Developer, DevelopOptions
    from darkdev.planning import plan_jobs

    for index in range(2):
        write_raw(tmp_path / f"f{index}.dng", seed=index, height=160, width=160)
    events: list = []
    jobs = plan_jobs([str(tmp_path)], str(tmp_path / "out"))
    (tmp_path / "out").mkdir()
    developer = Developer(DevelopOptions(ratio=5, tile_size_px=32, tile_overlap_px=8))
    for result in run_batch(
        jobs,
        developer,
        on_start=lambda job: events.append(("start", Path(job.source).name)),
        on_tile=lambda done, total: events.append(("tile", done, total)),
    ):
        events.append(("result", Path(result.input).name))
    starts = [index for index, event in enumerate(events) if event[0] != "tile"]
    assert [events[index] for index in starts] == [
        ("start", "f0.dng"), ("result", "f0.dng"), ("start", "f1.dng"), ("result", "f1.dng"),
    ]  # fmt: skip
    tiles = [event[1:] for event in events[starts[0] : starts[1]] if event[0] == "tile"]
    assert tiles[-1][0] == tiles[-1][1] > 1
    assert [done for done, _ in tiles] == sorted(done for done, _ in tiles)


def test_progress_bar_on_a_terminal_only(tmp_path, tiny_weights):
    raw = write_raw(tmp_path / "a.dng", height=512, width=512)  # 121 tiles of 32 px
    command = [str(Path(sys.executable).parent / "darkdev"), "develop", str(raw), "--ratio", "5"]
    command += ["--tile-size", "32", "--tile-overlap", "8", "--overwrite", "--colour", "network"]
    leader, follower = os.openpty()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=follower)
    os.close(follower)
    shown = b""
    while True:  # drain the terminal, or the child blocks on a full pty buffer
        ready, _, _ = select.select([leader], [], [], 1.0)
        try:
            chunk = os.read(leader, 65536) if ready else b""
        except OSError:  # EIO: the child closed its end
            break
        if ready and not chunk:
            break
        shown += chunk
        if not ready and process.poll() is not None:
            break
    os.close(leader)
    assert process.wait(timeout=300) == 0
    assert b"developing a.dng: tiles" in shown
    piped = darkdev(*command[1:])
    assert piped.returncode == 0 and b"tiles" not in piped.stderr
    quiet = darkdev(*command[1:], "--quiet")
    assert quiet.returncode == 0 and quiet.stderr == b""


# --- README --------------------------------------------------------------------------------


def test_readme_first_command_writes_where_git_ignores():
    """Its output must not show up in `git status` of the repository it was run in."""
    readme = (ROOT / "README.md").read_text()
    first_block = readme.split("```sh\n", 1)[1].split("```", 1)[0]
    target = first_block.split(" -o ", 1)[1].split()[0]
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    checked = subprocess.run(["git", "check-ignore", "-q", target], cwd=ROOT)
    assert checked.returncode == 0, f"{target} is not ignored by git"


def test_tile_callback_counts_every_tile():
    import torch

    from darkdev.inference import run_network

    class Upscale(torch.nn.Module):
        def forward(self, x):
            return torch.nn.functional.interpolate(x[:, :3], scale_factor=2)

    calls: list = []
    image = run_network(
        Upscale(), np.zeros((4, 96, 96), np.float32), 2, tile_size_px=32, tile_overlap_px=8,
        tiles_per_batch=3, on_tile=lambda done, total: calls.append((done, total)),
    )  # fmt: skip
    assert image.shape == (192, 192, 3)
    total = calls[-1][1]
    assert calls[-1] == (total, total) and [done for done, _ in calls] == list(
        range(3, total, 3)
    ) + [total]
