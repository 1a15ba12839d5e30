"""Transfer against scratch on a small imbalanced target: PhysioNet-2017 AF vs rest, single lead.

``python benchmarks/transfer_curve.py --init runs/zoo/ptbxl_resnet1d18/model.safetensors``
trains ``train/physionet2017_af_scratch.toml`` and ``train/physionet2017_af_transfer.toml`` for each
training-set size (default 100, 300, 1000, all) on each of the 5 cross-validation folds, and writes
mean ± sd of the test-fold AUROC per size to ``benchmarks/results/transfer-physionet2017.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--init", required=True, help="PTB-XL-pretrained checkpoint (same architecture)")
    ap.add_argument("--sizes", default="100,300,1000,0", help="training-set sizes; 0 = all")
    ap.add_argument("--folds", default="0,1,2,3,4")
    ap.add_argument("--out", default=str(REPO / "runs" / "transfer"))
    ap.add_argument("--set", action="append", default=[])
    args = ap.parse_args()
    table = {}
    for size in [int(s) for s in args.sizes.split(",")]:
        for kind in ("scratch", "transfer"):
            aucs = []
            for fold in [int(f) for f in args.folds.split(",")]:
                out = Path(args.out) / f"{kind}-n{size or 'all'}-cv{fold}"
                if not (out / "metrics.json").exists():
                    recipe = str(REPO / "train" / f"physionet2017_af_{kind}.toml")
                    cmd = [sys.executable, "-m", "ecgedge", "train", recipe, "--out", str(out),
                           "--set", "data.split=\"cv5\"", "--set", f"data.cv_fold={fold}",
                           "--set", f"data.train_size={size}", "--set", "train.bootstrap=0"]
                    if kind == "transfer":
                        cmd += ["--init", args.init]
                    for s in args.set:
                        cmd += ["--set", s]
                    r = subprocess.run(cmd, capture_output=True, text=True)
                    out.mkdir(parents=True, exist_ok=True)
                    (out / "train.log").write_text(r.stdout + r.stderr)
                    if r.returncode:
                        print(f"{out.name}: FAILED", flush=True)
                        continue
                aucs.append(json.loads((out / "metrics.json").read_text())["test"]["macro_auroc"])
            if aucs:
                key = f"{kind}-{size or 'all'}"
                row = {"n_folds": len(aucs), "mean": statistics.mean(aucs),
                       "sd": statistics.stdev(aucs) if len(aucs) > 1 else 0.0, "folds": aucs}
                table[key] = row
                print(f"{key}: AUROC {row['mean']:.3f} ± {row['sd']:.3f} ({len(aucs)} folds)", flush=True)
    from ecgedge.machine import describe

    res = REPO / "benchmarks" / "results" / "transfer-physionet2017.json"
    res.write_text(json.dumps({"when": time.strftime("%Y-%m-%d"), "machine": describe(), "init": args.init,
                               "results": table}, indent=1))
    print(f"wrote {res}")


if __name__ == "__main__":
    main()
