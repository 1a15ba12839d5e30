"""Reading ECG records: one entry point, :func:`read_record`, whatever the file."""

from __future__ import annotations

import os

from ..errors import RecordError
from ..signal import Signal
from .wfdb_header import Header, parse_header, read_header
from .wfdb_record import read_wfdb

__all__ = ["Header", "Signal", "parse_header", "read_header", "read_record", "read_wfdb"]


def read_record(path: str | os.PathLike[str], *, keep_digital: bool = False, check_values: bool = True) -> Signal:
    """Read one ECG record into a :class:`Signal` (float32 ``[leads, samples]``, physical units).

    ``path`` may be a WFDB header (``.hea``), a record name without extension, a WFDB signal file
    (``.dat``/``.mat`` with a header beside it) or a CPSC2018 ``.mat`` struct file (no header).
    Only regular files are read (a FIFO or a device is refused at once), only inside the record's
    folder. With ``check_values`` (the default) a lead whose values no ECG has (|x| > 100 mV for
    most of it: a wrong gain, baseline or unit) is refused, naming the field to fix.
    """
    p = os.fspath(path)
    root, ext = os.path.splitext(p)
    ext = ext.lower()
    if ext == ".hea":  # the common case first: a folder named *.hea is refused by the header's open (no stat here)
        return read_wfdb(p, keep_digital=keep_digital, check_values=check_values)
    if os.path.isdir(p):
        raise RecordError("is a folder, not a record", path=p,
                          fix="pass a .hea/.mat file, or use a data set loader for folders")
    if ext in (".dat", ".mat") and os.path.exists(root + ".hea"):
        return read_wfdb(root + ".hea", keep_digital=keep_digital, check_values=check_values)
    if ext == ".mat":
        from .cpsc import read_cpsc_mat

        if not os.path.exists(p):
            raise RecordError("file not found", path=p)
        return read_cpsc_mat(p, check_values=check_values)
    if ext == ".dat":
        raise RecordError("signal file without a header", path=p,
                          fix=f"a WFDB record needs {os.path.basename(root)}.hea beside it")
    if os.path.exists(p + ".hea"):
        return read_wfdb(p + ".hea", keep_digital=keep_digital, check_values=check_values)
    if os.path.exists(p + ".mat"):
        return read_record(p + ".mat", keep_digital=keep_digital, check_values=check_values)
    if not os.path.exists(p):
        raise RecordError("no such record", path=p,
                          fix="give a .hea or .mat file, or a record path without extension")
    raise RecordError(f"unrecognised record file type {ext or '(no extension)'!r}", path=p,
                      fix="ecgedge reads WFDB (.hea + .dat/.mat) and CPSC2018 .mat files")
