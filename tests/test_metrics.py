"""darkdev.metrics equals scikit-image's PSNR and SSIM (data range 1) to 1e-4."""

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from darkdev.errors import ShapeError
from darkdev.metrics import psnr, ssim


def _pair(seed: int, shape=(48, 64, 3), noise=0.08, dtype=np.float64):
    rng = np.random.default_rng(seed)
    # Smooth-ish content plus noise, so SSIM is neither ~0 nor ~1.
    reference = np.clip(np.cumsum(rng.normal(0, 0.05, shape), axis=1) + 0.5, 0, 1)
    test = np.clip(reference + rng.normal(0, noise, shape), 0, 1)
    return reference.astype(dtype), test.astype(dtype)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_psnr_and_ssim_match_skimage(seed, dtype):
    reference, test = _pair(seed, dtype=dtype)
    expected_psnr = peak_signal_noise_ratio(reference, test, data_range=1)
    expected_ssim = structural_similarity(reference, test, channel_axis=-1, data_range=1)
    assert abs(psnr(reference, test) - expected_psnr) < 1e-4
    assert abs(ssim(reference, test) - expected_ssim) < 1e-4


def test_odd_sizes_and_strong_noise_match_skimage():
    reference, test = _pair(5, shape=(37, 23, 3), noise=0.3)
    assert (
        abs(
            ssim(reference, test)
            - structural_similarity(reference, test, channel_axis=-1, data_range=1)
        )
        < 1e-4
    )


def test_identical_images():
    reference, _ = _pair(3)
    assert psnr(reference, reference) == float("inf")
    assert ssim(reference, reference) == pytest.approx(1.0, abs=1e-9)


def test_shape_and_dtype_errors():
    reference, test = _pair(4)
    with pytest.raises(ShapeError):
        psnr(reference, test[:-1])
    with pytest.raises(ShapeError):
        ssim(reference[..., :2], test[..., :2])
    with pytest.raises(ShapeError):
        psnr((reference * 255).astype(np.uint8), (test * 255).astype(np.uint8))
    with pytest.raises(ShapeError):
        ssim(reference[:5, :5], test[:5, :5])


def test_chroma_is_zero_for_grey_and_grows_with_colour():
    import numpy as np

    from darkdev.metrics import chroma

    assert chroma(np.full((4, 4, 3), 0.3)) == 0.0
    red = np.zeros((4, 4, 3))
    red[..., 0] = 0.3
    assert abs(chroma(red) - (0.2 + 0.1 + 0.1) / 3) < 1e-12
