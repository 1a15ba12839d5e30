import os

# OpenBLAS threads that spin after a BLAS call would steal the second core from the timed code.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from ecgedge.datasets import data_root  # noqa: E402

RESULTS = Path(__file__).parent / "results"
_rows: list[dict] = []


@pytest.fixture(scope="session")
def data() -> Path:
    root = data_root()
    if not (root / "ptb-xl").is_dir():
        pytest.skip(f"shared data not found at {root} (set ECGEDGE_DATA)")
    return root


@pytest.fixture(scope="session")
def record_result():
    """Benchmarks report ratios against a reference measured in the same run; collect them here."""
    return _rows.append


def pytest_terminal_summary(terminalreporter):
    if not _rows:
        return
    terminalreporter.section("ecgedge ratios (same run)")
    for row in _rows:
        terminalreporter.write_line(row["summary"])
    if os.environ.get("ECGEDGE_BENCH_SAVE"):
        from ecgedge.machine import describe

        RESULTS.mkdir(exist_ok=True)
        out = RESULTS / f"{os.environ['ECGEDGE_BENCH_SAVE']}.json"
        out.write_text(json.dumps({"when": time.strftime("%Y-%m-%d"), "machine": describe(), "results": _rows},
                                  indent=1) + "\n")
        terminalreporter.write_line(f"saved {out}")
