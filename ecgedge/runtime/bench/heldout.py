"""The records ``ecgedge bench`` measures accuracy on, preprocessed once per contract by the runtime's own path."""

from __future__ import annotations

from pathlib import Path

from ...errors import EcgedgeError
from ..evalset import EvalSet, from_records


def heldout_records(contract, *, data: str | None = None, labels: str | None = None,
                    folds: tuple[int, ...] | None = None, max_records: int = 0):
    """(description, [(name, path, labels)]) for this contract's held-out records: those its contract names
    (``extra.heldout``: data set, task, test folds), fold 10 of its data set otherwise; ``data`` (a data set or a
    folder, with ``labels``), ``folds`` and ``max_records`` override."""
    from ...datasets import DATASETS, load_dataset
    from ...datasets.registry import labelled

    held = (contract.extra or {}).get("heldout") or {}
    name = data or held.get("dataset") or contract.dataset
    if not name:
        raise EcgedgeError("the model does not say which data set it was trained on", where="contract.dataset",
                           fix="give --data DATASET or --data FOLDER --labels CSV, or --no-accuracy")
    known = [d for d in labelled() if d != "folder"]
    if name in known:
        task = held.get("task") if held.get("dataset") == name else None
        if task is None and contract.task in DATASETS[name].tasks:
            task = contract.task
        ds = load_dataset(name, task=task, fs=DATASETS[name].files_rate(contract.fs))
    else:
        if not Path(name).is_dir():
            raise EcgedgeError(f"--data {name!r} is neither a known data set nor a folder", where="--data",
                               fix="one of " + ", ".join(known) + ", or a folder")
        ds = load_dataset("folder", name, labels=labels)
    if held.get("split") == "all" and not folds:
        raise EcgedgeError(f"the model trained on every record of {ds.name}: nothing of it is held out",
                           where="contract.extra.heldout",
                           fix="its card gives the cross-validated estimate; --folds N measures records it trained "
                               "on (a reproduction check, not an accuracy estimate); --data FOLDER --labels CSV "
                               "measures your own records")
    folds = folds or tuple(held.get("test_folds") or ()) or (10,)
    recs = [r for r in ds.records if r.fold in set(folds)]
    if not recs:
        raise EcgedgeError(f"no records of {ds.name} in fold(s) {', '.join(map(str, folds))}", where="--folds",
                           fix="choose folds that exist (ecgedge data info DATASET)")
    if max_records and len(recs) > max_records:
        recs = recs[: max_records]
    desc = f"{ds.name}/{ds.task} fold(s) {'+'.join(map(str, folds))}: {len(recs)} records"
    return desc, [(r.name, r.path, set(r.labels)) for r in recs]


def heldout_set(contract, *, data: str | None = None, labels: str | None = None,
                folds: tuple[int, ...] | None = None, max_records: int = 0, workers: int = 0) -> EvalSet:
    """The held-out windows, cut by the runtime's own preprocessing (as `ecgedge infer` does)."""
    desc, recs = heldout_records(contract, data=data, labels=labels, folds=folds, max_records=max_records)
    return from_records(recs, contract, desc, workers)
