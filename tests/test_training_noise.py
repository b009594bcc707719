"""The training noise model: its statistics, the ISO ranges and widening drawn in training,
and the black-level offsets of each colour."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from darkdev.errors import ParameterError, ShapeError
from darkdev.training import noise, synthetic, unprocessing
from tests.training_helpers import smooth_photo


@pytest.mark.parametrize("source", ["numpy", "torch"])
def test_noise_statistics_follow_the_model(source):
    sample = noise.NoiseSample(
        system_gain_dn_per_electron=2.0, read_sigma_dn=3.0, row_sigma_dn=0.0, tukey_lambda=None
    )
    signal = np.full((200, 200), 100.0, dtype=np.float32)
    if source == "numpy":
        values = noise.add_noise(signal, sample, noise.NumpySource(np.random.default_rng(0)))
    else:
        generator = torch.Generator().manual_seed(0)
        values = noise.add_noise(torch.from_numpy(signal), sample, noise.TorchSource(generator))
        values = values.numpy()
    values = np.asarray(values, dtype=np.float64) - unprocessing.BLACK_LEVEL_DN
    assert values.mean() == pytest.approx(100, abs=0.5)
    # Shot variance K * signal plus read variance plus 1/12 quantisation.
    assert values.var() == pytest.approx(2.0 * 100 + 9 + 1 / 12, rel=0.05)


def test_high_iso_range_draws_the_upper_half_of_system_gain():
    params = noise.noise_parameters()
    middle = np.sqrt(params["Kmin"] * params["Kmax"])
    rng = np.random.default_rng(0)
    high = [noise.sample_noise("bayer", rng, noise.HIGH_ISO) for _ in range(200)]
    assert all(middle <= s.system_gain_dn_per_electron <= params["Kmax"] for s in high)
    assert 0.35 < np.mean([s.tukey_lambda is None for s in high]) < 0.65
    with pytest.raises(ParameterError):
        noise.NoiseRange(gain_low_fraction=0.8, gain_high_fraction=0.2)


def test_noise_widening_reaches_past_the_calibrated_range_in_training_only():
    from darkdev.training.config import TrainConfig

    params = noise.noise_parameters()
    widened = TrainConfig(cfa="bayer", noise_widening=5.0).augment().noise
    rng = np.random.default_rng(0)
    gains = [
        noise.sample_noise("bayer", rng, widened).system_gain_dn_per_electron for _ in range(400)
    ]
    assert params["Kmin"] / 5 <= min(gains) and max(gains) <= params["Kmax"] * 5
    assert max(gains) > params["Kmax"] * 2 and min(gains) < params["Kmin"] / 2
    default = TrainConfig(cfa="bayer").augment().noise
    rng = np.random.default_rng(0)
    gains = [
        noise.sample_noise("bayer", rng, default).system_gain_dn_per_electron for _ in range(400)
    ]
    assert params["Kmin"] <= min(gains) and max(gains) <= params["Kmax"]
    with pytest.raises(ParameterError, match="noise-widening"):
        TrainConfig(noise_widening=0.5).validate()


@pytest.mark.parametrize("source", ["numpy", "torch"])
def test_black_offsets_shift_each_colour_by_its_own_offset(source):
    sample = noise.NoiseSample(2.0, 1.0, 0.0, None, black_offsets_dn=(3.0, 0.0, -2.0))
    signal = np.full((120, 120), 50.0, dtype=np.float32)
    colours = unprocessing.colour_index_map("bayer", 120, 120)
    if source == "numpy":
        values = noise.add_noise(
            signal, sample, noise.NumpySource(np.random.default_rng(0)), colours
        )
    else:
        generator = torch.Generator().manual_seed(0)
        values = noise.add_noise(
            torch.from_numpy(signal),
            sample,
            noise.TorchSource(generator),
            torch.from_numpy(colours),
        ).numpy()
    above_black = np.asarray(values, dtype=np.float64) - unprocessing.BLACK_LEVEL_DN
    means = [above_black[colours == colour].mean() for colour in range(3)]
    assert means == pytest.approx([53.0, 50.0, 48.0], abs=0.4)
    with pytest.raises(ShapeError, match="colour"):
        noise.add_noise(signal, sample, noise.NumpySource(np.random.default_rng(0)))


def test_black_error_is_drawn_in_training_only_and_leaves_other_draws_alone():
    from darkdev.training.config import TrainConfig

    exact = TrainConfig(cfa="bayer").augment().noise
    jittered = TrainConfig(cfa="bayer", black_error_dn=0.5).augment().noise
    plain = [noise.sample_noise("bayer", np.random.default_rng(seed), exact) for seed in range(300)]
    drawn = [
        noise.sample_noise("bayer", np.random.default_rng(seed), jittered) for seed in range(300)
    ]
    assert all(s.black_offsets_dn == (0.0, 0.0, 0.0) for s in plain)
    for before, after in zip(plain, drawn, strict=True):  # the same K, read and row noise
        assert dataclasses.replace(after, black_offsets_dn=(0.0, 0.0, 0.0)) == before
    offsets = np.array([s.black_offsets_dn for s in drawn])
    assert offsets.std() == pytest.approx(0.5, rel=0.1) and abs(offsets.mean()) < 0.06
    with pytest.raises(ParameterError, match="black-error-dn"):
        TrainConfig(black_error_dn=-0.1).validate()
    with pytest.raises(ParameterError, match="black_error_sigma_dn"):
        noise.NoiseRange(black_error_sigma_dn=float("nan"))


@pytest.mark.parametrize("kind", ["bayer", "xtrans"])
def test_a_pair_with_black_offsets_differs_by_them_at_each_colour(kind):
    bank = synthetic.PhotoBank([smooth_photo()])
    augment = synthetic.AugmentConfig()
    plan = synthetic.plan_item(np.random.default_rng(5), bank, kind, 72, augment)
    offset = dataclasses.replace(plan.noise, black_offsets_dn=(4.0, -1.0, 2.0))
    exact = synthetic.make_item(bank, kind, 72, plan, augment).noisy_dn.numpy()
    shifted = synthetic.make_item(bank, kind, 72, dataclasses.replace(plan, noise=offset), augment)
    colours = unprocessing.colour_index_map(kind, 72, 72)
    difference = shifted.noisy_dn.numpy() - exact  # same draws: only the offset (and rounding)
    for colour, expected in enumerate((4.0, -1.0, 2.0)):
        assert np.abs(difference[colours == colour] - expected).max() <= 1.0
