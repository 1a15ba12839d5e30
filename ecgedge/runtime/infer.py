"""``ecgedge infer FILES``: records, folders and globs through a :class:`~ecgedge.runtime.predictor.Predictor`,
one row per record as it is done (the writer streams mode shares, :class:`~ecgedge.runtime.report.Writer`), a
progress bar on a terminal, and the exit code. Streams are :mod:`ecgedge.runtime.live`'s."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from itertools import chain, islice

from ..errors import EcgedgeError


def run_files(paths: list[str], *, model: str | None = None, engine: str = "auto", threads: int = 0,
              workers: int | None = None, batch: int | None = None, processes: int | None = None, fmt: str = "table",
              output: str | None = None, timeline: bool = False, plot: str | None = None, demo: bool = False,
              trust_model: bool = False, lead: str | None = None) -> int:
    """The CLI's file mode; returns the exit code (0, or 1 when a record failed). ``demo``: add the built-in
    simulated 12-lead record (written as a WFDB record first)."""
    from .predictor import Predictor, expand_paths
    from .processes import MIN_RECORDS, auto_processes
    from .report import Writer, check_format, plot_record

    items = list(paths)
    if not items and not demo:
        raise EcgedgeError("nothing to classify", where="infer",
                           fix="give record files or folders, --demo for the built-in example, or --stream SOURCE")
    check_format(fmt)
    if output:
        from ..atomic import check_output, remove_stale_leftovers

        # a folder, a read-only place or /proc fails now, not after every record was processed
        check_output(output)
        remove_stale_leftovers(output)
    pred = Predictor(model, engine=engine, threads=threads, batch=batch, workers=workers, trust_model=trust_model,
                     lead=lead, processes=processes)
    failed = 0
    with contextlib.ExitStack() as stack:
        stack.enter_context(pred)  # worker processes, if any, stop with the run
        if demo:
            import tempfile

            from ..io.wfdb_write import write_wfdb
            from ..simulate import simulated_ecg

            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="ecgedge-demo-"))
            items.append(write_wfdb(simulated_ecg(), tmp, "simulated"))
        records: list[str] | Iterator[str] = expand_paths(items)
        bar = None
        if _is_terminal(sys.stderr):
            records = list(records)  # the total, for the rate and the ETA
            bar = stack.enter_context(Progress(len(records)))
        elif processes is None:
            # worker processes or not: count the listing (a directory walk, not a slow source) up to the threshold
            head = list(islice(records, MIN_RECORDS))
            pred.processes = auto_processes(pred.engine.name, len(head))
            records = chain(head, records)
        if output:
            from ..atomic import atomic_open

            fh = stack.enter_context(atomic_open(output, "w"))
        elif bar is not None and bar.shares_terminal(sys.stdout):
            fh = bar.rows()  # rows for the terminal the bar is on: printed above the bar, not through it
        else:
            fh = sys.stdout
        w = Writer(fh, fmt, pred.classes, timeline)
        for p in pred.predict_many(records):
            w.write(p)
            failed += not p.ok
            if bar is not None:
                bar.advance()
            if plot and p.ok and p.path:
                try:
                    plot_record(p, plot)
                except EcgedgeError as exc:
                    note = f"warning: no plot for {p.name}: {exc}"
                    if bar is not None:
                        bar.note(note)
                    else:
                        print(note, file=sys.stderr)
        w.close()
    where = f", {pred.ran_in} worker processes" if pred.ran_in > 1 else ""
    print(f"{w.n} record(s), {failed} failed; model {pred.info.path} ({pred.engine.name}{where})", file=sys.stderr)
    return 1 if failed else 0


def _is_terminal(stream) -> bool:
    try:
        return os.isatty(stream.fileno())
    except (AttributeError, OSError, ValueError):  # replaced or closed streams (tests, embedding)
        return False


class Progress:
    """The progress bar on a terminal's stderr: records done of all, records/s and ETA. Transient: gone when the
    run ends, leaving the results and the summary line."""

    def __init__(self, total: int) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, ProgressColumn, TextColumn, TimeRemainingColumn
        from rich.progress import Progress as Bar
        from rich.text import Text

        class RateColumn(ProgressColumn):
            def render(self, task) -> Text:
                return Text(f"{task.speed:.1f} records/s" if task.speed else "- records/s")

        self.console = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)
        self.progress = Bar(TextColumn("classifying"), BarColumn(), MofNCompleteColumn(), RateColumn(),
                            TextColumn("ETA"), TimeRemainingColumn(), console=self.console, transient=True,
                            redirect_stdout=False, redirect_stderr=False)
        self.task = self.progress.add_task("infer", total=total)

    def __enter__(self) -> Progress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def advance(self) -> None:
        self.progress.advance(self.task)

    def note(self, text: str) -> None:
        """A line on stderr, above the bar."""
        from rich.text import Text

        self.console.print(Text(text))

    def shares_terminal(self, stream) -> bool:
        """Whether ``stream`` is a terminal and the same one as stderr (rows must then not cross the bar)."""
        try:
            a, b = os.fstat(stream.fileno()), os.fstat(sys.stderr.fileno())
            return os.isatty(stream.fileno()) and os.path.samestat(a, b)
        except (AttributeError, OSError, ValueError):
            return False

    def rows(self):
        """A text file whose complete lines the bar's console prints above the bar."""
        import io

        note = self.note

        class AboveBar(io.TextIOBase):
            def __init__(self) -> None:
                self.pending = ""

            def write(self, text: str) -> int:
                self.pending += text
                if "\n" in self.pending:
                    done, self.pending = self.pending.rsplit("\n", 1)
                    note(done)
                return len(text)

            def flush(self) -> None:
                pass

        return AboveBar()
