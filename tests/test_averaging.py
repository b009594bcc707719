"""The weight average (training.averaging): its update rule, swapping it in and out, errors."""

from __future__ import annotations

import pytest
import torch

from darkdev.errors import ParameterError
from darkdev.training.averaging import (
    averaged_weights,
    check_average,
    start_average,
    update_average,
)


def small_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3), torch.nn.BatchNorm2d(3))


def test_update_is_an_exponential_moving_average():
    model = small_model()
    average = start_average(model)
    assert "1.num_batches_tracked" not in average  # integer state is never averaged
    first = model[0].weight.detach().clone()
    with torch.no_grad():
        model[0].weight.add_(1.0)
    update_average(average, model, decay=0.75)
    torch.testing.assert_close(average["0.weight"], first + 0.25)
    update_average(average, model, decay=0.75)
    torch.testing.assert_close(average["0.weight"], first + 1 - 0.75**2)
    for decay in (0.0, 1.0, -0.5):
        with pytest.raises(ParameterError, match="decay"):
            update_average(average, model, decay)


def test_averaged_weights_are_swapped_in_and_back():
    model = small_model()
    own = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    average = {name: tensor + 2.0 for name, tensor in start_average(model).items()}
    with averaged_weights(model, average):
        torch.testing.assert_close(model[0].bias.detach(), own["0.bias"] + 2.0)
        torch.testing.assert_close(model[1].running_mean, own["1.running_mean"] + 2.0)
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, own[name]), name
    with pytest.raises(RuntimeError), averaged_weights(model, average):
        raise RuntimeError("validation failed")
    assert torch.equal(model[0].weight.detach(), own["0.weight"])  # restored after an error too
    with averaged_weights(model, None):  # no average: the model's own weights
        assert torch.equal(model[0].weight.detach(), own["0.weight"])


def test_an_average_of_another_model_is_refused():
    model = small_model()
    check_average(start_average(model), model)
    other = start_average(torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3), torch.nn.BatchNorm2d(4)))
    with pytest.raises(ParameterError, match="does not fit"):
        check_average(other, model)
    with pytest.raises(ParameterError, match="does not fit"):
        check_average({"0.weight": start_average(model)["0.weight"]}, model)
