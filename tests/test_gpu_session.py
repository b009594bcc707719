"""The prepared GPU session (scripts/train_on_gpu.sh) rehearsed on the CPU with tiny settings,
on a machine like the GPU one: no rawpy, no exifread."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import imageio.v3 as imageio
import pytest

from darkdev.network_input import InputConvention
from darkdev.training.checkpoints import MAX_SHARD_BYTES, load_sharded
from tests.script_modules import load_script
from tests.training_helpers import smooth_photo

ROOT = Path(__file__).resolve().parent.parent


def test_gpu_script_rehearsal_without_rawpy(tmp_path):
    """The script's own model, width and starting weights (the bundled Bayer network widened to
    32), with tiny crops, batches and time."""
    photos = tmp_path / "photos"
    photos.mkdir()
    for seed in range(4):
        imageio.imwrite(photos / f"smooth-{seed}.png", smooth_photo(260, 280, seed).pixels)
    blocked = tmp_path / "blocked"
    blocked.mkdir()
    for module in ("rawpy", "exifread"):  # what the GPU machine lacks
        (blocked / f"{module}.py").write_text(f"raise ImportError('no {module} here')\n")
    out = tmp_path / "out"
    settings = ("MODEL", "WIDTH", "CFA", "LR", "INIT_FROM", "TV_WEIGHT", "LATER_SGN_LR_SCALE")
    environment = {
        **{key: value for key, value in os.environ.items() if key not in settings},
        "PYTHONPATH": f"{blocked}{os.pathsep}{ROOT}",
        "PYTHON": sys.executable,
        "PYTHON_SET": "1",
        "OUT": str(out),
        "PHOTOS": str(photos),
        "MINUTES": "0.5",
        "CROP": "16",
        "BATCH": "2",
        "DEAD_LEAVES": "2",
        "EXTRA": f"--work {tmp_path / 'work'} --validation-count 1 --validation-packed-px 32 "
        "--dead-leaves-side-px 256 "
        "--benchmark-steps 1 --inference-megapixels 0.2 --check-width 4 --check-steps 2 "
        "--validate-every 2",
    }
    result = subprocess.run(
        ["bash", str(ROOT / "scripts/train_on_gpu.sh")],
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    stages = ["self_check", "throughput", "dead_leaves", "training", "inference"]
    assert list(results["stages"]) == stages
    assert results["stages"]["dead_leaves"]["images"] == 2
    # The run trained on the photos and the images drawn beside them.
    trained_on = json.loads((tmp_path / "work" / "train" / "photos.json").read_text())
    assert {"dead-leaves-s0-000.png", "dead-leaves-s0-001.png", "smooth-0.png"} <= set(trained_on)
    assert results["stages"]["throughput"]["data_path_crops_per_second"] > 0
    assert results["stages"]["training"]["validation"]["target"] == "un-mosaiced"  # no LibRaw
    assert results["stages"]["inference"]["frames_per_second"] > 0
    assert results["stages"]["inference"]["frames_per_second_8_views"] > 0  # develop on CUDA
    files = sorted(p.name for p in out.iterdir())
    assert len(files) <= 8 and all((out / f).stat().st_size < MAX_SHARD_BYTES for f in files)
    assert "log.txt" in files
    model, metadata = load_sharded(out / "rmcn-3-nobc-w32-bayer.index.json", "bayer")
    assert metadata["architecture"] == "rmcn-3-nobc" and metadata["arguments"] == {"width": 32}
    assert results["stages"]["training"]["steps"] > 0
    # It started from the bundled network (validated at step 0), not from noise.
    assert "step 0: validation" in (out / "log.txt").read_text()
    assert sum(p.numel() for p in model.parameters()) > 0
    _unpack_as_if_cut(out, tmp_path)
    _publish_the_session(out, tmp_path)


def _unpack_as_if_cut(out, tmp_path):
    """Without results.json's run record, as a call cut before training ended leaves it, the
    record the loop wrote at the latest export still unpacks (that export's step and weights)."""
    from darkdev.training.session_runs import unpack_session

    cut = tmp_path / "cut"
    shutil.copytree(out, cut)
    results = json.loads((cut / "results.json").read_text())
    del results["run"]
    (cut / "results.json").write_text(json.dumps(results))
    index = json.loads((cut / "rmcn-3-nobc-w32-bayer.index.json").read_text())
    run = unpack_session(cut, tmp_path / "runs" / "gpu-cut")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["unpacked_from"]["cut_before_training_finished"] is True
    assert summary["steps"] == summary["best_step"] == index["step"]
    assert summary["stopped_by"] == "in progress: the latest export"
    from darkdev.training.publishing import publish

    entry = publish(run, "cut.safetensors", tmp_path / "weights-cut", colour="network")
    assert entry.training["cut"].startswith("the GPU call ended before training did")
    assert entry.training["steps"] == index["step"]


def _publish_the_session(out, tmp_path):
    """What a session brings back is published here as any run is: unpacked into a run folder,
    then `darkdev publish`'s library call, its lineage reaching the bundled network it grew."""
    from darkdev import manifest, weights
    from darkdev.training.publishing import publish
    from darkdev.training.session_runs import unpack_session

    run = unpack_session(out, tmp_path / "runs" / "gpu-bayer")
    weights_directory = tmp_path / "weights"
    entry = publish(run, "rmcn-3-nobc-w32-bayer.safetensors", weights_directory, colour="network")
    results = json.loads((out / "results.json").read_text())
    summary = results["run"]["summary"]
    assert entry.sha256 == weights.sha256_of(weights_directory / entry.file)
    assert entry.arguments == {"width": 32} and entry.cfa_kind == "bayer"
    assert entry.training["command"].startswith("python -m darkdev.training.session --out ")
    assert entry.training["steps"] == summary["steps"] == results["stages"]["training"]["steps"]
    assert entry.training["published_step"] == summary["best_step"]
    assert entry.training["machine"] == summary["machine"]
    bundled = ROOT / "darkdev/checkpoints/rmcn-3-nobc-w16-bayer.safetensors"
    started = entry.training["initialised_from"]
    assert started["sha256"] == weights.sha256_of(bundled)
    assert started["file"].endswith("rmcn-3-nobc-w16-bayer.safetensors")
    assert "lineage" in started  # the manifest's record of the bundled network at the start
    assert [e.file for e in manifest.read_manifest(weights_directory)] == [entry.file]


def test_session_plan_carries_the_grown_rmcn_settings():
    from darkdev.training.session import _config, parse_plan

    plan = parse_plan(["--out", "x", "--model", "rmcn-3-nobc", "--later-sgn-lr-scale", "10"])
    assert _config(plan).later_sgn_lr_scale == 10.0
    assert parse_plan(["--out", "x"]).later_sgn_lr_scale == 1.0


def test_session_keeps_the_starting_networks_input_convention(tmp_path):
    """A network trained on white-balanced raw must go on seeing white-balanced raw."""
    from darkdev.models import build_model
    from darkdev.training.session import _config, parse_plan
    from darkdev.weights import save_checkpoint

    conventions = [InputConvention(balanced, below) for balanced in (0, 1) for below in (0, 1)]
    for number, convention in enumerate(conventions):
        path = tmp_path / f"start-{number}.safetensors"
        model = build_model("lts", "bayer", 4)
        save_checkpoint(path, model, "lts", {"width": 4}, "bayer", convention=convention)
        plan = parse_plan(["--out", "x", "--model", "lts", "--init-from", str(path)])
        assert _config(plan).input_convention == convention
    assert _config(parse_plan(["--out", "x"])).input_convention == InputConvention()


def test_session_refuses_a_start_the_checkpoint_cannot_give_at_once(tmp_path):
    """MODEL=rmcn-3 (back connection) from the bundled RMCN without one: refused before any
    device minute is spent on the self-check."""
    from darkdev.errors import ParameterError
    from darkdev.training.session import parse_plan, run_session

    bundled = ROOT / "darkdev/checkpoints/rmcn-3-nobc-w16-bayer.safetensors"
    plan = parse_plan(
        ["--out", str(tmp_path / "out"), "--work", str(tmp_path / "work"), "--model", "rmcn-3"]
        + ["--init-from", str(bundled)]
    )
    with pytest.raises(ParameterError, match="init-from"):
        run_session(plan)
    assert not (tmp_path / "work" / "check").exists()


def test_photo_pack_counts_what_travels_to_the_device(tmp_path):
    """The 64 MiB budget counts tracked and untracked files, not ignored ones."""
    module = load_script("make_photo_pack.py")
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".gitignore").write_bytes(b"ignored/\n")  # 9 bytes
    (tmp_path / "tracked.bin").write_bytes(b"x" * 1000)
    subprocess.run(["git", "-C", str(tmp_path), "add", "tracked.bin"], check=True)
    (tmp_path / "untracked.bin").write_bytes(b"y" * 300)
    (tmp_path / "ignored").mkdir()
    (tmp_path / "ignored" / "photo.jpg").write_bytes(b"z" * 5000)
    assert module.working_tree_bytes(tmp_path) == 1000 + 300 + 9


def test_photo_pack_round_trip_leaves_no_stale_copies(tmp_path):
    """A pack reads back as the photos at the long side asked; written again for fewer photos,
    the copies of the others go (they would travel, and be trained on); bytes count the folder."""
    from darkdev.training import photos

    source, pack = tmp_path / "photos", tmp_path / "pack"
    source.mkdir()
    for seed in range(3):
        imageio.imwrite(source / f"p{seed}.png", smooth_photo(300, 320, seed).pixels)
    count, size = photos.write_photo_pack(source, pack, max_side_px=288, quality=90)
    packed = photos.load_photos(pack, min_side_px=200)
    assert count == 3 and [p.name for p in packed] == [f"p{s}.png.pack.jpg" for s in range(3)]
    assert all(p.pixels.shape == (270, 288, 3) for p in packed)
    (source / "p1.png").unlink()
    count, size = photos.write_photo_pack(source, pack, max_side_px=288, quality=90)
    names = sorted(path.name for path in pack.iterdir())
    assert count == 2 and names == ["manifest.tsv", "p0.png.pack.jpg", "p2.png.pack.jpg"]
    assert size == sum(path.stat().st_size for path in pack.iterdir())


def test_photo_pack_shrinks_to_the_budget_left_by_the_working_tree(tmp_path, monkeypatch):
    """A pack over budget is written again smaller (size ~ side squared), never under 1280 px
    (nor larger than asked)."""
    module = load_script("make_photo_pack.py")
    sides: list[int] = []

    def write(source, destination, side_px, quality):
        sides.append(side_px)
        return 79, side_px * side_px * 7  # 2048 px: 28 MiB, like the real pack

    monkeypatch.setattr(module.photos, "write_photo_pack", write)
    count, size, side = module.write_fitting_pack("photos", "out", 2048, 92, 26 * 2**20)
    assert (count, side) == (79, sides[-1]) and size <= 26 * 2**20
    assert sides[0] == 2048 and len(sides) == 2 and 1280 < side < 2048 and side % 64 == 0
    sides.clear()
    count, size, side = module.write_fitting_pack("photos", "out", 2048, 92, 2**20)
    assert side == 1280 == sides[-1] and size > 2**20
    sides.clear()
    count, size, side = module.write_fitting_pack("photos", "out", 800, 92, 2**20)
    assert sides == [800] and size > 2**20
