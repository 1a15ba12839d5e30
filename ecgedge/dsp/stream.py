"""Streaming preprocessing: chunks in, model-ready windows out, with carried state.

Causal all the way: the resampler keeps just the input history its filter reaches back over, the
band-pass carries its state between chunks, and windows are emitted every ``hop`` output samples.
Whatever the chunking, the output equals the offline causal chain on the whole recording (a test
feeds random chunk sizes); memory does not grow with the stream's length.
"""

from __future__ import annotations

import numpy as np

from ..errors import EcgedgeError
from ..leads import normalize_lead, single_lead_source
from .backend import get_backend
from .design import check_sos, resample_plan
from .pipeline import Preprocessing, _normalize_windows, unit_scale


class StreamPreprocessor:
    """Feed ``push(chunk)`` with ``[leads_in, samples]`` physical samples at ``fs_in``.

    Each call returns the windows completed by that chunk: float32 ``[k, leads, window]`` and the
    index (at the model's rate) of the sample each window ends on. ``flush()`` pads the end as the
    offline chain does and returns the rest. Windows are normalised one by one (a stream has no
    "whole record"); invalid samples are held at the last valid value and counted.
    """

    def __init__(self, spec: Preprocessing, fs_in: float, leads_in: tuple[str, ...] | list[str],
                 units_in: tuple[str, ...] | list[str] | None = None, hop: int | None = None,
                 backend: str | None = None, allow_causal: bool = False, lead: str | None = None) -> None:
        spec = spec.designed() if spec.band is not None and spec.sos is None else spec
        if spec.window is None:
            raise EcgedgeError("a stream needs a window length", where="preprocessing.window")
        if spec.baseline:
            raise EcgedgeError("median baseline removal needs samples from the future and cannot run on a stream",
                               where="preprocessing.baseline", fix="use a band-pass (high edge > 0.5 Hz) instead")
        if spec.zero_phase and spec.sos is not None and not allow_causal:
            raise EcgedgeError("this model was trained on zero-phase filtered input, which a stream cannot produce",
                               where="preprocessing.zero_phase",
                               fix="pass allow_causal=True to accept causal filtering (results may differ)")
        if spec.filter_first:
            raise EcgedgeError("filter_first is offline only", where="preprocessing.filter_first")
        self.spec = spec
        self.B = get_backend(backend)
        self.fs_in = float(fs_in)
        have = {normalize_lead(n): i for i, n in enumerate(leads_in)}
        one = single_lead_source(tuple(leads_in), spec.leads, lead, path="stream")
        #: what reading a stand-in for a single-lead model's lead said (:func:`~ecgedge.leads.single_lead_source`)
        self.notes = [one[1]] if one and one[1] else []
        missing = [name for name in spec.leads if normalize_lead(name) not in have] if one is None else []
        if missing:
            raise EcgedgeError(f"stream lacks lead(s) {', '.join(missing)} (it has {', '.join(leads_in)})",
                               where="leads", fix="name its channels with --leads, e.g. --leads I")
        self.gather = np.array([one[0]] if one else [have[normalize_lead(name)] for name in spec.leads])
        units = list(units_in) if units_in else [spec.units] * len(leads_in)
        self.scale = np.array([unit_scale(units[i], spec.units) or 1.0 for i in self.gather])[:, None]
        self.L = len(spec.leads)
        self.plan = resample_plan(self.fs_in, spec.fs)
        self.sos = check_sos(np.array(spec.sos)) if spec.sos is not None else None
        self.window = spec.window
        self.hop = hop or spec.stride or spec.window
        if self.hop < 1:
            raise EcgedgeError(f"hop must be at least 1 sample, not {self.hop}", where="hop")
        # input history for the resampler, as planar float64, starting at absolute sample hist_start
        self.hist = np.zeros((self.L, 0))
        self.hist_start = 0
        self.n_in = 0
        self.next_out = 0  # next resampled sample to compute
        self.state = None  # band-pass state [sections, 2, leads]
        self.buf = np.zeros((self.L, 0), np.float32)  # filtered output not yet fully consumed by windows
        self.buf_start = 0  # absolute output index of buf[:, 0]
        self.next_window_end = self.window  # a window ends (exclusive) at this output index
        self.last_valid = np.zeros(self.L)
        self.invalid_samples = 0

    # -- pieces ---------------------------------------------------------------------------------------
    def _ready_outputs(self, final: bool) -> int:
        """How many resampled outputs can be computed from the input received so far."""
        if self.plan.identity:
            return self.n_in
        if final:
            return self.plan.out_len(self.n_in)
        # output j needs input up to floor((j + pre_remove) * down / up)
        j = (self.n_in * self.plan.up) // self.plan.down - self.plan.pre_remove
        while j >= 0 and ((j + self.plan.pre_remove) * self.plan.down) // self.plan.up > self.n_in - 1:
            j -= 1
        return max(j + 1, 0)

    def _resample_more(self, final: bool) -> np.ndarray:
        stop = self._ready_outputs(final)
        n_out = max(stop - self.next_out, 0)
        if self.plan.identity:
            y = self.hist[:, self.next_out - self.hist_start:stop - self.hist_start]
        else:
            y = self.B.resample_span(self.hist, self.hist_start, self.plan, self.next_out, n_out)
        self.next_out = stop
        # keep only the input that later outputs still reach
        if self.plan.identity:
            keep_from = self.next_out
        else:
            t = (self.next_out + self.plan.pre_remove) * self.plan.down
            keep_from = max(0, -(-(t - (len(self.plan.h) - 1)) // self.plan.up))
        drop = min(max(keep_from - self.hist_start, 0), self.hist.shape[1])
        if drop:
            self.hist = self.hist[:, drop:]
            self.hist_start += drop
        return y

    def _filter(self, y: np.ndarray) -> np.ndarray:
        if self.sos is None or y.shape[1] == 0:
            return y
        if self.state is None:
            self.state = self.B.steady_state(self.sos, y[:, 0])
        y, self.state = self.B.sosfilt(y, self.sos, self.state)
        return y

    def _emit(self, y: np.ndarray, final: bool) -> tuple[np.ndarray, np.ndarray]:
        self.buf = np.concatenate([self.buf, y.astype(np.float32)], axis=1) if self.buf.size else y.astype(np.float32)
        end_total = self.buf_start + self.buf.shape[1]
        out, ends = [], []
        while self.next_window_end <= end_total:
            a = self.next_window_end - self.window - self.buf_start
            out.append(self.buf[:, a:a + self.window])
            ends.append(self.next_window_end)
            self.next_window_end += self.hop
        if final and end_total > 0 and (not ends or ends[-1] < end_total):
            # the tail, as the offline chain covers it: the last full window, or one padded window
            if end_total >= self.window and self.spec.cover_tail and (end_total - self.window) % self.hop:
                a = end_total - self.window - self.buf_start
                if a >= 0:
                    out.append(self.buf[:, a:a + self.window])
                    ends.append(end_total)
            elif end_total < self.window:
                from . import reference as R

                out.append(R.windows(self.buf[:, : end_total - self.buf_start].astype(np.float64), self.window,
                                     self.hop, self.spec.cover_tail, self.spec.pad)[0])
                ends.append(end_total)
        # drop what no future window needs
        # (keeping the last full window too, which the tail window at flush may need)
        keep_from = min(self.next_window_end - self.window, end_total - self.window)
        drop = min(max(keep_from - self.buf_start, 0), self.buf.shape[1])
        if drop:
            self.buf = self.buf[:, drop:]
            self.buf_start += drop
        if not out:
            return np.zeros((0, self.L, self.window), np.float32), np.zeros(0, np.int64)
        w = np.stack(out)
        if self.spec.norm != "none":
            w, _ = _normalize_windows(w, self.spec.norm)
        return w, np.array(ends, np.int64)

    # -- API ------------------------------------------------------------------------------------------
    def push(self, chunk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        chunk = np.asarray(chunk)
        if chunk.ndim != 2 or chunk.shape[0] <= int(self.gather.max()):
            raise EcgedgeError(f"a chunk must be [leads, samples] with at least {int(self.gather.max()) + 1} leads, "
                               f"not shape {chunk.shape}", where="chunk")
        x = chunk[self.gather].astype(np.float64) * self.scale
        bad = ~np.isfinite(x)
        if bad.any():
            self.invalid_samples += int(bad.sum())
            for lead in np.flatnonzero(bad.any(axis=1)):
                row = x[lead]
                # index of the latest valid sample at or before each position (-1: none in this chunk)
                idx = np.where(bad[lead], -1, np.arange(row.size))
                np.maximum.accumulate(idx, out=idx)
                filled = np.where(idx >= 0, row[np.maximum(idx, 0)], self.last_valid[lead])
                x[lead] = filled
        if x.shape[1]:
            self.last_valid = x[:, -1].copy()
        self.hist = np.concatenate([self.hist, x], axis=1) if self.hist.size else x
        self.n_in += x.shape[1]
        return self._emit(self._filter(self._resample_more(False)), final=False)

    def flush(self) -> tuple[np.ndarray, np.ndarray]:
        """Finish the stream: the outputs the offline chain computes with zeros past the end."""
        return self._emit(self._filter(self._resample_more(True)), final=True)
