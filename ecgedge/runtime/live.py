"""``ecgedge infer --stream SOURCE``: causal preprocessing with carried state, a sliding window, one output
line per hop with the latency from the arrival of the window's last sample to its result.

Gaps and reconnects are marked in the output; after a gap the preprocessing restarts (its filter
state describes a signal that is no longer contiguous). SIGINT flushes the last windows and exits
cleanly. Memory is constant: the preprocessor keeps only the history its filters reach back over.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from dataclasses import dataclass
from typing import IO

import numpy as np

from ..errors import EcgedgeError
from .post import decisions, probabilities


@dataclass
class StreamRow:
    t: float  # seconds since the stream started, at the window's end (model rate)
    probabilities: np.ndarray | None
    decisions: np.ndarray | None
    latency_ms: float
    event: str = ""


class StreamClassifier:
    """Feed chunks, get rows. Usable from Python with any :class:`~ecgedge.streams.Source`."""

    def __init__(self, model: str | None, fs_in: float, leads_in, units_in=None, *, engine: str = "auto",
                 threads: int = 0, hop: float | None = None, allow_causal: bool = True) -> None:
        from .engines import open_model

        self.info, self.engine = open_model(model, engine, threads or None)
        self.contract = c = self.info.contract
        self.fs_in, self.leads_in, self.units_in = fs_in, tuple(leads_in), units_in
        p = c.preprocessing
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

    def _reset(self) -> None:
        from ..dsp.stream import StreamPreprocessor

        self.pre = StreamPreprocessor(self.contract.preprocessing, self.fs_in, self.leads_in, self.units_in,
                                      hop=self.hop, allow_causal=self.allow_causal)
        self.t0_model = self.samples_in * self.contract.fs / self.fs_in

    def _rows(self, w: np.ndarray, ends: np.ndarray, t_arrival: float) -> list[StreamRow]:
        if not len(w):
            return []
        probs = probabilities(self.engine.run(w), self.contract.multilabel)
        done = time.monotonic()
        rows = []
        dec = decisions(probs, self.contract.thresholds, self.contract.multilabel)
        for p, d, e in zip(probs, dec, ends):
            rows.append(StreamRow((self.t0_model + e) / self.contract.fs, p, d, (done - t_arrival) * 1e3))
        return rows

    def push(self, data: np.ndarray, t_arrival: float | None = None) -> list[StreamRow]:
        t_arrival = time.monotonic() if t_arrival is None else t_arrival
        w, ends = self.pre.push(data)
        self.samples_in += data.shape[1]
        return self._rows(w, ends, t_arrival)

    def gap(self, samples: int, event: str) -> StreamRow:
        """A discontinuity: restart the preprocessing after ``samples`` missing samples."""
        self.samples_in += max(samples, 0)
        self._reset()
        return StreamRow(self.samples_in / self.fs_in, None, None, 0.0, event or "gap")

    def flush(self) -> list[StreamRow]:
        return self._rows(*self.pre.flush(), time.monotonic())


class StreamWriter:
    def __init__(self, out: IO[str], fmt: str, classes: tuple[str, ...]) -> None:
        if fmt not in ("table", "jsonl", "json", "csv"):
            raise EcgedgeError(f"unknown format {fmt!r}", where="--format", fix="table, jsonl or csv")
        self.out, self.fmt, self.classes = out, "jsonl" if fmt == "json" else fmt, classes
        if self.fmt == "csv":
            out.write(",".join(["t_s", *classes, "positive", "latency_ms", "event"]) + "\n")
        elif self.fmt == "table":
            out.write(f"{'t (s)':>9} " + " ".join(f"{c:>8}" for c in classes) + "  latency  positive\n")
        out.flush()

    def write(self, r: StreamRow) -> None:
        pos = [c for c, d in zip(self.classes, r.decisions) if d] if r.decisions is not None else []
        if self.fmt == "jsonl":
            d = {"t": round(r.t, 4), "event": r.event or None}
            if r.probabilities is not None:
                d.update({c: round(float(p), 6) for c, p in zip(self.classes, r.probabilities)})
                d.update(positive=pos, latency_ms=round(r.latency_ms, 3))
            self.out.write(json.dumps(d) + "\n")
        elif self.fmt == "csv":
            probs = [f"{p:.6g}" for p in r.probabilities] if r.probabilities is not None else [""] * len(self.classes)
            lat = f"{r.latency_ms:.3f}" if r.probabilities is not None else ""
            self.out.write(",".join([f"{r.t:.4f}", *probs, ";".join(pos), lat, r.event]) + "\n")
        elif r.probabilities is None:
            self.out.write(f"{r.t:>9.2f} --- {r.event} ---\n")
        else:
            probs = " ".join(f"{p:>8.3f}" for p in r.probabilities)
            self.out.write(f"{r.t:>9.2f} {probs}  {r.latency_ms:5.1f} ms  {', '.join(pos) or '-'}\n")
        self.out.flush()


def run_stream(spec: str, *, model: str | None = None, engine: str = "auto", threads: int = 0,
               hop: float | None = None, fmt: str = "table", output: str | None = None, allow_causal: bool = True,
               source_options: dict | None = None) -> int:
    """The CLI's stream mode; returns the exit code (0, or 1 when the source failed)."""
    from ..streams import open_source

    source = open_source(spec, **(source_options or {}))
    stats = {"rows": 0, "samples": 0, "lat": []}
    code = 0
    with contextlib.ExitStack() as stack:
        stack.callback(source.close)
        clf = StreamClassifier(model, source.fs, source.leads, source.units, engine=engine, threads=threads, hop=hop,
                               allow_causal=allow_causal)
        for w in clf.warnings:
            print(f"note: {w}", file=sys.stderr)
        fh = stack.enter_context(open(output, "w")) if output else sys.stdout  # noqa: SIM115 - a live log, appended to
        writer = StreamWriter(fh, fmt, clf.contract.classes)
        print(f"streaming {source.name}: {source.fs:g} Hz, leads {', '.join(source.leads)}; model "
              f"{clf.info.path} ({clf.engine.name}), window {clf.contract.window / clf.contract.fs:g} s, "
              f"hop {clf.hop / clf.contract.fs:g} s", file=sys.stderr)
        t_start = time.monotonic()

        def emit(rows):
            for r in rows:
                writer.write(r)
                stats["rows"] += 1
                if r.probabilities is not None:
                    stats["lat"].append(r.latency_ms)

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
        wall = time.monotonic() - t_start
        audio = stats["samples"] / source.fs if source.fs else 0.0
        lat = np.array(stats["lat"]) if stats["lat"] else np.zeros(1)
        print(f"{stats['rows']} result(s) for {audio:.1f} s of signal in {wall:.2f} s "
              f"({audio / max(wall, 1e-9):.0f}x real time); latency after the last sample p50 "
              f"{np.percentile(lat, 50):.2f} ms, p99 {np.percentile(lat, 99):.2f} ms", file=sys.stderr)
    return code
