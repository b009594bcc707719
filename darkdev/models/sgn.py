"""Single-granulation network (SGN): the U-Net of SID (SPEC.md, Sec. 3.2).

Nine blocks of two 3x3 convolutions with LeakyReLU(0.2); widths w, 2w, 4w, 8w, 16w down
(2x2 max-pool between), 8w, 4w, 2w, w up (2x2 transposed conv + skip concatenation); a 1x1
conv to 3*s*s channels (the raw output), pixel-shuffled by s to a full-resolution sRGB image.

forward() also accepts partner features for multi-granulation fusion: 'sum' adds them to each
block output (RMCN); 'concat' appends them (DMCN), in which case the widened tensors enter the
next convolution through the extra kernels held by a DenseExtras module. Because
conv(cat(a, b)) = conv_a(a) + conv_b(b), a network that shares an SGN's weights (SGN-1') keeps
the shared kernels for its own channels and owns only the kernels for the appended ones.
"""

from __future__ import annotations

from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

BLOCKS = 9
DEPTH = 4  # max-pools: packed input sides must be multiples of 2**DEPTH
STRIDE = 2**DEPTH


def block_widths(width: int) -> list[int]:
    return [
        width,
        2 * width,
        4 * width,
        8 * width,
        16 * width,
        8 * width,
        4 * width,
        2 * width,
        width,
    ]


def skip_source(block: int) -> int:
    """Encoder block whose output is concatenated into decoder block `block` (5..8)."""
    return 8 - block


def leaky(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.2)


def conv3x3(in_channels: int, out_channels: int, bias: bool = True) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=bias)


class ConvBlock(nn.Module):
    """`convs_per_block` 3x3 convolutions; 'plain', 'residual' or 'dense' wiring (BigNets)."""

    def __init__(
        self, in_channels: int, out_channels: int, convs_per_block: int = 2, wiring: str = "plain"
    ) -> None:
        super().__init__()
        self.wiring = wiring
        self.first = conv3x3(in_channels, out_channels)
        rest = []
        for index in range(1, convs_per_block):
            # Dense wiring: conv k sees the block's first output and every later one concatenated.
            rest_in = out_channels * index if wiring == "dense" else out_channels
            rest.append(conv3x3(rest_in, out_channels))
        self.rest = nn.ModuleList(rest)

    def forward(self, entered: torch.Tensor) -> torch.Tensor:
        """entered: the first convolution's pre-activation output (extras already added)."""
        h = leaky(entered)
        outputs = [h]
        for index, conv in enumerate(self.rest):
            if self.wiring == "dense":
                h = leaky(conv(torch.cat(outputs, 1)))
            elif self.wiring == "residual" and index % 2 == 1:
                h = leaky(conv(h)) + outputs[-2]  # identity around each pair of convolutions
            else:
                h = leaky(conv(h))
            outputs.append(h)
        return h


class DenseExtras(nn.Module):
    """Kernels for channels appended by DMCN's concatenation fusion (none of them have bias).

    extra_input_channels: channels appended to the network input; multiplier k: the partner
    features appended at block l have k * width_l channels.
    """

    def __init__(self, width: int, extra_input_channels: int, multiplier: int, out_channels: int):
        super().__init__()
        widths = block_widths(width)
        self.input = conv3x3(extra_input_channels, width, bias=False)
        entries: list[nn.Module] = []
        for block in range(1, BLOCKS):
            if block <= DEPTH:
                entries.append(conv3x3(multiplier * widths[block - 1], widths[block], bias=False))
            else:
                entries.append(
                    nn.ConvTranspose2d(
                        multiplier * widths[block - 1], widths[block], 2, 2, bias=False
                    )
                )
        self.enter = nn.ModuleList(entries)  # entering blocks 1..8 from the previous block
        self.skip = nn.ModuleList(
            conv3x3(multiplier * widths[skip_source(block)], widths[block], bias=False)
            for block in range(DEPTH + 1, BLOCKS)
        )
        self.head = nn.Conv2d(multiplier * width, out_channels, 1, bias=False)


class SGN(nn.Module):
    def __init__(
        self,
        in_channels: int,
        scale: int,
        width: int = 32,
        convs_per_block: int = 2,
        wiring: str = "plain",
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.scale = scale
        self.width = width
        widths = block_widths(width)
        self.raw_channels = 3 * scale * scale
        blocks, ups = [], []
        for block in range(BLOCKS):
            if block == 0:
                block_in = in_channels
            elif block <= DEPTH:
                block_in = widths[block - 1]
            else:
                ups.append(nn.ConvTranspose2d(widths[block - 1], widths[block], 2, 2))
                block_in = widths[block] + widths[skip_source(block)]
            blocks.append(ConvBlock(block_in, widths[block], convs_per_block, wiring))
        self.blocks = nn.ModuleList(blocks)
        self.ups = nn.ModuleList(ups)
        self.head = nn.Conv2d(width, self.raw_channels, 1)

    def _block(self, index: int) -> ConvBlock:
        return cast(ConvBlock, self.blocks[index])

    def forward(
        self,
        x: torch.Tensor,
        partners: list[torch.Tensor] | None = None,
        fusion: str = "none",
        extras: DenseExtras | None = None,
        x_extra: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """x: (N, C, H, W), H and W multiples of 16 -> (raw output (N, 3s^2, H, W), fused features).

        partners: nine tensors fused into the block outputs; for 'concat' they are the appended
        channels and `extras` must hold their kernels; x_extra: channels appended to the input.
        Returned features are the fused block outputs (for 'concat': own and partner concatenated).
        """
        own_parts: list[torch.Tensor] = []  # fused tensor (sum) or own part (concat)
        extra_parts: list[torch.Tensor | None] = []

        def fuse(block: int, own: torch.Tensor) -> None:
            partner = partners[block] if partners is not None else None
            if partner is not None and fusion == "sum":
                own = own + partner
                partner = None
            own_parts.append(own)
            extra_parts.append(partner if fusion == "concat" else None)

        def dense() -> DenseExtras:
            if extras is None:
                raise ValueError("'concat' fusion needs the DenseExtras kernels")
            return extras

        entered = self._block(0).first(x)
        if x_extra is not None:
            entered = entered + dense().input(x_extra)
        fuse(0, self.blocks[0](entered))
        for block in range(1, BLOCKS):
            extra_in = extra_parts[block - 1]
            if block <= DEPTH:
                entered = self._block(block).first(F.max_pool2d(own_parts[block - 1], 2))
                if extra_in is not None:
                    entered = entered + dense().enter[block - 1](F.max_pool2d(extra_in, 2))
            else:
                upsampled = self.ups[block - DEPTH - 1](own_parts[block - 1])
                if extra_in is not None:
                    upsampled = upsampled + dense().enter[block - 1](extra_in)
                source = skip_source(block)
                entered = self._block(block).first(torch.cat([upsampled, own_parts[source]], 1))
                if extra_parts[source] is not None:
                    entered = entered + dense().skip[block - DEPTH - 1](extra_parts[source])
            fuse(block, self.blocks[block](entered))
        raw_output = self.head(own_parts[-1])
        if extra_parts[-1] is not None:
            raw_output = raw_output + dense().head(extra_parts[-1])
        features = [
            own if extra is None else torch.cat([own, extra], 1)
            for own, extra in zip(own_parts, extra_parts, strict=True)
        ]
        return raw_output, features

    def to_image(self, raw_output: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(raw_output, self.scale)
