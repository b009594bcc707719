"""The shell examples in examples/ run as documented."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize(
    "script,produced",
    [
        ("develop_single.sh", "colorchart.jpg"),
        ("develop_batch.sh", "batch/colorchart.jpg"),
        ("develop_pipeline.sh", "from_pipe.png"),
    ],
)
def test_example_script(tmp_path, script, produced):
    environment = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    result = subprocess.run(
        ["bash", str(EXAMPLES / script), str(tmp_path)],
        capture_output=True,
        env=environment,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr.decode()
    output = tmp_path / produced
    assert output.stat().st_size > 10_000
