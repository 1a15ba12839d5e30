"""Writing predictions as they arrive: a readable table, JSON, JSON lines or CSV; PNG plots per record."""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path
from typing import IO

import numpy as np

from ..errors import EcgedgeError
from .predictor import Prediction

FORMATS = ("table", "json", "jsonl", "csv")


def _f(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), 6)


class Writer:
    """Streams rows to ``out``; call :meth:`write` per prediction and :meth:`close` at the end."""

    def __init__(self, out: IO[str], fmt: str, classes: tuple[str, ...], timeline: bool = False) -> None:
        if fmt not in FORMATS:
            raise EcgedgeError(f"unknown format {fmt!r}", where="--format", fix="one of " + ", ".join(FORMATS))
        self.out, self.fmt, self.classes, self.timeline = out, fmt, classes, timeline
        self.n = self.json_rows = 0
        self.cols = ["record", *(["window", "start_s"] if timeline else []), *classes, "positive", "windows",
                     "quality", "quality_score", "warnings", "error", "path"]
        if fmt == "csv":
            self.csv = csv.writer(out, lineterminator="\n")
            self.csv.writerow(self.cols)
        elif fmt == "json":
            out.write("[")
        elif fmt == "table":
            w = max(12, *(len(c) for c in classes))
            self.w = w
            self.name_w = 24
            out.write(f"{'record':<{self.name_w}} " + " ".join(f"{c:>{w}}" for c in classes) + "  windows  positive\n")

    def _rows(self, p: Prediction) -> list[dict]:
        base = p.as_dict()
        rows = [base]
        if self.timeline and p.ok:
            for k, (start, probs) in enumerate(zip(p.window_starts, p.window_probabilities)):
                rows.append({"record": p.name, "window": k, "start_s": _f(start),
                             **{c: _f(v) for c, v in zip(self.classes, probs)}, "path": p.path})
        return rows

    def write(self, p: Prediction) -> None:
        self.n += 1
        if self.fmt == "table":
            name = p.name if len(p.name) <= self.name_w else "…" + p.name[-(self.name_w - 1):]
            if p.ok:
                probs = " ".join(f"{v:>{self.w}.3f}" for v in p.probabilities)
                pos = ", ".join(c for c, yes in zip(self.classes, p.decisions) if yes) or "-"
                if p.quality is not None and not p.quality.ok:
                    pos = p.quality.summary()  # no class decided: say why instead
                self.out.write(f"{name:<{self.name_w}} {probs}  {p.n_windows:>7}  {pos}\n")
                for w in p.warnings:
                    self.out.write(f"{'':<{self.name_w}} warning: {w}\n")
                if self.timeline:
                    for start, probs in zip(p.window_starts, p.window_probabilities):
                        row = " ".join(f"{v:>{self.w}.3f}" for v in probs)
                        at = f"  @ {start:.2f} s"
                        self.out.write(f"{at:<{self.name_w}} {row}\n")
            else:
                self.out.write(f"{name:<{self.name_w}} error: {p.error}\n")
            return
        for row in self._rows(p):
            if self.fmt == "csv":
                self.csv.writerow([_cell(row.get(c)) for c in self.cols])
            else:
                text = json.dumps({k: (_f(v) if isinstance(v, float) else v) for k, v in row.items()})
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


def _cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, list):
        return ";".join(str(x) for x in v)
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


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
