"""Training input from the prepared store: splits, random crops, evaluation windows.

Everything reads the memory-mapped store; nothing decodes a WFDB file or filters a signal during an
epoch. The store holds each record already through the shared preprocessing path (band-pass,
resampling, normalisation), so a crop here is exactly what inference windows.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..datasets import load_dataset
from ..datasets.registry import files_rate
from ..dsp import Preprocessing
from ..errors import EcgedgeError
from ..store import PreparedStore, prepare
from .recipe import Recipe


def preprocessing_for(r: Recipe) -> Preprocessing:
    p = r.preprocessing
    band = tuple(p.band) if p.band else None
    return Preprocessing(fs=p.fs, leads=tuple(p.leads), band=band, norm=p.norm, window=None).designed()


def cache_dir() -> Path:
    return Path(os.environ.get("ECGEDGE_CACHE") or Path.home() / ".cache" / "ecgedge")


def open_store(r: Recipe, progress=None) -> PreparedStore:
    """Prepare (or reuse) the store this recipe trains on."""
    spec = preprocessing_for(r)
    d = r.data
    ds = load_dataset(d.dataset, d.root or None, task=d.task or None, fs=files_rate(d.dataset, r.preprocessing.fs),
                      labels=d.labels or None, folds=d.folds or None, seed=r.seed)
    if not ds.records:
        raise EcgedgeError(f"data set {d.dataset} has no records on disk", path=ds.root)
    key = hashlib.sha256(json.dumps([d.dataset, ds.task, ds.root, d.labels, d.folds, spec.to_dict()],
                                    sort_keys=True).encode()).hexdigest()[:12]
    out = Path(d.store) if d.store else cache_dir() / "stores" / f"{d.dataset}-{ds.task}-{spec.fs:g}hz-{key}"
    return prepare(ds, out, preprocessing=spec, progress=progress).store


@dataclass
class Split:
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    description: str
    #: the folds of the data set's ``fold`` column that make the validation and test splits
    val_folds: tuple[int, ...] = ()
    test_folds: tuple[int, ...] = ()


def labels(store: PreparedStore, r: Recipe) -> tuple[np.ndarray, tuple[str, ...], bool]:
    """Targets ``[records, classes]`` float32, class names, multilabel flag."""
    y = store.labels.astype(np.float32)
    classes = store.classes
    multilabel = bool(store.manifest.get("multilabel", True))
    if r.data.one_vs_rest:
        if r.data.one_vs_rest not in classes:
            raise EcgedgeError(f"class {r.data.one_vs_rest!r} is not in the data ({', '.join(classes)})",
                               where="data.one_vs_rest")
        j = classes.index(r.data.one_vs_rest)
        return y[:, [j]], (r.data.one_vs_rest,), True
    return y, classes, multilabel


def make_split(store: PreparedStore, r: Recipe, y: np.ndarray) -> Split:
    folds = store.folds.astype(int)
    if r.data.split == "official":
        train = np.flatnonzero((folds >= 1) & (folds <= 8))
        val, test = np.flatnonzero(folds == 9), np.flatnonzero(folds == 10)
        desc = "folds 1-8 train, 9 validation, 10 test"
        val_f, test_f = {9}, {10}
        if len(test) == 0 and len(val):
            # the assembled whole of PTB-XL leaves fold 10 out on purpose: it is scored elsewhere
            desc = "folds 1-8 train, 9 validation; test fold 10 not on disk (held out, scored elsewhere)"
    elif r.data.split == "dev":
        # choosing and reporting on two different folds when the official test fold is held out:
        # every choice on fold 8, fold 9 reported once per choice
        train = np.flatnonzero((folds >= 1) & (folds <= 7))
        val, test = np.flatnonzero(folds == 8), np.flatnonzero(folds == 9)
        desc = "folds 1-7 train, 8 validation, 9 test (development split: fold 10 held out)"
        val_f, test_f = {8}, {9}
    elif r.data.split == "all":
        # the final model of a cross-validated recipe: every record trains, for the epoch count the CV chose;
        # nothing is held out, so the honest estimate is the CV's (its test folds, every record tested once)
        train = np.arange(len(folds))
        val = test = np.zeros(0, dtype=np.int64)
        desc = "every record trains (epoch count chosen by cross-validation; nothing held out)"
        val_f, test_f = set(), set()
    else:
        k = r.data.cv_fold
        if not 0 <= k < 5:
            raise EcgedgeError(f"'data.cv_fold' must be 0-4, not {k}", where="data.cv_fold")
        test_f = {2 * k + 1, 2 * k + 2}
        val_f = {2 * ((k + 1) % 5) + 1, 2 * ((k + 1) % 5) + 2}
        test = np.flatnonzero(np.isin(folds, list(test_f)))
        val = np.flatnonzero(np.isin(folds, list(val_f)))
        train = np.flatnonzero(~np.isin(folds, list(test_f | val_f)))
        desc = f"5-fold CV, fold {k}: test folds {sorted(test_f)}, validation {sorted(val_f)}, train the other six"
    if r.data.train_size and r.data.train_size < len(train):
        rng = np.random.default_rng([r.seed, 7919])
        order = rng.permutation(train)
        keep = list(order[: r.data.train_size])
        # keep at least one positive of every class the full training split has
        for c in range(y.shape[1]):
            if y[train, c].any() and not y[keep, c].any():
                keep.append(int(order[np.flatnonzero(y[order, c])[0]]))
        train = np.sort(np.array(keep))
        desc += f"; training subset of {len(train)} records"
    for name, idx in (("training", train), ("validation", val), ("test", test)):
        if len(idx) == 0 and not (name == "test" and r.data.split == "official") and r.data.split != "all":
            raise EcgedgeError(f"the {name} split is empty", where="data.split",
                               fix="check the folds of this data set (ecgedge data info)")
    return Split(train, val, test, desc, tuple(sorted(val_f)), tuple(sorted(test_f)))


@dataclass
class RecipeData:
    """What a recipe's ``[data]`` names, opened: the prepared store, targets, class names, split."""
    store: PreparedStore
    y: np.ndarray
    classes: tuple[str, ...]
    multilabel: bool
    split: Split


def recipe_data(r: Recipe) -> RecipeData:
    """The store, labels and split a recipe trains and is evaluated on (a trained checkpoint's recipe gives
    its held-out folds): the one place that chains :func:`open_store`, :func:`labels` and :func:`make_split`."""
    store = open_store(r)
    y, classes, multilabel = labels(store, r)
    return RecipeData(store, y, classes, multilabel, make_split(store, r, y))


def heldout_extra(store: PreparedStore, r: Recipe, split: Split) -> dict:
    """The contract's ``extra.heldout``: where this model's held-out records are, so that `ecgedge bench`
    measures it on data no choice saw."""
    return {"dataset": store.manifest["dataset"], "task": store.manifest["task"],
            "validation_folds": list(split.val_folds), "test_folds": list(split.test_folds),
            "train_size": int(r.data.train_size or 0), **({"split": "all"} if r.data.split == "all" else {})}


def crop_batch(store: PreparedStore, idx: np.ndarray, window: int, rng: np.random.Generator) -> np.ndarray:
    """One random window per record (zero-padded when a record is shorter)."""
    L = len(store.leads)
    out = np.zeros((len(idx), L, window), np.float32)
    for k, i in enumerate(idx):
        x = store.signal(int(i))
        T = x.shape[1]
        if T >= window:
            s = int(rng.integers(0, T - window + 1))
            out[k] = x[:, s:s + window]
        else:
            out[k, :, :T] = x
    return out


def aggregate(probs: np.ndarray, owner: np.ndarray, n: int, how: str) -> np.ndarray:
    """Per-record probabilities: the runtime's aggregation, so that training measures what inference does."""
    from ..runtime.post import aggregate as _aggregate

    return _aggregate(probs, owner, n, how)
