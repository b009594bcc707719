import numpy as np
import pytest
import torch

from darkdev.errors import ParameterError, ShapeError
from darkdev.inference import (
    DEFAULT_TILE_OVERLAP_PX,
    DEFAULT_TILE_SIZE_PX,
    autocast_dtype,
    run_network,
    tile_starts,
    validate_tiling,
)
from darkdev.models import build_model


def smooth_packed(channels, height, width):
    rows, cols = np.mgrid[0:height, 0:width]
    base = 0.4 + 0.3 * np.sin(rows / 23.0) * np.cos(cols / 31.0)
    noise = np.random.default_rng(0).normal(0, 0.05, (channels, height, width))
    return np.clip(base[None] + noise, 0, 1).astype(np.float32)


@pytest.mark.parametrize("kind,channels,scale", [("bayer", 4, 2), ("xtrans", 9, 3)])
def test_tiled_equals_untiled_within_half_a_level(kind, channels, scale):
    torch.manual_seed(0)
    model = build_model("lts", kind, width=4).eval()
    packed = smooth_packed(channels, 600, 680)  # fits in one 1024 tile, needs 4 default tiles
    untiled = run_network(model, packed, scale, tile_size_px=1024, tile_overlap_px=0)
    tiled = run_network(
        model,
        packed,
        scale,
        tile_size_px=DEFAULT_TILE_SIZE_PX,
        tile_overlap_px=DEFAULT_TILE_OVERLAP_PX,
    )
    assert tiled.shape == untiled.shape == (600 * scale, 680 * scale, 3)
    assert np.abs(tiled - untiled).mean() < 0.5 / 255


def test_command_line_tiling_defaults_are_the_library_defaults():
    import inspect

    from darkdev.cli.develop import develop

    parameters = inspect.signature(develop).parameters
    assert parameters["tile_size"].default == DEFAULT_TILE_SIZE_PX
    assert parameters["tile_overlap"].default == DEFAULT_TILE_OVERLAP_PX


def test_output_size_for_sizes_not_multiple_of_stride():
    model = build_model("lts", "bayer", width=2).eval()
    image = run_network(model, smooth_packed(4, 37, 53), 2, tile_size_px=32, tile_overlap_px=8)
    assert image.shape == (74, 106, 3)
    assert image.dtype == np.float32 and image.min() >= 0 and image.max() <= 1


def test_tile_starts_cover_everything():
    for length in (16, 100, 256, 257, 1000, 3976):
        starts = tile_starts(length, 256, 32)
        assert starts[0] == 0 and starts[-1] + min(256, length) == max(length, min(256, length))
        assert all(b - a <= 256 - 32 for a, b in zip(starts, starts[1:], strict=False))


def test_cpu_output_is_deterministic():
    torch.manual_seed(1)
    model = build_model("lts", "bayer", width=4).eval()
    packed = smooth_packed(4, 64, 64)
    first = run_network(model, packed, 2, tile_size_px=32, tile_overlap_px=8)
    second = run_network(model, packed, 2, tile_size_px=32, tile_overlap_px=8)
    assert np.array_equal(first, second)


@pytest.mark.parametrize(
    "amx,avx512_bf16,expected",
    [(True, False, torch.bfloat16), (False, True, torch.bfloat16), (False, False, None)],
)
def test_auto_precision_is_half_only_where_native(monkeypatch, amx, avx512_bf16, expected):
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16, raising=False)
    cpu = torch.device("cpu")
    assert autocast_dtype(cpu, "auto") is expected
    assert autocast_dtype(cpu, "full") is None
    assert autocast_dtype(cpu, "half") is torch.bfloat16  # asked for: emulated if not native
    assert autocast_dtype(torch.device("cuda"), "auto") is torch.float16
    assert autocast_dtype(torch.device("mps"), "auto") is None
    with pytest.raises(ParameterError, match="precision must be one of auto, full, half"):
        autocast_dtype(cpu, "double")


def test_half_precision_stays_close_to_full():
    torch.manual_seed(0)
    model = build_model("lts", "bayer", width=8).eval()
    packed = smooth_packed(4, 64, 96)
    full = run_network(model, packed, 2, tile_size_px=128, tile_overlap_px=0, precision="full")
    half = run_network(model, packed, 2, tile_size_px=128, tile_overlap_px=0, precision="half")
    with torch.no_grad():
        plain = model(torch.from_numpy(packed)[None])[0].clamp(0, 1).permute(1, 2, 0).numpy()
    assert np.abs(full - plain).max() < 1e-5  # full: float32, whatever the memory layout
    assert 0 < np.abs(half - full).max() < 0.02


def test_bad_tiling_and_input_refused():
    for size, overlap in ((30, 4), (64, 32), (64, -1), (8192, 8)):
        with pytest.raises(ParameterError):
            validate_tiling(size, overlap)
    with pytest.raises(ShapeError):
        run_network(build_model("lts", "bayer", 2), np.zeros((4, 16, 16)), 2)


@pytest.mark.parametrize(
    "cuda,mps,expected",
    [(True, True, "cuda"), (False, True, "mps"), (False, False, "cpu"), (True, False, "cuda")],
)
def test_auto_device_prefers_cuda_then_mps_then_cpu(monkeypatch, cuda, mps, expected):
    from darkdev.inference import select_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    assert select_device("auto").type == expected
    assert select_device("cpu").type == "cpu"
    for name, present in (("cuda", cuda), ("mps", mps)):
        if present:
            assert select_device(name).type == name
        else:
            with pytest.raises(ParameterError, match=f"--device {name} asked for"):
                select_device(name)
    with pytest.raises(ParameterError, match="auto, cpu, cuda, mps"):
        select_device("tpu")
