"""``Predictor``: records (files, folders, signals) in; per-class probabilities and decisions out.

Each record is conformed to the model's contract: leads mapped by name (aliases included; missing
limb leads derived from I and II, with a warning, where the contract allows), resampled, filtered and
normalised by the preprocessing kernel, cut into the contract's windows; the windows' probabilities
are aggregated as the contract says. Records are decoded and preprocessed on worker threads (the
kernel releases the GIL) and their windows batched together for the engine; at most a few batches
are in flight, so memory stays bounded on a folder of any size. torch is never imported (except by
the ``pt2`` engine).
"""

from __future__ import annotations

import glob
import os
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..datasets.registry import RECORD_SUFFIXES, record_files
from ..errors import EcgedgeError, OptionError
from ..leads import check_lead_option, normalize_lead, single_lead_source
from ..quality import Quality
from .engines import open_model
from .post import aggregate, decisions, probabilities
from .processes import auto_processes, usable_cores


@dataclass
class Prediction:
    name: str
    path: str | None
    classes: tuple[str, ...]
    probabilities: np.ndarray | None = None  # float64 [classes]
    decisions: np.ndarray | None = None  # bool [classes]
    n_windows: int = 0
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    #: per-window probabilities [windows, classes] and window start times (s), for --timeline
    window_probabilities: np.ndarray | None = None
    window_starts: np.ndarray | None = None
    duration: float = 0.0
    fs: float = 0.0
    leads: tuple[str, ...] = ()
    #: the signal-quality verdict (:mod:`ecgedge.quality`); a ``poor`` record decides no class
    quality: Quality | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def as_dict(self) -> dict:
        d: dict = {"record": self.name, "path": self.path}
        if self.ok:
            d.update({c: float(p) for c, p in zip(self.classes, self.probabilities)})
            d["positive"] = [c for c, yes in zip(self.classes, self.decisions) if yes]
            d["windows"] = self.n_windows
        d["quality"] = self.quality.summary() if self.quality is not None else None
        d["quality_score"] = round(self.quality.score, 3) if self.quality is not None else None
        d["warnings"] = list(self.warnings)
        d["error"] = self.error
        return d


# ------------------------------------------------------------------------------------------------
# Finding records
# ------------------------------------------------------------------------------------------------


def expand_paths(items: Iterable[str]) -> Iterator[str]:
    """Files, folders (recursively) and globs -> record paths, each once, folders in sorted order.

    A ``.mat`` with a ``.hea`` beside it is the header's signal file, not a record of its own."""
    seen: set[str] = set()

    def emit(p: Path):
        key = os.path.normpath(str(p.with_suffix("") if p.suffix.lower() in RECORD_SUFFIXES else p))
        if key not in seen:
            seen.add(key)
            yield str(p)

    for item in items:
        hits = [item] if os.path.exists(item) or not glob.has_magic(item) else sorted(glob.glob(item, recursive=True))
        if not hits:
            yield item  # reported as that record's error
            continue
        for h in hits:
            p = Path(h)
            if p.is_dir():
                for f in record_files(p):
                    yield from emit(f)
            else:
                yield from emit(p)


# ------------------------------------------------------------------------------------------------
# Conforming a record to the contract
# ------------------------------------------------------------------------------------------------

#: Limb leads from two others (Einthoven: III = II - I; Goldberger's augmented leads).
_DERIVE = {
    "III": (("I", "II"), lambda i, ii: ii - i),
    "aVR": (("I", "II"), lambda i, ii: -(i + ii) / 2),
    "aVL": (("I", "II"), lambda i, ii: i - ii / 2),
    "aVF": (("I", "II"), lambda i, ii: ii - i / 2),
}


def _model_hint(leads) -> str:
    """The fix for a record whose leads a model lacks: a shipped model that fits, if there is one."""
    from ..zoo import shipped

    def fits_model(needed) -> bool:
        return single_lead_source(leads, needed) is not None or set(needed) <= set(leads)

    fits = [name for name, card in shipped().items() if fits_model(card["contract"]["preprocessing"]["leads"])]
    hint = f", e.g. the shipped {' or '.join(f'--model {n}' for n in fits)}" if fits else ""
    return f"use a model trained on the leads this record has{hint}; `ecgedge info MODEL` lists a model's leads"


def conform_leads(sig, needed: tuple[str, ...], allow_derived: bool = True, lead: str | None = None):
    """``sig`` with every lead in ``needed`` present: limb leads derived from I and II where missing; for a
    single-lead model, the one lead :func:`~ecgedge.leads.single_lead_source` picks (``lead``: ``--lead``)."""
    src = single_lead_source(sig.leads, needed, lead, path=sig.path or sig.name)
    if src is not None:
        i, note = src
        one = replace(sig, data=sig.data[i:i + 1], leads=(normalize_lead(needed[0]),),
                      units=tuple(sig.units[i:i + 1]) or ("mV",))
        return one, [note] if note else []
    have = set(sig.leads)
    missing = [lead for lead in needed if normalize_lead(lead) not in have]
    if not missing:
        return sig, []
    derivable = [m for m in missing if m in _DERIVE and all(s in have for s in _DERIVE[m][0])]
    if not allow_derived or len(derivable) != len(missing):
        hard = [m for m in missing if m not in derivable] if allow_derived else missing
        raise EcgedgeError(
            f"lacks lead(s) {', '.join(hard)} that the model needs (record has {', '.join(sig.leads) or 'none'})",
            path=sig.path or sig.name, where="leads",
            fix=_model_hint(sig.leads))

    rows, names, units = [sig.data], list(sig.leads), list(sig.units)
    for m in derivable:
        (a, b), f = _DERIVE[m]
        ia, ib = sig.leads.index(a), sig.leads.index(b)
        rows.append(f(sig.data[ia], sig.data[ib])[None].astype(np.float32))
        names.append(m)
        units.append(sig.units[ia] if ia < len(sig.units) else "mV")
    out = replace(sig, data=np.concatenate(rows), leads=tuple(names), units=tuple(units))
    return out, [f"lead(s) {', '.join(derivable)} derived from I and II (Einthoven/Goldberger)"]


def conform(sig, contract, lead: str | None = None):
    """``sig`` checked against and completed for the contract (rate high enough for the band, every lead
    present or derivable); returns it and the warnings. Preprocessing (resampling, filtering,
    normalisation, windows) is the kernel's, after this."""
    band = contract.preprocessing.band
    hi = band[1] if band else None
    if hi and sig.fs / 2 <= hi:
        raise EcgedgeError(
            f"sampled at {sig.fs:g} Hz, which cannot hold the {hi:g} Hz that the model's band-pass keeps "
            f"(needs more than {2 * hi:g} Hz)", path=sig.path or sig.name, where="fs",
            fix="use a model trained with a lower band edge or a recording at a higher rate")
    return conform_leads(sig, contract.leads, bool(contract.extra.get("derive_limb_leads", True)), lead)


def quality_gate(sig, contract, had: tuple[str, ...]):
    """The signal-quality verdict on the model's leads of the conformed ``sig`` (raw: its own rate and units), whose
    reader gave leads ``had``. Returns the signal, the verdict and warnings.

    Limb leads derived from I and II are judged through I and II. A limb lead the record has but whose signal is
    poor is replaced the same way, with a warning, when I and II are fine: a lead off is treated as a missing lead."""
    from ..dsp.pipeline import unit_scale
    from ..quality import assess

    names = [normalize_lead(lead) for lead in contract.leads]
    idx = [sig.leads.index(n) for n in names]
    scale = [unit_scale(sig.units[i] if i < len(sig.units) else "mV") or 1.0 for i in idx]
    derived = [n for n in names if n not in had and n in _DERIVE] if len(names) > 1 else []  # one lead: read
    rows = sig.data if idx == list(range(sig.n_leads)) else sig.data[idx]  # no copy when the order is the model's
    q = assess(rows, sig.fs, names, scale=scale, skip=derived)
    poor = set(q.faults)
    if (q.ok or not poor or not poor <= set(_DERIVE) or "I" not in sig.leads or "II" not in sig.leads
            or not bool(contract.extra.get("derive_limb_leads", True))
            or any(r.startswith("no QRS") for r in q.reasons)):
        return sig, q, []
    data = sig.data.copy()
    i, ii = data[sig.leads.index("I")], data[sig.leads.index("II")]
    for m in sorted(poor):
        data[sig.leads.index(m)] = _DERIVE[m][1](i, ii)
    why = "; ".join(q.reasons)  # every reason is about one of these limb leads (a "no QRS" one returned above)
    q = assess(data[idx], sig.fs, names, scale=scale, skip=derived + sorted(poor))
    return replace(sig, data=data), q, [f"{why}: lead(s) {', '.join(sorted(poor))} derived from I and II instead "
                                        "(Einthoven/Goldberger)"]


def prepare_record(item, contract, pre, gate: bool = True, lead: str | None = None
                   ) -> tuple[Prediction, np.ndarray | None]:
    """Read (if a path) and preprocess one record for ``contract`` with the Preprocessor ``pre``: its Prediction
    shell and its windows ``[n, leads, window]`` (or the Prediction with ``error`` set and None). ``gate``: judge
    the raw signal's quality first (:func:`quality_gate`). ``lead``: a single-lead model's lead (``--lead``); a
    record without it raises :class:`~ecgedge.errors.OptionError` (the option is wrong, not the record)."""
    from ..signal import Signal

    name = item.name if isinstance(item, Signal) else Path(os.fspath(item)).stem
    path = item.path if isinstance(item, Signal) else os.fspath(item)
    pred = Prediction(name, path, contract.classes)
    try:
        if isinstance(item, Signal):
            sig = item
        else:
            from ..io import read_record

            sig = read_record(path)
        pred.warnings.extend(sig.warnings)
        pred.duration, pred.fs, pred.leads = sig.duration, sig.fs, sig.leads
        had = sig.leads
        sig, notes = conform(sig, contract, lead)
        pred.warnings.extend(notes)
        if gate:
            sig, pred.quality, notes = quality_gate(sig, contract, had)
            pred.warnings.extend(notes)
        out = pre(sig)
        pred.warnings.extend(out.warnings)
        p = contract.preprocessing
        if out.samples < p.window:
            pred.warnings.append(f"record is {sig.duration:.2f} s, shorter than the model's "
                                 f"{p.window / p.fs:g}-s window: padded ({p.pad})")
        pred.window_starts = out.starts / p.fs  # where the kernel cut each window, in seconds
        return pred, out.x
    except OptionError:
        raise
    except EcgedgeError as exc:
        pred.error = str(exc)
    except (OSError, ValueError, MemoryError) as exc:  # unreadable file system objects, absurd sizes
        pred.error = f"{path}: {type(exc).__name__}: {exc}"
    return pred, None



# ------------------------------------------------------------------------------------------------
# The predictor
# ------------------------------------------------------------------------------------------------


class _Inline:
    """An executor that runs each task at once in the calling thread (``workers=0``)."""

    def __enter__(self) -> _Inline:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def submit(self, fn, *args) -> Future:
        f: Future = Future()
        try:
            f.set_result(fn(*args))
        except BaseException as exc:  # noqa: BLE001 - raised by result(), as a thread pool's would be
            f.set_exception(exc)
        return f


#: windows in the engine's first batch of a predict_many (then doubled up to the batch) and the most in a batch once
#: the input is read
RAMP = 8


def default_batch(engine: str) -> int:
    """Windows per engine call when none is asked for: 64 on onnxruntime's CPU engine, 256 on the others (GPUs).

    On the CPU a batch is also the grain of the pipeline that overlaps reading with the engine: the first batch's
    records are read with nothing to overlap, and the last batch runs with nothing left to read. Over the 500 shared
    500 Hz PTB-XL records, 64 against 256 read 1,382-1,495 against 1,230-1,388 records/s (best of 7, three runs
    interleaved on the 2-core VM; 32 and 128 were in between), and no slower over 1,000."""
    return 64 if engine == "ort" else 256


def split_cores(cores: int, readers: int) -> int:
    """The engine's threads when none are asked for: the cores that ``readers`` threads reading records leave (at
    least one). Reading a 12-lead record costs about what the engine's pass over it does, so the default readers
    (half the cores, at most 4) and the engine split the cores. On the 2-core VM, one reader and one engine thread
    against onnxruntime's own choice (a thread per core) and two readers: 1,458-1,470 against 1,296-1,344 records/s
    over 100 shared 500 Hz PTB-XL records, 1,550-1,609 against 1,452-1,521 over 500 and 1,661 against 1,473-1,508
    over 1,000 (medians of 10 interleaved runs, two sessions)."""
    return max(1, cores - readers)


class Predictor:
    """``Predictor(model).predict(path_or_signal)``; ``predict_many(paths)`` for folders.

    ``model``: an exported model file (.onnx / .engine / .pt2) or None for the shipped default.
    ``trust_model``: load a .pt2/.engine (files that can run code) that this machine's export did not write.
    ``threads``: the engine's threads (0: :func:`split_cores`). ``workers``: threads reading and preparing records
    in :meth:`predict_many` (None: half the cores, at most 4; 0: the calling thread, between engine calls).
    ``batch``: windows per engine call (None: :func:`default_batch`).
    ``lead``: the record lead a single-lead model reads (default: :func:`~ecgedge.leads.single_lead_source`'s rule).
    ``processes``: worker processes for :meth:`predict_many` (:mod:`.processes`; None: one per core for a list or
    tuple of :data:`~ecgedge.runtime.processes.MIN_RECORDS` records or more on onnxruntime's CPU engine, on machines
    with :data:`~ecgedge.runtime.processes.MIN_CORES` cores or more, else none).
    They start on first use and stay until :meth:`close` (or the end of a ``with`` block)."""

    def __init__(self, model: str | os.PathLike[str] | None = None, *, engine: str = "auto", threads: int = 0,
                 batch: int | None = None, workers: int | None = None, backend: str | None = None,
                 trust_model: bool = False, quality_gate: bool = True, lead: str | None = None,
                 processes: int | None = None) -> None:
        if processes is not None and processes < 1:
            raise OptionError(f"processes must be at least 1, not {processes}", where="--processes",
                              fix="1 classifies in this process; leave it out for one per core on large inputs")
        cores = usable_cores()
        #: threads reading and preparing records; 0: the calling thread does it, between engine calls (what a worker
        #: process does: its core has nothing else to overlap with, and the hand-over cost 10-15 % of its time)
        self.workers = max(1, min(4, cores // 2)) if workers is None else max(0, workers)
        # the engine's threads, unless chosen: the cores the readers leave (see split_cores)
        self.info, self.engine = open_model(model, engine, threads or split_cores(cores, self.workers),
                                            trust_model=trust_model)
        if (processes or 1) > 1 and self.engine.name != "ort":
            raise OptionError(f"worker processes run onnxruntime's CPU engine, not {self.engine.name}",
                              where="--processes", fix="leave --processes out, or use --engine ort with an .onnx model")
        self.contract = self.info.contract
        check_lead_option(self.contract.leads, lead)
        self.lead = lead
        from ..dsp import Preprocessor

        self.pre = Preprocessor(self.contract.preprocessing, backend=backend)
        self.batch = max(1, min(batch or default_batch(self.engine.name), self.engine.max_batch))
        #: judge each record's signal quality first (:mod:`ecgedge.quality`); off only to measure what it costs
        self.quality_gate = quality_gate
        #: records read ahead of the engine in :meth:`predict_many`; None: about a batch of windows
        self.read_ahead: int | None = None
        self.processes = processes
        #: worker processes the last :meth:`predict_many` ran in (1: this process)
        self.ran_in = 1
        self._backend = backend
        self._pool = None

    def __enter__(self) -> Predictor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the worker processes, if any were started (a later :meth:`predict_many` starts them again)."""
        if self._pool is not None:
            pool, self._pool = self._pool, None
            pool.close()

    @property
    def classes(self) -> tuple[str, ...]:
        return self.contract.classes

    # -- one record -------------------------------------------------------------------------------
    def prepare(self, item) -> tuple[Prediction, np.ndarray | None]:
        """Read (if a path) and preprocess one record: its Prediction shell and its windows (or an error)."""
        return prepare_record(item, self.contract, self.pre, self.quality_gate, self.lead)

    def _finish(self, pred: Prediction, logits: np.ndarray) -> Prediction:
        wp = probabilities(logits, self.contract.multilabel)
        pred.window_probabilities = wp
        pred.n_windows = len(wp)
        pred.probabilities = aggregate(wp, np.zeros(len(wp), np.intp), 1, self.contract.aggregate)[0]
        pred.decisions = decisions(pred.probabilities, self.contract.thresholds, self.contract.multilabel,
                                   self.contract.decision_weights)
        if pred.quality is not None and not pred.quality.ok:
            pred.decisions[:] = False  # poor signal: the probabilities are reported, no class is decided
        return pred

    def _run(self, x: np.ndarray) -> np.ndarray:
        return np.concatenate([self.engine.run(x[s:s + self.batch]) for s in range(0, len(x), self.batch)])

    def predict(self, item) -> Prediction:
        """One record: a path (.hea/.mat/record name) or a :class:`~ecgedge.signal.Signal`. Errors are
        raised (for folders, :meth:`predict_many` turns them into error rows)."""
        pred, x = self.prepare(item)
        if x is None:
            raise EcgedgeError(pred.error or "cannot be processed")
        return self._finish(pred, self._run(x))

    # -- many records ---------------------------------------------------------------------------------
    def predict_many(self, items: Iterable) -> Iterator[Prediction]:
        """Predictions in input order; a record that fails is a Prediction with ``error`` set. Runs in worker
        processes where ``processes`` says so (see the class), else on this process's threads."""
        # auto: by the input's size where it has one (a list, a tuple); an iterator is not read ahead to count it
        # (it may be a slow source whose first records should not wait), so it stays in this process
        n = self.processes or (auto_processes(self.engine.name, len(items)) if hasattr(items, "__len__") else 1)
        items = iter(items)
        self.ran_in = n
        if n > 1:
            here = lambda block: list(self._predict_here(iter(block)))  # noqa: E731 - the first chunks, here
            yield from self._record_pool(n).predict_many(items, here=here)
        else:
            yield from self._predict_here(items)

    def _record_pool(self, n: int):
        """The worker processes (:class:`~.processes.RecordPool`), started or restarted for these settings."""
        from .processes import RecordPool

        settings = dict(model=self.info.path, engine="ort", threads=1, batch=self.batch, workers=0,
                        backend=self._backend, quality_gate=self.quality_gate, lead=self.lead, processes=1)
        if self._pool is not None and (self._pool.settings != settings or self._pool.processes != n
                                       or not self._pool.alive):
            self.close()
        if self._pool is None:
            self._pool = RecordPool(settings, n)
        return self._pool

    def _predict_here(self, items: Iterator) -> Iterator[Prediction]:
        floor = 4 * max(self.workers, 1)
        seen_records = seen_windows = 0
        ramp = min(RAMP, self.batch) if self.workers else self.batch  # windows the next engine call waits for
        with ThreadPoolExecutor(self.workers, thread_name_prefix="ecgedge-prep") if self.workers else _Inline() as ex:
            pending: deque = deque()
            ready: list[tuple[Prediction, np.ndarray]] = []
            n_ready = 0
            exhausted = False
            while True:
                # Keep the workers reading while the engine runs a batch (onnxruntime releases the GIL): about
                # a batch's worth of windows in flight, estimated from the records read so far (a folder of
                # 10-s records: a batch of records; hour-long ones: a few), never under 4 records per worker.
                per_record = seen_windows / seen_records if seen_records else float(self.batch)
                max_pending = self.read_ahead or max(floor, min(self.batch, int(self.batch / max(per_record, 1.0))))
                while not exhausted and len(pending) < max_pending:
                    try:
                        pending.append(ex.submit(self.prepare, next(items)))
                    except StopIteration:
                        exhausted = True
                if not pending and not ready:
                    return
                if pending:
                    pred, x = pending.popleft().result()
                    seen_records += 1
                    seen_windows += 0 if x is None else len(x)
                    if x is None:
                        # keep order: flush what is batched before this error row
                        yield from self._flush(ready)
                        ready, n_ready = [], 0
                        yield pred
                        continue
                    ready.append((pred, x))
                    n_ready += len(x)
                # With reading threads, the engine starts on a small batch and doubles it up to the batch size,
                # and takes small ones again once the input is read: the first batch's reading and the last batch's
                # engine run are the pipeline's parts that nothing overlaps. Inline, nothing overlaps anyway.
                full = min(ramp, 2 * RAMP) if exhausted and self.workers else ramp
                if n_ready >= full or (not pending and ready):
                    yield from self._flush(ready)
                    ready, n_ready = [], 0
                    ramp = min(2 * ramp, self.batch)

    def _flush(self, ready: list) -> Iterator[Prediction]:
        if not ready:
            return
        X = np.concatenate([x for _, x in ready])
        logits = self._run(X)
        a = 0
        for pred, x in ready:
            yield self._finish(pred, logits[a:a + len(x)])
            a += len(x)

