"""Train every PTB-XL recipe and publish the table: ``python benchmarks/train_zoo.py``.

For each ``train/ptbxl_*.toml`` it runs ``ecgedge train`` (in a subprocess, one at a time), then
measures the checkpoint's CPU batch-1 latency (PyTorch eager, one thread, one window), and writes
``benchmarks/results/zoo-ptbxl100.json`` with the machine it ran on and the README table between
the ``zoo`` markers. Test-fold numbers come from ``metrics.json`` — fold 10, used for nothing else.

The whole-data zoo trains one recipe per architecture instead (``model.arch`` replaced), on the
development split, and tabulates fold 9 (scored once) with fold 8 (where the epoch was chosen)::

    ECGEDGE_DATA=/work/ptbxl_full python benchmarks/train_zoo.py --base train/ptbxl_xresnet1d50_10s.toml \
        --arch mobilenet1d,eegnet,... --set data.split=dev --set train.threads=2 --out runs/full/zoo10s \
        --run xresnet1d50=runs/full/x50-10s-dev --name zoo-ptbxl-full --block zoo-full

``--run LABEL=DIR`` adds a finished run under that label (trains nothing); ``--skip-existing`` keeps
finished runs and resumes (``--resume``) a run that stopped part-way. Its latency column is per 10-s
record (one window's latency times the windows the model's contract takes from a 10-s record), and it
adds the training time and throughput read from the run's ``metrics.json``.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
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


def _split_folds(split: str) -> tuple[str, str]:
    """('fold 8', 'fold 9') from 'folds 1-7 train, 8 validation, 9 test (...)'; ('validation', 'test') otherwise."""
    m = re.search(r"(\S+) validation, (\S+) test", split or "")
    return (f"fold {m.group(1)}", f"fold {m.group(2)}") if m else ("validation", "test")


def _train(name: str, recipe: str, out: Path, sets: list[str], skip_existing: bool) -> bool:
    if skip_existing and (out / "metrics.json").exists():
        return True
    cmd = [sys.executable, "-m", "ecgedge", "train", recipe, "--out", str(out)]
    for s in sets:
        cmd += ["--set", s]
    if skip_existing and (out / "train_state.safetensors").exists():
        cmd.append("--resume")
    t0 = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "train.log", "a") as log:
        r = subprocess.run(cmd, text=True, stdout=log, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        print(f"{name}: FAILED (see {out / 'train.log'})", flush=True)
        return False
    (out / "wall_seconds.txt").write_text(f"{time.perf_counter() - t0:.1f}\n")
    return True


def _row(label: str, out: Path, per_record: bool) -> dict:
    m = json.loads((out / "metrics.json").read_text())
    t = m["test"]
    wall = float((out / "wall_seconds.txt").read_text()) if (out / "wall_seconds.txt").exists() else None
    ckpt = out / "model.safetensors"
    row = {
        "recipe": m.get("recipe", label), "arch": label, "run": str(out), "split": m.get("split", ""),
        "parameters": m["n_parameters"],
        "test_macro_auroc": t["macro_auroc"], "test_macro_auroc_ci": t.get("macro_auroc_ci"),
        "val_macro_auroc": m["validation"]["macro_auroc"], "best_epoch": m["best_epoch"],
        "test_records": t["n_records"], "cpu_batch1_ms": round(latency_ms(ckpt), 2), "train_wall_s": wall,
    }
    if per_record:
        hist = m.get("history", [])
        from ecgedge.runtime.bench import windows_per_record  # the bench's own count, tail rule included
        from ecgedge.training.checkpoint import load_checkpoint

        row["windows_per_10s_record"] = windows_per_record(load_checkpoint(ckpt).contract)
        row["cpu_ms_per_10s_record"] = round(row["cpu_batch1_ms"] * row["windows_per_10s_record"], 2)
        row["epochs"] = len(hist)
        # the epochs' own clocks (training + validation): a resumed run's wall clock would miss the first part
        row["train_seconds"] = round(sum(h.get("seconds", 0) + h.get("validation_seconds", 0) for h in hist), 1)
        rates = [h["train_windows_per_s"] for h in hist if h.get("train_windows_per_s")]
        row["train_windows_per_s"] = round(statistics.median(rates), 1) if rates else None
    return row


def _size(n: int) -> str:
    return f"{n / 1e6:.2f} M" if n >= 1e5 else f"{n / 1e3:.1f} k"


def table(rows: list[dict], per_record: bool) -> str:
    rows = sorted(rows, key=lambda r: -r["test_macro_auroc"])
    val, test = _split_folds(rows[0]["split"]) if rows else ("validation", "test")
    if not per_record:
        lines = ["| architecture | parameters | fold-10 macro AUROC [95% CI] | validation | CPU batch-1 (ms) |",
                 "|---|---|---|---|---|"]
    else:
        lines = [f"| architecture | parameters | {test} macro AUROC [95% CI] | {val} (selection) | best epoch "
                 "| CPU ms per 10-s record (windows) | training: minutes, windows/s |",
                 "|---|---|---|---|---|---|---|"]
    for r in rows:
        ci = r["test_macro_auroc_ci"] or [float("nan")] * 2
        auroc = f"{r['test_macro_auroc']:.3f} [{ci[0]:.3f}–{ci[1]:.3f}]"
        if not per_record:
            lines.append(f"| {r['arch']} | {_size(r['parameters'])} | {auroc} | {r['val_macro_auroc']:.3f} "
                         f"| {r['cpu_batch1_ms']:.2f} |")
            continue
        rate = f"{r['train_windows_per_s']:.0f}" if r.get("train_windows_per_s") else "-"
        lines.append(f"| {r['arch']} | {_size(r['parameters'])} | {auroc} | {r['val_macro_auroc']:.3f} "
                     f"| {r['best_epoch']}/{r['epochs']} | {r['cpu_ms_per_10s_record']:.2f} "
                     f"({r['windows_per_10s_record']}) | {r['train_seconds'] / 60:.0f}, {rate} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipes", default=str(REPO / "train" / "ptbxl_*.toml"))
    ap.add_argument("--base", help="train every --arch from this one recipe, model.arch replaced (whole-data zoo)")
    ap.add_argument("--arch", action="append", default=[], help="with --base: architectures (repeatable, or a,b,c)")
    ap.add_argument("--run", action="append", default=[], metavar="LABEL=DIR",
                    help="tabulate this finished run under LABEL as well (trains nothing)")
    ap.add_argument("--out", default=str(REPO / "runs" / "zoo"))
    ap.add_argument("--set", action="append", default=[], help="override for every recipe, e.g. train.epochs=20")
    ap.add_argument("--skip-existing", action="store_true")
    ap.add_argument("--collect-only", action="store_true", help="train nothing; tabulate the runs that exist")
    ap.add_argument("--name", default="zoo-ptbxl100", help="results file benchmarks/results/NAME.json")
    ap.add_argument("--block", default="zoo", help="README block to replace")
    args = ap.parse_args()
    per_record = bool(args.base or args.run)
    jobs: list[tuple[str, str, Path, list[str]]] = []
    if args.base:
        from ecgedge.training.models.registry import MODELS

        stem = Path(args.base).stem
        archs = [a.strip() for item in args.arch for a in item.split(",") if a.strip()]
        unknown = [a for a in archs if a not in MODELS]
        if unknown or not archs:  # before hours of training, not after
            raise SystemExit(f"--arch: {', '.join(unknown) or 'none given'}; known: {', '.join(sorted(MODELS))}")
        for arch in archs:
            sets = [f"model.arch={arch}", f"name={stem}-{arch}"] + args.set
            jobs.append((arch, args.base, Path(args.out) / arch, sets))
    elif not args.run:
        for recipe in sorted(glob.glob(args.recipes)):
            name = Path(recipe).stem
            jobs.append((name.removeprefix("ptbxl_"), recipe, Path(args.out) / name, args.set))
    rows = []
    for label, recipe, out, sets in jobs:
        if args.collect_only and not (out / "metrics.json").exists():
            continue
        if not args.collect_only and not _train(label, recipe, out, sets, args.skip_existing):
            continue
        rows.append(_row(label, out, per_record))
        print(f"{label}: test macro AUROC {rows[-1]['test_macro_auroc']:.4f}  {rows[-1]['cpu_batch1_ms']:.2f} ms",
              flush=True)
    for item in args.run:
        label, sep, d = item.partition("=")
        if not sep or not (Path(d) / "metrics.json").exists():
            raise SystemExit(f"--run {item}: give LABEL=DIR of a finished run (DIR/metrics.json)")
        rows.append(_row(label, Path(d), per_record))
    if not rows:
        raise SystemExit("no finished run to tabulate")
    from ecgedge.atomic import atomic_write_text
    from ecgedge.machine import describe

    res = REPO / "benchmarks" / "results" / f"{args.name}.json"
    atomic_write_text(res, json.dumps({"when": time.strftime("%Y-%m-%d"), "machine": describe(), "rows": rows},
                                      indent=1))
    replace_block(args.block, table(rows, per_record))
    print(f"wrote {res} and the README table", flush=True)
    os.sync()


if __name__ == "__main__":
    main()
