"""The PTB-XL benchmark leaders (Strodthoff et al. 2021)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .base import ECGModel
from .blocks import MaxPool, _odd, _pool_width, conv_bn, global_pool


class XResBlock1d(nn.Module):
    """Bag-of-tricks (He et al. 2019) bottleneck: stride in the k-tap conv, average-pool shortcut (ResNet-D)."""

    def __init__(self, cin: int, planes: int, expansion: int, stride: int, kernel: int) -> None:
        super().__init__()
        cout = planes * expansion
        if expansion == 1:
            convs = [conv_bn(cin, planes, kernel, stride), conv_bn(planes, cout, kernel, act=None, zero_init=True)]
        else:
            convs = [conv_bn(cin, planes, 1), conv_bn(planes, planes, kernel, stride),
                     conv_bn(planes, cout, 1, act=None, zero_init=True)]
        self.convs = nn.Sequential(*convs)
        # 3-tap average pool with padding 1: the same output length as the strided k-tap conv for every T
        self.pool = nn.AvgPool1d(3, stride, 1, count_include_pad=False) if stride != 1 else nn.Identity()
        self.idconv = conv_bn(cin, cout, 1, act=None) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.convs(x) + self.idconv(self.pool(x)))


class XResNet1d(ECGModel):
    """xresnet1d (fastai's bag-of-tricks ResNet in 1D, as in the PTB-XL benchmark): three-conv stem,
    5-tap convolutions, bottleneck blocks (x4), average-pool shortcuts, concat pooling.

    ``width`` scales the stage widths: 1.0 is the benchmark's size (64..512 planes, 2048 features); the
    default 0.25 trains on a CPU.
    """

    _input_paths = ("stem.0.0",)

    def __init__(self, leads: int, classes: int, layers: Sequence[int] = (3, 4, 6, 3), expansion: int = 4,
                 width: float = 0.25, kernel: int = 5, stem: Sequence[int] = (32, 32, 64), pool: str = "avgmax",
                 dropout: float = 0.3) -> None:
        super().__init__(leads, classes, dropout)
        stem_w = [max(8, int(c * min(1.0, 2 * width))) for c in stem]
        self.stem = nn.Sequential(*[conv_bn(leads if i == 0 else stem_w[i - 1], c, kernel, 2 if i == 0 else 1)
                                    for i, c in enumerate(stem_w)], MaxPool(3, 2, 1))
        planes = [max(8, int(p * width)) for p in (64, 128, 256, 512)]
        cin = stem_w[-1]
        stages = []
        for i, (n, p) in enumerate(zip(layers, planes)):
            blocks = []
            for j in range(n):
                blocks.append(XResBlock1d(cin, p, expansion, 2 if i > 0 and j == 0 else 1, kernel))
                cin = p * expansion
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.ModuleList(stages)
        self.pool = pool
        self._finish(_pool_width(cin, pool))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for stage in self.stages:
            x = stage(x)
        return global_pool(x, self.pool)

    def _body_groups(self):
        return [[self.stem], *[[s] for s in self.stages]]


class InceptionBlock1d(nn.Module):
    """InceptionTime module: 1-tap bottleneck, three long convolutions in parallel, max-pool branch; BN, ReLU."""

    def __init__(self, cin: int, filters: int, kernels: Sequence[int], bottleneck: int) -> None:
        super().__init__()
        self.bottleneck = nn.Conv1d(cin, bottleneck, 1, bias=False)
        self.convs = nn.ModuleList(nn.Conv1d(bottleneck, filters, k, padding=k // 2, bias=False) for k in kernels)
        self.pool_branch = nn.Sequential(MaxPool(3, 1, 1), nn.Conv1d(cin, filters, 1, bias=False))
        self.bn = nn.BatchNorm1d(filters * (len(kernels) + 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = self.bottleneck(x)
        return F.relu(self.bn(torch.cat([c(b) for c in self.convs] + [self.pool_branch(x)], dim=1)))


class Inception1d(ECGModel):
    """inception1d of the PTB-XL benchmark (InceptionTime): 6 modules of 32 filters x 4 branches
    (39/19/9-tap at 100 Hz), a residual shortcut every 3 modules, concat pooling."""

    def __init__(self, leads: int, classes: int, fs: float = 100.0, depth: int = 6, filters: int = 32,
                 kernel: int = 40, bottleneck: int = 32, dropout: float = 0.3) -> None:
        super().__init__(leads, classes, dropout)
        k = kernel * fs / 100.0
        kernels = [_odd(k - 1), _odd(k / 2 - 1), _odd(k / 4 - 1)]  # 39, 19, 9 at 100 Hz
        width = filters * (len(kernels) + 1)
        self.blocks = nn.ModuleList(InceptionBlock1d(leads if d == 0 else width, filters, kernels, bottleneck)
                                    for d in range(depth))
        self.shortcuts = nn.ModuleList(conv_bn(leads if i == 0 else width, width, 1, act=None)
                                       for i in range(depth // 3))
        self._input_paths = ("blocks.0.bottleneck", "blocks.0.pool_branch.1", "shortcuts.0.0")
        self._finish(2 * width)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        res = x
        for d, block in enumerate(self.blocks):
            x = block(x)
            if d % 3 == 2:
                x = F.relu(x + self.shortcuts[d // 3](res))
                res = x
        return global_pool(x, "avgmax")

    def _body_groups(self):
        b, s = list(self.blocks), list(self.shortcuts)
        third = max(1, len(b) // 3)
        return [b[:third], [*b[third:2 * third], *s[:1]], [*b[2 * third:], *s[1:]]]


class WangResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, kernels: Sequence[int]) -> None:
        super().__init__()
        self.convs = nn.Sequential(*[conv_bn(cin if i == 0 else cout, cout, k, act=None if i == len(kernels) - 1
                                             else nn.ReLU) for i, k in enumerate(kernels)])
        self.shortcut = conv_bn(cin, cout, 1, act=None) if cin != cout else nn.BatchNorm1d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.convs(x) + self.shortcut(x))


class ResNetWang(ECGModel):
    """Wang et al. (2017) time-series ResNet: three residual blocks of 7/5/3-tap convolutions (64, 128, 128
    filters; the paper's 8 taps become 7 for symmetric padding), no downsampling, concat pooling."""

    _input_paths = ("blocks.0.convs.0.0", "blocks.0.shortcut.0")

    def __init__(self, leads: int, classes: int, filters: Sequence[int] = (64, 128, 128),
                 kernels: Sequence[int] = (7, 5, 3), dropout: float = 0.3) -> None:
        super().__init__(leads, classes, dropout)
        blocks = []
        cin = leads
        for f in filters:
            blocks.append(WangResBlock(cin, f, kernels))
            cin = f
        self.blocks = nn.Sequential(*blocks)
        self._finish(2 * cin)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return global_pool(self.blocks(x), "avgmax")

    def _body_groups(self):
        return [[b] for b in self.blocks]


class FCNWang(ECGModel):
    """Wang et al. (2017) fully convolutional network: 7/5/3-tap convs (128, 256, 128 filters), BN, ReLU,
    global pooling."""

    _input_paths = ("convs.0.0",)

    def __init__(self, leads: int, classes: int, filters: Sequence[int] = (128, 256, 128),
                 kernels: Sequence[int] = (7, 5, 3), dropout: float = 0.3) -> None:
        super().__init__(leads, classes, dropout)
        self.convs = nn.Sequential(*[conv_bn(leads if i == 0 else filters[i - 1], f, k)
                                     for i, (f, k) in enumerate(zip(filters, kernels))])
        self._finish(2 * filters[-1])

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return global_pool(self.convs(x), "avgmax")

    def _body_groups(self):
        return [[c] for c in self.convs]
