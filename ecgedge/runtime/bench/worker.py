"""One (artefact, engine) measured in a fresh process, so that its peak memory is its own: latency, throughput per
batch size, memory, and the held-out windows' logits (written to a file)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np

from ...errors import EcgedgeError


def _rss_mib() -> float:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError):
        return float("nan")


def _peak_rss_mib() -> float:
    """Peak resident memory of this process's address space. On Linux VmHWM, not ``ru_maxrss``: the latter
    survives exec, so a worker would report its (larger) parent's peak."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def time_calls(fn, seconds: float = 0.0, min_runs: int = 1, warmup: int = 5, sync=None) -> np.ndarray:
    """Seconds per call of ``fn()`` after ``warmup`` calls: at least ``min_runs`` calls and ``seconds`` of wall
    time (at most 100,000 calls). ``sync`` (e.g. ``torch.cuda.synchronize``) is called after each call."""
    sync = sync or (lambda: None)
    for _ in range(warmup):
        fn()
    sync()
    times = []
    end = time.perf_counter() + seconds
    while len(times) < min_runs or time.perf_counter() < end:
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
        if len(times) >= 100_000:
            break
    return np.asarray(times)


def run_worker(job: dict) -> dict:
    """Measure one (artefact, engine); ``job`` and the result are JSON-able (logits go to a file)."""
    from ...artifact import read_info
    from ..engines import open_engine

    info = read_info(job["path"])
    before = _rss_mib()
    t0 = time.perf_counter()
    engine = open_engine(info, job["engine"], job.get("threads") or None, trust_model=bool(job.get("trust_model")))
    p = info.contract.preprocessing
    rng = np.random.default_rng(0)
    x1 = rng.standard_normal((1, len(p.leads), p.window)).astype(np.float32)
    engine.run(x1)
    load_s = time.perf_counter() - t0
    lat = time_calls(lambda: engine.run(x1), job["seconds"], job["min_runs"])
    out = {"load_s": load_s, "latency_ms": {
        "p50": float(np.percentile(lat, 50) * 1e3), "p95": float(np.percentile(lat, 95) * 1e3),
        "p99": float(np.percentile(lat, 99) * 1e3), "mean": float(lat.mean() * 1e3), "runs": len(lat)}}
    out["batch1_rss_mib"] = _peak_rss_mib()  # the footprint of a batch-1 deployment
    throughput = {}
    for b in job["batches"]:
        if b > engine.max_batch:
            continue
        xb = rng.standard_normal((b, len(p.leads), p.window)).astype(np.float32)
        try:
            t = time_calls(lambda xb=xb: engine.run(xb), job["seconds"], 3, warmup=2)
        except Exception as exc:  # noqa: BLE001 - e.g. out of memory at a large batch: record, go on
            throughput[str(b)] = {"error": f"{type(exc).__name__}: {str(exc)[:200]}"}
            break
        throughput[str(b)] = {"windows_per_s": float(b / np.median(t)), "ms_per_batch": float(np.median(t) * 1e3)}
    out["throughput"] = throughput
    if job.get("windows"):
        X = np.load(job["windows"], mmap_mode="r")
        bs = max(1, min(256, engine.max_batch))
        logits = np.concatenate([engine.run(np.ascontiguousarray(X[s:s + bs])) for s in range(0, len(X), bs)])
        np.save(job["logits"], logits.astype(np.float32))
    out["peak_rss_mib"] = _peak_rss_mib()
    out["model_rss_mib"] = out["peak_rss_mib"] - before
    out["engine"] = engine.name
    return out


def main() -> None:
    job = json.loads(sys.stdin.read())
    try:
        res = run_worker(job)
    except EcgedgeError as exc:
        res = {"error": str(exc)}
    except Exception as exc:  # noqa: BLE001 - reported as the row's error, never a crash of the bench
        res = {"error": f"{type(exc).__name__}: {str(exc).strip()[:500]}"}
    sys.stdout.write("\n" + json.dumps(res) + "\n")


def spawn(job: dict, timeout: float) -> dict:
    """Run :func:`run_worker` on ``job`` in a fresh Python process; its result, or ``{"error": why}``."""
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    try:
        r = subprocess.run([sys.executable, "-m", "ecgedge.runtime.bench"], input=json.dumps(job),
                           capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"error": f"worker did not finish within {timeout:g} s"}
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    if r.returncode or not lines:
        tail = (r.stderr or r.stdout).strip().splitlines()[-1:] or ["no output"]
        return {"error": f"worker exited with code {r.returncode}: {tail[0][:300]}"}
    return json.loads(lines[-1])
