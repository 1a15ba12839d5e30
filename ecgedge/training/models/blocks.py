"""Layers more than one architecture family is built from: conv + norm, pooling, residual blocks and trunks,
self-attention and transformer layers."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def _odd(n: float, minimum: int = 1) -> int:
    """The nearest odd integer >= minimum (odd kernels pad symmetrically: 'same' length at stride 1)."""
    k = max(minimum, int(round(n)))
    return k if k % 2 else k + 1


def global_pool(x: torch.Tensor, mode: str = "avg") -> torch.Tensor:
    """``[B, C, T] -> [B, C]`` (``avg``, ``max``) or ``[B, 2C]`` (``avgmax``: average and max concatenated)."""
    if mode == "avg":
        return x.mean(-1)
    if mode == "max":
        return x.amax(-1)
    if mode == "avgmax":
        return torch.cat([x.mean(-1), x.amax(-1)], dim=1)
    raise ValueError(f"unknown pooling {mode!r}")


def _pool_width(channels: int, mode: str) -> int:
    return 2 * channels if mode == "avgmax" else channels


def conv_bn(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, act: type[nn.Module] | None = nn.ReLU,
            zero_init: bool = False) -> nn.Sequential:
    """Conv1d (odd kernel, 'same' padding, no bias) + BatchNorm1d (+ activation)."""
    bn = nn.BatchNorm1d(cout)
    bn._zero_init = zero_init  # type: ignore[attr-defined]
    layers: list[nn.Module] = [nn.Conv1d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False), bn]
    if act is not None:
        layers.append(act())
    return nn.Sequential(*layers)


class MaxPool(nn.Module):
    """Max-pooling over time, computed as a 2D pool of height 1.

    ``nn.MaxPool1d`` is avoided on purpose: on CPU, ``aten.max_pool1d`` takes a fast path that reads the
    length as a Python int, and ``torch.export`` then specialises the time axis to the example's length
    (seen with torch 2.13; the ONNX exporter falls back to the fixed length without an error).
    """

    def __init__(self, kernel: int, stride: int | None = None, padding: int = 0) -> None:
        super().__init__()
        self.kernel, self.stride, self.padding = kernel, stride or kernel, padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.max_pool2d(x.unsqueeze(2), (1, self.kernel), (1, self.stride), (0, self.padding))
        return y.squeeze(2)

    def extra_repr(self) -> str:
        return f"kernel={self.kernel}, stride={self.stride}, padding={self.padding}"


class BasicBlock1d(nn.Module):
    """ResNet basic block: two k-tap convolutions; projection shortcut when the shape changes."""

    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int = 1, kernel: int = 3) -> None:
        super().__init__()
        cout = planes * self.expansion
        self.body = nn.Sequential(conv_bn(cin, planes, kernel, stride), conv_bn(planes, cout, kernel, act=None,
                                                                                  zero_init=True))
        # a 1-tap stride-s conv gives the same length, floor((T - 1) / s) + 1, as the k-tap one with k // 2 padding
        self.shortcut = conv_bn(cin, cout, 1, stride, act=None) if stride != 1 or cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + self.shortcut(x))


class Bottleneck1d(nn.Module):
    """ResNet bottleneck block: 1-tap reduce, k-tap (strided), 1-tap expand (x4)."""

    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int = 1, kernel: int = 3) -> None:
        super().__init__()
        cout = planes * self.expansion
        self.body = nn.Sequential(conv_bn(cin, planes, 1), conv_bn(planes, planes, kernel, stride),
                                  conv_bn(planes, cout, 1, act=None, zero_init=True))
        self.shortcut = conv_bn(cin, cout, 1, stride, act=None) if stride != 1 or cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + self.shortcut(x))


class ResNetTrunk1d(nn.Module):
    """A 1D ResNet without its head: stem (k-tap conv stride 2, max-pool stride 2), then stages of blocks.

    Stage ``i`` has ``width * 2**i`` planes and halves the length (except the first): the output is at
    1/32 of the input rate with four stages.
    """

    def __init__(self, leads: int, block: type[BasicBlock1d | Bottleneck1d], layers: Sequence[int], width: int = 64,
                 stem_kernel: int = 15, kernel: int = 3) -> None:
        super().__init__()
        stem_kernel = _odd(stem_kernel)
        self.stem = nn.Sequential(nn.Conv1d(leads, width, stem_kernel, 2, stem_kernel // 2, bias=False),
                                  nn.BatchNorm1d(width), nn.ReLU(), MaxPool(3, 2, 1))
        chans = width
        stages = []
        for i, n in enumerate(layers):
            planes = width * 2**i
            blocks = []
            for j in range(n):
                blocks.append(block(chans, planes, 2 if i > 0 and j == 0 else 1, kernel))
                chans = planes * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.ModuleList(stages)
        self.out_channels = chans

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for stage in self.stages:
            x = stage(x)
        return x


class SelfAttention(nn.Module):
    """Multi-head self-attention over tokens ``[B, N, D]`` (explicit softmax(QK^T)V: exports with a dynamic N).

    Written out rather than ``nn.MultiheadAttention`` (whose eval fast path is a fused op): tokens are made
    contiguous before position codes are added, as elementwise ops on transposed tensors make torch.export
    guard on the token count in a form it cannot prove for a named time Dim.
    """

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not divisible by {heads} heads")
        self.heads, self.head_dim = heads, dim // heads
        self.scale = self.head_dim**-0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # No dropout on the attention weights: in eval it is a clone whose stride logic makes torch.export
        # guard on N > 1, which it cannot prove from the time axis' range (named Dims then fail).
        q, k, v = self.qkv(x).unflatten(-1, (3, self.heads, self.head_dim)).permute(2, 0, 3, 1, 4).unbind(0)
        attn = torch.softmax((q * self.scale) @ k.transpose(-2, -1), dim=-1)
        return self.proj((attn @ v).transpose(1, 2).contiguous().flatten(2))


class TransformerLayer(nn.Module):
    """Pre-norm transformer encoder layer: x + MHSA(LN(x)), then x + MLP(LN(x)) with GELU."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 2.0, dropout: float = 0.1) -> None:
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.norm1 = nn.LayerNorm(dim)
        self.attn = SelfAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, dim))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop(self.attn(self.norm1(x)))
        return x + self.drop(self.mlp(self.norm2(x)))


class SinusoidalPosition(nn.Module):
    """Adds the sinusoidal position code of Vaswani et al., computed for the actual length (no fixed table)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
        self.register_buffer("freq", freq, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, N, D]
        pos = torch.arange(x.shape[1], device=x.device, dtype=torch.float32)
        ang = pos[:, None] * self.freq[None, :]
        pe = torch.stack([ang.sin(), ang.cos()], dim=-1).flatten(1)
        return x + pe.to(x.dtype)
