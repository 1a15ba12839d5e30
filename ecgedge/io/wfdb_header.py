"""A strict, fast parser for WFDB header (``.hea``) files.

Follows the WFDB header specification (record line, one line per signal, ``#`` comments), with
two tolerances that real archives need: dates written in ISO form (the PhysioNet-2017 validation
release writes ``2014-05-08 05:05:15``, which ``wfdb`` 4.3 rejects) and comment lines in a legacy
8-bit encoding (decoded as Latin-1, with a warning). Everything else that is malformed raises
:class:`~ecgedge.errors.RecordError` naming the file, the line and the field.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field

from ..errors import RecordError
from ._files import check_relative_name, open_regular, read_capped

#: Signal file formats decoded natively; others are read through ``wfdb`` when it is installed.
NATIVE_FORMATS = frozenset({"8", "16", "24", "32", "61", "80", "160", "212", "310", "311"})
#: Every format the WFDB specification defines.
KNOWN_FORMATS = NATIVE_FORMATS | {"0", "508", "516", "524"}

_MAX_HEADER_BYTES = 4 << 20
_MIN_GAIN, _MAX_GAIN = 1e-6, 1e15
#: Plausible sampling frequencies (Hz): far beyond any ECG device at both ends.
_MIN_FS, _MAX_FS = 1.0, 100_000.0
#: Baselines and ADC zeros are 32-bit integers in the WFDB library (and in every real header).
_INT32 = 1 << 31
_FMT_RE = re.compile(r"^(\d+)(?:x(\d+))?(?::(\d+))?(?:\+(\d+))?$")
_TIME_RE = re.compile(r"^\d{1,2}:\d{1,2}(:\d{1,2}(\.\d*)?)?$")
_DATE_RE = re.compile(r"^\d{1,2}/\d{1,2}/\d{1,4}$")
_ISO_DATE_RE = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}$")


@dataclass(slots=True)
class SignalSpec:
    """One signal line of a header."""

    file_name: str
    fmt: str
    samples_per_frame: int = 1
    skew: int = 0
    byte_offset: int = 0
    gain: float = 200.0
    baseline: int = 0
    units: str = "mV"
    adc_resolution: int = 0
    adc_zero: int = 0
    initial_value: int = 0
    checksum: int | None = None
    block_size: int = 0
    description: str = ""
    line: int = 0
    #: False when the header wrote a gain of 0 ("uncalibrated"): WFDB then assumes 200.
    calibrated: bool = True


@dataclass
class Header:
    """A parsed WFDB header."""

    path: str
    record_name: str
    n_signals: int
    fs: float
    n_samples: int | None
    signals: list[SignalSpec]
    comments: list[str] = field(default_factory=list)
    n_segments: int | None = None
    #: (segment name, samples) for multi-segment records.
    segments: list[tuple[str, int]] = field(default_factory=list)
    counter_freq: float | None = None
    base_counter: float | None = None
    base_time: str | None = None
    base_date: str | None = None
    warnings: list[str] = field(default_factory=list)


def read_header(path: str | os.PathLike[str]) -> Header:
    """Read and parse the header at ``path`` (``.hea`` or the record path without extension)."""
    path = os.fspath(path)
    if not path.endswith(".hea"):
        path = path + ".hea"
    try:
        # Regular files only (a FIFO would block, /dev/zero never ends), and never more than a
        # header can be: a few MB, checked before reading.
        with open_regular(path, what="header", fix="pass a WFDB .hea file", buffered=False) as fh:
            raw = read_capped(fh, _MAX_HEADER_BYTES)
    except FileNotFoundError:
        raise RecordError("header file not found", path=path, fix="check the record path") from None
    except OSError as exc:
        raise RecordError(f"cannot read header: {exc.strerror}", path=path) from None
    if raw is None:
        raise RecordError(f"is larger than {_MAX_HEADER_BYTES >> 20} MB: not a WFDB header",
                          path=path, fix="pass the .hea file, not a signal file")
    return parse_header(raw, path)


def parse_header(raw: bytes, path: str = "<header>") -> Header:
    """Parse the bytes of a header. Raises :class:`RecordError` and nothing else on bad input.

    The common form (plain ASCII; no segments or counter frequency; plain decimal numbers in range; a relative
    file name: every header in the shared data, PTB-XL's and the challenges') is tokenised by the native kernel
    where it is the backend in use (``ee_parse_header``); anything else, including every header with something
    wrong in it, by :func:`parse_header_python`. Both give the same Header."""
    from ..dsp.backend import kernel_module

    k = kernel_module()
    got = k.wfdb_header(raw) if k is not None and getattr(k, "WFDB_HEADER", 0) >= 1 else None
    if got is not None:
        name, n_signals, fs, n_samples, base_time, base_date, comments, rows = got
        if all(r[1] in KNOWN_FORMATS for r in rows):
            return Header(path=path, record_name=name, n_signals=n_signals, fs=fs, n_samples=n_samples,
                          signals=[SignalSpec(*r) for r in rows], comments=comments, base_time=base_time,
                          base_date=base_date)
    return parse_header_python(raw, path)


def parse_header_python(raw: bytes, path: str = "<header>") -> Header:
    """:func:`parse_header` without the native kernel: every form the specification allows, and the error that
    names the file, the line and the field for everything else."""
    warnings: list[str] = []
    comments: list[str] = []
    content: list[tuple[int, str]] = []
    try:
        lines = raw.decode("utf-8").split("\n")
    except UnicodeDecodeError:
        lines = None
    if lines is None:
        lines = _decode_lines_leniently(raw, path, warnings)
    for lineno, text in enumerate(lines, start=1):
        text = text.strip()
        if not text:
            continue
        if text[0] == "#":
            comments.append(text[1:].strip())
            continue
        if "\x00" in text:
            raise RecordError("NUL byte in a header line", path=path, where=f"line {lineno}",
                              fix="this does not look like a WFDB header")
        content.append((lineno, text))

    if not content:
        raise RecordError("header has no record line", path=path, fix="is this a WFDB .hea file?")

    lineno, record_line = content[0]
    hdr = _parse_record_line(record_line, lineno, path)
    hdr.comments = comments
    hdr.warnings = warnings
    body = content[1:]

    if hdr.n_segments is not None:
        if len(body) < hdr.n_segments:
            raise RecordError(
                f"record line declares {hdr.n_segments} segments but the header lists {len(body)}",
                path=path, where=f"line {lineno}",
            )
        for seg_lineno, seg_line in body[: hdr.n_segments]:
            toks = seg_line.split()
            if len(toks) != 2:
                raise RecordError("a segment line must be 'name samples'", path=path,
                                  where=f"line {seg_lineno}")
            if toks[0] != "~":
                check_relative_name(toks[0], field="segment name", path=path, where=f"line {seg_lineno}",
                                    example=f"{hdr.record_name}_0001")
            hdr.segments.append((toks[0], _int(toks[1], "segment length", path, seg_lineno, minimum=0)))
        return hdr

    if len(body) < hdr.n_signals:
        where = f"line {body[-1][0]}" if body else f"line {lineno}"
        raise RecordError(
            f"record line declares {hdr.n_signals} signals but the header has {len(body)} signal lines",
            path=path, where=where, fix="fix the signal count on the record line or add the missing lines",
        )
    for sig_lineno, sig_line in body[: hdr.n_signals]:
        hdr.signals.append(_parse_signal_line(sig_line, sig_lineno, path))
    if len(body) > hdr.n_signals:
        extra_line = body[hdr.n_signals][0]
        hdr.warnings.append(
            f"line {extra_line}: {len(body) - hdr.n_signals} line(s) after the {hdr.n_signals} "
            "signal lines that are not comments; ignored"
        )
    return hdr


def _decode_lines_leniently(raw: bytes, path: str, warnings: list[str]) -> list[str]:
    """Comment lines may be Latin-1 (old European archives); structural lines must be UTF-8."""
    lines = []
    for lineno, bline in enumerate(raw.split(b"\n"), start=1):
        try:
            lines.append(bline.decode("utf-8"))
        except UnicodeDecodeError as exc:
            if bline.strip().startswith(b"#"):
                lines.append(bline.decode("latin-1"))
                warnings.append(f"line {lineno}: comment is not UTF-8; read as Latin-1")
                continue
            raise RecordError(
                f"bytes that are not UTF-8 at column {exc.start + 1}",
                path=path, where=f"line {lineno}",
                fix="a WFDB header is plain text; re-save it as ASCII/UTF-8",
            ) from None
    return lines


def _parse_record_line(line: str, lineno: int, path: str) -> Header:
    toks = line.split()
    if len(toks) < 2:
        raise RecordError(
            "record line needs at least a record name and a signal count",
            path=path, where=f"line {lineno}", fix="e.g. '00001_lr 12 100 1000'",
        )
    name = toks[0]
    n_segments = None
    if "/" in name:
        name, _, seg = name.partition("/")
        n_segments = _int(seg, "number of segments", path, lineno, minimum=1)
    if not name:
        raise RecordError("empty record name", path=path, where=f"line {lineno}")
    n_signals = _int(toks[1], "number of signals", path, lineno, minimum=0)

    fs = 250.0  # WFDB's default sampling frequency
    counter_freq = base_counter = None
    if len(toks) > 2:
        fs_tok = toks[2]
        fs_part, slash, counter = fs_tok.partition("/")
        fs = _float(fs_part, "sampling frequency", path, lineno)
        if not _MIN_FS <= fs <= _MAX_FS:
            # 1e308 or 4.9e-324 parse as numbers but would divide every later duration and
            # filter design into inf/0.
            raise RecordError(
                f"'sampling frequency' {fs_part[:40]!r} is outside {_MIN_FS:g} Hz to {_MAX_FS / 1000:g} kHz",
                path=path, where=f"line {lineno}",
                fix="the record line's third field is samples per second per signal; no ECG is sampled outside "
                    "this range",
            )
        if slash:
            cf_part, paren, bc = counter.partition("(")
            counter_freq = _float(cf_part, "counter frequency", path, lineno)
            if paren:
                if not bc.endswith(")"):
                    raise RecordError(f"'base counter' is missing its ')': {counter!r}",
                                      path=path, where=f"line {lineno}")
                base_counter = _float(bc[:-1], "base counter", path, lineno)

    n_samples = None
    if len(toks) > 3:
        n_samples = _int(toks[3], "number of samples", path, lineno, minimum=0)

    base_time = base_date = None
    warnings: list[str] = []
    for tok in toks[4:]:
        if base_time is None and _TIME_RE.match(tok):
            base_time = tok
        elif base_date is None and (_DATE_RE.match(tok) or _ISO_DATE_RE.match(tok)):
            base_date = tok
        else:
            warnings.append(f"line {lineno}: unrecognised base time/date {tok!r}; ignored")
    hdr = Header(
        path=path, record_name=name, n_signals=n_signals, fs=fs, n_samples=n_samples, signals=[],
        n_segments=n_segments, counter_freq=counter_freq, base_counter=base_counter,
        base_time=base_time, base_date=base_date,
    )
    hdr.warnings.extend(warnings)
    return hdr


def _parse_signal_line(line: str, lineno: int, path: str) -> SignalSpec:
    toks = line.split(None, 8)
    ntok = len(toks)
    if ntok < 2:
        raise RecordError(
            "signal line needs at least a file name and a format",
            path=path, where=f"line {lineno}", fix="e.g. '00001_lr.dat 16 1000.0(0)/mV 16 0 -119 1508 0 I'",
        )
    file_name = toks[0]
    if file_name != "~" and (file_name[:1] in "/\\" or ":" in file_name[:2] or ".." in file_name):
        check_relative_name(file_name, field="file name", path=path, where=f"line {lineno}",
                            example=f"{os.path.basename(path)[:-4] or 'record'}.dat")
    # The format and gain fields repeat on every line of a header (and across a data set):
    # parse each distinct spelling once.
    fmt, spf, skew, offset = _FMT_CACHE.get(toks[1]) or _parse_fmt(toks[1], lineno, path)
    gain, baseline, units, calibrated = (
        (_GAIN_CACHE.get(toks[2]) or _parse_gain(toks[2], lineno, path)) if ntok > 2
        else (200.0, None, "mV", True)
    )
    adc_res = _int(toks[3], "adc resolution", path, lineno, minimum=0) if ntok > 3 else 0
    adc_zero = _int32(toks[4], "adc zero", path, lineno) if ntok > 4 else 0
    # Positional, in field order: this runs once per signal of every record read.
    return SignalSpec(
        file_name, fmt, spf, skew, offset, gain, adc_zero if baseline is None else baseline, units,
        adc_res, adc_zero,
        _int(toks[5], "initial value", path, lineno) if ntok > 5 else adc_zero,
        _int(toks[6], "checksum", path, lineno) if ntok > 6 else None,
        _int(toks[7], "block size", path, lineno, minimum=0) if ntok > 7 else 0,
        toks[8].strip() if ntok > 8 else "",
        lineno, calibrated,
    )


_FMT_CACHE: dict[str, tuple[str, int, int, int]] = {}
_GAIN_CACHE: dict[str, tuple[float, int | None, str, bool]] = {}


def _parse_fmt(tok: str, lineno: int, path: str) -> tuple[str, int, int, int]:
    m = _FMT_RE.match(tok)
    if not m or len(tok) > 40:
        raise RecordError(f"'format' is not a WFDB format field: {tok[:40]!r}", path=path,
                          where=f"line {lineno}", fix="e.g. 16, 212 or 16x1+24")
    fmt = str(int(m.group(1)))
    if fmt not in KNOWN_FORMATS:
        raise RecordError(
            f"unknown signal format {fmt!r}", path=path, where=f"line {lineno}",
            fix="WFDB formats are " + ", ".join(sorted(KNOWN_FORMATS, key=int)),
        )
    spf = _int(m.group(2), "samples per frame", path, lineno, minimum=1) if m.group(2) else 1
    skew = _int(m.group(3), "skew", path, lineno, minimum=0) if m.group(3) else 0
    offset = _int(m.group(4), "byte offset", path, lineno, minimum=0) if m.group(4) else 0
    if len(_FMT_CACHE) < 256:
        _FMT_CACHE[tok] = (fmt, spf, skew, offset)
    return fmt, spf, skew, offset


def _parse_gain(tok: str, lineno: int, path: str) -> tuple[float, int | None, str, bool]:
    gain_part, slash, units = tok.partition("/")
    if slash and not units:
        raise RecordError(f"'units' is empty after '/': {tok[:40]!r}", path=path, where=f"line {lineno}")
    gain_str, paren, base = gain_part.partition("(")
    gain = _float(gain_str, "adc gain", path, lineno)
    baseline = None
    if paren:
        if not base.endswith(")"):
            raise RecordError(f"'baseline' is missing its ')': {tok[:40]!r}", path=path,
                              where=f"line {lineno}", fix="write gain(baseline)/units, e.g. 200(0)/mV")
        baseline = _int32(base[:-1], "baseline", path, lineno)
    # (digital - baseline) / gain must stay a finite float32 for any 32-bit sample and any baseline
    # the parser accepts (32-bit); no real ADC has a gain outside this range. A written 0 means
    # "uncalibrated"; a tiny gain that rounds to 0.0 (1e-400) does not.
    if gain != 0 and not _MIN_GAIN <= abs(gain) <= _MAX_GAIN or (
            gain == 0 and gain_str.lower().partition("e")[0].strip("+-0.")):
        raise RecordError(f"'adc gain' is out of range: {gain_str[:40]!r}", path=path, where=f"line {lineno}",
                          fix=f"a gain is {_MIN_GAIN:g} to {_MAX_GAIN:g} adu per unit (0: uncalibrated)")
    calibrated = gain != 0
    if not calibrated:
        gain = 200.0  # WFDB: a gain of 0 means uncalibrated, read with the default 200 adu/unit
    result = (gain, baseline, units if slash else "mV", calibrated)
    if len(_GAIN_CACHE) < 4096:
        _GAIN_CACHE[tok] = result
    return result


def _int(tok: str, what: str, path: str, lineno: int, minimum: int | None = None) -> int:
    if len(tok) < 19 and tok.isascii() and (tok.isdigit() or (tok[:1] == "-" and tok[1:].isdigit())):
        value = int(tok)  # the common case, fast
        if minimum is not None and value < minimum:
            raise RecordError(f"'{what}' must be at least {minimum}, not {value}", path=path,
                              where=f"line {lineno}")
        return value
    # int() accepts '1_000' and surrounding spaces; a header field must be plain digits.
    body = tok[1:] if tok[:1] in "+-" else tok
    if not body.isdigit() or not body.isascii():
        raise RecordError(f"'{what}' is not an integer: {tok!r}", path=path, where=f"line {lineno}")
    if len(body) > 30:
        raise RecordError(f"'{what}' is out of range: {tok[:40]!r}", path=path, where=f"line {lineno}")
    value = int(tok)
    if minimum is not None and value < minimum:
        raise RecordError(f"'{what}' must be at least {minimum}, not {value}", path=path,
                          where=f"line {lineno}")
    return value


def _int32(tok: str, what: str, path: str, lineno: int) -> int:
    """A signed 32-bit field: a baseline of 1e20 turns every sample into -1e17 mV."""
    value = _int(tok, what, path, lineno)
    if not -_INT32 <= value < _INT32:
        raise RecordError(f"'{what}' is out of range: {tok[:40]!r}", path=path, where=f"line {lineno}",
                          fix=f"WFDB stores it as a 32-bit integer ({-_INT32} to {_INT32 - 1})")
    return value


def _float(tok: str, what: str, path: str, lineno: int) -> float:
    if not tok or "_" in tok or not tok.isascii() or len(tok) > 40:
        raise RecordError(f"'{what}' is not a number: {tok!r}", path=path, where=f"line {lineno}")
    try:
        value = float(tok)
    except ValueError:
        raise RecordError(f"'{what}' is not a number: {tok!r}", path=path, where=f"line {lineno}") from None
    if not math.isfinite(value):
        raise RecordError(f"'{what}' must be finite, not {tok!r}", path=path, where=f"line {lineno}")
    return value
