"""TensorRT engines at run time: load a serialized engine and its sidecar, run it (:class:`TensorRTEngine`).

.. warning::
   Written against the documented TensorRT 10/11 Python API (NVIDIA's Python API reference, the 10.x release
   notes and the 10.x -> 11.x migration guide) and NOT run on this project's machines: they have no NVIDIA GPU
   and TensorRT cannot be installed there. What needs no TensorRT (the sidecar, the trust check, the "TensorRT
   is missing" errors) is tested here; ``tests/test_tensorrt.py`` holds the GPU tests, which skip without it.

Building engines is export's job (:mod:`ecgedge.export.tensorrt`); this module is what a device needs to run
one. An engine runs only with the TensorRT version that built it (checked against the sidecar) and is meant
for the GPU model that built it (warned). TensorRT 8.5 or later; earlier releases lack the tensor-name API.

Sidecar ``<engine>.json`` (written beside the engine by the builder): ``{"format": "ecgedge-tensorrt",
"contract", "tensorrt_version", "precision", "strongly_typed", "profile", "device", "input_name",
"output_name", ...}``; :func:`ecgedge.artifact.read_info` reads it without TensorRT.

Device memory comes from torch (CUDA tensors, when torch is importable and sees a GPU) or else from
cuda-python (``cuda.bindings.runtime``, or ``cuda.cudart`` in older releases) — the latter is what a torch-free
Jetson deployment installs (``pip install cuda-python``). ``engine.backend`` says which.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from pathlib import Path

import numpy as np

from ..artifact import read_sidecar
from ..contract import InputContract
from ..errors import EcgedgeError
from ..kinds import SIDECAR_SUFFIX
from ..trust import check as check_trust
from ..trust import sha256_bytes
from .engines import Engine

FORMAT = "ecgedge-tensorrt"

MIN_VERSION = (8, 5)

_NOT_INSTALLED_FIX = ("install TensorRT for your CUDA version (e.g. `pip install tensorrt`, or NVIDIA's packages), "
                      "or on a Jetson use the TensorRT that comes with JetPack; or export with --target onnx instead")
_NOT_PORTABLE = ("TensorRT engines are not portable between TensorRT versions or GPU models: build the engine again "
                 "on this machine from the ONNX model (`ecgedge export --target tensorrt`, or trtexec)")


# ------------------------------------------------------------------------------------------------
# TensorRT import, logger, device
# ------------------------------------------------------------------------------------------------


def version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for p in str(text).split("."):
        digits = "".join(ch for ch in p if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts) or (0,)


def import_trt():
    """``tensorrt`` or an :class:`EcgedgeError` saying it is missing (or too old for this module)."""
    try:
        import tensorrt as trt
    except (ImportError, OSError) as exc:  # OSError: the Python package is there but libnvinfer is not
        raise EcgedgeError(f"TensorRT is not installed ({exc})", where="tensorrt", fix=_NOT_INSTALLED_FIX) from None
    version = getattr(trt, "__version__", "0")
    if version_tuple(version)[:2] < MIN_VERSION:
        need = ".".join(map(str, MIN_VERSION))
        raise EcgedgeError(f"TensorRT {version} is too old for ecgedge's builder (needs {need} or later)",
                           where="tensorrt",
                           fix="build the engine with trtexec (see the README: TensorRT and Jetson), or run the ONNX "
                               "model with onnxruntime")
    return trt


_LOGGER = None


def trt_logger(trt):
    """One logger for the process (TensorRT keeps the first logger it is given); it keeps recent warnings and
    errors so that a failed build or load can say why."""
    global _LOGGER
    if _LOGGER is None:

        class _Collecting(trt.ILogger):
            def __init__(self) -> None:
                trt.ILogger.__init__(self)
                self.messages: list[tuple[str, str]] = []

            def log(self, severity, msg) -> None:
                sev = trt.ILogger.Severity
                if severity in (sev.INTERNAL_ERROR, sev.ERROR, sev.WARNING):
                    self.messages.append((str(severity).rsplit(".", 1)[-1], str(msg)))
                    del self.messages[:-200]

        _LOGGER = _Collecting()
    return _LOGGER


def log_tail(logger, errors_only: bool = True, n: int = 5) -> str:
    msgs = [m for s, m in logger.messages if not errors_only or "ERROR" in s]
    return "; ".join(msgs[-n:])


def gpu_name() -> tuple[str, str | None]:
    """Name and compute capability of CUDA device 0, from torch or cuda-python; ``("unknown", None)`` otherwise."""
    with contextlib.suppress(Exception):
        import torch

        if torch.cuda.is_available():
            major, minor = torch.cuda.get_device_capability(0)
            return torch.cuda.get_device_name(0), f"{major}.{minor}"
    with contextlib.suppress(Exception):
        cudart = _cudart()
        err, prop = cudart.cudaGetDeviceProperties(0)
        if err == cudart.cudaError_t.cudaSuccess:
            name = prop.name.decode(errors="replace") if isinstance(prop.name, bytes) else str(prop.name)
            return name.rstrip("\x00"), f"{prop.major}.{prop.minor}"
    return "unknown", None


def _cudart():
    try:
        from cuda.bindings import runtime as cudart  # cuda-python >= 12.6
    except ImportError:
        from cuda import cudart  # older cuda-python
    return cudart


# ------------------------------------------------------------------------------------------------
# The sidecar
# ------------------------------------------------------------------------------------------------


def _read_sidecar(engine_path: str | os.PathLike[str]) -> dict:
    meta = read_sidecar(engine_path, "engine", FORMAT)
    side = os.fspath(engine_path) + SIDECAR_SUFFIX
    for key in ("contract", "tensorrt_version", "input_name", "output_name"):
        if key not in meta:
            raise EcgedgeError(f"sidecar lacks {key!r}", path=side)
    return meta


# ------------------------------------------------------------------------------------------------
# Load and run
# ------------------------------------------------------------------------------------------------


class _TorchMemory:
    """Device buffers as torch CUDA tensors, on a stream of our own."""

    name = "torch"

    def __init__(self) -> None:
        import torch

        if not torch.cuda.is_available():
            raise RuntimeError("torch sees no CUDA device")
        self.torch = torch
        self.stream = torch.cuda.Stream()
        self._dtypes = {np.dtype(np.float32): torch.float32, np.dtype(np.float16): torch.float16,
                        np.dtype(np.int32): torch.int32, np.dtype(np.int64): torch.int64,
                        np.dtype(np.int8): torch.int8, np.dtype(np.uint8): torch.uint8, np.dtype(np.bool_): torch.bool}

    def run(self, context, x: np.ndarray, in_name: str, out_name: str, out_shape: tuple[int, ...],
            out_dtype: np.dtype) -> np.ndarray:
        torch = self.torch
        with torch.cuda.stream(self.stream):
            xin = torch.from_numpy(x).to("cuda")  # copy enqueued on our stream
            out = torch.empty(out_shape, dtype=self._dtypes[np.dtype(out_dtype)], device="cuda")
            if not (context.set_tensor_address(in_name, xin.data_ptr())
                    and context.set_tensor_address(out_name, out.data_ptr())):
                raise EcgedgeError("TensorRT refused a device buffer address", where="tensorrt.run")
            if not context.execute_async_v3(self.stream.cuda_stream):
                raise EcgedgeError("TensorRT failed to enqueue the inference", where="tensorrt.run")
            y = out.cpu()  # waits for our stream
        self.stream.synchronize()
        return y.numpy()

    def close(self) -> None:
        pass


class _CudaPythonMemory:
    """Device buffers from cuda-python's runtime API (no torch), grown as needed and reused."""

    name = "cuda-python"

    def __init__(self) -> None:
        self.rt = _cudart()
        self.stream = self._ok(self.rt.cudaStreamCreate(), "cudaStreamCreate")
        self._bufs: dict[str, tuple[int, int]] = {}

    def _ok(self, result, what: str):
        err, *rest = result if isinstance(result, tuple) else (result,)
        if err != self.rt.cudaError_t.cudaSuccess:
            raise EcgedgeError(f"{what} failed: {err}", where="tensorrt.cuda")
        return rest[0] if len(rest) == 1 else tuple(rest) if rest else None

    def _buffer(self, name: str, nbytes: int) -> int:
        ptr, size = self._bufs.get(name, (0, 0))
        if size < nbytes:
            if ptr:
                self._ok(self.rt.cudaFree(ptr), "cudaFree")
            ptr, size = int(self._ok(self.rt.cudaMalloc(nbytes), "cudaMalloc")), nbytes
            self._bufs[name] = (ptr, size)
        return ptr

    def run(self, context, x: np.ndarray, in_name: str, out_name: str, out_shape: tuple[int, ...],
            out_dtype: np.dtype) -> np.ndarray:
        rt, s = self.rt, self.stream
        y = np.empty(out_shape, dtype=out_dtype)
        d_in, d_out = self._buffer(in_name, max(x.nbytes, 1)), self._buffer(out_name, max(y.nbytes, 1))
        self._ok(rt.cudaMemcpyAsync(d_in, x.ctypes.data, x.nbytes, rt.cudaMemcpyKind.cudaMemcpyHostToDevice, s),
                 "cudaMemcpyAsync (to device)")
        if not (context.set_tensor_address(in_name, d_in) and context.set_tensor_address(out_name, d_out)):
            raise EcgedgeError("TensorRT refused a device buffer address", where="tensorrt.run")
        if not context.execute_async_v3(int(s)):
            raise EcgedgeError("TensorRT failed to enqueue the inference", where="tensorrt.run")
        self._ok(rt.cudaMemcpyAsync(y.ctypes.data, d_out, y.nbytes, rt.cudaMemcpyKind.cudaMemcpyDeviceToHost, s),
                 "cudaMemcpyAsync (to host)")
        self._ok(rt.cudaStreamSynchronize(s), "cudaStreamSynchronize")
        return y

    def close(self) -> None:
        for ptr, _ in self._bufs.values():
            with contextlib.suppress(Exception):
                self.rt.cudaFree(ptr)
        self._bufs.clear()
        with contextlib.suppress(Exception):
            self.rt.cudaStreamDestroy(self.stream)


def _device_memory():
    errors = []
    for cls in (_TorchMemory, _CudaPythonMemory):
        try:
            return cls()
        except EcgedgeError:
            raise
        except Exception as exc:  # ImportError, RuntimeError, ...
            errors.append(f"{cls.name}: {exc}")
    raise EcgedgeError("no way to allocate GPU memory (" + "; ".join(errors) + ")", where="tensorrt",
                       fix="install a CUDA build of torch, or `pip install cuda-python`")


class TensorRTEngine(Engine):
    """A TensorRT engine and its sidecar: ``run(x [B, leads, T] float32) -> logits``.

    Refuses an engine whose sidecar is missing or not ecgedge's, or that another TensorRT version built; and,
    unless ``trust``, one whose hash this machine's export did not record (an engine can carry plugin code). One
    engine object is not thread-safe (one execution context): use one per thread.
    """

    name = "tensorrt"

    def __init__(self, path: str | os.PathLike[str], *, trust: bool = False) -> None:
        self.path = os.fspath(path)
        if not os.path.isfile(self.path):
            raise EcgedgeError("engine file not found", path=self.path)
        self.meta = _read_sidecar(self.path)
        try:
            self.contract = InputContract.from_dict(self.meta["contract"])
        except EcgedgeError as exc:
            raise EcgedgeError(f"its contract is unusable: {exc}", path=self.path) from None
        # An engine may carry plugin code: refuse it unless trusted, before TensorRT is even imported. The bytes
        # hashed here are the bytes deserialized below (no second read that could see another file).
        blob = Path(self.path).read_bytes()
        check_trust(self.path, "tensorrt", sha256_bytes(blob), trust=trust)
        trt = import_trt()
        built = str(self.meta["tensorrt_version"])
        if built != trt.__version__:
            raise EcgedgeError(f"built with TensorRT {built}; this is TensorRT {trt.__version__}", path=self.path,
                               fix=_NOT_PORTABLE)
        gpu, _ = gpu_name()
        if self.meta.get("device") not in (None, "unknown") and gpu != "unknown" and gpu != self.meta["device"]:
            warnings.warn(f"{os.path.basename(self.path)} was built on {self.meta['device']} and runs on {gpu}; "
                          "TensorRT engines are meant for the GPU model that built them (rebuild it here if it fails "
                          "or runs slowly)", stacklevel=2)
        logger = trt_logger(trt)
        logger.messages.clear()
        try:
            runtime = trt.Runtime(logger)
        except Exception as exc:
            raise EcgedgeError(f"TensorRT cannot start its runtime: no usable CUDA device ({log_tail(logger) or exc})",
                               path=self.path, fix="check the GPU driver (`nvidia-smi`)") from None
        engine = runtime.deserialize_cuda_engine(blob)
        del blob
        if engine is None:
            raise EcgedgeError(f"TensorRT {trt.__version__} could not load the engine "
                               f"({log_tail(logger) or 'not a valid engine for this TensorRT and GPU'})",
                               path=self.path, fix=_NOT_PORTABLE)
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        ins = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        if ins != [self.meta["input_name"]] or outs != [self.meta["output_name"]]:
            raise EcgedgeError(f"the engine's tensors (inputs {ins}, outputs {outs}) do not match its sidecar",
                               path=self.path, fix="keep each engine with its own .json")
        self.input_name, self.output_name = ins[0], outs[0]
        try:
            self.input_dtype = np.dtype(trt.nptype(engine.get_tensor_dtype(self.input_name)))
            self.output_dtype = np.dtype(trt.nptype(engine.get_tensor_dtype(self.output_name)))
        except TypeError as exc:
            raise EcgedgeError(f"the engine's input/output type has no numpy equivalent ({exc})",
                               path=self.path) from None
        lo, opt, hi = (tuple(int(d) for d in dims) for dims in engine.get_tensor_profile_shape(self.input_name, 0))
        self.leads = int(lo[1])
        self.batch_range, self.time_range = (lo[0], hi[0]), (lo[2], hi[2])
        self.max_batch = int(hi[0])  # the profile bounds the batch (bench's sweep stops there)
        self.opt_shape = opt
        self._engine, self._runtime, self._trt = engine, runtime, trt
        self._context = engine.create_execution_context()
        if self._context is None:
            why = log_tail(logger) or "out of GPU memory?"
            raise EcgedgeError(f"TensorRT could not create an execution context ({why})", path=self.path)
        self._memory = _device_memory()
        self.backend = self._memory.name

    def run(self, x: np.ndarray) -> np.ndarray:
        """Logits (float32 ``[B, classes]``) for float32 windows ``[B, leads, T]`` within the engine's profile."""
        a = np.asarray(x)
        if a.ndim != 3:
            raise EcgedgeError(f"input must be [batch, leads, time], got shape {a.shape}", where="tensorrt.run")
        bsz, leads, length = (int(v) for v in a.shape)
        if leads != self.leads:
            raise EcgedgeError(f"input has {leads} leads; the engine takes {self.leads}", where="tensorrt.run")
        lo, hi = self.batch_range
        if not lo <= bsz <= hi:
            raise EcgedgeError(f"batch of {bsz} is outside the engine's profile ({lo}..{hi})", where="tensorrt.run",
                               fix=f"split the input into batches of at most {hi}, or rebuild with a larger batch max")
        lo, hi = self.time_range
        if not lo <= length <= hi:
            raise EcgedgeError(f"{length} samples is outside the engine's profile ({lo}..{hi})", where="tensorrt.run",
                               fix="use windows within the profile (the contract's window is "
                                   f"{self.contract.window}), or rebuild the engine with another time range")
        a = np.ascontiguousarray(a, dtype=self.input_dtype)
        if not self._context.set_input_shape(self.input_name, a.shape):
            raise EcgedgeError(f"TensorRT refused the input shape {a.shape}", where="tensorrt.run")
        out_shape = tuple(int(d) for d in self._context.get_tensor_shape(self.output_name))
        if any(d < 0 for d in out_shape):
            raise EcgedgeError(f"TensorRT could not infer the output shape for input {a.shape}", where="tensorrt.run")
        y = self._memory.run(self._context, a, self.input_name, self.output_name, out_shape, self.output_dtype)
        return np.asarray(y, dtype=np.float32)

    __call__ = run

    def close(self) -> None:
        memory = getattr(self, "_memory", None)
        if memory is not None:
            memory.close()
            self._memory = None

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()
