"""GPU rows: PyTorch eager vs torch.compile vs the AOTInductor package vs CUDA graphs, FP32 / FP16 / BF16.

    python benchmarks/gpu_engines.py CHECKPOINT [--batches 1,8,64,512,4096] [--dtypes fp32,fp16,bf16]
                                     [--modes eager,compile,aoti,cudagraph] [--out benchmarks/results/NAME.json]

For each mode x dtype x batch: latency (median and p99 of ``--runs`` timed calls after warm-up, CUDA-
synchronised), windows/s and 10-second records/s (the windows a 10-s record is cut into by the model's
contract). ``compile`` is ``torch.compile(mode="max-autotune-no-cudagraphs")``; ``cudagraph`` captures the
eager model once per batch size into a ``torch.cuda.CUDAGraph`` and replays it; ``aoti`` is the
``torch._inductor.aoti_compile_and_package`` package ecgedge's pt2 export writes, loaded with
``aoti_load_package``. Batch-1 ratios against eager FP32 and the largest records/s are printed and saved
with the device's name. Runs on CPU too (``--device cpu``, small batches) as a smoke test of the script.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


def main() -> None:  # noqa: PLR0915 - one measurement loop, read top to bottom
    import torch

    from ecgedge.machine import describe
    from ecgedge.runtime.bench import machine_report, time_calls, windows_per_record
    from ecgedge.training.checkpoint import load_checkpoint

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--batches", default="1,8,64,512,4096")
    ap.add_argument("--dtypes", default="fp32,fp16,bf16")
    ap.add_argument("--modes", default="eager,compile,aoti,cudagraph")
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--out", default="")
    a = ap.parse_args()
    dev = torch.device(a.device)
    cuda = dev.type == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    ck = load_checkpoint(a.checkpoint)
    c = ck.contract
    per_record = windows_per_record(c)
    batches = [int(b) for b in a.batches.split(",")]
    rows = []
    torch.backends.cudnn.benchmark = True
    for dname in a.dtypes.split(","):
        dtype = getattr(torch, DTYPES[dname])
        model = ck.build_model().to(dev, dtype).eval()
        for mode in a.modes.split(","):
            if mode == "cudagraph" and not cuda:
                continue
            fn_for = None
            if mode == "eager":
                def fn_for(x, m=model):
                    return lambda: m(x)
            elif mode == "compile":
                cm = torch.compile(model, mode="max-autotune-no-cudagraphs", dynamic=False)

                def fn_for(x, m=cm):
                    return lambda: m(x)
            elif mode == "aoti":
                from torch.export import Dim, export

                ex = torch.zeros(2, len(c.leads), c.window, device=dev, dtype=dtype)
                batch = Dim("batch", min=1, max=max(batches))
                ep = export(model, (ex,), dynamic_shapes=({0: batch},))
                pkg = Path(tempfile.mkdtemp()) / "model.pt2"
                torch._inductor.aoti_compile_and_package(ep, package_path=str(pkg))
                runner = torch._inductor.aoti_load_package(str(pkg))

                def fn_for(x, r=runner):
                    return lambda: r(x)
            elif mode == "cudagraph":
                def fn_for(x, m=model):
                    static = x.clone()
                    s = torch.cuda.Stream()
                    s.wait_stream(torch.cuda.current_stream())
                    with torch.cuda.stream(s), torch.no_grad():
                        for _ in range(3):
                            m(static)
                    torch.cuda.current_stream().wait_stream(s)
                    g = torch.cuda.CUDAGraph()
                    with torch.cuda.graph(g), torch.no_grad():
                        m(static)
                    return g.replay
            for b in batches:
                x = torch.randn(b, len(c.leads), c.window, device=dev, dtype=dtype)
                try:
                    with torch.no_grad():
                        fn = fn_for(x)
                        t = time_calls(fn, min_runs=a.runs if b <= 512 else max(10, a.runs // 10), warmup=10, sync=sync)
                except (RuntimeError, torch.cuda.OutOfMemoryError) as exc:  # e.g. out of memory at 4096
                    rows.append({"mode": mode, "dtype": dname, "batch": b, "error": str(exc)[:200]})
                    print(f"{mode:9s} {dname} batch {b:5d}: failed ({str(exc)[:80]})", flush=True)
                    if cuda:
                        torch.cuda.empty_cache()
                    continue
                med = float(np.median(t))
                row = {"mode": mode, "dtype": dname, "batch": b, "ms_median": med * 1e3,
                       "ms_p99": float(np.percentile(t, 99) * 1e3), "windows_per_s": b / med,
                       "records_per_s": b / med / per_record}
                rows.append(row)
                print(f"{mode:9s} {dname} batch {b:5d}: {med * 1e3:8.3f} ms  {row['records_per_s']:14,.0f} 10-s rec/s",
                      flush=True)
    ok = [r for r in rows if "error" not in r]
    base = next((r for r in ok if r["mode"] == "eager" and r["dtype"] == "fp32" and r["batch"] == 1), None)
    summary = {}
    if base:
        best1 = min((r for r in ok if r["batch"] == 1), key=lambda r: r["ms_median"])
        summary["batch1_best"] = {**best1, "vs_eager_fp32": base["ms_median"] / best1["ms_median"]}
    if ok:
        summary["max_records_per_s"] = max(ok, key=lambda r: r["records_per_s"])
    print(json.dumps(summary, indent=1))
    if a.out:
        m = machine_report() if cuda else describe()
        if cuda:
            m["torch_device"] = torch.cuda.get_device_name(0)
        Path(a.out).write_text(json.dumps({"when": time.strftime("%Y-%m-%d"), "machine": m, "checkpoint": a.checkpoint,
                                           "arch": ck.arch, "windows_per_10s_record": per_record, "rows": rows,
                                           "summary": summary}, indent=1))
        print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
