"""``ecgedge bench``: latency against accuracy for every (model x engine x precision x batch) on this machine.

For each exported artefact and each engine that can run it here, one fresh worker process measures:

- batch-1 latency (p50 / p95 / p99 over at least ``min_runs`` calls and ``seconds`` of wall time, after
  warm-up), of the engine alone on one window of the contract's shape;
- throughput for each batch size, in windows/s and in 10-second records/s (the windows a 10-s record is
  cut into by the contract), and the best batch size;
- peak resident memory of the worker (and the part above its state before the model was loaded);
- the held-out records' logits through the same engine, from windows the runtime's own preprocessing cut
  (the path `ecgedge infer` takes), aggregated as the contract says -> macro and per-class AUROC with a
  bootstrap 95 % interval.

The held-out records are those the model's contract names (``extra.heldout``: data set, task, test
folds), fold 10 of its data set otherwise, or a folder with labels given by the user. The report is a
table, a JSON file with the machine's description and every row, and a latency-vs-accuracy PNG with the
Pareto frontier marked. torch is imported only by the ``pt2`` engine, in its own worker.

The package, one concern a module: :mod:`.models` (which model files to measure), :mod:`.heldout` (the held-out
records, as an :class:`~ecgedge.runtime.evalset.EvalSet`), :mod:`.worker` (one artefact and engine timed in a
fresh process), :mod:`.run` (the orchestration: options, rows, accuracy, the Pareto frontier), :mod:`.report`
(table, Markdown, JSON) and :mod:`.plot` (the PNG); the machine's description is :func:`ecgedge.machine.report`.
"""

from ...machine import report as machine_report
from .heldout import heldout_set
from .models import collect_models
from .plot import plot
from .report import markdown, table, write_results
from .run import (
    DEFAULT_BATCHES,
    PARETO_AUROC_TIE,
    RECORD_SECONDS,
    BenchOptions,
    Row,
    pareto,
    run_bench,
    windows_per_record,
)
from .worker import run_worker, spawn, time_calls

__all__ = [
    "DEFAULT_BATCHES", "PARETO_AUROC_TIE", "RECORD_SECONDS", "BenchOptions", "Row", "collect_models", "heldout_set",
    "machine_report", "markdown", "pareto", "plot", "run_bench", "run_worker", "spawn", "table", "time_calls",
    "windows_per_record", "write_results",
]
