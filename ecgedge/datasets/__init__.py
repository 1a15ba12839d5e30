"""Labelled ECG data sets with official or reproducible folds (torch-free)."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import DataSetError
from .base import SPLITS, DataSet, RecordRef, data_root
from .registry import DATASETS, dataset_info

__all__ = ["DATASETS", "SPLITS", "DataSet", "RecordRef", "data_root", "detect_dataset", "load_dataset"]


def load_dataset(name: str, root: str | os.PathLike[str] | None = None, *, task: str | None = None,
                 fs: float | None = None, labels: str | os.PathLike[str] | None = None,
                 classes: list[str] | None = None, folds: str | os.PathLike[str] | None = None,
                 seed: int = 0) -> DataSet:
    """Load a labelled data set by name (``ptbxl``, ``cpsc2018``, ``cinc2021``, ``cinc2020``, ``physionet2017``,
    ``folder``; see :data:`.registry.DATASETS`). ``root`` defaults to the data set's folder under the data root."""
    info = dataset_info(name)
    task = task or info.default_task
    if root is None and info.folder:
        root = info.default_root()
    if task not in info.tasks:
        raise DataSetError(f"unknown {name} task {task!r}", fix="choose one of " + ", ".join(info.tasks))
    if name == "ptbxl":
        from .ptbxl import load_ptbxl

        return load_ptbxl(root, task=task, fs=fs or info.rates[0], folds=folds)
    from . import challenges

    if name == "cpsc2018":
        return challenges.load_cpsc2018(root, task=task, folds=folds, seed=seed)
    if name in ("cinc2021", "cinc2020"):
        return challenges.load_cinc(root, task=task, folds=folds, seed=seed, name=name)
    if name == "physionet2017":
        return challenges.load_physionet2017(root, task=task, folds=folds, seed=seed)
    if root is None:
        raise DataSetError("the 'folder' data set needs a folder", fix="pass the folder holding your records")
    from .folder import load_folder

    return load_folder(root, labels=labels, classes=classes, folds=folds, seed=seed)


def detect_dataset(folder: str | os.PathLike[str]) -> str | None:
    """Guess which data set a folder holds from its label files (None: a plain folder of records)."""
    p = Path(folder)
    if (p / "ptbxl_database.csv").exists():
        return "ptbxl"
    ref = p / "REFERENCE.csv"
    if ref.is_file():  # not .exists(): opening a FIFO of that name would block forever
        with open(ref, encoding="utf-8-sig", errors="replace") as fh:
            first = fh.readline()
        return "cpsc2018" if first.lower().startswith("recording") else "physionet2017"
    if (p / "training2017" / "REFERENCE.csv").exists():
        return "physionet2017"
    if (p / "labels.csv").exists():
        return "folder"
    # Regular files only: a FIFO named *.hea would block open() forever, /dev/zero never ends.
    for hea in [h for h in sorted(p.glob("*.hea")) if h.is_file()][:5]:
        with open(hea, encoding="utf-8", errors="replace") as fh:
            if any(line.lower().startswith("# dx") for line in fh):
                return "cinc2021"
    return None
