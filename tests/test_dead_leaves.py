"""Dead-leaves images: shapes, determinism, the r^-3 radius law, coverage, antialiasing, errors."""

import numpy as np
import pytest

from darkdev.errors import ParameterError
from darkdev.training.dead_leaves import dead_leaves_image, leaf_radii, photo_palette

PALETTE = np.array([[10, 20, 30], [200, 180, 40], [90, 90, 250], [255, 255, 255]], np.uint8)


def test_radii_follow_the_inverse_cube_law():
    radii = leaf_radii(np.random.default_rng(0), 200_000, 1.0, 100.0)
    assert radii.min() >= 1.0 and radii.max() <= 100.0
    # CDF (1 - r^-2) / (1 - 100^-2): the median is at r = sqrt(2 / (1 + 1e-4)), quartile 3 at 2.
    assert np.median(radii) == pytest.approx(np.sqrt(2 / (1 + 1e-4)), rel=0.01)
    assert np.quantile(radii, 0.75) == pytest.approx(2 / np.sqrt(1 + 3e-4), rel=0.01)


def test_image_is_covered_by_palette_colours_and_deterministic():
    image = dead_leaves_image(np.random.default_rng(3), 64, PALETTE, supersample=1)
    assert image.shape == (64, 64, 3) and image.dtype == np.uint8
    colours = {tuple(c) for c in image.reshape(-1, 3)}
    assert colours <= {tuple(c) for c in PALETTE}  # every pixel is one leaf's colour
    assert len(colours) == len(PALETTE)  # 64 px of small leaves use every colour
    again = dead_leaves_image(np.random.default_rng(3), 64, PALETTE, supersample=1)
    assert np.array_equal(image, again)
    other = dead_leaves_image(np.random.default_rng(4), 64, PALETTE, supersample=1)
    assert not np.array_equal(image, other)


def test_supersampling_antialiases_edges_in_linear_light():
    from darkdev.training.unprocessing import libraw_gamma

    palette = np.array([[0, 0, 0], [255, 255, 255]], np.uint8)
    image = dead_leaves_image(np.random.default_rng(1), 64, palette, radius_min_px=4.0)
    # Each pixel is 2x2 canvas pixels averaged in linear light: k of 4 white -> gamma(k / 4).
    allowed = {int(np.round(libraw_gamma(np.float32(k / 4)) * 255)) for k in range(5)}
    values = set(np.unique(image).tolist())
    assert values <= allowed and {0, 255} < values  # edges fall between the two
    assert 180 in allowed  # half white encodes to 180 (LibRaw curve), not 128: linear mean


def test_palette_draws_photo_pixels():
    photo = np.zeros((4, 5, 3), np.uint8)
    photo[..., 0] = np.arange(5)
    colours = photo_palette([photo], np.random.default_rng(0), 50)
    assert colours.shape == (50, 3) and colours.dtype == np.uint8
    assert set(colours[:, 0]) <= set(range(5)) and not colours[:, 1:].any()


@pytest.mark.parametrize(
    "arguments,match",
    [
        (dict(side_px=4), "side_px"),
        (dict(palette=np.zeros((3, 4), np.uint8)), "palette"),
        (dict(palette=np.zeros((3, 3), np.float32)), "palette"),
        (dict(radius_min_px=5.0, radius_max_px=2.0), "radius"),
    ],
)
def test_bad_parameters_are_named(arguments, match):
    values = dict(side_px=32, palette=PALETTE)
    values.update(arguments)
    with pytest.raises(ParameterError, match=match):
        dead_leaves_image(np.random.default_rng(0), **values)
    with pytest.raises(ParameterError, match="no photographs"):
        photo_palette([], np.random.default_rng(0), 3)
