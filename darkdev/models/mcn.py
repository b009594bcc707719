"""Multi-granulation cooperative networks (SPEC.md, Eq. 1-11): LTS, RMCN-n, DMCN-n, BigNets.

Every network maps a packed raw (N, C, H, W) to sRGB (N, 3, H*s, W*s). forward_all() returns
the supervised outputs, the last of them being the network's output:
  with back connection:    [Y_2, ..., Y_n, Y'_1]
  without back connection: [Y_1, ..., Y_n]
"""

from __future__ import annotations

from typing import cast

import torch
from torch import nn

from darkdev.models.sgn import SGN, DenseExtras


class SingleNetwork(nn.Module):
    """One U-Net: LTS (SID) or a BigNet variant."""

    def __init__(
        self,
        in_channels: int,
        scale: int,
        width: int,
        convs_per_block: int = 2,
        wiring: str = "plain",
    ) -> None:
        super().__init__()
        self.sgn = SGN(in_channels, scale, width, convs_per_block, wiring)

    def forward_all(self, x: torch.Tensor) -> list[torch.Tensor]:
        raw_output, _ = self.sgn(x)
        return [self.sgn.to_image(raw_output)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_all(x)[-1]


class MCN(nn.Module):
    """n cooperating SGNs; fusion 'sum' (RMCN, Eq. 10) or 'concat' (DMCN, Eq. 11).

    Cooperative connection, i = 2..n: x_i = f(x, R_{i-1}), F_i^l = f(F_i^l, F_{i-1}^l).
    Back connection: SGN-1' (SGN-1's weights) runs on x'_1 = f(x, R_2..R_n) with
    F'_1^l = f(F'_1^l, F_2^l, ..., F_n^l). For 'concat' the fused F_n^l already holds every
    SGN's own features once (F_i = [own_i, F_{i-1}]), so it is what SGN-1' receives: F_2..F_n
    with each feature map entering once.
    """

    def __init__(
        self,
        in_channels: int,
        scale: int,
        width: int,
        granulations: int,
        fusion: str = "sum",
        back_connection: bool = True,
    ) -> None:
        super().__init__()
        if granulations < 2:
            raise ValueError(f"an MCN needs at least 2 SGNs, got {granulations}")
        if fusion not in ("sum", "concat"):
            raise ValueError(f"fusion must be 'sum' or 'concat', got {fusion!r}")
        self.fusion = fusion
        self.back_connection = back_connection
        self.granulations = granulations
        sgns = [SGN(in_channels, scale, width) for _ in range(granulations)]
        raw_channels = sgns[0].raw_channels
        self.sgns = nn.ModuleList(sgns)
        # R_i: raw output (3 s^2 channels) -> input channels, so it can feed another SGN.
        needed = granulations if back_connection else granulations - 1
        self.raw_output_convs = nn.ModuleList(
            nn.Conv2d(raw_channels, in_channels, 1) for _ in range(needed)
        )
        if fusion == "concat":
            self.extras = nn.ModuleList(
                DenseExtras(width, in_channels, index, raw_channels)
                for index in range(1, granulations)
            )
            self.back_extras = (
                DenseExtras(width, in_channels * (granulations - 1), granulations, raw_channels)
                if back_connection
                else None
            )

    def forward_all(self, x: torch.Tensor) -> list[torch.Tensor]:
        first = cast(SGN, self.sgns[0])
        raw_output, features = first(x)
        raw_outputs = [raw_output]
        fused = [features]
        for index in range(1, self.granulations):
            reprojected = self.raw_output_convs[index - 1](raw_outputs[-1])
            if self.fusion == "sum":
                raw_output, features = self.sgns[index](x + reprojected, fused[-1], "sum")
            else:
                raw_output, features = self.sgns[index](
                    x, fused[-1], "concat", self.extras[index - 1], reprojected
                )
            raw_outputs.append(raw_output)
            fused.append(features)
        images = [first.to_image(output) for output in raw_outputs]
        if not self.back_connection:
            return images
        reprojected = [
            self.raw_output_convs[index](raw_outputs[index])
            for index in range(1, self.granulations)
        ]
        if self.fusion == "sum":
            partners = [sum(f[block] for f in fused[1:]) for block in range(len(fused[0]))]
            back_output, _ = first(x + sum(reprojected), partners, "sum")
        else:
            back_output, _ = first(
                x, fused[-1], "concat", self.back_extras, torch.cat(reprojected, 1)
            )
        return images[1:] + [first.to_image(back_output)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_all(x)[-1]
