"""Engines: something that turns windows ``[batch, leads, time]`` into logits ``[batch, classes]``.

``ort`` (onnxruntime CPU, the default), ``ort-cuda`` (onnxruntime-gpu), ``tensorrt`` (a serialized engine,
:mod:`.trt`) and ``pt2`` (an AOTInductor package, :mod:`.pt2`; needs torch). ``auto`` picks by file kind and
what is installed; :mod:`ecgedge.kinds` says which engine runs which kind. Only ``pt2`` imports torch.
TensorRT engines and ``.pt2`` packages are code, not data: they load only when trusted (see
:mod:`ecgedge.trust`). Every engine is checked against its contract when it opens.
"""

from __future__ import annotations

import os

import numpy as np

from ..artifact import ArtifactInfo
from ..errors import EcgedgeError
from ..kinds import RUNS, auto_engine, check_engine_name


class Engine:
    name = "engine"
    #: largest batch the engine accepts (TensorRT profiles bound it)
    max_batch = 1 << 16

    def run(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class OrtEngine(Engine):
    """onnxruntime on ``provider``; its idle threads sleep instead of spinning (``spin``; see
    :func:`~ecgedge.runtime.ort.session`), as the runtime's decode workers need the same cores."""

    def __init__(self, path: str, provider: str = "ort", threads: int | None = None, spin: bool = False) -> None:
        from .ort import session

        self.name = provider
        self.sess = session(path, provider, threads, spin=spin)
        self.input = self.sess.get_inputs()[0].name

    def run(self, x: np.ndarray) -> np.ndarray:
        return self.sess.run(None, {self.input: np.ascontiguousarray(x, np.float32)})[0]


def open_model(model: str | os.PathLike[str] | None, engine: str = "auto", threads: int | None = None, *,
               trust_model: bool = False) -> tuple[ArtifactInfo, Engine]:
    """A model file (or a shipped model's name; None: the default) -> its contract and a ready engine.

    ``trust_model``: load a ``.pt2`` package or TensorRT engine (files that can run code) even if this machine's
    export did not write it (see :mod:`ecgedge.trust`); ONNX models are data and need no trust."""
    from ..artifact import read_info
    from ..zoo import resolve

    info = read_info(resolve(None if model is None else os.fspath(model)))
    return info, open_engine(info, engine, threads, trust_model=trust_model)


def check_engine(info: ArtifactInfo, eng: Engine) -> None:
    """One window of the contract's shape through the engine: its output must be ``[1, classes]``. This is what
    catches a contract that disagrees with dimensions the graph leaves symbolic, before any record is read."""
    c = info.contract
    x = np.zeros((1, len(c.leads), c.window), np.float32)
    try:
        y = np.asarray(eng.run(x))
    except EcgedgeError as exc:
        raise EcgedgeError(f"the model cannot run on the input its own contract describes ({exc})", path=info.path,
                           fix="the contract was edited or the file is damaged: export the model again") from None
    except Exception as exc:  # noqa: BLE001 - onnxruntime/TensorRT/torch raise their own types
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise EcgedgeError(f"the model cannot run on the input its own contract describes "
                           f"(1 x {len(c.leads)} leads x {c.window} samples: {first})", path=info.path,
                           fix="the contract was edited or the file is damaged: export the model again") from None
    if y.shape != (1, len(c.classes)):
        raise EcgedgeError(f"its contract disagrees with its graph: it names {len(c.classes)} class(es); the graph "
                           f"outputs shape {list(y.shape)[1:]} per window", path=info.path, where="contract.classes",
                           fix="the contract was edited or the file is damaged: export the model again")


def open_engine(info: ArtifactInfo, engine: str = "auto", threads: int | None = None, *,
                trust_model: bool = False) -> Engine:
    """A ready engine for ``info``'s file, checked against its contract (see :func:`open_model`)."""
    eng = _open_engine(info, engine, threads, trust_model)
    check_engine(info, eng)
    return eng


def _open_engine(info: ArtifactInfo, engine: str, threads: int | None, trust_model: bool) -> Engine:
    check_engine_name(engine)
    kind = info.kind
    if kind == "checkpoint":
        raise EcgedgeError("is a training checkpoint; inference runs exported models", path=info.path,
                           fix=f"export it first: ecgedge export {info.path} --int8")
    if engine == "auto":
        engine = auto_engine(kind)
    if RUNS[engine] != kind:
        raise EcgedgeError(f"engine {engine} runs {RUNS[engine]} files, this is a {kind} file", path=info.path,
                           where="--engine", fix="use --engine auto")
    if kind == "onnx":
        return OrtEngine(info.path, engine, threads)
    if kind == "tensorrt":
        from .trt import TensorRTEngine

        return TensorRTEngine(info.path, trust=trust_model)
    from .pt2 import PT2Engine

    return PT2Engine(os.fspath(info.path), trust=trust_model)
