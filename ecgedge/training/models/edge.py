"""Edge-efficient architectures: few parameters and operations, for a CPU box or a Jetson."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import ECGModel
from .blocks import conv_bn


def _divisible(v: float, divisor: int = 8) -> int:
    return max(divisor, int(v + divisor / 2) // divisor * divisor)


class SqueezeExcite1d(nn.Module):
    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        squeeze = _divisible(channels / reduction)
        self.fc1 = nn.Conv1d(channels, squeeze, 1)
        self.fc2 = nn.Conv1d(squeeze, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.fc2(F.relu(self.fc1(x.mean(-1, keepdim=True))))
        return x * F.hardsigmoid(s)


class InvertedResidual1d(nn.Module):
    """MobileNetV3 block: 1-tap expand, depthwise k-tap (strided), squeeze-excitation, 1-tap project."""

    def __init__(self, cin: int, expand: float, cout: int, kernel: int, stride: int, se: bool,
                 act: type[nn.Module]) -> None:
        super().__init__()
        hidden = _divisible(cin * expand)
        layers: list[nn.Module] = []
        if hidden != cin:
            layers.append(conv_bn(cin, hidden, 1, act=act))
        layers.append(conv_bn(hidden, hidden, kernel, stride, groups=hidden, act=act))
        if se:
            layers.append(SqueezeExcite1d(hidden))
        layers.append(conv_bn(hidden, cout, 1, act=None))
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x) if self.residual else self.body(x)


class MobileNet1d(ECGModel):
    """MobileNetV3-style 1D network for the edge: depthwise-separable inverted residual blocks with
    squeeze-excitation and hard-swish; ``width`` multiplies every channel count (default < 0.5 M parameters)."""

    _input_paths = ("stem.0",)
    # (expand, out channels, kernel, stride, squeeze-excite, hard-swish)
    CONFIG = (
        (1, 16, 5, 2, True, False),
        (4, 24, 5, 2, False, False),
        (3, 24, 5, 1, False, False),
        (4, 40, 7, 2, True, True),
        (3, 40, 7, 1, True, True),
        (3, 48, 7, 1, True, True),
        (4, 64, 7, 2, True, True),
        (4, 64, 7, 1, True, True),
    )

    def __init__(self, leads: int, classes: int, width: float = 1.0, last: int = 256, dropout: float = 0.2) -> None:
        super().__init__(leads, classes, dropout)
        stem = _divisible(16 * width)
        self.stem = conv_bn(leads, stem, 7, stride=2, act=nn.Hardswish)
        blocks = []
        cin = stem
        for e, c, k, s, se, hs in self.CONFIG:
            cout = _divisible(c * width)
            blocks.append(InvertedResidual1d(cin, e, cout, k, s, se, nn.Hardswish if hs else nn.ReLU))
            cin = cout
        self.blocks = nn.Sequential(*blocks)
        last = _divisible(last * max(1.0, width))
        self.last = conv_bn(cin, last, 1, act=nn.Hardswish)
        self._finish(last)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.last(self.blocks(self.stem(x))).mean(-1)

    def _body_groups(self):
        b = list(self.blocks)
        return [[self.stem, *b[:2]], b[2:5], b[5:], [self.last]]
