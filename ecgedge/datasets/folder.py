"""A user's own data set: a folder of WFDB (or CPSC .mat) records plus a labels CSV.

This is the shape of a small local study (the source paper's 927 pulmonary-embolism ECGs). The CSV
needs a ``record`` column (a record name or a path relative to the folder, without extension) and
either a ``labels`` column (class names separated by ``;``) or one 0/1 column per class. Optional
columns: ``patient`` / ``patient_id`` (folds then keep each patient's records together) and
``fold`` (1-10, to use a split made elsewhere).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path, PurePosixPath

from ..errors import DataSetError
from .base import N_FOLDS, DataSet, RecordRef
from .challenges import assign_folds

_RESERVED = {"record", "labels", "patient", "patient_id", "fold"}


def load_folder(root: str | os.PathLike[str], labels: str | os.PathLike[str] | None = None,
                classes: list[str] | tuple[str, ...] | None = None, folds: str | os.PathLike[str] | None = None,
                seed: int = 0, task: str = "labels") -> DataSet:
    root = Path(root)
    if not root.is_dir():
        raise DataSetError("is not a folder", path=root)
    lab_path = Path(labels) if labels is not None else root / "labels.csv"
    try:
        with open(lab_path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            fields = [f.strip() for f in (reader.fieldnames or [])]
            rows = list(reader)
    except FileNotFoundError:
        raise DataSetError("labels CSV not found", path=lab_path,
                           fix="write record,labels rows (labels separated by ';') or pass --labels FILE") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataSetError(f"not a readable CSV ({exc})", path=lab_path) from None
    if "record" not in fields:
        raise DataSetError("no 'record' column", path=lab_path, where="line 1",
                           fix="the first line must name the columns, one of them 'record'")
    class_columns = [f for f in fields if f not in _RESERVED]
    if "labels" not in fields and not class_columns:
        raise DataSetError("no 'labels' column and no class columns", path=lab_path, where="line 1")
    declared = tuple(classes) if classes else None
    if declared is None and "labels" not in fields:
        declared = tuple(class_columns)

    records: list[RecordRef] = []
    missing: list[str] = []
    unlabelled: list[str] = []
    seen: set[str] = set()
    found_classes: set[str] = set()
    has_fold = "fold" in fields
    pcol = "patient" if "patient" in fields else ("patient_id" if "patient_id" in fields else None)
    root_resolved = root.resolve()
    for lineno, raw in enumerate(rows, start=2):
        row = {(k or "").strip(): (v or "").strip() for k, v in raw.items() if k is not None}
        name = row.get("record", "")
        where = f"line {lineno}"
        if not name:
            raise DataSetError("'record' is empty", path=lab_path, where=where)
        rel = PurePosixPath(name.replace("\\", "/"))
        if rel.is_absolute() or ".." in rel.parts:
            raise DataSetError(f"record {name!r} points outside the data folder", path=lab_path, where=where,
                               fix="use names relative to the folder")
        if name in seen:
            raise DataSetError(f"record {name!r} is listed twice", path=lab_path, where=where)
        seen.add(name)
        if "labels" in fields:
            labels = [x.strip() for x in row.get("labels", "").replace("|", ";").split(";") if x.strip()]
        else:
            labels = []
            for c in class_columns:
                v = row.get(c, "")
                if v not in ("", "0", "1", "0.0", "1.0"):
                    raise DataSetError(f"column {c!r} must be 0 or 1, not {v!r}", path=lab_path, where=where)
                if v in ("1", "1.0"):
                    labels.append(c)
        if declared is not None:
            unknown = [x for x in labels if x not in declared]
            if unknown:
                raise DataSetError(f"unknown class {unknown[0]!r} for record {name!r}", path=lab_path, where=where,
                                   fix="known classes are " + ", ".join(declared))
        if not labels:
            unlabelled.append(name)
            continue
        fold = 0
        if has_fold:
            try:
                fold = int(row["fold"])
            except ValueError:
                raise DataSetError(f"'fold' is not an integer: {row['fold']!r}", path=lab_path, where=where) from None
            if not 1 <= fold <= N_FOLDS:
                raise DataSetError(f"'fold' must be 1-{N_FOLDS}, not {fold}", path=lab_path, where=where)
        path = None
        for ext in (".hea", ".mat"):
            cand = root / (str(rel) + ext)
            try:
                if cand.exists() and cand.resolve().is_relative_to(root_resolved):
                    path = cand
                    break
            except (OSError, ValueError, RuntimeError):
                break  # a name no file system can hold (too long, NUL, symlink loop): not on disk
        if path is None:
            missing.append(name)
            continue
        found_classes.update(labels)
        records.append(RecordRef(name=name, path=str(path), labels=tuple(labels), fold=fold,
                                 patient=row.get(pcol) if pcol else None))
    if rows and not records and missing:
        raise DataSetError(
            f"none of the {len(missing)} records in the labels CSV is in the folder (first: {missing[0]!r})",
            path=lab_path, fix=f"check that record names are relative to {root}",
        )
    cls = declared if declared is not None else tuple(sorted(found_classes))
    for r in records:
        r.labels = tuple(sorted(r.labels, key=cls.index))
    ds = DataSet(name="folder", task=task, root=str(root), classes=cls, records=records,
                 multilabel=any(len(r.labels) > 1 for r in records), missing=missing,
                 unlabelled=unlabelled, fs=None, label_files=[str(lab_path)])
    if has_fold and not folds:
        ds.fold_source = "labels CSV"
        return ds
    return assign_folds(ds, folds, seed)
