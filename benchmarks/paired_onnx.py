"""Two exported models on the same held-out records, through onnxruntime: a paired bootstrap of the difference.

    python benchmarks/paired_onnx.py NEW.int8.onnx OLD.int8.onnx --recipe train/X.toml --folds 9 --min-id 2000 \
        --name default-vs-previous-fold9

Where ``paired_compare.py`` needs two training runs, this takes two ONNX files (a shipped model, or one taken
from git history: ``git show REV:ecgedge/models/NAME.int8.onnx > old.onnx``), so that a new default can be
measured against the one it replaces on records neither has seen. The records are those of the recipe's data
set (its prepared store: the same preprocessing the models were trained on) in ``--folds``, optionally only
those whose numeric id is at least ``--min-id`` (PTB-XL: the previous default was trained and selected on
ecg_id 1-1999, so fold 9 above that is new to both). Each model is run with its own contract's window, stride
and aggregation; both must share classes and the store's preprocessing. Results:
``benchmarks/results/paired-NAME.json``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("reference", help="ONNX model whose gain is measured")
    ap.add_argument("other", help="ONNX model it is measured against")
    ap.add_argument("--recipe", required=True, help="recipe whose data set and preprocessing the records come from")
    ap.add_argument("--folds", default="9", help="comma-separated folds to score")
    ap.add_argument("--min-id", type=int, default=0, help="only records whose numeric id is at least this")
    ap.add_argument("--name", required=True, help="results file: benchmarks/results/paired-NAME.json")
    ap.add_argument("--resamples", type=int, default=2000)
    a = ap.parse_args()

    from ecgedge.artifact import read_info
    from ecgedge.atomic import atomic_write_text
    from ecgedge.dsp import Preprocessing
    from ecgedge.machine import describe
    from ecgedge.metrics import evaluate, macro_auroc, paired_bootstrap
    from ecgedge.runtime.evalset import store_windows
    from ecgedge.runtime.ort import run_batched, session
    from ecgedge.runtime.post import aggregate, probabilities
    from ecgedge.training.data import recipe_data
    from ecgedge.training.recipe import load_recipe

    d = recipe_data(load_recipe(a.recipe))
    folds = {int(f) for f in a.folds.split(",")}
    ids = np.array([int(re.sub(r"\D", "", n) or 0) for n in d.store.names])
    idx = np.flatnonzero(np.isin(d.store.folds.astype(int), list(folds)) & (ids >= a.min_id))
    if not len(idx):
        sys.exit("no records match --folds / --min-id")
    y = d.y[idx]
    scores, infos = [], []
    for path in (a.reference, a.other):
        info = read_info(path)
        c = info.contract
        if list(c.classes) != list(d.classes):
            sys.exit(f"{path}: classes {c.classes} differ from the data's {d.classes}")
        mine = Preprocessing.from_dict(d.store.manifest["preprocessing"]).to_dict()
        theirs = c.preprocessing.to_dict()
        differ = [k for k in ("fs", "band", "norm", "norm_scope", "baseline", "leads", "zero_phase")
                  if mine.get(k) != theirs.get(k)]
        if differ:
            sys.exit(f"{path}: its preprocessing differs from the store's in {', '.join(differ)}")
        x, owner = store_windows(d.store, idx, c.preprocessing)
        s = session(path, threads=2)
        t = time.perf_counter()
        p = aggregate(probabilities(run_batched(s, x), c.multilabel), owner, len(idx), c.aggregate)
        secs = time.perf_counter() - t
        scores.append(p)
        infos.append({"file": str(path), "arch": info.meta.get("arch"), "window": c.window,
                      "stride": c.preprocessing.stride, "windows_per_record": len(x) / len(idx),
                      "engine_seconds_per_1000_records": 1000 * secs / len(idx),
                      "macro_auroc": macro_auroc(y, p),
                      "per_class_auroc": {k: v["auroc"] for k, v in evaluate(y, p, list(d.classes),
                                                                             bootstrap=0)["per_class"].items()}})
    r = paired_bootstrap(macro_auroc, y, scores[0], scores[1], n=a.resamples, seed=0)
    lo, hi = r["difference_ci"]
    print(f"{len(idx)} records (folds {sorted(folds)}, id >= {a.min_id}): {r['a']:.4f} vs {r['b']:.4f}, difference "
          f"{r['difference']:+.4f} [{lo:+.4f}, {hi:+.4f}], reference higher in {100 * r['p_a_better']:.1f} % of "
          "resamples")
    out = ROOT / "benchmarks" / "results" / f"paired-{a.name}.json"
    atomic_write_text(out, json.dumps({
        "when": time.strftime("%Y-%m-%d"), "machine": describe(), "records": int(len(idx)),
        "folds": sorted(folds), "min_id": a.min_id, "data": d.store.manifest.get("dataset"),
        "reference": infos[0], "other": infos[1],
        "method": f"paired bootstrap over records, {a.resamples} resamples, seed 0, 95 % percentile interval",
        **r}, indent=1, default=float))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
