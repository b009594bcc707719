"""Synthetic pairs (unprocess -> LibRaw round trip, noise, determinism) and the SID dataset."""

from __future__ import annotations

import numpy as np
import pytest

from darkdev import cfa, data, dng, metrics, raw, rimef
from darkdev.errors import ParameterError, ShapeError
from tests.conftest import write_raw


def smooth_photo(height: int = 300, width: int = 320, seed: int = 0) -> data.Photo:
    """A smooth colourful 8-bit 'photo' (so LINEAR demosaic loses almost nothing)."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:height, 0:width] / max(height, width)
    image = np.stack([0.2 + 0.6 * rows, 0.3 + 0.5 * cols, 0.7 - 0.4 * (rows + cols) / 2], axis=-1)
    image += 0.1 * np.sin(rows[..., None] * 6 + rng.random(3) * 6)
    return data.Photo(f"smooth-{seed}.png", (np.clip(image, 0, 1) * 255).round().astype(np.uint8))


@pytest.mark.parametrize("kind", ["bayer", "xtrans"])
@pytest.mark.parametrize("gains", [(1.0, 1.0, 1.0), (2.2, 1.0, 1.5)])
def test_unprocess_then_libraw_develop_returns_the_photo(kind, gains):
    photo = smooth_photo()
    side = 96 if kind == "bayer" else 102  # whole CFA periods
    crop = photo.pixels[:side, :side].astype(np.float64) / 255
    clean = data.unprocess(crop, kind, gains)
    assert clean.shape == (side, side) and clean.dtype == np.float32
    neutral = (1 / gains[0], 1.0, 1 / gains[2])
    frame = raw.decode(
        dng.dng_bytes(
            data.to_digital_numbers(clean),
            data.PATTERN_FOR_KIND[kind],
            data.dng_metadata(kind, as_shot_neutral=neutral),
        ),
        "clean",
    )
    developed = raw.develop_with_libraw(frame).astype(np.float64)
    border = 6  # demosaic borders
    inner = (slice(border, -border), slice(border, -border))
    assert metrics.psnr(crop[inner], developed[inner]) > 35


def test_libraw_gamma_inverse():
    values = np.linspace(0, 1, 1001)
    assert np.allclose(data.libraw_gamma(data.inverse_libraw_gamma(values)), values, atol=1e-9)
    assert pytest.approx(0.018, abs=1e-3) == data.GAMMA_THRESHOLD_IN  # BT.709-like toe


@pytest.mark.parametrize("kind", ["bayer", "xtrans"])
def test_pair_shapes_ranges_and_determinism(kind):
    photo = smooth_photo()
    first = data.make_pair(photo, kind, 32, np.random.default_rng(7), keep_noisy=True)
    again = data.make_pair(photo, kind, 32, np.random.default_rng(7), keep_noisy=True)
    other = data.make_pair(photo, kind, 32, np.random.default_rng(8))
    scale = cfa.BLOCK_SIZE[kind]
    assert first.input_packed.shape == (cfa.CHANNELS[kind], 32, 32)
    assert first.target.shape == (3, 32 * scale, 32 * scale)
    assert first.input_packed.dtype == first.target.dtype == np.float32
    assert first.input_packed.min() >= 0 and first.input_packed.max() <= 1
    assert first.target.min() >= 0 and first.target.max() <= 1
    assert 50 <= first.ratio <= 300
    assert np.array_equal(first.input_packed, again.input_packed)
    assert np.array_equal(first.target, again.target)
    assert not np.array_equal(first.input_packed, other.input_packed)  # fresh noise


def test_input_is_what_decode_pack_amplify_gives():
    pair = data.make_pair(smooth_photo(), "bayer", 32, np.random.default_rng(3), keep_noisy=True)
    frame = raw.decode(
        dng.dng_bytes(
            pair.noisy_dn, cfa.BAYER_CANONICAL, data.dng_metadata("bayer", pair.as_shot_neutral)
        ),
        "noisy",
    )
    expected = rimef.amplify(cfa.pack(frame.mosaic, frame.layout), rimef.RimefParams(pair.ratio))
    assert np.allclose(pair.input_packed, expected, atol=1e-6)


def test_noise_statistics_follow_the_model():
    rng = np.random.default_rng(0)
    noise = data.NoiseSample(
        system_gain_dn_per_electron=2.0, read_sigma_dn=3.0, row_sigma_dn=0.0, tukey_lambda=None
    )
    signal_dn = np.full((200, 200), 100.0)
    values = data.add_noise(signal_dn, noise, rng).astype(np.float64) - data.BLACK_LEVEL_DN
    assert values.mean() == pytest.approx(100, abs=0.5)
    # Shot variance K * signal plus read variance plus 1/12 quantisation.
    assert values.var() == pytest.approx(2.0 * 100 + 9 + 1 / 12, rel=0.05)
    sampled = data.sample_noise("xtrans", np.random.default_rng(1))
    assert sampled.system_gain_dn_per_electron > 0 and sampled.read_sigma_dn > 0


def test_validation_split_is_stable_and_about_15_percent():
    names = [f"photo-{index}.jpg" for index in range(2000)]
    share = np.mean([data.is_validation_photo(name) for name in names])
    assert 0.12 < share < 0.18
    assert data.is_validation_photo("a/b/photo-3.jpg") == data.is_validation_photo("photo-3.jpg")
    photos = [smooth_photo(seed=seed) for seed in range(6)]
    training, validation = data.split_photos(photos)
    assert training and validation
    assert not {p.name for p in training} & {p.name for p in validation}


def test_batches_depend_only_on_seed_and_step():
    photos = [smooth_photo(seed=seed) for seed in range(2)]
    inputs, targets = data.synthetic_batch(photos, "bayer", 16, 2, seed=1, step=5)
    again, _ = data.synthetic_batch(photos, "bayer", 16, 2, seed=1, step=5)
    assert inputs.shape == (2, 4, 16, 16) and targets.shape == (2, 3, 32, 32)
    assert np.array_equal(inputs, again)


def test_validation_set_has_classical_baseline(tmp_path):
    validation = data.build_validation_set([smooth_photo()], "bayer", count=2)
    assert len(validation) == 2
    side = data.validation_crop_packed_px("bayer")
    assert validation.inputs[0].shape == (4, side, side)
    assert validation.targets[0].shape == validation.classical[0].shape == (2 * side, 2 * side, 3)
    data.save_validation_set(validation, tmp_path / "v.npz")
    loaded = data.load_validation_set(tmp_path / "v.npz")
    assert np.array_equal(loaded.targets[1], validation.targets[1]) and loaded.kind == "bayer"
    assert np.array_equal(loaded.noisy_packed[0], validation.noisy_packed[0])
    assert loaded.gains == validation.gains


def test_validation_inputs_for_other_conventions():
    validation = data.build_validation_set(
        [smooth_photo(seed=seed) for seed in range(2)], "bayer", count=4
    )
    linear = validation.network_inputs(white_balance_input=False)
    for built, prepared in zip(validation.inputs, linear, strict=True):
        assert np.array_equal(built, prepared)  # the set's own inputs: plain, linear
    balanced = validation.network_inputs(white_balance_input=True)
    red_gain, _, blue_gain = validation.gains[0]
    assert red_gain > 1 and blue_gain > 1
    unclipped = linear[0] < 0.5 / max(red_gain, blue_gain)
    for channel, gain in enumerate((red_gain, 1.0, blue_gain, 1.0)):  # R, G1, B, G2
        mask = unclipped[channel]
        np.testing.assert_allclose(
            balanced[0][channel][mask], linear[0][channel][mask] * gain, rtol=1e-4, atol=1e-6
        )
    compressed = validation.network_inputs(False, lam=1.0, alpha=1.0)
    assert all(c.max() < 1.0 for c in compressed)  # lambda = alpha = 1 never clips


def test_highlight_rich_half():
    from darkdev.evaluate import highlight_fraction, highlight_rich

    validation = data.build_validation_set([smooth_photo()], "bayer", count=4)
    validation.targets[2] = np.ones_like(validation.targets[2])
    subset = highlight_rich(validation)
    assert len(subset) == 2 and subset.targets[0] is not None
    fractions = [highlight_fraction(t) for t in validation.targets]
    assert min(highlight_fraction(t) for t in subset.targets) >= sorted(fractions)[1]
    assert any(np.array_equal(t, validation.targets[2]) for t in subset.targets)
    assert len(subset.noisy_packed) == len(subset.gains) == 2


def test_load_photos_from_folder_and_bad_arguments(tmp_path):
    import imageio.v3 as imageio

    imageio.imwrite(tmp_path / "one.png", smooth_photo().pixels)
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    photos = data.load_photos(tmp_path)
    assert [p.name for p in photos] == ["one.png"]
    with pytest.raises(ShapeError):
        data.unprocess(np.zeros((4, 4)), "bayer", (1, 1, 1))
    with pytest.raises(ParameterError):
        data.unprocess(np.zeros((4, 4, 3)), "bayer", (0, 1, 1))
    with pytest.raises(ParameterError):
        data.AugmentConfig(ratio_min=400, ratio_max=300)


def test_sid_folder_dataset(tmp_path):
    root = tmp_path / "SID"
    (root / "Sony" / "short").mkdir(parents=True)
    (root / "Sony" / "long").mkdir(parents=True)
    sony = {"make": "Sony", "model": "ILCE-7SM2"}
    # DNGs renamed .ARW: LibRaw identifies files by content. One file in GRBG phase.
    write_raw(root / "Sony/short/10003_00_0.04s.ARW", "bayer", 96, 128, brightness=0.004, **sony)
    write_raw(
        root / "Sony/short/10003_01_0.1s.ARW", "bayer", 96, 128, brightness=0.01, seed=1, **sony
    )
    write_raw(root / "Sony/long/10003_00_10s.ARW", "bayer", 96, 128, brightness=0.8, **sony)
    write_raw(root / "Sony/short/10004_00_0.1s.ARW", "bayer", 98, 130, shift=(0, 1), **sony)
    write_raw(
        root / "Sony/long/10004_00_30s.ARW", "bayer", 98, 130, shift=(0, 1), brightness=0.9, **sony
    )
    list_file = tmp_path / "Sony_train_list.txt"
    list_file.write_text(
        "./Sony/short/10003_00_0.04s.ARW ./Sony/long/10003_00_10s.ARW ISO200 F9\n"
        "./Sony/short/10003_01_0.1s.ARW ./Sony/long/10003_00_10s.ARW ISO200 F9\n"
        "./Sony/short/10004_00_0.1s.ARW ./Sony/long/10004_00_30s.ARW ISO200 F9\n"
    )
    dataset = data.SidDataset(root, list_file, tmp_path / "cache", crop_packed_px=32)
    assert len(dataset) == 3
    assert [pair.ratio for pair in dataset.pairs] == [250.0, 100.0, 300.0]  # 300 = min(300, 300)
    inputs, targets = dataset.batch(3, seed=0, step=0)
    assert inputs.shape == (3, 4, 32, 32) and targets.shape == (3, 3, 64, 64)
    assert inputs.dtype == targets.dtype == np.float32
    assert inputs.min() >= 0 and inputs.max() <= 1
    for index in range(len(dataset)):
        dataset.packed_short(index)
        dataset.target(index)
    cached = sorted(p.name for p in (tmp_path / "cache").glob("*.npy"))
    assert len(cached) == 5  # three short, two long
    again, again_targets = dataset.batch(3, seed=0, step=0)  # from the cache now
    assert np.array_equal(inputs, again) and np.array_equal(targets, again_targets)
    # Offsets: the GRBG file is packed from column 1, and its target is cut from the same place.
    _, offset = dataset.target(2)
    assert offset == (0, 1)
    assert data.exposure_from_name("./Sony/long/00001_00_10s.ARW") == 10.0
    with pytest.raises(ParameterError):
        data.exposure_from_name("no_exposure.ARW")
