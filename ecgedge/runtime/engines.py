"""Engines: something that turns windows ``[batch, leads, time]`` into logits ``[batch, classes]``.

``ort`` (onnxruntime CPU, the default), ``ort-cuda`` (onnxruntime-gpu), ``tensorrt`` (a serialized engine)
and ``pt2`` (an AOTInductor package; needs torch). ``auto`` picks by file type and what is installed.
Only ``pt2`` imports torch. TensorRT engines and ``.pt2`` packages are code, not data: they load only when
trusted (see :mod:`ecgedge.trust`). Every engine is checked against its contract when it opens.
"""

from __future__ import annotations

import os

import numpy as np

from ..artifact import ArtifactInfo
from ..errors import EcgedgeError

ENGINES = ("auto", "ort", "ort-cuda", "tensorrt", "pt2")


class Engine:
    name = "engine"
    #: largest batch the engine accepts (TensorRT profiles bound it)
    max_batch = 1 << 16

    def run(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class OrtEngine(Engine):
    def __init__(self, path: str, provider: str = "ort", threads: int | None = None) -> None:
        from .ort import session

        self.name = provider
        self.sess = session(path, provider, threads)
        self.input = self.sess.get_inputs()[0].name

    def run(self, x: np.ndarray) -> np.ndarray:
        return self.sess.run(None, {self.input: np.ascontiguousarray(x, np.float32)})[0]


class TensorRTRuntimeEngine(Engine):
    name = "tensorrt"

    def __init__(self, path: str, trust: bool = False) -> None:
        from ..export.tensorrt import TensorRTEngine

        self.impl = TensorRTEngine(path, trust=trust)
        self.max_batch = int(getattr(self.impl, "max_batch", 1 << 16))

    def run(self, x: np.ndarray) -> np.ndarray:
        return self.impl.run(np.ascontiguousarray(x, np.float32))


class PT2RuntimeEngine(Engine):
    name = "pt2"

    def __init__(self, path: str, trust: bool = False) -> None:
        from ..export.pt2 import PT2Engine

        self.impl = PT2Engine(path, trust=trust)

    def run(self, x: np.ndarray) -> np.ndarray:
        return self.impl.run(np.ascontiguousarray(x, np.float32))


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
    if engine not in ENGINES:
        raise EcgedgeError(f"unknown engine {engine!r}", where="--engine", fix="one of " + ", ".join(ENGINES))
    kind = info.kind
    if kind == "checkpoint":
        raise EcgedgeError("is a training checkpoint; inference runs exported models", path=info.path,
                           fix=f"export it first: ecgedge export {info.path} --int8")
    if engine == "auto":
        if kind == "tensorrt":
            engine = "tensorrt"
        elif kind == "pt2":
            engine = "pt2"
        else:
            import onnxruntime as ort

            engine = "ort-cuda" if "CUDAExecutionProvider" in ort.get_available_providers() else "ort"
    wants = {"ort": "onnx", "ort-cuda": "onnx", "tensorrt": "tensorrt", "pt2": "pt2"}[engine]
    if wants != kind:
        raise EcgedgeError(f"engine {engine} runs {wants} files, this is a {kind} file", path=info.path,
                           where="--engine", fix="use --engine auto")
    if engine in ("ort", "ort-cuda"):
        return OrtEngine(info.path, engine, threads)
    if engine == "tensorrt":
        return TensorRTRuntimeEngine(info.path, trust=trust_model)
    return PT2RuntimeEngine(os.fspath(info.path), trust=trust_model)
