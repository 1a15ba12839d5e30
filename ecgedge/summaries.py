"""Plain-data summaries of records and data sets, shared by ``ecgedge data info`` and its JSON."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import numpy as np

from .datasets import DataSet, detect_dataset, load_dataset
from .datasets.registry import record_files
from .errors import EcgedgeError
from .signal import Signal


def record_summary(sig: Signal, labels: list[str] | None = None) -> dict:
    finite = np.isfinite(sig.data)
    with np.errstate(all="ignore"):
        lo = np.where(finite, sig.data, np.inf).min(axis=1)
        hi = np.where(finite, sig.data, -np.inf).max(axis=1)
    return {
        "record": sig.name,
        "path": sig.path,
        "leads": list(sig.leads),
        "raw_leads": list(sig.raw_leads),
        "n_leads": sig.n_leads,
        "fs": sig.fs,
        "samples": sig.n_samples,
        "duration_s": round(sig.duration, 3),
        "units": sorted(set(sig.units)),
        "range": {lead: [round(float(a), 4), round(float(b), 4)] for lead, a, b in zip(sig.leads, lo, hi)},
        "invalid_samples": int((~finite).sum()),
        "comments": list(sig.comments),
        "labels": labels,
        "meta": {k: v for k, v in sig.meta.items() if isinstance(v, (str, int, float, list, tuple)) and v != ""},
        "warnings": list(sig.warnings),
    }


def dataset_summary(ds: DataSet) -> dict:
    return {
        "dataset": ds.name,
        "task": ds.task,
        "root": ds.root,
        "records": len(ds),
        "classes": list(ds.classes),
        "multilabel": ds.multilabel,
        "fs": ds.fs,
        "fold_source": ds.fold_source,
        "per_split": ds.class_counts(),
        "missing": len(ds.missing),
        "missing_first": ds.missing[:10],
        "unlabelled": len(ds.unlabelled),
        "notes": list(ds.notes),
    }


def folder_summary(folder: str | os.PathLike[str]) -> dict:
    """A folder of records without labels: how many, at which rates, with which leads."""
    from .io import read_header

    folder = Path(folder)
    records = record_files(folder)
    headers = [f for f in records if f.suffix.lower() == ".hea"]
    mats = [f for f in records if f.suffix.lower() == ".mat"]
    fs, leads, durations, errors = Counter(), Counter(), [], []
    for h in headers:
        try:
            hdr = read_header(h)
        except EcgedgeError as exc:
            errors.append(str(exc))
            continue
        fs[hdr.fs] += 1
        leads[len(hdr.signals)] += 1
        if hdr.n_samples:
            durations.append(hdr.n_samples / hdr.fs)
    return {
        "folder": str(folder),
        "wfdb_records": len(headers),
        "mat_files_without_header": len(mats),
        "fs": {f"{k:g}": v for k, v in sorted(fs.items())},
        "n_leads": {str(k): v for k, v in sorted(leads.items())},
        "duration_s": {"min": min(durations), "median": float(np.median(durations)), "max": max(durations),
                       "total": sum(durations)} if durations else None,
        "unreadable": errors[:10],
        "n_unreadable": len(errors),
    }


def labels_for(sig: Signal) -> list[str] | None:
    """Labels of a record that sits inside a known data set (PTB-XL, CPSC2018 ...), or from its header."""
    if sig.meta.get("dx"):
        from .datasets.snomed import snomed_name

        names = [snomed_name(c) for c in sig.meta["dx"]]
        return [n if n.startswith("SNOMED") else f"{n} (SNOMED {c})" for n, c in zip(names, sig.meta["dx"])]
    if not sig.path:
        return None
    here = Path(sig.path).resolve().parent
    for root in [here, *list(here.parents)[:3]]:
        kind = detect_dataset(root)
        if kind in ("ptbxl", "cpsc2018", "physionet2017"):
            try:
                ds = load_dataset(kind, root, task="all" if kind == "ptbxl" else None)
            except EcgedgeError:
                return None
            target = os.path.realpath(sig.path)
            for r in ds.records:
                if os.path.realpath(r.path) == target or r.name == sig.name:
                    return list(r.labels)
            return None
    return None
