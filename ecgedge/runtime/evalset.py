"""What accuracy is measured on: labelled records cut into the windows a model sees, as inference cuts them.

One type for every place that measures a model: training's validation and test folds and export's accuracy
gate (:func:`from_store`, windows of prepared-store records), ``ecgedge bench``'s held-out records
(:func:`from_records`, record files through the runtime's own preprocessing). Either way the windows follow the
contract's preprocessing (window, stride, tail, padding) and the windows' probabilities are aggregated per
record as the contract says.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from ..errors import EcgedgeError
from .post import aggregate, probabilities


@dataclass
class EvalSet:
    x: np.ndarray | None  # float32 [windows, leads, window]; None once handed to a worker as a file
    owner: np.ndarray  # [windows]: the record (row of y) each window belongs to
    y: np.ndarray  # [records, classes] targets
    description: str = ""
    names: list[str] = field(default_factory=list)  # the records' names, where known
    failed: list[str] = field(default_factory=list)  # records that could not be processed, each with why

    @property
    def records(self) -> int:
        return int(self.y.shape[0])

    def per_record(self, logits: np.ndarray, contract) -> np.ndarray:
        """Per-record probabilities ``[records, classes]`` from the windows' logits, as the runtime aggregates."""
        return aggregate(probabilities(logits, contract.multilabel), self.owner, self.records, contract.aggregate)


def store_windows(store, idx: np.ndarray, preprocessing) -> tuple[np.ndarray, np.ndarray]:
    """Sliding windows of the prepared store's records ``idx`` as inference cuts them: ``preprocessing``'s (the
    contract's) window, stride, tail cover and padding of short records. Returns windows ``[n, leads, window]``
    and the position in ``idx`` each belongs to."""
    from ..dsp import reference as R

    p = preprocessing
    parts, owner = [], []
    for k, i in enumerate(idx):
        w = R.windows(np.asarray(store.signal(int(i)), np.float64), p.window, p.stride or p.window, p.cover_tail,
                      p.pad)
        parts.append(w)
        owner.append(np.full(len(w), k))
    return np.concatenate(parts), np.concatenate(owner)


def from_store(store, idx: np.ndarray, y: np.ndarray, preprocessing, description: str = "") -> EvalSet:
    """The store's records ``idx`` (targets ``y``, one row each) as an evaluation set."""
    x, owner = store_windows(store, idx, preprocessing)
    return EvalSet(x.astype(np.float32, copy=False), owner, y, description,
                   [str(store.names[int(i)]) for i in idx])


def from_records(records: list[tuple[str, str, set]], contract, description: str = "", workers: int = 0) -> EvalSet:
    """Record files ``(name, path, labels)`` read, conformed and preprocessed by the runtime's own path (what
    ``ecgedge infer`` does), on ``workers`` threads. Records that fail are listed in ``failed``, not fatal
    unless all fail."""
    from ..dsp import Preprocessor
    from .predictor import prepare_record

    pre = Preprocessor(contract.preprocessing)
    with ThreadPoolExecutor(workers or max(1, min(4, os.cpu_count() or 1))) as ex:
        prepared = list(ex.map(lambda r: prepare_record(r[1], contract, pre), records))
    names, ys, parts, owner, failed = [], [], [], [], []
    for (name, _, labels), (pred, x) in zip(records, prepared):
        if x is None:
            failed.append(f"{name}: {pred.error}")
            continue
        owner.append(np.full(len(x), len(names)))
        names.append(name)
        ys.append([1 if c in labels else 0 for c in contract.classes])
        parts.append(np.asarray(x, np.float32))
    if not names:
        raise EcgedgeError(f"none of the held-out records could be processed ({failed[0] if failed else ''})")
    if failed:
        description += f" ({len(failed)} could not be processed)"
    return EvalSet(np.concatenate(parts), np.concatenate(owner), np.asarray(ys, np.uint8), description, names,
                   failed)
