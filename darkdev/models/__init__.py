"""Networks (torch only): SGN, MCN (RMCN/DMCN), BigNets, and the registry."""

from darkdev.models.registry import REGISTRY, build_model, parameter_count
from darkdev.models.sgn import STRIDE

__all__ = ["REGISTRY", "STRIDE", "build_model", "parameter_count"]
