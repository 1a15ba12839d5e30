"""Deterministic, label-stratified, patient-disjoint folds for data sets without official ones.

Iterative stratification (Sechidis et al. 2011) over patients rather than records, as PTB-XL's own
folds were made: the rarest label is placed first, each patient goes to the fold that most lacks
that label, ties go to the fold that most lacks records. The order among equal candidates comes
from a hash of (seed, patient id), so the folds depend only on the data and the seed, not on file
order or the Python version.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence

import numpy as np


def stratified_folds(
    records: Sequence[str],
    labels: np.ndarray,
    patients: Sequence[str | None] | None = None,
    n_folds: int = 10,
    seed: int = 0,
) -> np.ndarray:
    """Fold number (1..n_folds) for each record. ``labels`` is ``[records, classes]`` 0/1."""
    labels = np.asarray(labels, dtype=np.int64)
    n = len(records)
    if labels.shape[0] != n:
        raise ValueError("labels and records differ in length")
    # Group records by patient; records without a patient id are their own group.
    groups: dict[str, list[int]] = defaultdict(list)
    for i, rec in enumerate(records):
        pid = patients[i] if patients is not None else None
        groups[f"p:{pid}" if pid not in (None, "") else f"r:{rec}"].append(i)
    keys = sorted(groups, key=lambda k: hashlib.sha256(f"{seed}:{k}".encode()).hexdigest())
    g_labels = np.stack([labels[groups[k]].sum(axis=0) for k in keys]) if keys else np.zeros((0, labels.shape[1]))
    g_sizes = np.array([len(groups[k]) for k in keys])

    want_label = np.tile(labels.sum(axis=0) / n_folds, (n_folds, 1)).astype(float)
    want_size = np.full(n_folds, n / n_folds)
    fold_of_group = np.full(len(keys), -1)
    remaining = np.ones(len(keys), bool)
    remaining_label = g_labels.sum(axis=0).astype(float)

    while remaining.any():
        active = remaining_label > 0
        if active.any():
            # The rarest label that still has unplaced patients.
            lab = int(np.flatnonzero(active)[np.argmin(remaining_label[active])])
            cand = np.flatnonzero(remaining & (g_labels[:, lab] > 0))
        else:
            lab, cand = -1, np.flatnonzero(remaining)
        for g in cand:
            if lab >= 0:
                score = np.lexsort((np.arange(n_folds), -want_size, -want_label[:, lab]))
            else:
                score = np.lexsort((np.arange(n_folds), -want_size))
            f = int(score[0])
            fold_of_group[g] = f
            remaining[g] = False
            want_label[f] -= g_labels[g]
            want_size[f] -= g_sizes[g]
            remaining_label -= g_labels[g]
    out = np.empty(n, np.int16)
    for gi, k in enumerate(keys):
        out[groups[k]] = fold_of_group[gi] + 1
    return out
