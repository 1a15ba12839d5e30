"""The InputContract: everything a model expects of its input and says about its output.

Written once, at training time, into the checkpoint; copied into every exported artefact; read
back by the runtime. Nothing downstream guesses it. Plain JSON, torch-free.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

from .dsp.pipeline import Preprocessing
from .errors import EcgedgeError

CONTRACT_VERSION = 1


@dataclass(frozen=True)
class InputContract:
    classes: tuple[str, ...]
    preprocessing: Preprocessing
    #: How the logits of a record's windows become the record's: "max" or "mean" (of probabilities).
    aggregate: str = "max"
    #: Per-class decision thresholds on probabilities, tuned on the validation fold.
    thresholds: tuple[float, ...] | None = None
    #: True: independent sigmoid per class; False: one softmax over classes.
    multilabel: bool = True
    #: Single-label models: the decided class is the one with the largest probability times its weight (tuned on
    #: the validation folds for the task's score, e.g. the challenge F1 of an imbalanced rhythm task); None:
    #: the most probable class.
    decision_weights: tuple[float, ...] | None = None
    dataset: str = ""
    task: str = ""
    version: int = CONTRACT_VERSION
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.classes:
            raise EcgedgeError("a contract needs at least one class", where="contract.classes")
        if len(set(self.classes)) != len(self.classes):
            raise EcgedgeError("class names must be unique", where="contract.classes")
        if self.aggregate not in ("max", "mean"):
            raise EcgedgeError(f"'aggregate' must be max or mean, not {self.aggregate!r}", where="contract.aggregate")
        if self.preprocessing.window is None:
            raise EcgedgeError("a model's contract needs a window length", where="contract.preprocessing.window")
        if self.thresholds is not None:
            if len(self.thresholds) != len(self.classes):
                raise EcgedgeError(f"{len(self.thresholds)} thresholds for {len(self.classes)} classes",
                                   where="contract.thresholds")
            if not all(math.isfinite(t) and 0.0 <= t <= 1.0 for t in self.thresholds):
                raise EcgedgeError("thresholds must be probabilities in [0, 1]", where="contract.thresholds")

        if self.decision_weights is not None:
            if self.multilabel:
                raise EcgedgeError("decision weights are for single-label (softmax) models; a multi-label model "
                                   "decides by its thresholds", where="contract.decision_weights")
            if len(self.decision_weights) != len(self.classes):
                raise EcgedgeError(f"{len(self.decision_weights)} decision weights for {len(self.classes)} classes",
                                   where="contract.decision_weights")
            if not all(math.isfinite(w) and w > 0 for w in self.decision_weights):
                raise EcgedgeError("decision weights must be positive numbers", where="contract.decision_weights")

    @property
    def fs(self) -> float:
        return self.preprocessing.fs

    @property
    def leads(self) -> tuple[str, ...]:
        return self.preprocessing.leads

    @property
    def window(self) -> int:
        return int(self.preprocessing.window)

    def to_dict(self) -> dict:
        return {
            "version": self.version, "classes": list(self.classes), "preprocessing": self.preprocessing.to_dict(),
            "aggregate": self.aggregate, "thresholds": list(self.thresholds) if self.thresholds else None,
            "multilabel": self.multilabel, "dataset": self.dataset, "task": self.task, "extra": self.extra,
            # only when set: files without them stay readable by runtimes that predate the field
            **({"decision_weights": list(self.decision_weights)} if self.decision_weights else {}),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> InputContract:
        if not isinstance(d, dict):
            raise EcgedgeError("contract is not a JSON object", where="contract")
        version = d.get("version")
        if version != CONTRACT_VERSION:
            raise EcgedgeError(f"contract version {version} is not {CONTRACT_VERSION}", where="contract.version",
                               fix="use the ecgedge version that made this model, or re-export it")
        known = {"version", "classes", "preprocessing", "aggregate", "thresholds", "multilabel", "dataset", "task",
                 "extra", "decision_weights"}
        unknown = set(d) - known
        if unknown:
            raise EcgedgeError(f"unknown contract field(s): {', '.join(sorted(unknown))}", where="contract")
        try:
            return cls(
                classes=tuple(d["classes"]), preprocessing=Preprocessing.from_dict(d["preprocessing"]),
                aggregate=d.get("aggregate", "max"),
                thresholds=tuple(float(t) for t in d["thresholds"]) if d.get("thresholds") else None,
                multilabel=bool(d.get("multilabel", True)), dataset=d.get("dataset", ""), task=d.get("task", ""),
                extra=dict(d.get("extra") or {}),
                decision_weights=(tuple(float(w) for w in d["decision_weights"]) if d.get("decision_weights")
                                  else None),
            )
        except KeyError as exc:
            raise EcgedgeError(f"contract lacks field {exc.args[0]!r}", where="contract") from None
        except (TypeError, ValueError) as exc:
            raise EcgedgeError(f"contract is malformed ({exc})", where="contract") from None

    @classmethod
    def from_json(cls, text: str) -> InputContract:
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as exc:
            raise EcgedgeError(f"contract is not valid JSON ({exc})", where="contract") from None
