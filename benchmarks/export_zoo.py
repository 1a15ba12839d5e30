"""Export every zoo checkpoint (FP32 + INT8 CPU flavour + FP16) and measure it: size, batch-1 latency
against PyTorch eager and onnxruntime FP32 in the same run, and the validation macro-AUROC drop.

    python benchmarks/export_zoo.py [--runs runs/zoo] [--only resnet1d18,...] [--collect-only]
    python benchmarks/export_zoo.py --run x50-dev=runs/full/x50-10s-dev --run ... --name export-full --block export-full

Writes ``benchmarks/results/export-zoo.json`` (``--name``) and the README table between ``<!-- export:start -->``
and ``<!-- export:end -->`` (``--block``). ``--run LABEL=DIR`` (repeatable) measures those runs under those labels
instead of every ``ptbxl_*`` folder of ``--runs`` (named by architecture): several runs of one architecture.
Latency: one thread, batch 1, the model's own window, median of 300 runs after warm-up, every engine of a model
measured back to back in one process.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from readme_block import replace_block

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "benchmarks" / "results" / "export-zoo.json"


def _median_ms(fn, n: int = 300, warmup: int = 20) -> float:
    from ecgedge.runtime.bench import time_calls

    return float(np.median(time_calls(fn, min_runs=n, warmup=warmup)) * 1e3)


def measure(run_dir: Path, out_dir: Path, force: bool, label: str = "") -> dict:
    import torch

    from ecgedge.export.pipeline import options_from, run_export
    from ecgedge.runtime.ort import session
    from ecgedge.training.checkpoint import load_checkpoint

    ckpt = run_dir / "model.safetensors"
    ck = load_checkpoint(ckpt)
    arch = ck.arch
    out = out_dir / (label or arch)
    report_path = out / "export_report.json"
    if force or not report_path.exists():
        opts = options_from(None, int8=True, fp16=True, out=str(out), force=True, keep_float="auto")
        report = run_export(ckpt, opts, log=lambda m: print(f"  {m}", flush=True))
    else:
        report = json.loads(report_path.read_text())
    torch.set_num_threads(1)
    model = ck.build_model()
    x = np.random.default_rng(0).standard_normal((1, len(ck.contract.leads), ck.contract.window)).astype(np.float32)
    with torch.no_grad():
        eager = _median_ms(lambda: model(torch.from_numpy(x)))
    row = {"arch": label or arch, "architecture": arch, "run": str(run_dir), "parameters": report["n_parameters"],
           "window": ck.contract.window, "torch_eager_ms": eager,
           "test_macro_auroc_fp32": (ck.meta.get("metrics") or {}).get("test_macro_auroc")}
    for prec in ("fp32", "int8", "fp16"):
        f = out / f"{arch}.{prec}.onnx"
        art = report["artefacts"].get(f.name, {})
        s = session(f, threads=1)
        row[prec] = {"bytes": f.stat().st_size, "ms": _median_ms(lambda s=s: s.run(None, {"ecg": x}))}
        gate = art.get("gate")
        if gate:
            row[prec].update(val_auroc=gate["macro_auroc"], val_drop=gate["drop"])
        if art.get("kept_float"):
            row[prec]["kept_float"] = len(art["kept_float"])
        if prec == "fp32":
            row[prec]["val_auroc"] = art.get("validation", {}).get("macro_auroc")
            row[prec]["parity"] = art.get("parity")
    row["int8_vs_eager"] = eager / row["int8"]["ms"]
    row["int8_vs_ort_fp32"] = row["fp32"]["ms"] / row["int8"]["ms"]
    return row


def table(rows: list[dict]) -> str:
    head = ("| model | params | FP32 MB | INT8 MB | FP16 MB | eager ms | ORT FP32 ms | ORT INT8 ms | ORT FP16 ms | "
            "INT8 vs eager | INT8 vs ORT FP32 | val AUROC FP32 | INT8 drop | FP16 drop |\n"
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
    lines = []
    for r in rows:
        kept = f" ({r['int8']['kept_float']} layers float)" if r["int8"].get("kept_float") else ""
        lines.append(
            f"| {r['arch']} | {r['parameters'] / 1e6:.2f} M | {r['fp32']['bytes'] / 1e6:.2f}"
            f" | {r['int8']['bytes'] / 1e6:.2f} | {r['fp16']['bytes'] / 1e6:.2f}"
            f" | {r['torch_eager_ms']:.2f} | {r['fp32']['ms']:.2f} | {r['int8']['ms']:.2f} | {r['fp16']['ms']:.2f}"
            f" | {r['int8_vs_eager']:.1f}x"
            f" | {r['int8_vs_ort_fp32']:.1f}x | {r['fp32']['val_auroc']:.4f} | {r['int8']['val_drop']:+.4f}{kept}"
            f" | {r['fp16']['val_drop']:+.4f} |")
    return head + "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", default=str(ROOT / "runs" / "zoo"))
    ap.add_argument("--out", default=str(ROOT / "runs" / "export-zoo"))
    ap.add_argument("--only", default="")
    ap.add_argument("--force", action="store_true", help="re-export even where a report exists")
    ap.add_argument("--collect-only", action="store_true", help="only rewrite the README table from the JSON")
    ap.add_argument("--run", action="append", default=[], metavar="LABEL=DIR",
                    help="a run to measure under LABEL (repeat); instead of the ptbxl_* folders of --runs")
    ap.add_argument("--name", default="export-zoo", help="results file: benchmarks/results/NAME.json")
    ap.add_argument("--block", default="export", help="the README block to rewrite")
    a = ap.parse_args()
    from ecgedge.machine import describe

    results = RESULTS.with_name(f"{a.name}.json")
    if a.run:
        bad = [r for r in a.run if "=" not in r]
        if bad:
            sys.exit(f"--run takes LABEL=DIR, not {bad[0]!r}")
        runs = [(label, Path(d)) for label, d in (r.split("=", 1) for r in a.run)]
    else:
        runs = [(d.name.removeprefix("ptbxl_"), d) for d in sorted(Path(a.runs).glob("ptbxl_*"))]
    if not a.collect_only:
        old = {r["arch"]: r for r in json.loads(results.read_text())["rows"]} if results.exists() else {}
        only = {s for s in a.only.split(",") if s}
        for label, d in runs:
            if only and label not in only:
                continue
            print(f"{label}:", flush=True)
            try:
                old[label] = measure(d, Path(a.out), a.force, label if a.run else "")
            except Exception as exc:  # noqa: BLE001 - record and go on to the next model
                print(f"  FAILED: {exc}", flush=True)
                old[label] = {"arch": label, "error": str(exc)}
            results.parent.mkdir(parents=True, exist_ok=True)
            results.write_text(json.dumps({"when": time.strftime("%Y-%m-%d"), "machine": describe(),
                                           "rows": sorted(old.values(), key=lambda r: r["arch"])}, indent=1))
    data = json.loads(results.read_text())
    rows = [r for r in data["rows"] if "error" not in r]
    replace_block(a.block, table(rows))
    print(table(rows))
    for r in data["rows"]:
        if "error" in r:
            print(f"{r['arch']}: FAILED {r['error']}")


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
