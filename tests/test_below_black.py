"""A network trained on input kept below black is fed so by develop, end to end."""

import numpy as np

from darkdev.network_input import InputConvention
from tests.conftest import write_raw
from tests.images import decode_image
from tests.test_cli import darkdev


def test_develop_feeds_a_below_black_network_what_it_trained_on(tmp_path):
    import torch

    from darkdev import weights
    from darkdev.models import build_model

    torch.manual_seed(0)
    model = build_model("lts", "bayer", width=4)
    raw = write_raw(tmp_path / "a.dng", brightness=0.001)  # a fifth of the samples below black
    images = {}
    for below_black in (False, True):
        checkpoint = tmp_path / f"below-{below_black}.safetensors"
        convention = InputConvention(white_balance=True, below_black=below_black)
        weights.save_checkpoint(
            checkpoint, model, "lts", {"width": 4}, "bayer", convention=convention
        )
        output = tmp_path / f"{below_black}.png"
        result = darkdev("develop", raw, "-o", output, "--ratio", "300", "--format", "png16",
                         "--weights", checkpoint, "--colour", "network", "--precision", "full")  # fmt: skip
        assert result.returncode == 0, result.stderr.decode()
        images[below_black] = decode_image(output.read_bytes())
    # The same weights fed the read noise below black instead of zeros: another picture (a random
    # tiny network barely reads its input: 6 levels of 65535 on average, 0 if develop clipped).
    assert np.abs(images[True].astype(int) - images[False]).mean() > 1
