"""The training data path: unprocessing, torch synthetic pairs (shapes, ranges, determinism
per seed, agreement with LibRaw and with develop's own input), validation sets, photo folders and
the SID loader. The noise model's tests are in test_training_noise.py."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from darkdev import cfa, dng, metrics, raw, rimef
from darkdev.errors import ParameterError
from darkdev.network_input import BELOW_BLACK_FLOOR, InputConvention, network_input
from darkdev.training import photos, sid, synthetic, unprocessing, validation
from tests.conftest import write_raw
from tests.training_helpers import smooth_photo


def flat_photo(colour=(150, 90, 60), side: int = 300) -> photos.Photo:
    return photos.Photo("flat.png", np.full((side, side, 3), colour, dtype=np.uint8))


@pytest.mark.parametrize("kind", ["bayer", "xtrans"])
def test_camera_matrix_equals_libraw(kind):
    import rawpy

    pattern = unprocessing.PATTERN_FOR_KIND[kind]
    mosaic = np.full((12 * pattern.shape[0], 12 * pattern.shape[1]), 2000, dtype=np.uint16)
    data = dng.dng_bytes(mosaic, pattern, unprocessing.dng_metadata(kind))
    with rawpy.imread(io.BytesIO(data)) as opened:
        rgb_from_camera = np.array(opened.color_matrix, dtype=np.float64)[:3, :3]
    np.testing.assert_allclose(
        unprocessing.rgb_from_camera_matrix(kind), rgb_from_camera, atol=1e-6
    )


def test_tone_curve_inverse_numpy_and_torch():
    values = np.linspace(0, 1, 1001)
    assert np.allclose(
        unprocessing.libraw_gamma(unprocessing.inverse_libraw_gamma(values)), values, atol=1e-9
    )
    as_tensor = unprocessing.libraw_gamma(torch.from_numpy(values))
    np.testing.assert_allclose(as_tensor.numpy(), unprocessing.libraw_gamma(values), atol=1e-12)
    assert pytest.approx(0.018, abs=1e-3) == unprocessing.GAMMA_THRESHOLD_IN  # BT.709-like toe


@pytest.mark.parametrize("kind", ["bayer", "xtrans"])
def test_network_input_is_one_rule_for_numpy_and_torch(kind):
    rng = np.random.default_rng(0)
    packed = (rng.random((cfa.CHANNELS[kind], 16, 18)).astype(np.float32) - 0.2) * 0.02
    params = rimef.RimefParams(ratio=80, lam=0.5, alpha=0.8)
    gains = (2.1, 1.0, 1.6)
    for balanced in (False, True):
        for below_black in (False, True):
            convention = InputConvention(balanced, below_black)
            expected = network_input(packed, kind, gains, convention, params)
            got = network_input(torch.from_numpy(packed), kind, gains, convention, params)
            np.testing.assert_allclose(got.numpy(), expected, rtol=1e-6, atol=1e-7)
            assert (expected.min() < 0) == below_black and np.isfinite(expected).all()
    mosaic = rng.random((36, 48)).astype(np.float32)
    packed_numpy = cfa.pack(mosaic, cfa.CfaLayout(kind, 0, 0))
    index = cfa.pack_index(kind, *packed_numpy.shape[1:])
    packed_torch = torch.from_numpy(mosaic).reshape(-1)[torch.from_numpy(index)]
    assert np.array_equal(packed_torch.numpy(), packed_numpy)


@pytest.mark.parametrize("kind,crop", [("bayer", 16), ("xtrans", 16)])
def test_batch_shapes_ranges_and_determinism_per_seed(kind, crop):
    bank = synthetic.PhotoBank([smooth_photo(seed=0), smooth_photo(seed=1)])
    batch = synthetic.synthetic_batch(bank, kind, crop, 3, seed=4, step=7)
    scale = cfa.BLOCK_SIZE[kind]
    assert batch.inputs.shape == (3, cfa.CHANNELS[kind], crop, crop)
    assert batch.targets.shape == (3, 3, crop * scale, crop * scale)
    assert batch.inputs.dtype == batch.targets.dtype == torch.float32
    for tensor in (batch.inputs, batch.targets):
        assert tensor.min() >= 0 and tensor.max() <= 1
    kept = synthetic.AugmentConfig(input_convention=InputConvention(below_black=True))
    below = synthetic.synthetic_batch(bank, kind, crop, 3, seed=4, step=7, augment=kept)
    assert -1 <= below.inputs.min() < 0 and below.inputs.max() <= 1
    assert torch.equal(below.inputs.clamp(min=0), batch.inputs)  # the same draws, unclipped
    assert torch.equal(below.targets, batch.targets)
    assert all(50 <= plan.ratio <= 300 for plan in batch.plans)
    again = synthetic.synthetic_batch(bank, kind, crop, 3, seed=4, step=7)
    assert torch.equal(batch.inputs, again.inputs) and torch.equal(batch.targets, again.targets)
    other_seed = synthetic.synthetic_batch(bank, kind, crop, 3, seed=5, step=7)
    assert not torch.equal(batch.inputs, other_seed.inputs)
    tail = synthetic.synthetic_batch(bank, kind, crop, 2, seed=4, step=7, first_item=1)
    assert torch.equal(tail.inputs, batch.inputs[1:])  # a data-parallel rank's slice


@pytest.mark.parametrize("kind", ["bayer", "xtrans"])
def test_targets_agree_with_libraw(kind):
    """The un-mosaiced target is LibRaw's colour pipeline exactly: on a flat colour, where no
    demosaic can differ, it equals LibRaw's development of the same clean raw."""
    side_px = 96 if kind == "bayer" else 102  # LibRaw demosaics LINEAR below 512 px
    augment = synthetic.AugmentConfig()
    for photo, floor_db in ((flat_photo(), 45.0), (smooth_photo(), 33.0)):
        bank = synthetic.PhotoBank([photo])
        plan = synthetic.plan_item(np.random.default_rng(3), bank, kind, side_px, augment)
        pair = synthetic.make_item(bank, kind, side_px, plan, augment)
        target = pair.target.permute(1, 2, 0).numpy()
        developed = validation.libraw_development(pair.clean_dn.numpy(), kind, plan.gains, None)
        inner = (slice(8, -8), slice(8, -8))  # demosaic borders
        assert metrics.psnr(developed[inner], target[inner]) > floor_db


@pytest.mark.parametrize("below_black", [False, True])
def test_input_is_what_develop_feeds_the_network(below_black):
    """decode -> pack -> network_input of the noisy raw written as a DNG gives the batch input,
    below black too: the decoder and the synthetic pairs keep the same values."""
    bank = synthetic.PhotoBank([smooth_photo()])
    convention = InputConvention(white_balance=True, below_black=below_black)
    augment = synthetic.AugmentConfig(input_convention=convention)
    plan = synthetic.plan_item(np.random.default_rng(2), bank, "bayer", 64, augment)
    pair = synthetic.make_item(bank, "bayer", 64, plan, augment)
    meta = unprocessing.dng_metadata("bayer", (1 / plan.gains[0], 1.0, 1 / plan.gains[2]))
    frame = raw.decode(
        dng.dng_bytes(pair.noisy_dn.numpy().astype(np.uint16), cfa.BAYER_CANONICAL, meta), "noisy"
    )
    packed = cfa.pack(frame.mosaic, frame.layout)
    assert packed.min() < 0  # read noise below black survives decoding
    np.testing.assert_allclose(packed, pair.noisy_packed.numpy(), atol=1e-7)
    expected = network_input(packed, "bayer", plan.gains, convention, rimef.RimefParams(plan.ratio))
    np.testing.assert_allclose(pair.input.numpy(), expected, atol=1e-6)
    assert (pair.input.min() < 0) == below_black


def test_clipped_convention_feeds_exactly_what_clipped_data_gave():
    """Networks trained on input clipped at black see, bit for bit, what they saw before the
    data kept values below black: clipping moved from the data into network_input."""
    rng = np.random.default_rng(5)
    packed = (rng.random((4, 20, 22)).astype(np.float32) - 0.3) * 0.01
    gains = (2.0, 1.0, 1.5)
    for params in (rimef.RimefParams(200), rimef.RimefParams(150, lam=1.0, alpha=0.7)):
        for balanced in (False, True):
            clipped = np.clip(packed, 0.0, 1.0)
            old = (
                rimef.amplify(cfa.white_balance(clipped, "bayer", gains), params)
                if balanced
                else rimef.amplify(clipped, params)
            )
            new = network_input(packed, "bayer", gains, InputConvention(balanced), params)
            assert np.array_equal(new, old)


def test_below_black_input_is_floored_and_its_gain_ignores_negative_light():
    packed = np.full((4, 8, 8), -0.02, dtype=np.float32)  # a cold pixel block, far below black
    packed[:, 0, 0] = 0.001
    convention = InputConvention(below_black=True)
    params = rimef.RimefParams(300, lam=1.0, alpha=0.5)
    amplified = network_input(packed, "bayer", (1.0, 1.0, 1.0), convention, params)
    assert amplified.min() == BELOW_BLACK_FLOOR and np.isfinite(amplified).all()
    assert np.all(rimef.illumination_map(packed) >= 0)
    np.testing.assert_allclose(rimef.gain_map(packed, params)[1:, 1:], 300.0)  # T = 0: full ratio
    with pytest.raises(TypeError, match="InputConvention"):
        network_input(packed, "bayer", (1.0, 1.0, 1.0), True, params)  # type: ignore[arg-type]


def test_below_black_floor_cuts_only_the_tail_of_the_noise_trained_on(monkeypatch):
    """The floor is set by the training noise: under 1% of high-ISO input (A7S II, ratio
    100-300) lies below it, even in a black frame; heavier read noise is what it cuts."""
    import darkdev.network_input as network_input_module

    dark = smooth_photo()
    dark = photos.Photo(dark.name, np.zeros_like(dark.pixels))  # all read noise, no light
    crops = validation.build_validation_set([dark], "bayer", "high_iso", 8, packed_px=64)
    monkeypatch.setattr(network_input_module, "BELOW_BLACK_FLOOR", -np.inf)
    inputs = crops.network_inputs(InputConvention(white_balance=True, below_black=True))
    values = np.concatenate([crop.ravel() for crop in inputs])
    assert 0 < np.mean(values < BELOW_BLACK_FLOOR) < 0.01


def test_validation_sets_hold_libraw_targets_and_classical(tmp_path):
    made = validation.build_validation_set(
        [smooth_photo(seed=0), smooth_photo(seed=1)], "bayer", "high_iso", count=2, packed_px=32
    )
    assert len(made) == 2 and made.libraw is not None and made.classical is not None
    assert made.targets[0].shape == made.classical[0].shape == (64, 64, 3)
    assert all(100 <= ratio <= 300 for ratio in made.ratios)
    path = tmp_path / "v.npz"
    validation.save_validation_set(made, path)
    loaded = validation.load_validation_set(path)
    assert loaded.split == "high_iso" and loaded.gains == made.gains
    np.testing.assert_allclose(loaded.targets[1], made.targets[1], atol=1 / 65535)
    assert np.array_equal(loaded.noisy_packed[0], made.noisy_packed[0])
    assert made.below_black and loaded.below_black and min(p.min() for p in made.noisy_packed) < 0


def test_a_set_saved_clipped_at_black_scores_only_networks_trained_clipped(tmp_path):
    made = validation.build_validation_set([smooth_photo()], "bayer", "high_iso", 1, packed_px=16)
    path = tmp_path / "old.npz"
    with np.load(_saved(made, tmp_path / "new.npz")) as archive:  # as sets were saved before
        fields = {k: archive[k] for k in archive.files if k != "below_black"}
    fields["noisy_packed"] = np.maximum(fields["noisy_packed"], 0.0)
    np.savez(path, **fields)
    old = validation.load_validation_set(path)
    assert not old.below_black
    clipped = InputConvention(white_balance=True)
    pairs = zip(made.network_inputs(clipped), old.network_inputs(clipped), strict=True)
    assert all(np.array_equal(new, before) for new, before in pairs)  # old sets' scores stand
    with pytest.raises(ParameterError, match="saved clipped at black"):
        old.network_inputs(InputConvention(below_black=True))


def _saved(made, path):
    validation.save_validation_set(made, path)
    return path
    linear = made.network_inputs(InputConvention())
    balanced = made.network_inputs(InputConvention(white_balance=True))
    red_gain = made.gains[0][0]
    unclipped = linear[0][0] < 0.5 / red_gain
    np.testing.assert_allclose(
        balanced[0][0][unclipped], linear[0][0][unclipped] * red_gain, rtol=1e-4
    )
    assert all(c.max() < 1.0 for c in made.network_inputs(InputConvention(), lam=1.0, alpha=1.0))
    assert len(made.subset([1])) == 1 and made.subset([1]).names == [made.names[1]]


@pytest.mark.parametrize("kind", ["bayer", "xtrans"])
def test_detail_set_is_whole_dead_leaves_at_high_iso(tmp_path, kind):
    held_out = [smooth_photo(seed=0), smooth_photo(seed=1)]
    made = validation.build_split(held_out, kind, "detail", count=2, packed_px=16)
    side_px = 16 * cfa.BLOCK_SIZE[kind]
    assert made.split == "detail" and made.names == ["dead-leaves-000", "dead-leaves-001"]
    assert made.targets[0].shape == (side_px, side_px, 3)
    assert made.noisy_packed[0].shape == (cfa.CHANNELS[kind], 16, 16)
    assert all(100 <= ratio <= 300 for ratio in made.ratios)  # high ISO's exposure and noise
    # Whole leaves, native scale: far more edges than the smooth photos' own crops.
    photo_crops = validation.build_validation_set(held_out, kind, "high_iso", 2, packed_px=16)

    def edge_energy(image):
        return float(np.abs(np.diff(image, axis=1)).mean())

    assert edge_energy(made.unmosaiced[0]) > 4 * edge_energy(photo_crops.unmosaiced[0])
    # Fixed by the seed.
    again = validation.build_split(held_out, kind, "detail", count=2, packed_px=16)
    assert np.array_equal(again.noisy_packed[1], made.noisy_packed[1])
    path = validation.validation_set_path(tmp_path, kind, "detail")
    validation.save_validation_set(made, path)
    assert validation.load_validation_set(path).split == "detail"
    with pytest.raises(ParameterError, match="no validation photos"):
        validation.build_split([], kind, "detail", count=1, packed_px=16)


def test_photo_folder_errors_and_split(tmp_path):
    import imageio.v3 as imageio

    with pytest.raises(ParameterError, match="does not exist"):
        photos.load_photos(tmp_path / "missing")
    with pytest.raises(ParameterError, match="no photos"):
        photos.list_photo_names(tmp_path)
    imageio.imwrite(tmp_path / "one.png", smooth_photo().pixels)
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    assert [p.name for p in photos.load_photos(tmp_path)] == ["one.png"]
    names = [f"photo-{index}.jpg" for index in range(2000)]
    share = np.mean([photos.is_validation_photo(name) for name in names])
    assert 0.12 < share < 0.18
    training, held_out = photos.split_names(names[:6])
    assert training and held_out and not set(training) & set(held_out)
    with pytest.raises(ParameterError):
        synthetic.AugmentConfig(ratio_min=400, ratio_max=300)


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
    dataset = sid.SidDataset(root, list_file, tmp_path / "cache", crop_packed_px=32)
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
    _, offset = dataset.target(2)  # the GRBG file is packed from column 1, its target cut there
    assert offset == (0, 1)
    assert sid.exposure_from_name("./Sony/long/00001_00_10s.ARW") == 10.0
    with pytest.raises(ParameterError):
        sid.exposure_from_name("no_exposure.ARW")
