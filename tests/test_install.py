"""A non-editable install carries the bundled checkpoints: wheel -> fresh venv -> network develop.

The wheel is built from a copy of the package (so the build never writes into the checkout) and
installed with --no-deps into a new virtual environment that borrows this interpreter's
site-packages for torch & co. (fast, offline); darkdev itself must come from the wheel.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from darkdev.manifest import default_entry
from tests.conftest import write_raw

REPOSITORY = Path(__file__).resolve().parent.parent


def _run(command: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """(bin folder of a fresh venv holding the darkdev wheel, an environment to run it in)."""
    root = tmp_path_factory.mktemp("install")
    source = root / "source"
    shutil.copytree(
        REPOSITORY / "darkdev",
        source / "darkdev",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPOSITORY / name, source / name)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DARKDEV_WEIGHTS_DIR")}
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    _run([*pip, "wheel", "--no-deps", "-q", "-w", str(root / "dist"), str(source)], root, env)
    (wheel,) = (root / "dist").glob("darkdev-*.whl")

    environment = root / "venv"
    venv.create(environment, with_pip=False)
    python = environment / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # Heavy dependencies from this interpreter; a plain path entry, so its .pth files (an
    # editable darkdev among them) are not run.
    borrowed = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    Path(site, "borrowed-dependencies.pth").write_text("\n".join(sorted(borrowed)) + "\n")
    _run([*pip, "--python", str(python), "install", "--no-deps", "-q", str(wheel)], root, env)
    shutil.rmtree(source)  # the installed darkdev must not need the source tree
    origin = _run([str(python), "-c", "import darkdev; print(darkdev.__file__)"], root, env)
    assert Path(origin.stdout.strip()).is_relative_to(environment), origin.stdout
    return environment / "bin", env


def test_wheel_lists_every_bundled_checkpoint(installed, tmp_path):
    bin_folder, env = installed
    result = _run([str(bin_folder / "darkdev"), "models", "--json"], tmp_path, env)
    listed = {entry["file"] for entry in json.loads(result.stdout)}
    manifest = json.loads((REPOSITORY / "darkdev" / "checkpoints" / "manifest.json").read_text())
    bundled = {entry["file"] for entry in manifest["checkpoints"]}
    assert bundled and listed == bundled


@pytest.mark.parametrize("kind,extension", [("bayer", "ARW"), ("xtrans", "RAF")])
def test_wheel_develops_with_the_bundled_network(installed, tmp_path, kind, extension):
    bin_folder, env = installed
    raw = write_raw(tmp_path / f"night.{extension}", kind, 96, 132)
    command = [str(bin_folder / "darkdev"), "develop", str(raw), "-o", "out.png", "--json"]
    result = _run([*command, "--ratio", "50", "--device", "cpu", "--threads", "1"], tmp_path, env)
    record = json.loads(result.stdout)
    assert record["status"] == "done" and record["model_reason"] is None
    # The network --model auto picks on a CPU from the source tree's manifest, never classical.
    expected = default_entry(kind, REPOSITORY / "darkdev" / "checkpoints", "cpu")
    assert expected is not None
    assert record["model"].startswith(f"{expected.architecture} ({expected.file})")
    assert (tmp_path / "out.png").stat().st_size > 0
