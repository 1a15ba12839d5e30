"""Ensembles of trained checkpoints: one checkpoint, one graph, logits averaged.

``ecgedge ensemble RUN_OR_CKPT... --out DIR`` checks that the members share everything the runtime and the
evaluation depend on (classes, preprocessing, window and stride, aggregation, data set, task and split), builds
the ``ensemble`` architecture from their weights, tunes thresholds on the validation fold, evaluates the test
fold once, and writes ``DIR/model.safetensors`` and ``DIR/metrics.json`` like a training run does; ``ecgedge
export`` and ``ecgedge infer`` take it unchanged. Which members to use is a choice: make it on validation
numbers (``metrics.json`` of each run), never on the test fold's.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from ..atomic import atomic_write_text
from ..contract import InputContract
from ..errors import EcgedgeError
from ..metrics import evaluate, tune_thresholds
from .checkpoint import load_checkpoint, save_checkpoint
from .data import recipe_data
from .loop import _json, predict, test_line, test_report
from .models import build_model
from .recipe import recipe_from_dict

#: what every member must share: the runtime feeds all of them the same windows and thresholds one output
_SAME_CONTRACT = ("classes", "aggregate", "multilabel", "dataset", "task")


def _checkpoint_path(p: str | os.PathLike[str]) -> Path:
    p = Path(p)
    if p.is_dir():
        p = p / "model.safetensors"
    if not p.exists():
        raise EcgedgeError("no checkpoint here", path=str(p), fix="give a run folder of `ecgedge train` or its "
                                                                  "model.safetensors")
    return p


def build_ensemble(members: list[str | os.PathLike[str]], out: str | os.PathLike[str], *, name: str = "",
                   bootstrap: int = 1000, threads: int = 0, log=print) -> dict:
    """Average ``members`` (run folders or checkpoints) into ``out/model.safetensors``; returns the report."""
    if len(members) < 2:
        raise EcgedgeError(f"an ensemble needs at least 2 members, got {len(members)}", where="members")
    out = Path(out)
    if (out / "model.safetensors").exists():
        raise EcgedgeError("a checkpoint is already there; nothing was overwritten",
                           path=str(out / "model.safetensors"), fix="choose another --out or remove it")
    if threads:
        torch.set_num_threads(threads)
    cks = [load_checkpoint(_checkpoint_path(m)) for m in members]
    first = cks[0]
    c0, p0 = first.contract, first.contract.preprocessing.to_dict()
    for ck in cks:
        if ck.arch == "ensemble":
            raise EcgedgeError("an ensemble cannot be a member of another", path=ck.path,
                               fix="list the ensemble's own members instead")
    for ck in cks[1:]:
        c = ck.contract
        for field in _SAME_CONTRACT:
            if getattr(c, field) != getattr(c0, field):
                raise EcgedgeError(f"members disagree on {field}: {getattr(c, field)!r} here, "
                                   f"{getattr(c0, field)!r} in {first.path}", path=ck.path, where=f"contract.{field}",
                                   fix="ensemble checkpoints trained on the same task")
        p = c.preprocessing.to_dict()
        diff = sorted(k for k in set(p) | set(p0) if p.get(k) != p0.get(k))
        if diff:
            k = diff[0]
            raise EcgedgeError(f"members preprocess differently: {k} is {p.get(k)!r} here, {p0.get(k)!r} in "
                               f"{first.path}" + (f" (and {len(diff) - 1} more)" if len(diff) > 1 else ""),
                               path=ck.path, where=f"preprocessing.{k}",
                               fix="ensemble members must share the input contract: retrain with the same "
                                   "[preprocessing]")
        if ck.meta["recipe"].get("data") != first.meta["recipe"].get("data"):
            raise EcgedgeError("members were trained on different data or splits", path=ck.path, where="recipe.data",
                               fix="ensemble runs of recipes with the same [data] section")
        if ck.meta.get("store_key") != first.meta.get("store_key"):
            raise EcgedgeError("members were trained on different prepared stores", path=ck.path, where="store_key")

    spec = [{"arch": ck.arch, "kwargs": dict(ck.meta.get("arch_kwargs") or {})} for ck in cks]
    model = build_model("ensemble", leads=len(c0.leads), classes=len(c0.classes), fs=c0.fs, window=c0.window,
                        members=spec)
    state = {f"members.{i}.{k}": v for i, ck in enumerate(cks) for k, v in ck.state.items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise EcgedgeError(f"member weights do not fit their architectures: missing {missing[:3]}, "
                           f"unexpected {unexpected[:3]}")
    model.eval()

    rd = dict(first.meta["recipe"])
    r = recipe_from_dict(rd)
    d = recipe_data(r)
    store, y, classes, split = d.store, d.y, d.classes, d.split
    if store.manifest.get("key") != first.meta.get("store_key"):
        log("warning: the prepared store differs from the one the members were trained on (its key changed)")
    dev = torch.device("cpu")
    log(f"ensemble of {len(cks)}: {', '.join(s['arch'] for s in spec)}; {split.description}: "
        f"{len(split.train)}/{len(split.val)}/{len(split.test)}")
    member_val = []
    for ck, m in zip(cks, model.members):
        v = (ck.meta.get("metrics") or {}).get("val_macro_auroc")  # what its training run measured
        if v is None:
            pv = predict(m, store, split.val, c0, dev)
            v = evaluate(y[split.val], pv, classes, bootstrap=0)["macro_auroc"]
        member_val.append(float(v))
        log(f"  {ck.arch} ({ck.path}): validation macro AUROC {member_val[-1]:.4f}")
    pv = predict(model, store, split.val, c0, dev)
    thresholds = tune_thresholds(y[split.val], pv, method="f1")
    report = {
        "recipe": name or f"ensemble-{'-'.join(s['arch'] for s in spec)}", "split": split.description,
        "members": [{"checkpoint": ck.path, "arch": ck.arch, "recipe": ck.meta["recipe"].get("name"),
                     "seed": ck.meta["recipe"].get("seed"),
                     "validation_macro_auroc": v} for ck, v in zip(cks, member_val)],
        "validation": evaluate(y[split.val], pv, classes, thresholds=thresholds, bootstrap=0),
        "test": test_report(model, store, split, y, classes, thresholds, bootstrap, 0, c0, dev),
        "n_parameters": sum(p.numel() for p in model.parameters()),
    }
    rd["name"] = report["recipe"]
    rd["description"] = "logit average of " + ", ".join(
        f"{m['recipe']} ({m['arch']}, seed {m['seed']})" for m in report["members"])
    rd["model"] = {"arch": "ensemble", "kwargs": {"members": spec}}
    contract = InputContract(**{**c0.__dict__, "thresholds": tuple(float(t) for t in thresholds)})
    out.mkdir(parents=True, exist_ok=True)
    save_checkpoint(out / "model.safetensors", model, arch="ensemble", arch_kwargs={"members": spec},
                    contract=contract, recipe=rd, store_key=first.meta.get("store_key", ""),
                    metrics={"val_macro_auroc": report["validation"]["macro_auroc"],
                             "test_macro_auroc": report["test"]["macro_auroc"],
                             "test_macro_auroc_ci": report["test"].get("macro_auroc_ci"),
                             "members": report["members"]})
    atomic_write_text(out / "metrics.json", json.dumps(report, indent=1, default=_json))
    log(f"validation macro AUROC {report['validation']['macro_auroc']:.4f} (members "
        f"{', '.join(f'{v:.4f}' for v in member_val)}); " + test_line(report["test"], len(split.test))
        + f"; checkpoint {out / 'model.safetensors'}")
    return report
