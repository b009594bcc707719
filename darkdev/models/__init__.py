"""Networks (torch only): SGN, MCN (RMCN/DMCN), BigNets, and the registry."""

from torch import nn

from darkdev.models.registry import PAPER_WIDTH, REGISTRY, build_network, parameter_count
from darkdev.models.sgn import STRIDE

__all__ = ["REGISTRY", "STRIDE", "build_model", "build_network", "parameter_count"]


def build_model(name: str, cfa_kind: str = "bayer", width: int = PAPER_WIDTH) -> nn.Module:
    """build_network for the packed raw of a CFA kind (the sensor's packing decides the shape)."""
    from darkdev.cfa import network_shape

    return build_network(name, *network_shape(cfa_kind), width)
