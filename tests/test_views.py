"""info, compare, rimef-plot, EXIF and orientation of outputs."""

import json

import numpy as np
from PIL import Image

from tests.conftest import write_raw
from tests.images import decode_image
from tests.test_cli import darkdev


def test_info_json_and_text(tmp_path):
    raw = write_raw(
        tmp_path / "a.RAF", "xtrans", 96, 96, shift=(2, 3), exposure_time_s=0.25, iso=12800
    )
    result = darkdev("info", raw, "--json")
    assert result.returncode == 0, result.stderr.decode()
    facts = json.loads(result.stdout)
    assert facts["cfa_kind"] == "xtrans" and len(facts["cfa_pattern"]) == 6
    assert facts["iso"] == 12800 and facts["exposure_time_s"] == 0.25
    assert facts["visible_size"] == [96, 96] and facts["white_level"] == 16383
    assert 1 <= facts["estimated_ratio"] <= 300
    assert abs(sum(bin_["share"] for bin_ in facts["histogram"]) - 1) < 1e-6
    assert facts["white_balance_source"] == "as shot"
    assert 0 < facts["below_black_share"] < 0.1  # read noise takes a few samples below black
    assert facts["white_balance"] == facts["as_shot_white_balance"] == [2.0, 1.0, 1.6667]
    text = darkdev("info", raw)
    assert b"ratio darkdev would choose" in text.stdout and b"histogram" in text.stdout
    assert b"2.000 1.000 1.667 (as shot)" in text.stdout
    assert f"{facts['below_black_share']:.1%} below black".encode() in text.stdout


def test_missing_white_balance_is_reported_and_warned(tmp_path, tiny_weights):
    raw = write_raw(tmp_path / "a.dng", as_shot_neutral=None)
    facts = json.loads(darkdev("info", raw, "--json").stdout)
    assert facts["white_balance_source"] == "grey world" and facts["as_shot_white_balance"] is None
    result = darkdev("develop", raw, "-o", tmp_path / "a.jpg", "--ratio", "50")
    assert result.returncode == 0, result.stderr.decode()
    assert b"no usable as-shot white balance; used grey world" in result.stderr
    record = json.loads(darkdev("develop", raw, "-o", tmp_path / "b.jpg", "--json").stdout)
    assert any("as-shot white balance" in line for line in record["warnings"])
    shot = darkdev("develop", write_raw(tmp_path / "b.dng"), "-o", tmp_path / "c.jpg", "--json")
    assert shot.returncode == 0 and json.loads(shot.stdout)["warnings"] == []


def test_info_bad_file_exit_1(tmp_path):
    bad = tmp_path / "x.ARW"
    bad.write_bytes(b"junk")
    result = darkdev("info", bad)
    assert result.returncode == 1 and b"x.ARW" in result.stderr


def test_compare_sheet_has_three_panels(tmp_path, tiny_weights):
    raw = write_raw(tmp_path / "a.dng", brightness=0.05)
    sheet = tmp_path / "sheet.png"
    result = darkdev("compare", raw, "-o", sheet, "--ratio", "10")
    assert result.returncode == 0, result.stderr.decode()
    image = decode_image(sheet.read_bytes())
    assert image.shape[1] == 3 * 640
    other = tmp_path / "other.png"
    result = darkdev("compare", raw, "-o", other, "--ratio", "10", "--wb", "1,1,1")
    assert result.returncode == 0, result.stderr.decode()
    assert np.abs(decode_image(other.read_bytes()).astype(int) - image).max() > 20
    result = darkdev("compare", raw, "-o", tmp_path / "bad.png", "--wb", "warm")
    assert result.returncode == 2 and not (tmp_path / "bad.png").exists()


def test_rimef_plot(tmp_path):
    result = darkdev("rimef-plot", "-o", tmp_path / "curve.png", "--ratio", "300", "--alpha", "0.8")
    assert result.returncode == 0
    assert decode_image((tmp_path / "curve.png").read_bytes()).shape == (520, 900, 3)
    assert darkdev("rimef-plot", "-o", tmp_path / "c.png", "--alpha", "2").returncode == 2


def test_jpeg_carries_exif_and_output_is_rotated(tmp_path, tiny_weights):
    raw = write_raw(
        tmp_path / "a.ARW", height=64, width=96, orientation=6, iso=3200, exposure_time_s=0.5
    )
    out = tmp_path / "a.jpg"
    assert darkdev("develop", raw, "-o", out, "--ratio", "10").returncode == 0
    with Image.open(out) as image:
        assert image.size == (64, 96)  # portrait after the 90-degree flag
        exif = image.getexif()
        assert exif[0x010F] == "Sony" and exif[0x0110] == "ILCE-7SM2" and exif[0x0112] == 1
        details = exif.get_ifd(0x8769)
        assert details[0x8827] == 3200 and float(details[0x829A]) == 0.5


def test_same_stem_raws_keep_distinct_outputs(tmp_path, tiny_weights):
    folder = tmp_path / "in"
    folder.mkdir()
    write_raw(folder / "IMG_1.ARW", seed=1, height=48, width=64)
    write_raw(folder / "IMG_1.RAF", "xtrans", 48, 48, seed=2)
    result = darkdev("develop", folder, "-o", tmp_path / "out", "--ratio", "5", "--suffix", "_dd")
    assert result.returncode == 0, result.stderr.decode()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "IMG_1.ARW_dd.png",
        "IMG_1.RAF_dd.png",
    ]


def test_estimated_ratio_brightens_dark_frames(tmp_path, tiny_weights):
    raw = write_raw(tmp_path / "a.dng", brightness=0.004)
    result = darkdev("develop", raw, "-o", tmp_path / "a.png", "--model", "classical")
    assert result.returncode == 0 and b"estimated" in result.stderr
    image = decode_image((tmp_path / "a.png").read_bytes()) / 255.0
    assert 0.1 < image.mean() < 0.7
    assert np.isfinite(image).all()


def test_contact_sheet_labels_stay_inside_their_panel():
    from PIL import Image, ImageDraw

    from darkdev.sheets import _fitted_label, contact_sheet

    draw = ImageDraw.Draw(Image.new("RGB", (10, 10)))
    short, _ = _fitted_label(draw, "target", 268)
    assert short == "target"
    long_name = "rmcn-3-nobc rmcn-3-nobc-w16-bayer-and-a-much-longer-name"
    fitted, font = _fitted_label(draw, long_name, 268)
    assert fitted.endswith("...") and draw.textlength(fitted, font=font) <= 268
    grey = np.full((32, 32, 3), 0.5, np.float32)
    sheet = contact_sheet([(long_name, grey), ("target", grey)], panel_width_px=288)
    # The first label's text never reaches into the second panel's label area.
    second_label_area = sheet[:36, 288:290]
    assert (second_label_area == sheet[0, -1]).all()
