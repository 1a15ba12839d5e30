"""From logits to a record's probabilities and decisions, as the contract says (numpy only)."""

from __future__ import annotations

import numpy as np


def probabilities(logits: np.ndarray, multilabel: bool) -> np.ndarray:
    """Sigmoid per class (multi-label) or softmax over classes, in float64, overflow-safe."""
    z = np.asarray(logits, np.float64)
    if multilabel:
        out = np.empty_like(z)
        pos = z >= 0
        out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
        e = np.exp(z[~pos])
        out[~pos] = e / (1.0 + e)
        return out
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def decisions(probs: np.ndarray, thresholds, multilabel: bool, weights=None) -> np.ndarray:
    """Positive classes: each probability at or above its threshold (0.5 where the contract has none), or the
    one class of a softmax model whose probability times its decision weight is the largest (the most probable
    class when there are no weights). ``probs`` is ``[..., classes]``."""
    probs = np.asarray(probs)
    if not multilabel:
        w = np.asarray(weights, np.float64) if weights else 1.0
        return np.eye(probs.shape[-1], dtype=bool)[np.argmax(probs * w, axis=-1)]
    t = np.asarray(thresholds if thresholds else [0.5] * probs.shape[-1], np.float64)
    return probs >= t


def aggregate(probs: np.ndarray, owner: np.ndarray, n: int, how: str) -> np.ndarray:
    """Per-record probabilities from per-window ones: ``max`` or ``mean`` over each record's windows."""
    out = np.zeros((n, probs.shape[1]), np.float64)
    if how == "max":
        out[:] = -np.inf
        np.maximum.at(out, owner, probs)
    else:
        np.add.at(out, owner, probs)
        out /= np.maximum(np.bincount(owner, minlength=n), 1)[:, None]
    return out
