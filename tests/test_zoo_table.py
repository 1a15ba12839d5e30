"""The zoo's table (benchmarks/train_zoo.py): a finished run's row, read from its own metrics.json and checkpoint,
and the whole-data table's columns: the folds named from the run's split, the cost per 10-s record."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.conftest import benchmark_script

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def zoo():
    with benchmark_script("train_zoo") as mod:
        yield mod


def test_row_of_a_real_run(zoo, tiny_run):
    run = tiny_run["checkpoint"].parent
    m = json.loads((run / "metrics.json").read_text())
    row = zoo._row("mobilenet1d", run, per_record=True)
    assert row["test_macro_auroc"] == m["test"]["macro_auroc"]
    assert row["val_macro_auroc"] == m["validation"]["macro_auroc"]
    assert row["epochs"] == len(m["history"]) == 3
    # the recipe's 2.5-s windows at a 1.25-s hop: 7 of them in a 10-s record at 100 Hz
    assert row["windows_per_10s_record"] == 7
    assert row["cpu_ms_per_10s_record"] == pytest.approx(7 * row["cpu_batch1_ms"], abs=0.011)
    assert row["train_seconds"] > 0 and row["train_windows_per_s"] > 0
    val, test = zoo._split_folds(row["split"])
    assert test in zoo.table([row], per_record=True).splitlines()[0]


def test_table_names_the_development_folds_and_sorts_by_the_reported_fold(zoo):
    split = "folds 1-7 train, 8 validation, 9 test (development split: fold 10 held out)"
    assert zoo._split_folds(split) == ("fold 8", "fold 9")
    assert zoo._split_folds("a random split") == ("validation", "test")
    rows = [{"arch": a, "split": split, "parameters": p, "test_macro_auroc": t,
             "test_macro_auroc_ci": [t - 0.01, t + 0.01], "val_macro_auroc": v, "best_epoch": 12, "epochs": 16,
             "cpu_batch1_ms": ms, "windows_per_10s_record": w,
             "cpu_ms_per_10s_record": ms * w, "train_seconds": 600.0, "train_windows_per_s": 400.0}
            for a, p, t, v, ms, w in [("small", 3100, 0.90, 0.91, 0.3, 1), ("big", 1_180_000, 0.93, 0.94, 2.0, 7)]]
    lines = zoo.table(rows, per_record=True).splitlines()
    assert "fold 9 macro AUROC" in lines[0] and "fold 8 (selection)" in lines[0]
    assert lines[2].startswith("| big | 1.18 M | 0.930 [0.920–0.940] | 0.940 | 12/16 | 14.00 (7) | 10, 400 |")
    assert lines[3].startswith("| small | 3.1 k | 0.900")


def test_an_unknown_architecture_is_refused_before_any_training(tmp_path):
    import subprocess

    r = subprocess.run([sys.executable, str(REPO / "benchmarks" / "train_zoo.py"), "--base",
                        str(REPO / "train" / "ptbxl_xresnet1d50_10s.toml"), "--arch", "mobilenet1d,resnet9000",
                        "--out", str(tmp_path / "runs")], capture_output=True, text=True, timeout=120)
    assert r.returncode != 0
    assert "--arch: resnet9000; known: alexnet1d" in r.stderr
    assert not (tmp_path / "runs").exists()
