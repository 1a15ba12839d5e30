"""Training input: batches from the prepared store against a loader that re-reads and re-filters
each WFDB record per item, as the paper's code does (wfdb.rdsamp + scipy band-pass + resample +
z-score + random crop). Target: >= 10x the records/s of an epoch."""

from __future__ import annotations

import time

import numpy as np
import pytest

from ecgedge.datasets import load_dataset

wfdb = pytest.importorskip("wfdb")
ss = pytest.importorskip("scipy.signal")


def test_epoch_input_rate(benchmark, data, tmp_path, record_result, monkeypatch):
    monkeypatch.setenv("ECGEDGE_CACHE", str(tmp_path))
    from ecgedge.training.data import crop_batch, make_split, open_store
    from ecgedge.training.recipe import recipe_from_dict

    r = recipe_from_dict({"data": {"dataset": "ptbxl"}, "preprocessing": {"fs": 100}}).validate()
    store = open_store(r)  # built once, reused by every later run
    split = make_split(store, r, store.labels)
    idx = split.train[:600]
    rng = np.random.default_rng(0)
    window = 250

    def store_epoch():
        for s in range(0, len(idx), 64):
            crop_batch(store, idx[s:s + 64], window, rng)

    ds = load_dataset("ptbxl")
    paths = [ds.records[i].path[:-4] for i in idx]
    sos = ss.butter(2, [0.5, 40.0], btype="bandpass", fs=100, output="sos")

    def naive_epoch(paths=paths):
        for p in paths:
            x, _ = wfdb.rdsamp(p)
            x = ss.sosfiltfilt(sos, x.T, axis=-1)
            x = (x - x.mean(-1, keepdims=True)) / x.std(-1, keepdims=True)
            s = rng.integers(0, x.shape[1] - window + 1)
            _ = x[:, s:s + window].astype(np.float32)

    t0 = time.perf_counter()
    store_epoch()
    t_store = min(_timed(store_epoch) for _ in range(3))
    t_naive = _timed(lambda: naive_epoch(paths[:200])) * len(paths) / 200
    benchmark.pedantic(store_epoch, rounds=3, iterations=1)
    ratio = t_naive / t_store
    record_result({"name": "train_input_epoch", "store_records_per_s": round(len(idx) / t_store),
                   "naive_records_per_s": round(len(idx) / t_naive), "ratio": round(ratio, 1), "target": 10,
                   "summary": f"training input, PTB-XL 100 Hz: store {len(idx) / t_store:,.0f} records/s vs "
                              f"per-item WFDB + scipy {len(idx) / t_naive:,.0f} records/s -> {ratio:.0f}x "
                              f"(target 10x)"})
    assert time.perf_counter() - t0 > 0


def _timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0
