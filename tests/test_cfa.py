import io

import numpy as np
import pytest
import rawpy

from darkdev import cfa
from darkdev.dng import DngMetadata, dng_bytes
from darkdev.errors import ShapeError, UnsupportedSensorError
from tests.conftest import cfa_pattern, make_mosaic

BAYER_SHIFTS = [(r, c) for r in range(2) for c in range(2)]
XTRANS_SHIFTS = [(r, c) for r in range(6) for c in range(6)]


@pytest.mark.parametrize("shift", BAYER_SHIFTS)
def test_bayer_phase_detected(shift):
    colours = np.tile(cfa_pattern("bayer", *shift), (4, 4))
    layout = cfa.detect_layout(colours)
    assert layout.kind == "bayer"
    assert (layout.offset_rows, layout.offset_cols) == shift


@pytest.mark.parametrize("shift", XTRANS_SHIFTS)
def test_xtrans_phase_detected(shift):
    colours = np.tile(cfa_pattern("xtrans", *shift), (3, 3))
    layout = cfa.detect_layout(colours)
    assert layout.kind == "xtrans"
    # X-Trans repeats itself under a (3, 3) shift, so two offsets can be right: check the result.
    window = colours[
        layout.offset_rows : layout.offset_rows + 6, layout.offset_cols : layout.offset_cols + 6
    ]
    assert np.array_equal(window, cfa.XTRANS_CANONICAL)


def test_xtrans_canonical_sub_blocks_hold_2r_2b_5g():
    for block_row in range(2):
        for block_col in range(2):
            block = cfa.XTRANS_CANONICAL[
                3 * block_row : 3 * block_row + 3, 3 * block_col : 3 * block_col + 3
            ]
            assert [(block == colour).sum() for colour in range(3)] == [2, 5, 2]


def test_unknown_layout_refused():
    colours = np.tile(np.array([[0, 0], [1, 2]]), (6, 6))
    with pytest.raises(UnsupportedSensorError, match="unknown CFA layout"):
        cfa.detect_layout(colours)


@pytest.mark.parametrize(
    "kind,shift", [("bayer", s) for s in BAYER_SHIFTS] + [("xtrans", s) for s in XTRANS_SHIFTS[::5]]
)
def test_pack_matches_libraw_colour_map_and_round_trips(kind, shift):
    """Each packed channel holds exactly one colour according to LibRaw's own raw_colors map."""
    mosaic, pattern = make_mosaic(kind, 60, 84, shift)
    with rawpy.imread(io.BytesIO(dng_bytes(mosaic, pattern, DngMetadata()))) as raw:
        colour_map = raw.raw_colors_visible.copy()
        visible = raw.raw_image_visible.copy()
    layout = cfa.detect_layout(colour_map)
    packed_colours = cfa.pack(np.where(colour_map == 3, 1, colour_map), layout)
    expected = cfa.channel_colours(kind)
    for channel in range(layout.channels):
        assert np.all(packed_colours[channel] == expected[channel])
    packed = cfa.pack(visible, layout)
    assert packed.shape == (layout.channels, *cfa.packed_size(layout, *visible.shape))
    restored = cfa.unpack(packed, layout)
    region = visible[
        layout.offset_rows : layout.offset_rows + restored.shape[0],
        layout.offset_cols : layout.offset_cols + restored.shape[1],
    ]
    assert np.array_equal(restored, region)


def test_bayer_channel_order_is_r_g1_b_g2():
    mosaic = np.arange(16, dtype=np.uint16).reshape(4, 4)
    packed = cfa.pack(mosaic, cfa.CfaLayout("bayer", 0, 0))
    assert packed[:, 0, 0].tolist() == [0, 1, 5, 4]


def test_pack_rejects_bad_shapes():
    layout = cfa.CfaLayout("xtrans", 0, 0)
    with pytest.raises(ShapeError):
        cfa.pack(np.zeros((3, 4, 4)), layout)
    with pytest.raises(ShapeError):
        cfa.unpack(np.zeros((4, 4, 4)), layout)
    with pytest.raises(ShapeError, match="too small"):
        cfa.pack(np.zeros((5, 5)), layout)


def test_white_balance_multiplies_each_channel_by_its_colour_gain():
    import numpy as np
    import pytest

    from darkdev.cfa import white_balance
    from darkdev.errors import ShapeError

    packed = np.full((4, 2, 2), 0.25, np.float32)
    balanced = white_balance(packed, "bayer", (2.0, 1.0, 1.5))
    assert balanced[:, 0, 0].tolist() == [0.5, 0.25, 0.375, 0.25]  # R, G1, B, G2
    assert white_balance(np.ones((9, 2, 2), np.float32), "xtrans", (2, 1, 2)).max() == 1.0
    with pytest.raises(ShapeError):
        white_balance(packed, "xtrans", (2.0, 1.0, 1.5))
