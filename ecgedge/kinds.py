"""Model files and the engines that run them: the one place that names them.

- the kinds of model file, by suffix (:data:`KINDS`): ONNX, TensorRT engines, AOTInductor ``.pt2`` packages and
  training checkpoints; the first three are exported models (:data:`EXPORTED`), which engines run;
- the engines and the kind each runs (:data:`RUNS`), which of them this machine has
  (:func:`available_engines`) and which one ``auto`` picks for a file (:func:`auto_engine`);
- how ``ecgedge export`` names what it writes (:func:`artefact_name`) and the model name a file was written
  under (:func:`model_name`, its inverse).

Standard library only: the torch-free runtime, export, bench and the CLI's option checks all read it.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from .errors import EcgedgeError

#: The JSON beside an engine or package that carries its contract: ``<file>.json``.
SIDECAR_SUFFIX = ".json"

#: File suffix -> kind of model file.
KINDS = {".onnx": "onnx", ".engine": "tensorrt", ".plan": "tensorrt", ".trt": "tensorrt", ".pt2": "pt2",
         ".safetensors": "checkpoint"}

#: Kinds that an engine runs (a checkpoint is exported first).
EXPORTED = ("onnx", "tensorrt", "pt2")

#: Engine -> the kind of file it runs. ``ort`` is onnxruntime on the CPU, ``ort-cuda`` onnxruntime-gpu.
RUNS = {"ort": "onnx", "ort-cuda": "onnx", "tensorrt": "tensorrt", "pt2": "pt2"}
ENGINES = tuple(RUNS)
#: What ``--engine`` accepts: an engine, or ``auto`` (by file kind and what is installed).
ENGINE_CHOICES = ("auto", *ENGINES)

#: The precision (or, for ``.pt2``, device) tag :func:`artefact_name` puts before the suffix.
_TAGS = ("fp32", "fp16", "bf16", "int8", "int8-trt", "cpu", "cuda")


def kind_of(path: str | os.PathLike[str]) -> str | None:
    """The kind of a model file from its suffix (None: not a model file)."""
    return KINDS.get(Path(path).suffix.lower())


def suffixes(kinds: tuple[str, ...] = EXPORTED) -> tuple[str, ...]:
    """The file suffixes of these kinds (default: every exported model)."""
    return tuple(s for s, k in KINDS.items() if k in kinds)


def engines_for(kind: str) -> tuple[str, ...]:
    """The engines that run files of ``kind`` (none for a checkpoint)."""
    return tuple(e for e, k in RUNS.items() if k == kind)


def check_engine_name(engine: str, *, auto: bool = True, where: str = "--engine") -> str:
    """``engine`` if it is an engine's name (or ``auto``, where allowed); else an :class:`EcgedgeError`."""
    choices = ENGINE_CHOICES if auto else ENGINES
    if engine not in choices:
        raise EcgedgeError(f"unknown engine {engine!r}", where=where, fix="one of " + ", ".join(choices))
    return engine


def why_not(engine: str) -> str | None:
    """None if ``engine`` can run here, else why not (nothing is loaded beyond onnxruntime's provider list)."""
    if engine in ("ort", "ort-cuda"):
        try:
            import onnxruntime as ort
        except ImportError:
            return "onnxruntime is not installed"
        if engine == "ort-cuda" and "CUDAExecutionProvider" not in ort.get_available_providers():
            return "onnxruntime has no CUDA provider here"
        return None
    if engine == "tensorrt":
        return None if importlib.util.find_spec("tensorrt") else "TensorRT is not installed"
    if engine == "pt2":
        return None if importlib.util.find_spec("torch") else "torch is not installed (pip install ecgedge[train])"
    return f"{engine!r} is not an engine"


def available_engines() -> dict[str, str | None]:
    """Engine -> None if it can run here, else why not."""
    return {e: why_not(e) for e in ENGINES}


def auto_engine(kind: str) -> str:
    """The engine ``--engine auto`` picks for a file of ``kind``: onnxruntime on CUDA where it has a CUDA
    provider, on the CPU otherwise; the kind's only engine for the others."""
    if kind == "onnx":
        return "ort" if why_not("ort-cuda") else "ort-cuda"
    return engines_for(kind)[0]


def artefact_name(stem: str, kind: str, precision: str = "fp32", *, flavour: str = "cpu", device: str = "cpu") -> str:
    """The file name ``ecgedge export`` gives a model: ``stem.fp32.onnx``, ``stem.int8.onnx`` (INT8 for
    onnxruntime's CPU kernels), ``stem.int8-trt.onnx`` (symmetric INT8 for TensorRT), ``stem.fp16.onnx``,
    ``stem.<precision>.engine`` and ``stem.<device>.pt2``."""
    if kind == "onnx":
        return f"{stem}.{precision}{'-trt' if precision == 'int8' and flavour == 'tensorrt' else ''}.onnx"
    if kind == "tensorrt":
        return f"{stem}.{precision}.engine"
    if kind == "pt2":
        return f"{stem}.{device}.pt2"
    raise ValueError(f"no exported file name for kind {kind!r}")  # a bug in the caller, not user input


def sidecar_name(name: str) -> str:
    """The sidecar of an engine or package file (TensorRT and ``.pt2`` carry their contract beside them)."""
    return name + SIDECAR_SUFFIX


def model_name(path: str | os.PathLike[str]) -> str:
    """The model a file was exported as: its name without the suffix and the precision (or device) tag
    that :func:`artefact_name` adds (``xresnet1d50.int8-trt.onnx`` -> ``xresnet1d50``)."""
    name = Path(path).name
    suffix = Path(name).suffix
    if suffix.lower() in KINDS:
        name = name[: -len(suffix)]
    stem, dot, tag = name.rpartition(".")
    return stem if dot and stem and tag.lower() in _TAGS else name
