"""Engines: something that turns windows ``[batch, leads, time]`` into logits ``[batch, classes]``.

``ort`` (onnxruntime CPU, the default), ``ort-cuda`` (onnxruntime-gpu), ``tensorrt`` (a serialized engine)
and ``pt2`` (an AOTInductor package; needs torch). ``auto`` picks by file type and what is installed.
Only ``pt2`` imports torch.
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

    def __init__(self, path: str) -> None:
        from ..export.tensorrt import TensorRTEngine

        self.impl = TensorRTEngine(path)
        self.max_batch = int(getattr(self.impl, "max_batch", 1 << 16))

    def run(self, x: np.ndarray) -> np.ndarray:
        return self.impl.run(np.ascontiguousarray(x, np.float32))


class PT2RuntimeEngine(Engine):
    name = "pt2"

    def __init__(self, path: str) -> None:
        from ..export.pt2 import PT2Engine

        self.impl = PT2Engine(path)

    def run(self, x: np.ndarray) -> np.ndarray:
        return self.impl.run(np.ascontiguousarray(x, np.float32))


def open_model(model: str | os.PathLike[str] | None, engine: str = "auto",
               threads: int | None = None) -> tuple[ArtifactInfo, Engine]:
    """A model file (or a shipped model's name; None: the default) -> its contract and a ready engine."""
    from ..artifact import read_info
    from ..zoo import resolve

    info = read_info(resolve(None if model is None else os.fspath(model)))
    return info, open_engine(info, engine, threads)


def open_engine(info: ArtifactInfo, engine: str = "auto", threads: int | None = None) -> Engine:
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
        return TensorRTRuntimeEngine(info.path)
    return PT2RuntimeEngine(os.fspath(info.path))
