"""ecgedge.metrics against naive O(n^2) / explicit-sweep references and hand-computed cases."""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pytest

from ecgedge import metrics as m
from ecgedge.errors import EcgedgeError

# ---------------------------------------------------------------------------------------------
# Naive references


def naive_auroc(y, s) -> float:
    y = np.asarray(y, bool)
    s = np.asarray(s, float)
    pos, neg = s[y], s[~y]
    if len(pos) == 0 or len(neg) == 0:
        return math.nan
    total = 0.0
    for p in pos:
        for q in neg:
            total += 1.0 if p > q else (0.5 if p == q else 0.0)
    return total / (len(pos) * len(neg))


def naive_ap(y, s) -> float:
    y = np.asarray(y, bool)
    s = np.asarray(s, float)
    n_pos = y.sum()
    if n_pos == 0:
        return math.nan
    ap, prev_recall = 0.0, 0.0
    for t in sorted(set(s.tolist()), reverse=True):
        pred = s >= t
        tp = (pred & y).sum()
        recall = tp / n_pos
        precision = tp / pred.sum()
        ap += (recall - prev_recall) * precision
        prev_recall = recall
    return ap


def unbatched(fn):
    """The same metric without its vectorised bootstrap form: called once per resample."""

    def call(y, s):
        return fn(y, s)

    return call


def tied_data(rng, n, c=None, levels=6, prevalence=0.3):
    """Labels and heavily tied scores (few distinct levels) that carry some signal."""
    shape = (n,) if c is None else (n, c)
    y = rng.random(shape) < prevalence
    s = np.round((rng.random(shape) + 0.6 * y) * (levels - 1) / 1.6) / (levels - 1)
    return y.astype(int), s


# ---------------------------------------------------------------------------------------------
# AUROC and AP


@pytest.mark.parametrize("seed", range(8))
def test_auroc_and_ap_match_naive_with_ties(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 80))
    y, s = tied_data(rng, n, levels=int(rng.integers(2, 8)))
    assert m.roc_auc(y, s) == pytest.approx(naive_auroc(y, s), abs=1e-12, nan_ok=True)
    assert m.average_precision(y, s) == pytest.approx(naive_ap(y, s), abs=1e-12, nan_ok=True)


def test_hand_cases():
    assert m.roc_auc([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4]) == 1.0
    assert m.roc_auc([1, 1, 0, 0], [0.1, 0.2, 0.3, 0.4]) == 0.0
    assert m.roc_auc([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5]) == 0.5
    assert m.average_precision([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4]) == 1.0
    # The examples of sklearn's documentation.
    assert m.roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    assert m.average_precision([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.8333333333)
    # All tied: one threshold, precision = prevalence.
    assert m.average_precision([1, 0, 0, 0], [1, 1, 1, 1]) == pytest.approx(0.25)
    # Ties grouped: (1/2 * 1/2) from the tied pair, then (1/2 * 2/3).
    assert m.average_precision([1, 0, 1], [0.9, 0.9, 0.1]) == pytest.approx(0.5 * 0.5 + 0.5 * 2 / 3)
    # Bool labels, integer scores, column vectors.
    assert m.roc_auc(np.array([[True], [False]]), np.array([[3], [1]])) == 1.0


def test_undefined_binary():
    assert math.isnan(m.roc_auc([0, 0, 0], [0.1, 0.2, 0.3]))
    assert math.isnan(m.roc_auc([1, 1], [0.1, 0.2]))
    assert math.isnan(m.average_precision([0, 0], [0.1, 0.2]))
    assert m.average_precision([1, 1], [0.1, 0.2]) == 1.0


def test_weighted_forms_match_resampled_data():
    rng = np.random.default_rng(1)
    y, s = tied_data(rng, 60, levels=5)
    idx = rng.integers(0, 60, size=(20, 60))
    auc, ap = m._ranking_weighted(y.astype(bool), s, m._counts(idx, 60))
    for b, rows in enumerate(idx):
        assert auc[b] == pytest.approx(naive_auroc(y[rows], s[rows]), abs=1e-12, nan_ok=True)
        assert ap[b] == pytest.approx(naive_ap(y[rows], s[rows]), abs=1e-12, nan_ok=True)


def test_per_class_and_macro_report_undefined():
    rng = np.random.default_rng(2)
    y, s = tied_data(rng, 50, 4)
    y[:, 1] = 0  # no positives
    y[:, 3] = 1  # no negatives
    names = ["AFIB", "STE", "NORM", "ALL"]
    pc = m.per_class(y, s, names)
    assert pc["STE"]["auroc"] is None and pc["STE"]["average_precision"] is None
    assert pc["ALL"]["auroc"] is None and pc["ALL"]["average_precision"] == 1.0
    assert pc["AFIB"]["auroc"] == pytest.approx(naive_auroc(y[:, 0], s[:, 0]))
    assert pc["NORM"]["average_precision"] == pytest.approx(naive_ap(y[:, 2], s[:, 2]))
    assert pc["STE"]["n_positive"] == 0 and pc["ALL"]["n_negative"] == 0
    value, undefined = m.macro_auroc(y, s, classes=names, with_undefined=True)
    assert undefined == ["STE", "ALL"]
    assert value == pytest.approx((naive_auroc(y[:, 0], s[:, 0]) + naive_auroc(y[:, 2], s[:, 2])) / 2)
    assert m.macro_auroc(y, s) == value
    ap_value, ap_undefined = m.macro_average_precision(y, s, classes=names, with_undefined=True)
    assert ap_undefined == ["STE"]
    assert ap_value == pytest.approx((naive_ap(y[:, 0], s[:, 0]) + naive_ap(y[:, 2], s[:, 2]) + 1.0) / 3)
    assert math.isnan(m.macro_auroc(np.zeros((5, 2)), s[:5, :2]))

    report = m.evaluate(y, s, names, bootstrap=50)
    assert "class STE has no positives in this fold: AUROC and AP undefined" in report["undefined"]
    assert "class ALL has no negatives in this fold: AUROC undefined" in report["undefined"]
    assert report["per_class"]["STE"]["auroc"] is None and report["per_class"]["STE"]["auroc_ci"] is None
    assert report["macro_auroc"] == pytest.approx(value)
    json.dumps(report, allow_nan=False)


# ---------------------------------------------------------------------------------------------
# Thresholds


def test_tune_thresholds_f1_toy():
    y = [1, 1, 0, 1, 0, 0]
    s = [0.9, 0.8, 0.7, 0.6, 0.3, 0.1]
    # F1 at >= 0.9, 0.8, 0.7, 0.6, 0.3, 0.1: 2/4, 4/5, 4/6, 6/7, 6/8, 6/9 -> 0.6 is best.
    assert m.tune_thresholds(y, s).tolist() == [0.6]
    tm = m.threshold_metrics(y, s, [0.6])
    c = tm["per_class"]["0"]
    assert (c["tp"], c["fp"], c["tn"], c["fn"]) == (3, 1, 2, 0)
    assert c["f1"] == pytest.approx(6 / 7)
    assert c["sensitivity"] == 1.0 and c["specificity"] == pytest.approx(2 / 3) and c["precision"] == 0.75
    # Youden: J at 0.6 is 1 - 1/3, at 0.8 it is 2/3 - 0: the highest of equals (0.8) wins.
    assert m.tune_thresholds(y, s, method="youden").tolist() == [0.8]


@pytest.mark.parametrize("method", ["f1", "youden"])
def test_tune_thresholds_optimal_by_brute_force(method):
    rng = np.random.default_rng(3)
    y, s = tied_data(rng, 70, 3)
    thr = m.tune_thresholds(y, s, method=method)
    for c in range(3):
        def gain(t, c=c):
            pred = s[:, c] >= t
            tp = (pred & (y[:, c] == 1)).sum()
            fp = (pred & (y[:, c] == 0)).sum()
            npos = y[:, c].sum()
            if method == "f1":
                return 2 * tp / (2 * tp + fp + (npos - tp))
            return tp / npos - fp / (len(y) - npos)

        best = max(gain(t) for t in np.unique(s[:, c]))
        assert gain(thr[c]) == pytest.approx(best)


def test_thresholds_degenerate_classes_and_macro():
    s = np.array([[0.2, 0.9], [0.4, 0.1], [0.6, 0.5]])
    y = np.array([[0, 1], [0, 1], [0, 1]])
    thr = m.tune_thresholds(y, s)
    assert thr[0] > 0.6  # no positives: never predicted
    assert thr[1] == 0.1  # all positive: everything predicted
    assert m.tune_thresholds(y, s, method="youden")[1] == 0.1
    tm = m.threshold_metrics(y, s, {"a": thr[0], "b": thr[1]}, classes=["a", "b"])
    assert tm["per_class"]["a"]["sensitivity"] is None and tm["per_class"]["a"]["precision"] is None
    assert tm["per_class"]["a"]["specificity"] == 1.0
    assert tm["per_class"]["b"]["specificity"] is None and tm["per_class"]["b"]["f1"] == 1.0
    assert tm["macro"]["sensitivity"] == 1.0 and tm["macro"]["specificity"] == 1.0
    assert any("class a has no positives" in u for u in tm["undefined"])
    json.dumps(tm, allow_nan=False)


# ---------------------------------------------------------------------------------------------
# Bootstrap


def test_bootstrap_ci_contains_point_reproducible_and_narrows():
    rng = np.random.default_rng(4)
    y, s = tied_data(rng, 250, 5, levels=20)
    ci = m.bootstrap_ci(m.macro_auroc, y, s, n=500, seed=7)
    point, low, high = ci
    assert point == m.macro_auroc(y, s)
    assert low < point < high
    assert ci.skipped == 0 and ci.n == 500
    assert tuple(m.bootstrap_ci(m.macro_auroc, y, s, n=500, seed=7)) == tuple(ci)
    assert tuple(m.bootstrap_ci(m.macro_auroc, y, s, n=500, seed=8)) != tuple(ci)
    y_big, s_big = tied_data(np.random.default_rng(5), 2500, 5, levels=20)
    big = m.bootstrap_ci(m.macro_auroc, y_big, s_big, n=500, seed=7)
    assert big.high - big.low < 0.6 * (high - low)


@pytest.mark.parametrize("fn", [m.roc_auc, m.average_precision, m.macro_auroc, m.macro_average_precision])
def test_vectorised_bootstrap_equals_per_resample_loop(fn):
    rng = np.random.default_rng(6)
    if fn in (m.roc_auc, m.average_precision):
        y, s = tied_data(rng, 40, levels=5)
    else:
        y, s = tied_data(rng, 40, 3, levels=5, prevalence=0.5)
    fast = m.bootstrap_ci(fn, y, s, n=200, seed=3)
    slow = m.bootstrap_ci(unbatched(fn), y, s, n=200, seed=3)
    assert fast == pytest.approx(slow, abs=1e-12)
    assert fast.skipped == slow.skipped


def test_bootstrap_skips_undefined_resamples():
    y = np.zeros(20, int)
    y[0] = 1
    s = np.linspace(0, 1, 20)
    ci = m.bootstrap_ci(m.roc_auc, y, s, n=300, seed=0)
    loop = m.bootstrap_ci(unbatched(m.roc_auc), y, s, n=300, seed=0)
    assert 0 < ci.skipped < 300  # P(no positive drawn) = 0.95**20, about 0.36
    assert ci.skipped == loop.skipped and ci == pytest.approx(loop)
    none = m.bootstrap_ci(m.roc_auc, np.zeros(5), np.arange(5.0), n=10)
    assert math.isnan(none.point) and math.isnan(none.low) and none.skipped == 10


def test_paired_bootstrap_difference():
    """Same scores: a difference of exactly 0. A model with a real edge: positive interval, narrower than
    the two unpaired intervals would suggest (the shared records' difficulty cancels), and the batched
    form equals the per-resample loop."""
    rng = np.random.default_rng(11)
    y, s = tied_data(rng, 300, 4, levels=50)
    same = m.paired_bootstrap(m.macro_auroc, y, s, s, n=200, seed=1)
    assert same["difference"] == 0 and same["difference_ci"] == [0.0, 0.0] and same["p_a_better"] == 0.0
    better = s + 0.6 * y + 0.2 * rng.standard_normal(s.shape)  # more of the label in it
    worse = s + 0.4 * y + 0.2 * rng.standard_normal(s.shape)
    r = m.paired_bootstrap(m.macro_auroc, y, better, worse, n=400, seed=2)
    assert r["a"] == m.macro_auroc(y, better) and r["b"] == m.macro_auroc(y, worse)
    assert r["difference"] == pytest.approx(r["a"] - r["b"])
    low, high = r["difference_ci"]
    assert 0 < low < r["difference"] < high and r["p_a_better"] > 0.975
    ca = m.bootstrap_ci(m.macro_auroc, y, better, n=400, seed=2)
    cb = m.bootstrap_ci(m.macro_auroc, y, worse, n=400, seed=2)
    assert high - low < ((ca.high - ca.low) ** 2 + (cb.high - cb.low) ** 2) ** 0.5
    slow = m.paired_bootstrap(unbatched(m.macro_auroc), y, better, worse, n=50, seed=3)
    fast = m.paired_bootstrap(m.macro_auroc, y, better, worse, n=50, seed=3)
    assert fast["difference_ci"] == pytest.approx(slow["difference_ci"], abs=1e-12)
    with pytest.raises(EcgedgeError, match="same records"):
        m.paired_bootstrap(m.macro_auroc, y, better, worse[:-1])


def test_evaluate_ci_matches_bootstrap_ci_and_is_fast():
    rng = np.random.default_rng(8)
    y, s = tied_data(rng, 250, 5, levels=30)
    t0 = time.perf_counter()
    report = m.evaluate(y, s, ["A", "B", "C", "D", "E"], bootstrap=1000, seed=0)
    elapsed = time.perf_counter() - t0
    assert elapsed < 1.5
    ci = m.bootstrap_ci(m.macro_auroc, y, s, n=1000, seed=0)
    assert report["macro_auroc"] == pytest.approx(ci.point)
    assert report["macro_auroc_ci"] == pytest.approx([ci.low, ci.high])
    per = m.bootstrap_ci(m.roc_auc, y[:, 2], s[:, 2], n=1000, seed=0)
    assert report["per_class"]["C"]["auroc_ci"] == pytest.approx([per.low, per.high])
    assert report["n_records"] == 250 and report["task"] == "multi-label"
    assert report["n_positive"]["A"] == int(y[:, 0].sum())
    assert report["bootstrap"]["skipped"]["macro_auroc"] == 0
    json.dumps(report, allow_nan=False)
    no_boot = m.evaluate(y, s, bootstrap=0)
    assert no_boot["macro_auroc_ci"] is None and no_boot["classes"] == ["0", "1", "2", "3", "4"]


def test_evaluate_with_thresholds():
    rng = np.random.default_rng(9)
    y_val, s_val = tied_data(rng, 100, 3)
    y_test, s_test = tied_data(rng, 80, 3)
    thr = m.tune_thresholds(y_val, s_val)
    report = m.evaluate(y_test, s_test, ["x", "y", "z"], thresholds=thr, bootstrap=20)
    tm = report["thresholds"]
    assert tm == m.threshold_metrics(y_test, s_test, thr, classes=["x", "y", "z"])
    x = tm["per_class"]["x"]
    assert x["tp"] + x["fp"] + x["tn"] + x["fn"] == 80
    assert x["threshold"] == thr[0]
    f1s = [tm["per_class"][c]["f1"] for c in "xyz"]
    assert tm["macro"]["f1"] == pytest.approx(np.mean(f1s))


# ---------------------------------------------------------------------------------------------
# Single-label


def test_single_label_indices():
    scores = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4], [0.5, 0.4, 0.1], [0.2, 0.2, 0.6]])
    y = np.array([0, 1, 1, 0, 2])
    assert m.accuracy(y, scores) == pytest.approx(0.8)
    assert m.confusion_matrix(y, scores).tolist() == [[2, 0, 0], [0, 1, 1], [0, 0, 1]]
    one_hot = m.to_one_hot(y, 3)
    assert one_hot.sum(axis=1).tolist() == [1] * 5
    assert m.macro_auroc(y, scores) == pytest.approx(m.macro_auroc(one_hot, scores))
    report = m.evaluate(y, scores, ["N", "A", "O"], bootstrap=10)
    assert report["task"] == "single-label"
    assert report["accuracy"] == pytest.approx(0.8)
    assert report["confusion_matrix"]["matrix"] == [[2, 0, 0], [0, 1, 1], [0, 0, 1]]
    assert report["n_positive"] == {"N": 2, "A": 2, "O": 1}
    assert report["per_class"]["N"]["auroc"] == pytest.approx(naive_auroc(one_hot[:, 0], scores[:, 0]))
    forced = m.evaluate(one_hot, scores, ["N", "A", "O"], bootstrap=10, single_label=True)
    assert forced["accuracy"] == report["accuracy"] and forced["task"] == "single-label"
    assert "accuracy" not in m.evaluate(one_hot, scores, bootstrap=0)
    json.dumps(report, allow_nan=False)


def test_single_label_missing_class_is_undefined():
    scores = np.array([[0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.5, 0.4, 0.1]])
    report = m.evaluate(np.array([0, 1, 0]), scores, ["N", "A", "O"], bootstrap=0)
    assert report["per_class"]["O"]["auroc"] is None
    assert "class O has no positives in this fold: AUROC and AP undefined" in report["undefined"]
    assert report["macro_auroc"] == pytest.approx(1.0)


# ---------------------------------------------------------------------------------------------
# Bad input


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: m.roc_auc([0, 1, 1], [0.1, np.nan, 0.3]), "NaN"),
        (lambda: m.evaluate(np.zeros((3, 2)), np.array([[0.1, 0.2], [np.nan, 0], [0, 0]])), "row 1, column 0"),
        (lambda: m.roc_auc([0, 1], [0.1, 0.2, 0.3]), "do not match"),
        (lambda: m.per_class(np.zeros((4, 2)), np.zeros((4, 3))), "do not match"),
        (lambda: m.macro_auroc(np.zeros(3), np.zeros((4, 3))), "do not match"),
        (lambda: m.roc_auc([0, 2, 1], [0.1, 0.2, 0.3]), "0 or 1"),
        (lambda: m.evaluate([0, 3, 1], np.zeros((3, 3))), "out of range"),
        (lambda: m.evaluate([0, 1.5, 1], np.zeros((3, 3))), "whole numbers"),
        (lambda: m.per_class(np.zeros((3, 2)), np.zeros((3, 2)), ["a"]), "class names"),
        (lambda: m.per_class(np.zeros((3, 2)), np.zeros((3, 2)), ["a", "a"]), "duplicate"),
        (lambda: m.tune_thresholds([0, 1], [0.1, 0.2], method="mcc"), "unknown method"),
        (lambda: m.threshold_metrics(np.zeros((3, 2)), np.zeros((3, 2)), [0.5]), "thresholds given"),
        (lambda: m.threshold_metrics(np.zeros((3, 2)), np.zeros((3, 2)), {"0": 0.5}), "no threshold"),
        (lambda: m.roc_auc([], []), "no records"),
        (lambda: m.roc_auc(np.zeros((3, 2)), np.zeros((3, 2))), "1-D"),
        (lambda: m.roc_auc(["a", "b"], [0.1, 0.2]), "numbers"),
        (lambda: m.accuracy(np.zeros((2, 2)), np.zeros((2, 2))), "exactly one positive"),
        (lambda: m.bootstrap_ci(m.roc_auc, [0, 1], [0.1, 0.2], n=-1), "resamples"),
        (lambda: m.evaluate([0, 1], [0.1, 0.2], alpha=1.5), "alpha"),
        (lambda: m.bootstrap_ci(m.roc_auc, [0, 1], [0.1, 0.2, 0.3]), "do not match"),
    ],
)
def test_bad_input(call, message):
    with pytest.raises(EcgedgeError, match=message):
        call()


def test_challenge_f1_by_hand():
    """PhysioNet/CinC 2017's score: mean F1 of N, A and O from argmax decisions; ~ is predicted but not scored."""
    from ecgedge.metrics import challenge_f1, evaluate

    classes = ["N", "A", "O", "~"]
    true = np.array([0, 0, 0, 1, 1, 2, 2, 3])
    pred = np.array([0, 0, 2, 1, 0, 2, 3, 3])
    scores = np.eye(4)[pred] * 0.7 + 0.1
    # N: TP 2, true 3, predicted 3 -> 4/6; A: TP 1, true 2, predicted 1 -> 2/3; O: TP 1, true 2, predicted 2 -> 1/2
    expect = (4 / 6 + 2 / 3 + 1 / 2) / 3
    assert challenge_f1(true, scores, classes) == pytest.approx(expect)
    rep = evaluate(np.eye(4)[true], scores, classes, bootstrap=0, single_label=True)
    assert rep["challenge_f1"] == pytest.approx(expect)
    assert rep["f1"]["~"] == pytest.approx(2 / 3) and rep["macro_f1"] == pytest.approx((expect * 3 + 2 / 3) / 4)
    # other class names: no challenge score
    assert challenge_f1(true, scores, ["a", "b", "c", "d"]) is None


def test_decision_weights_are_tuned_for_the_challenge_score():
    """On an imbalanced single-label task the most probable class under-calls the rare ones; the weights chosen
    on the data score at least as well as plain argmax, and plain argmax stays when nothing is better."""
    from ecgedge.metrics import challenge_f1, evaluate, tune_decision_weights

    classes = ["N", "A", "O", "~"]
    rng = np.random.default_rng(0)
    true = rng.choice(4, 2000, p=[0.6, 0.1, 0.25, 0.05])
    logits = rng.normal(0, 1, (2000, 4)) + 1.2 * np.eye(4)[true] + np.log([0.6, 0.1, 0.25, 0.05]) * 1.5
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    w = tune_decision_weights(true, p, classes)
    assert w[0] == 1.0 and w[1] > 1.0  # the rare AF class gets more weight
    assert challenge_f1(true, p * w, classes) > challenge_f1(true, p, classes) + 0.01
    rep = evaluate(np.eye(4)[true], p, classes, bootstrap=0, single_label=True, decision_weights=w)
    assert rep["challenge_f1"] == pytest.approx(challenge_f1(true, p * w, classes))
    perfect = np.eye(4)[true] * 0.9 + 0.025
    assert list(tune_decision_weights(true, perfect, classes)) == [1.0, 1.0, 1.0, 1.0]
