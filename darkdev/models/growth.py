"""Growing a trained network: an LTS into an RMCN without back connection, and any LTS or RMCN
into the same architecture at a larger width.

Every SGN of the RMCN starts as a copy of the LTS's U-Net, and the last convolution of each
block of SGN-2..n starts at zero (weights and bias), so those SGNs add nothing to the fused
features at first: F_i^l = 0 + F_{i-1}^l = F_1^l, and every output Y_i equals the LTS's output.
Training then only has to learn what the extra SGNs add (as zero-initialised residual branches
do), instead of starting 3x the parameters from noise on a machine without a GPU.

Only sum fusion without back connection preserves the function exactly: with a back connection
SGN-1' (SGN-1's own weights) receives F_2 + ... + F_n on top of its own features, so the copy
would no longer compute the LTS. Growth refuses the other architectures rather than pretend.

Widening (LTS and RMCN, with or without back connection) keeps every trained channel first in
each layer and gives the new channels their fresh random incoming weights and zero outgoing
weights into the trained channels and the head: the trained channels never see the new ones at
first, so the wider network computes the narrower one exactly, and the new channels start
contributing after the first optimiser step (gradients reach their outgoing weights at once).
This lets a GPU session train the paper's width 32 from a CPU-trained width-16 network instead
of from noise.
"""

from __future__ import annotations

from typing import cast

import torch

from darkdev.errors import ParameterError
from darkdev.models.mcn import MCN, SingleNetwork
from darkdev.models.sgn import BLOCKS, DEPTH, SGN, ConvBlock, block_widths, skip_source

Segments = list[tuple[int, int]]  # a tensor's channel groups: (trained channels, wide channels)


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


def can_widen(network: torch.nn.Module) -> bool:
    """Whether widen_from preserves the function for this architecture (not DMCN's concat)."""
    return isinstance(network, SingleNetwork) or (
        isinstance(network, MCN) and network.fusion == "sum"
    )


def _sgns(network: torch.nn.Module) -> list[SGN]:
    if isinstance(network, SingleNetwork):
        return [network.sgn]
    return [cast(SGN, sgn) for sgn in cast(MCN, network).sgns]


def _layout(sgn: SGN) -> tuple[int, int, int, str]:
    """What an SGN's shape is apart from its width: input channels, scale, block convolutions."""
    first = cast(ConvBlock, sgn.blocks[0])
    return sgn.in_channels, sgn.scale, len(first.rest), first.wiring


def widen_from(network: torch.nn.Module, narrow: torch.nn.Module) -> None:
    """Start `network` so that it computes `narrow`: the same architecture at a smaller width.

    Raises ParameterError if the architectures differ, the network is not wider, or it is a DMCN.
    """
    if not can_widen(network) or type(network) is not type(narrow):
        raise ParameterError("widening needs an LTS or RMCN and a narrower one of the same kind")
    wide_sgns, narrow_sgns = _sgns(network), _sgns(narrow)
    same_shape = [_layout(sgn) for sgn in wide_sgns] == [_layout(sgn) for sgn in narrow_sgns]
    if isinstance(network, MCN):
        narrow_mcn = cast(MCN, narrow)
        same_shape = same_shape and (network.back_connection, network.fusion) == (
            narrow_mcn.back_connection,
            narrow_mcn.fusion,
        )
    if not same_shape:
        raise ParameterError("widening needs the same architecture, input channels and scale")
    if wide_sgns[0].width < narrow_sgns[0].width:
        raise ParameterError(
            f"cannot widen width {narrow_sgns[0].width} into the narrower {wide_sgns[0].width}"
        )
    with torch.no_grad():
        for wide_sgn, narrow_sgn in zip(wide_sgns, narrow_sgns, strict=True):
            _widen_sgn(wide_sgn, narrow_sgn)
        if isinstance(network, MCN):  # raw output -> input channels: shapes do not depend on width
            network.raw_output_convs.load_state_dict(
                cast(MCN, narrow).raw_output_convs.state_dict()
            )


def _widen_sgn(wide: SGN, narrow: SGN) -> None:
    new, old = block_widths(wide.width), block_widths(narrow.width)
    channels = list(zip(old, new, strict=True))
    for block in range(BLOCKS):
        if block == 0:
            entering: Segments = [(wide.in_channels, wide.in_channels)]
        elif block <= DEPTH:
            entering = [channels[block - 1]]
        else:
            entering = [channels[block], channels[skip_source(block)]]
            ups = block - DEPTH - 1
            _copy_conv(wide.ups[ups], narrow.ups[ups], [channels[block - 1]], old[block])
        wide_block, narrow_block = cast(ConvBlock, wide.blocks[block]), narrow.blocks[block]
        _copy_conv(wide_block.first, cast(ConvBlock, narrow_block).first, entering, old[block])
        for index, conv in enumerate(wide_block.rest):
            inside = [channels[block]] * (index + 1 if wide_block.wiring == "dense" else 1)
            _copy_conv(conv, cast(ConvBlock, narrow_block).rest[index], inside, old[block])
    _copy_conv(wide.head, narrow.head, [channels[0]], narrow.raw_channels)


def _copy_conv(
    wide: torch.nn.Module, narrow: torch.nn.Module, entering: Segments, outputs: int
) -> None:
    """Trained kernels into the first channels of each segment; new inputs to trained outputs 0."""
    wide_weight, narrow_weight = cast(torch.Tensor, wide.weight), cast(torch.Tensor, narrow.weight)
    transposed = isinstance(wide, torch.nn.ConvTranspose2d)  # weight is (in, out, kh, kw)
    weight = wide_weight.transpose(0, 1) if transposed else wide_weight
    trained = narrow_weight.transpose(0, 1) if transposed else narrow_weight
    weight[:outputs].zero_()
    start, narrow_start = 0, 0
    for trained_channels, wide_channels in entering:
        weight[:outputs, start : start + trained_channels] = trained[
            :, narrow_start : narrow_start + trained_channels
        ]
        start += wide_channels
        narrow_start += trained_channels
    if wide.bias is not None:
        cast(torch.Tensor, wide.bias)[:outputs] = cast(torch.Tensor, narrow.bias)
