"""Losses: BCE with optional per-class ``pos_weight``, the paper's focal loss (alpha 0.7, gamma 2),
cross-entropy for single-label tasks."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class FocalLoss(nn.Module):
    """Binary focal loss (Lin et al. 2017) on logits, averaged over classes and batch."""

    def __init__(self, alpha: float = 0.7, gamma: float = 2.0, pos_weight: torch.Tensor | None = None) -> None:
        super().__init__()
        self.alpha, self.gamma = alpha, gamma
        self.register_buffer("pos_weight", pos_weight if pos_weight is not None else torch.ones(0))

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
        p = torch.sigmoid(logits)
        pt = target * p + (1 - target) * (1 - p)
        alpha = target * self.alpha + (1 - target) * (1 - self.alpha)
        loss = alpha * (1 - pt).pow(self.gamma) * bce
        if self.pos_weight.numel():
            loss = loss * (1 + (self.pos_weight - 1) * target)
        return loss.mean()


def make_loss(kind: str, y_train, pos_weight: bool, alpha: float, gamma: float, device) -> nn.Module:
    pw = None
    if pos_weight and kind != "ce":
        y = torch.as_tensor(y_train, dtype=torch.float32)
        pos = y.sum(0).clamp(min=1.0)
        pw = ((len(y) - y.sum(0)) / pos).clamp(max=50.0).to(device)
    if kind == "bce":
        return nn.BCEWithLogitsLoss(pos_weight=pw)
    if kind == "focal":
        return FocalLoss(alpha, gamma, pw).to(device)
    return _CE()


class _CE(nn.Module):
    """Cross-entropy on one-hot targets (single-label tasks)."""

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, target.argmax(dim=1))
