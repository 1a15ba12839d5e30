"""The native kernel behind the reference's API (planar float64 ``[leads, samples]`` in and out).

The fused chain (:func:`run`) is where the speed is; the single operations exist for streaming
and for parity tests, and convert to the kernel's interleaved layout on the way in and out.
"""

from __future__ import annotations

import numpy as np

from .. import _kernel as K  # ImportError here is handled by ecgedge.dsp.backend

if getattr(K, "ABI", 1) < 2:  # a build from before run() reported window starts: the loud fallback, not a crash
    raise ImportError(f"the built kernel ({K.__file__}) is older than this ecgedge; rebuild it (pip install .)")
from .design import ResamplePlan
from .reference import NORMS, PADS

name = "native"


def _il(x: np.ndarray) -> np.ndarray:
    """planar [L, n] -> interleaved float64 [n, L]: always a copy, since the kernel writes in place
    (for one lead the transpose is already contiguous and would otherwise alias the caller's array)."""
    return np.array(np.asarray(x).T, dtype=np.float64, order="C", copy=True)


def sosfilt_zi(sos: np.ndarray) -> np.ndarray:
    sos = np.ascontiguousarray(sos, np.float64)
    zi = np.empty((sos.shape[0], 2))
    K.sosfilt_zi(sos, zi)
    return zi


def sosfiltfilt(x: np.ndarray, sos: np.ndarray) -> np.ndarray:
    xi = _il(x)
    K.sosfiltfilt(xi, np.ascontiguousarray(sos, np.float64))
    return xi.T.copy()


def sosfilt(x: np.ndarray, sos: np.ndarray, zi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    xi = _il(x)
    state = np.array(zi, np.float64, order="C").reshape(-1, xi.shape[1])  # [sections * 2, leads]
    K.sosfilt(xi, np.ascontiguousarray(sos, np.float64), state)
    return xi.T.copy(), state.reshape(zi.shape)


def steady_state(sos: np.ndarray, first: np.ndarray) -> np.ndarray:
    return sosfilt_zi(sos)[:, :, None] * np.asarray(first, np.float64)[None, None, :]


def medfilt(x: np.ndarray, k: int) -> np.ndarray:
    xi = _il(x)
    out = np.empty_like(xi)
    K.medfilt(xi, int(k), out)
    return out.T.copy()


def remove_baseline(x: np.ndarray, k1: int, k2: int) -> np.ndarray:
    xr = np.array(x, np.float64, order="C", ndmin=2)  # a copy, lead-major: no transposes
    K.remove_baseline(xr, int(k1), int(k2), True)
    return xr


def resample(x: np.ndarray, plan: ResamplePlan) -> np.ndarray:
    if plan.identity:
        return np.array(x, np.float64)
    return resample_span(x, 0, plan, 0, plan.out_len(x.shape[1]))


def resample_span(x: np.ndarray, x_start: int, plan: ResamplePlan, j0: int, n_out: int) -> np.ndarray:
    xi = _il(x)
    out = np.empty((n_out, xi.shape[1]))
    if n_out:
        K.resample(xi, int(x_start), np.ascontiguousarray(plan.h), plan.up, plan.down, plan.pre_remove, int(j0), out)
    return out.T.copy()


def normalize(x: np.ndarray, method: str) -> tuple[np.ndarray, np.ndarray]:
    xi = _il(x)
    flags = np.zeros(xi.shape[1], np.uint8)
    K.normalize(xi, NORMS[method], flags)
    return xi.T.copy(), (flags & 1).astype(bool)


def window_count(n: int, window: int, stride: int, cover_tail: bool) -> int:
    return K.window_count(n, window, stride, cover_tail)


def windows(x: np.ndarray, window: int, stride: int, cover_tail: bool, pad: str) -> np.ndarray:
    xi = _il(x)
    W = K.window_count(xi.shape[0], window, stride, cover_tail)
    out = np.empty((W, xi.shape[1], window), np.float32)
    K.windows(xi, window, stride, cover_tail, PADS[pad], out)
    return out


def simd() -> str:
    return K.simd()
