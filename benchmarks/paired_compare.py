"""How much better is one model than another on the held-out fold: a paired bootstrap of the difference.

``python benchmarks/paired_compare.py shipped=runs/acc/ens_seeds resnet1d18=runs/zoo/ptbxl_resnet1d18 ...``
predicts the test fold (fold 10 for the PTB-XL recipes) with every checkpoint through the training pipeline's
own evaluation (its prepared store, sliding windows, aggregation), checks that all of them cover the same
records with the same labels, and reports the first model's macro AUROC minus each other's, with a 95 %
interval from 2,000 resamples of the records drawn once for both models (``ecgedge.metrics.paired_bootstrap``)
and the share of resamples in which the first scored higher.

Two models' own intervals on 252 records overlap for any gain under ~0.06; the paired interval is what says
whether a gain is real. Evaluating a test fold again chooses nothing: the checkpoints and their thresholds are
fixed before this runs. Results: ``benchmarks/results/paired-<name>.json`` and a README block (``--block``,
default ``paired``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from readme_block import replace_block

REPO = Path(__file__).resolve().parents[1]


def heldout_predictions(arg: str) -> tuple[str, np.ndarray, np.ndarray, list[str], list[str], dict]:
    """``(recipe name, scores, labels, record names, classes, checkpoint summary)`` on the run's test split;
    ``arg`` is a run folder or checkpoint, optionally ``LABEL=PATH``."""
    import torch

    from ecgedge.training.checkpoint import load_checkpoint
    from ecgedge.training.data import recipe_data
    from ecgedge.training.loop import predict
    from ecgedge.training.recipe import recipe_from_dict

    label, _, run = arg.rpartition("=")
    path = Path(run)
    ck = load_checkpoint(path / "model.safetensors" if path.is_dir() else path)
    c = ck.contract
    r = recipe_from_dict(dict(ck.meta["recipe"]))
    d = recipe_data(r)
    store, y, classes, split = d.store, d.y, d.classes, d.split
    torch.set_num_threads(1)
    model = ck.build_model()
    s = predict(model, store, split.test, c, torch.device("cpu"))
    metrics = ck.meta.get("metrics") or {}
    summary = {"run": label or (path.name if path.is_dir() else path.parent.name), "checkpoint": ck.path,
               "recipe": r.name, "arch": ck.arch,
               "n_parameters": sum(p.numel() for p in model.parameters()),
               "validation_macro_auroc": metrics.get("val_macro_auroc"), "split": split.description}
    return r.name, s, y[split.test], [store.names[i] for i in split.test], list(classes), summary


def main() -> None:
    from ecgedge.errors import EcgedgeError

    try:
        compare()
    except EcgedgeError as exc:
        raise SystemExit(f"error: {exc}") from None


def compare() -> None:
    from ecgedge.atomic import atomic_write_text
    from ecgedge.machine import describe
    from ecgedge.metrics import macro_auroc, paired_bootstrap

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("reference", help="the model to compare: run folder or checkpoint, optionally LABEL=PATH")
    ap.add_argument("others", nargs="+", help="models it is compared against (as the reference)")
    ap.add_argument("--name", default="ptbxl100-fold10", help="results file: benchmarks/results/paired-NAME.json")
    ap.add_argument("--resamples", type=int, default=2000)
    ap.add_argument("--readme", action="store_true", help="rewrite the README's block (--block)")
    ap.add_argument("--block", default="paired", help="the README block --readme rewrites (default: paired)")
    args = ap.parse_args()

    _, ref_s, ref_y, ref_ids, ref_classes, ref_info = heldout_predictions(args.reference)
    r_auc = macro_auroc(ref_y, ref_s)
    rows = []
    for other in args.others:
        name, s, y, ids, classes, info = heldout_predictions(other)
        if ids != ref_ids or classes != ref_classes or not np.array_equal(y, ref_y):
            raise SystemExit(f"{other}: its test split differs from {args.reference}'s (records, classes or "
                             "labels): a paired comparison needs the same records")
        r = paired_bootstrap(macro_auroc, ref_y, ref_s, s, n=args.resamples, seed=0)
        rows.append({"model": info, **r})
        lo, hi = r["difference_ci"]
        print(f"{ref_info['run']} - {info['run']} ({name}): {r['difference']:+.4f} [{lo:+.4f}, {hi:+.4f}] "
              f"({r['a']:.4f} vs {r['b']:.4f}; higher in {100 * r['p_a_better']:.1f} % of resamples)", flush=True)
    out = REPO / "benchmarks" / "results" / f"paired-{args.name}.json"
    atomic_write_text(out, json.dumps({"when": time.strftime("%Y-%m-%d"), "machine": describe(), "reference": ref_info,
                               "test_records": len(ref_ids), "split": ref_info["split"],
                               "method": f"paired bootstrap over records, {args.resamples} resamples, seed 0, "
                                         "95 % percentile interval of the macro AUROC difference",
                               "comparisons": rows}, indent=1))
    print(f"wrote {out}")
    if args.readme:
        lines = [f"| {ref_info['run']} ({r_auc:.3f}) minus | its macro AUROC | "
                 "difference [95 % paired CI] | reference higher in |",
                 "|---|---|---|---|"]
        for row in rows:
            lo, hi = row["difference_ci"]
            lines.append(f"| {row['model']['run']} | {row['b']:.3f} | "
                         f"{row['difference']:+.3f} [{lo:+.3f}, {hi:+.3f}] | {100 * row['p_a_better']:.1f} % |")
        if replace_block(args.block, "\n".join(lines)):
            print("README block updated")


if __name__ == "__main__":
    main()
