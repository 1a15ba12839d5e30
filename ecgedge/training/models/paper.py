"""The architectures of "Are ECGs enough?" (Marques & Oliveira 2025)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ...errors import EcgedgeError
from .base import ECGModel
from .blocks import (
    BasicBlock1d,
    Bottleneck1d,
    MaxPool,
    ResNetTrunk1d,
    SinusoidalPosition,
    TransformerLayer,
    _odd,
    _pool_width,
    conv_bn,
    global_pool,
)


class ResNet1d(ECGModel):
    """1D ResNet-18/34 (basic blocks) or -50 (bottleneck blocks); stem kernel 15."""

    _input_paths = ("trunk.stem.0",)

    def __init__(self, leads: int, classes: int, layers: Sequence[int] = (2, 2, 2, 2), bottleneck: bool = False,
                 width: int = 64, stem_kernel: int = 15, kernel: int = 3, pool: str = "avg",
                 dropout: float = 0.2) -> None:
        super().__init__(leads, classes, dropout)
        self.pool = pool
        self.trunk = ResNetTrunk1d(leads, Bottleneck1d if bottleneck else BasicBlock1d, layers, width, stem_kernel,
                                   kernel)
        self._finish(_pool_width(self.trunk.out_channels, pool))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return global_pool(self.trunk(x), self.pool)

    def _body_groups(self):
        s = self.trunk.stages
        return [[self.trunk.stem], [s[0], s[1]], [s[2]], [s[3]]]


class AttResNet1d(ECGModel):
    """ResNet-18-1D, then multi-head self-attention over the time axis, then average pooling (AttResNet/HSMnet)."""

    _input_paths = ("trunk.stem.0",)

    def __init__(self, leads: int, classes: int, width: int = 64, heads: int = 8, attn_layers: int = 1,
                 stem_kernel: int = 15, kernel: int = 3, dropout: float = 0.2) -> None:
        super().__init__(leads, classes, dropout)
        self.trunk = ResNetTrunk1d(leads, BasicBlock1d, (2, 2, 2, 2), width, stem_kernel, kernel)
        d = self.trunk.out_channels
        self.position = SinusoidalPosition(d)
        self.attention = nn.Sequential(*[TransformerLayer(d, heads, mlp_ratio=2.0, dropout=0.1)
                                         for _ in range(attn_layers)])
        self.norm = nn.LayerNorm(d)
        self._finish(d)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        h = self.attention(self.position(self.trunk(x).transpose(1, 2).contiguous()))
        return self.norm(h).mean(1)

    def _body_groups(self):
        s = self.trunk.stages
        return [[self.trunk.stem, s[0]], [s[1]], [s[2]], [s[3]], [self.attention, self.norm]]


class LSTMNet(ECGModel):
    """Bidirectional LSTM over the samples; a strided conv front end shortens the sequence first.

    ``downsample``: 1 (the LSTM reads the raw leads), 2 or 4 (one or two stride-2 convolutions). The
    outputs over time are average- and max-pooled.
    """

    def __init__(self, leads: int, classes: int, hidden: int = 128, layers: int = 2, downsample: int = 4,
                 channels: int = 64, dropout: float = 0.2) -> None:
        super().__init__(leads, classes, dropout)
        if downsample not in (1, 2, 4):
            raise EcgedgeError(f"lstm: downsample={downsample} is not supported", fix="use 1, 2 or 4")
        convs = []
        cin = leads
        for k in ((7, 5) if downsample == 4 else (7,) if downsample == 2 else ()):
            convs.append(conv_bn(cin, channels, k, stride=2))
            cin = channels
        self.frontend = nn.Sequential(*convs)
        self.rnns = nn.ModuleList(nn.LSTM(cin if i == 0 else 2 * hidden, hidden, batch_first=True, bidirectional=True)
                                  for i in range(layers))
        self.rnn_drop = nn.Dropout(0.1)
        self._input_paths = ("frontend.0.0",) if convs else ("rnns.0",)
        self._finish(4 * hidden)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        h = self.frontend(x).transpose(1, 2)
        for i, rnn in enumerate(self.rnns):
            h, _ = rnn(self.rnn_drop(h) if i else h)
        return global_pool(h.transpose(1, 2), "avgmax")

    def _body_groups(self):
        groups: list[list] = [[self.frontend]] if len(self.frontend) else []
        groups += [[rnn] for rnn in self.rnns]
        return groups


class CRNN1d(ECGModel):
    """ResNet-18-1D features (1/32 rate), then a bidirectional LSTM or GRU over time, average/max pooled."""

    _input_paths = ("trunk.stem.0",)

    def __init__(self, leads: int, classes: int, cell: str = "lstm", width: int = 64, hidden: int = 128,
                 stem_kernel: int = 15, kernel: int = 3, dropout: float = 0.2) -> None:
        super().__init__(leads, classes, dropout)
        self.trunk = ResNetTrunk1d(leads, BasicBlock1d, (2, 2, 2, 2), width, stem_kernel, kernel)
        rnn = {"lstm": nn.LSTM, "gru": nn.GRU}[cell]
        self.rnn = rnn(self.trunk.out_channels, hidden, batch_first=True, bidirectional=True)
        self._finish(4 * hidden)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        h, _ = self.rnn(self.trunk(x).transpose(1, 2))
        return global_pool(h.transpose(1, 2), "avgmax")

    def _body_groups(self):
        s = self.trunk.stages
        return [[self.trunk.stem, s[0]], [s[1]], [s[2], s[3]], [self.rnn]]


class TransformerECG(ECGModel):
    """Conv patch embedding (``patch`` samples a token, 100 ms by default), transformer encoder, mean pool."""

    _input_paths = ("embed",)

    def __init__(self, leads: int, classes: int, fs: float = 100.0, dim: int = 128, depth: int = 4, heads: int = 4,
                 mlp_ratio: float = 2.0, patch: int | None = None, dropout: float = 0.2) -> None:
        super().__init__(leads, classes, dropout)
        self.patch = int(patch or max(2, round(fs / 10)))
        self.min_length = max(64, 2 * self.patch)
        self.embed = nn.Conv1d(leads, dim, self.patch, self.patch)
        self.embed_norm = nn.LayerNorm(dim)
        self.position = SinusoidalPosition(dim)
        self.blocks = nn.ModuleList(TransformerLayer(dim, heads, mlp_ratio) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self._finish(dim)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        h = self.position(self.embed_norm(self.embed(x).transpose(1, 2).contiguous()))
        for blk in self.blocks:
            h = blk(h)
        return self.norm(h).mean(1)

    def _body_groups(self):
        half = (len(self.blocks) + 1) // 2
        return [[self.embed, self.embed_norm], list(self.blocks[:half]), [*self.blocks[half:], self.norm]]


class ResNetTransformer1d(ECGModel):
    """ResNet-1D trunk (three stages of ResNet-18: 1/16 rate), then transformer encoder layers, mean pool."""

    _input_paths = ("trunk.stem.0",)

    def __init__(self, leads: int, classes: int, width: int = 64, depth: int = 2, heads: int = 8,
                 mlp_ratio: float = 2.0, stem_kernel: int = 15, kernel: int = 3, dropout: float = 0.2) -> None:
        super().__init__(leads, classes, dropout)
        self.trunk = ResNetTrunk1d(leads, BasicBlock1d, (2, 2, 2), width, stem_kernel, kernel)
        d = self.trunk.out_channels
        self.position = SinusoidalPosition(d)
        self.blocks = nn.ModuleList(TransformerLayer(d, heads, mlp_ratio) for _ in range(depth))
        self.norm = nn.LayerNorm(d)
        self._finish(d)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        h = self.position(self.trunk(x).transpose(1, 2).contiguous())
        for blk in self.blocks:
            h = blk(h)
        return self.norm(h).mean(1)

    def _body_groups(self):
        s = self.trunk.stages
        half = (len(self.blocks) + 1) // 2
        return [[self.trunk.stem, s[0]], [s[1], s[2]], list(self.blocks[:half]), [*self.blocks[half:], self.norm]]


class VGG1d(ECGModel):
    """VGG-16-style: stacks of 3-tap conv + BN + ReLU, max-pooling by 2 over time after each stack."""

    _input_paths = ("stages.0.0.0",)

    def __init__(self, leads: int, classes: int, width: int = 32, config: Sequence[int] = (2, 2, 3, 3, 3),
                 hidden: int = 256, dropout: float = 0.2) -> None:
        super().__init__(leads, classes, dropout)
        stages = []
        cin = leads
        for i, n in enumerate(config):
            cout = width * 2 ** min(i, 3)
            layers = []
            for _ in range(n):
                layers.append(conv_bn(cin, cout, 3))
                cin = cout
            stages.append(nn.Sequential(*layers, MaxPool(2)))
        self.stages = nn.ModuleList(stages)
        self.min_length = max(64, 2 ** (len(config) + 1))
        self.mlp = nn.Sequential(nn.Linear(cin, hidden), nn.ReLU(), nn.Dropout(0.3))
        self._finish(hidden)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        for stage in self.stages:
            x = stage(x)
        return self.mlp(x.mean(-1))

    def _body_groups(self):
        s = list(self.stages)
        return [s[:2], s[2:3], s[3:4], [*s[4:], self.mlp]]


class AlexNet1d(ECGModel):
    """AlexNet in 1D: 11-tap stride-4 conv, 5-tap, three 3-tap; max-pooling; two fully connected layers."""

    _input_paths = ("convs.0.0",)

    def __init__(self, leads: int, classes: int, width: int = 64, hidden: int = 512, dropout: float = 0.2) -> None:
        super().__init__(leads, classes, dropout)
        w = width
        self.convs = nn.Sequential(
            conv_bn(leads, w, 11, stride=4), MaxPool(3, 2, 1),
            conv_bn(w, 3 * w, 5), MaxPool(3, 2, 1),
            conv_bn(3 * w, 6 * w, 3), conv_bn(6 * w, 4 * w, 3), conv_bn(4 * w, 4 * w, 3), MaxPool(3, 2, 1),
        )
        self.mlp = nn.Sequential(nn.Dropout(0.3), nn.Linear(4 * w, hidden), nn.ReLU(), nn.Dropout(0.3),
                                 nn.Linear(hidden, hidden), nn.ReLU())
        self._finish(hidden)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.convs(x).mean(-1))

    def _body_groups(self):
        c = list(self.convs)
        return [c[:4], c[4:], [self.mlp]]


class EEGNet(ECGModel):
    """EEGNet (Lawhern et al. 2018) for ECG: temporal conv (half a second), depthwise conv across the leads,
    separable conv; the final flatten is replaced by global pooling so any length works."""

    _input_paths = ("spatial.0",)

    def __init__(self, leads: int, classes: int, fs: float = 100.0, f1: int = 16, depth: int = 2, f2: int = 32,
                 drop: float = 0.25, dropout: float = 0.2) -> None:
        super().__init__(leads, classes, dropout)
        k1, k2 = _odd(fs / 2, 3), _odd(fs / 8, 3)  # 64 and 16 taps at 128 Hz in the paper
        self.temporal = nn.Sequential(nn.Conv2d(1, f1, (1, k1), padding=(0, k1 // 2), bias=False), nn.BatchNorm2d(f1))
        self.spatial = nn.Sequential(nn.Conv2d(f1, f1 * depth, (leads, 1), groups=f1, bias=False),
                                     nn.BatchNorm2d(f1 * depth), nn.ELU(), nn.AvgPool2d((1, 4)), nn.Dropout(drop))
        self.separable = nn.Sequential(
            nn.Conv2d(f1 * depth, f1 * depth, (1, k2), padding=(0, k2 // 2), groups=f1 * depth, bias=False),
            nn.Conv2d(f1 * depth, f2, 1, bias=False), nn.BatchNorm2d(f2), nn.ELU(), nn.AvgPool2d((1, 8)),
            nn.Dropout(drop))
        self._finish(2 * f2)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        h = self.separable(self.spatial(self.temporal(x.unsqueeze(1))))  # [B, F2, 1, T/32]
        return global_pool(h.squeeze(2), "avgmax")

    def _body_groups(self):
        return [[self.temporal], [self.spatial], [self.separable]]
