"""Real model inputs for export: calibration windows and the validation fold, through the model's own
preprocessing.

By default both come from the data the checkpoint was trained on (its recipe names the data set and
split; the prepared store is reused or rebuilt): calibration windows are random crops of the
*training* split, the accuracy gate runs on the *validation* split with the sliding windows inference
uses. A folder of records can stand in for calibration (``--calib DIR``); each record is conformed
to the contract exactly as ``ecgedge infer`` does.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..contract import InputContract
from ..errors import EcgedgeError
from ..runtime.evalset import EvalSet, from_store


def _same_preprocessing(contract: InputContract, store_prep: dict) -> list[str]:
    p = contract.preprocessing.to_dict()
    diffs = []
    for key, value in store_prep.items():
        if key in ("window", "stride"):
            continue
        if key in p and json.loads(json.dumps(p[key])) != json.loads(json.dumps(value)):
            diffs.append(key)
    return diffs


def training_data(ckpt_meta: dict, contract: InputContract, *, calib_size: int, seed: int = 0,
                  need_val: bool = True, log=print) -> tuple[np.ndarray, EvalSet | None]:
    """Calibration crops from the training split and the validation set of the checkpoint's recipe."""
    from ..training.data import crop_batch, labels, make_split, open_store
    from ..training.recipe import recipe_from_dict

    recipe = recipe_from_dict(ckpt_meta.get("recipe") or {})
    try:
        store = open_store(recipe)
    except EcgedgeError as exc:
        raise EcgedgeError(f"the data this model was trained on is not available here ({exc})",
                           where="calibration",
                           fix="set ECGEDGE_DATA to the data folder, or pass --calib DIR with records") \
            from None
    diffs = _same_preprocessing(contract, store.manifest.get("preprocessing", {}))
    if diffs:
        raise EcgedgeError(f"the prepared data differs from the model's contract in {', '.join(diffs)}",
                           where="calibration", fix="calibrate on data prepared with the model's preprocessing")
    if list(store.leads) != [str(x) for x in contract.leads] and not recipe.data.one_vs_rest:
        raise EcgedgeError(f"the prepared data has leads {', '.join(store.leads)}, the model "
                           f"{', '.join(contract.leads)}", where="calibration")
    y, classes, _ = labels(store, recipe)
    if tuple(classes) != tuple(contract.classes):
        raise EcgedgeError(f"the data's classes ({', '.join(classes)}) are not the model's "
                           f"({', '.join(contract.classes)})", where="calibration")
    split = make_split(store, recipe, y)
    rng = np.random.default_rng([seed, 4243])
    pick = rng.choice(split.train, size=calib_size, replace=len(split.train) < calib_size)
    calib = crop_batch(store, np.sort(pick), contract.window, rng)
    log(f"calibration: {len(calib)} random windows from the training split ({split.description})")
    val = None
    if need_val:
        task = store.manifest.get("task")
        idx, what = split.val, "validation split"
        if not len(idx):
            # data.split = "all": nothing is held out, so the gate compares INT8 with FP32 on records the model
            # trained on (folds 1 and 2): agreement, not an accuracy estimate
            idx = np.flatnonzero(np.isin(store.folds.astype(int), [1, 2]))
            what = "records it trained on (folds 1+2: nothing is held out; the gate measures INT8 against FP32)"
        val = from_store(store, idx, y[idx], contract.preprocessing,
                         f"{what} of {recipe.data.dataset}{'/' + task if task else ''}")
        val.description += f": {len(idx)} records, {len(val.x)} windows"
    return calib, val


def folder_windows(path: str | os.PathLike[str], contract: InputContract, *, calib_size: int, seed: int = 0,
                   log=print) -> np.ndarray:
    """Calibration windows from a folder of records, conformed to the contract as inference does."""
    from ..dsp import Preprocessor
    from ..io import read_record
    from ..runtime.predictor import conform, expand_paths

    root = Path(path)
    if not root.exists():
        raise EcgedgeError("calibration folder not found", path=root)
    files = list(expand_paths([str(root)]))
    if not files:
        raise EcgedgeError("no records (.hea/.mat) to calibrate on", path=root)
    prep = Preprocessor(contract.preprocessing)
    parts, problems = [], []
    for f in files:
        try:
            parts.append(prep(conform(read_record(f), contract)[0]).x)
        except EcgedgeError as exc:
            problems.append(str(exc))
    if not parts:
        raise EcgedgeError(f"none of {len(files)} records fits the model's contract; first problem: {problems[0]}",
                           path=root, where="calibration")
    if problems:
        log(f"calibration: skipped {len(problems)} record(s) that do not fit the contract, e.g. {problems[0]}")
    x = np.concatenate(parts)
    rng = np.random.default_rng([seed, 4243])
    if len(x) > calib_size:
        x = x[np.sort(rng.choice(len(x), calib_size, replace=False))]
    log(f"calibration: {len(x)} windows from {len(parts)} record(s) in {root}")
    return np.ascontiguousarray(x, np.float32)
