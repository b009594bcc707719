import numpy as np
import pytest

from darkdev.filters import box_smooth, resize_linear, window_means


@pytest.mark.parametrize("radius", [1, 2, 4])
def test_box_smooth_is_the_edge_replicated_window_mean(radius):
    image = np.random.default_rng(radius).random((9, 13)).astype(np.float32)
    padded = np.pad(image, radius, mode="edge")
    size = 2 * radius + 1
    expected = np.array(
        [[padded[r : r + size, c : c + size].mean() for c in range(13)] for r in range(9)]
    )
    smoothed = box_smooth(image, radius)
    assert smoothed.dtype == np.float32 and smoothed.shape == image.shape
    assert np.allclose(smoothed, expected, atol=1e-6)
    assert np.allclose(window_means(image, 3)[0, 0], image[:3, :3].mean())


def test_resize_linear_keeps_constants_and_ramps():
    ramp = np.tile(np.arange(8, dtype=np.float32)[None, :, None], (4, 1, 3))
    doubled = resize_linear(ramp, 8, 16)
    assert doubled.shape == (8, 16, 3)
    assert np.allclose(doubled[:, 1:-1, 0], (np.arange(1, 15) - 0.5) / 2)  # centres aligned
    assert np.allclose(resize_linear(np.full((5, 7, 3), 0.25, np.float32), 3, 2), 0.25)
