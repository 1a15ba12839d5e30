"""Fuzzing the WFDB header parser and reader: damaged input raises RecordError and nothing else.

Three levels: random bytes into ``parse_header``; random mutations of real headers (bytes, tokens,
digits, absurd numbers, NaN/inf) into ``parse_header``; and the same mutated headers written beside
the real signal files and read with ``read_wfdb``, which must return (or raise RecordError) quickly,
without allocating what a damaged sample count claims. Real data is only read; the headers and
copies of the signal files live in a temporary folder.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import struct
import time
import tracemalloc
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from conftest import time_limit

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, event, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from ecgedge.datasets import data_root  # noqa: E402
from ecgedge.errors import RecordError  # noqa: E402
from ecgedge.io import parse_header, read_wfdb  # noqa: E402

DATA = data_root()

#: Real records (path under the data root, without extension): several writers and formats.
RECORDS = [
    "ptb-xl/records100/00000/00001_lr",  # 16, 12 leads, (0) baselines
    "ptb-xl/records100/00000/00002_lr",
    "cinc2021/E07500",  # 16x1+24 into a MAT v4 file, # Dx comments
    "physionet2017/training2017/A00001",  # 16+24, base time and date, trailing spaces
    "physionet2017/validation-iso-dates/A00001",  # ISO date
    "wfdb-examples/100",  # 212, blank line between signal lines
    "wfdb-examples/s0010_re",  # two signal files, long comments
    "wfdb-examples/3000003_0003",  # 80, fractional base time
]


@dataclass(frozen=True)
class Source:
    key: str  # its own folder in the copy: two sources may share a record name (A00001)
    stem: str  # record name: the mutated header is written as <key>/<stem>.hea
    hea: bytes
    files: tuple[Path, ...]  # signal files beside it


def _sources() -> list[Source]:
    out = []
    for rel in RECORDS:
        hea = DATA / (rel + ".hea")
        if not hea.exists():
            continue
        raw = hea.read_bytes()
        names = {line.split()[0] for line in raw.decode("utf-8", "replace").splitlines()[1:]
                 if line.strip() and not line.startswith("#")}
        files = tuple(hea.parent / n for n in sorted(names) if (hea.parent / n).is_file())
        out.append(Source(rel.replace("/", "_"), hea.stem, raw, files))
    return out


SOURCES = _sources()
pytestmark = pytest.mark.skipif(len(SOURCES) < 3, reason=f"real data not found under {DATA}")
#: ECGEDGE_FUZZ_SCALE=50 runs fifty times the examples (a deeper search than CI's ~15 s).
_SCALE = float(os.environ.get("ECGEDGE_FUZZ_SCALE", "1"))


def _n(examples: int) -> int:
    return max(1, int(examples * _SCALE))


FUZZ = settings(
    deadline=2000,  # ms per example: a damaged header never makes the reader slow
    database=None,  # nothing written into the working tree
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                           HealthCheck.data_too_large],
)

# ------------------------------------------------------------------------------------- mutations
#: Replacement tokens: absurd numbers, non-numbers, other formats, WFDB field syntax gone wrong.
NASTY = [
    b"0", b"-0", b"-1", b"1", b"-999999", b"2147483648", b"-2147483649", b"4294967296",
    str(10**12).encode(), str(10**18).encode(), str(10**19).encode(), str(10**29).encode(),
    str(10**30).encode(), str(10**31).encode(), b"9" * 60, b"-" + b"9" * 29,
    b"NaN", b"nan", b"inf", b"-inf", b"Infinity", b"1e308", b"1e309", b"-1e308", b"1e-320",
    b"1e-400", b"0.0", b"1.5", b"0x10", b"1_000", b"+5", b"--5", b"\xc2\xb2", b"\xd9\xa3",
    b"16", b"8", b"80", b"212", b"310", b"311", b"24", b"32", b"61", b"160", b"0", b"508", b"17",
    b"16x0", b"16x2", b"16x999999999", b"16:99999", b"16:3", b"16+999999999999", b"16+" + b"9" * 25,
    b"16x1+24", b"212+1", b"~", b"/", b"(", b")", b"()", b"(0", b"1000.0(abc)/mV", b"1000.0(0)/",
    b"200(0)", b"0(0)/mV", b"1e-7(0)/mV", b"x/2", b"x/0", b"100/", b"360/0", b"360/1(", b"360/1(2)",
    b"..", b"/dev/null", b"00001_lr.hea", b"#", b"\xff\xfe", b"\t", b"\r", b"\n", b"",
    # Issue 19: names that reach outside the header's folder, implausible rates and calibrations.
    b"/etc/passwd", b"/proc/self/environ", b"../x.dat", b"sub/../../00001_lr.dat", b"..\\x", b"C:x.dat",
    b"4.9e-324", b"0.5", b"100001", b"1e5", b"1000.0(100000000000000000000)/mV", b"1000.0(2147483648)/mV",
    b"1(0)/V", b"1e-06(0)/uV", b"0.001(0)/mV", b"200(-2147483648)/mV",
]


# Operations, weighted towards mutations that keep the header text so the reader gets further.
_OPS = (
    ["insert_bytes", "replace_byte", "truncate", "drop_line", "dup_line", "swap_lines", "grow_number",
     "negate", "delete"]
    + ["insert_text", "replace_char", "swap_tokens", "digit"] * 2
    + ["nasty_token"] * 4
    + ["reformat", "sample_count"] * 2
)
#: Format fields, native and not: the layouts read through wfdb are fuzzed too.
_FORMATS = [b"16", b"8", b"80", b"212", b"310", b"311", b"24", b"32", b"61", b"160", b"0", b"508", b"516",
            b"16x2", b"16x3", b"16:1", b"16:3", b"16:2000", b"16x2:5", b"16+1", b"16+24", b"16x1+24",
            b"212+3", b"80x4", b"16x0", b"16x999999"]
_CHARS = list(b"0123456789 -+.()/:x~e#\t\r\nVabc")
_TEXT = st.lists(st.sampled_from(_CHARS), min_size=1, max_size=6).map(bytes)


def _tokens(raw: bytes) -> list[tuple[int, int]]:
    return [m.span() for m in re.finditer(rb"\S+", raw)]


@st.composite
def _mutate(draw, raw: bytes) -> bytes:
    buf = bytearray(raw)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(_OPS))
        n = len(buf)
        if op in ("insert_bytes", "insert_text"):
            at = draw(st.integers(0, n))
            buf[at:at] = draw(st.binary(min_size=1, max_size=8) if op == "insert_bytes" else _TEXT)
        elif op == "delete" and n:
            at = draw(st.integers(0, n - 1))
            del buf[at : at + draw(st.integers(1, 16))]
        elif op in ("replace_byte", "replace_char") and n:
            buf[draw(st.integers(0, n - 1))] = draw(
                st.integers(0, 255) if op == "replace_byte" else st.sampled_from(_CHARS))
        elif op == "truncate" and n:
            del buf[draw(st.integers(0, n - 1)) :]
        elif op in ("swap_tokens", "nasty_token", "negate", "grow_number"):
            toks = _tokens(bytes(buf))
            if op == "grow_number":
                toks = [t for t in toks if re.fullmatch(rb"[-+]?\d+(\.\d*)?", bytes(buf[t[0] : t[1]]))]
            if not toks:
                continue
            a, b = draw(st.sampled_from(toks))
            if op == "swap_tokens":
                c, d = draw(st.sampled_from(toks))
                if (a, b) > (c, d):
                    a, b, c, d = c, d, a, b
                if b <= c:
                    buf[a:d] = buf[c:d] + buf[b:c] + buf[a:b]
            elif op == "nasty_token":
                buf[a:b] = draw(st.sampled_from(NASTY))
            elif op == "negate":
                buf[a:a] = b"-"
            else:
                buf[b:b] = draw(st.sampled_from([b"0" * 3, b"0" * 6, b"0" * 12, b"0" * 24, b"e300", b"9" * 9]))
        elif op in ("reformat", "sample_count"):
            lines = bytes(buf).split(b"\n")
            content = [i for i, ln in enumerate(lines) if ln.strip() and not ln.lstrip().startswith(b"#")]
            if not content:
                continue
            if op == "sample_count":
                toks = lines[content[0]].split()
                value = draw(st.one_of(st.integers(0, 10**30), st.sampled_from([0, 1, 999, 1000, 1001, 10**12])))
                toks[3:4] = [str(value).encode()]
                lines[content[0]] = b" ".join(toks)
            else:
                fmt = draw(st.sampled_from(_FORMATS))
                every = draw(st.booleans())
                for i in content[1:] if every else [draw(st.sampled_from(content[1:] or content))]:
                    toks = lines[i].split()
                    if len(toks) > 1:
                        toks[1] = fmt
                        lines[i] = b" ".join(toks)
            buf = bytearray(b"\n".join(lines))
        elif op == "digit":
            digits = [i for i, c in enumerate(buf) if 48 <= c <= 57]
            if digits:
                buf[draw(st.sampled_from(digits))] = draw(st.integers(48, 57))
        else:
            lines = bytes(buf).split(b"\n")
            i = draw(st.integers(0, len(lines) - 1))
            if op == "drop_line":
                del lines[i]
            elif op == "dup_line":
                lines.insert(i, lines[i])
            else:
                j = draw(st.integers(0, len(lines) - 1))
                lines[i], lines[j] = lines[j], lines[i]
            buf = bytearray(b"\n".join(lines))
    return bytes(buf)


@st.composite
def mutated_header(draw) -> tuple[Source, bytes]:
    src = draw(st.sampled_from(SOURCES))
    return src, draw(_mutate(src.hea))


# Header-shaped text, for random input that gets past the first line more often than bytes do.
_HEADER_TOKEN = st.sampled_from(NASTY + [b"rec", b"rec.dat", b"12", b"100", b"1000", b"1000.0(0)/mV", b"I", b"V1"])
_HEADER_LIKE = st.lists(
    st.lists(_HEADER_TOKEN, min_size=0, max_size=10).map(b" ".join), min_size=0, max_size=16,
).map(b"\n".join)


# --------------------------------------------------------------------------------------- helpers
def _parse_or_record_error(raw: bytes) -> None:
    try:
        hdr = parse_header(raw, "fuzz.hea")
    except RecordError as exc:
        assert "fuzz.hea" in str(exc)
        return
    assert hdr.n_signals >= 0
    if hdr.n_segments is None:
        assert len(hdr.signals) == hdr.n_signals
        assert all(np.isfinite(s.gain) and s.gain != 0 for s in hdr.signals)
        assert all(-(2**31) <= s.baseline < 2**31 and -(2**31) <= s.adc_zero < 2**31 for s in hdr.signals)
        names = [s.file_name for s in hdr.signals]
    else:
        names = [name for name, _ in hdr.segments]
    # Nothing a header names may reach outside its folder.
    for name in names:
        assert not name.startswith(("/", "\\")) and ".." not in re.split(r"[/\\]", name), name
    assert np.isfinite(hdr.fs) and 1 <= hdr.fs <= 100_000


@pytest.fixture(scope="module")
def record_dir(tmp_path_factory) -> Path:
    """The real signal files, copied into one folder the mutated headers are written into."""
    d = tmp_path_factory.mktemp("fuzz_records")
    for src in SOURCES:
        (d / src.key).mkdir()
        for f in src.files:
            shutil.copyfile(f, d / src.key / f.name)
    return d


def _read_or_record_error(path: Path) -> None:
    # Numeric warnings (overflow to inf, invalid casts) are failures too: they mean a damaged
    # header produced a garbage signal instead of a RecordError.
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        try:
            sig = read_wfdb(path)
        except RecordError as exc:
            assert path.name in str(exc)
            event("RecordError: " + re.sub(r"'[^']*'|\d+", "_", exc.message)[:50])
            return
    event("read (" + sig.meta.get("reader", "?") + ")")
    assert sig.data.dtype == np.float32 and sig.data.ndim == 2
    assert sig.data.shape[0] == len(sig.leads) >= 1 and sig.data.shape[1] >= 1
    assert not np.isinf(sig.data).any()


# ------------------------------------------------------------------------------------------ tests
@settings(FUZZ, max_examples=_n(1000))
@given(raw=st.one_of(st.binary(max_size=2048), _HEADER_LIKE))
def test_random_bytes_raise_only_record_error(raw):
    _parse_or_record_error(raw)


@settings(FUZZ, max_examples=_n(2000))
@given(case=mutated_header())
def test_mutated_real_headers_raise_only_record_error(case):
    _parse_or_record_error(case[1])


def _outcome(parse, raw: bytes):
    try:
        return parse(raw, "x.hea")
    except RecordError as exc:
        return ("RecordError", str(exc))


@pytest.mark.skipif(not getattr(__import__("ecgedge.dsp.backend", fromlist=["x"]).kernel_module(), "WFDB_HEADER", 0),
                    reason="no native kernel")
@settings(FUZZ, max_examples=_n(3000))
@given(raw=st.one_of(mutated_header().map(lambda case: case[1]), _HEADER_LIKE, st.binary(max_size=512)))
def test_the_native_header_parser_agrees_with_the_python_one(raw):
    """Whatever the native tokeniser takes (it hands everything else to the Python parser), the Header is the one
    the Python parser gives; and a header the Python parser refuses, the native one never takes."""
    import ecgedge._kernel as K

    from ecgedge.io.wfdb_header import parse_header_python

    event("native" if K.wfdb_header(raw) is not None else "python")
    assert _outcome(parse_header, raw) == _outcome(parse_header_python, raw)


def test_the_native_header_parser_takes_every_shared_header():
    """Every header in the shared data is of the common form (so the reader's fast path serves them all), and reads
    to the same Header both ways."""
    import ecgedge._kernel as K

    from ecgedge.io.wfdb_header import parse_header_python

    if not getattr(K, "WFDB_HEADER", 0):
        pytest.skip("no native kernel")
    headers = sorted(DATA.rglob("*.hea"))
    assert len(headers) > 8000
    for hea in headers:
        raw = hea.read_bytes()
        assert K.wfdb_header(raw) is not None, hea
        assert parse_header(raw, str(hea)) == parse_header_python(raw, str(hea)), hea


@settings(FUZZ, max_examples=_n(1500))
@given(case=mutated_header())
def test_mutated_headers_beside_real_signals(record_dir, case):
    src, raw = case
    hea = record_dir / src.key / (src.stem + ".hea")
    hea.write_bytes(raw)
    with time_limit(20):
        _read_or_record_error(hea)


@settings(FUZZ, max_examples=_n(500))
@given(case=mutated_header())
def test_mutated_headers_read_as_ecg_have_plausible_values(record_dir, case):
    # Through read_record (what data info, infer and prepare use), a damaged calibration is a RecordError,
    # never a lead of absurd values: no lead in mV/uV/V may sit beyond 100 mV for most of its samples.
    from ecgedge.dsp import unit_scale
    from ecgedge.io import read_record

    src, raw = case
    hea = record_dir / src.key / (src.stem + ".hea")
    hea.write_bytes(raw)
    with time_limit(20), warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        try:
            sig = read_record(hea)
        except RecordError as exc:
            assert hea.name in str(exc) or ".hea" in str(exc)
            return
    for i, unit in enumerate(sig.units):
        scale = unit_scale(unit)
        if scale is None:
            continue
        x = sig.data[i][~np.isnan(sig.data[i])]
        assert np.count_nonzero(np.abs(x) * scale > 100) <= 0.5 * x.size, (sig.raw_leads[i], unit)


def test_unmutated_sources_read(record_dir):
    # The control for the fuzzing above: every source header, written the same way, reads.
    for src in SOURCES:
        hea = record_dir / src.key / (src.stem + ".hea")
        hea.write_bytes(src.hea)
        sig = read_wfdb(hea)
        assert sig.data.shape[1] > 0, src.stem


@pytest.mark.parametrize("n_samples", [10**9, 10**12, 10**18, 10**29])
def test_huge_sample_count_fails_fast_without_allocating(record_dir, n_samples):
    # A header claiming 10**12 samples must be refused from the file size, not by first trying to
    # allocate terabytes (or gigabytes that happen to be there).
    for src in SOURCES:
        lines = src.hea.split(b"\n")
        i = next(i for i, ln in enumerate(lines) if ln.strip() and not ln.startswith(b"#"))
        first = lines[i].split()
        first[3] = str(n_samples).encode()
        lines[i] = b" ".join(first)
        hea = record_dir / src.key / (src.stem + ".hea")
        hea.write_bytes(b"\n".join(lines))
        tracemalloc.start()
        t0 = time.perf_counter()
        try:
            with pytest.raises(RecordError, match=f"header says {n_samples} samples"):
                read_wfdb(hea)
            elapsed = time.perf_counter() - t0
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert elapsed < 1.0, (src.stem, elapsed)
        assert peak < 64 << 20, (src.stem, peak)


@pytest.mark.parametrize("fmt_field", [b"16x999999999", b"16x2", b"16:999999999"])
def test_wfdb_fallback_checks_sizes_first(record_dir, fmt_field):
    # Layouts read through wfdb (several samples per frame, skew): wfdb allocates what the header
    # claims, so the claim is checked against the file before wfdb is called.
    pytest.importorskip("wfdb")
    src = next(s for s in SOURCES if s.stem == "00001_lr")
    lines = src.hea.split(b"\n")
    lines[0] = b"00001_lr 12 100 " + str(10**11).encode()
    lines[1:] = [ln.replace(b".dat 16 ", b".dat " + fmt_field + b" ") for ln in lines[1:]]
    hea = record_dir / src.key / "00001_lr.hea"
    hea.write_bytes(b"\n".join(lines))
    tracemalloc.start()
    try:
        with pytest.raises(RecordError, match="line 2"):
            read_wfdb(hea)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20


# ------------------------------------------------------------------------------ CPSC .mat files
@pytest.fixture(scope="module")
def mat_bases(tmp_path_factory) -> list[bytes]:
    """Real CPSC2018 data as MAT5 files: scipy-written (plain and compressed) and the original."""
    sio = pytest.importorskip("scipy.io")
    src = DATA / "cpsc2018" / "A1980.mat"
    if not src.exists():
        pytest.skip("cpsc2018/A1980.mat not in the data root")
    data = sio.loadmat(src)["ECG"][0, 0]["data"][:, :64]
    d = tmp_path_factory.mktemp("fuzz_mat")
    out = []
    for compress in (False, True):
        p = d / f"c{int(compress)}.mat"
        sio.savemat(p, {"ECG": {"sex": "Male", "age": np.array([[52.0]]), "data": data}}, do_compression=compress)
        out.append(p.read_bytes())
    out.append(src.read_bytes())
    return out


@settings(FUZZ, max_examples=_n(800))
@given(choice=st.integers(0, 2), edits=st.lists(
    st.tuples(st.sampled_from(["byte", "insert", "delete", "int32"]), st.integers(0, 1 << 20),
              st.integers(0, 255), st.integers(0, 2**32 - 1)), min_size=1, max_size=4))
def test_mutated_cpsc_mat_raise_only_record_error(tmp_path, mat_bases, choice, edits):
    # The MAT5 reader parses sizes, types and dimensions out of the file: damaged ones (a
    # dimension of 2**32-1, a float where an int belongs, a zlib stream cut short) are RecordErrors.
    from ecgedge.io.cpsc import read_cpsc_mat

    buf = bytearray(mat_bases[choice])
    for op, pos, val, word in edits:
        pos %= len(buf) + 1
        if op == "byte" and pos < len(buf):
            buf[pos] = val
        elif op == "insert":
            buf[pos:pos] = bytes([val])
        elif op == "delete":
            del buf[pos : pos + 1 + val % 8]
        elif op == "int32" and 128 <= pos <= len(buf) - 4:
            pos -= pos % 4  # a tag or size field, aligned as MAT5 writes them
            buf[pos : pos + 4] = word.to_bytes(4, "little")
    mat = tmp_path / "A0000.mat"
    mat.write_bytes(bytes(buf))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        try:
            sig = read_cpsc_mat(mat)
        except RecordError as exc:
            assert "A0000.mat" in str(exc)
            return
    assert sig.data.dtype == np.float32 and sig.data.shape[0] == 12
    assert np.isfinite(sig.data).all()


def test_mat_values_that_do_not_fit_their_class_are_a_record_error():
    """Found by the fuzz above: an int16-class variable whose stored doubles overflow int16 (or a float32 class
    given 1e300) is a damaged file, reported as such, never a wrapped number or a numpy warning."""
    from ecgedge.io.matv5 import _Bad, _to_class

    for arr, code in ((np.array([1.0, 1e10]), "i2"), (np.array([np.nan]), "i4"), (np.array([-1], "i8"), "u1"),
                      (np.array([1e300]), "f4")):
        with pytest.raises(_Bad, match="do not fit its class"):
            _to_class(arr, code, "val")
    out = _to_class(np.array([-3, 7], "i1"), "f8", "val")
    assert out.dtype == np.float64 and out.tolist() == [-3.0, 7.0]
    assert _to_class(np.array([300.0]), "i2", "val").tolist() == [300]


# ------------------------------------------------------------------ MAT-5 files built from parts
# Random element trees (numeric, char, struct, cell and compressed elements nested in each other) with
# dimensions that disagree with their data, absurd counts and deep nesting (issue 19): the reader
# returns or raises RecordError, quickly, without allocating what a dimension or a tag claims.
def _el(mtype: int, payload: bytes) -> bytes:
    return struct.pack("<II", mtype, len(payload)) + payload + b"\0" * (-len(payload) % 8)


def _mat_matrix(flags: int, dims: list[int], name: bytes, body: bytes) -> bytes:
    return _el(14, _el(6, struct.pack("<II", flags, 0)) + _el(5, struct.pack(f"<{len(dims)}i", *dims))
               + _el(1, name) + body)


_MAT_DIMS = st.lists(st.sampled_from([0, 1, 2, 3, 12, 1000, 10**9, 2**31 - 1]), min_size=0, max_size=5)
_MI_SIZES = {1: 1, 2: 1, 3: 2, 4: 2, 5: 4, 6: 4, 7: 4, 9: 8, 12: 8, 13: 8, 16: 1, 17: 2, 18: 4, 99: 1}


@st.composite
def _mat_leaf(draw) -> bytes:
    dims = draw(_MAT_DIMS)
    mclass = draw(st.sampled_from([4, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 3, 5, 16]))
    complex_flag = 0x800 if draw(st.booleans()) else 0
    mi = draw(st.sampled_from(sorted(_MI_SIZES)))
    n = draw(st.sampled_from([0, 1, 2, 12, max(0, min(math.prod(dims), 4096))]))
    data = draw(st.binary(min_size=n * _MI_SIZES[mi], max_size=n * _MI_SIZES[mi]))
    body = _el(mi, data) + (_el(mi, data) if complex_flag else b"")
    return _mat_matrix(mclass | complex_flag, dims, b"v", body)


def _mat_struct(children: list[bytes], dims: list[int], n_fields: int) -> bytes:
    names = b"".join(f"f{i}".encode().ljust(32, b"\0") for i in range(n_fields))
    return _mat_matrix(2, dims, b"s", struct.pack("<HHi", 5, 4, 32) + _el(1, names) + b"".join(children))


_MAT_TREE = st.recursive(
    _mat_leaf(),
    lambda kids: st.one_of(
        st.builds(_mat_struct, st.lists(kids, max_size=4), _MAT_DIMS, st.integers(0, 3)),
        st.builds(lambda k, d: _mat_matrix(1, d, b"c", b"".join(k)), st.lists(kids, max_size=4), _MAT_DIMS),
        kids.map(lambda k: struct.pack("<II", 15, len(z := zlib.compress(k))) + z),
    ),
    max_leaves=12,
)


@st.composite
def _mat_chain(draw) -> bytes:
    """One leaf under a long chain of compressed elements, cells and one-element structs."""
    element = draw(_mat_leaf())
    for kind in draw(st.lists(st.sampled_from(["compressed", "cell", "struct"]), min_size=20, max_size=80)):
        if kind == "compressed":
            z = zlib.compress(element)
            element = struct.pack("<II", 15, len(z)) + z
        elif kind == "cell":
            element = _mat_matrix(1, [1, 1], b"c", element)
        else:
            element = _mat_struct([element], [1, 1], 1)
    return element


@settings(FUZZ, max_examples=_n(600))
@given(elements=st.lists(st.one_of(_MAT_TREE, _mat_chain()), min_size=1, max_size=3))
def test_mat_files_built_from_random_parts(tmp_path_factory, elements):
    from ecgedge.io.matv5 import read_mat5

    mat = tmp_path_factory.mktemp("mat_parts") / "A0000.mat"
    header = b"MATLAB 5.0 MAT-file, fuzz".ljust(116, b" ") + b"\0" * 8 + struct.pack("<H", 0x0100) + b"IM"
    mat.write_bytes(header + b"".join(elements))
    tracemalloc.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            try:
                read_mat5(mat)
            except RecordError as exc:
                assert "A0000.mat" in str(exc)
                event("RecordError: " + re.sub(r"'[^']*'|[\d,]+", "_", exc.message)[:60])
            else:
                event("read")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20, peak
