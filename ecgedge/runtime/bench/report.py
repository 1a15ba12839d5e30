"""``ecgedge bench``'s results as text: the terminal's table, the README's Markdown table, the JSON file."""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .run import Row


def table(rows: list[Row]) -> str:
    """The terminal's table, one line per row."""
    head = ["model", "engine", "prec", "MB", "p50 ms", "p95 ms", "p99 ms", "best batch", "10-s rec/s",
            "RSS MiB b1/max", "macro AUROC [95% CI]", "frontier"]
    lines = []
    for r in rows:
        if r.status != "ok":
            lines.append([r.model, r.engine, r.precision, f"{r.size_mb:.2f}", r.status + ": " + (r.error or "")]
                         + [""] * 7)
            continue
        lat = r.latency_ms or {}
        auc = "-" if r.macro_auroc is None else f"{r.macro_auroc:.4f}" + (
            f" [{r.macro_auroc_ci[0]:.3f}-{r.macro_auroc_ci[1]:.3f}]" if r.macro_auroc_ci else "")
        lines.append([r.model, r.engine, r.precision, f"{r.size_mb:.2f}", f"{lat.get('p50', 0):.3f}",
                      f"{lat.get('p95', 0):.3f}", f"{lat.get('p99', 0):.3f}", str(r.best_batch or "-"),
                      f"{r.records_per_s:,.0f}" if r.records_per_s else "-",
                      f"{r.batch1_rss_mib:.0f}/{r.peak_rss_mib:.0f}",
                      auc, "*" if r.pareto else ""])
    widths = [max(len(h), *(len(ln[i]) for ln in lines)) if lines else len(h) for i, h in enumerate(head)]
    out = ["  ".join(h.ljust(w) for h, w in zip(head, widths))]
    out.append("  ".join("-" * w for w in widths))
    out += ["  ".join(c.ljust(w) for c, w in zip(ln, widths)) for ln in lines]
    return "\n".join(out)


def markdown(rows: list[Row]) -> str:
    """The README's table."""
    out = ["| model | engine | precision | size MB | p50 / p95 / p99 ms (batch 1) | best batch | 10-s records/s "
           "| RSS MiB batch 1 / max | macro AUROC [95% CI] | frontier |",
           "|---|---|---|---:|---:|---:|---:|---:|---|:-:|"]
    for r in rows:
        if r.status != "ok":
            out.append(f"| {r.model} | {r.engine} | {r.precision} | {r.size_mb:.2f} | {r.status}: {r.error} "
                       "| | | | | |")
            continue
        lat = r.latency_ms
        auc = "-" if r.macro_auroc is None else f"{r.macro_auroc:.3f}" + (
            f" [{r.macro_auroc_ci[0]:.3f}-{r.macro_auroc_ci[1]:.3f}]" if r.macro_auroc_ci else "")
        out.append(f"| {r.model} | {r.engine} | {r.precision} | {r.size_mb:.2f} | {lat['p50']:.3f} / "
                   f"{lat['p95']:.3f} / {lat['p99']:.3f} | {r.best_batch} | {r.records_per_s:,.0f} | "
                   f"{r.batch1_rss_mib:.0f} / {r.peak_rss_mib:.0f} | {auc} | {'✓' if r.pareto else ''} |")
    return "\n".join(out)


def write_results(rows: list[Row], settings: dict, machine: dict, out_json: str | os.PathLike[str]) -> None:
    from ...atomic import atomic_write_text

    doc = {"when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": machine, "settings": settings,
           "rows": [asdict(r) for r in rows]}
    atomic_write_text(out_json, json.dumps(doc, indent=1, default=float))
