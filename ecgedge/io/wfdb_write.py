"""Write a Signal as a WFDB record (format 16, one .dat file), atomically.

Used for the built-in demo input and for saving streams; physical values are stored with a gain
that keeps 1 µV resolution (1000 units per mV) unless the signal's range needs a smaller one.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..atomic import atomic_write_bytes, atomic_write_text
from ..errors import EcgedgeError


def write_wfdb(sig, folder: str | os.PathLike[str], name: str | None = None) -> str:
    """Write ``sig`` as ``folder/name.hea`` + ``name.dat``; returns the header's path."""
    name = name or sig.name or "record"
    if not name.replace("_", "").replace("-", "").isalnum():
        raise EcgedgeError(f"record name {name!r} must be letters, digits, '_' or '-'", where="name")
    folder = Path(folder)
    data = np.nan_to_num(np.asarray(sig.data, np.float64), nan=0.0)
    peak = float(np.max(np.abs(data))) if data.size else 0.0
    gain = 1000.0 if peak * 1000.0 < 32000 else float(np.floor(32000 / max(peak, 1e-9)))
    digital = np.round(data * gain).astype("<i2")
    bad = ~np.isfinite(np.asarray(sig.data))
    digital[bad] = -32768  # WFDB's "no value" code for format 16
    raw = np.ascontiguousarray(digital.T).tobytes()
    lines = [f"{name} {sig.n_leads} {sig.fs:g} {sig.n_samples}"]
    for i, lead in enumerate(sig.leads):
        unit = sig.units[i] if i < len(sig.units) else "mV"
        first = int(digital[i, 0]) if sig.n_samples else 0
        checksum = int(digital[i].astype(np.int64).sum()) & 0xFFFF
        checksum = checksum - 0x10000 if checksum >= 0x8000 else checksum
        lines.append(f"{name}.dat 16 {gain:g}/{unit} 16 0 {first} {checksum} 0 {lead}")
    lines += [f"# {c}" for c in sig.comments]
    atomic_write_bytes(folder / f"{name}.dat", raw)
    atomic_write_text(folder / f"{name}.hea", "\n".join(lines) + "\n")
    return str(folder / f"{name}.hea")
