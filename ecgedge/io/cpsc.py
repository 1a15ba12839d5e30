"""CPSC2018's original ``.mat`` files: a struct ``ECG`` with ``sex``, ``age`` and ``data``.

``data`` is 12 x N in millivolts at 500 Hz in the standard lead order; there is no header file.
"""

from __future__ import annotations

import os

import numpy as np

from ..errors import RecordError
from ..leads import STANDARD_12
from ..signal import Signal
from .matv5 import read_mat5
from .plausible import check_physical_values

CPSC_FS = 500.0


def read_cpsc_mat(path: str | os.PathLike[str], *, check_values: bool = True) -> Signal:
    """Read a CPSC2018 ``.mat`` record. ``check_values``: refuse a lead with |x| > 100 mV for most of it
    (CPSC2018 stores mV, so that is a damaged file or not a CPSC2018 record)."""
    path = os.fspath(path)
    variables = read_mat5(path)
    ecg = variables.get("ECG")
    if not isinstance(ecg, dict) or "data" not in ecg:
        found = ", ".join(sorted(variables)) or "nothing"
        raise RecordError(
            f"no struct 'ECG' with a field 'data' (found {found})", path=path, where="ECG.data",
            fix="this reader is for CPSC2018 .mat files; other .mat signals need a WFDB header",
        )
    data = ecg["data"]
    if not isinstance(data, np.ndarray) or data.ndim != 2 or np.iscomplexobj(data):
        raise RecordError("'data' is not a real 2-D matrix", path=path, where="ECG.data")
    if data.shape[0] != len(STANDARD_12) and data.shape[1] == len(STANDARD_12):
        data = data.T
    if data.shape[0] != len(STANDARD_12):
        raise RecordError(f"'data' is {data.shape[0]}x{data.shape[1]}, expected 12 leads x samples",
                          path=path, where="ECG.data")
    if data.shape[1] == 0:
        raise RecordError("record has zero samples", path=path, where="ECG.data")
    # Checked after the float32 conversion: a finite 1e300 becomes inf there.
    with np.errstate(over="ignore", invalid="ignore"):
        data = np.ascontiguousarray(data, dtype=np.float32)
    bad = ~np.isfinite(data)
    if bad.any():
        lead_idx, sample_idx = np.nonzero(bad)
        raise RecordError(
            f"{int(bad.sum())} NaN/inf (or beyond float32) value(s), first in lead {STANDARD_12[lead_idx[0]]} "
            f"at sample {int(sample_idx[0])}", path=path, where="ECG.data",
            fix="the file is damaged; re-download it or exclude this record",
        )
    if check_values:
        check_physical_values(data, ("mV",) * 12, STANDARD_12, path=path, where=["ECG.data"] * 12,
                              fix="CPSC2018 stores ECG.data in mV; this file is damaged or not a CPSC2018 record")
    meta = {"reader": "ecgedge-cpsc"}
    sex = ecg.get("sex")
    if isinstance(sex, list):
        sex = sex[0] if sex else None
    if isinstance(sex, str):
        meta["sex"] = sex.strip()
    age = ecg.get("age")
    if isinstance(age, np.ndarray) and age.size == 1 and np.isfinite(age).all():
        meta["age"] = str(int(age.reshape(-1)[0]))
    name = os.path.splitext(os.path.basename(path))[0]
    return Signal(
        data=data, fs=CPSC_FS, leads=STANDARD_12,
        units=("mV",) * 12, name=name, path=path, raw_leads=STANDARD_12, meta=meta,
    )
