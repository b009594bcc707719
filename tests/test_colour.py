import numpy as np
import pytest

from darkdev.colour import guided_colour
from darkdev.errors import ShapeError


def test_luminance_from_network_chroma_from_guide():
    grey = np.full((40, 60, 3), 0.3, np.float32)
    guide = np.zeros((20, 30, 3), np.float32)
    guide[...] = (0.4, 0.2, 0.1)  # a warm colour at half size, any brightness
    out = guided_colour(grey, guide)
    assert out.shape == (40, 60, 3) and out.dtype == np.float32
    assert np.allclose(out.mean(axis=-1), 0.3, atol=1e-5)
    assert np.allclose(
        out[10, 10] / out[10, 10].mean(), np.array([0.4, 0.2, 0.1]) / 0.7 * 3, atol=1e-4
    )


def test_noisy_guide_chroma_is_smoothed():
    rng = np.random.default_rng(0)
    grey = np.full((64, 64, 3), 0.5, np.float32)
    guide = np.clip(0.3 + rng.normal(0, 0.1, (64, 64, 3)), 0, 1).astype(np.float32)
    out = guided_colour(grey, guide)
    assert np.std(out - out.mean(-1, keepdims=True)) < 0.25 * np.std(
        guide - guide.mean(-1, keepdims=True)
    )


def test_black_guide_does_not_divide_by_zero():
    out = guided_colour(np.full((8, 8, 3), 0.2, np.float32), np.zeros((8, 8, 3), np.float32))
    assert np.isfinite(out).all()


def test_shapes_checked():
    with pytest.raises(ShapeError):
        guided_colour(np.zeros((8, 8)), np.zeros((8, 8, 3), np.float32))
    with pytest.raises(ShapeError):
        guided_colour(np.zeros((8, 8, 3), np.float32), np.zeros((8, 8), np.float32))
