"""Networks by name, built for a tensor shape: (input channels, upscale factor). Networks know
tensors, not sensors. Factories hold hyperparameters only; a checkpoint stores (name, arguments)."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from darkdev.errors import ParameterError
from darkdev.models.mcn import MCN, SingleNetwork

PAPER_WIDTH = 32

Factory = Callable[[int, int, int], nn.Module]  # (in_channels, scale, width) -> network


def _mcn(granulations: int, fusion: str, back_connection: bool = True) -> Factory:
    return lambda c, s, w: MCN(c, s, w, granulations, fusion, back_connection)


def _single(convs_per_block: int = 2, wiring: str = "plain") -> Factory:
    return lambda c, s, w: SingleNetwork(c, s, w, convs_per_block, wiring)


REGISTRY: dict[str, Factory] = {
    "lts": _single(),
    "bignet": _single(6, "plain"),
    "resbignet": _single(6, "residual"),
    "densebignet": _single(6, "dense"),
}
for _n in range(2, 6):
    REGISTRY[f"rmcn-{_n}"] = _mcn(_n, "sum")
    REGISTRY[f"dmcn-{_n}"] = _mcn(_n, "concat")
    REGISTRY[f"rmcn-{_n}-nobc"] = _mcn(_n, "sum", back_connection=False)
    REGISTRY[f"dmcn-{_n}-nobc"] = _mcn(_n, "concat", back_connection=False)


def build_network(name: str, in_channels: int, upscale: int, width: int = PAPER_WIDTH) -> nn.Module:
    """A network mapping (N, in_channels, H, W) to sRGB (N, 3, H*upscale, W*upscale)."""
    if name not in REGISTRY:
        raise ParameterError(f"unknown model {name!r}; choose from {', '.join(sorted(REGISTRY))}")
    if in_channels < 1 or upscale < 1:
        raise ParameterError(f"need >= 1 input channel and upscale, got {in_channels}, {upscale}")
    if not 1 <= width <= 256:
        raise ParameterError(f"width must be 1..256, got {width}")
    return REGISTRY[name](in_channels, upscale, width)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
