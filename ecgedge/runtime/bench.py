"""``ecgedge bench``: latency against accuracy for every (model x engine x precision x batch) on this machine.

For each exported artefact and each engine that can run it here, one fresh worker process measures:

- batch-1 latency (p50 / p95 / p99 over at least ``min_runs`` calls and ``seconds`` of wall time, after
  warm-up), of the engine alone on one window of the contract's shape;
- throughput for each batch size, in windows/s and in 10-second records/s (the windows a 10-s record is
  cut into by the contract), and the best batch size;
- peak resident memory of the worker (and the part above its state before the model was loaded);
- the held-out records' logits through the same engine, from windows the runtime's own preprocessing cut
  (the path `ecgedge infer` takes), aggregated as the contract says -> macro and per-class AUROC with a
  bootstrap 95 % interval.

The held-out records are those the model's contract names (``extra.heldout``: data set, task, test
folds), fold 10 of its data set otherwise, or a folder with labels given by the user. The report is a
table, a JSON file with the machine's description and every row, and a latency-vs-accuracy PNG with the
Pareto frontier marked. torch is imported only by the ``pt2`` engine, in its own worker.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..errors import EcgedgeError
from ..kinds import available_engines, engines_for, model_name, suffixes
from .evalset import EvalSet, from_records

DEFAULT_BATCHES = (1, 8, 32, 128, 512)
RECORD_SECONDS = 10.0


# ------------------------------------------------------------------------------------------------
# What to measure
# ------------------------------------------------------------------------------------------------


@dataclass
class BenchOptions:
    engines: tuple[str, ...] | None = None  # None: every engine that can run each artefact here
    precisions: tuple[str, ...] | None = None  # None: all
    batches: tuple[int, ...] = DEFAULT_BATCHES
    threads: int = 0  # engine intra-op threads (0: the engine's choice)
    seconds: float = 1.0  # wall time per latency / throughput measurement
    min_runs: int = 50
    accuracy: bool = True
    data: str | None = None  # None: the held-out folds the contract names; else a data set name or a folder
    labels: str | None = None  # labels CSV for a folder
    folds: tuple[int, ...] | None = None  # override the held-out folds
    max_records: int = 0  # 0: all held-out records
    bootstrap: int = 1000
    timeout: float = 900.0  # per worker
    trust_model: bool = False  # load .pt2/.engine files that this machine's export did not write (ecgedge.trust)


def collect_models(items: list[str] | None) -> list:
    """Model files, folders of them (recursive) and shipped names -> ArtifactInfo list (default: the
    shipped models)."""
    from ..artifact import read_info
    from ..zoo import resolve, shipped

    if not items:
        items = [m["path"] for m in shipped().values()]
        if not items:
            raise EcgedgeError("no shipped models in this installation and no models given",
                               where="ecgedge bench", fix="give model files or folders of exported models")
    paths: list[str] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = sorted(str(f) for f in p.rglob("*") if f.suffix.lower() in suffixes() and f.is_file())
            if not found:
                raise EcgedgeError(f"folder holds no exported models ({', '.join(suffixes())})", path=item,
                                   fix="export a checkpoint first: ecgedge export CKPT --int8")
            paths += found
        else:
            paths.append(resolve(item))
    infos, seen = [], set()
    for path in paths:
        real = os.path.realpath(path)
        if real in seen:
            continue
        seen.add(real)
        info = read_info(path)
        if info.kind == "checkpoint":
            raise EcgedgeError("is a training checkpoint; bench measures exported models", path=path,
                               fix=f"export it first: ecgedge export {path} --int8 --fp16")
        infos.append(info)
    return infos


# ------------------------------------------------------------------------------------------------
# The held-out set, preprocessed once per contract by the runtime's own path
# ------------------------------------------------------------------------------------------------


def _heldout_records(contract, opts: BenchOptions):
    """(description, [(name, path, labels)]) for this contract's held-out records."""
    from ..datasets import DATASETS, load_dataset
    from ..datasets.registry import labelled

    held = (contract.extra or {}).get("heldout") or {}
    name = opts.data or held.get("dataset") or contract.dataset
    if not name:
        raise EcgedgeError("the model does not say which data set it was trained on", where="contract.dataset",
                           fix="give --data DATASET or --data FOLDER --labels CSV, or --no-accuracy")
    known = [d for d in labelled() if d != "folder"]
    if name in known:
        task = held.get("task") if held.get("dataset") == name else None
        if task is None and contract.task in DATASETS[name].tasks:
            task = contract.task
        ds = load_dataset(name, task=task, fs=DATASETS[name].files_rate(contract.fs))
    else:
        if not Path(name).is_dir():
            raise EcgedgeError(f"--data {name!r} is neither a known data set nor a folder", where="--data",
                               fix="one of " + ", ".join(known) + ", or a folder")
        ds = load_dataset("folder", name, labels=opts.labels)
    folds = opts.folds or tuple(held.get("test_folds") or ()) or (10,)
    recs = [r for r in ds.records if r.fold in set(folds)]
    if not recs:
        raise EcgedgeError(f"no records of {ds.name} in fold(s) {', '.join(map(str, folds))}", where="--folds",
                           fix="choose folds that exist (ecgedge data info DATASET)")
    if opts.max_records and len(recs) > opts.max_records:
        recs = recs[: opts.max_records]
    desc = f"{ds.name}/{ds.task} fold(s) {'+'.join(map(str, folds))}: {len(recs)} records"
    return desc, [(r.name, r.path, set(r.labels)) for r in recs]


def heldout_set(contract, opts: BenchOptions, workers: int = 0) -> EvalSet:
    """The held-out windows, cut by the runtime's own preprocessing (as `ecgedge infer` does)."""
    desc, recs = _heldout_records(contract, opts)
    return from_records(recs, contract, desc, workers)


def windows_per_record(contract, seconds: float = RECORD_SECONDS) -> int:
    from ..dsp.reference import window_count

    p = contract.preprocessing
    return window_count(int(round(seconds * p.fs)), p.window, p.stride or p.window, p.cover_tail)


# ------------------------------------------------------------------------------------------------
# The worker: one (artefact, engine) in a fresh process, so peak memory is its own
# ------------------------------------------------------------------------------------------------


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
    from ..artifact import read_info
    from .engines import open_engine

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


def _worker_main() -> None:
    job = json.loads(sys.stdin.read())
    try:
        res = run_worker(job)
    except EcgedgeError as exc:
        res = {"error": str(exc)}
    except Exception as exc:  # noqa: BLE001 - reported as the row's error, never a crash of the bench
        res = {"error": f"{type(exc).__name__}: {str(exc).strip()[:500]}"}
    sys.stdout.write("\n" + json.dumps(res) + "\n")


def _spawn(job: dict, timeout: float) -> dict:
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


# ------------------------------------------------------------------------------------------------
# The machine
# ------------------------------------------------------------------------------------------------


def machine_report() -> dict:
    """CPU, cores, ISA flags, GPU and driver (nvidia-smi), library versions, onnxruntime providers."""
    from importlib import metadata

    from ..machine import describe

    info = describe()
    versions = {}
    for dist in ("ecgedge", "numpy", "onnxruntime", "onnxruntime-gpu", "tensorrt", "torch", "onnx"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[dist] = metadata.version(dist)
    info["versions"] = versions
    with contextlib.suppress(ImportError):
        import onnxruntime as ort

        info["onnxruntime_providers"] = ort.get_available_providers()
    info["gpus"] = []
    smi = shutil.which("nvidia-smi")
    if smi:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            r = subprocess.run([smi, "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                               capture_output=True, text=True, timeout=20)
            for line in r.stdout.strip().splitlines():
                name, driver, mem = (s.strip() for s in line.split(","))
                info["gpus"].append({"name": name, "driver": driver, "memory": mem})
    info["platform"] = platform.platform()
    return info


# ------------------------------------------------------------------------------------------------
# The run
# ------------------------------------------------------------------------------------------------


@dataclass
class Row:
    model: str
    arch: str | None
    path: str
    engine: str
    precision: str
    size_mb: float
    status: str = "ok"
    error: str | None = None
    latency_ms: dict | None = None
    throughput: dict | None = None
    best_batch: int | None = None
    windows_per_s: float | None = None
    records_per_s: float | None = None
    peak_rss_mib: float | None = None
    batch1_rss_mib: float | None = None
    model_rss_mib: float | None = None
    load_s: float | None = None
    macro_auroc: float | None = None
    macro_auroc_ci: list | None = None
    per_class_auroc: dict | None = None
    heldout: str | None = None
    pareto: bool = False


def _accuracy(held: EvalSet, logits: np.ndarray, contract, bootstrap: int) -> tuple[float, list, dict]:
    from ..metrics import bootstrap_ci, macro_auroc, per_class

    probs = held.per_record(logits, contract)
    y = held.y
    ci = bootstrap_ci(macro_auroc, y, probs, n=bootstrap, seed=0) if bootstrap else None
    per = {c: v["auroc"] for c, v in per_class(y, probs, list(contract.classes)).items()}
    point = float(macro_auroc(y, probs))
    interval = [float(ci[1]), float(ci[2])] if ci is not None and not math.isnan(ci[1]) else None
    return point, interval, per


#: AUROC differences below this are ties for the frontier: far inside any held-out interval here, and
#: the size of an INT8 model's usual drop, which should not keep its slower FP32 twin on the frontier.
PARETO_AUROC_TIE = 0.001


def pareto(rows: list[Row], tie: float = PARETO_AUROC_TIE) -> None:
    """Mark the rows that no other row beats: faster at batch 1 (p50) and at least as accurate (macro AUROC,
    differences below ``tie`` counting as equal), or as fast and clearly more accurate."""
    pts = [r for r in rows if r.status == "ok" and r.latency_ms and r.macro_auroc is not None]
    for r in pts:
        lat, acc = r.latency_ms["p50"], r.macro_auroc
        r.pareto = not any(
            (o.latency_ms["p50"] < lat and o.macro_auroc >= acc - tie)
            or (o.latency_ms["p50"] <= lat and o.macro_auroc > acc + tie) for o in pts if o is not r)


def run_bench(models: list[str] | None, opts: BenchOptions, log=print) -> tuple[list[Row], dict]:
    from ..trust import is_recorded, refusal, runs_code, sha256_file

    infos = collect_models(models)
    avail = available_engines()
    rows: list[Row] = []
    held_cache: dict[str, EvalSet | EcgedgeError] = {}
    with tempfile.TemporaryDirectory(prefix="ecgedge-bench-") as tmp:
        for info in infos:
            name, prec, arch = model_name(info.path), info.precision, info.meta.get("arch")
            if opts.precisions and prec not in opts.precisions:
                continue
            held = None
            if opts.accuracy:
                c = info.contract
                what = json.dumps([c.preprocessing.to_dict(), list(c.classes), c.dataset, c.task,
                                   (c.extra or {}).get("heldout"), repr(asdict(opts))], sort_keys=True, default=str)
                key = hashlib.sha256(what.encode()).hexdigest()[:16]
                if key not in held_cache:
                    try:
                        t0 = time.perf_counter()
                        h = heldout_set(info.contract, opts)
                        np.save(Path(tmp) / f"{key}.npy", h.x)
                        log(f"held-out set: {h.description}, {len(h.x)} windows "
                            f"({time.perf_counter() - t0:.1f} s to read and preprocess)")
                        h.x = None  # the workers read the file; the parent need not hold them
                        held_cache[key] = h
                    except EcgedgeError as exc:
                        if opts.data or opts.folds or opts.labels:  # the user's own choice: fail, do not guess
                            raise
                        held_cache[key] = exc
                        log(f"warning: no accuracy for {name}: {exc}")
                held = held_cache[key]
            for eng in engines_for(info.kind):
                if opts.engines and eng not in opts.engines:
                    continue
                why = avail.get(eng)
                size = os.path.getsize(info.path) / 1e6
                if runs_code(info.kind) and not opts.trust_model and not is_recorded(sha256_file(info.path)):
                    # said here, once, rather than as a worker's failure; the worker checks again on what it loads
                    rows.append(Row(name, arch, info.path, eng, prec, size, status="skipped",
                                    error=str(refusal(info.path, info.kind))))
                    continue
                if why:
                    if opts.engines:  # asked for explicitly: say why it is missing
                        rows.append(Row(name, arch, info.path, eng, prec, size, status="skipped", error=why))
                    continue
                job = {"path": info.path, "engine": eng, "threads": opts.threads, "batches": list(opts.batches),
                       "seconds": opts.seconds, "min_runs": opts.min_runs, "trust_model": opts.trust_model}
                if isinstance(held, EvalSet):
                    job["windows"] = str(Path(tmp) / f"{key}.npy")
                    job["logits"] = str(Path(tmp) / f"{key}-{len(rows)}.logits.npy")
                log(f"{name} {prec} on {eng} ...")
                res = _spawn(job, opts.timeout)
                row = Row(name, arch, info.path, eng, prec, size)
                if "error" in res:
                    row.status, row.error = "failed", res["error"]
                    log(f"  failed: {row.error}")
                    rows.append(row)
                    continue
                row.latency_ms, row.throughput, row.load_s = res["latency_ms"], res["throughput"], res["load_s"]
                row.peak_rss_mib, row.model_rss_mib = res["peak_rss_mib"], res["model_rss_mib"]
                row.batch1_rss_mib = res.get("batch1_rss_mib")
                ok = {int(b): v for b, v in res["throughput"].items() if "windows_per_s" in v}
                if ok:
                    row.best_batch = max(ok, key=lambda b: ok[b]["windows_per_s"])
                    row.windows_per_s = ok[row.best_batch]["windows_per_s"]
                    row.records_per_s = row.windows_per_s / windows_per_record(info.contract)
                if isinstance(held, EvalSet):
                    logits = np.load(job["logits"])
                    row.macro_auroc, row.macro_auroc_ci, row.per_class_auroc = _accuracy(
                        held, logits, info.contract, opts.bootstrap)
                    row.heldout = held.description
                rows.append(row)
    order = {"fp32": 0, "bf16": 1, "fp16": 2, "int8": 3}
    rows.sort(key=lambda r: (r.model, r.engine, order.get(r.precision, 9)))
    pareto(rows)
    settings = {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(opts).items()}
    settings["record_seconds"] = RECORD_SECONDS
    return rows, settings


# ------------------------------------------------------------------------------------------------
# Reporting
# ------------------------------------------------------------------------------------------------


def table(rows: list[Row]) -> str:
    head = ["model", "engine", "prec", "MB", "p50 ms", "p95 ms", "p99 ms", "best batch", "10-s rec/s",
            "RSS MiB b1/max", "macro AUROC [95% CI]", "frontier"]
    lines = []
    for r in rows:
        if r.status != "ok":
            lines.append([r.model, r.engine, r.precision, f"{r.size_mb:.2f}", r.status + ": " + (r.error or "")]
                         + [""] * 7)
            continue
        lat = r.latency_ms or {}
        auc = "-" if r.macro_auroc is None else f"{r.macro_auroc:.4f}" + (
            f" [{r.macro_auroc_ci[0]:.3f}-{r.macro_auroc_ci[1]:.3f}]" if r.macro_auroc_ci else "")
        lines.append([r.model, r.engine, r.precision, f"{r.size_mb:.2f}", f"{lat.get('p50', 0):.3f}",
                      f"{lat.get('p95', 0):.3f}", f"{lat.get('p99', 0):.3f}", str(r.best_batch or "-"),
                      f"{r.records_per_s:,.0f}" if r.records_per_s else "-",
                      f"{r.batch1_rss_mib:.0f}/{r.peak_rss_mib:.0f}",
                      auc, "*" if r.pareto else ""])
    widths = [max(len(h), *(len(ln[i]) for ln in lines)) if lines else len(h) for i, h in enumerate(head)]
    out = ["  ".join(h.ljust(w) for h, w in zip(head, widths))]
    out.append("  ".join("-" * w for w in widths))
    out += ["  ".join(c.ljust(w) for c, w in zip(ln, widths)) for ln in lines]
    return "\n".join(out)


def markdown(rows: list[Row]) -> str:
    """The README's table."""
    out = ["| model | engine | precision | size MB | p50 / p95 / p99 ms (batch 1) | best batch | 10-s records/s "
           "| RSS MiB batch 1 / max | macro AUROC [95% CI] | frontier |",
           "|---|---|---|---:|---:|---:|---:|---:|---|:-:|"]
    for r in rows:
        if r.status != "ok":
            out.append(f"| {r.model} | {r.engine} | {r.precision} | {r.size_mb:.2f} | {r.status}: {r.error} "
                       "| | | | | |")
            continue
        lat = r.latency_ms
        auc = "-" if r.macro_auroc is None else f"{r.macro_auroc:.3f}" + (
            f" [{r.macro_auroc_ci[0]:.3f}-{r.macro_auroc_ci[1]:.3f}]" if r.macro_auroc_ci else "")
        out.append(f"| {r.model} | {r.engine} | {r.precision} | {r.size_mb:.2f} | {lat['p50']:.3f} / "
                   f"{lat['p95']:.3f} / {lat['p99']:.3f} | {r.best_batch} | {r.records_per_s:,.0f} | "
                   f"{r.batch1_rss_mib:.0f} / {r.peak_rss_mib:.0f} | {auc} | {'✓' if r.pareto else ''} |")
    return "\n".join(out)


def plot(rows: list[Row], path: str | os.PathLike[str], title: str) -> bool:
    """Latency (log) against macro AUROC, the Pareto frontier drawn; False if matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    from ..atomic import atomic_write_bytes

    pts = [r for r in rows if r.status == "ok" and r.macro_auroc is not None]
    fig, ax = plt.subplots(figsize=(9, 6), dpi=110)
    markers = {"fp32": "o", "fp16": "s", "int8": "^", "bf16": "D"}
    engines = sorted({r.engine for r in pts})
    colours = dict(zip(engines, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    for r in pts:
        ax.scatter(r.latency_ms["p50"], r.macro_auroc, marker=markers.get(r.precision, "x"),
                   color=colours[r.engine], s=60 if r.pareto else 30, alpha=1.0 if r.pareto else 0.6,
                   edgecolors="black" if r.pareto else "none", zorder=3)
        if r.pareto:
            ax.annotate(f"{r.model} {r.precision}", (r.latency_ms["p50"], r.macro_auroc), fontsize=7,
                        xytext=(4, 4), textcoords="offset points")
    front = sorted((r for r in pts if r.pareto), key=lambda r: r.latency_ms["p50"])
    if front:
        ax.step([r.latency_ms["p50"] for r in front], [r.macro_auroc for r in front], where="post",
                color="black", lw=1, ls="--", label="Pareto frontier", zorder=2)
    for e in engines:
        ax.scatter([], [], color=colours[e], label=e)
    for pr, m in markers.items():
        if any(r.precision == pr for r in pts):
            ax.scatter([], [], marker=m, color="grey", label=pr)
    ax.set_xscale("log")
    ax.set_xlabel("batch-1 latency p50 (ms, log scale)")
    ax.set_ylabel("macro AUROC (held-out)")
    ax.set_title(title, fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return True


def write_results(rows: list[Row], settings: dict, machine: dict, out_json: str | os.PathLike[str]) -> None:
    from ..atomic import atomic_write_text

    doc = {"when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": machine, "settings": settings,
           "rows": [asdict(r) for r in rows]}
    atomic_write_text(out_json, json.dumps(doc, indent=1, default=float))


if __name__ == "__main__":
    _worker_main()
