"""An exponential moving average (EMA) of the weights: what a run validates, keeps and exports
when --ema-decay is set (not in the paper).

At a constant learning rate successive validations of one run swing by 0.2-0.3 dB: each step's
weights carry the noise of its last few batches. The average over the last ~1 / (1 - decay)
steps keeps the trend and drops most of that noise, and costs one copy of the weights.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from darkdev.errors import ParameterError

Average = dict[str, torch.Tensor]


def start_average(model: torch.nn.Module) -> Average:
    """The average's first value: a copy of the model's floating-point state."""
    return {
        name: tensor.detach().clone()
        for name, tensor in model.state_dict().items()
        if tensor.is_floating_point()
    }


def update_average(average: Average, model: torch.nn.Module, decay: float) -> None:
    """average <- decay * average + (1 - decay) * weights, for every averaged tensor."""
    if not 0.0 < decay < 1.0:
        raise ParameterError(f"EMA decay must be in (0, 1), got {decay}")
    state = model.state_dict()
    with torch.no_grad():
        for name, tensor in average.items():
            tensor.lerp_(state[name].detach().to(tensor.dtype), 1.0 - decay)


def check_average(average: Average, model: torch.nn.Module) -> None:
    """A saved average must fit the model it is resumed with, name by name and shape by shape."""
    expected = {n: t.shape for n, t in model.state_dict().items() if t.is_floating_point()}
    if average.keys() != expected.keys() or any(
        average[name].shape != shape for name, shape in expected.items()
    ):
        raise ParameterError("the saved weight average does not fit this model")


@contextmanager
def averaged_weights(model: torch.nn.Module, average: Average | None) -> Iterator[None]:
    """Inside: the model holds the averaged weights (None: its own); after: its own again."""
    if average is None:
        yield
        return
    own = {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}
    model.load_state_dict({**own, **average})
    try:
        yield
    finally:
        model.load_state_dict(own)
