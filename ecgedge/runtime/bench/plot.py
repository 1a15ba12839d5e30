"""``ecgedge bench``'s picture: batch-1 latency against held-out AUROC, the Pareto frontier drawn."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .run import Row


def plot(rows: list[Row], path: str | os.PathLike[str], title: str) -> bool:
    """Latency per 10-s record (log) against macro AUROC, the Pareto frontier drawn; False if matplotlib is
    missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    from ...atomic import atomic_write_bytes

    pts = [r for r in rows if r.status == "ok" and r.macro_auroc is not None]
    fig, ax = plt.subplots(figsize=(9, 6), dpi=110)
    markers = {"fp32": "o", "fp16": "s", "int8": "^", "bf16": "D"}
    engines = sorted({r.engine for r in pts})
    colours = dict(zip(engines, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    for r in pts:
        ax.scatter(r.record_ms, r.macro_auroc, marker=markers.get(r.precision, "x"),
                   color=colours[r.engine], s=60 if r.pareto else 30, alpha=1.0 if r.pareto else 0.6,
                   edgecolors="black" if r.pareto else "none", zorder=3)
        if r.pareto:
            ax.annotate(f"{r.model} {r.precision}", (r.record_ms, r.macro_auroc), fontsize=7,
                        xytext=(4, 4), textcoords="offset points")
    front = sorted((r for r in pts if r.pareto), key=lambda r: r.record_ms)
    if front:
        ax.step([r.record_ms for r in front], [r.macro_auroc for r in front], where="post",
                color="black", lw=1, ls="--", label="Pareto frontier", zorder=2)
    for e in engines:
        ax.scatter([], [], color=colours[e], label=e)
    for pr, m in markers.items():
        if any(r.precision == pr for r in pts):
            ax.scatter([], [], marker=m, color="grey", label=pr)
    ax.set_xscale("log")
    ax.set_xlabel("batch-1 latency per 10-s record: p50 x its windows (ms, log scale)")
    ax.set_ylabel("macro AUROC (held-out)")
    ax.set_title(title, fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return True
