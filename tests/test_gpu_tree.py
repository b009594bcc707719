"""scripts/gpu_tree.py: bundled checkpoints leave the tree that travels to the GPU and come back,
in a throwaway git repository."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.script_modules import load_script

gpu_tree = load_script("gpu_tree.py")
photo_pack = load_script("make_photo_pack.py")

BAYER_START = "darkdev/checkpoints/rmcn-3-nobc-w16-bayer.safetensors"
XTRANS_START = "darkdev/checkpoints/rmcn-3-nobc-w24-xtrans.safetensors"
WIDE = "darkdev/checkpoints/rmcn-3-nobc-w32-bayer.safetensors"


def git(repository: Path, *arguments: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=test", "-c", "user.email=test@example.com", *arguments],
        cwd=repository,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


@pytest.fixture()
def repository(tmp_path):
    git(tmp_path, "init", "-q")
    sizes = {
        BAYER_START: 1000,
        XTRANS_START: 1100,
        WIDE: 4000,
        "darkdev/checkpoints/manifest.json": 50,
    }
    for path, size in sizes.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(bytes(range(256)) * (size // 256) + b"x" * (size % 256))
    (tmp_path / ".git/info/exclude").write_text("# a line of the user's\n/scratch/\n")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "bundle")
    return tmp_path


def test_leave_behind_and_restore_round_trip(repository):
    exclude = repository / ".git/info/exclude"
    exclude_before = exclude.read_text()
    wide_bytes = (repository / WIDE).read_bytes()
    travelling_before = photo_pack.working_tree_bytes(repository)

    left = gpu_tree.leave_behind(repository, gpu_tree.session_needs("bayer"))

    assert left == [XTRANS_START, WIDE]
    assert photo_pack.working_tree_bytes(repository) == travelling_before - 1100 - 4000
    assert (repository / WIDE).read_bytes() == wide_bytes  # on disk, untouched
    assert gpu_tree.left_behind(repository) == left
    assert git(repository, "status", "--porcelain").split("\n")[0].startswith("D ")

    assert gpu_tree.restore(repository) == left
    assert git(repository, "status", "--porcelain") == ""
    assert exclude.read_text() == exclude_before
    assert photo_pack.working_tree_bytes(repository) == travelling_before
    assert gpu_tree.left_behind(repository) == []


def test_the_session_keeps_the_network_it_starts_from(repository):
    left = gpu_tree.leave_behind(repository, gpu_tree.session_needs("xtrans"))
    assert XTRANS_START not in left and BAYER_START in left
    listed = git(repository, "ls-files", "--cached", "--others", "--exclude-standard").split()
    assert XTRANS_START in listed and "darkdev/checkpoints/manifest.json" in listed
    assert BAYER_START not in listed and WIDE not in listed


def test_it_keeps_what_the_gpu_script_starts_from(repository, monkeypatch):
    """The script's own answer (its INIT_FROM), not a second list of file names."""
    assert gpu_tree.session_needs("bayer") == {BAYER_START}
    monkeypatch.setenv("INIT_FROM", f"{repository}/{WIDE}")
    assert gpu_tree.session_needs("bayer", repository) == {WIDE}
    monkeypatch.setenv("INIT_FROM", "")  # from scratch: no bundled network travels
    assert gpu_tree.session_needs("xtrans") == set()


def test_refusals_change_nothing(repository):
    (repository / WIDE).write_bytes(b"retrained, not committed")
    with pytest.raises(gpu_tree.TreeError, match=f"{WIDE}: differs from HEAD"):
        gpu_tree.leave_behind(repository, gpu_tree.session_needs("bayer"))
    assert gpu_tree.left_behind(repository) == []
    assert git(repository, "status", "--porcelain").strip() == f"M {WIDE}"
    git(repository, "checkout", "-q", "--", WIDE)

    gpu_tree.leave_behind(repository, gpu_tree.session_needs("bayer"))
    with pytest.raises(gpu_tree.TreeError, match="already left behind"):
        gpu_tree.leave_behind(repository, gpu_tree.session_needs("xtrans"))
    (repository / WIDE).unlink()
    with pytest.raises(gpu_tree.TreeError, match=f"{WIDE}: left behind but no longer on disk"):
        gpu_tree.restore(repository)
    assert gpu_tree.left_behind(repository) == [XTRANS_START, WIDE]


def test_command_lines(repository, capsys):
    assert gpu_tree.main(["status"], repository) == 0
    assert "nothing left behind" in capsys.readouterr().out
    assert gpu_tree.main(["leave-behind", "--cfa", "bayer"], repository) == 0
    printed = capsys.readouterr().out
    assert f"left behind (untracked, ignored; restore after the call): {WIDE}" in printed
    assert printed.endswith("commit nothing until: python scripts/gpu_tree.py restore\n")
    assert gpu_tree.main(["leave-behind", "--cfa", "bayer"], repository) == 1
    assert capsys.readouterr().err == (
        "gpu_tree.py: checkpoints are already left behind: run restore first\n"
    )
    assert gpu_tree.main(["restore"], repository) == 0
    assert f"back on the index: {WIDE}" in capsys.readouterr().out
    assert git(repository, "status", "--porcelain") == ""
