"""ECG classifiers: the architectures of "Are ECGs enough?" (Marques & Oliveira 2025) and the PTB-XL
benchmark leaders (Strodthoff et al. 2021), written for ecgedge.

Every model takes float32 ``[batch, leads, time]`` and returns logits ``[batch, classes]``. The body
(:meth:`ECGModel.features`) ends in global pooling over time, so one model serves any window at or above
its ``min_length``, and exports to ONNX with symbolic batch and time axes: no layer here fixes the
length (no ``AdaptiveAvgPool1d`` to a size other than 1, no learned position tables, no flatten of a
time axis).

A registry in the manner of timm names them::

    >>> model = build_model("resnet1d18", leads=12, classes=5)
    >>> list_models()                     # every name
    >>> MODELS["inception1d"].description

Transfer learning: :meth:`ECGModel.reset_head` (new classes), :meth:`ECGModel.adapt_input` (new lead
count, initialised from the old first layer) and :meth:`ECGModel.layer_groups` (input to head, for
discriminative learning rates and gradual unfreezing).
"""

from __future__ import annotations

import contextlib
import inspect
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import EcgedgeError

__all__ = [
    "MODELS", "ECGModel", "ModelInfo", "build_model", "count_parameters", "describe", "export_context",
    "export_dynamic_shapes", "list_models",
]

ADAPT_MODES = ("mean", "repeat", "first")


# ------------------------------------------------------------------------------------------------
# The base class
# ------------------------------------------------------------------------------------------------


class ECGModel(nn.Module):
    """Base of every ecgedge classifier: ``forward(x) = head(dropout(features(x)))``.

    Subclasses build their body, then call :meth:`_finish` with the feature width, and implement
    :meth:`features` (``[B, leads, T] -> [B, F]``, ending in global pooling over time) and
    :meth:`_body_groups` (the body's modules from input to output, in 3 to 5 groups).
    ``_input_paths`` names the layers whose weights depend on the number of leads (the first one is
    :meth:`input_layer`; Inception and Wang's ResNet have more than one: their shortcuts see the input).
    """

    #: the shortest window (in samples) the model is built for; also the lower bound of the exported time axis
    #: (below it strided layers reach length 1, and torch.export cannot prove its broadcasting guards)
    min_length: int = 64
    _input_paths: tuple[str, ...] = ()

    def __init__(self, leads: int, classes: int, dropout: float = 0.2) -> None:
        super().__init__()
        self.leads = int(leads)
        self.num_classes = int(classes)
        self.num_features = 0
        self.dropout = nn.Dropout(dropout)

    # -- construction ----------------------------------------------------------------------------

    def _finish(self, num_features: int) -> None:
        """Create the head and initialise the weights (called last in every subclass constructor)."""
        self.num_features = int(num_features)
        self.head = nn.Linear(self.num_features, self.num_classes)
        _init_weights(self)

    # -- the network -----------------------------------------------------------------------------

    def features(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(x)))

    # -- transfer learning -----------------------------------------------------------------------

    def reset_head(self, num_classes: int) -> None:
        """A new, freshly initialised head for ``num_classes`` outputs; the features are kept."""
        ref = self.head.weight
        self.num_classes = int(num_classes)
        self.head = nn.Linear(self.num_features, self.num_classes).to(device=ref.device, dtype=ref.dtype)

    def input_layer(self) -> nn.Module:
        """The first layer that sees the leads (a Conv1d, Conv2d, LSTM or Linear)."""
        return self.get_submodule(self._input_paths[0])

    def adapt_input(self, new_leads: int, mode: str = "mean") -> None:
        """Rebuild the layer(s) that see the leads for ``new_leads`` inputs, initialised from the old weights.

        ``mode``: ``"mean"`` gives every new lead the mean of the old leads' weights (a lead-agnostic
        filter: the usual choice for 12 -> 1 lead); ``"repeat"`` gives new lead ``j`` the weights of old
        lead ``j mod old_leads`` (e.g. 1 -> 12 leads); ``"first"`` keeps the weights of the first
        ``min(old, new)`` leads (the new recording has the old leads' order, e.g. 12 -> lead I alone, or
        8 of 12) and gives any extra lead the mean. Weights are not rescaled: the normalisation after
        the first layer absorbs the change in scale during fine-tuning. Biases are kept.
        """
        if mode not in ADAPT_MODES:
            raise EcgedgeError(f"unknown lead adaptation mode {mode!r}", fix=f"use one of {', '.join(ADAPT_MODES)}")
        new_leads = int(new_leads)
        if new_leads < 1:
            raise EcgedgeError(f"cannot adapt a model to {new_leads} leads", fix="give at least 1 lead")
        if new_leads == self.leads:
            return
        for path in self._input_paths:
            self.set_submodule(path, _adapt_layer(self.get_submodule(path), self.leads, new_leads, mode))
        self.leads = new_leads

    def _body_groups(self) -> list[list[nn.Module | nn.Parameter]]:
        raise NotImplementedError

    def layer_groups(self) -> list[list[nn.Parameter]]:
        """Every parameter exactly once, in groups ordered from input to head (the head is the last group)."""
        groups: list[list[nn.Parameter]] = []
        seen: set[int] = set()
        for body_group in [*self._body_groups(), [self.head]]:
            params = []
            for item in body_group:
                for p in [item] if isinstance(item, nn.Parameter) else item.parameters():
                    if id(p) in seen:
                        raise RuntimeError(f"{type(self).__name__}: a parameter is in two layer groups")
                    seen.add(id(p))
                    params.append(p)
            if params:
                groups.append(params)
        left = [n for n, p in self.named_parameters() if id(p) not in seen]
        if left:
            raise RuntimeError(f"{type(self).__name__}: parameters in no layer group: {left[:5]}")
        return groups


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _adapt_weight(w: torch.Tensor, dim: int, old: int, new: int, mode: str) -> torch.Tensor:
    mean = w.mean(dim=dim, keepdim=True)
    if mode == "mean":
        return torch.cat([mean] * new, dim=dim)
    if mode == "repeat":
        return torch.index_select(w, dim, torch.arange(new, device=w.device) % old)
    keep = w.narrow(dim, 0, min(old, new))
    return torch.cat([keep] + [mean] * max(0, new - old), dim=dim)


def _adapt_layer(layer: nn.Module, old: int, new: int, mode: str) -> nn.Module:
    """A copy of ``layer`` for ``new`` input leads (same device and dtype), weights adapted."""
    ref = next(layer.parameters())
    with torch.no_grad():
        if isinstance(layer, nn.Conv1d):
            if layer.groups != 1:
                raise RuntimeError("cannot adapt a grouped first convolution")
            out = nn.Conv1d(new, layer.out_channels, layer.kernel_size, layer.stride, layer.padding, layer.dilation,
                            bias=layer.bias is not None, padding_mode=layer.padding_mode)
            out.weight.copy_(_adapt_weight(layer.weight, 1, old, new, mode))
        elif isinstance(layer, nn.Conv2d):  # EEGNet's spatial (depthwise) filter: kernel (leads, 1)
            if layer.kernel_size[0] != old:
                raise RuntimeError("only a Conv2d whose kernel spans the leads can be adapted")
            out = nn.Conv2d(layer.in_channels, layer.out_channels, (new, layer.kernel_size[1]), layer.stride,
                            layer.padding, layer.dilation, groups=layer.groups, bias=layer.bias is not None)
            out.weight.copy_(_adapt_weight(layer.weight, 2, old, new, mode))
        elif isinstance(layer, nn.Linear):
            out = nn.Linear(new, layer.out_features, bias=layer.bias is not None)
            out.weight.copy_(_adapt_weight(layer.weight, 1, old, new, mode))
        elif isinstance(layer, (nn.LSTM, nn.GRU)):
            out = type(layer)(new, layer.hidden_size, num_layers=layer.num_layers, bias=layer.bias,
                              batch_first=layer.batch_first, dropout=layer.dropout,
                              bidirectional=layer.bidirectional)
            for name, p in layer.named_parameters():
                q = getattr(out, name)
                q.copy_(_adapt_weight(p, 1, old, new, mode) if name.startswith("weight_ih_l0") else p)
        else:
            raise RuntimeError(f"cannot adapt a {type(layer).__name__} to a new number of leads")
        if getattr(layer, "bias", None) is not None and isinstance(layer.bias, torch.Tensor):
            out.bias.copy_(layer.bias)
    return out.to(device=ref.device, dtype=ref.dtype)


# ------------------------------------------------------------------------------------------------
# Building blocks
# ------------------------------------------------------------------------------------------------


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


def _init_weights(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d)):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.constant_(m.weight, 0.0 if getattr(m, "_zero_init", False) else 1.0)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


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


# ------------------------------------------------------------------------------------------------
# "Are ECGs enough?" architectures
# ------------------------------------------------------------------------------------------------


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


# ------------------------------------------------------------------------------------------------
# PTB-XL benchmark architectures (Strodthoff et al. 2021)
# ------------------------------------------------------------------------------------------------


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


# ------------------------------------------------------------------------------------------------
# Edge-efficient
# ------------------------------------------------------------------------------------------------


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


# ------------------------------------------------------------------------------------------------
# Registry
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelInfo:
    """One registered architecture: ``build(leads, classes, fs, window, **kwargs) -> ECGModel``."""

    name: str
    build: Callable[..., ECGModel]
    family: str
    description: str
    source: str


MODELS: dict[str, ModelInfo] = {}

_PAPER = "Marques & Oliveira 2025, 'Are ECGs enough?'"
_BENCH = "Strodthoff et al. 2021, 'Deep learning for ECG analysis: benchmarks and insights from PTB-XL'"


def _register(name: str, cls: type[ECGModel], family: str, description: str, source: str,
              uses_fs: bool = False, **defaults) -> None:
    def build(leads: int, classes: int, fs: float = 100.0, window: int = 1000, **kwargs) -> ECGModel:
        kw = {**defaults, **kwargs}
        if uses_fs:
            kw.setdefault("fs", fs)
        return cls(leads, classes, **kw)

    build.__doc__ = f"{name}: {description}"
    build.cls = cls  # type: ignore[attr-defined]
    MODELS[name] = ModelInfo(name, build, family, description, source)


_register("resnet1d18", ResNet1d, "resnet", "1D ResNet-18: basic blocks [2,2,2,2], widths 64-512, stem kernel 15",
          _PAPER, layers=(2, 2, 2, 2))
_register("resnet1d34", ResNet1d, "resnet", "1D ResNet-34: basic blocks [3,4,6,3], widths 64-512, stem kernel 15",
          _PAPER, layers=(3, 4, 6, 3))
_register("resnet1d50", ResNet1d, "resnet",
          "1D ResNet-50: bottleneck blocks [3,4,6,3], widths 32-256 (x4 = 1024 features), stem kernel 15",
          _PAPER, layers=(3, 4, 6, 3), bottleneck=True, width=32)
_register("attresnet1d", AttResNet1d, "attention",
          "ResNet-18-1D + multi-head self-attention over time before pooling (AttResNet/HSMnet)", _PAPER)
_register("lstm", LSTMNet, "recurrent",
          "2-layer bidirectional LSTM (128 units) after two stride-2 convs (1/4 rate), avg+max pooled", _PAPER)
_register("crnn_lstm", CRNN1d, "recurrent", "ResNet-18-1D features, then a bidirectional LSTM over time", _PAPER,
          cell="lstm")
_register("crnn_gru", CRNN1d, "recurrent", "ResNet-18-1D features, then a bidirectional GRU over time", _PAPER,
          cell="gru")
_register("transformer", TransformerECG, "attention",
          "conv patch embedding (100 ms tokens), 4-layer transformer encoder (d=128), mean pool", _PAPER,
          uses_fs=True)
_register("resnet_transformer", ResNetTransformer1d, "attention",
          "ResNet-1D trunk (3 stages, 1/16 rate) then 2 transformer encoder layers (d=256), mean pool", _PAPER)
_register("vgg1d", VGG1d, "cnn", "VGG-16-style 3-tap conv stacks (32-256), max-pooling over time", _PAPER)
_register("alexnet1d", AlexNet1d, "cnn", "AlexNet in 1D: 5 convs (11/5/3 taps) with BN, two FC layers", _PAPER)
_register("eegnet", EEGNet, "cnn",
          "EEGNet: temporal conv, depthwise conv across leads, separable conv (tiny)", _PAPER, uses_fs=True)
_register("xresnet1d50", XResNet1d, "resnet",
          "bag-of-tricks xresnet1d50 [3,4,6,3], 5-tap, width 0.25 (width=1 is the benchmark's size)", _BENCH,
          layers=(3, 4, 6, 3))
_register("xresnet1d101", XResNet1d, "resnet",
          "bag-of-tricks xresnet1d101 [3,4,23,3], 5-tap, width 0.25 (width=1 is the benchmark's size)", _BENCH,
          layers=(3, 4, 23, 3))
_register("inception1d", Inception1d, "cnn",
          "InceptionTime: 6 modules (39/19/9-tap + max-pool branch, 32 filters each), residual every 3", _BENCH,
          uses_fs=True)
_register("resnet1d_wang", ResNetWang, "resnet",
          "Wang et al. 2017 ResNet: 3 blocks of 7/5/3-tap convs (64/128/128), full rate", _BENCH)
_register("fcn_wang", FCNWang, "cnn", "Wang et al. 2017 FCN: 7/5/3-tap convs (128/256/128), global pooling", _BENCH)
_register("mobilenet1d", MobileNet1d, "edge",
          "MobileNetV3-style depthwise-separable inverted residuals + squeeze-excitation, < 0.5 M parameters",
          "ecgedge (after Howard et al. 2019, MobileNetV3)")


class Ensemble(nn.Module):
    """Members that share one input contract, their logits averaged: one graph, one ONNX file.

    ``members`` is a list of ``{"arch": name, "kwargs": {...}}``; the weights live under ``members.<i>.``.
    Averaging logits (not probabilities) keeps the output a logit, so thresholds and the runtime's sigmoid
    apply unchanged. An ensemble is built from trained checkpoints (``ecgedge ensemble``,
    :func:`ecgedge.training.ensemble.build_ensemble`), not trained as one: the training loop and ``--init``
    refuse it.
    """

    def __init__(self, leads: int, classes: int, members: list | None = None, fs: float = 100.0) -> None:
        super().__init__()
        if not members or not isinstance(members, list):
            raise EcgedgeError("an ensemble needs a list of members", where="model.kwargs.members",
                               fix='members = [{arch = "resnet1d_wang"}, {arch = "xresnet1d50"}]')
        built = []
        for i, m in enumerate(members):
            if (not isinstance(m, dict) or not isinstance(m.get("arch"), str) or m["arch"] == "ensemble"
                    or not isinstance(m.get("kwargs") or {}, dict)):
                raise EcgedgeError(f"ensemble member {i} is not {{arch = NAME, kwargs = {{...}}}}",
                                   where=f"model.kwargs.members[{i}]")
            built.append(build_model(m["arch"], leads, classes, fs=fs, window=1 << 20, **(m.get("kwargs") or {})))
        self.members = nn.ModuleList(built)
        self.leads, self.num_classes = int(leads), int(classes)
        self.min_length = max(int(m.min_length) for m in built)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.members[0](x)
        for m in self.members[1:]:
            out = out + m(x)
        return out / len(self.members)


def list_models(family: str | None = None) -> list[str]:
    """Registered model names (of one ``family`` if given), in registry order."""
    return [n for n, m in MODELS.items() if family is None or m.family == family]


def _accepted(cls: type) -> list[str]:
    params = inspect.signature(cls.__init__).parameters
    return [p for p in params if p not in ("self", "leads", "classes")]


def build_model(name: str, leads: int, classes: int, fs: float = 100.0, window: int = 1000, **kwargs) -> ECGModel:
    """Build a registered architecture for ``leads`` input leads and ``classes`` outputs.

    ``fs`` (Hz) sets the time scale of models whose kernels are defined in seconds (eegnet, inception1d,
    transformer); ``window`` (samples) is checked against the model's ``min_length``. ``kwargs`` go to
    the model (e.g. ``width``, ``dropout``).
    """
    info = MODELS.get(name)
    if name != "ensemble" and info is None:
        raise EcgedgeError(f"unknown model {name!r}", where="model.arch",
                           fix=f"valid names: {', '.join(MODELS)}")
    if int(leads) < 1 or int(classes) < 1:
        raise EcgedgeError(f"{name}: needs at least 1 lead and 1 class, got leads={leads}, classes={classes}")
    if not fs or fs <= 0:
        raise EcgedgeError(f"{name}: sampling rate must be positive, got {fs}")
    if name == "ensemble":
        if set(kwargs) - {"members"}:
            raise EcgedgeError(f"ensemble: unknown option(s) {', '.join(sorted(set(kwargs) - {'members'}))}",
                               where="model.kwargs", fix="an ensemble takes only members")
        model = Ensemble(int(leads), int(classes), fs=float(fs), **kwargs)
        if window < model.min_length:
            raise EcgedgeError(f"ensemble: a window of {window} samples is shorter than a member's minimum "
                               f"{model.min_length}", fix=f"use a window of at least {model.min_length} samples")
        return model
    cls = info.build.cls  # type: ignore[attr-defined]
    unknown = sorted(set(kwargs) - set(_accepted(cls)))
    if unknown:
        raise EcgedgeError(f"{name}: unknown option(s) {', '.join(unknown)}", where="model.kwargs",
                           fix=f"{name} accepts {', '.join(a for a in _accepted(cls) if a != 'fs')}")
    model = info.build(int(leads), int(classes), fs=float(fs), window=int(window), **kwargs)
    if window < model.min_length:
        raise EcgedgeError(f"{name}: a window of {window} samples is shorter than the model's minimum "
                           f"{model.min_length}", fix=f"use a window of at least {model.min_length} samples")
    return model


def describe(names: Iterable[str] | None = None, leads: int = 12, classes: int = 5) -> list[tuple[str, int, str]]:
    """``(name, parameters, description)`` for each model built at ``leads`` x ``classes``."""
    return [(n, count_parameters(build_model(n, leads, classes)), MODELS[n].description)
            for n in (names or MODELS)]


# ------------------------------------------------------------------------------------------------
# ONNX export helpers
# ------------------------------------------------------------------------------------------------


def export_dynamic_shapes(model: ECGModel) -> tuple[dict[int, object]]:
    """``dynamic_shapes`` for ``torch.onnx.export(model, (x,), dynamo=True, ...)``: batch and time symbolic.

    The time Dim starts at ``model.min_length``: below it, strided layers reach length 1 and torch.export
    cannot prove the broadcasting guards it needs. Whatever the Dims, check the exported graph: where
    torch.export fails to keep a named Dim, the ONNX exporter falls back to the example's fixed size
    without an error.
    """
    from torch.export import Dim

    return ({0: Dim("batch", min=1, max=1 << 16), 2: Dim("time", min=model.min_length, max=1 << 24)},)


@contextlib.contextmanager
def export_context() -> Iterator[None]:
    """Wrap ``torch.onnx.export(..., dynamo=True)`` in this when the model may hold an LSTM or GRU.

    torch's ONNX exporter swaps in a ``while_loop`` decomposition of LSTM/GRU only while it captures the
    graph; its later decomposition pass traces the stock one, which unrolls the recurrence over the example
    input's length (minutes for a 1000-sample window, with the time spent growing with the length). Keeping
    the while_loop decomposition registered for the whole export makes it take seconds; the graph still
    holds ONNX LSTM/GRU nodes with a symbolic sequence length.
    """
    try:
        from torch.export._patches import register_gru_while_loop_decomposition, register_lstm_while_loop_decomposition
    except ImportError:  # another torch: export as it is
        yield
        return
    with register_lstm_while_loop_decomposition(), register_gru_while_loop_decomposition():
        yield
