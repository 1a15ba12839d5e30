"""Inference end to end, against naive pipelines measured in the same run on the same records.

Targets (issues: export, inference): INT8 batch-1 latency >= 5x PyTorch eager FP32 and >= 3x onnxruntime
FP32; a folder of PTB-XL records (decode, preprocess, INT8, aggregate, CSV) >= 50x a naive per-record
pipeline (wfdb.rdsamp + scipy filtering/resampling + PyTorch eager per window); cold start of
``ecgedge infer`` on one record <= 0.5 s; a replayed stream >= 1,000x real time with <= 5 ms latency
after the last sample.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from ecgedge.zoo import shipped

MODELS = shipped()
pytestmark = pytest.mark.skipif(not MODELS, reason="no shipped model")
NAME = "ptbxl-superdiagnostic"


def _median(fn, n):
    from ecgedge.runtime.bench import time_calls

    return float(np.median(time_calls(fn, min_runs=n, warmup=min(10, n))))


@pytest.fixture(scope="module")
def model():
    return MODELS[NAME]["path"]


@pytest.fixture(scope="module")
def folder(data):
    files = sorted((data / "ptb-xl" / "records500").rglob("*.hea"))[:100]
    return files


def test_engine_latency_batch1(benchmark, model, record_result):
    """The shipped model: PyTorch eager FP32 vs onnxruntime FP32 vs INT8, one thread, batch 1."""
    torch = pytest.importorskip("torch")
    from ecgedge.artifact import read_info
    from ecgedge.runtime.ort import session
    from ecgedge.training.models import build_model

    info = read_info(model)
    c = info.contract
    torch.set_num_threads(1)
    m = build_model(info.meta["arch"], leads=len(c.leads), classes=len(c.classes), fs=c.fs, window=c.window,
                    **(info.meta.get("arch_kwargs") or {})).eval()
    x = np.random.default_rng(0).standard_normal((1, len(c.leads), c.window)).astype(np.float32)
    s8 = session(model, threads=1)
    with tempfile.TemporaryDirectory() as d:
        from ecgedge.export.onnx_export import export_fp32

        p = Path(d) / "fp32.onnx"
        p.write_bytes(export_fp32(m, x, info.meta["arch"]))
        s32 = session(p, threads=1)
        with torch.no_grad():
            t_eager = _median(lambda: m(torch.from_numpy(x)), 300)
        t32 = _median(lambda: s32.run(None, {"ecg": x}), 300)
        t8 = _median(lambda: s8.run(None, {"ecg": x}), 300)
    benchmark.pedantic(lambda: s8.run(None, {"ecg": x}), rounds=100, iterations=5)
    record_result({"name": "engine_batch1", "model": NAME, "arch": info.meta["arch"], "eager_ms": t_eager * 1e3,
                   "ort_fp32_ms": t32 * 1e3, "ort_int8_ms": t8 * 1e3, "int8_vs_eager": t_eager / t8,
                   "int8_vs_ort_fp32": t32 / t8,
                   "summary": f"{NAME} ({info.meta['arch']}) batch 1, 1 thread: eager {t_eager * 1e3:.2f} ms, ORT FP32 "
                              f"{t32 * 1e3:.2f} ms, INT8 {t8 * 1e3:.3f} ms -> {t_eager / t8:.1f}x eager (target 5x), "
                              f"{t32 / t8:.1f}x ORT FP32 (target 3x)"})


def _naive(files, m, torch, ss, wfdb, fs_out=100, window=250, stride=125, zscore=True):
    """The paper's style: per record wfdb.rdsamp, scipy band-pass and resampling, z-score (when the model's
    contract has it), each window through PyTorch eager on its own."""
    sos = ss.butter(2, [0.5, 40.0], btype="bandpass", fs=500, output="sos")
    rows = []
    for f in files:
        x, _ = wfdb.rdsamp(str(f.with_suffix("")))
        y = ss.sosfiltfilt(sos, x.T, axis=-1)
        y = ss.resample_poly(y, 1, 5, axis=-1)
        if zscore:
            y = (y - y.mean(-1, keepdims=True)) / (y.std(-1, keepdims=True) + 1e-8)
        probs = []
        with torch.no_grad():
            for s in range(0, y.shape[1] - window + 1, stride):
                probs.append(torch.sigmoid(m(torch.from_numpy(y[None, :, s:s + window].astype(np.float32)))))
        rows.append(torch.cat(probs).max(0).values.numpy())
    buf = io.StringIO()
    np.savetxt(buf, np.array(rows), delimiter=",")
    return buf.getvalue()


def test_folder_end_to_end(benchmark, model, folder, record_result):
    torch = pytest.importorskip("torch")
    ss = pytest.importorskip("scipy.signal")
    wfdb = pytest.importorskip("wfdb")
    from ecgedge.artifact import read_info
    from ecgedge.runtime.predictor import Predictor
    from ecgedge.runtime.report import Writer
    from ecgedge.training.models import build_model

    info = read_info(model)
    c = info.contract
    # both sides as a user gets them on this machine: PyTorch's default threads for the naive script, and
    # `ecgedge infer folder/`'s defaults (onnxruntime's choice of threads, one decode worker per core up to 4)
    m = build_model(info.meta["arch"], leads=12, classes=len(c.classes), fs=c.fs, window=c.window,
                    **(info.meta.get("arch_kwargs") or {})).eval()
    naive_files = folder[:20]
    for f in folder:  # both pipelines read from the page cache, not the disk
        f.with_suffix(".dat").read_bytes()
    zs = c.preprocessing.norm == "zscore"
    t_naive = min(_time(lambda: _naive(naive_files, m, torch, ss, wfdb, zscore=zs)) for _ in range(2))
    t_naive /= len(naive_files)
    pred = Predictor(model)

    def ours():
        buf = io.StringIO()
        w = Writer(buf, "csv", pred.classes)
        for p in pred.predict_many(str(f) for f in folder):
            w.write(p)
        w.close()
        return buf

    assert ours().getvalue().count("\n") == len(folder) + 1
    t_ours = min(_time(ours) for _ in range(3)) / len(folder)
    benchmark.pedantic(ours, rounds=3, iterations=1)
    record_result({"name": "folder_end_to_end", "records": len(folder), "naive_records_per_s": 1 / t_naive,
                   "ecgedge_records_per_s": 1 / t_ours, "ratio": t_naive / t_ours,
                   "summary": f"PTB-XL 500 Hz folder end to end (decode, preprocess, INT8, aggregate, CSV): ecgedge "
                              f"{1 / t_ours:.0f} records/s vs naive wfdb+scipy+eager {1 / t_naive:.1f} records/s -> "
                              f"{t_naive / t_ours:.0f}x (target 50x)"})


def test_cold_start(benchmark, folder, record_result):
    """Process start to printed result for one 10-s 12-lead record: `ecgedge infer` vs a torch+wfdb+scipy script."""
    rec = str(folder[0])
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    def ours():
        r = subprocess.run([sys.executable, "-m", "ecgedge", "infer", rec, "--format", "jsonl"], capture_output=True,
                           text=True, env=env)
        assert r.returncode == 0, r.stderr
        return r.stdout

    script = ("import sys, numpy as np, torch, wfdb, scipy.signal as ss\n"
              f"x, _ = wfdb.rdsamp({rec[:-4]!r})\n"
              "sos = ss.butter(2, [0.5, 40.0], btype='bandpass', fs=500, output='sos')\n"
              "y = ss.resample_poly(ss.sosfiltfilt(sos, x.T, axis=-1), 1, 5, axis=-1)\n"
              "m = torch.nn.Sequential(torch.nn.Conv1d(12, 32, 7), torch.nn.AdaptiveAvgPool1d(1), torch.nn.Flatten(),"
              " torch.nn.Linear(32, 5)).eval()\n"
              "print(torch.sigmoid(m(torch.from_numpy(y[None, :, :250].astype(np.float32)))).tolist())\n")

    def naive():
        r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
        assert r.returncode == 0, r.stderr

    t_ours = min(_time(ours) for _ in range(5))
    t_naive = min(_time(naive) for _ in range(3))
    json.loads(ours())
    benchmark.pedantic(ours, rounds=3, iterations=1)
    record_result({"name": "cold_start", "ecgedge_s": t_ours, "torch_wfdb_scipy_s": t_naive, "target_s": 0.5,
                   "summary": f"cold start, one 10-s 12-lead record to printed result: ecgedge infer {t_ours:.2f} s "
                              f"(target 0.5 s) vs a torch+wfdb+scipy script {t_naive:.2f} s"})


def _time(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def test_stream_replay(benchmark, model, record_result):
    from ecgedge.io.wfdb_write import write_wfdb
    from ecgedge.runtime.live import StreamClassifier
    from ecgedge.simulate import simulated_ecg
    from ecgedge.streams import open_source

    with tempfile.TemporaryDirectory() as d:
        rec = write_wfdb(simulated_ecg(duration=1800.0, fs=500.0), d, "holter")

        def run():
            src = open_source(rec)
            clf = StreamClassifier(model, src.fs, src.leads, src.units, threads=1)
            lat, n = [], 0
            t0 = time.perf_counter()
            for chunk in src.chunks():
                n += chunk.data.shape[1]
                lat += [r.latency_ms for r in clf.push(chunk.data, chunk.t_arrival)]
            return n / src.fs / (time.perf_counter() - t0), np.array(lat)

        speed, lat = run()
        benchmark.pedantic(run, rounds=2, iterations=1)
    p50, p99 = np.percentile(lat, [50, 99])
    record_result({"name": "stream_replay", "signal_s": 1800, "x_real_time": speed, "latency_p50_ms": p50,
                   "latency_p99_ms": p99,
                   "summary": f"stream replay (30 min, 12 leads, 500 Hz, 1/8-s chunks, hop 1.25 s): {speed:.0f}x real "
                              f"time (target 1,000x); latency after the last sample p50 {p50:.2f} ms, p99 {p99:.2f} ms "
                              f"(target 5 ms)"})
