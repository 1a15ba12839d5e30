"""Transfer against scratch on a small imbalanced target: PhysioNet-2017 AF vs rest, single lead.

``python benchmarks/transfer_curve.py --init runs/zoo/ptbxl_resnet1d_wang/model.safetensors`` trains, for each
training-set size (``--sizes``, 0 = the whole training split) and each 5-fold cross-validation fold
(``--folds``):

- ``scratch``: ``train/physionet2017_af_scratch.toml``;
- ``transfer``: ``train/physionet2017_af_transfer.toml`` from the PTB-XL checkpoint, its 12-lead first layer
  adapted to the one lead by averaging over leads (``lead_adapt = "mean"``);
- ``transfer-first``: the same, keeping lead I's kernels instead (``lead_adapt = "first"``).

Every run selects its epoch on its own validation folds; its test folds are evaluated once. The table
(mean +- sd of test macro AUROC over the folds run, per kind and size) is rebuilt from every run found under
``--out`` and written to ``benchmarks/results/transfer-physionet2017.json``.

The curve's protocol, the same for every kind and size (``PROTOCOL``): an epoch draws at least 640 training
windows (10 optimizer steps; one pass over 100 records would be 2, too few for either kind to learn), and
evaluation windows do not overlap (10-s hop: half the evaluation cost of the recipes' 5-s hop, which the
shipped model keeps).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from readme_block import replace_block

REPO = Path(__file__).resolve().parents[1]
PROTOCOL = ["train.min_samples_per_epoch=640", "preprocessing.stride=10.0"]
KINDS = {
    "scratch": ("physionet2017_af_scratch.toml", []),
    "transfer": ("physionet2017_af_transfer.toml", ['transfer.lead_adapt="mean"']),
    "transfer-first": ("physionet2017_af_transfer.toml", ['transfer.lead_adapt="first"']),
}


def run_one(kind: str, size: int, fold: int, init: str, out_root: Path, extra: list[str]) -> None:
    out = out_root / f"{kind}-n{size or 'all'}-cv{fold}"
    if (out / "metrics.json").exists():
        return
    recipe, sets = KINDS[kind]
    cmd = [sys.executable, "-m", "ecgedge", "train", str(REPO / "train" / recipe), "--out", str(out),
           "--set", 'data.split="cv5"', "--set", f"data.cv_fold={fold}", "--set", f"data.train_size={size}",
           "--set", "train.bootstrap=0"]
    for s in PROTOCOL + sets + extra:
        cmd += ["--set", s]
    if kind != "scratch":
        cmd += ["--init", init]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    out.mkdir(parents=True, exist_ok=True)
    (out / "train.log").write_text(r.stdout + r.stderr)
    (out / "wall_seconds.txt").write_text(f"{time.perf_counter() - t0:.1f}\n")
    print(f"{out.name}: {'FAILED' if r.returncode else 'done'} in {time.perf_counter() - t0:.0f} s", flush=True)


def table(out_root: Path) -> dict:
    runs: dict[str, dict] = {}
    for m in sorted(out_root.glob("*-n*-cv*/metrics.json")):
        g = re.fullmatch(r"(.+)-n(\w+)-cv(\d)", m.parent.name)
        if not g or g[1] not in KINDS:
            continue
        d = json.loads(m.read_text())
        key = f"{g[1]}-{g[2]}"
        row = runs.setdefault(key, {"kind": g[1], "train_size": g[2], "folds": {}, "validation": {}})
        row["folds"][int(g[3])] = d["test"]["macro_auroc"]
        row["validation"][int(g[3])] = d["validation"]["macro_auroc"]
        row["test_records"] = d["test"]["n_records"]
    for row in runs.values():
        v = list(row["folds"].values())
        row["n_folds"], row["mean"] = len(v), statistics.mean(v)
        row["sd"] = statistics.stdev(v) if len(v) > 1 else None
    return runs


def readme_table(runs: dict) -> str:
    """Markdown: one row per training-set size, one column per kind (test macro AUROC mean +- sd over folds)."""
    kinds = [k for k in KINDS if any(r["kind"] == k for r in runs.values())]
    sizes = sorted({r["train_size"] for r in runs.values()}, key=lambda v: (v == "all", int(v) if v != "all" else 0))
    paired = "scratch" in kinds and "transfer" in kinds
    head = kinds + (["transfer − scratch, same folds (wins)"] if paired else [])
    lines = ["| training records | " + " | ".join(head) + " |", "|---" * (len(head) + 1) + "|"]
    for size in sizes:
        cells = []
        for k in kinds:
            r = runs.get(f"{k}-{size}")
            if r is None:
                cells.append("—")
                continue
            sd = f" ± {r['sd']:.3f}" if r["sd"] is not None else ""
            cells.append(f"{r['mean']:.3f}{sd} ({r['n_folds']} fold{'s' if r['n_folds'] > 1 else ''})")
        if paired:
            sc, tr = runs.get(f"scratch-{size}"), runs.get(f"transfer-{size}")
            common = sorted(set(sc["folds"]) & set(tr["folds"])) if sc and tr else []
            d = [tr["folds"][f] - sc["folds"][f] for f in common]
            if len(d) > 1:
                wins = sum(x > 0 for x in d)
                cells.append(f"{statistics.mean(d):+.3f} ± {statistics.stdev(d):.3f} ({wins}/{len(d)})")
            elif d:
                cells.append(f"{d[0]:+.3f} (1 fold)")
            else:
                cells.append("—")
        lines.append(f"| {size} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--init", required=True, help="PTB-XL-pretrained checkpoint (same architecture)")
    ap.add_argument("--sizes", default="100,300,0", help="training-set sizes; 0 = all")
    ap.add_argument("--folds", default="0,1,2,3,4")
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--out", default=str(REPO / "runs" / "transfer"))
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--readme", action="store_true", help="rewrite the README's transfer table")
    ap.add_argument("--jobs", type=int, default=1,
                    help="runs at once, each on cores/jobs torch threads (small runs use cores poorly)")
    args = ap.parse_args()
    out_root = Path(args.out)
    # fold-major: stopped early, the table still covers every size and kind on the same folds
    todo = [(kind, int(size), int(fold)) for fold in args.folds.split(",") for size in args.sizes.split(",")
            for kind in args.kinds.split(",")]
    extra = list(args.set)
    if args.jobs > 1:
        extra.append(f"train.threads={max(1, (os.cpu_count() or 1) // args.jobs)}")
    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        list(pool.map(lambda t: run_one(*t, args.init, out_root, extra), todo))
    from ecgedge.machine import describe

    runs = table(out_root)
    for key, row in sorted(runs.items()):
        sd = f" ± {row['sd']:.3f}" if row["sd"] is not None else ""
        print(f"{key}: test AUROC {row['mean']:.3f}{sd} over {row['n_folds']} fold(s)")
    res = REPO / "benchmarks" / "results" / "transfer-physionet2017.json"
    res.write_text(json.dumps({"when": time.strftime("%Y-%m-%d"), "machine": describe(), "init": args.init,
                               "protocol": "5-fold CV on 10 stratified folds (test 2 folds, validation 2, train 6); "
                                           "epoch chosen on validation; test evaluated once per run; "
                                           + "; ".join(PROTOCOL),
                               "results": runs}, indent=1))
    print(f"wrote {res}")
    if args.readme and replace_block("transfer", readme_table(runs)):
        print("README table updated")


if __name__ == "__main__":
    main()
