"""Growing a trained single network (LTS) into an RMCN without back connection.

Every SGN of the RMCN starts as a copy of the LTS's U-Net, and the last convolution of each
block of SGN-2..n starts at zero (weights and bias), so those SGNs add nothing to the fused
features at first: F_i^l = 0 + F_{i-1}^l = F_1^l, and every output Y_i equals the LTS's output.
Training then only has to learn what the extra SGNs add (as zero-initialised residual branches
do), instead of starting 3x the parameters from noise on a machine without a GPU.

Only sum fusion without back connection preserves the function exactly: with a back connection
SGN-1' (SGN-1's own weights) receives F_2 + ... + F_n on top of its own features, so the copy
would no longer compute the LTS. Growth refuses the other architectures rather than pretend.
"""

from __future__ import annotations

from typing import cast

import torch

from darkdev.errors import ParameterError
from darkdev.models.mcn import MCN, SingleNetwork
from darkdev.models.sgn import SGN, ConvBlock


def can_grow(network: torch.nn.Module) -> bool:
    """Whether grow_from_single preserves the function for this network."""
    return isinstance(network, MCN) and network.fusion == "sum" and not network.back_connection


def grow_from_single(network: torch.nn.Module, single: torch.nn.Module) -> None:
    """Start `network` (an RMCN without back connection) so that it computes `single` (an LTS).

    Raises ParameterError if the network cannot grow from it or their SGNs differ in shape.
    """
    if not can_grow(network):
        raise ParameterError(
            "only an RMCN without back connection (rmcn-N-nobc) can start from an LTS: "
            "with a back connection or concatenation the copy would not compute the LTS"
        )
    unet = single.sgn if isinstance(single, SingleNetwork) else None
    if unet is None or not all(
        cast(ConvBlock, b).wiring == "plain" and len(cast(ConvBlock, b).rest) == 1
        for b in unet.blocks
    ):
        raise ParameterError("growth needs an LTS (one U-Net of two convolutions a block)")
    mcn = cast(MCN, network)
    source = unet.state_dict()
    with torch.no_grad():
        for index, sgn in enumerate(mcn.sgns):
            own = sgn.state_dict()
            if own.keys() != source.keys() or any(own[k].shape != source[k].shape for k in source):
                raise ParameterError(
                    f"the LTS's U-Net (width {unet.width}) does not match SGN-{index + 1} "
                    f"of the RMCN (width {cast(SGN, sgn).width}): grow at the same width"
                )
            sgn.load_state_dict(source)
            if index == 0:
                continue
            for block in cast(SGN, sgn).blocks:
                last = cast(torch.nn.Conv2d, cast(ConvBlock, block).rest[-1])
                torch.nn.init.zeros_(last.weight)
                torch.nn.init.zeros_(cast(torch.Tensor, last.bias))
