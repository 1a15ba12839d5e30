"""The transfer study's table (benchmarks/transfer_curve.py): cells rebuilt from the run folders found, merged
with the cells its results file records whose folders are gone, and paired per fold against scratch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import benchmark_script

pytest.importorskip("scipy")
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def curve():
    with benchmark_script("transfer_curve") as mod:
        yield mod


def _run(root: Path, name: str, test: float, validation: float, af: float) -> None:
    d = root / name
    d.mkdir(parents=True)
    (d / "metrics.json").write_text(json.dumps({
        "best_epoch": 7,
        "validation": {"macro_auroc": validation},
        "test": {"macro_auroc": test, "n_records": 1200, "per_class": {"A": {"auroc": af}}},
    }))


def test_disk_runs_merge_with_recorded_cells(curve, tmp_path):
    runs = tmp_path / "runs"
    _run(runs, "scratch-n300-cv0", 0.80, 0.81, 0.85)
    _run(runs, "finetune-n300-cv0", 0.90, 0.91, 0.95)
    _run(runs, "finetune-n300-cv2", 0.88, 0.89, 0.93)  # on disk and recorded: the folder wins
    old = {
        "scratch-300": {"kind": "scratch", "train_size": "300", "folds": {"1": 0.70, "2": 0.75},
                        "validation": {"1": 0.71, "2": 0.76}, "best_epoch": {"1": 5, "2": 6},
                        "scores": {"macro_auroc": {"1": 0.70, "2": 0.75}, "af_auroc": {"1": 0.72, "2": 0.77}},
                        "test_records": 1200},
        "finetune-300": {"kind": "finetune", "train_size": "300", "folds": {"1": 0.82, "2": 0.10},
                         "validation": {"1": 0.83, "2": 0.11}, "best_epoch": {"1": 9, "2": 9},
                         "scores": {"macro_auroc": {"1": 0.82, "2": 0.10}}, "test_records": 1200},
        "gradual-300": {"kind": "gradual", "train_size": "300", "folds": {"1": 0.77}, "validation": {"1": 0.78},
                        "scores": {"macro_auroc": {"1": 0.77}}, "test_records": 1200},
        "transfer-300": {"kind": "transfer", "train_size": "300", "folds": {"1": 0.5}, "scores": {}},
    }
    t = curve.table(runs, ["scratch", "finetune", "gradual", "linear"], old)
    assert "transfer-300" not in t  # not an arm of this task
    sc, ft = t["scratch-300"], t["finetune-300"]
    assert sc["folds"] == {0: 0.80, 1: 0.70, 2: 0.75} and sc["recorded_folds"] == [1, 2]
    assert ft["folds"] == {0: 0.90, 1: 0.82, 2: 0.88} and ft["recorded_folds"] == [1]
    assert sc["best_epoch"] == {0: 7, 1: 5, 2: 6}
    assert sc["summary"]["macro_auroc"]["n"] == 3 and sc["mean"] == pytest.approx(0.75)
    p = curve.paired(t, "finetune", "300")
    assert p["n"] == 3 and p["wins"] == 3 and p["mean"] == pytest.approx((0.10 + 0.12 + 0.13) / 3)
    assert p["ci"][0] < p["mean"] < p["ci"][1]
    assert curve.paired(t, "gradual", "300")["n"] == 1  # paired on the folds both ran
    af = curve.paired(t, "finetune", "300", "af_auroc")
    # the recorded finetune fold 1 carried no AF score: folds 0 and 2 (both from disk) against scratch's 0 and 2
    assert af["n"] == 2 and af["mean"] == pytest.approx((0.10 + 0.16) / 2)
    table = curve.readme_table(t, ["scratch", "finetune", "gradual", "linear"])
    assert "| 300 | 0.750 ± 0.050 (3) | 0.867" in table and "(3/3)" in table
    json.dumps(t)  # the results file can hold it


def test_without_a_record_the_table_is_the_runs(curve, tmp_path):
    _run(tmp_path, "scratch-nall-cv3", 0.94, 0.95, 0.98)
    t = curve.table(tmp_path, ["scratch", "finetune"], None)
    assert list(t) == ["scratch-all"] and t["scratch-all"]["folds"] == {3: 0.94}
    assert "recorded_folds" not in t["scratch-all"]
