import numpy as np
import pytest
import tifffile

from darkdev.errors import RawDecodeError, UnsupportedSensorError
from darkdev.raw import decode, develop_with_libraw, read_raw
from tests.conftest import BLACK_LEVEL, WHITE_LEVEL, make_mosaic, write_raw


@pytest.mark.parametrize("kind", ["bayer", "xtrans"])
def test_decode_normalises_with_file_levels(tmp_path, kind):
    path = write_raw(
        tmp_path / "a.dng", kind, 96, 120, shift=(1, 1), exposure_time_s=0.05, iso=6400
    )
    frame = read_raw(path)
    mosaic, _ = make_mosaic(kind, 96, 120, (1, 1))
    expected = np.clip(
        (mosaic.astype(np.float32) - BLACK_LEVEL) / (WHITE_LEVEL - BLACK_LEVEL), 0, 1
    )
    assert np.allclose(frame.mosaic, expected, atol=1e-6)
    assert frame.layout.kind == kind
    assert (
        frame.black_level_per_channel[:3] == (BLACK_LEVEL,) * 3 and frame.white_level == WHITE_LEVEL
    )
    assert frame.camera.make == "Sony" and frame.camera.iso == 6400
    assert abs(frame.camera.exposure_time_s - 0.05) < 1e-9
    assert frame.camera_whitebalance[1] == 1.0


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
