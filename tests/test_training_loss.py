"""The training objective without a training run: loss terms, learning-rate schedules and their
length, bfloat16 precision, and the rule that picks the best validated step."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from darkdev.errors import ParameterError, ShapeError
from darkdev.models import build_model
from darkdev.training import synthetic
from darkdev.training.config import TrainConfig, bfloat16_autocast
from darkdev.training.loss import (
    compute_loss,
    learning_rate,
    structural_similarity,
    total_variation,
)
from tests.training_helpers import smooth_photo

pytestmark = pytest.mark.usefixtures("one_thread")


def test_loss_terms():
    target = torch.zeros(1, 3, 8, 8)
    flat = torch.full((1, 3, 8, 8), 0.5)
    assert total_variation(flat).item() == 0
    assert compute_loss([flat, flat], target, 1.0).item() == pytest.approx(1.0)  # two L1 terms
    stripes = torch.zeros(1, 3, 8, 8)
    stripes[..., ::2] = 1
    assert total_variation(stripes).item() == pytest.approx(1.0)
    assert compute_loss([stripes], target, 0.5).item() == pytest.approx(0.5 + 0.5)
    # Block means: stripes average to 0.5 over 8x8 blocks; a flat 0.5 image costs the same.
    assert compute_loss([stripes], target, 0.0, 2.0).item() == pytest.approx(0.5 + 2 * 0.5)
    shifted = stripes[..., [1, 0, 3, 2, 5, 4, 7, 6]]  # same block means, every pixel wrong
    assert compute_loss([shifted], stripes, 0.0, 2.0).item() == pytest.approx(1.0)


def test_torch_ssim_is_the_metric_and_its_loss_term_learns():
    from darkdev.metrics import ssim

    generator = torch.Generator().manual_seed(0)
    reference = torch.rand(2, 3, 24, 20, generator=generator, dtype=torch.float64)
    image = (reference + 0.2 * torch.rand(2, 3, 24, 20, generator=generator)).clamp(0, 1)
    expected = [
        ssim(r.permute(1, 2, 0).numpy(), i.permute(1, 2, 0).numpy())
        for r, i in zip(reference, image, strict=True)
    ]
    for index in range(2):
        assert structural_similarity(
            image[index : index + 1], reference[index : index + 1]
        ).item() == pytest.approx(expected[index], abs=1e-6)
    assert structural_similarity(reference, reference).item() == pytest.approx(1.0)
    assert compute_loss(
        [reference.float()], reference.float(), 0.0, 0.0, 3.0
    ).item() == pytest.approx(0, abs=1e-5)
    noisy = image.float().requires_grad_()
    compute_loss([noisy], reference.float(), 0.0, 0.0, 1.0).backward()
    assert (
        noisy.grad is not None and torch.isfinite(noisy.grad).all() and noisy.grad.abs().sum() > 0
    )
    with pytest.raises(ShapeError, match="SSIM needs"):
        structural_similarity(image[..., :6, :], reference[..., :6, :])
    with pytest.raises(ParameterError, match="--ssim-weight"):
        TrainConfig(ssim_weight=-1).validate()


def test_learning_rate_schedules():
    config = TrainConfig(lr=1e-4)
    assert learning_rate(config, 0, 100) == 1e-4 and learning_rate(config, 50, 100) == 1e-5
    cosine = TrainConfig(lr=1e-3, lr_schedule="cosine")
    assert learning_rate(cosine, 0, 100) == pytest.approx(1e-3)
    assert learning_rate(cosine, 100, 100) == pytest.approx(0, abs=1e-12)


def test_schedule_length_follows_a_slowing_machine():
    """A time budget's schedule is re-fixed from the session's speed until half of it passed."""
    import time
    from types import SimpleNamespace

    from darkdev.training.loop import refine_schedule_length

    def fake_run(config: TrainConfig, step: int, total_steps: int):
        # 0.3 s a step so far, 300 of 6000 s spent; the start guessed 0.15 s a step.
        return SimpleNamespace(
            config=config,
            step=step,
            total_steps=total_steps,
            session_start_step=0,
            session_start_time=time.monotonic() - 0.3 * step,
            budget_s=lambda: 6000.0,
            elapsed=lambda: 0.3 * step,
        )

    run = fake_run(TrainConfig(max_minutes=100), 1000, 38000)
    refine_schedule_length(run)
    assert run.total_steps == pytest.approx(1000 + 0.95 * 5700 / 0.3, abs=20)
    past_half = fake_run(TrainConfig(max_minutes=100), 20000, 38000)
    refine_schedule_length(past_half)  # the step schedule has dropped: keep it where it is
    assert past_half.total_steps == 38000
    fixed = fake_run(TrainConfig(max_minutes=100, max_steps=38000), 1000, 38000)
    refine_schedule_length(fixed)
    assert fixed.total_steps == 38000


@pytest.mark.parametrize("name", ["lts", "rmcn-2"])
def test_loss_falls_on_a_fixed_batch(name):
    torch.manual_seed(0)
    bank = synthetic.PhotoBank([smooth_photo()])
    batch = synthetic.synthetic_batch(bank, "bayer", 16, 2, seed=0, step=0)
    model = build_model(name, "bayer", 4)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        loss = compute_loss(model.forward_all(batch.inputs), batch.targets, 0.1)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert np.mean(losses[-5:]) < 0.7 * losses[0]


@pytest.mark.parametrize("native", [True, False])
def test_auto_precision_trains_in_bfloat16_where_native(monkeypatch, native):
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: native, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: native, raising=False)
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert bfloat16_autocast(cpu, "auto") is native and bfloat16_autocast(cuda, "auto")
    assert not bfloat16_autocast(cuda, "full") and bfloat16_autocast(cpu, "half")
    with pytest.raises(ParameterError, match="--precision"):
        TrainConfig(precision="double").validate()


def test_selection_rules_weigh_psnr_and_ssim():
    from darkdev.training.state import selection_score

    def splits(all_iso, high_iso, all_ssim, high_ssim):
        return {"all_iso": (all_iso, all_ssim), "high_iso": (high_iso, high_ssim)}

    # A step that trades 0.1 dB for +0.01 SSIM near 0.8: PSNR alone keeps the first.
    before, after = splits(29.2, 27.0, 0.815, 0.755), splits(29.1, 26.9, 0.825, 0.765)
    assert selection_score("psnr", before) == pytest.approx(28.1)
    assert selection_score("psnr", after) < selection_score("psnr", before)
    assert selection_score("ssim", after) == pytest.approx(0.795)
    # SSIM in dB: -10 log10(1 - 0.8) = 6.99 dB; 0.01 SSIM there is worth about 0.22 dB.
    assert selection_score("psnr+ssim", splits(20, 20, 0.8, 0.8)) == pytest.approx(
        20 + 6.9897, abs=1e-4
    )
    assert selection_score("psnr+ssim", after) > selection_score("psnr+ssim", before)
    assert selection_score("psnr+ssim", splits(20, 20, 1.0, 1.0)) == pytest.approx(120)  # finite
    # The detail split counts like the others: a detail gain outweighs a smaller photo loss.
    detail_before = {**before, "detail": (20.0, 0.60)}
    detail_after = {**after, "detail": (20.5, 0.64)}
    assert selection_score("psnr", detail_before) == pytest.approx((29.2 + 27.0 + 20.0) / 3)
    assert selection_score("psnr", detail_after) > selection_score("psnr", detail_before)
    with pytest.raises(ParameterError, match="no validation scores"):
        selection_score("psnr", {})
    with pytest.raises(ParameterError, match="lpips"):
        selection_score("lpips", before)
