"""The data-set model shared by every loader: records, labels, folds, and what is missing."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DataSetError

#: The PTB-XL convention, used for every data set: folds 1-8 train, 9 validation, 10 test.
N_FOLDS = 10
SPLITS = {"train": tuple(range(1, 9)), "val": (9,), "test": (10,)}


def data_root() -> Path:
    """Where the shared real data lives: ``$ECGEDGE_DATA``, else ``../shared/data`` beside the checkout."""
    env = os.environ.get("ECGEDGE_DATA")
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent.parent / "shared" / "data"
        if (parent / "pyproject.toml").exists() and candidate.is_dir():
            return candidate
    return Path.cwd().parent / "shared" / "data"


@dataclass
class RecordRef:
    """One labelled record of a data set."""

    name: str
    path: str
    labels: tuple[str, ...]
    fold: int
    patient: str | None = None
    meta: dict = field(default_factory=dict)


@dataclass
class DataSet:
    """A labelled data set: the records found on disk, their labels and folds, and what is missing."""

    name: str
    task: str
    root: str
    classes: tuple[str, ...]
    records: list[RecordRef]
    multilabel: bool = True
    #: Records listed in the label file but not found on disk.
    missing: list[str] = field(default_factory=list)
    #: Rows dropped because they carry no label for the task.
    unlabelled: list[str] = field(default_factory=list)
    #: "official" (the data set's own folds), "file" (read from a folds CSV) or "stratified".
    fold_source: str = "official"
    fs: float | None = None
    #: Files whose content defines this data set (label files), for the store's manifest.
    label_files: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.records)

    def label_matrix(self) -> np.ndarray:
        """``uint8 [records, classes]`` multi-hot labels (one-hot for single-label tasks)."""
        index = {c: i for i, c in enumerate(self.classes)}
        y = np.zeros((len(self.records), len(self.classes)), np.uint8)
        for r, rec in enumerate(self.records):
            for label in rec.labels:
                y[r, index[label]] = 1
        return y

    def folds(self) -> np.ndarray:
        return np.array([r.fold for r in self.records], np.int16)

    def split(self, which: str) -> list[RecordRef]:
        """Records of ``train`` (folds 1-8), ``val`` (9) or ``test`` (10)."""
        if which not in SPLITS:
            raise DataSetError(f"unknown split {which!r}", fix="use train, val or test")
        keep = set(SPLITS[which])
        return [r for r in self.records if r.fold in keep]

    def class_counts(self) -> dict[str, dict[str, int]]:
        """Records per class in each split (and in total)."""
        y = self.label_matrix()
        folds = self.folds()
        out = {}
        for split, fs in list(SPLITS.items()) + [("total", tuple(range(0, N_FOLDS + 1)))]:
            mask = np.isin(folds, fs)
            out[split] = {c: int(y[mask, i].sum()) for i, c in enumerate(self.classes)}
            out[split]["records"] = int(mask.sum())
        return out

    def missing_summary(self, first: int = 5) -> str | None:
        if not self.missing:
            return None
        shown = ", ".join(self.missing[:first])
        more = f" and {len(self.missing) - first} more" if len(self.missing) > first else ""
        return f"{len(self.missing)} record(s) listed in the labels but not on disk: {shown}{more}"

    def write_folds(self, path: str | os.PathLike[str]) -> None:
        """Write ``record,patient,fold`` so the same split can be reused (``folds=`` on load)."""
        from ..atomic import atomic_write_text

        lines = ["record,patient,fold"]
        lines += [f"{r.name},{r.patient or ''},{r.fold}" for r in self.records]
        atomic_write_text(path, "\n".join(lines) + "\n")


def read_folds_csv(path: str | os.PathLike[str]) -> dict[str, int]:
    """Read a folds file written by :meth:`DataSet.write_folds` (or by hand)."""
    path = os.fspath(path)
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except FileNotFoundError:
        raise DataSetError("folds file not found", path=path) from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataSetError(f"not a readable CSV ({exc})", path=path) from None
    if not rows or "record" not in rows[0] or "fold" not in rows[0]:
        raise DataSetError("needs columns 'record' and 'fold'", path=path, where="line 1")
    folds = {}
    for i, row in enumerate(rows, start=2):
        try:
            fold = int(row["fold"])
        except (TypeError, ValueError):
            raise DataSetError(f"'fold' is not an integer: {row['fold']!r}", path=path,
                               where=f"line {i}") from None
        if not 1 <= fold <= N_FOLDS:
            raise DataSetError(f"'fold' must be 1-{N_FOLDS}, not {fold}", path=path, where=f"line {i}")
        folds[row["record"]] = fold
    return folds
