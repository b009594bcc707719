import io
import os

import numpy as np
import pytest
import tifffile

from darkdev import files, render
from darkdev.errors import OutputError, ParameterError, ShapeError
from darkdev.raw import CameraInfo
from tests.images import decode_image


def gradient(height=20, width=30):
    rows, cols = np.mgrid[0:height, 0:width]
    return np.stack([rows / height, cols / width, (rows + cols) / (height + width)], -1).astype(
        np.float32
    )


@pytest.mark.parametrize("image_format,bits", [("png", 8), ("png16", 16)])
def test_png_round_trip(image_format, bits):
    image = gradient()
    decoded = decode_image(render.encode(image, image_format))
    assert decoded.dtype == (np.uint8 if bits == 8 else np.uint16)
    assert np.array_equal(decoded, render.quantise(image, bits))


def test_jpeg_with_exif_and_quality():
    image = gradient(64, 64)
    camera = CameraInfo(make="Sony", model="ILCE-7SM2", exposure_time_s=0.1, iso=3200)
    payload = render.encode(image, "jpg", quality=95, camera=camera)
    assert payload[:2] == b"\xff\xd8" and b"ILCE-7SM2" in payload
    assert np.abs(decode_image(payload) / 255.0 - image).mean() < 0.02
    with pytest.raises(ParameterError):
        render.encode(image, "jpg", quality=0)


def test_orientation_flags():
    image = np.arange(6, dtype=np.float32).reshape(2, 3, 1)
    assert render.orient(image, 0).shape == (2, 3, 1)
    assert render.orient(image, 5).shape == (3, 2, 1)
    assert (
        render.orient(image, 6)[0, 0, 0] == image[1, 0, 0]
    )  # clockwise: bottom-left goes top-left
    assert render.orient(image, 3)[0, 0, 0] == 5


def test_format_by_extension_and_request():
    assert render.format_for("a.JPG", None) == "jpg"
    assert render.format_for("a.png", "png16") == "png16"
    with pytest.raises(ParameterError):
        render.format_for("a.webp", None)


def test_atomic_write_leaves_nothing_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "out.png"
    files.write_atomic(target, b"complete")
    assert target.read_bytes() == b"complete"

    def broken_replace(source, destination):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OutputError, match="No space left"):
        files.write_atomic(target, b"new and partial")
    assert target.read_bytes() == b"complete"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]


def test_unwritable_output_folder(tmp_path):
    with pytest.raises(OutputError, match="does not exist"):
        files.write_atomic(tmp_path / "missing" / "a.png", b"x")


def test_quantise_checks_input():
    with pytest.raises(ShapeError):
        render.quantise(np.zeros((4, 4)), 8)
    assert render.quantise(np.full((1, 1, 3), 2.0, np.float32), 8).max() == 255


def _icc_description(profile: bytes) -> str:
    from PIL import ImageCms

    return ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(profile)))


def test_tiff16_round_trip_with_srgb_profile_and_exif():
    image = gradient(24, 36)
    camera = CameraInfo(
        make="Fujifilm",
        model="X-T2",
        exposure_time_s=0.5,
        iso=12800,
        datetime_original="2026:01:02 03:04:05",
    )
    payload = render.encode(image, "tiff16", camera=camera)
    with tifffile.TiffFile(io.BytesIO(payload)) as tiff:
        page = tiff.pages.first
        assert np.array_equal(page.asarray(), render.quantise(image, 16))
        assert page.photometric == tifffile.PHOTOMETRIC.RGB and page.dtype == np.uint16
        tags = {tag.code: tag.value for tag in page.tags.values()}
    assert "sRGB" in _icc_description(bytes(tags[34675]))
    assert (tags[271], tags[272], tags[34855]) == ("Fujifilm", "X-T2", 12800)
    assert tags[33434] == (1, 2) and tags[36867] == "2026:01:02 03:04:05"


def test_png_and_jpeg_say_srgb():
    image = gradient()
    for image_format in ("png", "png16"):
        payload = render.encode(image, image_format)
        chunk = payload.index(b"sRGB")
        assert chunk < payload.index(b"IDAT") and payload[chunk + 4] == 0  # perceptual intent
    from PIL import Image

    with Image.open(io.BytesIO(render.encode(image, "jpg"))) as jpeg:
        assert "sRGB" in _icc_description(jpeg.info["icc_profile"])


@pytest.mark.parametrize(
    "name,expected",
    [("a.tif", "tiff16"), ("a.TIFF", "tiff16"), ("a.jpeg", "jpg"), ("a.png", "png")],
)
def test_format_follows_extension(name, expected):
    assert render.format_for(name, None) == expected
    with pytest.raises(ParameterError, match="tiff16"):
        render.format_for(name, "webp")
