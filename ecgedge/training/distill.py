"""Knowledge distillation: a student trained on the labels and on the record-level probabilities of one or more
teacher checkpoints (their mean: an ensemble distilled into one model).

The teachers' probabilities are computed once per run, before the first epoch, on every training and validation
record of the store, exactly as evaluation computes them (each teacher's own windows and aggregation), and kept in
the run folder (``teacher.npz``, keyed by the store and the teachers' sha256) so that ``--resume`` reuses them.
The student sees augmented crops of a record; its soft target is the teachers' verdict on the whole clean record.

Loss: ``(1 - alpha) * task loss(labels) + alpha * T^2 * soft loss(teachers)``, the soft loss being binary
cross-entropy against ``sigmoid(logit(p) / T)`` per class (multi-label tasks) or cross-entropy against
``softmax(log p / T)`` (single-label ones), on the student's logits divided by ``T`` (Hinton et al. 2015).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..errors import EcgedgeError

#: the preprocessing a teacher must share with the store it is run on (its windows may differ)
_SHARED = ("fs", "leads", "units", "band", "band_order", "zero_phase", "baseline", "norm", "norm_scope")


class DistillLoss(nn.Module):
    """The task loss blended with the teachers' soft targets (``soft``: probabilities, one row per record)."""

    def __init__(self, task: nn.Module, alpha: float, temperature: float, multilabel: bool) -> None:
        super().__init__()
        self.task, self.alpha, self.T, self.multilabel = task, float(alpha), float(temperature), multilabel

    def forward(self, logits: torch.Tensor, target: torch.Tensor, soft: torch.Tensor) -> torch.Tensor:
        hard = self.task(logits, target)
        T = self.T
        p = soft.clamp(1e-6, 1 - 1e-6)
        if self.multilabel:
            q = torch.sigmoid(torch.logit(p) / T)
            kd = F.binary_cross_entropy_with_logits(logits / T, q)
        else:
            q = torch.softmax(torch.log(p) / T, dim=1)
            kd = -(q * F.log_softmax(logits / T, dim=1)).sum(1).mean()
        return (1 - self.alpha) * hard + self.alpha * T * T * kd


def _check_teacher(ck, path: str, classes, contract) -> None:
    have, want = tuple(str(c) for c in ck.contract.classes), tuple(str(c) for c in classes)
    if have != want:
        raise EcgedgeError(f"the teacher predicts {', '.join(have)}; the student is trained for {', '.join(want)}",
                           path=path, where="distill.teacher",
                           fix="distil from a checkpoint trained on the same task (same classes, same order)")
    if ck.contract.multilabel != contract.multilabel:
        raise EcgedgeError("the teacher and the student disagree on whether the task is multi-label", path=path,
                           where="distill.teacher", fix="use the same train.loss family (bce/focal vs ce)")
    tp, sp = ck.contract.preprocessing, contract.preprocessing
    for f in _SHARED:
        a, b = getattr(tp, f), getattr(sp, f)
        if (tuple(a) if isinstance(a, list | tuple) else a) != (tuple(b) if isinstance(b, list | tuple) else b):
            raise EcgedgeError(f"the teacher's preprocessing differs from the store's: {f} {a!r} vs {b!r}",
                               path=path, where=f"preprocessing.{f}",
                               fix="distil on a store prepared as the teacher's training data was")


def teacher_probabilities(paths: list[str], store, idx: np.ndarray, classes, contract, device, out: Path,
                          log=print) -> np.ndarray:
    """The mean probability of the teachers ``paths`` on the store's records ``idx`` (rows in ``idx``'s order),
    from ``out/teacher.npz`` when it was computed for the same store, records and teachers."""
    from ..trust import sha256_file
    from .checkpoint import load_checkpoint
    from .loop import predict

    for p in paths:
        if not os.path.isfile(p):
            raise EcgedgeError("teacher checkpoint not found", path=p, where="distill.teacher",
                               fix="give the model.safetensors of a finished run")
    hashes = [sha256_file(p) for p in paths]
    key = "|".join([str(store.manifest["key"]), *hashes])
    cache = out / "teacher.npz"
    idx = np.asarray(idx, np.int64)
    if cache.exists():
        with np.load(cache, allow_pickle=False) as z:
            if str(z["key"]) == key and np.array_equal(z["idx"], idx):
                log(f"teacher probabilities from {cache}")
                return z["p"]
    from ..atomic import atomic_open

    total = np.zeros((len(idx), len(classes)), np.float64)
    for p in paths:
        ck = load_checkpoint(p)
        _check_teacher(ck, p, classes, contract)
        model = ck.build_model().to(device)
        total += predict(model, store, idx, ck.contract, device)
        log(f"teacher {p} ({ck.arch}) run on {len(idx)} records")
        del model
    probs = (total / len(paths)).astype(np.float32)
    with atomic_open(cache) as fh:
        np.savez(fh, key=np.array(key), idx=idx, p=probs)
    return probs
