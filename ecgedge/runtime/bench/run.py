"""The orchestration of ``ecgedge bench``: what to measure, one row per (model, engine, precision), the accuracy of
each row on the held-out set, and the Pareto frontier."""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ...errors import EcgedgeError
from ...kinds import available_engines, engines_for, model_name
from ..evalset import EvalSet
from .heldout import heldout_set
from .models import collect_models
from .worker import spawn

DEFAULT_BATCHES = (1, 8, 32, 128, 512)
RECORD_SECONDS = 10.0


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


def windows_per_record(contract, seconds: float = RECORD_SECONDS) -> int:
    """The windows a record of ``seconds`` is cut into by the contract (throughput is quoted in such records)."""
    from ...dsp.reference import window_count

    p = contract.preprocessing
    return window_count(int(round(seconds * p.fs)), p.window, p.stride or p.window, p.cover_tail)


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
    #: windows the model takes from a 10-s record: a 2.5-s-window model runs 7 where a 10-s one runs 1
    windows_per_record: int = 1

    @property
    def record_ms(self) -> float | None:
        """Batch-1 latency (p50) of the windows of one 10-s record, run one at a time: the cost the frontier
        compares, so that a model of short overlapping windows is not read as cheap as one of whole records."""
        return self.latency_ms["p50"] * self.windows_per_record if self.latency_ms else None


def _accuracy(held: EvalSet, logits: np.ndarray, contract, bootstrap: int) -> tuple[float, list, dict]:
    from ...metrics import bootstrap_ci, macro_auroc, per_class

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
    """Mark the rows that no other row beats: faster per 10-s record at batch 1 (p50 times its windows,
    :attr:`Row.record_ms`) and at least as accurate (macro AUROC, differences below ``tie`` counting as equal),
    or as fast and clearly more accurate."""
    pts = [r for r in rows if r.status == "ok" and r.latency_ms and r.macro_auroc is not None]
    for r in pts:
        lat, acc = r.record_ms, r.macro_auroc
        r.pareto = not any(
            (o.record_ms < lat and o.macro_auroc >= acc - tie)
            or (o.record_ms <= lat and o.macro_auroc > acc + tie) for o in pts if o is not r)


def run_bench(models: list[str] | None, opts: BenchOptions, log=print) -> tuple[list[Row], dict]:
    from ...trust import is_recorded, refusal, runs_code, sha256_file

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
                        h = heldout_set(info.contract, data=opts.data, labels=opts.labels,
                                        folds=opts.folds, max_records=opts.max_records)
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
                res = spawn(job, opts.timeout)
                row = Row(name, arch, info.path, eng, prec, size, windows_per_record=windows_per_record(info.contract))
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
                    row.records_per_s = row.windows_per_s / row.windows_per_record
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
