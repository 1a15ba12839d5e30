"""The ``ecgedge`` command: parse, call the library, print. Nothing else lives here."""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from . import __version__
from .errors import EcgedgeError
from .kinds import ENGINE_CHOICES, ENGINES, EXPORTED  # the names, from the one module that owns them (light)

# no_args_is_help stays off: click < 8.2 answers it with the help and exit code 0, click >= 8.2 with an error
# whose text is the whole help. Without it every click says "Missing command." (a usage error, exit 2), which
# main() turns into one line that lists the commands.
app = typer.Typer(
    name="ecgedge",
    help="Train ECG classifiers and deploy them as compiled, quantized engines at the edge.",
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Read records, load data sets, fetch and prepare data.")
app.add_typer(data_app, name="data")


def _console(stderr: bool = False):
    from rich.console import Console

    # emoji off: ":heart:" in a header comment is text, not a picture
    return Console(stderr=stderr, highlight=False, soft_wrap=True, emoji=False)


def _e(text: object) -> str:
    """User-derived text (paths, header fields, error messages) for a Rich markup string: escaped, so that
    ``a[/b]/r.hea`` prints as itself instead of raising MarkupError and ``[bold]x`` does not vanish; control
    characters shown as escapes, so that a header cannot move the terminal's cursor or retitle its window."""
    from rich.markup import escape

    s = str(text)
    if not s.isprintable():
        s = "".join(ch if ch.isprintable() or ch in "\n\t" else repr(ch)[1:-1] for ch in s)
    return escape(s)


# ---------------------------------------------------------------------------------------- option checks
# Each option checks its own value (click answers a failed check with a usage error: one line, exit 2) rather
# than the command body checking it after work has started.


def _at_least(low: int):
    """A callback refusing whole numbers below ``low``. Not click's ``min=``: its IntRange type answers "abc"
    with "not a valid int range"; the plain int type says "not a valid int(eger)" and this the range."""

    def check(value: int | None) -> int | None:
        if value is not None and value < low:
            raise typer.BadParameter(f"{value} is less than {low}")
        return value

    return check


def _check_hop(value: float | None) -> float | None:
    if value is not None and not (math.isfinite(value) and value > 0):
        raise typer.BadParameter(f"{value!r} is not a positive number of seconds")
    return value


def _check_seconds(value: float) -> float:
    if not (math.isfinite(value) and value > 0):
        raise typer.BadParameter(f"{value!r} is not a positive number of seconds")
    return value


def _check_fs(value: float | None) -> float | None:
    from .streams.base import MAX_FS, MIN_FS

    if value is not None and not (math.isfinite(value) and MIN_FS <= value <= MAX_FS):
        raise typer.BadParameter(f"{value!r} Hz is outside {MIN_FS:g} Hz-{MAX_FS / 1000:g} kHz")
    return value


def _check_gain(value: float | None) -> float | None:
    from .streams.base import gain

    if value is not None:
        try:
            gain(value, "gain")
        except EcgedgeError as exc:
            raise typer.BadParameter(exc.message) from None
    return value


def _check_format(value: str) -> str:
    from .runtime.report import FORMATS

    if value not in FORMATS:
        raise typer.BadParameter(f"unknown format {value!r} (one of {', '.join(FORMATS)})")
    return value


def _comma_list(cast=str, what: str = "values"):
    """A callback reading ``"a,b,c"`` as a tuple of ``cast`` values (None when empty)."""

    def parse(value: str | None) -> tuple | None:
        try:
            items = tuple(cast(v.strip()) for v in (value or "").split(",") if v.strip())
        except ValueError:
            raise typer.BadParameter(f"{value!r} is not a comma-separated list of {what}") from None
        return items or None

    return parse


def _check_batches(value: str) -> tuple[int, ...]:
    sizes = _comma_list(int, "whole numbers")(value)
    if not sizes or min(sizes) < 1:
        raise typer.BadParameter(f"{value!r}: batch sizes must be at least 1")
    return sizes


def _check_engines(value: str | None) -> tuple[str, ...] | None:
    from .kinds import ENGINES

    names = _comma_list()(value)
    bad = [e for e in names or () if e not in ENGINES]
    if bad:
        raise typer.BadParameter(f"unknown engine {bad[0]!r} (one of {', '.join(ENGINES)})")
    return names


_TRUST_HELP = ("Load a .pt2 package or TensorRT engine that this machine's `ecgedge export` did not write. Such "
               "files run code: use only for files whose source you trust (ONNX needs no trust).")


def _version(value: bool) -> None:
    if value:
        print(f"ecgedge {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """ecgedge: ECG classifiers at the edge."""


# --------------------------------------------------------------------------------------- data info
@data_app.command("info")
def data_info(
    path: Annotated[str | None, typer.Argument(
        help="A record (.hea/.mat), a folder, or a data set name (ptbxl, cpsc2018, cinc2021, physionet2017).")] = None,
    demo: Annotated[bool, typer.Option("--demo", help="Summarise the built-in simulated 12-lead record.")] = False,
    task: Annotated[str | None, typer.Option(help="Label task of a data set (e.g. superdiagnostic).")] = None,
    fs: Annotated[float | None, typer.Option(help="PTB-XL: 100 or 500 Hz records.", callback=_check_fs)] = None,
    labels: Annotated[Path | None, typer.Option(help="Labels CSV for a folder of your own records.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Summarise a record (leads, fs, duration, units, labels) or a data set (classes per fold, missing files)."""
    from . import summaries
    from .datasets import DATASETS, detect_dataset, load_dataset

    if demo or path is None:
        if path is None and not demo:
            raise EcgedgeError("give a record, a folder or a data set name", fix="or --demo for a built-in record")
        from .simulate import simulated_ecg

        _print_record(summaries.record_summary(simulated_ecg()), as_json)
        return
    p = Path(path)
    if path in DATASETS and not p.exists():
        ds = load_dataset(path, task=task, fs=fs, labels=labels)
        _print_dataset(summaries.dataset_summary(ds), as_json)
        return
    if p.is_dir():
        kind = "folder" if labels else detect_dataset(p)
        if kind is None:
            _print_folder(summaries.folder_summary(p), as_json)
            return
        ds = load_dataset(kind, p, task=task, fs=fs, labels=labels)
        _print_dataset(summaries.dataset_summary(ds), as_json)
        return
    from .io import read_record

    sig = read_record(p)
    _print_record(summaries.record_summary(sig, summaries.labels_for(sig)), as_json)


def _print_record(s: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(s, indent=1, default=str))
        return
    from rich.table import Table

    c = _console()
    # every cell is Rich markup: whatever came from the record goes through _e
    t = Table(title=f"record {_e(s['record'])}", show_header=False, title_justify="left")
    t.add_column(style="bold")
    t.add_column()
    t.add_row("path", _e(s["path"] or "(built-in simulated record)"))
    t.add_row("leads", f"{s['n_leads']}: {_e(' '.join(s['leads']))}")
    t.add_row("sampling rate", f"{s['fs']:g} Hz")
    t.add_row("duration", f"{s['duration_s']:g} s ({s['samples']} samples)")
    t.add_row("units", _e(", ".join(s["units"])))
    rng = s["range"]
    t.add_row("range", _e("  ".join(f"{k} {v[0]:.2f}..{v[1]:.2f}" for k, v in list(rng.items())[:12])))
    if s["invalid_samples"]:
        t.add_row("invalid samples", str(s["invalid_samples"]))
    if s["labels"]:
        t.add_row("labels", _e(", ".join(s["labels"])))
    for k in ("age", "sex", "base_date", "base_time"):
        if s["meta"].get(k):
            t.add_row(k.replace("_", " "), _e(s["meta"][k]))
    if s["comments"]:
        t.add_row("comments", "\n".join(_e(x) for x in s["comments"][:8]))
    c.print(t)
    for w in s["warnings"]:
        _console(stderr=True).print(f"[yellow]warning:[/] {_e(w)}")


def _print_dataset(s: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(s, indent=1, default=str))
        return
    from rich.table import Table

    c = _console()
    c.print(f"[bold]{_e(s['dataset'])}[/] task [bold]{_e(s['task'])}[/] at {_e(s['root'])}")
    c.print(f"{s['records']} records, {len(s['classes'])} classes "
            f"({'multi-label' if s['multilabel'] else 'single-label'}), "
            f"fs {s['fs'] if s['fs'] else 'mixed'}, folds: {s['fold_source']}")
    t = Table(title="records per class and split (train = folds 1-8, val = 9, test = 10)", title_justify="left")
    t.add_column("class")
    for split in ("train", "val", "test", "total"):
        t.add_column(split, justify="right")
    per = s["per_split"]
    for cls in s["classes"]:
        t.add_row(_e(cls), *(str(per[sp][cls]) for sp in ("train", "val", "test", "total")))
    t.add_row("[bold]records[/]", *(str(per[sp]["records"]) for sp in ("train", "val", "test", "total")))
    c.print(t)
    if s["unlabelled"]:
        c.print(f"{s['unlabelled']} record(s) without a label for this task were dropped")
    if s["missing"]:
        first = ", ".join(s["missing_first"][:5])
        _console(stderr=True).print(
            f"[yellow]warning:[/] {s['missing']} record(s) listed in the labels are not on disk (first: {_e(first)})")
    for n in s["notes"]:
        c.print(f"note: {_e(n)}")


def _print_folder(s: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(s, indent=1, default=str))
        return
    c = _console()
    c.print(f"[bold]{_e(s['folder'])}[/]: {s['wfdb_records']} WFDB record(s), "
            f"{s['mat_files_without_header']} .mat file(s) without a header")
    if s["fs"]:
        c.print("sampling rates: " + _e(", ".join(f"{k} Hz x{v}" for k, v in s["fs"].items())))
        c.print("leads: " + _e(", ".join(f"{k} x{v}" for k, v in s["n_leads"].items())))
    if s["duration_s"]:
        d = s["duration_s"]
        c.print(f"durations: {d['min']:.1f}-{d['max']:.1f} s (median {d['median']:.1f} s, "
                f"total {d['total'] / 3600:.2f} h)")
    for e in s["unreadable"]:
        _console(stderr=True).print(f"[yellow]unreadable:[/] {_e(e)}")


# ------------------------------------------------------------------------------------ data prepare
@data_app.command("prepare")
def data_prepare(
    dataset: Annotated[str, typer.Argument(help="ptbxl, cpsc2018, cinc2021, physionet2017 or folder.")],
    out: Annotated[Path, typer.Option(help="Store folder to write.")],
    root: Annotated[Path | None, typer.Option(help="Data set folder (default: under $ECGEDGE_DATA).")] = None,
    task: Annotated[str | None, typer.Option(help="Label task (default: the data set's own).")] = None,
    fs: Annotated[float | None, typer.Option(help="Store sampling rate (PTB-XL: its 100/500 Hz files).",
                                             callback=_check_fs)] = None,
    labels: Annotated[Path | None, typer.Option(help="Labels CSV (folder data sets).")] = None,
    folds: Annotated[Path | None, typer.Option(help="Folds CSV to reuse (record,fold).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the stratified folds.")] = 0,
    force: Annotated[bool, typer.Option(help="Rebuild even if the store is up to date.")] = False,
    band: Annotated[tuple[float, float] | None, typer.Option(
        help="Band-pass LOW HIGH in Hz (the preprocessing path training and inference share).")] = None,
    norm: Annotated[str | None, typer.Option(help="Per-lead normalisation: zscore, minmax, robust, l2, none.")] = None,
) -> None:
    """Decode a data set once into a memory-mapped store with labels, folds and a manifest."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from .datasets import load_dataset
    from .datasets.registry import files_rate
    from .store import prepare, prepare_spec

    ds = load_dataset(dataset, root, task=task, fs=files_rate(dataset, fs), labels=labels, folds=folds, seed=seed)
    err = _console(stderr=True)
    if ds.missing_summary():
        err.print(f"[yellow]warning:[/] {_e(ds.missing_summary())}")
    spec = prepare_spec(ds, fs, band, norm)
    with Progress(TextColumn("preparing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=err, transient=True, disable=not err.is_terminal) as bar:
        task_id = bar.add_task("prepare", total=len(ds.records))
        result = prepare(ds, out, fs=fs, force=force, preprocessing=spec,
                         progress=lambda i, n: bar.update(task_id, completed=i))
    st = result.store
    verb = "reused (inputs unchanged)" if result.reused else f"built in {result.seconds:.2f} s"
    print(f"{out}: {len(st)} records x {len(st.leads)} leads at {st.fs:g} Hz, {len(st.classes)} classes; {verb}")
    for name, msg in result.failed[:10]:
        err.print(f"[yellow]skipped {_e(name)}:[/] {_e(msg)}")
    if len(result.failed) > 10:
        err.print(f"[yellow]... and {len(result.failed) - 10} more skipped (see manifest.json)[/]")


# -------------------------------------------------------------------------------------- data folds
@data_app.command("folds")
def data_folds(
    dataset: Annotated[str, typer.Argument(help="cpsc2018, cinc2021, physionet2017, folder or ptbxl.")],
    out: Annotated[Path, typer.Option(help="CSV to write (record,patient,fold).")],
    root: Annotated[Path | None, typer.Option(help="Data set folder.")] = None,
    task: Annotated[str | None, typer.Option(help="Label task the folds are stratified on.")] = None,
    labels: Annotated[Path | None, typer.Option(help="Labels CSV (folder data sets).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the stratified folds.")] = 0,
) -> None:
    """Write the data set's folds (official, or stratified and patient-disjoint) so they can be reused."""
    from .datasets import load_dataset

    ds = load_dataset(dataset, root, task=task, labels=labels, seed=seed)
    ds.write_folds(out)
    print(f"{out}: folds of {len(ds)} records ({ds.fold_source})")


# -------------------------------------------------------------------------------------- data fetch
@data_app.command("fetch")
def data_fetch(
    dataset: Annotated[str, typer.Argument(help="ptbxl, cpsc2018, cinc2021, physionet2017 or mitdb.")],
    out: Annotated[Path | None, typer.Option(help="Folder to download into (default: ./data/<name>).")] = None,
    mirror: Annotated[str | None, typer.Option(help="Base URL of a PhysioNet mirror (…/files).")] = None,
    only: Annotated[list[str] | None, typer.Option(help="Glob of files to fetch (repeatable).")] = None,
    retries: Annotated[int, typer.Option(help="Attempts per file.", callback=_at_least(1))] = 4,
) -> None:
    """Download a data set from PhysioNet: resumable, retrying, verified against its SHA256SUMS."""
    from .fetch import fetch

    target = out or Path("data") / dataset
    report = fetch(dataset, target, mirror=mirror, retries=retries, only=only,
                   progress=sys.stderr.isatty())
    print(f"{target}: {report.summary()}")


@data_app.command("list")
def data_list() -> None:
    """The data sets ecgedge loads, and whether each is found under $ECGEDGE_DATA."""
    from .datasets import DATASETS, data_root
    from .datasets.registry import labelled

    print(f"data root: {data_root()} (set ECGEDGE_DATA to change)")
    for name in labelled():
        d = DATASETS[name]
        where = d.default_root()
        found = "-" if where is None else "found" if where.is_dir() else "not found"
        print(f"  {name:<14} {found:<10} tasks: {', '.join(d.tasks):<60} {d.description}")


# ------------------------------------------------------------------------------------------- train
def _needs_torch(what: str) -> None:
    """train, ensemble and export run PyTorch; without it, one line saying how to install it."""
    try:
        import torch  # noqa: F401
    except ImportError:
        raise EcgedgeError(f"{what} needs PyTorch", fix="pip install 'ecgedge[train]'") from None


@app.command("train")
def train_cmd(
    recipe: Annotated[str, typer.Argument(help="Recipe file (.toml), or a name from train/.")],
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override a recipe key, e.g. train.epochs=3.")] = None,
    out: Annotated[Path | None, typer.Option(help="Run folder (default: runs/<recipe name>).")] = None,
    resume: Annotated[bool, typer.Option(help="Continue an interrupted run in --out.")] = False,
    device: Annotated[str | None, typer.Option(help="auto, cpu, cuda or cuda:N (default: the recipe's).")] = None,
    init: Annotated[str | None, typer.Option(help="Start from a pretrained checkpoint (transfer learning).")] = None,
) -> None:
    """Train a model from a recipe; select on the validation fold, report the test fold once."""
    _needs_torch("training")
    from .training.loop import train
    from .training.recipe import load_recipe

    r = load_recipe(recipe, set_, {"transfer.init": init} if init else None)
    run_dir = out or Path("runs") / r.name
    res = train(r, run_dir, resume=resume, device=device, log=lambda m: print(m, flush=True))
    if res.metrics:
        auc, val = res.metrics["test"].get("macro_auroc"), res.metrics["validation"].get("macro_auroc")
        # a split whose test fold is not on disk (the whole of PTB-XL as assembled here) has no test figure, and
        # data.split = "all" neither
        print(f"{res.checkpoint}: " + (f"test macro AUROC {auc:.4f}" if auc is not None else
                                       f"validation macro AUROC {val:.4f}; no test records on disk"
                                       if val is not None else "nothing held out (data.split = all)"))


@app.command("ensemble")
def ensemble_cmd(
    members: Annotated[list[str], typer.Argument(help="Run folders of `ecgedge train` (or their model.safetensors).")],
    out: Annotated[Path, typer.Option(help="Folder for the ensemble's model.safetensors and metrics.json.")],
    name: Annotated[str, typer.Option(help="Name recorded in the checkpoint (default: ensemble-<archs>).")] = "",
    threads: Annotated[int, typer.Option(help="PyTorch threads (0: its default).", callback=_at_least(0))] = 0,
) -> None:
    """Average trained models that share a contract (logits); thresholds on validation, test fold once."""
    _needs_torch("ensembling")
    from .training.ensemble import build_ensemble

    build_ensemble(members, out, name=name, threads=threads, log=lambda m: print(m, flush=True))


# -------------------------------------------------------------------------------------------- infer
@app.command("infer")
def infer_cmd(
    paths: Annotated[list[str] | None,
                     typer.Argument(help="Records (.hea/.mat), folders (recursive) or globs.")] = None,
    model: Annotated[str | None, typer.Option(help="Exported model (.onnx/.engine/.pt2) or a shipped model's name "
                                                   "(default: the shipped PTB-XL model).")] = None,
    engine: Annotated[str, typer.Option(help=", ".join(ENGINE_CHOICES) + ".")] = "auto",
    threads: Annotated[int, typer.Option(help="Engine threads (0: the cores the reading threads leave).",
                                         callback=_at_least(0))] = 0,
    workers: Annotated[int | None, typer.Option(help="Threads decoding and preprocessing records (default: half the "
                                                     "cores, at most 4).",
                                                callback=_at_least(1))] = None,
    batch: Annotated[int | None, typer.Option(help="Windows per engine call (default: 64 on onnxruntime's CPU engine, "
                                                    "256 on GPU engines).", callback=_at_least(1))] = None,
    processes: Annotated[int | None, typer.Option(
        help="Worker processes for files (default: one per core, up to 8, for 2,000 records or more on 4 cores or "
             "more; 1: this process only).", callback=_at_least(1))] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, json, jsonl or csv.", callback=_check_format)] = "table",
    output: Annotated[str | None, typer.Option("--output", "-o", help="Write results here (default: stdout).")] = None,
    timeline: Annotated[bool, typer.Option(help="Add one row per window (start time, probabilities).")] = False,
    plot: Annotated[str | None, typer.Option(help="Write a PNG per record into this folder.")] = None,
    demo: Annotated[bool, typer.Option("--demo", help="Classify the built-in simulated 12-lead ECG "
                                                      "(written as a WFDB record first).")] = False,
    stream: Annotated[str | None, typer.Option(help="Classify a live source: a record to replay, '-' (stdin), "
                                                    "serial:PORT, brainflow:synthetic|ID, lsl:NAME.")] = None,
    hop: Annotated[float | None,
                   typer.Option(help="Stream: seconds between outputs (default: the model's stride).",
                                callback=_check_hop)] = None,
    realtime: Annotated[bool, typer.Option(help="Stream: replay a file at its real speed.")] = False,
    fs: Annotated[float | None, typer.Option(help="Stream (stdin/serial): sampling rate in Hz (1-100000).",
                                             callback=_check_fs)] = None,
    leads: Annotated[str | None,
                     typer.Option(help="Stream (stdin/serial/brainflow): comma-separated lead names.")] = None,
    dtype: Annotated[str | None, typer.Option(help="Stream (stdin/serial binary): int16 or float32.")] = None,
    gain: Annotated[float | None, typer.Option(help="Stream: digital units per mV (int16 input).",
                                               callback=_check_gain)] = None,
    baud: Annotated[int | None, typer.Option(help="Stream (serial): baud rate.", callback=_at_least(1))] = None,
    protocol: Annotated[str | None, typer.Option(help="Stream (serial): text or binary.")] = None,
    channels: Annotated[str | None, typer.Option(help="Stream (brainflow): board rows to use, e.g. 1,2,3.")] = None,
    allow_causal: Annotated[bool, typer.Option(help="Stream: accept causal filtering for a zero-phase model.")] = True,
    trust_model: Annotated[bool, typer.Option("--trust-model", help=_TRUST_HELP)] = False,
    lead: Annotated[str | None, typer.Option(
        help="The record's (or stream's) lead a single-lead model reads (default: the model's own lead, else the "
             "only lead, else lead I, II or MLII, with a warning).")] = None,
) -> None:
    """Classify records with an exported model: probabilities and decisions per class, per record."""
    if stream:
        from .runtime.live import run_stream

        given = dict(fs=fs, leads=leads, dtype=dtype, gain=gain, baud=baud, protocol=protocol, channels=channels,
                     realtime=realtime or None)
        code = run_stream(stream, model=model, engine=engine, threads=threads, hop=hop, fmt=fmt, output=output,
                          allow_causal=allow_causal, trust_model=trust_model, lead=lead,
                          source_options={k: v for k, v in given.items() if v is not None})
    else:
        from .runtime.infer import run_files

        code = run_files(paths or [], model=model, engine=engine, threads=threads, workers=workers, batch=batch,
                         processes=processes, fmt=fmt, output=output, timeline=timeline, plot=plot, demo=demo,
                         trust_model=trust_model, lead=lead)
    raise typer.Exit(code)


# -------------------------------------------------------------------------------------------- bench
@app.command("bench")
def bench_cmd(
    models: Annotated[list[str] | None, typer.Argument(
        help="Exported models (.onnx/.engine/.pt2), folders of them, or shipped names (default: the shipped "
             "models).")] = None,
    engines: Annotated[str | None, typer.Option(help=f"Comma-separated: {', '.join(ENGINES)} "
                                                     "(default: every engine that runs each model here).",
                                                callback=_check_engines)] = None,
    precisions: Annotated[str | None, typer.Option(help="Comma-separated: fp32, fp16, int8 (default: all).",
                                                   callback=_comma_list(str.lower))] = None,
    batches: Annotated[str, typer.Option(help="Batch sizes for the throughput sweep.",
                                         callback=_check_batches)] = "1,8,32,128,512",
    threads: Annotated[int, typer.Option(help="Engine intra-op threads (0: the engine's choice).",
                                         callback=_at_least(0))] = 0,
    seconds: Annotated[float, typer.Option(help="Wall time per latency and per throughput measurement.",
                                           callback=_check_seconds)] = 1.0,
    data: Annotated[str | None, typer.Option(help="Held-out records: a data set name or a folder (default: the "
                                                  "test folds the model's contract names).")] = None,
    labels: Annotated[str | None, typer.Option(help="Labels CSV for --data FOLDER.")] = None,
    folds: Annotated[str | None, typer.Option(help="Held-out folds, e.g. 10 (default: the contract's).",
                                              callback=_comma_list(int, "whole numbers"))] = None,
    max_records: Annotated[int, typer.Option(help="Use at most this many held-out records (0: all).",
                                             callback=_at_least(0))] = 0,
    accuracy: Annotated[bool, typer.Option(help="Measure AUROC on the held-out records.")] = True,
    out: Annotated[str, typer.Option("--out", "-o", help="Folder for bench.json and bench.png.")] = "bench-results",
    name: Annotated[str, typer.Option(help="File stem of the JSON and PNG.")] = "bench",
    markdown: Annotated[bool, typer.Option(help="Also print the table as Markdown (for a README).")] = False,
    trust_model: Annotated[bool, typer.Option("--trust-model", help=_TRUST_HELP)] = False,
) -> None:
    """Latency, throughput, memory and held-out AUROC for each model x engine x precision, on this machine."""
    from .runtime import bench

    # the comma-separated options arrive as tuples, read and checked by their callbacks
    opts = bench.BenchOptions(engines=engines, precisions=precisions, batches=batches, threads=threads,
                              seconds=seconds, accuracy=accuracy, data=data, labels=labels, folds=folds,
                              max_records=max_records, trust_model=trust_model)
    machine = bench.machine_report()
    rows, settings = bench.run_bench(models, opts, log=lambda m: print(m, file=sys.stderr, flush=True))
    if not rows:
        raise EcgedgeError("nothing was measured", where="ecgedge bench",
                           fix="check --engines/--precisions against the models given")
    Path(out).mkdir(parents=True, exist_ok=True)
    js, png = Path(out) / f"{name}.json", Path(out) / f"{name}.png"
    bench.write_results(rows, settings, machine, js)
    cpu = machine.get("cpu_model") or machine.get("machine")
    gpus = ", ".join(g["name"] for g in machine.get("gpus") or [])
    title = f"{cpu}, {machine.get('cores')} cores" + (f", {gpus}" if gpus else "")
    print(bench.table(rows))
    if markdown:
        print()
        print(bench.markdown(rows))
    drawn = bench.plot(rows, png, title)
    print(f"\nmachine: {title}; held-out: {next((r.heldout for r in rows if r.heldout), 'not measured')}",
          file=sys.stderr)
    print(f"wrote {js}" + (f" and {png}" if drawn else " (no plot: pip install 'ecgedge[plot]' for matplotlib)"),
          file=sys.stderr)
    failed = [r for r in rows if r.status == "failed"]
    raise typer.Exit(1 if failed else 0)


# ------------------------------------------------------------------------------------------- export
@app.command("export")
def export_cmd(
    checkpoint: Annotated[str, typer.Argument(help="A checkpoint written by `ecgedge train` (.safetensors).")],
    profile: Annotated[str | None, typer.Option(
        help="Profile TOML (export/NAME.toml) or a built-in name: cpu-int8, desktop-gpu-fp16, jetson-orin-int8, "
             "jetson-nano-fp16.")] = None,
    int8: Annotated[bool | None, typer.Option("--int8/--no-int8", help="Calibrated INT8 (QDQ) ONNX.")] = None,
    fp16: Annotated[bool | None, typer.Option("--fp16/--no-fp16", help="FP16 ONNX for GPUs.")] = None,
    target: Annotated[list[str] | None, typer.Option(
        help=f"{EXPORTED[0]} (always), {', '.join(EXPORTED[1:])}; repeat for several.")] = None,
    flavour: Annotated[str | None, typer.Option(help="INT8 flavour: cpu (U8S8) or tensorrt (S8S8 symmetric).")] = None,
    calib: Annotated[str | None, typer.Option(help="Folder of records to calibrate on (default: the training split "
                                                   "of the checkpoint's data).")] = None,
    calib_size: Annotated[int | None, typer.Option(help="Calibration windows (default 512).",
                                                   callback=_at_least(1))] = None,
    calib_method: Annotated[str | None, typer.Option(help="percentile (default), minmax or entropy.")] = None,
    per_channel: Annotated[bool | None, typer.Option("--per-channel/--per-tensor", help="Weight scales.")] = None,
    reduce_range: Annotated[bool | None,
                            typer.Option("--reduce-range", help="7-bit weights for CPUs without VNNI.")] = None,
    max_drop: Annotated[float | None, typer.Option(help="Largest validation macro-AUROC drop allowed (0.005).")] = None,
    allow_drop: Annotated[bool | None,
                          typer.Option("--allow-drop", help="Write INT8/FP16 even above --max-drop.")] = None,
    keep_float: Annotated[str | None, typer.Option(help="'auto': keep the most sensitive layers in float until the "
                                                        "gate passes; or comma-separated node names.")] = None,
    pt2_device: Annotated[str | None, typer.Option(help="Device of the .pt2 package: cpu or cuda.")] = None,
    out: Annotated[str | None, typer.Option(help="Output folder (default: export/ beside the checkpoint).")] = None,
    name: Annotated[str | None, typer.Option(help="File name stem (default: the architecture).")] = None,
    force: Annotated[bool, typer.Option(help="Replace existing artefacts.")] = False,
    threads: Annotated[int, typer.Option(help="CPU threads for export checks (0: all).", callback=_at_least(0))] = 0,
) -> None:
    """Export a checkpoint to ONNX FP32 (+ INT8, FP16, TensorRT, .pt2), checking each against the original."""
    _needs_torch("export")
    from .export.pipeline import load_profile, options_from, run_export

    opts = options_from(load_profile(profile) if profile else None, int8=int8, fp16=fp16,
                        targets=(["onnx", *target] if target else None), flavour=flavour, calib=calib,
                        calib_size=calib_size, method=calib_method, per_channel=per_channel,
                        reduce_range=reduce_range, max_drop=max_drop, allow_drop=allow_drop, keep_float=keep_float,
                        pt2_device=pt2_device, out=out, name=name, force=force or None, threads=threads or None)
    run_export(checkpoint, opts, log=lambda m: print(m, flush=True))


# --------------------------------------------------------------------------------------------- info
def _members(kw) -> str:
    """`` of 2 x resnet1d_wang`` for an ensemble's arch kwargs, else ''."""
    members = (kw or {}).get("members") if isinstance(kw, dict) else None
    if not members:
        return ""
    archs = [m.get("arch", "?") for m in members if isinstance(m, dict)]
    return " of " + (f"{len(archs)} x {archs[0]}" if len(set(archs)) == 1 else " + ".join(archs))


@app.command("info")
def info_cmd(
    model: Annotated[str, typer.Argument(help="An exported model (.onnx, .engine, .pt2), a checkpoint, or a "
                                                "shipped model's name.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Print a model's contract: classes, input (leads, fs, window, filtering), thresholds, provenance."""
    from .artifact import read_info
    from .zoo import ALIASES, shipped

    models = shipped()  # a shipped model's name (or former name), as --model takes it
    card = models.get(model) or models.get(ALIASES.get(model, ""))
    d = read_info(card["path"] if card else model).describe()
    from .trust import is_recorded, runs_code, sha256_file

    if runs_code(d["kind"]):  # say so before anyone tries to load it (reading the sidecar ran nothing)
        d["runs_code"] = True
        d["trusted_here"] = is_recorded(sha256_file(d["path"]))
    if as_json:
        print(json.dumps(d, indent=1, default=float))
        return
    inp = d["input"]
    rows = [("file", f"{d['path']} ({d['kind']}, {d['precision']}"
                     f"{', ' + d['flavour'] if d.get('flavour') else ''}, "
                     f"{(d['size_bytes'] or 0) / 1e6:.2f} MB)"),
            ("architecture", f"{d.get('arch') or '?'}" + _members(d.get("arch_kwargs"))
                             + (f" ({d['n_parameters']:,} parameters)" if d.get("n_parameters") else "")),
            ("task", f"{d['dataset']} {d['task']}".strip() or "-"),
            ("classes", ", ".join(d["classes"]) + ("" if d["multilabel"] else "  (one of)")),
            ("thresholds", ", ".join(f"{c} {t:.3f}" for c, t in zip(d["classes"], d["thresholds"]))
             if d["thresholds"] else "-"),
            ("leads", " ".join(inp["leads"])),
            ("input", f"{inp['fs']:g} Hz, {inp['units']}, window {inp['window']} samples "
                      f"({inp['window_seconds']:g} s), "
                      f"stride {inp['stride']}, {inp['aggregate']} over windows"),
            ("filter", (f"band-pass {inp['band'][0]}-{inp['band'][1]} Hz"
                        f"{' zero-phase' if inp['zero_phase'] else ' causal'}") if inp["band"] else "none"),
            ("normalisation", "none (amplitudes in mV)" if inp["norm"] == "none"
             else f"{inp['norm']} per {inp['norm_scope']}")]
    gate = d.get("gate")
    if gate:
        rows.append(("accuracy check", f"validation macro AUROC {gate['macro_auroc']:.4f} vs FP32 "
                                       f"{gate['macro_auroc_fp32']:.4f} (drop {gate['drop']:+.4f})"))
    m = d.get("metrics") or {}
    if m.get("test_macro_auroc") is not None:
        ci = m.get("test_macro_auroc_ci") or [float("nan")] * 2
        rows.append(("test (checkpoint)", f"macro AUROC {m['test_macro_auroc']:.4f} [95% CI {ci[0]:.3f}-{ci[1]:.3f}]"))
    if d.get("created"):
        rows.append(("created", f"{d['created']} by ecgedge {d.get('ecgedge_version', '?')}"))
    if d.get("runs_code"):
        rows.append(("security", "this file type can run code; " + (
            "written by this machine's `ecgedge export`: loads as it is" if d["trusted_here"]
            else "not written by this machine's export: loads only with --trust-model")))
    w = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{w}}  {v}")


def _click_errors() -> tuple[type[Exception], type[Exception]]:
    """``(ClickException, UsageError)`` of the click that typer runs on. typer >= 0.28 carries its own copy
    (``typer._click``) and need not install click; older typer uses the click package. Both are found from
    the classes typer exports, so ``import click`` is never needed (it fails where typer vendors click)."""
    by_name = {c.__name__: c for c in typer.BadParameter.__mro__}
    return by_name["ClickException"], by_name["UsageError"]


def _usage_line(exc: Exception) -> str:
    """A usage error as one line: what is wrong, the command's usage, where the help is."""
    ctx = getattr(exc, "ctx", None)
    msg = " ".join(str(exc.format_message() if hasattr(exc, "format_message") else exc).split())
    if ctx is None:
        return f"error: {msg}"
    if msg.rstrip(".") == "Missing command":
        names = list(ctx.command.list_commands(ctx)) if hasattr(ctx.command, "list_commands") else []
        if names:
            msg = f"missing command: one of {', '.join(names)}"
    usage = " ".join(ctx.get_usage().split())
    return f"error: {msg} ({usage}; see '{ctx.command_path} --help')"


def main() -> None:
    """Entry point: ecgedge's own errors and usage errors become one clear line and an exit code (2), an
    unexpected exception the one "please report" line (3); never a traceback (unless ECGEDGE_DEBUG is set)."""
    click_exception, usage_error = _click_errors()
    if sys.argv[1:2] != ["train"]:
        # numpy's OpenBLAS starts a thread per core at import that busy-waits for work: 0.1 s of CPU per `ecgedge
        # infer` here (0.37 against 0.27 s), taken from the cores the records are read on. Nothing but training does
        # BLAS work worth threads. Before numpy's import (nothing above imports it), and only where unset.
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    try:
        rc = app(standalone_mode=False)
        if isinstance(rc, int) and rc:
            sys.exit(rc)  # typer.Exit(n) comes back as a return value without standalone mode
    except EcgedgeError as exc:
        _console(stderr=True).print(f"[red]error:[/] {_e(' '.join(str(exc).splitlines()))}", highlight=False)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except SystemExit:
        raise
    except typer.Exit as exc:  # raised outside a command (e.g. by an eager --version)
        sys.exit(exc.exit_code)
    except typer.Abort:
        print("aborted", file=sys.stderr)
        sys.exit(130)
    except usage_error as exc:
        print(_usage_line(exc), file=sys.stderr)
        sys.exit(2)
    except click_exception as exc:  # e.g. a file click could not open
        print(f"error: {' '.join(exc.format_message().split())}", file=sys.stderr)
        sys.exit(getattr(exc, "exit_code", 1) or 1)
    except Exception as exc:  # noqa: BLE001 - the last line of defence of a command-line tool
        if os.environ.get("ECGEDGE_DEBUG"):
            raise
        print(f"error: unexpected {type(exc).__name__}: {' '.join(str(exc).split())} "
              "(this is a bug in ecgedge; rerun with ECGEDGE_DEBUG=1 for the traceback and report it)",
              file=sys.stderr)
        sys.exit(3)
