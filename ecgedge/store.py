"""The prepared-data store: decoded records as one memory-mapped array, with labels and folds.

Training reads this, not WFDB files, so an epoch never re-decodes a record. Layout of a store
folder::

    manifest.json   settings, classes, leads, fs, every source file's sha256, ecgedge version, key
    signals.f32     float32, every record's [leads, samples] block one after another
    offsets.npy     int64 [records + 1]: where each block starts in signals.f32 (in floats)
    lengths.npy     int64 [records]: samples per record
    labels.npy      uint8 [records, classes]
    folds.npy       int16 [records]
    records.csv     name, patient, fold, labels, samples, source

``prepare`` reuses a store whose key (settings + source hashes + version) is unchanged and rebuilds
it otherwise; the new store is built beside the old one and swapped in by rename, so an interrupted
build never leaves a half-written store behind.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import __version__
from .atomic import atomic_write_text, remove_stale_leftovers
from .datasets.base import SPLITS, DataSet
from .dsp.pipeline import Preprocessing
from .errors import EcgedgeError, StoreError
from .io import read_record
from .leads import STANDARD_12, normalize_lead
from .trust import sha256_file  # noqa: F401 - one file hash for the store's manifest and the trust list

STORE_FORMAT = 1


@dataclass
class PrepareResult:
    store: PreparedStore
    reused: bool
    seconds: float
    failed: list[tuple[str, str]]




def _record_files(path: str) -> list[str]:
    """The files a record is made of: its header and the signal files it names."""
    if not path.endswith(".hea"):
        return [path]
    from .io.wfdb_header import read_header

    files = [path]
    try:
        hdr = read_header(path)
    except EcgedgeError:
        return files
    d = os.path.dirname(path)
    for name in dict.fromkeys(s.file_name for s in hdr.signals):
        files.append(os.path.join(d, name))
    return files


def source_hashes(paths: list[str], previous: dict | None = None) -> dict[str, dict]:
    """sha256, size and mtime of each file; a hash from ``previous`` is reused when size and mtime match."""
    previous = previous or {}
    out = {}
    for p in paths:
        try:
            st = os.stat(p)
        except OSError:
            continue
        old = previous.get(p)
        if old and old.get("size") == st.st_size and old.get("mtime_ns") == st.st_mtime_ns:
            out[p] = old
        else:
            out[p] = {"sha256": sha256_file(p), "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    return out


def target_leads(first_leads: tuple[str, ...]) -> tuple[str, ...]:
    """The lead order of a store: the standard 12 when a record has them all, else the first record's."""
    if set(STANDARD_12) <= set(first_leads):
        return STANDARD_12
    return first_leads


def prepare_spec(ds, fs: float | None, band=None, norm: str | None = None):
    """The preprocessing a store is built with when the user asks for one (`data prepare --band/--norm`):
    the first record's rate and leads unless given; None (the data as recorded) when neither is asked."""
    if band is None and norm is None:
        return None
    if not ds.records:
        raise EcgedgeError(f"data set {ds.name} has no records on disk", path=ds.root)
    first = read_record(ds.records[0].path)
    return Preprocessing(fs=fs or first.fs, leads=target_leads(first.leads), band=tuple(band) if band else None,
                         norm=norm or "none", window=None)


def prepare(ds: DataSet, out: str | os.PathLike[str], *, fs: float | None = None,
            leads: tuple[str, ...] | None = None, force: bool = False,
            preprocessing: Preprocessing | None = None,
            progress: Callable[[int, int], None] | None = None) -> PrepareResult:
    """Build (or reuse) the store for ``ds`` at ``out``.

    ``fs`` resamples every record to that rate (the kernel's resampler, exactly scipy's
    ``resample_poly``). ``preprocessing`` runs the whole preprocessing path instead (band-pass,
    baseline, normalisation; no windowing: training crops windows), at ``preprocessing.fs`` with
    ``preprocessing.leads`` — the same code inference runs, so there is no train/serve skew.
    """
    if preprocessing is not None:
        if preprocessing.window is not None:
            raise StoreError("a store holds whole records; leave the window to training", where="preprocessing.window")
        preprocessing = preprocessing.designed()
        fs, leads = preprocessing.fs, tuple(preprocessing.leads)
    out = Path(out)
    t0 = time.perf_counter()
    # A killed `data prepare` leaves its half-built store (100+ MB) behind: remove those whose process is gone.
    remove_stale_leftovers(out)
    if not ds.records:
        raise StoreError(f"data set {ds.name} has no records on disk to prepare", path=ds.root,
                         fix="fetch the data (ecgedge data fetch) or check the folder")
    manifest_path = out / "manifest.json"
    previous = None
    if manifest_path.exists():
        try:
            previous = json.loads(manifest_path.read_text())
        except (OSError, json.JSONDecodeError):
            previous = None
    sources = sorted(set(ds.label_files) | {f for r in ds.records for f in _record_files(r.path)})
    hashes = source_hashes(sources, (previous or {}).get("sources"))
    target_fs = float(fs) if fs else ds.fs
    settings = {
        "dataset": ds.name, "task": ds.task, "root": os.path.abspath(ds.root), "fs": target_fs,
        "leads": list(leads) if leads else None, "classes": list(ds.classes), "fold_source": ds.fold_source,
        "preprocessing": preprocessing.to_dict() if preprocessing else None,
        "records": [[r.name, r.fold, list(r.labels)] for r in ds.records],
    }
    key = hashlib.sha256(json.dumps(
        {"settings": settings, "sources": {p: h["sha256"] for p, h in hashes.items()},
         "version": __version__, "format": STORE_FORMAT}, sort_keys=True).encode()).hexdigest()
    if not force and previous and previous.get("key") == key:
        try:
            store = PreparedStore.open(out)
            return PrepareResult(store, True, time.perf_counter() - t0, [])
        except StoreError:
            pass  # damaged: rebuild below

    tmp = out.with_name(f".{out.name}.building-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        result = _build(ds, tmp, target_fs, leads, progress, preprocessing)
        kept, failed, warnings, lead_order, out_fs = result
        manifest = {
            "format": STORE_FORMAT, "ecgedge_version": __version__, "key": key,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "dataset": ds.name, "task": ds.task, "root": os.path.abspath(ds.root), "fs": out_fs,
            "leads": list(lead_order), "classes": list(ds.classes), "multilabel": ds.multilabel,
            "fold_source": ds.fold_source, "splits": {k: list(v) for k, v in SPLITS.items()},
            "preprocessing": preprocessing.to_dict() if preprocessing else None,
            "n_records": len(kept), "missing": ds.missing, "unlabelled": len(ds.unlabelled),
            "failed": [{"record": n, "error": e} for n, e in failed], "warnings": warnings,
            "sources": hashes, "build_seconds": round(time.perf_counter() - t0, 3),
        }
        atomic_write_text(tmp / "manifest.json", json.dumps(manifest, indent=1))
        _swap_in(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return PrepareResult(PreparedStore.open(out), False, time.perf_counter() - t0, failed)


def _swap_in(tmp: Path, out: Path) -> None:
    old = out.with_name(f".{out.name}.old-{os.getpid()}")
    if out.exists():
        if not (out / "manifest.json").exists() and any(out.iterdir()):
            raise StoreError("exists and is not an ecgedge store; refusing to replace it", path=out,
                             fix="choose an empty or new --out folder")
        os.replace(out, old)
    os.replace(tmp, out)
    shutil.rmtree(old, ignore_errors=True)


def _resample(x: np.ndarray, fs_in: float, fs_out: float) -> np.ndarray:
    from .dsp import get_backend, resample_plan

    return get_backend().resample(x.astype(np.float64), resample_plan(fs_in, fs_out)).astype(np.float32)


def _build(ds: DataSet, tmp: Path, fs: float | None, leads: tuple[str, ...] | None,
           progress: Callable[[int, int], None] | None, preprocessing: Preprocessing | None = None):
    kept, failed, warnings = [], [], []
    lead_order = leads
    pre = None
    offsets = [0]
    lengths = []
    out_fs = fs
    with open(tmp / "signals.f32", "wb") as fh:
        for i, rec in enumerate(ds.records):
            if progress:
                progress(i, len(ds.records))
            try:
                sig = read_record(rec.path)
            except EcgedgeError as exc:
                failed.append((rec.name, str(exc)))
                continue
            if lead_order is None:
                lead_order = target_leads(sig.leads)
            idx = []
            for lead in lead_order:
                key = normalize_lead(lead)
                if key not in sig.leads:
                    break
                idx.append(sig.leads.index(key))
            if len(idx) != len(lead_order):
                failed.append((rec.name, f"lacks lead(s) {', '.join(sorted(set(lead_order) - set(sig.leads)))}"))
                continue
            if out_fs is None:
                out_fs = sig.fs
            if preprocessing is not None:
                if pre is None:
                    from .dsp import Preprocessor

                    pre = Preprocessor(preprocessing)
                try:
                    done = pre(sig)
                except EcgedgeError as exc:
                    failed.append((rec.name, str(exc)))
                    continue
                x = done.x
                warnings.extend(f"{rec.name}: {w}" for w in done.warnings)
            else:
                x = sig.data[idx]
                if sig.fs != out_fs:
                    x = _resample(x, sig.fs, out_fs)
            bad = ~np.isfinite(x)
            if bad.any():
                warnings.append(f"{rec.name}: {int(bad.sum())} invalid sample(s) stored as 0")
                x = np.where(bad, 0.0, x).astype(np.float32)
            fh.write(np.ascontiguousarray(x, np.float32).tobytes())
            offsets.append(offsets[-1] + x.size)
            lengths.append(x.shape[1])
            kept.append(rec)
        if progress:
            progress(len(ds.records), len(ds.records))
    if not kept:
        first = failed[0][1] if failed else "no records"
        raise StoreError(f"no record of {ds.name} could be prepared; first error: {first}", path=ds.root)
    index = {c: j for j, c in enumerate(ds.classes)}
    y = np.zeros((len(kept), len(ds.classes)), np.uint8)
    for r, rec in enumerate(kept):
        for label in rec.labels:
            y[r, index[label]] = 1
    np.save(tmp / "offsets.npy", np.array(offsets, np.int64))
    np.save(tmp / "lengths.npy", np.array(lengths, np.int64))
    np.save(tmp / "labels.npy", y)
    np.save(tmp / "folds.npy", np.array([r.fold for r in kept], np.int16))
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["record", "patient", "fold", "labels", "samples", "source"])
    for rec, n in zip(kept, lengths):
        w.writerow([rec.name, rec.patient or "", rec.fold, ";".join(rec.labels), n, rec.path])
    (tmp / "records.csv").write_text(buf.getvalue())
    return kept, failed, warnings, tuple(lead_order), out_fs


class PreparedStore:
    """A store opened for reading: signals are memory-mapped, so opening is near-instant."""

    def __init__(self, path: Path, manifest: dict, signals: np.ndarray, offsets: np.ndarray,
                 lengths: np.ndarray, labels: np.ndarray, folds: np.ndarray, names: list[str]):
        self.path = path
        self.manifest = manifest
        self.signals = signals
        self.offsets = offsets
        self.lengths = lengths
        self.labels = labels
        self.folds = folds
        self.names = names

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> PreparedStore:
        path = Path(path)
        try:
            manifest = json.loads((path / "manifest.json").read_text())
        except FileNotFoundError:
            raise StoreError("not a prepared store (no manifest.json)", path=path,
                             fix="build it with `ecgedge data prepare`") from None
        except (OSError, json.JSONDecodeError) as exc:
            raise StoreError(f"manifest.json is unreadable ({exc})", path=path, fix="rebuild with --force") from None
        if manifest.get("format") != STORE_FORMAT:
            raise StoreError(f"store format {manifest.get('format')} is not {STORE_FORMAT}", path=path,
                             fix="rebuild with `ecgedge data prepare --force`")
        try:
            offsets = np.load(path / "offsets.npy")
            lengths = np.load(path / "lengths.npy")
            labels = np.load(path / "labels.npy")
            folds = np.load(path / "folds.npy")
            total = int(offsets[-1])
            size = os.path.getsize(path / "signals.f32")
            if size != 4 * total:
                raise StoreError(f"signals.f32 holds {size} bytes, the index expects {4 * total}", path=path,
                                 fix="the store is damaged; rebuild with --force")
            signals = np.memmap(path / "signals.f32", dtype=np.float32, mode="r", shape=(total,))
            with open(path / "records.csv", newline="") as fh:
                names = [row["record"] for row in csv.DictReader(fh)]
        except (OSError, ValueError) as exc:
            raise StoreError(f"store files are damaged ({exc})", path=path, fix="rebuild with --force") from None
        n = len(lengths)
        if not (len(offsets) == n + 1 and labels.shape[0] == n and folds.shape[0] == n and len(names) == n):
            raise StoreError("store arrays disagree in length", path=path, fix="rebuild with --force")
        return cls(path, manifest, signals, offsets, lengths, labels, folds, names)

    def __len__(self) -> int:
        return len(self.lengths)

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(self.manifest["classes"])

    @property
    def leads(self) -> tuple[str, ...]:
        return tuple(self.manifest["leads"])

    @property
    def fs(self) -> float:
        return float(self.manifest["fs"])

    def signal(self, i: int) -> np.ndarray:
        """Record ``i`` as a read-only float32 ``[leads, samples]`` view of the memory map."""
        a, b = int(self.offsets[i]), int(self.offsets[i + 1])
        return self.signals[a:b].reshape(len(self.leads), int(self.lengths[i]))

    def as_array(self) -> np.ndarray:
        """All records as ``[records, leads, samples]`` (a view) when they have one length."""
        if len(set(self.lengths.tolist())) != 1:
            raise StoreError("records differ in length; use signal(i) or crop to windows", path=self.path)
        return self.signals.reshape(len(self), len(self.leads), int(self.lengths[0]))

    def indices(self, split: str) -> np.ndarray:
        """Record indices of ``train``, ``val`` or ``test``."""
        if split not in SPLITS:
            raise StoreError(f"unknown split {split!r}", fix="use train, val or test")
        return np.flatnonzero(np.isin(self.folds, SPLITS[split]))
