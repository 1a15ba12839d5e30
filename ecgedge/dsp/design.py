"""Filter design: done once, at training or export time; the numbers travel in the model's contract.

The band-pass comes from ``scipy.signal.butter`` (scipy is a training-side dependency). The
resampling filter is the one ``scipy.signal.resample_poly`` designs by default (a Kaiser-windowed
sinc, beta 5, ``10 * max(up, down)`` taps each side), rebuilt here with numpy alone so that the
runtime can resample from any rate a record arrives at without scipy; a test holds it to scipy's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

import numpy as np

from ..errors import EcgedgeError

#: The rate pairs the kernel is tested on; any rational ratio with small terms works.
COMMON_RATES = ((500, 100), (1000, 500), (360, 100), (300, 100), (257, 100), (250, 100), (100, 500))
MAX_RATE_TERM = 2000


def design_bandpass(fs: float, low: float | None, high: float | None, order: int = 2) -> np.ndarray:
    """Butterworth band-pass (or high-/low-pass when an edge is None) as second-order sections."""
    try:
        from scipy.signal import butter
    except ImportError:
        raise EcgedgeError("designing a filter needs scipy", fix="pip install 'ecgedge[train]'") from None
    nyq = fs / 2
    if low is not None and not 0 < low < nyq:
        raise EcgedgeError(f"band-pass low edge {low} Hz must lie in (0, {nyq:g}) Hz at fs {fs:g} Hz",
                           where="band")
    if high is not None and not 0 < high < nyq:
        raise EcgedgeError(f"band-pass high edge {high} Hz must lie in (0, {nyq:g}) Hz at fs {fs:g} Hz",
                           where="band", fix=f"choose a high edge below {nyq:g} Hz or a higher model rate")
    if low is not None and high is not None and low >= high:
        raise EcgedgeError(f"band-pass edges {low}-{high} Hz are reversed", where="band")
    if low is None and high is None:
        raise EcgedgeError("a band-pass needs at least one edge", where="band")
    if low is not None and high is not None:
        sos = butter(order, [low, high], btype="bandpass", fs=fs, output="sos")
    elif low is not None:
        sos = butter(order, low, btype="highpass", fs=fs, output="sos")
    else:
        sos = butter(order, high, btype="lowpass", fs=fs, output="sos")
    return np.ascontiguousarray(sos, dtype=np.float64)


def check_sos(sos: np.ndarray, where: str = "sos") -> np.ndarray:
    """Validate second-order sections: shape [n, 6], finite, a0 != 0, every pole inside the unit circle."""
    sos = np.asarray(sos, dtype=np.float64)
    if sos.ndim != 2 or sos.shape[1] != 6 or sos.shape[0] < 1:
        raise EcgedgeError(f"filter sections must be an [n, 6] array, not shape {sos.shape}", where=where)
    if not np.isfinite(sos).all():
        raise EcgedgeError("filter coefficients contain NaN or inf", where=where)
    if (sos[:, 3] == 0).any():
        raise EcgedgeError("a section has a0 == 0", where=where, fix="normalise each section so a0 == 1")
    a = sos[:, 3:] / sos[:, 3:4]
    for i, (_, a1, a2) in enumerate(a):
        poles = np.roots([1.0, a1, a2])
        if (np.abs(poles) >= 1.0 - 1e-12).any():
            raise EcgedgeError(f"section {i} is unstable (pole magnitude {np.abs(poles).max():.6g} >= 1)",
                               where=where, fix="redesign the filter; IIR poles must lie inside the unit circle")
    return np.ascontiguousarray(sos / sos[:, 3:4])


def filtfilt_padlen(sos: np.ndarray) -> int:
    """The edge padding ``scipy.signal.sosfiltfilt`` uses (its default ``padlen``)."""
    sos = np.asarray(sos)
    trailing = min(int((sos[:, 2] == 0).sum()), int((sos[:, 5] == 0).sum()))
    return 3 * (2 * len(sos) + 1 - trailing)


@dataclass(frozen=True)
class ResamplePlan:
    """How to go from ``fs_in`` to ``fs_out`` as resample_poly does."""

    up: int
    down: int
    h: np.ndarray  # scaled by up, zero-padded in front as resample_poly pads it
    pre_remove: int

    @property
    def identity(self) -> bool:
        return self.up == self.down == 1

    def out_len(self, n: int) -> int:
        return -(-n * self.up // self.down)


def rate_ratio(fs_in: float, fs_out: float) -> tuple[int, int]:
    """``(up, down)`` in lowest terms, or an error naming the rates."""
    if not (fs_in > 0 and fs_out > 0 and math.isfinite(fs_in) and math.isfinite(fs_out)):
        raise EcgedgeError(f"sampling rates must be positive and finite, not {fs_in} -> {fs_out}", where="fs")
    ratio = Fraction(fs_out / fs_in).limit_denominator(MAX_RATE_TERM)
    if abs(float(ratio) - fs_out / fs_in) > 1e-9 * fs_out / fs_in:
        raise EcgedgeError(f"cannot resample {fs_in:g} Hz -> {fs_out:g} Hz: the ratio is not a fraction with terms "
                           f"up to {MAX_RATE_TERM}", where="fs", fix="round the record's sampling rate")
    up, down = ratio.numerator, ratio.denominator
    if max(up, down) > MAX_RATE_TERM:
        raise EcgedgeError(f"cannot resample {fs_in:g} Hz -> {fs_out:g} Hz (up {up}, down {down})", where="fs")
    return up, down


@lru_cache(maxsize=64)
def resample_plan(fs_in: float, fs_out: float) -> ResamplePlan:
    up, down = rate_ratio(fs_in, fs_out)
    if up == down == 1:
        return ResamplePlan(1, 1, np.ones(1), 0)
    max_rate = max(up, down)
    f_c = 1.0 / max_rate
    half_len = 10 * max_rate
    numtaps = 2 * half_len + 1
    m = np.arange(numtaps) - (numtaps - 1) / 2
    h = f_c * np.sinc(f_c * m) * np.kaiser(numtaps, 5.0)
    h /= h.sum()
    h *= up
    n_pre_pad = down - half_len % down
    pre_remove = (half_len + n_pre_pad) // down
    h = np.concatenate([np.zeros(n_pre_pad), h])
    h.setflags(write=False)
    return ResamplePlan(up, down, h, pre_remove)
