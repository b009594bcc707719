"""Real DNGs come tiled, compressed and linearised: each layout decodes; plain TIFFs do not."""

import io

import numpy as np
import pytest
import tifffile

from darkdev.dng import DngMetadata
from darkdev.errors import RawDecodeError
from darkdev.raw import decode
from tests.conftest import BLACK_LEVEL, WHITE_LEVEL, make_mosaic
from tests.dng_layouts import layout_dng_bytes
from tests.test_cli import darkdev

# A 12-bit stored value -> 16-bit linear value curve, as CinemaDNG recorders write.
TABLE = np.round(np.linspace(0, 1, 4096) ** 2.2 * 65535).astype(np.uint16)
LAYOUTS = {
    "strips": {},
    "tiles": {"tile": 32},
    "tiles-ljpeg": {"tile": 32, "compressed": True},
    "big-endian-tiles": {"tile": 16, "byteorder": ">"},
    "no-make-tag": {"without_tags": (271, 272)},  # exifread then sees no camera raw tag at all
}


def _expected(stored: np.ndarray, table: np.ndarray | None, black: int, white: int) -> np.ndarray:
    linear = (table[stored] if table is not None else stored).astype(np.float32)
    return np.minimum((linear - black) / (white - black), 1)  # below black is kept


@pytest.mark.parametrize("kind", ["bayer", "xtrans"])
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_dng_layouts_decode_exactly(kind, layout):
    mosaic, pattern = make_mosaic(kind, 72, 96, shift=(1, 0), brightness=0.3)
    meta = DngMetadata(black_level=BLACK_LEVEL, white_level=WHITE_LEVEL)
    frame = decode(layout_dng_bytes(mosaic, pattern, meta, **LAYOUTS[layout]), layout)
    assert frame.layout.kind == kind
    expected = _expected(mosaic, None, BLACK_LEVEL, WHITE_LEVEL)
    assert np.allclose(frame.mosaic, expected, atol=1e-6)


@pytest.mark.parametrize("kind", ["bayer", "xtrans"])
def test_tiled_compressed_dng_with_linearisation_table(kind):
    mosaic, pattern = make_mosaic(kind, 72, 96, brightness=0.3)
    stored = (mosaic.astype(np.int64) * 4095 // WHITE_LEVEL).astype(np.uint16)
    meta = DngMetadata(make="Blackmagic Design", black_level=512, white_level=65535)
    data = layout_dng_bytes(
        stored, pattern, meta, tile=32, compressed=True, linearization_table=TABLE
    )
    frame = decode(data, "cinema.dng")
    assert (frame.black_level_per_channel[0], frame.white_level) == (512, 65535)
    assert np.allclose(frame.mosaic, _expected(stored, TABLE, 512, 65535), atol=1e-6)
    assert frame.camera.make == "Blackmagic Design"


def test_tiled_compressed_linearised_dng_develops(tmp_path, tiny_weights):
    mosaic, pattern = make_mosaic("bayer", 96, 128, brightness=0.05)
    stored = (mosaic.astype(np.int64) * 4095 // WHITE_LEVEL).astype(np.uint16)
    meta = DngMetadata(make="Blackmagic Design", black_level=512, white_level=65535)
    raw = tmp_path / "A001_C001.dng"
    raw.write_bytes(
        layout_dng_bytes(stored, pattern, meta, tile=32, compressed=True, linearization_table=TABLE)
    )
    result = darkdev("develop", raw, "-o", tmp_path / "out.png", "--ratio", "20", "--device", "cpu")
    assert result.returncode == 0, result.stderr.decode()
    assert b"lts" in result.stderr and (tmp_path / "out.png").stat().st_size > 0


def _tiff(image: np.ndarray, **options) -> bytes:
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, image, **options)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "name,data",
    [
        ("plain.dng", _tiff(np.zeros((64, 64), np.uint16))),
        ("tiled.dng", _tiff(np.zeros((64, 64), np.uint16), tile=(32, 32))),
        ("big-endian.ARW", _tiff(np.ones((64, 64), np.uint16), byteorder=">")),
        ("rgb.dng", _tiff(np.zeros((64, 64, 3), np.uint16), photometric="rgb")),
    ],
)
def test_plain_tiff_refused(name, data):
    with pytest.raises(RawDecodeError, match=rf"^{name}: .*plain TIFF"):
        decode(data, name)


@pytest.mark.parametrize("name", ["export.tif", "export.TIFF", "renamed.dng"])
@pytest.mark.parametrize(
    "make,model", [("Canon", "Canon EOS 5D Mark IV"), ("NIKON CORPORATION", "NIKON D850")]
)
def test_greyscale_tiff_naming_a_camera_refused(name, make, model):
    # An editor's 16-bit greyscale export keeps the camera's Make/Model in IFD0; LibRaw alone
    # would read it as a Bayer raw of that camera.
    pixels = np.random.default_rng(0).integers(0, 65535, (400, 600), dtype=np.uint16)
    tags = [(271, 2, None, make, True), (272, 2, None, model, True)]
    data = _tiff(pixels, photometric="minisblack", extratags=tags)
    with pytest.raises(RawDecodeError, match=rf"^{name}: a plain TIFF image"):
        decode(data, name)


def test_darkdevs_own_tiff16_output_is_refused_as_plain_tiff():
    from darkdev.raw import CameraInfo
    from darkdev.render import encode

    image = np.random.default_rng(1).random((64, 96, 3)).astype(np.float32)
    data = encode(image, "tiff16", camera=CameraInfo(make="Canon", model="Canon EOS Kiss X4"))
    with pytest.raises(RawDecodeError, match=r"^out\.tif: a plain TIFF image"):
        decode(data, "out.tif")
