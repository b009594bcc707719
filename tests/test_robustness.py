"""Never lose a photo: malformed inputs, untouched inputs, atomic outputs, interrupts, fuzzing."""

import io
import json
import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from darkdev.dng import DngMetadata
from darkdev.errors import DarkdevError, RawDecodeError
from darkdev.raw import decode, read_raw
from tests.conftest import file_hash, make_mosaic, write_raw
from tests.dng_layouts import layout_dng_bytes
from tests.images import decode_image
from tests.test_cli import darkdev
from tests.test_dng_layouts import TABLE

RAW_EXTENSIONS = [".ARW", ".RAF", ".DNG", ".CR2", ".NEF", ".ORF", ".arw", ".raf"]


def _patch_tag(data: bytes, tag_name: str, value: int) -> bytes:
    """Overwrite a SHORT/LONG tag's value in place (for absurd headers)."""
    with tifffile.TiffFile(io.BytesIO(data)) as tiff:
        tag = tiff.pages[0].tags[tag_name]
        offset, dtype = tag.valueoffset, tag.dtype
    patched = bytearray(data)
    packed = struct.pack("<H", value) if dtype == 3 else struct.pack("<I", value)
    patched[offset : offset + len(packed)] = packed
    return bytes(patched)


def build_corpus(folder: Path, scratch: Path) -> list[Path]:
    """At least 100 malformed inputs, each a separate file (or folder) in `folder`."""
    rng = np.random.default_rng(7)
    cases: list[Path] = []

    def add(name: str, payload: bytes) -> None:
        path = folder / name
        path.write_bytes(payload)
        cases.append(path)

    bayer = write_raw(scratch / "bayer.dng", "bayer", 64, 64).read_bytes()
    xtrans = write_raw(scratch / "xtrans.dng", "xtrans", 60, 60).read_bytes()
    for extension in (".ARW", ".RAF", ".DNG", ".nef"):
        add(f"empty{extension}", b"")
    for index, cut in enumerate(np.linspace(8, len(bayer) - 64, 30).astype(int)):
        add(f"truncated_{index:02d}.ARW", bayer[:cut])
    for index, cut in enumerate(np.linspace(8, len(xtrans) - 64, 30).astype(int)):
        add(f"truncated_{index:02d}.RAF", xtrans[:cut])
    for index, cut in enumerate(np.linspace(0, len(bayer) // 2, 10).astype(int)):
        add(f"truncated_{index:02d}.DNG", bayer[:cut])
    # Real DNGs are tiled and compressed (CinemaDNG: lossless JPEG tiles, linearisation table).
    meta = DngMetadata(black_level=512, white_level=65535)
    for name, kind, size, options in (
        ("tiled_ljpeg", "bayer", 64, {"compressed": True, "linearization_table": TABLE}),
        ("tiled", "xtrans", 60, {}),
    ):
        mosaic, pattern = make_mosaic(kind, size, size)
        tiled = layout_dng_bytes(mosaic // 4, pattern, meta, tile=32, **options)
        for index, cut in enumerate(np.linspace(8, len(tiled) - 1, 12).astype(int)):
            add(f"{name}_{index:02d}.DNG", tiled[:cut])
    for index in range(20):
        size = int(rng.integers(1, 20000))
        add(
            f"random_{index:02d}{RAW_EXTENSIONS[index % len(RAW_EXTENSIONS)]}",
            rng.integers(0, 256, size, dtype=np.uint8).tobytes(),
        )
    from darkdev.render import encode

    picture = np.random.default_rng(1).random((40, 40, 3)).astype(np.float32)
    add("photo_jpeg.ARW", encode(picture, "jpg"))
    add("photo_jpeg.RAF", encode(picture, "jpg"))
    add("photo_png.ARW", encode(picture, "png"))
    for name in ("plain_tiff.DNG", "plain_tiff.ARW"):
        buffer = io.BytesIO()
        tifffile.imwrite(buffer, np.zeros((64, 64), np.uint16))
        add(name, buffer.getvalue())
    add("huge_width.DNG", _patch_tag(bayer, "ImageWidth", 60000))
    add("huge_height.ARW", _patch_tag(bayer, "ImageLength", 65000))
    add("zero_width.DNG", _patch_tag(bayer, "ImageWidth", 0))
    add(
        "black_equals_white.DNG",
        write_raw(scratch / "bw.dng", black_level=4000, white_level=4000).read_bytes(),
    )
    add(
        "black_above_white.ARW",
        write_raw(scratch / "ba.dng", black_level=9000, white_level=4000).read_bytes(),
    )
    directory = folder / "a_folder.ARW"
    directory.mkdir()
    cases.append(directory)
    cases += special_files(folder)
    return cases


def special_files(folder: Path) -> list[Path]:
    """Inputs that are not regular files: each must be refused at once, never read or waited on."""
    os.mkfifo(folder / "fifo_no_writer.ARW")  # opening it for reading would block forever
    (folder / "loop_a.ARW").symlink_to(folder / "loop_b.ARW")
    (folder / "loop_b.ARW").symlink_to(folder / "loop_a.ARW")
    (folder / "endless_device.ARW").symlink_to("/dev/zero")  # reads without end
    (folder / "dangling.DNG").symlink_to(folder / "nowhere.DNG")
    names = ["fifo_no_writer.ARW", "loop_a.ARW", "loop_b.ARW", "endless_device.ARW", "dangling.DNG"]
    return [folder / name for name in names]


def test_corpus_each_file_refused_clearly(tmp_path):
    folder, scratch = tmp_path / "bad", tmp_path / "scratch"
    folder.mkdir()
    scratch.mkdir()
    cases = build_corpus(folder, scratch)
    assert len(cases) >= 100
    for path in cases:
        with pytest.raises(DarkdevError) as caught:
            read_raw(path)
        assert str(path) in str(caught.value), caught.value
        assert "\n" not in str(caught.value)


def test_corpus_batch_goes_on_and_touches_nothing(tmp_path, tiny_weights):
    folder, scratch = tmp_path / "shoot", tmp_path / "scratch"
    folder.mkdir()
    scratch.mkdir()
    cases = build_corpus(folder, scratch)
    write_raw(folder / "good_1.ARW", seed=3)
    write_raw(folder / "good_2.RAF", "xtrans", 66, 66, seed=4)
    hashes = {p: file_hash(p) for p in folder.iterdir() if p.is_file()}
    result = darkdev(
        "develop",
        folder,
        "a_folder.ARW",
        "-o",
        tmp_path / "out",
        "--ratio",
        "20",
        "--json",
        cwd=folder,
    )
    assert result.returncode == 1
    stderr = result.stderr.decode()
    assert "Traceback" not in stderr
    records = [json.loads(line) for line in result.stdout.decode().splitlines()]
    done = sorted(Path(r["input"]).name for r in records if r["status"] == "done")
    assert done == ["good_1.ARW", "good_2.RAF"]
    failed = [r for r in records if r["status"] == "failed"]
    assert len(failed) == len(cases)
    error_lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == len(cases)
    for case in cases:
        assert sum(case.name in line for line in error_lines) == 1, case.name
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == ["good_1.png", "good_2.png"]
    assert hashes == {p: file_hash(p) for p in folder.iterdir() if p.is_file()}


def test_debug_shows_traceback_for_internal_errors_only(tmp_path, tiny_weights):
    bad = tmp_path / "bad.ARW"
    bad.write_bytes(b"nonsense")
    result = darkdev("develop", bad, "-o", tmp_path / "x.png", "--ratio", "5", "--debug")
    assert result.returncode == 1 and b"bad.ARW" in result.stderr


def test_unreadable_file_reported(tmp_path, monkeypatch):
    path = write_raw(tmp_path / "a.ARW")

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "open", denied)  # chmod cannot lock root out; CI runs as root
    with pytest.raises(RawDecodeError, match="permission denied"):
        read_raw(path)


@pytest.mark.parametrize("signal_number", [signal.SIGTERM, signal.SIGHUP])
def test_interrupt_mid_batch_leaves_only_complete_images(tmp_path, tiny_weights, signal_number):
    """SIGTERM and SIGHUP (a closed terminal) both end with a summary and no .part file."""
    folder = tmp_path / "in"
    folder.mkdir()
    for index in range(8):
        write_raw(folder / f"f{index}.dng", seed=index, height=240, width=320)
    output = tmp_path / "out"
    executable = Path(sys.executable).parent / "darkdev"
    process = subprocess.Popen(
        [
            str(executable),
            "develop",
            str(folder),
            "-o",
            str(output),
            "--ratio",
            "9",
            "--tile-size",
            "32",
            "--tile-overlap",
            "8",
            "--threads",
            "1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.time() + 120
    while time.time() < deadline and not (output.exists() and any(output.glob("*.png"))):
        time.sleep(0.05)
    process.send_signal(signal_number)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr.decode()
    assert b"interrupted" in stderr
    leftovers = [p.name for p in output.iterdir() if not p.name.endswith(".png")]
    assert leftovers == []
    images = list(output.glob("*.png"))
    assert 1 <= len(images) < 8
    for image in images:
        assert decode_image(image.read_bytes()).shape == (240, 320, 3)


def test_disk_full_during_write_leaves_nothing(tmp_path, monkeypatch):
    from darkdev import files
    from darkdev.errors import OutputError

    def full(descriptor):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OutputError, match="No space left"):
        files.write_atomic(tmp_path / "a.png", b"payload")
    assert list(tmp_path.iterdir()) == []


VALID_BAYER = None


def _valid_dng() -> bytes:
    global VALID_BAYER
    if VALID_BAYER is None:
        from darkdev.dng import DngMetadata, dng_bytes
        from tests.conftest import make_mosaic

        mosaic, pattern = make_mosaic("bayer", 48, 48)
        VALID_BAYER = dng_bytes(mosaic, pattern, DngMetadata())
    return VALID_BAYER


@settings(
    max_examples=int(os.environ.get("DARKDEV_FUZZ_EXAMPLES", 1000)),
    deadline=None,
    derandomize=not os.environ.get("DARKDEV_FUZZ_RANDOM"),
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.lists(st.tuples(st.integers(0, 599), st.integers(0, 255)), min_size=1, max_size=12))
def test_fuzz_header_mangled_raws(mutations):
    """Mangled headers either decode to a sane frame or fail with a DarkdevError, nothing else."""
    data = bytearray(_valid_dng())
    for position, value in mutations:
        data[position] = value
    try:
        frame = decode(bytes(data), "fuzz.DNG")
    except DarkdevError:
        return
    assert np.isfinite(frame.mosaic).all() and frame.mosaic.max() <= 1  # below black is kept
