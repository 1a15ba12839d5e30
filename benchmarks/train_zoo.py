"""Train every PTB-XL recipe and publish the table: ``python benchmarks/train_zoo.py``.

For each ``train/ptbxl_*.toml`` it runs ``ecgedge train`` (in a subprocess, one at a time), then
measures the checkpoint's CPU batch-1 latency (PyTorch eager, one thread, one window), and writes
``benchmarks/results/zoo-ptbxl100.json`` with the machine it ran on and the README table between
the ``zoo`` markers. Test-fold numbers come from ``metrics.json`` — fold 10, used for nothing else.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from readme_block import replace_block

REPO = Path(__file__).resolve().parents[1]


def latency_ms(checkpoint: Path, repeats: int = 50) -> float:
    import torch

    from ecgedge.training.checkpoint import load_checkpoint

    torch.set_num_threads(1)
    ck = load_checkpoint(checkpoint)
    model = ck.build_model()
    x = torch.randn(1, len(ck.contract.leads), ck.contract.window)
    times = []
    with torch.no_grad():
        for _ in range(5):
            model(x)
        for _ in range(repeats):
            t0 = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipes", default=str(REPO / "train" / "ptbxl_*.toml"))
    ap.add_argument("--out", default=str(REPO / "runs" / "zoo"))
    ap.add_argument("--set", action="append", default=[], help="override for every recipe, e.g. train.epochs=20")
    ap.add_argument("--skip-existing", action="store_true")
    ap.add_argument("--collect-only", action="store_true", help="train nothing; tabulate the runs that exist")
    args = ap.parse_args()
    rows = []
    for recipe in sorted(glob.glob(args.recipes)):
        name = Path(recipe).stem
        out = Path(args.out) / name
        if args.collect_only and not (out / "metrics.json").exists():
            continue
        if not args.collect_only and not (args.skip_existing and (out / "metrics.json").exists()):
            cmd = [sys.executable, "-m", "ecgedge", "train", recipe, "--out", str(out)]
            for s in args.set:
                cmd += ["--set", s]
            t0 = time.perf_counter()
            r = subprocess.run(cmd, text=True, capture_output=True)
            (out / "train.log").parent.mkdir(parents=True, exist_ok=True)
            (out / "train.log").write_text(r.stdout + r.stderr)
            if r.returncode != 0:
                print(f"{name}: FAILED (see {out / 'train.log'})", flush=True)
                continue
            (out / "wall_seconds.txt").write_text(f"{time.perf_counter() - t0:.1f}\n")
        m = json.loads((out / "metrics.json").read_text())
        t = m["test"]
        wall = float((out / "wall_seconds.txt").read_text()) if (out / "wall_seconds.txt").exists() else None
        row = {
            "recipe": name, "arch": name.removeprefix("ptbxl_"), "parameters": m["n_parameters"],
            "test_macro_auroc": t["macro_auroc"], "test_macro_auroc_ci": t.get("macro_auroc_ci"),
            "val_macro_auroc": m["validation"]["macro_auroc"], "best_epoch": m["best_epoch"],
            "test_records": t["n_records"], "cpu_batch1_ms": round(latency_ms(out / "model.safetensors"), 2),
            "train_wall_s": wall,
        }
        rows.append(row)
        print(f"{name}: test macro AUROC {row['test_macro_auroc']:.4f}  {row['cpu_batch1_ms']:.2f} ms", flush=True)
    from ecgedge.machine import describe

    res = REPO / "benchmarks" / "results" / "zoo-ptbxl100.json"
    res.write_text(json.dumps({"when": time.strftime("%Y-%m-%d"), "machine": describe(), "rows": rows}, indent=1))
    rows.sort(key=lambda r: -r["test_macro_auroc"])
    lines = ["| architecture | parameters | fold-10 macro AUROC [95% CI] | validation | CPU batch-1 (ms) |",
             "|---|---|---|---|---|"]
    for r in rows:
        ci = r["test_macro_auroc_ci"] or [float("nan")] * 2
        size = f"{r['parameters'] / 1e6:.2f} M" if r["parameters"] >= 1e5 else f"{r['parameters'] / 1e3:.1f} k"
        lines.append(f"| {r['arch']} | {size} | {r['test_macro_auroc']:.3f} "
                     f"[{ci[0]:.3f}–{ci[1]:.3f}] | {r['val_macro_auroc']:.3f} | {r['cpu_batch1_ms']:.2f} |")
    replace_block("zoo", "\n".join(lines))
    print(f"wrote {res} and the README table", flush=True)
    os.sync()


if __name__ == "__main__":
    main()
