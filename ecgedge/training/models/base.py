"""The base of every ecgedge classifier, and what transfer learning does to the layers that see the leads."""

from __future__ import annotations

import torch
from torch import nn

from ...errors import EcgedgeError

ADAPT_MODES = ("mean", "repeat", "first")


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
