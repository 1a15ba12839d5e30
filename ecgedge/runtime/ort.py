"""onnxruntime sessions, set up the same way for export checks, benchmarks and inference."""

from __future__ import annotations

import os

import numpy as np

from ..errors import EcgedgeError

#: onnxruntime's execution providers for each onnxruntime engine (:data:`ecgedge.kinds.ENGINES` names them)
PROVIDERS = {"ort": ["CPUExecutionProvider"],
             "ort-cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"]}


def session(path: str | os.PathLike[str] | bytes, engine: str = "ort", threads: int | None = None,
            spin: bool | None = None):
    """An ``onnxruntime.InferenceSession`` with full graph optimisation and ``threads`` intra-op threads.

    ``spin``: whether idle intra-op threads busy-wait for the next operator (onnxruntime's default, None, is yes).
    The runtime turns it off (:class:`~ecgedge.runtime.engines.OrtEngine`): its decode workers share the cores with
    the engine, and on the 2-core VM the spinning threads took about a third of a folder run's CPU time (1.9 against
    1.3 ms per record) and made single windows slower under load, not faster."""
    import onnxruntime as ort

    if engine not in PROVIDERS:
        raise EcgedgeError(f"unknown onnxruntime engine {engine!r}", where="engine",
                           fix="one of " + ", ".join(PROVIDERS))
    want = PROVIDERS[engine]
    have = ort.get_available_providers()
    if want[0] not in have:
        raise EcgedgeError(f"onnxruntime here has no {want[0]} (available: {', '.join(have)})", where="engine",
                           fix="install onnxruntime-gpu for CUDA, or use --engine ort")
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = int(threads or 0)
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    if spin is not None:
        so.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    try:
        return ort.InferenceSession(path if isinstance(path, bytes) else os.fspath(path), so,
                                    providers=[p for p in want if p in have])
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/... types
        raise EcgedgeError(f"onnxruntime cannot load the model ({str(exc).strip().splitlines()[0][:300]})",
                           path=None if isinstance(path, bytes) else path) from None


def run_batched(sess, x: np.ndarray, batch: int = 256) -> np.ndarray:
    """Logits of ``x`` ``[n, leads, T]`` in batches of ``batch``."""
    name = sess.get_inputs()[0].name
    out = [sess.run(None, {name: np.ascontiguousarray(x[s:s + batch], np.float32)})[0] for s in range(0, len(x), batch)]
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)
