"""Data sets, labels and folds on the real shared data."""

from __future__ import annotations

import numpy as np
import pytest

from ecgedge.datasets import load_dataset
from ecgedge.datasets.folds import stratified_folds
from ecgedge.datasets.registry import DATASETS
from ecgedge.errors import DataSetError


def test_ptbxl_superdiagnostic_matches_the_benchmark(data):
    ds = load_dataset("ptbxl")
    assert ds.classes == ("CD", "HYP", "MI", "NORM", "STTC")
    # The data README: 23 of the 1,999 rows carry no diagnostic superclass.
    assert len(ds.unlabelled) == 23 and len(ds) == 1999 - 23 and not ds.missing
    assert ds.fold_source == "official"
    counts = ds.class_counts()
    assert counts["train"]["records"] + counts["val"]["records"] + counts["test"]["records"] == len(ds)
    # Official strat_fold: 1,499 / 245 / 255 rows, less the unlabelled ones.
    assert counts["test"]["records"] <= 255 and counts["val"]["records"] <= 245
    rec = next(r for r in ds.records if r.name == "00001")
    assert rec.labels == ("NORM",) and rec.patient == "15709" and rec.fold == 3
    y = ds.label_matrix()
    assert y.shape == (len(ds), 5) and y.sum(axis=1).min() >= 1


def test_ptbxl_tasks_and_rates(data):
    sizes = {}
    for task in DATASETS["ptbxl"].tasks:
        ds = load_dataset("ptbxl", task=task)
        sizes[task] = len(ds.classes)
        assert len(ds) + len(ds.unlabelled) == 1999
    assert sizes["superdiagnostic"] == 5
    assert sizes["subdiagnostic"] < sizes["diagnostic"] < sizes["all"]
    hr = load_dataset("ptbxl", fs=500)
    # records500 holds ecg_id 1-500 only: the rest are reported missing, not dropped silently.
    assert len(hr) + len(hr.missing) + len(hr.unlabelled) == 1999
    assert len(hr.missing) > 1000 and hr.missing_summary().startswith(f"{len(hr.missing)} record(s)")
    assert all(r.path.endswith("_hr.hea") for r in hr.records)
    with pytest.raises(DataSetError, match="100 and 500"):
        load_dataset("ptbxl", fs=250)


def test_ptbxl_patients_never_cross_official_folds(data):
    ds = load_dataset("ptbxl", task="all")
    by_patient = {}
    for r in ds.records:
        by_patient.setdefault(r.patient, set()).add(r.fold)
    assert all(len(f) == 1 for f in by_patient.values())


def test_cpsc2018_reports_missing_records(data):
    ds = load_dataset("cpsc2018")
    assert len(ds) == 10 and len(ds.missing) == 6877 - 10
    assert ds.missing[:2] == ["A0001", "A0002"]
    assert set(r.name for r in ds.records) == {f"A{i}" for i in range(1980, 1990)}
    assert ds.fold_source.startswith("stratified")


def test_cinc2021_snomed_mapping(data):
    ds = load_dataset("cinc2021")
    assert ds.classes[:2] == ("Normal", "AF")
    assert all(r.labels for r in ds.records)
    assert len(ds) + len(ds.unlabelled) == 50
    full = load_dataset("cinc2021", task="all")
    assert len(full) == 50
    assert "STach" in full.classes and "PAC" in full.classes
    assert any(c.startswith("SNOMED ") for c in full.classes)  # unknown codes keep their number


def test_physionet2017_single_label_stratified(data):
    ds = load_dataset("physionet2017")
    assert not ds.multilabel and ds.classes == ("N", "A", "O", "~")
    y = ds.label_matrix()
    # the counts follow the shared data (3,000 records once, 6,000 now): REFERENCE.csv rows whose record
    # is on disk, counted here independently of the loader
    root = data / "physionet2017" / "training2017"
    rows = [line.split(",") for line in (root / "REFERENCE.csv").read_text().split()]
    present = [c for r, c in rows if (root / f"{r}.hea").exists()]
    expect = [present.count(c) for c in ("N", "A", "O", "~")]
    assert len(ds.records) == len(present) >= 3000
    assert (y.sum(axis=1) == 1).all() and y.sum(axis=0).tolist() == expect
    folds = ds.folds()
    # Stratified: every fold gets its share of the rare noisy class (a tenth of it) and of the records.
    for k in range(1, 11):
        assert abs(int(y[folds == k, 3].sum()) - expect[3] / 10) <= 1
        assert abs(int((folds == k).sum()) - len(present) / 10) <= 2


def test_folds_are_deterministic_and_reusable(data, tmp_path):
    a = load_dataset("physionet2017", seed=7)
    b = load_dataset("physionet2017", seed=7)
    assert a.folds().tolist() == b.folds().tolist()
    c = load_dataset("physionet2017", seed=8)
    assert a.folds().tolist() != c.folds().tolist()
    a.write_folds(tmp_path / "folds.csv")
    d = load_dataset("physionet2017", folds=tmp_path / "folds.csv")
    assert d.folds().tolist() == a.folds().tolist() and d.fold_source == "file"


def test_stratified_folds_keep_patients_together():
    rng = np.random.default_rng(0)
    n = 600
    patients = [f"p{i // 3}" for i in range(n)]
    y = (rng.random((n, 4)) < [0.5, 0.2, 0.05, 0.01]).astype(int)
    folds = stratified_folds([f"r{i}" for i in range(n)], y, patients, n_folds=10, seed=0)
    for p in set(patients):
        assert len({folds[i] for i in range(n) if patients[i] == p}) == 1
    sizes = np.bincount(folds, minlength=11)[1:]
    assert sizes.min() >= 50 and sizes.max() <= 70
    for k in range(1, 11):
        assert y[folds == k, 1].sum() > 0


def _own_folder(tmp_path, data, rows: str):
    import shutil

    src = data / "ptb-xl" / "records100" / "00000"
    for i in range(1, 41):
        for ext in (".hea", ".dat"):
            shutil.copy(src / f"{i:05d}_lr{ext}", tmp_path / f"{i:05d}_lr{ext}")
    (tmp_path / "labels.csv").write_text(rows)
    return tmp_path


def test_own_folder_with_patients(data, tmp_path):
    lines = ["record,labels,patient"]
    for i in range(1, 41):
        lines.append(f"{i:05d}_lr,{'PE' if i % 4 == 0 else 'control'},pat{i // 2}")
    folder = _own_folder(tmp_path, data, "\n".join(lines) + "\n")
    ds = load_dataset("folder", folder)
    assert ds.classes == ("PE", "control") and len(ds) == 40 and not ds.multilabel
    assert ds.fold_source.startswith("stratified")
    by_patient = {}
    for r in ds.records:
        by_patient.setdefault(r.patient, set()).add(r.fold)
    assert all(len(f) == 1 for f in by_patient.values())


def test_own_folder_one_hot_columns_and_given_folds(data, tmp_path):
    lines = ["record,PE,RV_strain,fold"]
    for i in range(1, 41):
        lines.append(f"{i:05d}_lr,{int(i % 3 == 0)},{int(i % 5 == 0)},{1 + i % 10}")
    folder = _own_folder(tmp_path, data, "\n".join(lines) + "\n")
    ds = load_dataset("folder", folder)
    assert ds.classes == ("PE", "RV_strain") and ds.fold_source == "labels CSV"
    assert ds.records[0].name == "00003_lr" and ds.records[0].fold == 4
    assert len(ds.unlabelled) == 40 - len(ds)
