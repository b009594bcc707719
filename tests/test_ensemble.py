"""Geometric self-ensemble: views round-trip, colours stay on their channels, pixels land home."""

import numpy as np
import pytest

from darkdev import cfa
from darkdev.ensemble import (
    CANONICAL,
    EDGE_WEIGHT,
    VIEWS,
    default_ensemble_size,
    ensemble_output,
    unview,
    view,
)
from darkdev.errors import ParameterError, ShapeError

KINDS = ("bayer", "xtrans")


def block_mean_network(kind):
    """A stand-in network: each packed pixel's mean over its colour's channels, spread over its
    block (nearest-neighbour 'demosaic')."""
    colours = cfa.channel_colours(kind)
    block = cfa.BLOCK_SIZE[kind]

    def run(packed):
        means = np.stack([packed[colours == c].mean(axis=0) for c in range(3)], axis=-1)
        return np.repeat(np.repeat(means, block, 0), block, 1).astype(np.float32)

    return run


def packed_scene(kind, values, rows=24, cols=36):
    """Pack an (rows, cols, 3) scene sampled through the canonical CFA."""
    canonical = cfa.BAYER_CANONICAL if kind == "bayer" else cfa.XTRANS_CANONICAL
    period = cfa.PERIOD[kind]
    colour_index = np.tile(canonical, (rows // period, cols // period))
    mosaic = np.take_along_axis(values, colour_index[..., None], axis=-1)[..., 0]
    return cfa.pack(mosaic.astype(np.float32), cfa.CfaLayout(kind, 0, 0))


@pytest.mark.parametrize("name", VIEWS)
def test_every_view_round_trips_and_all_eight_differ(name):
    image = np.arange(5 * 7 * 3).reshape(5, 7, 3)
    assert np.array_equal(unview(name, view(name, image)), image)
    seen = {view(n, image).tobytes() + bytes(view(n, image).shape) for n in VIEWS}
    assert len(seen) == len(VIEWS)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("size", (2, 4, 8))
def test_a_flat_colour_comes_back_exactly(kind, size):
    """A channel mis-assigned by any view (R for B, say) would tint the flat field."""
    flat = np.broadcast_to(np.array([0.2, 0.5, 0.8], np.float32), (24, 36, 3))
    output = ensemble_output(packed_scene(kind, flat), kind, size, block_mean_network(kind))
    assert output.shape == (24, 36, 3) and output.dtype == np.float32
    np.testing.assert_allclose(output, flat, atol=1e-6)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("size", (1, 2, 4, 8))
def test_each_view_lands_back_on_its_own_pixels(kind, size):
    """On a ramp, a block-mean network is off by at most a block (a colour's sites sit anywhere
    in it); a view mapped back to the wrong place (not un-flipped, say) would be off by up to
    the whole ramp (0.93)."""
    rows, cols = np.mgrid[0:24, 0:36].astype(np.float32)
    ramp = np.repeat((rows + 2 * cols)[..., None] / 100.0, 3, axis=-1)
    output = ensemble_output(packed_scene(kind, ramp), kind, size, block_mean_network(kind))
    one_block = (cfa.BLOCK_SIZE[kind] - 1) * 3 / 100.0
    edge = cfa.PERIOD[kind]  # edge replication outside a view's whole periods
    error = np.abs(output - ramp)[edge:-edge, edge:-edge]
    assert error.max() <= one_block + 1e-5


def padded_reference(packed, kind, size, run):
    """The plain way: each view's output padded to the frame (cfa.place_output), weighted by a
    frame-sized coverage map, summed and divided."""
    mosaic = cfa.unpack(packed, cfa.CfaLayout(kind, 0, 0))
    colours = np.tile(CANONICAL[kind], (mosaic.shape[0] // cfa.PERIOD[kind], 1))
    colours = np.tile(colours, (1, mosaic.shape[1] // cfa.PERIOD[kind]))
    total, weight = np.zeros((*mosaic.shape, 3), np.float32), np.zeros(mosaic.shape, np.float32)
    for name in VIEWS[:size]:
        viewed = np.ascontiguousarray(view(name, mosaic))
        layout = cfa.detect_layout(np.ascontiguousarray(view(name, colours)))
        output = run(cfa.pack(viewed, layout))
        covered = np.full(viewed.shape, EDGE_WEIGHT, np.float32)
        top, left = layout.offset_rows, layout.offset_cols
        covered[top : top + output.shape[0], left : left + output.shape[1]] = 1.0
        total += unview(name, cfa.place_output(output, layout, *viewed.shape) * covered[..., None])
        weight += unview(name, covered)
    return total / weight[..., None]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("size", (2, 4, 8))
def test_in_place_sums_equal_the_padded_reference_to_the_bit(kind, size):
    """The edge strips written in place must equal padding every view to the frame."""
    rng = np.random.default_rng(size)
    packed = rng.random((cfa.CHANNELS[kind], 10, 14), dtype=np.float32)
    block = cfa.BLOCK_SIZE[kind]

    def run(viewed):  # position-dependent, so a misplaced edge strip shows
        first = np.repeat(np.repeat(viewed[0], block, 0), block, 1)
        return np.stack([first, 2 * first, first**2], axis=-1).astype(np.float32)

    expected = padded_reference(packed, kind, size, run)
    assert np.array_equal(ensemble_output(packed, kind, size, run), expected)


def test_opposite_views_cancel_a_bayer_block_offset_exactly():
    """Identity and its 180-degree turn group pixels into blocks one pixel apart: on a ramp
    their block-centre errors are equal and opposite, so their mean is exact inside."""
    rows, cols = np.mgrid[0:24, 0:36].astype(np.float32)
    ramp = np.repeat((rows + 2 * cols)[..., None] / 100.0, 3, axis=-1)
    run = block_mean_network("bayer")
    alone = ensemble_output(packed_scene("bayer", ramp), "bayer", 1, run)
    paired = ensemble_output(packed_scene("bayer", ramp), "bayer", 2, run)
    assert np.abs(alone - ramp)[1:-1, 1:-1].max() > 0.01
    np.testing.assert_allclose(paired[1:-1, 1:-1], ramp[1:-1, 1:-1], atol=1e-5)


def test_bad_sizes_and_shapes_are_named():
    packed = np.zeros((4, 8, 8), np.float32)
    with pytest.raises(ParameterError, match="--ensemble must be one of 1, 2, 4, 8, got 3"):
        ensemble_output(packed, "bayer", 3, block_mean_network("bayer"))
    with pytest.raises(ShapeError, match=r"\(9, h, w\)"):
        ensemble_output(packed, "xtrans", 2, block_mean_network("xtrans"))
    cropped = lambda viewed: block_mean_network("bayer")(viewed)[1:]  # noqa: E731
    with pytest.raises(ShapeError, match=r"view identity must be \(16, 16, 3\), got \(15, 16, 3\)"):
        ensemble_output(packed, "bayer", 2, cropped)


def test_default_size_by_device_and_native_half_precision():
    assert default_ensemble_size("cuda", runs_native_half=True) == 8
    assert default_ensemble_size("cuda", runs_native_half=False) == 8
    assert default_ensemble_size("cpu", runs_native_half=True) == 2
    assert default_ensemble_size("cpu", runs_native_half=False) == 1
    assert default_ensemble_size("mps", runs_native_half=False) == 1
