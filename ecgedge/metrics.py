"""Evaluation of multi-label and single-label ECG classifiers, numpy only (no torch, sklearn or scipy).

Used by training (model selection on the validation fold, the final test-fold report) and by the
benchmarks. Conventions:

* ``y`` is either a 0/1 matrix ``[N, C]`` (multi-label, one column per class), a 0/1 vector with a
  1-D ``score`` (binary), or a vector of integer class indices with ``scores[N, C]`` (single-label,
  softmax outputs); indices are turned into one-hot columns and every class is scored one-vs-rest.
* Scores are any real numbers where higher means "more likely positive" (logits or probabilities).
  A record is predicted positive for a class when ``score >= threshold``.
* Functions that return numbers use ``nan`` for an undefined value (AUROC of a class with no
  positives or no negatives, AP of a class with no positives). Functions that return a report
  (dicts) are JSON-clean: an undefined value is ``None`` and the reason is listed under
  ``"undefined"``.
* Confidence intervals are percentile bootstrap intervals over records (rows are resampled with
  replacement, keeping each record's labels together). Resamples where the metric is undefined are
  skipped and counted.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator, Mapping

import numpy as np

from .errors import EcgedgeError

__all__ = [
    "BootstrapCI",
    "accuracy",
    "average_precision",
    "bootstrap_ci",
    "confusion_matrix",
    "evaluate",
    "macro_auroc",
    "macro_average_precision",
    "paired_bootstrap",
    "per_class",
    "roc_auc",
    "threshold_metrics",
    "to_one_hot",
    "tune_thresholds",
]

# Bootstrap weights held at once (resamples x records); bounds memory for large test folds.
_CHUNK_ELEMS = 1 << 22


# --------------------------------------------------------------------------------------------
# Input checks


def _fail(where: str, message: str, fix: str | None = None) -> EcgedgeError:
    return EcgedgeError(message, where=where, fix=fix)


def _as_scores(scores, where: str) -> np.ndarray:
    arr = np.asarray(scores)
    if arr.dtype.kind not in "biuf":
        raise _fail(where, f"scores must be numbers, got an array of {arr.dtype}")
    arr = arr.astype(np.float64, copy=False)
    if arr.ndim not in (1, 2):
        raise _fail(where, f"scores must be a vector [N] or a matrix [N, classes], got shape {arr.shape}")
    bad = np.isnan(arr)
    if bad.any():
        first = np.argwhere(bad)[0]
        at = f"row {first[0]}" + (f", column {first[1]}" if arr.ndim == 2 else "")
        raise _fail(where, f"scores contain {int(bad.sum())} NaN value(s) (first at {at})",
                    "check the model output for NaN before evaluating it")
    return arr


def _as_binary(y: np.ndarray, where: str) -> np.ndarray:
    if y.dtype == np.bool_:
        return y
    ok = (y == 0) | (y == 1)
    if not ok.all():
        first = tuple(int(i) for i in np.argwhere(~ok)[0])
        at = f"row {first[0]}" + (f", column {first[1]}" if y.ndim == 2 else "")
        raise _fail(where, f"labels must be 0 or 1, got {y[first]!r} at {at}",
                    "pass a 0/1 label matrix [N, classes], or class indices with scores [N, classes]")
    return y.astype(bool)


def _as_indices(y: np.ndarray, n_classes: int, where: str) -> np.ndarray:
    if y.dtype.kind == "f":
        if not np.isfinite(y).all() or (y != np.round(y)).any():
            raise _fail(where, "class indices must be whole numbers")
    if y.dtype.kind == "b":
        y = y.astype(np.int64)
    idx = y.astype(np.int64)
    bad = (idx < 0) | (idx >= n_classes)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise _fail(where, f"class index {idx[i]} at row {i} is out of range for {n_classes} classes "
                    f"(0..{n_classes - 1})")
    return idx


def to_one_hot(y, n_classes: int) -> np.ndarray:
    """Integer class indices ``[N]`` -> boolean one-hot matrix ``[N, n_classes]``."""
    idx = _as_indices(np.asarray(y), int(n_classes), "to_one_hot")
    out = np.zeros((idx.shape[0], int(n_classes)), dtype=bool)
    out[np.arange(idx.shape[0]), idx] = True
    return out


def _prepare(y, scores, where: str, single_label: bool | None = None):
    """Check and normalise inputs -> (Y bool [N, C], S float [N, C], class indices [N] or None)."""
    S = _as_scores(scores, where)
    yy = np.asarray(y)
    if yy.dtype.kind not in "biuf":
        raise _fail(where, f"labels must be numbers, got an array of {yy.dtype}")
    n = S.shape[0]
    indices = None
    if S.ndim == 1:
        if yy.ndim != 1 or yy.shape[0] != n:
            raise _fail(where, f"labels of shape {yy.shape} do not match scores of shape {S.shape}",
                        "a 1-D score vector needs a 1-D 0/1 label vector of the same length")
        Y = _as_binary(yy, where)[:, None]
        S = S[:, None]
    elif yy.ndim == 1:
        if yy.shape[0] != n:
            raise _fail(where, f"{yy.shape[0]} labels do not match {n} rows of scores")
        if S.shape[1] == 1:
            Y = _as_binary(yy, where)[:, None]
        else:
            if single_label is False:
                raise _fail(where, "1-D labels with a score matrix are class indices (single-label)",
                            "pass a 0/1 label matrix for multi-label data")
            indices = _as_indices(yy, S.shape[1], where)
            Y = np.zeros(S.shape, dtype=bool)
            Y[np.arange(n), indices] = True
    elif yy.ndim == 2:
        if yy.shape != S.shape:
            raise _fail(where, f"labels of shape {yy.shape} do not match scores of shape {S.shape}")
        Y = _as_binary(yy, where)
        if single_label:
            per_row = Y.sum(axis=1)
            if (per_row != 1).any():
                i = int(np.flatnonzero(per_row != 1)[0])
                raise _fail(where, f"single-label data needs exactly one positive class per record; row {i} "
                            f"has {int(per_row[i])}")
            indices = Y.argmax(axis=1)
    else:
        raise _fail(where, f"labels must be a vector or a matrix, got shape {yy.shape}")
    if n == 0:
        raise _fail(where, "no records to evaluate")
    return Y, S, indices


def _class_names(classes, n_classes: int, where: str) -> list[str]:
    if classes is None:
        return [str(i) for i in range(n_classes)]
    names = [str(c) for c in classes]
    if len(names) != n_classes:
        raise _fail(where, f"{len(names)} class names given for {n_classes} score columns")
    if len(set(names)) != len(names):
        dup = sorted({c for c in names if names.count(c) > 1})
        raise _fail(where, f"duplicate class names: {', '.join(dup)}")
    return names


def _json_seed(seed):
    if seed is None or isinstance(seed, (int, np.integer)):
        return None if seed is None else int(seed)
    return str(seed)


def _clean(x) -> float | None:
    x = float(x)
    return None if math.isnan(x) else x


# --------------------------------------------------------------------------------------------
# Ranking metrics: point estimates and weighted (bootstrap) forms


def _tie_groups(s_sorted: np.ndarray) -> np.ndarray:
    """Start index of each run of equal values in a sorted vector."""
    new = np.empty(s_sorted.shape[0], dtype=bool)
    new[0] = True
    np.not_equal(s_sorted[1:], s_sorted[:-1], out=new[1:])
    return np.flatnonzero(new)


def _average_ranks(s: np.ndarray) -> np.ndarray:
    """1-based ranks of ``s``; tied values share the mean of the ranks they span."""
    order = np.argsort(s, kind="stable")
    starts = _tie_groups(s[order])
    ends = np.append(starts[1:], s.shape[0])
    avg = (starts + 1 + ends) / 2.0
    ranks = np.empty(s.shape[0], dtype=np.float64)
    ranks[order] = np.repeat(avg, ends - starts)
    return ranks


def _auroc_col(y: np.ndarray, s: np.ndarray) -> float:
    n_pos = int(y.sum())
    n_neg = y.shape[0] - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    r = _average_ranks(s)
    return float((r[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def _ranking_weighted(y: np.ndarray, s: np.ndarray, Wt: np.ndarray, ap: bool = True):
    """AUROC and average precision of one class under record weights ``Wt[N, B]`` (bootstrap counts
    of each record in B resamples) -> ``(auroc[B], ap[B] or None)``; weight k is k copies of a record.

    With positives and negatives each sorted by score and ``cum_neg`` the running negative weight:
    AUROC = sum over positives of w * (negative weight below + half the tied) / (W_pos * W_neg);
    AP = sum over positives of w * precision at its score / W_pos, where the precision at score t
    counts every record with score >= t (tied records enter together, as sklearn groups them).
    """
    pos_idx = np.flatnonzero(y)
    neg_idx = np.flatnonzero(~y)
    ps = s[pos_idx]
    order = np.argsort(ps, kind="stable")
    pos_idx, ps = pos_idx[order], ps[order]
    ns = s[neg_idx]
    order = np.argsort(ns, kind="stable")
    neg_idx, ns = neg_idx[order], ns[order]

    Wp = Wt[pos_idx]  # [n_pos, B]
    cum_neg = np.zeros((neg_idx.shape[0] + 1, Wt.shape[1]))
    np.cumsum(Wt[neg_idx], axis=0, out=cum_neg[1:])
    lo = np.searchsorted(ns, ps, side="left")  # negatives strictly below each positive
    hi = np.searchsorted(ns, ps, side="right")  # ... and up to its ties
    p_tot = Wp.sum(axis=0)
    n_tot = cum_neg[-1]
    den = p_tot * n_tot
    num = 0.5 * (Wp * (cum_neg[lo] + cum_neg[hi])).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        auroc = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
        if not ap:
            return auroc, None
        cum_pos = np.zeros((pos_idx.shape[0] + 1, Wt.shape[1]))
        np.cumsum(Wp, axis=0, out=cum_pos[1:])
        tp_ge = p_tot - cum_pos[np.searchsorted(ps, ps, side="left")]  # positive weight with score >= t
        predicted = tp_ge + (n_tot - cum_neg[lo])
        precision = np.where(Wp > 0, tp_ge / np.where(predicted > 0, predicted, 1.0), 0.0)
        avg_prec = np.where(p_tot > 0, (Wp * precision).sum(axis=0) / np.where(p_tot > 0, p_tot, 1.0), np.nan)
    return auroc, avg_prec


def _per_class_weighted(Y: np.ndarray, S: np.ndarray, Wt: np.ndarray, ap: bool = True):
    """``(auroc[B, C], ap[B, C] or None)`` under record weights ``Wt[N, B]``."""
    out = [_ranking_weighted(Y[:, c], S[:, c], Wt, ap) for c in range(Y.shape[1])]
    auroc = np.stack([a for a, _ in out], axis=1)
    return auroc, (np.stack([b for _, b in out], axis=1) if ap else None)


def _defined(kind: str, Y: np.ndarray) -> np.ndarray:
    n_pos = Y.sum(axis=0)
    if kind == "auroc":
        return (n_pos > 0) & (n_pos < Y.shape[0])
    return n_pos > 0


def _binary_inputs(y_true, score, where: str):
    S = _as_scores(score, where)
    yy = np.asarray(y_true)
    if S.ndim == 2 and S.shape[1] == 1:
        S = S[:, 0]
    if yy.ndim == 2 and yy.shape[1] == 1:
        yy = yy[:, 0]
    if S.ndim != 1 or yy.ndim != 1:
        raise _fail(where, f"binary metric needs 1-D labels and scores, got {yy.shape} and {S.shape}",
                    "use per_class() or macro_auroc() for several classes")
    Y, S, _ = _prepare(yy, S, where)
    return Y[:, 0], S[:, 0]


def roc_auc(y_true, score) -> float:
    """Binary AUROC via average ranks (Mann-Whitney U / (n_pos * n_neg)); ties count one half.

    ``nan`` when there are no positives or no negatives.
    """
    y, s = _binary_inputs(y_true, score, "roc_auc")
    return _auroc_col(y, s)


def average_precision(y_true, score) -> float:
    """Average precision as sklearn defines it: sum_n (R_n - R_{n-1}) * P_n over distinct thresholds
    (tied scores enter together, no interpolation). ``nan`` when there are no positives."""
    y, s = _binary_inputs(y_true, score, "average_precision")
    return float(_ranking_weighted(y, s, np.ones((y.shape[0], 1)))[1][0])


def _binary_batched(kind: str):
    def batched(y_true, score, Wt):
        y, s = _binary_inputs(y_true, score, "bootstrap_ci")
        auroc, avg_prec = _ranking_weighted(y, s, Wt, ap=kind == "ap")
        return auroc if kind == "auroc" else avg_prec

    return batched


def _per_class_values(kind: str, Y: np.ndarray, S: np.ndarray) -> np.ndarray:
    if kind == "auroc":
        return np.array([_auroc_col(Y[:, c], S[:, c]) for c in range(Y.shape[1])])
    return _per_class_weighted(Y, S, np.ones((Y.shape[0], 1)))[1][0]


def _macro(values: np.ndarray, defined: np.ndarray) -> np.ndarray:
    """Mean over ``defined`` classes along the last axis; nan if any of them is undefined (or none is)."""
    if not defined.any():
        return np.full(values.shape[:-1], np.nan)
    return values[..., defined].mean(axis=-1)


def macro_auroc(y, scores, *, classes=None, with_undefined: bool = False):
    """Mean AUROC over the classes where it is defined (each has positives and negatives).

    Returns a float (``nan`` if no class is defined), or ``(value, undefined_class_names)`` with
    ``with_undefined=True``.
    """
    return _macro_point("auroc", y, scores, classes, with_undefined, "macro_auroc")


def macro_average_precision(y, scores, *, classes=None, with_undefined: bool = False):
    """Mean average precision over the classes with at least one positive (see :func:`macro_auroc`)."""
    return _macro_point("ap", y, scores, classes, with_undefined, "macro_average_precision")


def _macro_point(kind, y, scores, classes, with_undefined, where):
    Y, S, _ = _prepare(y, scores, where)
    names = _class_names(classes, Y.shape[1], where)
    defined = _defined(kind, Y)
    value = float(_macro(_per_class_values(kind, Y, S), defined))
    if with_undefined:
        return value, [n for n, d in zip(names, defined) if not d]
    return value


def _macro_batched(kind: str):
    # In a resample, the classes averaged are those defined on the full data; a resample where one
    # of them becomes undefined is undefined (skipped) rather than averaged over fewer classes.
    def batched(y, scores, Wt):
        Y, S, _ = _prepare(y, scores, "bootstrap_ci")
        defined = _defined(kind, Y)
        if not defined.any():
            return np.full(Wt.shape[1], np.nan)
        auroc, avg_prec = _per_class_weighted(Y[:, defined], S[:, defined], Wt, ap=kind == "ap")
        return (auroc if kind == "auroc" else avg_prec).mean(axis=1)

    return batched


# Metrics that bootstrap_ci can evaluate on all resamples at once (as record weights).
roc_auc._ecgedge_batched = _binary_batched("auroc")  # type: ignore[attr-defined]
average_precision._ecgedge_batched = _binary_batched("ap")  # type: ignore[attr-defined]
macro_auroc._ecgedge_batched = _macro_batched("auroc")  # type: ignore[attr-defined]
macro_average_precision._ecgedge_batched = _macro_batched("ap")  # type: ignore[attr-defined]


def _undefined_reason(name: str, n_pos: int, n: int) -> str | None:
    if n_pos == 0:
        return f"class {name} has no positives in this fold: AUROC and AP undefined"
    if n_pos == n:
        return f"class {name} has no negatives in this fold: AUROC undefined"
    return None


def per_class(y, scores, classes=None) -> dict:
    """Per-class AUROC, average precision and counts: ``{class: {auroc, average_precision, n_positive,
    n_negative}}`` (JSON-clean; undefined values are ``None``)."""
    Y, S, _ = _prepare(y, scores, "per_class")
    names = _class_names(classes, Y.shape[1], "per_class")
    auc = _per_class_values("auroc", Y, S)
    ap = _per_class_values("ap", Y, S)
    n_pos = Y.sum(axis=0)
    return {
        name: {
            "auroc": _clean(auc[c]),
            "average_precision": _clean(ap[c]),
            "n_positive": int(n_pos[c]),
            "n_negative": int(Y.shape[0] - n_pos[c]),
        }
        for c, name in enumerate(names)
    }


# --------------------------------------------------------------------------------------------
# Thresholds


def _sweep(y: np.ndarray, s: np.ndarray):
    """Distinct thresholds (descending) with tp and fp of ``score >= threshold`` at each."""
    order = np.argsort(-s, kind="stable")
    ss = s[order]
    starts = _tie_groups(ss)
    ends = np.append(starts[1:], ss.shape[0])
    tp = np.cumsum(y[order])[ends - 1]
    return ss[starts], tp, ends - tp


def tune_thresholds(y_val, scores_val, method: str = "f1") -> np.ndarray:
    """Per-class decision thresholds chosen on the validation fold only -> ``float64[C]``.

    ``method="f1"`` maximises F1, ``"youden"`` maximises sensitivity + specificity - 1. Candidate
    thresholds are the distinct validation scores (predict positive when ``score >= threshold``);
    among equally good ones the highest is taken. A class without positives gets a threshold just
    above its highest score (never predicted); with ``"youden"``, a class without negatives gets its
    lowest score (always predicted).
    """
    if method not in ("f1", "youden"):
        raise _fail("tune_thresholds", f"unknown method {method!r}", "use 'f1' or 'youden'")
    Y, S, _ = _prepare(y_val, scores_val, "tune_thresholds")
    out = np.empty(Y.shape[1])
    for c in range(Y.shape[1]):
        y, s = Y[:, c], S[:, c]
        n_pos = int(y.sum())
        n_neg = y.shape[0] - n_pos
        if n_pos == 0:
            out[c] = np.nextafter(s.max(), np.inf)
            continue
        if method == "youden" and n_neg == 0:
            out[c] = s.min()
            continue
        thr, tp, fp = _sweep(y, s)
        if method == "f1":
            gain = 2.0 * tp / (tp + fp + n_pos)
        else:
            gain = tp * n_neg - fp * n_pos  # Youden's J * n_pos * n_neg, exact in integers
        out[c] = thr[int(np.argmax(gain))]
    return out


def _ratio(a, b) -> float:
    return a / b if b > 0 else math.nan


def threshold_metrics(y, scores, thresholds, classes=None) -> dict:
    """Sensitivity, specificity, precision, F1 and counts per class at fixed thresholds, plus macro
    averages (over the classes where each is defined). ``thresholds`` is a sequence ``[C]`` or a
    mapping from class name. JSON-clean: undefined values are ``None``, reasons under ``"undefined"``."""
    where = "threshold_metrics"
    Y, S, _ = _prepare(y, scores, where)
    names = _class_names(classes, Y.shape[1], where)
    if isinstance(thresholds, Mapping):
        missing = [n for n in names if n not in thresholds]
        if missing:
            raise _fail(where, f"no threshold for class(es) {', '.join(missing)}")
        thr = np.array([thresholds[n] for n in names], dtype=np.float64)
    else:
        thr = np.asarray(thresholds, dtype=np.float64).reshape(-1)
        if thr.shape[0] != Y.shape[1]:
            raise _fail(where, f"{thr.shape[0]} thresholds given for {Y.shape[1]} classes")
    if np.isnan(thr).any():
        raise _fail(where, "thresholds contain NaN")
    pred = S >= thr
    tp = (pred & Y).sum(axis=0)
    fp = (pred & ~Y).sum(axis=0)
    fn = (~pred & Y).sum(axis=0)
    tn = (~pred & ~Y).sum(axis=0)
    keys = ("sensitivity", "specificity", "precision", "f1")
    per, undefined = {}, []
    columns: dict[str, list[float]] = {k: [] for k in keys}
    for c, name in enumerate(names):
        vals = {
            "sensitivity": _ratio(tp[c], tp[c] + fn[c]),
            "specificity": _ratio(tn[c], tn[c] + fp[c]),
            "precision": _ratio(tp[c], tp[c] + fp[c]),
            "f1": _ratio(2 * tp[c], 2 * tp[c] + fp[c] + fn[c]),
        }
        for k in keys:
            columns[k].append(vals[k])
        if tp[c] + fn[c] == 0:
            undefined.append(f"class {name} has no positives in this fold: sensitivity undefined")
        if tn[c] + fp[c] == 0:
            undefined.append(f"class {name} has no negatives in this fold: specificity undefined")
        if tp[c] + fp[c] == 0:
            undefined.append(f"class {name} is never predicted positive: precision undefined")
        per[name] = {"threshold": float(thr[c]), "tp": int(tp[c]), "fp": int(fp[c]), "tn": int(tn[c]),
                     "fn": int(fn[c]), **{k: _clean(v) for k, v in vals.items()}}
    macro = {}
    for k in keys:
        col = np.array(columns[k])
        ok = ~np.isnan(col)
        macro[k] = _clean(col[ok].mean()) if ok.any() else None
    return {"per_class": per, "macro": macro, "undefined": undefined}


# --------------------------------------------------------------------------------------------
# Single-label (softmax) metrics


def _single_label(y, scores, where: str):
    Y, S, idx = _prepare(y, scores, where, single_label=True)
    if idx is None:
        raise _fail(where, "single-label metrics need class indices or one-hot labels with a score matrix [N, C]")
    return idx, S


def accuracy(y, scores) -> float:
    """Fraction of records whose highest-scoring class is the true class (single-label data)."""
    idx, S = _single_label(y, scores, "accuracy")
    return float((S.argmax(axis=1) == idx).mean())


def confusion_matrix(y, scores) -> np.ndarray:
    """``int64[C, C]``: rows are true classes, columns the predicted (highest-scoring) classes."""
    idx, S = _single_label(y, scores, "confusion_matrix")
    C = S.shape[1]
    return np.bincount(idx * C + S.argmax(axis=1), minlength=C * C).reshape(C, C)


# --------------------------------------------------------------------------------------------
# Bootstrap


class BootstrapCI(tuple):
    """``(point, low, high)``; also ``.skipped`` (resamples where the metric was undefined) and
    ``.n`` (resamples drawn)."""

    def __new__(cls, point: float, low: float, high: float, skipped: int = 0, n: int = 0):
        self = super().__new__(cls, (float(point), float(low), float(high)))
        self.skipped = int(skipped)
        self.n = int(n)
        return self

    def __getnewargs__(self):
        return (*self, self.skipped, self.n)

    @property
    def point(self) -> float:
        return self[0]

    @property
    def low(self) -> float:
        return self[1]

    @property
    def high(self) -> float:
        return self[2]

    def __repr__(self) -> str:
        return f"BootstrapCI(point={self[0]!r}, low={self[1]!r}, high={self[2]!r}, skipped={self.skipped}, n={self.n})"


def _check_bootstrap_args(n, alpha, where: str) -> None:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise _fail(where, f"number of bootstrap resamples must be a whole number >= 0, got {n!r}")
    if not (isinstance(alpha, (int, float)) and 0 < alpha < 1):
        raise _fail(where, f"alpha must be between 0 and 1, got {alpha!r}")


def _resamples(n_records: int, n: int, seed) -> Iterator[np.ndarray]:
    """Row indices of ``n`` resamples, in chunks ``[b, n_records]`` (same stream for any metric)."""
    rng = np.random.default_rng(seed)
    step = max(1, _CHUNK_ELEMS // n_records)
    for start in range(0, n, step):
        yield rng.integers(0, n_records, size=(min(step, n - start), n_records))


def _counts(idx: np.ndarray, n_records: int) -> np.ndarray:
    """Resampled row indices ``[B, N]`` -> how often each record was drawn, record-major ``[N, B]``."""
    b = idx.shape[0]
    flat = (idx * b + np.arange(b)[:, None]).ravel()
    return np.bincount(flat, minlength=b * n_records).reshape(n_records, b).astype(np.float64)


def _interval(point: float, values: np.ndarray, alpha: float) -> BootstrapCI:
    ok = ~np.isnan(values)
    n, used = values.shape[0], int(ok.sum())
    if math.isnan(point) or used == 0:
        return BootstrapCI(point, math.nan, math.nan, n - used, n)
    low, high = np.quantile(values[ok], [alpha / 2, 1 - alpha / 2])
    return BootstrapCI(point, low, high, n - used, n)


def bootstrap_ci(metric_fn: Callable, y, scores, n: int = 1000, seed=0, alpha: float = 0.05) -> BootstrapCI:
    """Percentile bootstrap CI of ``metric_fn(y, scores)`` over records -> ``(point, low, high)``.

    Rows of ``y`` and ``scores`` are resampled together with replacement ``n`` times; resamples where
    the metric is ``nan`` (undefined) are skipped and counted in ``.skipped``. The metrics of this
    module (:func:`roc_auc`, :func:`average_precision`, :func:`macro_auroc`,
    :func:`macro_average_precision`) run on all resamples at once; any other callable is called once
    per resample. For the macro metrics a resample counts as undefined when a class averaged on the
    full data has no positives (or, for AUROC, no negatives) in it.
    """
    _check_bootstrap_args(n, alpha, "bootstrap_ci")
    y_arr, s_arr = np.asarray(y), np.asarray(scores)
    if s_arr.ndim == 0 or y_arr.ndim == 0 or y_arr.shape[0] != s_arr.shape[0]:
        raise _fail("bootstrap_ci", f"labels of shape {y_arr.shape} do not match scores of shape {s_arr.shape}")
    point = float(metric_fn(y_arr, s_arr))
    n_records = s_arr.shape[0]
    if math.isnan(point) or n == 0:
        return BootstrapCI(point, math.nan, math.nan, n, n)
    values = np.empty(n)
    at = 0
    for idx in _resamples(n_records, n, seed):
        values[at:at + idx.shape[0]] = _on_resamples(metric_fn, y_arr, s_arr, idx)
        at += idx.shape[0]
    return _interval(point, values, alpha)


def _on_resamples(metric_fn: Callable, y: np.ndarray, s: np.ndarray, idx: np.ndarray,
                  counts: np.ndarray | None = None) -> np.ndarray:
    """``metric_fn`` on each resample of a chunk (rows ``idx [B, N]``; the metrics of this module evaluate every
    resample at once, as record weights ``counts [N, B]``, computed here unless given)."""
    batched = getattr(metric_fn, "_ecgedge_batched", None)
    if batched is not None:
        return batched(y, s, _counts(idx, y.shape[0]) if counts is None else counts)
    return np.array([float(metric_fn(y[rows], s[rows])) for rows in idx])


def paired_bootstrap(metric_fn: Callable, y, scores_a, scores_b, n: int = 1000, seed=0,
                     alpha: float = 0.05) -> dict:
    """How much better model A scores than model B on the same records, with its uncertainty.

    Both models' scores are resampled with the same rows each time (a paired bootstrap), so that the
    records both find easy or hard cancel out: the interval of the difference is much narrower than the
    two models' own intervals suggest. Returns ``{"a", "b", "difference", "difference_ci", "p_a_better",
    "n_records", "n_resamples", "skipped"}``; ``p_a_better`` is the share of resamples in which A scored
    higher (a bootstrap probability, not a p-value). Resamples where the metric is undefined for either
    model are skipped and counted.
    """
    where = "paired_bootstrap"
    _check_bootstrap_args(n, alpha, where)
    y_arr, a_arr, b_arr = np.asarray(y), np.asarray(scores_a), np.asarray(scores_b)
    if a_arr.shape != b_arr.shape or y_arr.ndim == 0 or a_arr.ndim == 0 or y_arr.shape[0] != a_arr.shape[0]:
        raise _fail(where, f"labels {y_arr.shape}, scores A {a_arr.shape} and scores B {b_arr.shape} must "
                           "cover the same records", fix="predict both models on the same records, in one order")
    pa, pb = float(metric_fn(y_arr, a_arr)), float(metric_fn(y_arr, b_arr))
    n_records = a_arr.shape[0]
    diffs, wins = np.empty(n), np.empty(n)
    at = 0
    for idx in _resamples(n_records, n, seed):
        w = _counts(idx, n_records) if hasattr(metric_fn, "_ecgedge_batched") else None  # one draw, both models
        va, vb = _on_resamples(metric_fn, y_arr, a_arr, idx, w), _on_resamples(metric_fn, y_arr, b_arr, idx, w)
        diffs[at:at + idx.shape[0]] = va - vb
        wins[at:at + idx.shape[0]] = va > vb
        at += idx.shape[0]
    iv = _interval(pa - pb, diffs, alpha)
    ok = ~np.isnan(diffs)
    return {"a": _clean(pa), "b": _clean(pb), "difference": _clean(pa - pb),
            "difference_ci": None if math.isnan(iv.low) else [float(iv.low), float(iv.high)],
            "p_a_better": float(wins[ok].mean()) if ok.any() else None,
            "n_records": int(n_records), "n_resamples": int(n), "skipped": int(iv.skipped)}


# --------------------------------------------------------------------------------------------
# Report


def evaluate(y, scores, classes=None, thresholds=None, bootstrap: int = 1000, seed=0, alpha: float = 0.05,
             single_label: bool | None = None, decision_weights=None) -> dict:
    """A JSON-serialisable evaluation report.

    Keys: ``task`` ("multi-label", "single-label" or "binary"), ``classes``, ``n_records``,
    ``n_positive`` (per class), ``macro_auroc`` / ``macro_auroc_ci`` (``[low, high]``), ``macro_ap`` /
    ``macro_ap_ci``, ``per_class`` (auroc, auroc_ci, ap, ap_ci, n_positive, n_negative), ``bootstrap``
    (settings and skipped resamples), ``undefined`` (reasons), ``notes``; ``thresholds`` (see
    :func:`threshold_metrics`) when thresholds are given; ``accuracy`` and ``confusion_matrix``
    (rows true, columns predicted) for single-label data, which is recognised from class-index
    labels or forced with ``single_label=True`` for one-hot labels. Single-label decisions (accuracy,
    confusion matrix, ``f1``, ``macro_f1``, ``challenge_f1``) take the class with the largest score times its
    ``decision_weights`` (the most probable class without them).
    """
    where = "evaluate"
    _check_bootstrap_args(bootstrap, alpha, where)
    Y, S, idx = _prepare(y, scores, where, single_label=single_label)
    if single_label is False:
        idx = None
    n_records, n_classes = Y.shape
    names = _class_names(classes, n_classes, where)
    if idx is not None:
        task = "single-label"
    elif np.asarray(scores).ndim == 1:
        task = "binary"
    else:
        task = "multi-label"

    n_pos = Y.sum(axis=0)
    point = {"auroc": _per_class_values("auroc", Y, S), "ap": _per_class_values("ap", Y, S)}
    defined = {k: _defined(k, Y) for k in point}
    macro_point = {k: float(_macro(point[k], defined[k])) for k in point}

    undefined = []
    for c, name in enumerate(names):
        reason = _undefined_reason(name, int(n_pos[c]), n_records)
        if reason:
            undefined.append(reason)
    for k, label in (("auroc", "macro AUROC"), ("ap", "macro AP")):
        n_def = int(defined[k].sum())
        if n_def == 0:
            undefined.append(f"{label} undefined: no class has a defined value")
        elif n_def < n_classes:
            undefined.append(f"{label} averages {n_def} of {n_classes} classes")

    # Bootstrap: one stream of resamples shared by every metric, as record weights.
    boot = {k: np.empty((bootstrap, n_classes)) for k in point}
    at = 0
    if bootstrap:
        for rows in _resamples(n_records, bootstrap, seed):
            auroc, avg_prec = _per_class_weighted(Y, S, _counts(rows, n_records))
            boot["auroc"][at:at + rows.shape[0]] = auroc
            boot["ap"][at:at + rows.shape[0]] = avg_prec
            at += rows.shape[0]

    notes = []
    skipped: dict = {"macro_auroc": None, "macro_ap": None, "auroc": {}, "ap": {}}

    def ci(p: float, values: np.ndarray, label: str):
        if not bootstrap:
            return None, None
        iv = _interval(p, values, alpha)
        if iv.skipped and not math.isnan(p):
            notes.append(f"{label} CI: {iv.skipped} of {bootstrap} resamples skipped (metric undefined in them)")
        return (None if math.isnan(iv.low) else [iv.low, iv.high]), iv.skipped

    macro_ci = {}
    for k, label in (("auroc", "macro AUROC"), ("ap", "macro AP")):
        mvals = _macro(boot[k], defined[k]) if bootstrap else np.empty(0)
        macro_ci[k], skipped[f"macro_{k}"] = ci(macro_point[k], mvals, label)

    per = {}
    for c, name in enumerate(names):
        auc_ci, skipped["auroc"][name] = ci(point["auroc"][c], boot["auroc"][:, c], f"class {name} AUROC")
        ap_ci, skipped["ap"][name] = ci(point["ap"][c], boot["ap"][:, c], f"class {name} AP")
        per[name] = {
            "auroc": _clean(point["auroc"][c]),
            "auroc_ci": auc_ci,
            "ap": _clean(point["ap"][c]),
            "ap_ci": ap_ci,
            "n_positive": int(n_pos[c]),
            "n_negative": int(n_records - n_pos[c]),
        }

    report = {
        "task": task,
        "classes": names,
        "n_records": int(n_records),
        "n_positive": {name: int(n_pos[c]) for c, name in enumerate(names)},
        "macro_auroc": _clean(macro_point["auroc"]),
        "macro_auroc_ci": macro_ci["auroc"],
        "macro_ap": _clean(macro_point["ap"]),
        "macro_ap_ci": macro_ci["ap"],
        "per_class": per,
        "bootstrap": {"n": int(bootstrap), "seed": _json_seed(seed),
                      "alpha": float(alpha), "method": "percentile, records resampled with replacement",
                      "skipped": skipped},
        "undefined": undefined,
        "notes": notes,
    }
    if thresholds is not None:
        report["thresholds"] = threshold_metrics(Y, S, thresholds, classes=names)
    if idx is not None:
        pred = (S * (np.asarray(decision_weights, np.float64) if decision_weights is not None else 1.0)).argmax(axis=1)
        if decision_weights is not None:
            report["decision_weights"] = [float(w) for w in decision_weights]
        report["accuracy"] = float((pred == idx).mean())
        cm = np.bincount(idx * n_classes + pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)
        report["confusion_matrix"] = {"rows": "true class", "columns": "predicted class", "classes": names,
                                      "matrix": cm.tolist()}
        report["f1"] = {name: _clean(v) for name, v in zip(names, _argmax_f1(cm))}
        report["macro_f1"] = _clean(float(np.nanmean(_argmax_f1(cm))))
        score = challenge_f1_from_matrix(cm, names)
        if score is not None:
            report["challenge_f1"] = score
    return report


#: PhysioNet/CinC 2017's score: the mean F1 of normal, AF and other rhythm (noisy is predicted, not scored).
CHALLENGE_2017_CLASSES = ("N", "A", "O")


def _argmax_f1(cm: np.ndarray) -> np.ndarray:
    """Per-class F1 = 2 TP / (true + predicted) from a confusion matrix (rows true, columns predicted); NaN
    for a class neither present nor predicted."""
    cm = np.asarray(cm, dtype=np.float64)
    denom = cm.sum(axis=1) + cm.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, 2 * np.diag(cm) / denom, np.nan)


def challenge_f1_from_matrix(cm, classes) -> float | None:
    """The PhysioNet/CinC 2017 score (mean F1 of N, A and O, the noisy class counting only as a wrong or right
    prediction) from a single-label confusion matrix; None when the classes are not the challenge's."""
    names = [str(c) for c in classes]
    if not all(c in names for c in CHALLENGE_2017_CLASSES):
        return None
    f1 = _argmax_f1(cm)
    return _clean(float(np.mean([f1[names.index(c)] for c in CHALLENGE_2017_CLASSES])))


def decision_score(classes) -> str:
    """What a single-label model's decision rule is tuned for: the PhysioNet/CinC 2017 score when the classes are
    that challenge's, else the macro F1."""
    return "challenge_f1" if all(c in [str(x) for x in classes] for c in CHALLENGE_2017_CLASSES) else "macro_f1"


def tune_decision_weights(y, scores, classes, grid=(0.5, 0.7, 1.0, 1.4, 2.0, 3.0)) -> np.ndarray:
    """Per-class weights for a single-label decision (the class with the largest score times its weight),
    chosen on validation data only to maximise :func:`decision_score` — on an imbalanced task the most
    probable class under-calls the rare ones. The first class's weight is 1; the others search ``grid``
    exhaustively (6^3 = 216 rules for four classes; coordinate ascent beyond five classes). Ties keep the
    weights closest to 1 (the plain most-probable class when nothing is better)."""
    idx, S = _single_label(y, scores, "tune_decision_weights")
    C = S.shape[1]
    names = [str(c) for c in classes]
    kind = decision_score(names)

    def score(w) -> float:
        pred = (S * w).argmax(axis=1)
        cm = np.bincount(idx * C + pred, minlength=C * C).reshape(C, C)
        v = challenge_f1_from_matrix(cm, names) if kind == "challenge_f1" else float(np.nanmean(_argmax_f1(cm)))
        return -1.0 if v is None or math.isnan(v) else v

    def closeness(w) -> float:
        return -float(np.abs(np.log(w)).sum())

    best = np.ones(C)
    best_key = (score(best), closeness(best))
    if C <= 5:
        for rest in itertools.product(grid, repeat=C - 1):
            w = np.array((1.0, *rest))
            key = (score(w), closeness(w))
            if key > best_key:
                best, best_key = w, key
        return best
    for _ in range(3):
        for c in range(1, C):
            for g in grid:
                w = best.copy()
                w[c] = g
                key = (score(w), closeness(w))
                if key > best_key:
                    best, best_key = w, key
    return best


def challenge_f1(y, scores, classes) -> float | None:
    """PhysioNet/CinC 2017 score of single-label predictions (the highest-scoring class), see
    :func:`challenge_f1_from_matrix`."""
    return challenge_f1_from_matrix(confusion_matrix(y, scores), classes)
