"""Checkpoints as safetensors (never pickle): weights plus a JSON header with the InputContract, the
architecture, the recipe, the data store's key and the metrics. Written atomically.

A checkpoint is everything ``export`` and ``infer`` need. The resumable training state (optimizer
moments, RNG states, epoch) lives beside it in ``train_state.safetensors``, the same way.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .. import __version__
from ..contract import InputContract
from ..errors import EcgedgeError

FORMAT = "ecgedge-checkpoint"


def _save(tensors: dict[str, torch.Tensor], meta: dict, path: str | os.PathLike[str]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    # safetensors writes by path: write a sibling temp file, fsync it, then rename it over the target
    tmp = str(path) + f".{os.getpid()}.tmp"
    try:
        save_file(tensors, tmp, metadata={"ecgedge": json.dumps(meta, sort_keys=True, default=str)})
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _load(path: str | os.PathLike[str]) -> tuple[dict[str, torch.Tensor], dict]:
    path = os.fspath(path)
    if not os.path.exists(path):
        raise EcgedgeError("checkpoint not found", path=path)
    try:
        from safetensors import safe_open

        with safe_open(path, framework="pt") as f:
            meta = json.loads((f.metadata() or {}).get("ecgedge", "{}"))
        tensors = load_file(path)
    except (SafetensorError, OSError, ValueError, json.JSONDecodeError) as exc:
        raise EcgedgeError(f"not a readable safetensors checkpoint ({exc})", path=path,
                           fix="ecgedge checkpoints are .safetensors files written by `ecgedge train`") from None
    return tensors, meta


def save_checkpoint(path, model: torch.nn.Module, *, arch: str, arch_kwargs: dict, contract: InputContract,
                    recipe: dict, store_key: str = "", metrics: dict | None = None, epoch: int = -1) -> None:
    meta = {
        "format": FORMAT, "version": 1, "ecgedge_version": __version__, "arch": arch, "arch_kwargs": arch_kwargs,
        "contract": contract.to_dict(), "recipe": recipe, "store_key": store_key, "metrics": metrics or {},
        "epoch": epoch, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "n_parameters": sum(p.numel() for p in model.parameters()),
    }
    _save(dict(model.state_dict()), meta, path)


class Checkpoint:
    """A loaded checkpoint: ``state`` (tensors), ``meta`` (JSON header) and its contract."""

    def __init__(self, path: str, state: dict, meta: dict) -> None:
        self.path, self.state, self.meta = path, state, meta
        if meta.get("format") != FORMAT:
            raise EcgedgeError("not an ecgedge checkpoint (no ecgedge header)", path=path)
        if not isinstance(meta.get("contract"), dict):
            raise EcgedgeError("checkpoint has no input contract", path=path, where="contract",
                               fix="it was not written by `ecgedge train`; retrain, or use a checkpoint from a run")
        if not meta.get("arch"):
            raise EcgedgeError("checkpoint does not name its architecture", path=path, where="arch")
        try:
            self.contract = InputContract.from_dict(meta["contract"])
        except EcgedgeError as exc:
            raise EcgedgeError(f"checkpoint's contract is unusable: {exc}", path=path) from None

    @property
    def arch(self) -> str:
        return self.meta["arch"]

    def build_model(self, **overrides) -> torch.nn.Module:
        from .models import build_model

        kw = dict(self.meta.get("arch_kwargs") or {})
        kw.update(overrides)
        c = self.contract
        model = build_model(self.arch, leads=len(c.leads), classes=len(c.classes), fs=c.fs, window=c.window, **kw)
        missing, unexpected = model.load_state_dict(self.state, strict=False)
        if missing or unexpected:
            raise EcgedgeError(f"weights do not fit {self.arch}: missing {missing[:3]}, unexpected {unexpected[:3]}",
                               path=self.path)
        return model.eval()


def load_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    state, meta = _load(path)
    return Checkpoint(os.fspath(path), state, meta)


def save_train_state(path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, meta: dict,
                     ema: torch.nn.Module | None = None) -> None:
    """Model weights, their moving average (if kept) and optimizer moments as tensors, everything else
    (epoch, history, RNG) in the JSON header — one file, written atomically, so a kill at any moment leaves a
    consistent state."""
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    if ema is not None:
        tensors.update({f"ema.{k}": v for k, v in ema.state_dict().items()})
    opt = optimizer.state_dict()
    layout = {}
    for pid, st in opt["state"].items():
        for name, value in st.items():
            if torch.is_tensor(value):
                tensors[f"opt.{pid}.{name}"] = value
            else:
                layout[f"{pid}.{name}"] = value
    meta = dict(meta)
    meta["optimizer_scalars"] = layout
    meta["param_groups"] = opt["param_groups"]
    meta["torch_rng"] = torch.get_rng_state().tolist()
    _save(tensors, meta, path)


def load_train_state(path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                     ema: torch.nn.Module | None = None) -> dict:
    tensors, meta = _load(path)
    state: dict = {}
    weights, averaged = {}, {}
    for key, value in tensors.items():
        if key.startswith("model."):
            weights[key[6:]] = value
            continue
        if key.startswith("ema."):
            averaged[key[4:]] = value
            continue
        _, pid, name = key.split(".", 2)
        state.setdefault(int(pid), {})[name] = value
    model.load_state_dict(weights)
    if ema is not None:
        if not averaged:
            raise EcgedgeError("the saved training state holds no weight average, but the recipe keeps one",
                               path=os.fspath(path), where="train.ema",
                               fix="resume with the recipe the run started with, or start afresh without --resume")
        ema.load_state_dict(averaged)
    for key, value in meta.get("optimizer_scalars", {}).items():
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    torch.set_rng_state(torch.tensor(meta["torch_rng"], dtype=torch.uint8))
    return meta
