import numpy as np
import pytest
import tifffile

from darkdev.errors import RawDecodeError, ShapeError, UnsupportedSensorError
from darkdev.raw import decode, develop_with_libraw, read_raw
from darkdev.white_balance import choose_white_balance, grey_world_gains
from tests.conftest import BLACK_LEVEL, WHITE_LEVEL, make_mosaic, write_raw


@pytest.mark.parametrize("kind", ["bayer", "xtrans"])
def test_decode_normalises_with_file_levels(tmp_path, kind):
    path = write_raw(
        tmp_path / "a.dng", kind, 96, 120, shift=(1, 1), exposure_time_s=0.05, iso=6400
    )
    frame = read_raw(path)
    mosaic, _ = make_mosaic(kind, 96, 120, (1, 1))
    # Clipped at white; below black kept (read noise there is signal a network can average).
    expected = np.minimum(
        (mosaic.astype(np.float32) - BLACK_LEVEL) / (WHITE_LEVEL - BLACK_LEVEL), 1
    )
    assert np.allclose(frame.mosaic, expected, atol=1e-6) and frame.mosaic.min() < 0
    assert frame.layout.kind == kind
    assert (
        frame.black_level_per_channel[:3] == (BLACK_LEVEL,) * 3 and frame.white_level == WHITE_LEVEL
    )
    assert frame.camera.make == "Sony" and frame.camera.iso == 6400
    assert abs(frame.camera.exposure_time_s - 0.05) < 1e-9
    assert frame.camera_whitebalance[1] == 1.0


@pytest.mark.parametrize("kind", ["bayer", "xtrans"])
def test_white_balance_as_shot_else_grey_world(tmp_path, kind):
    shot = read_raw(write_raw(tmp_path / "shot.dng", kind))  # AsShotNeutral 0.5, 1, 0.6
    assert shot.white_balance_source == "as shot"
    assert np.allclose(shot.camera_whitebalance, (2.0, 1.0, 1 / 0.6), rtol=1e-4)
    bare = read_raw(write_raw(tmp_path / "bare.dng", kind, brightness=0.3, as_shot_neutral=None))
    assert bare.white_balance_source == "grey world"
    # Developed with those gains, as if they had been recorded as shot.
    neutral = tuple(1 / gain for gain in bare.camera_whitebalance)
    recorded = read_raw(
        write_raw(tmp_path / "rec.dng", kind, brightness=0.3, as_shot_neutral=neutral)
    )
    assert recorded.white_balance_source == "as shot"
    assert np.allclose(recorded.camera_whitebalance, bare.camera_whitebalance, rtol=1e-4)
    assert np.abs(develop_with_libraw(bare) - develop_with_libraw(recorded)).max() < 1e-3


def test_libraw_development_has_visible_size(tmp_path):
    frame = read_raw(write_raw(tmp_path / "a.dng", "bayer", 64, 80, brightness=0.3))
    image = develop_with_libraw(frame)
    assert image.shape == (64, 80, 3) and image.dtype == np.float32
    assert image.min() >= 0 and image.max() <= 1


def test_linear_dng_refused(tmp_path):
    path = tmp_path / "linear.dng"
    tifffile.imwrite(
        path,
        np.zeros((32, 32, 3), np.uint16),
        photometric=34892,
        extratags=[(50706, 1, 4, (1, 4, 0, 0)), (50708, "s", 0, "Test Linear")],
    )
    with pytest.raises((UnsupportedSensorError, RawDecodeError)):
        read_raw(path)


def test_monochrome_or_cfa_less_tiff_refused(tmp_path):
    path = tmp_path / "plain.tif"
    tifffile.imwrite(path, np.zeros((32, 32), np.uint16))
    with pytest.raises(RawDecodeError):
        read_raw(path)


@pytest.mark.parametrize("payload", [b"", b"\xff\xd8\xff\xe0" + b"0" * 100, bytes(range(256)) * 4])
def test_garbage_refused(payload):
    with pytest.raises(RawDecodeError):
        decode(payload, "x.ARW")


def test_directory_named_like_raw(tmp_path):
    (tmp_path / "IMG.ARW").mkdir()
    with pytest.raises(RawDecodeError, match="directory"):
        read_raw(tmp_path / "IMG.ARW")


def test_black_above_white_refused(tmp_path):
    path = write_raw(tmp_path / "a.dng", black_level=9000, white_level=4000)
    with pytest.raises(RawDecodeError, match="white level"):
        read_raw(path)


def test_grey_world_skips_clipped_blocks_and_gives_up_without_signal():
    colour_map = np.tile(np.array([[0, 1], [3, 2]], dtype=np.uint8), (8, 8))  # 16x16, RGGB
    mosaic = np.where(colour_map == 0, 0.2, np.where(colour_map == 2, 0.4, 0.1)).astype(np.float32)
    mosaic[:8, :8] = np.where(colour_map[:8, :8] == 0, 1.0, 0.1)  # one block with clipped red
    assert np.allclose(grey_world_gains(mosaic, colour_map, 0.99), (0.5, 1.0, 0.25))
    assert grey_world_gains(np.zeros((16, 16), np.float32), colour_map, 0.99) is None
    assert grey_world_gains(np.ones((16, 16), np.float32), colour_map, 0.99) is None
    gains, source = choose_white_balance([0, 1, 0], [2, 1, 1.5], np.zeros((16, 16)), colour_map, 1)
    assert source == "daylight" and gains == (2.0, 1.0, 1.5)
    with pytest.raises(ShapeError, match="must match"):
        grey_world_gains(mosaic, colour_map[:8], 0.99)
