"""Building the prepared store for the shared PTB-XL subset, extrapolated to the full 21,837 records,
and how long opening it takes (what training pays per run)."""

from __future__ import annotations

import time

from ecgedge.datasets import load_dataset
from ecgedge.store import PreparedStore, prepare

FULL_PTBXL = 21837


def test_store_build_and_open(benchmark, data, tmp_path, record_result):
    ds = load_dataset("ptbxl")
    t0 = time.perf_counter()
    prepare(ds, tmp_path / "s", force=True)
    build = time.perf_counter() - t0
    t0 = time.perf_counter()
    prepare(ds, tmp_path / "s")
    reuse = time.perf_counter() - t0
    st = benchmark(PreparedStore.open, tmp_path / "s")
    assert len(st) == len(ds)
    t0 = time.perf_counter()
    PreparedStore.open(tmp_path / "s")
    open_s = time.perf_counter() - t0
    per = build / len(ds)
    record_result({"name": "store_build_ptbxl_100hz", "records": len(ds), "build_s": round(build, 2),
                   "reuse_check_s": round(reuse, 3), "extrapolated_full_s": round(per * FULL_PTBXL, 1),
                   "summary": f"store build PTB-XL 100 Hz: {len(ds)} records in {build:.2f} s "
                              f"({per * 1e3:.2f} ms/record; ~{per * FULL_PTBXL:.0f} s for all {FULL_PTBXL}); "
                              f"up-to-date check {reuse:.2f} s; open {open_s * 1e3:.2f} ms"})
