"""Read a WFDB record (header + signal files) into a :class:`~ecgedge.signal.Signal`."""

from __future__ import annotations

import math
import os
import stat
import struct
from collections.abc import Sequence

import numpy as np

from ..errors import RecordError
from ..leads import normalize_lead
from ..signal import Signal
from . import wfdb_formats as F
from ._files import contained_path, open_regular, read_fully
from .plausible import check_physical_values, plausible_peak
from .wfdb_header import NATIVE_FORMATS, Header, SignalSpec, read_header


def read_wfdb(path: str | os.PathLike[str], *, keep_digital: bool = False,
              verify_checksums: bool = True, check_values: bool = False) -> Signal:
    """Read the WFDB record at ``path`` (``.hea`` or the record name without extension).

    Headers are parsed and signal files decoded natively for formats 8, 16, 24, 32, 61, 80, 160,
    212, 310 and 311, including ``.mat`` signal files of the CinC challenges (``16+24``). Formats
    and layouts it does not decode itself (FLAC-compressed 508/516/524, skew, several samples per
    frame, multi-segment records) are read through ``wfdb`` if it is installed.

    Signal files are read only from regular files inside the header's folder. ``check_values``
    (what :func:`ecgedge.read_record` asks for) refuses leads whose physical values no ECG has
    (see :mod:`ecgedge.io.plausible`); without it the record is decoded as written, like ``wfdb``.
    """
    path = os.fspath(path)
    hea = path if path.endswith(".hea") else path + ".hea"
    hdr = read_header(hea)
    peak = None
    if hdr.n_segments is not None or _needs_fallback(hdr):
        sig = _read_with_wfdb(hdr, keep_digital)
    else:
        if not hdr.signals:
            raise RecordError("header declares no signals", path=hea, where="line 1",
                              fix="a record needs at least one signal line")
        directory = os.path.dirname(hea)
        got = None if keep_digital else _read_native16(hdr, directory, verify_checksums)
        if got is None:
            digital = _decode_signals(hdr, directory)
            sig = _to_signal(hdr, digital, keep_digital, verify_checksums)
        else:
            sig, peak = got
    if check_values:
        _check_values(hdr, sig, peak)
    return sig


def _check_values(hdr: Header, sig: Signal, peak: float | None = None) -> None:
    if peak is not None and plausible_peak(peak, sig.units, sig.raw_leads, sig.n_leads):
        return  # the common case, decided by the decoder's extremes: no lines to name
    lines = [f"line {s.line}" for s in hdr.signals]
    if len(lines) != sig.n_leads:  # multi-segment: the layout's lines are not this header's
        lines = ["signal line"] * sig.n_leads
    check_physical_values(
        sig.data, sig.units, sig.raw_leads, path=hdr.path, where=lines,
        fix="physical value = (digital - baseline) / gain, in the signal's units: check this signal line's "
            "gain, baseline and units",
    )


def _needs_fallback(hdr: Header) -> bool:
    for s in hdr.signals:
        if s.fmt not in NATIVE_FORMATS or s.skew or s.samples_per_frame != 1 or s.file_name == "~":
            return True
    return False


def _groups(signals: Sequence[SignalSpec]) -> list[tuple[str, list[int]]]:
    """Signals grouped by file, in order of first appearance."""
    order: dict[str, list[int]] = {}
    for i, s in enumerate(signals):
        order.setdefault(s.file_name, []).append(i)
    return list(order.items())


def _decode_signals(hdr: Header, directory: str) -> np.ndarray:
    """Digital samples, int32 ``[frames, signals]``."""
    n_sig = len(hdr.signals)
    groups = _groups(hdr.signals)
    if len(groups) == 1:
        return _decode_file(hdr, directory, groups[0][0], groups[0][1])
    parts = [(idx, _decode_file(hdr, directory, name, idx)) for name, idx in groups]
    n = min(p.shape[0] for _, p in parts)
    out = np.empty((n, n_sig), np.int32)
    for idx, p in parts:
        out[:, idx] = p[:n]
    return out


def _check_shared_format(hdr: Header, file_name: str, specs: list[SignalSpec]) -> None:
    first = specs[0]
    for s in specs[1:]:
        if s.fmt != first.fmt or s.byte_offset != first.byte_offset:
            raise RecordError(
                f"signals in {file_name} disagree on format or byte offset "
                f"({first.fmt}+{first.byte_offset} vs {s.fmt}+{s.byte_offset})",
                path=hdr.path, where=f"line {s.line}",
                fix="all signals stored in one file must share its format",
            )


def _read_file(hdr: Header, directory: str, file_name: str, idx: list[int]) -> tuple[bytes, int]:
    """The bytes of one signal file (exactly what the header promises, from its byte offset) and its frames."""
    specs = [hdr.signals[i] for i in idx]
    _check_shared_format(hdr, file_name, specs)
    first = specs[0]
    fmt, offset, width = first.fmt, first.byte_offset, len(specs)
    fpath = _signal_path(hdr, directory, file_name, first.line)
    if file_name.lower().endswith(".mat") and offset:
        _check_mat4(fpath, hdr, file_name, width, first.line)
    # One read of exactly what the header promises (or of the whole file when it does not say).
    want = F.bytes_for(fmt, hdr.n_samples * width) if hdr.n_samples is not None else -1
    try:
        with _open_signal(fpath, hdr, file_name, first.line) as fh:
            if want < 0 or want > _CHECK_SIZE_ABOVE:
                # read(n) allocates n bytes up front: never take a damaged header's word for n.
                want = _bytes_after(fh, offset, hdr, file_name, first.line)
            if offset:
                try:
                    fh.seek(offset)
                except (OverflowError, ValueError, OSError):
                    raise RecordError(
                        f"byte offset {offset} of {file_name} is out of range", path=hdr.path,
                        where=f"line {first.line}", fix="the format field's '+offset' is damaged",
                    ) from None
            buf = read_fully(fh, want)
    except FileNotFoundError:
        raise RecordError(
            f"signal file {file_name} is missing", path=hdr.path, where=f"line {first.line}",
            fix=f"put {file_name} beside the header",
        ) from None
    except OSError as exc:
        raise RecordError(f"cannot read {file_name}: {exc.strerror}", path=hdr.path,
                          where=f"line {first.line}") from None
    available = F.samples_in(fmt, len(buf)) // width
    frames = available if hdr.n_samples is None else hdr.n_samples
    if frames > available:
        raise RecordError(
            f"header says {frames} samples per signal but {file_name} holds only {available} "
            f"(format {fmt}, {width} signal(s), byte offset {offset})",
            path=hdr.path, where=f"line 1 / line {first.line}",
            fix="the signal file is truncated or the header's sample count is wrong",
        )
    if frames == 0:
        raise RecordError(f"record has zero samples ({file_name})", path=hdr.path, where="line 1",
                          fix="nothing to read; drop this record")
    return buf, frames


def _decode_file(hdr: Header, directory: str, file_name: str, idx: list[int]) -> np.ndarray:
    buf, frames = _read_file(hdr, directory, file_name, idx)
    specs = [hdr.signals[i] for i in idx]
    fmt, width = specs[0].fmt, len(specs)
    n = frames * width
    flat = F.decode(fmt, buf, n)
    frames_arr = flat.reshape(frames, width)
    if fmt == "8":
        for s in specs:
            if not -(1 << 31) <= s.initial_value < 1 << 31:
                raise RecordError(f"'initial value' is out of range: {s.initial_value}", path=hdr.path,
                                  where=f"line {s.line}", fix="format 8 needs a 32-bit initial value")
        init = np.array([s.initial_value for s in specs], np.int32)
        frames_arr = np.cumsum(frames_arr, axis=0, dtype=np.int32) + init
    return frames_arr


#: Reads larger than this are first checked against the file's size (a header may claim anything).
_CHECK_SIZE_ABOVE = 1 << 26


def _bytes_after(fh, offset: int, hdr: Header, file_name: str, line: int) -> int:
    """Bytes of the (regular) file ``fh`` after ``offset``: the most a read can usefully ask for."""
    st = os.fstat(fh.fileno())
    if not stat.S_ISREG(st.st_mode):  # open_regular checked already; a size needs a regular file
        raise RecordError(f"signal file {file_name} is not a regular file", path=hdr.path,
                          where=f"line {line}", fix="point the header at the record's .dat file")
    return max(st.st_size - offset, 0)


def _signal_path(hdr: Header, directory: str, file_name: str, line: int) -> str:
    """Where a signal file named by the header is, refused if that is outside the header's folder."""
    return contained_path(directory, file_name, header=hdr.path, field="file name", where=f"line {line}",
                          example=f"{hdr.record_name}.dat")


def _open_signal(fpath: str, hdr: Header, file_name: str, line: int):
    """The signal file, opened only if it is a regular file (a FIFO or /dev/zero is refused at once)."""
    return open_regular(fpath, what=f"signal file {file_name}", error_path=hdr.path, where=f"line {line}",
                        fix="the file name on this line must name the record's .dat/.mat signal file", buffered=False)


def _check_mat4(fpath: str, hdr: Header, file_name: str, width: int, line: int) -> None:
    """A WFDB header may point into a MATLAB v4 file (CinC 2017/2020/2021); check its matrix."""
    try:
        with _open_signal(fpath, hdr, file_name, line) as fh:
            head = read_fully(fh, 20)
    except OSError:
        return  # missing or unreadable: the read that follows says which
    if len(head) < 20:
        raise RecordError(f"{os.path.basename(fpath)} is too short to be a MATLAB file",
                          path=hdr.path)
    mopt, rows, cols, imag, namlen = struct.unpack("<5i", head)
    if mopt not in (0, 10, 20, 30, 40, 50):
        return  # not a little-endian MAT v4 header: trust the WFDB byte offset as written
    if width not in (rows, cols):
        raise RecordError(
            f"{os.path.basename(fpath)} holds a {rows}x{cols} matrix but the header declares "
            f"{width} signals", path=hdr.path, fix="the header and the .mat file do not belong together",
        )


def _read_native16(hdr: Header, directory: str, verify: bool) -> tuple[Signal, float] | None:
    """The record through the native kernel's one-pass format-16 decoder (PTB-XL, the CinC challenges' records),
    or None where that does not apply: another format, several signal files, a baseline or gain that the float32
    arithmetic below does not reproduce exactly, or no kernel (``ECGEDGE_KERNEL=reference``). The same values,
    checksums and invalid-sample NaNs as :func:`_to_signal`, to the bit; with the largest |physical value| (NaN
    when a sample is invalid), from the digital extremes the decoder keeps."""
    specs = hdr.signals
    name = specs[0].file_name
    for s in specs:
        if s.fmt != "16" or s.file_name != name or not -(1 << 16) < s.baseline < 1 << 16:
            return None
    gains = [s.gain for s in specs]
    g32 = np.array(gains, np.float32)
    if g32.tolist() != gains:
        return None
    K = _wfdb_kernel()
    if K is None:
        return None
    buf, frames = _read_file(hdr, directory, name, list(range(len(specs))))
    width = len(specs)
    data = np.empty((width, frames), np.float32)
    sums, invalid, lo, hi = np.empty((4, width), np.int64)
    peak = K.wfdb16(buf, frames, width, np.array([s.baseline for s in specs], np.float32), g32, data, sums, invalid,
                    lo, hi)
    warnings = list(hdr.warnings)
    _check_sums(hdr, sums.tolist() if verify else None, warnings)
    if math.isnan(peak):  # a sample is invalid
        for i in np.flatnonzero(invalid):
            warnings.append(f"signal {specs[i].description or i}: {int(invalid[i])} invalid sample(s) read as NaN")
    return _finish(hdr, data, warnings, None), peak


def _wfdb_kernel():
    """The native kernel if it is the backend in use (``$ECGEDGE_KERNEL``) and has this decoder, else None."""
    from ..dsp.backend import kernel_module

    k = kernel_module()
    return k if getattr(k, "WFDB16", 0) >= 3 else None


def _to_signal(hdr: Header, digital: np.ndarray, keep_digital: bool, verify: bool) -> Signal:
    specs = hdr.signals
    warnings = list(hdr.warnings)
    gains = [s.gain for s in specs]
    baselines = [s.baseline for s in specs]

    # Physical value = (digital - baseline) / gain, rounded once to float32. When every sample
    # and baseline fits in 16 bits and every gain is exact in float32, float32 arithmetic gives
    # bit-for-bit the float32 rounding of wfdb's float64 result (double rounding of a quotient of
    # float32 numbers is innocuous); otherwise compute in float64 first.
    g32 = np.array(gains, np.float32)
    narrow = all(s.fmt in _NARROW for s in specs) and all(abs(b) < 1 << 16 for b in baselines)
    if narrow and g32.tolist() == gains:
        data = np.array(digital.T, dtype=np.float32, order="C")
        # Integers below 2**17 are exact in float32 and their float64 sum is exact: the checksum
        # comes from this contiguous copy, far faster than a strided integer reduction.
        sums = data.sum(axis=1, dtype=np.float64).astype(np.int64).tolist() if verify else None
        data -= np.array(baselines, np.float32)[:, None]
        data /= g32[:, None]
    else:
        dT = np.ascontiguousarray(digital.T)
        sums = dT.sum(axis=1, dtype=np.int64).tolist() if verify else None
        phys = (dT - np.array(baselines, np.float64)[:, None]) / np.array(gains)[:, None]
        data = phys.astype(np.float32)

    _check_sums(hdr, sums, warnings)
    codes = {F.INVALID_SAMPLE[s.fmt] for s in specs}
    codes.discard(None)
    if codes and int(digital.min()) <= max(codes):
        for code in codes:
            mask = digital == code
            if not mask.any():
                continue
            mask &= np.array([F.INVALID_SAMPLE[s.fmt] == code for s in specs])
            data[mask.T] = np.nan
            for i in np.flatnonzero(mask.any(axis=0)):
                warnings.append(f"signal {specs[i].description or i}: {int(mask[:, i].sum())} "
                                "invalid sample(s) read as NaN")
    return _finish(hdr, data, warnings, np.ascontiguousarray(digital.T) if keep_digital else None)


def _check_sums(hdr: Header, sums: list[int] | None, warnings: list[str]) -> None:
    specs = hdr.signals
    if sums is not None and hdr.n_samples is not None:
        for i, s in enumerate(specs):
            # A checksum of 0 is the placeholder some writers (CinC 2017) put in every header.
            if s.checksum and (sums[i] - s.checksum) % 65536 != 0:
                warnings.append(
                    f"line {s.line}: checksum mismatch for signal {s.description or i} "
                    f"(header {s.checksum}, data {sums[i] % 65536}): the signal file may be damaged"
                )


def _finish(hdr: Header, data: np.ndarray, warnings: list[str], digital: np.ndarray | None) -> Signal:
    """The Signal of physical ``data`` ``[signals, samples]``: header warnings, leads and facts."""
    specs = hdr.signals
    for s in specs:
        if not s.calibrated:
            warnings.append(f"line {s.line}: gain 0 (uncalibrated); WFDB's default of 200 adu/unit assumed")

    raw_leads = tuple(s.description or f"ch{i}" for i, s in enumerate(specs))
    leads = tuple(map(normalize_lead, raw_leads))
    if len(set(leads)) != len(leads):
        _check_duplicate_leads(hdr, raw_leads, leads)
    meta = {
        "formats": tuple(s.fmt for s in specs),
        "gain": tuple(s.gain for s in specs),
        "baseline": tuple(s.baseline for s in specs),
        "base_time": hdr.base_time,
        "base_date": hdr.base_date,
        "reader": "ecgedge",
    }
    if hdr.comments:
        meta.update(_comment_facts(hdr.comments))
    return Signal(
        data=data, fs=hdr.fs, leads=leads, units=tuple(s.units for s in specs),
        name=hdr.record_name, comments=tuple(hdr.comments), path=hdr.path, raw_leads=raw_leads,
        warnings=warnings, digital=digital,
        meta=meta,
    )


#: WFDB's "no sample" codes, including the FLAC formats that only wfdb decodes.
_WFDB_INVALID = {**F.INVALID_SAMPLE, "508": -(2**7), "516": -(2**15), "524": -(2**23)}

_NARROW = frozenset({"8", "16", "61", "80", "160", "212", "310", "311"})


def _check_duplicate_leads(hdr: Header, raw: tuple[str, ...], leads: tuple[str, ...]) -> None:
    seen: dict[str, int] = {}
    for i, name in enumerate(leads):
        if name in seen and raw[i] not in ("", f"ch{i}"):
            j = seen[name]
            raise RecordError(
                f"duplicate lead name {raw[i]!r} (signals {j + 1} and {i + 1} both read as {name})",
                path=hdr.path, where=f"line {hdr.signals[i].line}",
                fix="give each signal a distinct description so leads can be told apart",
            )
        seen[name] = i


def _comment_facts(comments: Sequence[str]) -> dict:
    """Age, sex and diagnosis codes in the ``# Key: value`` style of the CinC challenges."""
    facts: dict = {}
    for c in comments:
        key, sep, value = c.partition(":")
        if not sep:
            continue
        k = key.strip().lower().strip("<>")
        v = value.strip()
        if k == "age":
            facts["age"] = v
        elif k == "sex":
            facts["sex"] = v
        elif k == "dx":
            facts["dx"] = tuple(x.strip() for x in v.split(",") if x.strip())
    return facts


def _check_files_before_wfdb(hdr: Header) -> None:
    """``wfdb`` opens whatever the header names and allocates what it claims before it reads: check
    both first. Every file must be a regular file inside the header's folder (wfdb would block on a
    FIFO and read /etc/passwd as samples), and its size must hold the samples the header claims."""
    directory = os.path.dirname(hdr.path)
    if hdr.n_segments is not None:
        _check_segments(hdr, directory)
        return
    for file_name, idx in _groups(hdr.signals):
        _check_signal_file(hdr, directory, file_name, hdr.signals[idx[0]])
    if hdr.n_samples is None:
        return
    for file_name, idx in _groups(hdr.signals):
        specs = [hdr.signals[i] for i in idx]
        first = specs[0]
        if file_name == "~":
            continue  # no file
        _check_shared_format(hdr, file_name, specs)
        if first.fmt not in NATIVE_FORMATS:
            continue  # no byte count to check (format 0, FLAC)
        skewed = max(specs, key=lambda s: s.skew)
        if skewed.skew > hdr.n_samples:
            raise RecordError(f"skew {skewed.skew} is longer than the record ({hdr.n_samples} samples)",
                              path=hdr.path, where=f"line {skewed.line}", fix="the format field's ':skew' is damaged")
        try:
            size = os.stat(os.path.join(directory, file_name)).st_size
        except OSError:
            continue  # missing or unreadable: wfdb says which
        frame = sum(s.samples_per_frame for s in specs)
        available = F.samples_in(first.fmt, max(size - first.byte_offset, 0)) // frame
        if hdr.n_samples > available:
            raise RecordError(
                f"header says {hdr.n_samples} samples per signal but {file_name} holds only {available} "
                f"(format {first.fmt}, {frame} sample(s) per frame, byte offset {first.byte_offset})",
                path=hdr.path, where=f"line 1 / line {first.line}",
                fix="the signal file is truncated or the header's sample count is wrong",
            )


def _check_segments(hdr: Header, directory: str) -> None:
    """A multi-segment record names other headers (one per segment), each naming signal files: all of
    them are checked the way a single-segment record's files are, before wfdb opens any."""
    for k, (name, _length) in enumerate(hdr.segments):
        if name == "~":
            continue  # a gap
        where = f"segment {k + 1} ({name})"
        seg_path = contained_path(directory, name + ".hea", header=hdr.path, field="segment name", where=where,
                                  example=f"{hdr.record_name}_0001")
        if not os.path.exists(seg_path):
            continue  # wfdb reports the missing segment
        seg = read_header(seg_path)  # regular, size-capped, names checked
        if seg.n_segments is not None:
            raise RecordError(f"segment {name!r} is itself a multi-segment record", path=hdr.path, where=where,
                              fix="WFDB segments are single-segment records")
        for file_name, idx in _groups(seg.signals):
            _check_signal_file(seg, directory, file_name, seg.signals[idx[0]])


def _check_signal_file(hdr: Header, directory: str, file_name: str, spec: SignalSpec) -> None:
    """A signal file that wfdb will open: inside the header's folder and a regular file (open_regular
    refuses FIFOs, devices and folders without blocking)."""
    if file_name == "~":
        return  # no file
    try:
        with _open_signal(_signal_path(hdr, directory, file_name, spec.line), hdr, file_name, spec.line):
            pass
    except FileNotFoundError:
        if spec.fmt == "0":
            return  # format 0: the signal is not stored, nothing is read
        raise RecordError(f"signal file {file_name} is missing", path=hdr.path, where=f"line {spec.line}",
                          fix=f"put {file_name} beside the header") from None
    except OSError as exc:
        raise RecordError(f"cannot read {file_name}: {exc.strerror}", path=hdr.path,
                          where=f"line {spec.line}") from None


def _read_with_wfdb(hdr: Header, keep_digital: bool) -> Signal:
    """Formats and layouts that ecgedge does not decode itself go through ``wfdb``."""
    try:
        import wfdb  # noqa: PLC0415 - optional, heavy: imported only for these records
    except ImportError:
        raise RecordError(
            "this record needs the 'wfdb' package (multi-segment, FLAC, skewed or multi-sample-frame "
            "signals)", path=hdr.path, fix="pip install wfdb",
        ) from None
    _check_files_before_wfdb(hdr)
    record_path = hdr.path[:-4]
    try:
        rec = wfdb.rdrecord(record_path, physical=False, smooth_frames=True)
    except Exception as exc:  # wfdb raises many kinds; the user needs the file and the reason
        raise RecordError(f"wfdb could not read this record: {exc}", path=hdr.path) from None
    d = np.asarray(rec.d_signal, dtype=np.float64)
    if d.ndim != 2 or 0 in d.shape:
        raise RecordError(f"wfdb read no samples (shape {d.shape})", path=hdr.path,
                          fix="nothing to read; drop this record")
    n_sig = d.shape[1]
    gain = np.asarray(rec.adc_gain, np.float64)
    gain[gain == 0] = 200.0  # uncalibrated: WFDB's default, as in the native reader
    baseline = np.asarray(rec.baseline, np.float64)
    phys = (d - baseline) / gain
    # wfdb leaves absent descriptions and units as None.
    raw = tuple(n or f"ch{i}" for i, n in enumerate(rec.sig_name or [None] * n_sig))
    units = tuple(u or "mV" for u in (rec.units or [None] * n_sig))
    warnings = list(hdr.warnings) + ["read through wfdb (format or layout not decoded natively)"]
    # wfdb fills what a skewed signal lacks at the end (and gaps the file marks) with the format's
    # "no sample" code; physical=False keeps that code, which would read as e.g. -32.768 mV.
    fmts = list(rec.fmt or []) if isinstance(rec.fmt, list | tuple) else [rec.fmt] * n_sig
    for i, fmt in enumerate(fmts[:n_sig]):
        code = _WFDB_INVALID.get(str(fmt)) if fmt is not None else None
        if code is None:
            continue
        invalid = d[:, i] == code
        if invalid.any():
            phys[invalid, i] = np.nan
            warnings.append(f"signal {raw[i]}: {int(invalid.sum())} invalid sample(s) read as NaN")
    return Signal(
        data=np.ascontiguousarray(phys.T, dtype=np.float32), fs=float(rec.fs),
        leads=tuple(normalize_lead(n) for n in raw), units=units,
        name=hdr.record_name, comments=tuple(hdr.comments), path=hdr.path, raw_leads=raw,
        warnings=warnings,
        digital=np.ascontiguousarray(rec.d_signal.T, dtype=np.int32) if keep_digital else None,
        meta={"reader": "wfdb", **_comment_facts(hdr.comments)},
    )
