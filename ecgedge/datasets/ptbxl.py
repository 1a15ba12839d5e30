"""PTB-XL from its official layout, with the label tasks of the PTB-XL benchmark.

Labels follow Strodthoff et al. (2021) and PTB-XL's own example code: a record's statements are
the keys of ``scp_codes`` (no likelihood threshold); ``diagnostic`` keeps those whose statement has
``diagnostic == 1``, ``subdiagnostic`` / ``superdiagnostic`` map them to ``diagnostic_subclass`` /
``diagnostic_class``, ``form`` and ``rhythm`` keep statements flagged so, ``all`` keeps every key.
Rows with no label for the task are dropped (and counted). Classes are sorted by name, as the
benchmark's ``MultiLabelBinarizer`` orders them, and come from the whole label file, so they do not
depend on which records are on disk. Folds are the official ``strat_fold`` (1-8 train, 9 val, 10 test).
"""

from __future__ import annotations

import ast
import csv
import os
from pathlib import Path

from ..errors import DataSetError
from .base import DataSet, RecordRef, read_folds_csv
from .registry import DATASETS

SUPERCLASSES = ("CD", "HYP", "MI", "NORM", "STTC")


def read_statements(path: str) -> dict[str, dict[str, str]]:
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            header = next(reader)
            rows = {row[0]: dict(zip(header[1:], row[1:])) for row in reader if row}
    except FileNotFoundError:
        raise DataSetError("scp_statements.csv not found", path=path,
                           fix="point at the PTB-XL folder (it holds ptbxl_database.csv)") from None
    except (UnicodeDecodeError, csv.Error, StopIteration) as exc:
        raise DataSetError(f"not a readable CSV ({exc})", path=path) from None
    for col in ("diagnostic", "form", "rhythm", "diagnostic_class", "diagnostic_subclass"):
        if rows and col not in next(iter(rows.values())):
            raise DataSetError(f"missing column {col!r}", path=path, where="line 1")
    return rows


def _flag(value: str) -> bool:
    try:
        return float(value) == 1.0
    except ValueError:
        return False


def task_labels(codes: dict, statements: dict[str, dict[str, str]], task: str) -> set[str]:
    if task == "all":
        return set(codes)
    out: set[str] = set()
    for key in codes:
        st = statements.get(key)
        if st is None:
            continue
        if task in ("diagnostic", "subdiagnostic", "superdiagnostic"):
            if not _flag(st["diagnostic"]):
                continue
            if task == "diagnostic":
                out.add(key)
            else:
                value = st["diagnostic_subclass" if task == "subdiagnostic" else "diagnostic_class"]
                if value and value.lower() != "nan":
                    out.add(value)
        elif _flag(st[task]):
            out.add(key)
    return out


def load_ptbxl(root: str | os.PathLike[str], task: str = "superdiagnostic", fs: float = 100,
               folds: str | os.PathLike[str] | None = None) -> DataSet:
    """PTB-XL from its folder (see :func:`ecgedge.datasets.load_dataset`, which checks ``task``)."""
    root = Path(root)
    rates = DATASETS["ptbxl"].rates
    if fs not in rates:
        shown = " and ".join(f"{r:g}" for r in rates)
        raise DataSetError(f"PTB-XL is distributed at {shown} Hz, not {fs:g}",
                           fix=f"load at {' or '.join(f'{r:g}' for r in rates)} Hz; `ecgedge data prepare --fs` "
                               "resamples")
    db_path = root / "ptbxl_database.csv"
    statements = read_statements(str(root / "scp_statements.csv"))
    column = "filename_lr" if fs == 100 else "filename_hr"
    override = read_folds_csv(folds) if folds else None

    records: list[RecordRef] = []
    missing: list[str] = []
    unlabelled: list[str] = []
    all_labels: set[str] = set()
    try:
        fh = open(db_path, newline="", encoding="utf-8")
    except FileNotFoundError:
        raise DataSetError("ptbxl_database.csv not found", path=db_path,
                           fix="point at the PTB-XL folder (set ECGEDGE_DATA or pass the path)") from None
    with fh:
        reader = csv.DictReader(fh)
        needed = {"ecg_id", "patient_id", "scp_codes", "strat_fold", column}
        if not reader.fieldnames or not needed <= set(reader.fieldnames):
            lacking = sorted(needed - set(reader.fieldnames or ()))
            raise DataSetError(f"missing column(s) {', '.join(lacking)}", path=db_path, where="line 1")
        for lineno, row in enumerate(reader, start=2):
            where = f"line {lineno}"
            try:
                codes = ast.literal_eval(row["scp_codes"])  # a dict literal; literal_eval runs no code
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                raise DataSetError(f"'scp_codes' is not a dict literal: {row['scp_codes'][:60]!r}",
                                   path=db_path, where=where) from None
            if not isinstance(codes, dict):
                raise DataSetError("'scp_codes' is not a dict", path=db_path, where=where)
            try:
                ecg_id = int(float(row["ecg_id"]))
                fold = int(float(row["strat_fold"]))
            except ValueError:
                raise DataSetError("'ecg_id' or 'strat_fold' is not a number", path=db_path, where=where) from None
            name = f"{ecg_id:05d}"
            labels = task_labels(codes, statements, task)
            if not labels:
                unlabelled.append(name)
                continue
            all_labels |= labels
            rel = row[column]
            if not rel or ".." in Path(rel).parts or os.path.isabs(rel):
                raise DataSetError(f"'{column}' is not a relative record path: {rel!r}", path=db_path, where=where)
            path = root / (rel + ".hea")
            if not path.exists():
                missing.append(name)
                continue
            pid = row["patient_id"]
            try:
                pid = str(int(float(pid)))
            except ValueError:
                pass
            if override is not None:
                if name not in override:
                    raise DataSetError(f"record {name} has no fold in the folds file", path=folds)
                fold = override[name]
            records.append(RecordRef(name=name, path=str(path), labels=tuple(sorted(labels)), fold=fold,
                                     patient=pid, meta={"age": row.get("age"), "sex": row.get("sex")}))
    classes = SUPERCLASSES if task == "superdiagnostic" else tuple(sorted(all_labels))
    return DataSet(
        name="ptbxl", task=task, root=str(root), classes=classes, records=records, multilabel=True,
        missing=missing, unlabelled=unlabelled, fold_source="file" if override else "official", fs=float(fs),
        label_files=[str(db_path), str(root / "scp_statements.csv")] + ([os.fspath(folds)] if folds else []),
    )
