"""Package a trained, exported model into ``ecgedge/models/`` with its card.

    python benchmarks/ship_model.py RUN_DIR NAME [--export DIR]

The INT8 ONNX (and only it) is copied into the package. The card records the contract, the recipe,
the data store's key, how the model was chosen (validation fold only), the test-fold macro AUROC of
FP32 and INT8 with bootstrap 95 % intervals (the test fold is evaluated here, once, through the same
onnxruntime sessions and windows inference uses), and batch-1 latency on this machine.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run")
    ap.add_argument("name")
    ap.add_argument("--export", default="", help="folder with ARCH.fp32.onnx / ARCH.int8.onnx (default: export it)")
    ap.add_argument("--selection", default="", help="how this model was chosen (written into the card)")
    ap.add_argument("--reproduce", action="append", default=[],
                    help="a command that rebuilds the model (repeat, in order; written into the card)")
    ap.add_argument("--calib-method", default="percentile", help="INT8 calibration when this script exports the run")
    ap.add_argument("--pad", default="", choices=["", "zeros", "edge", "wrap"],
                    help="how the shipped contract pads a record shorter than its window (default: the checkpoint's); "
                         "no record of a data set whose records fill the window is affected")
    ap.add_argument("--test-root", default="",
                    help="data folder whose test folds the card reports, when the training data holds none (the "
                         "whole of PTB-XL as assembled here leaves fold 10 out: the shared subset's fold 10 is used)")
    ap.add_argument("--dev-run", default="",
                    help="the same recipe trained on the development split (folds 1-7, selection on 8): its fold-9 "
                         "result, never used for a choice, goes into the card as the honest estimate")
    ap.add_argument("--cv-runs", nargs="*", default=[],
                    help="for a model trained on every record (data.split = all): the same recipe's cross-validation "
                         "runs (one per fold, each with predictions.npz); their pooled test folds, every record "
                         "tested once, are the card's estimate")
    a = ap.parse_args()

    from ecgedge.artifact import read_info
    from ecgedge.export.pipeline import options_from, run_export
    from ecgedge.machine import describe
    from ecgedge.metrics import evaluate
    from ecgedge.runtime.bench import time_calls
    from ecgedge.runtime.evalset import store_windows
    from ecgedge.runtime.ort import run_batched, session
    from ecgedge.runtime.post import aggregate, probabilities
    from ecgedge.training.checkpoint import load_checkpoint
    from ecgedge.training.data import heldout_extra, recipe_data
    from ecgedge.training.recipe import recipe_from_dict

    run = Path(a.run)
    ck = load_checkpoint(run / "model.safetensors")
    arch = ck.arch
    exp = Path(a.export) if a.export else run / "export"
    if not (exp / f"{arch}.int8.onnx").exists():
        run_export(run / "model.safetensors", options_from(None, int8=True, out=str(exp), keep_float="auto",
                                                           method=a.calib_method))
    fp32, int8 = exp / f"{arch}.fp32.onnx", exp / f"{arch}.int8.onnx"
    c = ck.contract
    r = recipe_from_dict(ck.meta["recipe"])
    d = recipe_data(r)
    store, y, classes, split = d.store, d.y, d.classes, d.split
    whole = r.data.split == "all"
    parts = {"validation": (store, y, split.val)}
    if whole:
        if not a.cv_runs:
            sys.exit("the model trained on every record: give --cv-runs with the recipe's cross-validation runs")
        # nothing held out: the shipped file is checked (INT8 against FP32, and reproduced by `ecgedge bench
        # --folds 1,2`) on records it trained on, and its estimate is the CV's
        parts = {"check": (store, y, np.flatnonzero(np.isin(store.folds.astype(int), CHECK_FOLDS)))}
    elif a.test_root:
        import dataclasses

        rt = dataclasses.replace(r, data=dataclasses.replace(r.data, root=a.test_root))
        dt = recipe_data(rt)
        parts["test"] = (dt.store, dt.y, dt.split.test)
    else:
        parts["test"] = (store, y, split.test)
    if not whole and not len(parts["test"][2]):
        sys.exit("no test records: give --test-root with a data folder that holds the test fold(s)")
    res = {}
    for tag, f in (("fp32", fp32), ("int8", int8)):
        s = session(f, threads=2)
        for part, (st, yy, idx) in parts.items():
            x, owner = store_windows(st, idx, c.preprocessing)
            p = aggregate(probabilities(run_batched(s, x), c.multilabel), owner, len(idx), c.aggregate)
            res[(tag, part)] = evaluate(yy[idx], p, classes=list(classes), thresholds=list(c.thresholds or []),
                                        bootstrap=1000, single_label=None if c.multilabel else True)
            res[(tag, part, "argmax")] = p.argmax(axis=1)
    s1, s8 = session(fp32, threads=1), session(int8, threads=1)
    xx = np.random.default_rng(0).standard_normal((1, len(c.leads), c.window)).astype(np.float32)
    lat = {f"{tag}_ms": float(np.median(time_calls(lambda s=s: s.run(None, {"ecg": xx}), min_runs=300, warmup=20))
                              * 1e3) for tag, s in (("fp32", s1), ("int8", s8))}
    dest = ROOT / "ecgedge" / "models"
    dest.mkdir(exist_ok=True)
    fname = f"{a.name}.int8.onnx"
    shutil.copyfile(int8, dest / fname)
    info = read_info(dest / fname)
    if a.pad and info.contract.preprocessing.pad != a.pad:
        from ecgedge.export.onnx_export import set_metadata

        # a 10-s window model meets 5-s records: zeros are an input it never saw in training (every PTB-XL
        # record fills the window), the record repeated ("wrap") keeps its beats
        cd = info.contract.to_dict()
        cd["preprocessing"]["pad"] = a.pad
        meta = {k: v for k, v in info.meta.items() if k not in ("format", "version")}
        (dest / fname).write_bytes(set_metadata((dest / fname).read_bytes(), {**meta, "contract": cd}))
        info = read_info(dest / fname)
        c = info.contract
    if "heldout" not in (info.contract.extra or {}):
        # a checkpoint from before contracts named their held-out folds: record them in the shipped file, from
        # the same split the card is measured on, so `ecgedge bench` measures the model where the card does
        from ecgedge.export.onnx_export import set_metadata

        cd = info.contract.to_dict()
        cd["extra"] = {**(cd.get("extra") or {}), "heldout": heldout_extra(store, r, split)}
        meta = {k: v for k, v in info.meta.items() if k not in ("format", "version")}
        (dest / fname).write_bytes(set_metadata((dest / fname).read_bytes(), {**meta, "contract": cd}))
        info = read_info(dest / fname)
        c = info.contract

    p = c.preprocessing
    tr = ck.meta["recipe"].get("transfer") or {}
    members = (ck.meta.get("metrics") or {}).get("members") or []
    norm = ("per-record z-score per lead" if p.norm == "zscore" and p.norm_scope == "record" else
            "no amplitude normalisation (band-passed millivolts: voltage criteria such as hypertrophy's survive)"
            if p.norm == "none" else f"{p.norm} per {p.norm_scope}")
    who = ", ".join(f"{m.get('recipe') or m['arch']} seed {m.get('seed')}" for m in members)
    techniques = (f"random {p.window / p.fs:g}-s crops with the recipe's augmentations; {norm}; test-time sliding "
                  f"windows (stride {(p.stride or p.window) / p.fs:g} s) aggregated by {c.aggregate}; "
                  + (f"an ensemble of {len(members)} ({who}), "
                     "logits averaged in one graph, members chosen on validation" if members else "no ensembling")
                  + _distillation(ck.meta["recipe"].get("distill") or {}))
    if tr.get("init"):
        techniques += (f"; fine-tuned from the PTB-XL-pretrained {arch} ({tr['init']}), mode {tr.get('mode')}, "
                       f"discriminative lr factor {tr.get('discriminative_lr')}, first layer adapted to "
                       f"{len(c.leads)} lead(s) by {tr.get('lead_adapt')!r}")
    else:
        techniques += "; no extra pretraining"

    if whole:
        estimate = _cv_estimate(a.cv_runs, classes)
        check = {"folds": list(CHECK_FOLDS),
                 "note": "records the model trained on: a reproduction check (`ecgedge bench --folds 1,2`) and "
                         "INT8-against-FP32 agreement, not an accuracy estimate",
                 "fp32": pick(res[("fp32", "check")]), "int8": pick(res[("int8", "check")]),
                 "macro_auroc_int8": res[("int8", "check")]["macro_auroc"],
                 "decisions_agree": float(np.mean(res[("fp32", "check", "argmax")]
                                                  == res[("int8", "check", "argmax")]))}

    card = {
        "name": a.name, "file": fname, "sha256": hashlib.sha256((dest / fname).read_bytes()).hexdigest(),
        "bytes": (dest / fname).stat().st_size, "arch": arch, "n_parameters": ck.meta.get("n_parameters"),
        "members": [{k: m.get(k) for k in ("arch", "recipe", "seed", "validation_macro_auroc")} for m in members],
        "precision": _precision(info.meta),
        "kept_float": info.meta.get("kept_float", []),
        "contract": c.to_dict(), "recipe": ck.meta["recipe"], "data": {
            "dataset": r.data.dataset, "task": store.manifest.get("task"), "store_key": ck.meta.get("store_key"),
            "split": split.description, "records": {"train": len(split.train), "validation": len(split.val),
                                                    "test": 0 if whole else len(parts["test"][2])},
            "source": store.manifest.get("root") or r.data.root or "$ECGEDGE_DATA",
            "test_source": a.test_root or None},
        "reproduce": a.reproduce,
        "selection": a.selection or "chosen by validation macro AUROC; the test folds evaluated once",
        "techniques": techniques,
        **({"validation": None, "estimate": estimate, "check": check} if whole else {
            "validation": {"fp32": pick(res[("fp32", "validation")]), "int8": pick(res[("int8", "validation")])},
            "test": {"fp32": pick(res[("fp32", "test")]), "int8": pick(res[("int8", "test")]),
                     "macro_auroc_fp32": res[("fp32", "test")]["macro_auroc"],
                     "macro_auroc_int8": res[("int8", "test")]["macro_auroc"]}}),
        "development": _development(a.dev_run, pick) if a.dev_run else None,
        "latency_batch1_1thread": lat, "machine": describe(),
        "created": time.strftime("%Y-%m-%d"),
    }
    (dest / f"{a.name}.card.json").write_text(json.dumps(card, indent=1, default=float) + "\n")
    if whole:
        e = estimate["pooled"]
        print(f"{a.name}: {arch}, {card['bytes'] / 1e6:.2f} MB; CV estimate macro AUROC {e['macro_auroc']:.4f}, "
              f"challenge F1 {(e.get('decided') or {}).get('challenge_f1')} (argmax {e.get('challenge_f1')}); "
              f"check folds INT8 {check['macro_auroc_int8']:.4f} vs FP32 "
              f"{check['fp32']['macro_auroc']:.4f}, decisions agree {check['decisions_agree']:.4f}; latency {lat}")
        return
    t8, t32 = card["test"]["int8"], card["test"]["fp32"]
    print(f"{a.name}: {arch}, {card['bytes'] / 1e6:.2f} MB; test macro AUROC FP32 {t32['macro_auroc']:.4f} "
          f"{t32['macro_auroc_ci']}, INT8 {t8['macro_auroc']:.4f} {t8['macro_auroc_ci']}; latency {lat}")


def _distillation(d: dict) -> str:
    """The card's words for the recipe's distillation (``distill``: teachers, alpha, temperature)."""
    teachers = list(d.get("teacher") or [])
    if not teachers:
        return "; no distillation"
    names = ", ".join(Path(t).parent.name or t for t in teachers)
    return (f"; distilled from the mean probability of {len(teachers)} teacher(s) ({names}), alpha {d.get('alpha')}, "
            f"temperature {d.get('temperature')}")


CHECK_FOLDS = (1, 2)


def pick(d):
    out = {"macro_auroc": d["macro_auroc"], "macro_auroc_ci": d.get("macro_auroc_ci"), "n_records": d["n_records"],
           "per_class_auroc": {k: v["auroc"] for k, v in d["per_class"].items()}}
    for k in ("challenge_f1", "challenge_f1_ci", "f1", "accuracy", "confusion_matrix"):
        if d.get(k) is not None:
            out[k] = d[k]
    return out


def _cv_estimate(runs: list[str], classes) -> dict:
    """The pooled test folds of a recipe's cross-validation runs (FP32, PyTorch, the training pipeline's
    windows): every record tested once by a model that never saw it, its epoch chosen on other folds."""
    from ecgedge.metrics import evaluate, tune_decision_weights

    ys, ps, decided, folds, seen = [], [], [], [], set()
    for run in runs:
        z = np.load(Path(run) / "predictions.npz", allow_pickle=False)
        if [str(c) for c in z["classes"]] != [str(c) for c in classes]:
            sys.exit(f"{run}: classes {list(z['classes'])} are not the model's {list(classes)}")
        names = set(z["test_records"].tolist())
        if names & seen:
            sys.exit(f"{run}: its test records overlap another run's")
        seen |= names
        ys.append(z["test_labels"])
        ps.append(z["test_probs"])
        # each fold's model decides as it would ship: weights tuned on its own validation folds
        w = (tune_decision_weights(z["validation_labels"], z["validation_probs"], classes)
             if "validation_probs" in z and bool(np.all(z["test_labels"].sum(axis=1) == 1)) else np.ones(len(classes)))
        decided.append((z["test_probs"] * w).argmax(axis=1))
        m = json.loads((Path(run) / "metrics.json").read_text())
        folds.append({"run": str(run), "split": m["split"], "best_epoch": m["best_epoch"],
                      "test_macro_auroc": m["test"]["macro_auroc"], "test_challenge_f1": m["test"].get("challenge_f1"),
                      "n_records": m["test"]["n_records"]})
    y, p, d = np.concatenate(ys), np.concatenate(ps), np.concatenate(decided)
    single = bool(np.all(y.sum(axis=1) == 1))
    ev = evaluate(y, p, classes=list(classes), bootstrap=1000, single_label=True if single else None)
    est = pick(ev)
    if single:
        from ecgedge.metrics import _argmax_f1, challenge_f1_from_matrix

        # decisions under each fold's own decision weights, pooled (the argmax figures above are without them)
        C, t = len(classes), y.argmax(1)
        cm = np.bincount(t * C + d, minlength=C * C).reshape(C, C)
        est["decided"] = {"rule": "each fold's decision weights, tuned on its validation folds",
                          "accuracy": float((d == t).mean()),
                          "f1": {str(c): float(v) for c, v in zip(classes, _argmax_f1(cm))},
                          "confusion_matrix": {"rows": "true class", "columns": "decided class",
                                               "classes": [str(c) for c in classes], "matrix": cm.tolist()}}
        score = challenge_f1_from_matrix(cm, classes)
        if score is not None:
            est["decided"]["challenge_f1"] = score
            est["decided"]["challenge_f1_ci"] = _bootstrap_challenge_f1(t, d, classes)
    return {"source": f"{len(runs)}-fold cross-validation of the same recipe: each fold's model trained on six "
                      "folds, its epoch chosen on two others, tested once on the remaining two; pooled, every "
                      "record tested once (FP32, PyTorch)", "pooled": est, "folds": folds}


def _bootstrap_challenge_f1(true, pred, classes, n: int = 1000, seed: int = 0) -> list[float]:
    from ecgedge.metrics import challenge_f1_from_matrix

    rng = np.random.default_rng(seed)
    C = len(classes)
    vals = []
    for _ in range(n):
        i = rng.integers(0, len(true), len(true))
        cm = np.bincount(true[i] * C + pred[i], minlength=C * C).reshape(C, C)
        vals.append(challenge_f1_from_matrix(cm, classes))
    return [float(np.percentile(vals, 2.5)), float(np.percentile(vals, 97.5))]


def _precision(meta: dict) -> str:
    c = meta.get("calibration") or {}
    scope = "per-channel" if c.get("per_channel") else "per-tensor"
    return (f"int8 (QDQ, {meta.get('flavour', 'cpu')} flavour, {scope}, {c.get('method', '?')} calibration on "
            f"{c.get('windows', '?')} windows of the {c.get('source', '?')})")


def _development(run: str, pick) -> dict:
    """The dev-split run of the same recipe: trained on folds 1-7, its epoch chosen on fold 8, fold 9 evaluated
    once (FP32, in PyTorch, through the training pipeline's windows)."""
    m = json.loads((Path(run) / "metrics.json").read_text())
    return {"run": str(run), "split": m["split"], "best_epoch": m["best_epoch"],
            "validation_macro_auroc": m["validation"]["macro_auroc"], "test": pick(m["test"])}


if __name__ == "__main__":
    main()
