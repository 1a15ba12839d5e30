"""Writing results as they arrive, for records and for streams alike: one :class:`Writer`, one list of
:data:`FORMATS` (a readable table, JSON, JSON lines, CSV); PNG plots per record."""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import numpy as np

from ..errors import EcgedgeError
from .predictor import Prediction

FORMATS = ("table", "json", "jsonl", "csv")


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise EcgedgeError(f"unknown format {fmt!r}", where="--format", fix="one of " + ", ".join(FORMATS))
    return fmt


def _f(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), 6)


def _cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, list):
        return ";".join(str(x) for x in v)
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


class Writer:
    """Writes rows to ``out`` as they come: :meth:`write` per result (a :class:`Prediction` of a record, or with
    ``stream=True`` a :class:`~ecgedge.runtime.live.StreamRow`), :meth:`close` at the end. ``timeline``: a
    record's windows as rows of their own. A stream writes ``json`` as JSON lines: it has no end to close an
    array at."""

    def __init__(self, out: IO[str], fmt: str, classes: tuple[str, ...], timeline: bool = False, *,
                 stream: bool = False) -> None:
        check_format(fmt)
        self.rows = _StreamRows(classes) if stream else _RecordRows(classes, timeline)
        self.out, self.fmt = out, "jsonl" if stream and fmt == "json" else fmt
        self.n = self.json_rows = 0
        if self.fmt == "csv":
            self.csv = csv.writer(out, lineterminator="\n")
            self.csv.writerow(self.rows.columns)
        elif self.fmt == "json":
            out.write("[")
        elif self.fmt == "table":
            out.write(self.rows.table_header() + "\n")
        out.flush()

    def write(self, item) -> None:
        self.n += 1
        if self.fmt == "table":
            self.out.writelines(line + "\n" for line in self.rows.table(item))
        elif self.fmt == "csv":
            self.csv.writerows(self.rows.cells(item))
        else:
            for d in self.rows.dicts(item):
                text = json.dumps(d)
                if self.fmt == "json":
                    self.out.write(("\n " if not self.json_rows else ",\n ") + text)
                    self.json_rows += 1
                else:
                    self.out.write(text + "\n")
        self.out.flush()

    def close(self) -> None:
        if self.fmt == "json":
            self.out.write("\n]\n")
        self.out.flush()


class _RecordRows:
    """A record's row (and with ``timeline`` one per window) in each format."""

    def __init__(self, classes: tuple[str, ...], timeline: bool) -> None:
        self.classes, self.timeline = classes, timeline
        self.columns = ["record", *(["window", "start_s"] if timeline else []), *classes, "positive", "windows",
                        "quality", "quality_score", "warnings", "error", "path"]
        self.w = max(12, *(len(c) for c in classes))
        self.name_w = 24

    def _rows(self, p: Prediction) -> list[dict]:
        rows = [p.as_dict()]
        if self.timeline and p.ok:
            for k, (start, probs) in enumerate(zip(p.window_starts, p.window_probabilities)):
                rows.append({"record": p.name, "window": k, "start_s": _f(start),
                             **{c: _f(v) for c, v in zip(self.classes, probs)}, "path": p.path})
        return rows

    def dicts(self, p: Prediction) -> Iterator[dict]:
        for row in self._rows(p):
            yield {k: (_f(v) if isinstance(v, float) else v) for k, v in row.items()}

    def cells(self, p: Prediction) -> Iterator[list[str]]:
        for row in self._rows(p):
            yield [_cell(row.get(c)) for c in self.columns]

    def table_header(self) -> str:
        return f"{'record':<{self.name_w}} " + " ".join(f"{c:>{self.w}}" for c in self.classes) + "  windows  positive"

    def table(self, p: Prediction) -> Iterator[str]:
        name = p.name if len(p.name) <= self.name_w else "…" + p.name[-(self.name_w - 1):]
        if not p.ok:
            yield f"{name:<{self.name_w}} error: {p.error}"
            return
        probs = " ".join(f"{v:>{self.w}.3f}" for v in p.probabilities)
        pos = ", ".join(c for c, yes in zip(self.classes, p.decisions) if yes) or "-"
        if p.quality is not None and not p.quality.ok:
            pos = p.quality.summary()  # no class decided: say why instead
        yield f"{name:<{self.name_w}} {probs}  {p.n_windows:>7}  {pos}"
        for w in p.warnings:
            yield f"{'':<{self.name_w}} warning: {w}"
        if self.timeline:
            for start, probs in zip(p.window_starts, p.window_probabilities):
                row = " ".join(f"{v:>{self.w}.3f}" for v in probs)
                at = f"  @ {start:.2f} s"
                yield f"{at:<{self.name_w}} {row}"


class _StreamRows:
    """A stream's row per window (or per gap or reconnect) in each format."""

    def __init__(self, classes: tuple[str, ...]) -> None:
        self.classes = classes
        self.columns = ["t_s", *classes, "positive", "latency_ms", "event", "quality"]

    def _positive(self, r) -> list[str]:
        return [c for c, d in zip(self.classes, r.decisions) if d] if r.decisions is not None else []

    def dicts(self, r) -> Iterator[dict]:
        d = {"t": round(r.t, 4), "event": r.event or None}
        if r.probabilities is not None:
            d.update({c: round(float(p), 6) for c, p in zip(self.classes, r.probabilities)})
            d.update(positive=self._positive(r), latency_ms=round(r.latency_ms, 3),
                     quality=(r.quality.summary() if r.quality is not None else "") or None)
        yield d

    def cells(self, r) -> Iterator[list[str]]:
        probs = [f"{p:.6g}" for p in r.probabilities] if r.probabilities is not None else [""] * len(self.classes)
        lat = f"{r.latency_ms:.3f}" if r.probabilities is not None else ""
        quality = r.quality.summary() if r.quality is not None else ""
        yield [f"{r.t:.4f}", *probs, ";".join(self._positive(r)), lat, r.event, quality]

    def table_header(self) -> str:
        return f"{'t (s)':>9} " + " ".join(f"{c:>8}" for c in self.classes) + "  latency  positive"

    def table(self, r) -> Iterator[str]:
        if r.probabilities is None:
            yield f"{r.t:>9.2f} --- {r.event} ---"
            return
        probs = " ".join(f"{p:>8.3f}" for p in r.probabilities)
        said = (r.quality.summary() if r.quality is not None and not r.quality.ok
                else ", ".join(self._positive(r)) or "-")
        yield f"{r.t:>9.2f} {probs}  {r.latency_ms:5.1f} ms  {said}"


def plot_record(pred: Prediction, folder: str | os.PathLike[str]) -> str:
    """A PNG of the record's leads (the 12-lead grid when there are 12) titled with the predictions."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise EcgedgeError("--plot needs matplotlib", fix="pip install matplotlib") from None
    from ..atomic import atomic_open
    from ..io import read_record

    sig = read_record(pred.path)
    L = sig.n_leads
    cols = 2 if L > 6 else 1
    rows = math.ceil(L / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(12 if cols == 2 else 10, 1.3 * rows + 1), sharex=True, squeeze=False)
    t = np.arange(sig.n_samples) / sig.fs
    for i in range(rows * cols):
        ax = axes[i % rows][i // rows]
        if i >= L:
            ax.axis("off")
            continue
        ax.plot(t, sig.data[i], lw=0.6, color="black")
        ax.set_ylabel(sig.leads[i], rotation=0, labelpad=18)
        ax.grid(True, color="#f3b0b0", lw=0.4)
    for ax in axes[-1]:
        ax.set_xlabel("s")
    pos = [f"{c} {p:.2f}" for c, p, yes in zip(pred.classes, pred.probabilities, pred.decisions) if yes]
    # a record name is user text, not matplotlib mathtext: "a$b$c" would be typeset, "a$b" fail to parse
    title = f"{pred.name}: {', '.join(pos) or 'no class above threshold'}".replace("$", r"\$")
    if pred.quality is not None and not pred.quality.ok:
        title = f"{pred.name}: {pred.quality.summary()}".replace("$", r"\$")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    Path(folder).mkdir(parents=True, exist_ok=True)
    out = Path(folder) / f"{pred.name}.png"
    with atomic_open(out, "wb") as fh:
        fig.savefig(fh, format="png", dpi=90)
    plt.close(fig)
    return str(out)
