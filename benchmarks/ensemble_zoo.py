"""Ensembles of the PTB-XL zoo, chosen on the validation fold only, evaluated once on fold 10.

``python benchmarks/ensemble_zoo.py`` loads every ``runs/zoo/ptbxl_<arch>/model.safetensors``, computes
record-level probabilities (sliding windows, the recipe's aggregation) on fold 9 (validation) and fold
10 (test), greedily adds members by validation macro AUROC (Caruana-style forward selection without
replacement, stopping when validation stops improving), and reports the chosen ensemble's fold-10 macro
AUROC with a bootstrap interval next to its best single member. Fold 10 plays no part in any choice.
Results: ``benchmarks/results/ensemble-ptbxl100.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    import torch

    from ecgedge.machine import describe
    from ecgedge.metrics import bootstrap_ci, macro_auroc
    from ecgedge.training.checkpoint import load_checkpoint
    from ecgedge.training.data import labels, make_split, open_store
    from ecgedge.training.loop import predict
    from ecgedge.training.recipe import load_recipe

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--zoo", default=str(REPO / "runs" / "zoo"))
    ap.add_argument("--max-members", type=int, default=5)
    ap.add_argument("--cache", default=str(REPO / "runs" / "ensemble"))
    args = ap.parse_args()
    torch.set_num_threads(2)
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    probs = {}
    for ckpt in sorted(Path(args.zoo).glob("ptbxl_*/model.safetensors")):
        arch = ckpt.parent.name.removeprefix("ptbxl_")
        f = cache / f"{arch}.npz"
        if not f.exists():
            ck = load_checkpoint(ckpt)
            r = load_recipe(REPO / "train" / f"ptbxl_{arch}.toml")
            store = open_store(r)
            yy, _, _ = labels(store, r)
            sp = make_split(store, r, yy)
            c = ck.contract
            model = ck.build_model()
            t0 = time.perf_counter()
            pv = predict(model, store, sp.val, c, "cpu")
            pt = predict(model, store, sp.test, c, "cpu")
            np.savez(f, val=pv, test=pt, yval=yy[sp.val], ytest=yy[sp.test])
            print(f"{arch}: predicted in {time.perf_counter() - t0:.1f} s", flush=True)
        z = np.load(f)
        probs[arch] = (z["val"], z["test"])
        yv, yt = z["yval"], z["ytest"]
    single = {a: (macro_auroc(yv, p[0]), macro_auroc(yt, p[1])) for a, p in probs.items()}
    chosen, best = [], -1.0
    while len(chosen) < args.max_members:
        cands = []
        for a in probs:
            if a in chosen:
                continue
            m = np.mean([probs[b][0] for b in chosen + [a]], axis=0)
            cands.append((macro_auroc(yv, m), a))
        if not cands:
            break
        score, a = max(cands)
        if score <= best:
            break
        chosen.append(a)
        best = score
        print(f"+ {a}: validation macro AUROC {score:.4f}", flush=True)
    ens_test = np.mean([probs[a][1] for a in chosen], axis=0)
    top = max(single, key=lambda a: single[a][0])
    auc = macro_auroc(yt, ens_test)
    b = bootstrap_ci(macro_auroc, yt, ens_test, n=1000, seed=0)
    ci = [b[1], b[2]]
    out = {
        "when": time.strftime("%Y-%m-%d"), "machine": describe(),
        "selection": "greedy forward selection on fold 9 (validation) macro AUROC; fold 10 evaluated once",
        "members": chosen, "validation_macro_auroc": best, "test_macro_auroc": auc, "test_macro_auroc_ci": ci,
        "test_records": int(len(yt)),
        "best_single_by_validation": {"arch": top, "validation": single[top][0], "test": single[top][1]},
        "single": {a: {"validation": v, "test": t} for a, (v, t) in single.items()},
    }
    res = REPO / "benchmarks" / "results" / "ensemble-ptbxl100.json"
    res.write_text(json.dumps(out, indent=1))
    print(f"ensemble {'+'.join(chosen)}: fold-10 macro AUROC {auc:.4f} {ci} (best single {top}: "
          f"{single[top][1]:.4f}); wrote {res}")


if __name__ == "__main__":
    main()
