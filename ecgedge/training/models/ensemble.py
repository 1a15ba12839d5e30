"""An ensemble: members that share one input contract, their logits averaged in one graph."""

from __future__ import annotations

import torch
from torch import nn

from ...errors import EcgedgeError


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
        from .registry import build_model  # the registry builds ensembles: imported when one is built

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
