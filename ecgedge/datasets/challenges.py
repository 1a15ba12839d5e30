"""CPSC2018, the CinC 2020/2021 challenges and PhysioNet/CinC 2017.

None of them has official folds: records get deterministic, label-stratified folds
(:mod:`ecgedge.datasets.folds`), which :meth:`DataSet.write_folds` saves for reuse.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from ..errors import DataSetError, RecordError
from ..io.wfdb_header import read_header
from .base import N_FOLDS, DataSet, RecordRef, read_folds_csv
from .folds import stratified_folds
from .snomed import CPSC_CLASSES, SNOMED_TO_CPSC, snomed_name

PHYSIONET2017_CLASSES = ("N", "A", "O", "~")
PHYSIONET2017_NAMES = {"N": "normal sinus rhythm", "A": "atrial fibrillation", "O": "other rhythm",
                       "~": "too noisy to classify"}


def assign_folds(ds: DataSet, folds: str | os.PathLike[str] | None, seed: int = 0) -> DataSet:
    """Fill in folds: from a folds file when given, else stratified (patient-disjoint where known)."""
    if folds:
        table = read_folds_csv(folds)
        lacking = [r.name for r in ds.records if r.name not in table]
        if lacking:
            raise DataSetError(f"{len(lacking)} record(s) have no fold, e.g. {lacking[0]}", path=folds,
                               fix="regenerate the folds file for this data set")
        for r in ds.records:
            r.fold = table[r.name]
        ds.fold_source = "file"
        ds.label_files.append(os.fspath(folds))
        return ds
    y = ds.label_matrix()
    f = stratified_folds([r.name for r in ds.records], y, [r.patient for r in ds.records],
                         n_folds=N_FOLDS, seed=seed)
    for r, k in zip(ds.records, f.tolist()):
        r.fold = k
    ds.fold_source = f"stratified (seed {seed})"
    return ds


def _read_reference(path: Path, header: bool) -> list[tuple[int, list[str]]]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))
    except FileNotFoundError:
        raise DataSetError("label file not found", path=path, fix="point at the data set's folder") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataSetError(f"not a readable CSV ({exc})", path=path) from None
    start = 1 if header else 0
    return [(i + 1, row) for i, row in enumerate(rows) if i >= start and any(c.strip() for c in row)]


def load_cpsc2018(root: str | os.PathLike[str], task: str = "cpsc9",
                  folds: str | os.PathLike[str] | None = None, seed: int = 0) -> DataSet:
    """CPSC2018 in its original form: ``REFERENCE.csv`` (up to three of classes 1-9) + ``.mat``; one task,
    ``cpsc9`` (the nine classes)."""
    root = Path(root)
    ref = root / "REFERENCE.csv"
    records, missing = [], []
    on_disk = {p.name for p in root.iterdir()} if root.is_dir() else set()
    for lineno, row in _read_reference(ref, header=True):
        name = row[0].strip()
        labels = []
        for col, cell in enumerate(row[1:4], start=2):
            cell = cell.strip()
            if not cell:
                continue
            if not cell.isdigit() or not 1 <= int(cell) <= 9:
                raise DataSetError(f"column {col}: class {cell!r} is not one of 1-9", path=ref,
                                   where=f"line {lineno}", fix="CPSC2018 classes are numbered 1-9")
            labels.append(CPSC_CLASSES[int(cell) - 1])
        if not labels:
            raise DataSetError(f"record {name} has no label", path=ref, where=f"line {lineno}")
        if f"{name}.hea" in on_disk:
            path = root / f"{name}.hea"
        elif f"{name}.mat" in on_disk:
            path = root / f"{name}.mat"
        else:
            missing.append(name)
            continue
        records.append(RecordRef(name=name, path=str(path), labels=tuple(sorted(set(labels), key=CPSC_CLASSES.index)),
                                 fold=0))
    ds = DataSet(name="cpsc2018", task=task, root=str(root), classes=CPSC_CLASSES, records=records,
                 missing=missing, fs=500.0, label_files=[str(ref)])
    return assign_folds(ds, folds, seed)


def load_cinc(root: str | os.PathLike[str], task: str = "cpsc9",
              folds: str | os.PathLike[str] | None = None, seed: int = 0, name: str = "cinc2021") -> DataSet:
    """CinC 2020/2021 WFDB records; labels from each header's ``# Dx:`` SNOMED-CT codes.

    ``cpsc9`` maps the codes onto the nine CPSC2018 classes (records with none of them are
    dropped); ``all`` keeps every code, named where the code is known.
    """
    root = Path(root)
    headers = sorted(root.rglob("*.hea"))
    if not headers:
        raise DataSetError("no WFDB headers (.hea) found", path=root, fix="point at a CinC 2020/2021 folder")
    records, unlabelled = [], []
    fss = set()
    seen_classes: set[str] = set()
    for hea in headers:
        try:
            hdr = read_header(hea)
        except RecordError as exc:
            raise DataSetError(str(exc)) from None
        codes: list[str] = []
        for c in hdr.comments:
            key, sep, value = c.partition(":")
            if sep and key.strip().lower() == "dx":
                codes = [x.strip() for x in value.split(",") if x.strip()]
        if task == "cpsc9":
            labels = sorted({SNOMED_TO_CPSC[c] for c in codes if c in SNOMED_TO_CPSC}, key=CPSC_CLASSES.index)
        else:
            labels = sorted({snomed_name(c) for c in codes})
        if not labels:
            unlabelled.append(hdr.record_name)
            continue
        seen_classes.update(labels)
        fss.add(hdr.fs)
        records.append(RecordRef(name=hdr.record_name, path=str(hea), labels=tuple(labels), fold=0,
                                 meta={"dx": codes}))
    classes = CPSC_CLASSES if task == "cpsc9" else tuple(sorted(seen_classes))
    ds = DataSet(name=name, task=task, root=str(root), classes=classes, records=records,
                 unlabelled=unlabelled, fs=fss.pop() if len(fss) == 1 else None,
                 label_files=[str(h) for h in headers])
    if len(fss) > 1:
        ds.notes.append("records have different sampling rates; prepare resamples them to one")
    return assign_folds(ds, folds, seed)


def load_physionet2017(root: str | os.PathLike[str], task: str = "rhythm",
                       folds: str | os.PathLike[str] | None = None, seed: int = 0) -> DataSet:
    """PhysioNet/CinC 2017: single-lead AliveCor ECGs, one of N, A, O, ~ each (task ``rhythm``)."""
    root = Path(root)
    if not (root / "REFERENCE.csv").exists() and (root / "training2017" / "REFERENCE.csv").exists():
        root = root / "training2017"
    ref = root / "REFERENCE.csv"
    records, missing = [], []
    on_disk = {p.name for p in root.iterdir()} if root.is_dir() else set()
    for lineno, row in _read_reference(ref, header=False):
        if len(row) < 2:
            raise DataSetError("expected 'record,label'", path=ref, where=f"line {lineno}")
        name, label = row[0].strip(), row[1].strip()
        if label not in PHYSIONET2017_CLASSES:
            raise DataSetError(f"class {label!r} is not one of N, A, O, ~", path=ref, where=f"line {lineno}")
        if f"{name}.hea" not in on_disk:
            missing.append(name)
            continue
        records.append(RecordRef(name=name, path=str(root / f"{name}.hea"), labels=(label,), fold=0))
    ds = DataSet(name="physionet2017", task=task, root=str(root), classes=PHYSIONET2017_CLASSES,
                 records=records, multilabel=False, missing=missing, fs=300.0, label_files=[str(ref)])
    return assign_folds(ds, folds, seed)


