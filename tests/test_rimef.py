import numpy as np
import pytest

from darkdev import rimef
from darkdev.errors import ParameterError


def packed(seed=0):
    return np.random.default_rng(seed).random((4, 32, 40)).astype(np.float32) * 0.02


def test_lambda_zero_is_linear_amplification():
    x = packed()
    out = rimef.amplify(x, rimef.RimefParams(ratio=100))
    assert np.allclose(out, np.minimum(x * 100, 1))


def test_gain_never_below_lower_bound_and_decreasing_in_brightness():
    params = rimef.RimefParams(ratio=300, lam=1.0, alpha=0.7, lower_bound=2.0)
    illumination = np.linspace(0, 1, 1000)
    gain, value = rimef.output_curve(illumination, params)
    assert gain.min() >= 2.0
    assert np.all(np.diff(gain) <= 1e-12)
    assert np.all(np.diff(value) >= -1e-12)  # brighter raw never becomes darker output


def test_alpha_lambda_one_never_clips():
    x = np.random.default_rng(1).random((4, 16, 16)).astype(np.float32)
    params = rimef.RimefParams(ratio=250, lam=1.0, alpha=1.0)
    gain = rimef.gain_map(x, params)
    amplified_illumination = x.max(axis=0) * gain
    assert amplified_illumination.max() < 1.0


def test_dark_pixels_get_nearly_full_ratio():
    x = np.full((4, 8, 8), 1e-5, dtype=np.float32)
    gain = rimef.gain_map(x, rimef.RimefParams(ratio=200, lam=1.0, alpha=1.0))
    assert np.allclose(gain, 200 / (1 + 200 * 1e-5))


def test_smoothing_keeps_size_and_mean():
    x = packed(2)
    smooth = rimef.illumination_map(x, smooth_radius_px=3)
    assert smooth.shape == x.shape[1:]
    assert abs(smooth.mean() - x.max(axis=0).mean()) < 1e-3


def test_hdr_switch_selects_defaults_and_overrides():
    assert rimef.hdr_params(100).lam == 0
    assert rimef.hdr_params(100, hdr=True).lam == rimef.HDR_LAMBDA
    assert rimef.hdr_params(100, lam=0.3, hdr=True).lam == 0.3


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"ratio": -3}, "ratio"),
        ({"ratio": float("nan")}, "ratio"),
        ({"ratio": float("inf")}, "ratio"),
        ({"ratio": 10, "lam": -1}, "lambda"),
        ({"ratio": 10, "alpha": 0}, "alpha"),
        ({"ratio": 10, "alpha": 1.5}, "alpha"),
        ({"ratio": 10, "lower_bound": 0.5}, "lower bound"),
    ],
)
def test_invalid_parameters_named(kwargs, message):
    with pytest.raises(ParameterError, match=message):
        rimef.RimefParams(**kwargs)
