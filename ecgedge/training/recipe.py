"""Training recipes: one small TOML file per experiment, validated, with ``--set key=value`` overrides.

Unknown sections or keys are errors that list the valid ones, so a typo never silently falls back
to a default.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import EcgedgeError

AUGMENTATIONS = ("sign_flip", "sample_drop", "lead_drop", "sine", "square", "scale", "shift", "wander",
                 "powerline", "noise")
PAPER_AUGMENTATIONS = ("sign_flip", "sample_drop", "lead_drop", "sine", "square")


@dataclass
class DataCfg:
    dataset: str = "ptbxl"
    task: str = ""
    root: str = ""
    labels: str = ""
    folds: str = ""
    #: Records of the training folds to keep (0 = all): learning curves over training-set size.
    train_size: int = 0
    #: "official" folds (1-8 train, 9 validation, 10 test; the test fold may be absent), "dev" (1-7 train,
    #: 8 validation, 9 test: for choosing while fold 10 is held out), or "cv5": 5-fold cross-validation
    #: over folds 1-10 (see `cv_fold`), or "all": every record trains for `train.epochs` and the last epoch is
    #: kept (the final model of a recipe whose epoch count cross-validation chose; nothing is held out).
    split: str = "official"
    cv_fold: int = 0
    #: Binary target: one class against the rest (e.g. "A" for AF vs rest on PhysioNet 2017).
    one_vs_rest: str = ""
    store: str = ""


@dataclass
class PrepCfg:
    fs: float = 100.0
    leads: list[str] = field(default_factory=lambda: ["I", "II", "III", "aVR", "aVL", "aVF",
                                                       "V1", "V2", "V3", "V4", "V5", "V6"])
    band: list[float] = field(default_factory=lambda: [0.5, 40.0])
    norm: str = "zscore"
    window: float = 2.5  # seconds
    stride: float = 1.25  # seconds, for evaluation windows
    aggregate: str = "max"


@dataclass
class ModelCfg:
    arch: str = "resnet1d18"
    kwargs: dict = field(default_factory=dict)


@dataclass
class TrainCfg:
    epochs: int = 20
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-2
    schedule: str = "onecycle"  # onecycle | cosine
    warmup: float = 0.1
    loss: str = "bce"  # bce | focal | ce
    pos_weight: bool = False
    focal_alpha: float = 0.7
    focal_gamma: float = 2.0
    augment: list[str] = field(default_factory=lambda: list(PAPER_AUGMENTATIONS) + ["scale", "noise"])
    augment_p: float = 0.5
    grad_clip: float = 1.0
    device: str = "auto"
    threads: int = 0
    bootstrap: int = 1000
    #: Stop after this many epochs without a better validation macro AUROC (0: never).
    patience: int = 0
    #: An epoch draws at least this many training windows (records repeat, each pass in a new order), so
    #: that a small training set still gets enough optimizer steps (0: one pass over the records).
    min_samples_per_epoch: int = 0
    #: Validate, select and ship an exponential moving average of the weights (and BatchNorm statistics)
    #: with this decay per optimizer step, e.g. 0.995 (0: off, the raw weights).
    ema: float = 0.0
    #: Single-label models trained with nothing held out (data.split = "all"): the decision weights per class
    #: (see InputContract.decision_weights), e.g. those the recipe's cross-validation chose; with a validation
    #: split they are tuned there instead.
    decision_weights: list[float] = field(default_factory=list)


@dataclass
class TransferCfg:
    init: str = ""
    mode: str = "finetune"  # finetune | linear | gradual
    discriminative_lr: float = 1.0  # lr of group g = lr * factor ** (groups - 1 - g)
    lead_adapt: str = "mean"  # how a pretrained first layer meets a different lead count
    #: "reset": a new head for the target's classes; "keep": the checkpoint's own head (same classes, same
    #: order) -- a second training cycle of a model on its own task (a warm restart)
    head: str = "reset"


@dataclass
class DistillCfg:
    #: teacher checkpoints (model.safetensors of finished runs on the same task); their mean probability is the
    #: soft target. Empty: no distillation.
    teacher: list[str] = field(default_factory=list)
    alpha: float = 0.5  # weight of the teachers' soft targets; 1 - alpha on the labels
    temperature: float = 1.0


@dataclass
class Recipe:
    name: str = "experiment"
    seed: int = 0
    description: str = ""
    data: DataCfg = field(default_factory=DataCfg)
    preprocessing: PrepCfg = field(default_factory=PrepCfg)
    model: ModelCfg = field(default_factory=ModelCfg)
    train: TrainCfg = field(default_factory=TrainCfg)
    transfer: TransferCfg = field(default_factory=TransferCfg)
    distill: DistillCfg = field(default_factory=DistillCfg)
    path: str = ""

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d.pop("path", None)
        return d

    def validate(self) -> Recipe:
        t = self.train
        checks = [
            (t.loss in ("bce", "focal", "ce"), "train.loss", f"{t.loss!r} is not bce, focal or ce"),
            (t.schedule in ("onecycle", "cosine"), "train.schedule", f"{t.schedule!r} is not onecycle or cosine"),
            (t.epochs >= 1, "train.epochs", "must be at least 1"),
            (t.batch_size >= 1, "train.batch_size", "must be at least 1"),
            (t.min_samples_per_epoch >= 0, "train.min_samples_per_epoch", "must be 0 or more"),
            (t.lr > 0, "train.lr", "must be positive"),
            (0.0 <= t.ema < 1.0, "train.ema", "must be in [0, 1): the EMA decay per step, e.g. 0.995 (0: off)"),
            (self.transfer.head in ("reset", "keep"), "transfer.head",
             f"{self.transfer.head!r} is not reset or keep"),
            (self.transfer.mode in ("finetune", "linear", "gradual"), "transfer.mode",
             f"{self.transfer.mode!r} is not finetune, linear or gradual"),
            (self.preprocessing.aggregate in ("max", "mean"), "preprocessing.aggregate", "is not max or mean"),
            (self.preprocessing.window > 0, "preprocessing.window", "must be positive (seconds)"),
            (0.0 <= self.distill.alpha <= 1.0, "distill.alpha", "must be in [0, 1] (the teachers' share of the loss)"),
            (self.distill.temperature > 0, "distill.temperature", "must be positive"),
            (self.data.split in ("official", "dev", "cv5", "all"), "data.split",
             f"{self.data.split!r} is not official, dev, cv5 or all"),
        ]
        for ok, where, msg in checks:
            if not ok:
                raise EcgedgeError(f"'{where}' {msg}", path=self.path or None, where=where)
        bad = [a for a in t.augment if a not in AUGMENTATIONS]
        if bad:
            raise EcgedgeError(f"unknown augmentation {bad[0]!r}", path=self.path or None, where="train.augment",
                               fix="valid: " + ", ".join(AUGMENTATIONS))
        return self


SECTIONS = {"data": DataCfg, "preprocessing": PrepCfg, "model": ModelCfg, "train": TrainCfg,
            "transfer": TransferCfg, "distill": DistillCfg}
TOP = {"name", "seed", "description"}


def _fill(cls, values: dict, where: str, path: str):
    fields = {f.name: f for f in dataclasses.fields(cls)}
    obj = cls()
    for key, value in values.items():
        if key not in fields:
            raise EcgedgeError(f"unknown key {where}.{key}", path=path or None, where=where,
                               fix="valid keys: " + ", ".join(fields))
        setattr(obj, key, _coerce(value, getattr(obj, key), f"{where}.{key}", path))
    return obj


def _coerce(value: Any, default: Any, where: str, path: str) -> Any:
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
            return value.lower() in ("true", "1")
        raise EcgedgeError(f"'{where}' must be true or false, not {value!r}", path=path or None, where=where)
    if isinstance(default, int) and not isinstance(default, bool):
        try:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(value)
        except (TypeError, ValueError):
            raise EcgedgeError(f"'{where}' must be an integer, not {value!r}", path=path or None, where=where) from None
    if isinstance(default, float):
        try:
            return float(value)
        except (TypeError, ValueError):
            raise EcgedgeError(f"'{where}' must be a number, not {value!r}", path=path or None, where=where) from None
    if isinstance(default, list):
        if isinstance(value, str):
            value = json.loads(value) if value.startswith("[") else [v for v in value.split(",") if v]
        if not isinstance(value, list):
            raise EcgedgeError(f"'{where}' must be a list", path=path or None, where=where)
        return value
    if isinstance(default, dict):
        if isinstance(value, str):
            value = json.loads(value)
        if not isinstance(value, dict):
            raise EcgedgeError(f"'{where}' must be a table", path=path or None, where=where)
        return value
    return str(value)


def recipe_from_dict(d: dict, path: str = "") -> Recipe:
    r = Recipe(path=path)
    for key, value in d.items():
        if key in TOP:
            setattr(r, key, _coerce(value, getattr(r, key), key, path))
        elif key in SECTIONS:
            if not isinstance(value, dict):
                raise EcgedgeError(f"[{key}] must be a table", path=path or None, where=key)
            setattr(r, key, _fill(SECTIONS[key], value, key, path))
        else:
            raise EcgedgeError(f"unknown section or key {key!r}", path=path or None, where=key,
                               fix="valid: " + ", ".join(sorted(TOP | set(SECTIONS))))
    return r


def load_recipe(path: str | os.PathLike[str], overrides: list[str] | None = None,
                values: dict[str, Any] | None = None) -> Recipe:
    """Read a recipe file and apply ``key=value`` overrides (dotted keys, e.g. ``train.epochs=3``; the value read
    as TOML, else as text), then ``values`` (dotted keys to values as they are, e.g. a path from ``--init``)."""
    path = os.fspath(path)
    p = Path(path)
    if not p.exists():
        from ..builtin import builtin_names, find_builtin

        # a built-in name, as `train/NAME.toml` or just `NAME`, from the package (or the source checkout)
        alt = find_builtin("train", p.name if p.parent.name in ("train", "") else "")
        if alt is None:
            names = builtin_names("train")
            raise EcgedgeError("recipe not found", path=path,
                               fix="give a .toml file or a built-in name: " + (", ".join(names) or "(none installed)"))
        p = alt
    try:
        d = tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise EcgedgeError(f"not valid TOML ({exc})", path=str(p)) from None
    for item in overrides or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise EcgedgeError(f"--set needs key=value, not {item!r}", where="--set")
        _set(d, key.strip(), _parse_value(value.strip()))
    for key, value in (values or {}).items():
        _set(d, key, value)
    return recipe_from_dict(d, str(p)).validate()


def _set(d: dict, key: str, value: Any) -> None:
    """``d[a][b] = value`` for the dotted ``key`` ``a.b``."""
    parts = key.split(".")
    target = d
    for part in parts[:-1]:
        target = target.setdefault(part, {})
        if not isinstance(target, dict):
            raise EcgedgeError(f"--set {key}: {part} is not a section", where="--set")
    target[parts[-1]] = value


def _parse_value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text
