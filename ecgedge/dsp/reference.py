"""The numpy/scipy reference: the semantics every preprocessing operation is held to.

Arrays are planar float64 ``[leads, samples]``. Each function names the scipy call it is; the
native kernel (:mod:`ecgedge.dsp.native`) implements the same functions and parity tests compare
the two on real records. scipy is imported lazily (it is a training-side dependency).
"""

from __future__ import annotations

import numpy as np

from .design import ResamplePlan

NORMS = {"none": 0, "zscore": 1, "minmax": 2, "robust": 3, "l2": 4}
PADS = {"zeros": 0, "edge": 1, "wrap": 2}

name = "reference"


def _signal():
    try:
        import scipy.signal as ss
    except ImportError:
        from ..errors import EcgedgeError

        raise EcgedgeError("the reference preprocessing needs scipy and the native kernel is not available",
                           fix="pip install scipy, or reinstall ecgedge with a C compiler present") from None
    return ss


def sosfilt_zi(sos: np.ndarray) -> np.ndarray:
    return _signal().sosfilt_zi(sos)


def sosfiltfilt(x: np.ndarray, sos: np.ndarray) -> np.ndarray:
    return _signal().sosfiltfilt(sos, x, axis=-1, padtype="odd")


def sosfilt(x: np.ndarray, sos: np.ndarray, zi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Causal filter with state ``zi`` of shape ``[sections, 2, leads]``; returns (y, final state)."""
    y, zf = _signal().sosfilt(sos, x, axis=-1, zi=np.moveaxis(zi, 1, 2))  # scipy wants [sections, leads, 2]
    return y, np.ascontiguousarray(np.moveaxis(zf, 2, 1))


def steady_state(sos: np.ndarray, first: np.ndarray) -> np.ndarray:
    """The state that makes a causal filter start as if the first sample had always been there."""
    zi = sosfilt_zi(sos)  # [sections, 2]
    return zi[:, :, None] * np.asarray(first, np.float64)[None, None, :]


def medfilt(x: np.ndarray, k: int) -> np.ndarray:
    import warnings

    ss = _signal()
    with warnings.catch_warnings():
        # zero padding past the ends is the defined behaviour, also when k exceeds the length
        warnings.filterwarnings("ignore", "kernel_size exceeds volume extent")
        return np.stack([ss.medfilt(row, k) for row in x])


def remove_baseline(x: np.ndarray, k1: int, k2: int) -> np.ndarray:
    base = x
    if k1 > 0:
        base = medfilt(base, k1)
    if k2 > 0:
        base = medfilt(base, k2)
    return x - base if (k1 > 0 or k2 > 0) else x


def resample(x: np.ndarray, plan: ResamplePlan) -> np.ndarray:
    if plan.identity:
        return x.copy()
    return _signal().resample_poly(x, plan.up, plan.down, axis=-1)


def resample_span(x: np.ndarray, x_start: int, plan: ResamplePlan, j0: int, n_out: int) -> np.ndarray:
    """Outputs ``j0 .. j0+n_out-1`` of resampling a stream of which ``x`` holds samples from ``x_start``.

    Direct evaluation of the upfirdn sum (inputs outside ``x`` count as zero), for streaming."""
    L = x.shape[0]
    y = np.zeros((L, n_out))
    H = len(plan.h)
    for j in range(n_out):
        t = (j0 + j + plan.pre_remove) * plan.down
        p_hi = min(t // plan.up, x_start + x.shape[1] - 1)
        p_lo = max(0, -(-(t - (H - 1)) // plan.up), x_start)
        if p_hi < p_lo:
            continue
        p = np.arange(p_lo, p_hi + 1)
        y[:, j] = x[:, p - x_start] @ plan.h[t - p * plan.up]
    return y


def normalize(x: np.ndarray, method: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-lead normalisation; a lead with zero spread becomes zeros and is flagged (never NaN)."""
    x = np.asarray(x, np.float64)
    if method == "none":
        return x.copy(), np.zeros(x.shape[0], bool)
    if method == "zscore":
        shift = x.mean(axis=-1, keepdims=True)
        scale = x.std(axis=-1, keepdims=True)
    elif method == "minmax":
        shift = x.min(axis=-1, keepdims=True)
        scale = x.max(axis=-1, keepdims=True) - shift
    elif method == "robust":
        q25, med, q75 = np.percentile(x, [25, 50, 75], axis=-1, keepdims=True)
        shift, scale = med, q75 - q25
    elif method == "l2":
        shift = np.zeros((x.shape[0], 1))
        scale = np.sqrt((x * x).sum(axis=-1, keepdims=True))
    else:
        raise ValueError(method)
    # no spread, or spread at rounding level against the offset (a constant lead's std is ~1e-17)
    flat = ~(scale[:, 0] > 1e-9 * np.abs(shift[:, 0])) | ~(scale[:, 0] > 0) | ~np.isfinite(scale[:, 0])
    safe = np.where(flat[:, None], 1.0, scale)
    y = (x - shift) / safe
    y[flat] = 0.0
    return y, flat


def window_count(n: int, window: int, stride: int, cover_tail: bool) -> int:
    if n <= window:
        return 1
    w = 1 + (n - window) // stride
    if cover_tail and (n - window) % stride:
        w += 1
    return w


def window_starts(n: int, window: int, stride: int, cover_tail: bool) -> np.ndarray:
    """First sample of each window: every ``stride``, the tail window aligned to the end, one (padded) window
    at 0 for a record shorter than it. The kernel's ``ee_window_start``."""
    if n <= window:
        return np.zeros(1, np.int64)
    return np.minimum(np.arange(window_count(n, window, stride, cover_tail), dtype=np.int64) * stride, n - window)


def windows(x: np.ndarray, window: int, stride: int, cover_tail: bool, pad: str) -> np.ndarray:
    L, n = x.shape
    W = window_count(n, window, stride, cover_tail)
    out = np.empty((W, L, window), np.float32)
    if n <= window:
        if pad == "zeros":
            padded = np.concatenate([x, np.zeros((L, window - n))], axis=1)
        elif pad == "edge":
            padded = np.concatenate([x, np.repeat(x[:, -1:], window - n, axis=1)], axis=1)
        else:
            padded = x[:, np.arange(window) % n]
        out[0] = padded
        return out
    for w, start in enumerate(window_starts(n, window, stride, cover_tail)):
        out[w] = x[:, start:start + window]
    return out


def fix_nonfinite(x: np.ndarray, policy: str, max_gap: int) -> tuple[np.ndarray, np.ndarray, tuple | None]:
    """Returns (x, repaired-lead flags, error) — error is (kind, lead, sample, run) or None."""
    bad = ~np.isfinite(x)
    repaired = np.zeros(x.shape[0], bool)
    if not bad.any():
        return x, repaired, None
    x = x.copy()
    n = x.shape[1]
    for lead in range(x.shape[0]):
        t = 0
        while t < n:
            if not bad[lead, t]:
                t += 1
                continue
            end = t
            while end < n and bad[lead, end]:
                end += 1
            run = end - t
            if policy == "reject" or run > max_gap or run == n:
                return x, repaired, ("nonfinite" if policy == "reject" else "gap", lead, t, run)
            left = x[lead, t - 1] if t > 0 else x[lead, end]
            right = x[lead, end] if end < n else left
            frac = np.arange(1, run + 1) / (run + 1)
            x[lead, t:end] = left + (right - left) * frac
            repaired[lead] = True
            t = end
    return x, repaired, None
