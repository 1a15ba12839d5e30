"""``ecgedge infer --stream SOURCE``: causal preprocessing with carried state, a sliding window, one output
line per hop with the latency from the arrival of the window's last sample to its result.

Gaps and reconnects are marked in the output; after a gap the preprocessing restarts (its filter
state describes a signal that is no longer contiguous). SIGINT flushes the last windows and exits
cleanly. Memory is constant: the preprocessor keeps only the history its filters reach back over.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from dataclasses import dataclass
from typing import IO

import numpy as np

from ..errors import EcgedgeError
from ..quality import Quality, assess
from .post import decisions, probabilities


@dataclass
class StreamRow:
    t: float  # seconds since the stream started, at the window's end (model rate)
    probabilities: np.ndarray | None
    decisions: np.ndarray | None
    latency_ms: float
    event: str = ""
    #: the window's signal-quality verdict (:mod:`ecgedge.quality`); a ``poor`` window decides no class
    quality: Quality | None = None


def _check_rate(fs: float, band_high: float | None) -> None:
    """Refuse a stream rate that a record would be refused at (out of range, or below the model's band)."""
    from ..streams.base import sampling_rate

    sampling_rate(fs)
    if band_high and fs / 2 <= band_high:
        raise EcgedgeError(f"sampled at {fs:g} Hz, which cannot hold the {band_high:g} Hz that the model's "
                           f"band-pass keeps (needs more than {2 * band_high:g} Hz)", where="fs",
                           fix="stream at a higher rate, or use a model trained with a lower band edge")


class StreamClassifier:
    """Feed chunks, get rows. Usable from Python with any :class:`~ecgedge.streams.Source`."""

    def __init__(self, model: str | None, fs_in: float, leads_in, units_in=None, *, engine: str = "auto",
                 threads: int = 0, hop: float | None = None, allow_causal: bool = True,
                 trust_model: bool = False, lead: str | None = None) -> None:
        from ..leads import check_lead_option
        from .engines import open_model

        self.info, self.engine = open_model(model, engine, threads or None, trust_model=trust_model)
        self.contract = c = self.info.contract
        check_lead_option(c.leads, lead)
        self.lead = lead
        self.fs_in, self.leads_in, self.units_in = fs_in, tuple(leads_in), units_in
        p = c.preprocessing
        _check_rate(float(fs_in), p.band[1] if p.band else None)
        if hop is not None and not (math.isfinite(hop) and hop > 0):  # -1 used to become a 1-sample hop
            raise EcgedgeError(f"the hop must be a positive number of seconds, not {hop!r}", where="--hop",
                               fix=f"e.g. --hop {(p.stride or p.window) / p.fs:g} (the model's stride)")
        self.hop = max(1, int(round(hop * p.fs))) if hop else (p.stride or p.window)
        self.allow_causal = allow_causal
        self.warnings: list[str] = []
        if p.zero_phase and p.sos is not None:
            self.warnings.append("the model was trained on zero-phase filtered records; a stream is filtered "
                                 "causally (the same band, with phase delay): results can differ from file inference")
        if p.norm_scope == "record":
            self.warnings.append("the model normalises whole records; a stream normalises each window")
        self.samples_in = 0
        self._reset()
        self.warnings.extend(self.pre.notes)  # the lead a single-lead model reads instead of its own

    def _reset(self) -> None:
        from ..dsp.stream import StreamPreprocessor

        self.pre = StreamPreprocessor(self.contract.preprocessing, self.fs_in, self.leads_in, self.units_in,
                                      hop=self.hop, allow_causal=self.allow_causal, lead=self.lead)
        self.t0_model = self.samples_in * self.contract.fs / self.fs_in
        # the raw input (model leads, mV) of the last window and a hop, for each window's quality verdict: the
        # preprocessor holds NaNs at the last valid value and filters, which would hide what the gate looks for
        self._raw = np.zeros((self.pre.L, 0), np.float32)  # a buffer: _raw_len samples valid
        self._raw_len = 0
        self._raw_start = 0  # input index (since the reset) of _raw[:, 0]
        c = self.contract
        self._raw_window = int(math.ceil(c.window / c.fs * self.fs_in))
        self._raw_keep = self._raw_window + int(math.ceil((self.hop / c.fs + 1.0) * self.fs_in))

    def _rows(self, w: np.ndarray, ends: np.ndarray, t_arrival: float) -> list[StreamRow]:
        if not len(w):
            return []
        probs = probabilities(self.engine.run(w), self.contract.multilabel)
        dec = decisions(probs, self.contract.thresholds, self.contract.multilabel, self.contract.decision_weights)
        quality = [self._quality(e) for e in ends]
        done = time.monotonic()  # the verdict is part of the result: its time counts in the latency
        rows = []
        for p, d, e, q in zip(probs, dec, ends, quality):
            if not q.ok:
                d = np.zeros_like(d)  # poor signal: the probabilities are reported, no class is decided
            rows.append(StreamRow((self.t0_model + e) / self.contract.fs, p, d, (done - t_arrival) * 1e3, quality=q))
        return rows

    def _quality(self, end: int) -> Quality:
        """The verdict on the raw input under the window that ends at model sample ``end`` (since the reset)."""
        b = int(round(end * self.fs_in / self.contract.fs)) - self._raw_start
        x = self._raw[:, max(b - self._raw_window, 0):min(max(b, 0), self._raw_len)]
        return assess(x, self.fs_in, self.contract.leads)

    def push(self, data: np.ndarray, t_arrival: float | None = None) -> list[StreamRow]:
        t_arrival = time.monotonic() if t_arrival is None else t_arrival
        self._keep_raw(data)
        w, ends = self.pre.push(data)
        self.samples_in += data.shape[1]
        return self._rows(w, ends, t_arrival)

    def _keep_raw(self, data: np.ndarray) -> None:
        """Append a chunk's model leads (mV) to the raw buffer. Appending in place and moving the kept tail to the
        front only when the buffer is full costs O(1) a sample: concatenating per chunk copied the whole window
        (hundreds of kB) for every eighth of a second."""
        data = np.asarray(data)
        if data.ndim != 2 or data.shape[0] <= int(self.pre.gather.max()):
            return  # the preprocessor says what is wrong with the chunk
        k = data.shape[1]
        if self._raw_len + k > self._raw.shape[1]:
            drop = max(self._raw_len - self._raw_keep, 0)
            if drop:
                self._raw[:, :self._raw_len - drop] = self._raw[:, drop:self._raw_len]
                self._raw_len -= drop
                self._raw_start += drop
            if self._raw_len + k > self._raw.shape[1]:
                grown = np.zeros((self.pre.L, 2 * (self._raw_len + k)), np.float32)
                grown[:, :self._raw_len] = self._raw[:, :self._raw_len]
                self._raw = grown
        with np.errstate(over="ignore"):  # an absurd value times a unit becomes inf, which the gate judges
            self._raw[:, self._raw_len:self._raw_len + k] = data[self.pre.gather] * self.pre.scale
        self._raw_len += k

    def gap(self, samples: int, event: str) -> StreamRow:
        """A discontinuity: restart the preprocessing after ``samples`` missing samples."""
        self.samples_in += max(samples, 0)
        self._reset()
        return StreamRow(self.samples_in / self.fs_in, None, None, 0.0, event or "gap")

    def flush(self) -> list[StreamRow]:
        return self._rows(*self.pre.flush(), time.monotonic())


class PoorSignalLog:
    """Warnings on stderr when the signal turns poor (with the reasons) and when it is fit again, and a count at the
    end: one line per change, not per window, so that a long stretch of a lead off does not flood the terminal."""

    def __init__(self, err: IO[str] | None = None) -> None:
        self.err = err or sys.stderr
        self.poor = self.windows = 0
        self.reasons = ""

    def see(self, r: StreamRow) -> None:
        if r.quality is None:
            return
        self.windows += 1
        if r.quality.ok:
            if self.reasons:
                print(f"note: signal fit to classify again at t={r.t:.2f} s", file=self.err)
            self.reasons = ""
            return
        self.poor += 1
        text = "; ".join(r.quality.reasons)
        if text != self.reasons:
            print(f"warning: {r.quality.summary()} at t={r.t:.2f} s: no class decided", file=self.err)
        self.reasons = text

    def close(self) -> None:
        if self.poor:
            print(f"warning: {self.poor} of {self.windows} window(s) had a poor signal and decided no class",
                  file=self.err)


def run_stream(spec: str, *, model: str | None = None, engine: str = "auto", threads: int = 0,
               hop: float | None = None, fmt: str = "table", output: str | None = None, allow_causal: bool = True,
               source_options: dict | None = None, trust_model: bool = False, lead: str | None = None) -> int:
    """The CLI's stream mode; returns the exit code (0, or 1 when the source failed)."""
    from ..atomic import LiveOutput, check_output, remove_stale_leftovers
    from ..streams import open_source
    from .latency import LatencySummary
    from .report import Writer, check_format

    check_format(fmt)  # before the source is opened and the model loaded
    if output:
        check_output(output)
        remove_stale_leftovers(output)
    source = open_source(spec, **(source_options or {}))
    # latencies as a bounded summary: a list grew by a row's worth of memory per output, all day long
    stats = {"rows": 0, "samples": 0, "lat": LatencySummary()}
    code = 0
    with contextlib.ExitStack() as stack:
        stack.callback(source.close)
        clf = StreamClassifier(model, source.fs, source.leads, source.units, engine=engine, threads=threads, hop=hop,
                               allow_causal=allow_causal, trust_model=trust_model, lead=lead)
        for w in clf.warnings:
            print(f"warning: {w}", file=sys.stderr)
        # -o: an existing file stays as it is until the first result arrives (then it is replaced, keeping its
        # mode; a symlink is written through); see LiveOutput
        fh = stack.enter_context(LiveOutput(output)) if output else sys.stdout
        writer = Writer(fh, fmt, clf.contract.classes, stream=True)
        print(f"streaming {source.name}: {source.fs:g} Hz, leads {', '.join(source.leads)}; model "
              f"{clf.info.path} ({clf.engine.name}), window {clf.contract.window / clf.contract.fs:g} s, "
              f"hop {clf.hop / clf.contract.fs:g} s", file=sys.stderr)
        t_start = time.monotonic()

        poor = PoorSignalLog()

        def emit(rows):
            for r in rows:
                writer.write(r)
                poor.see(r)
                stats["rows"] += 1
                if r.probabilities is not None:
                    stats["lat"].add(r.latency_ms)
                    if isinstance(fh, LiveOutput):
                        fh.publish()

        try:
            for chunk in source.chunks():
                if chunk.gap_before or chunk.event in ("disconnected", "reconnected", "gap"):
                    emit([clf.gap(chunk.gap_before, chunk.event)])
                if chunk.data.shape[1]:
                    stats["samples"] += chunk.data.shape[1]
                    emit(clf.push(chunk.data, chunk.t_arrival))
            emit(clf.flush())
        except KeyboardInterrupt:
            emit(clf.flush())
            print("interrupted: flushed the last windows", file=sys.stderr)
        except EcgedgeError as exc:
            emit(clf.flush())
            print(f"error: {exc}", file=sys.stderr)
            code = 1
        poor.close()
        wall = time.monotonic() - t_start
        audio = stats["samples"] / source.fs if source.fs else 0.0
        lat = stats["lat"]
        p50, p99 = (lat.percentile(50), lat.percentile(99)) if len(lat) else (0.0, 0.0)
        print(f"{stats['rows']} result(s) for {audio:.1f} s of signal in {wall:.2f} s "
              f"({audio / max(wall, 1e-9):.0f}x real time); latency after the last sample p50 "
              f"{p50:.2f} ms, p99 {p99:.2f} ms", file=sys.stderr)
    return code
