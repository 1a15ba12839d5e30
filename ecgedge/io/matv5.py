"""A small, safe reader for MATLAB level-5 ``.mat`` files (numeric arrays, chars, structs, cells).

Enough for ECG archives such as CPSC2018 (a struct ``ECG`` with ``sex``, ``age`` and ``data``)
without scipy. It never executes anything from the file (MAT files hold no code anyway, but
"function handle" and "object" classes are refused rather than interpreted), bounds every
allocation by the file's own sizes, and caps decompression so a crafted file cannot exhaust memory.
"""

from __future__ import annotations

import math
import os
import struct
import zlib

import numpy as np

from ..errors import RecordError
from ._files import open_regular, read_capped

_MI_DTYPES = {
    1: "i1", 2: "u1", 3: "i2", 4: "u2", 5: "i4", 6: "u4", 7: "f4", 9: "f8", 12: "i8", 13: "u8",
}
_MI_MATRIX, _MI_COMPRESSED, _MI_UTF8, _MI_UTF16, _MI_UTF32 = 14, 15, 16, 17, 18
_MX_CELL, _MX_STRUCT, _MX_OBJECT, _MX_CHAR, _MX_SPARSE = 1, 2, 3, 4, 5
_MX_NUMERIC = {6: "f8", 7: "f4", 8: "i1", 9: "u1", 10: "i2", 11: "u2", 12: "i4", 13: "u4", 14: "i8", 15: "u8"}
# Caps per file, far above any ECG (a CPSC2018 record is under 8 MB of values) and far below what a
# crafted file can ask for. Each is checked before the memory it guards is allocated.
#: The .mat file itself (it is read whole).
MAX_FILE_BYTES = 512 << 20
#: All compressed elements of a file together, inflated (a zip bomb inflates ~1000x).
MAX_INFLATED_BYTES = 512 << 20
#: All arrays the reader builds, after conversion to their MATLAB class (int8 stored as double is 8x).
MAX_VALUE_BYTES = 512 << 20
#: Data elements parsed per file: variables, struct fields, cells, skipped tags (each costs Python work:
#: this keeps a crafted file to about a second; a CPSC2018 file has five).
MAX_ELEMENTS = 1 << 17
#: Nesting of compressed elements, structs and cells.
MAX_DEPTH = 32
#: Dimensions of one array (MATLAB's own arrays rarely have more than 4).
MAX_DIMS = 32
#: Inflated/compressed ratio above which a large compressed element is refused before it is inflated:
#: ECG samples compress 1-10x, while deflate's zip bombs reach ~1000x.
MAX_RATIO = 64
_RATIO_FREE_BYTES = 16 << 20  # small elements (a struct of zeros) may compress as well as they like


class _Bad(Exception):
    pass


class _State:
    """What one file has used of its caps so far."""

    __slots__ = ("endian", "inflated", "value_bytes", "elements")

    def __init__(self, endian: str) -> None:
        self.endian = endian
        self.inflated = 0
        self.value_bytes = 0
        self.elements = 0

    def element(self, n: int = 1, what: str = "") -> None:
        self.elements += n
        if self.elements > MAX_ELEMENTS:
            raise _Bad(f"{what + ': ' if what else ''}more than {MAX_ELEMENTS:,} data elements "
                       "(the reader's cap per file)")

    def values(self, nbytes: int, name: str) -> None:
        self.value_bytes += nbytes
        if self.value_bytes > MAX_VALUE_BYTES:
            raise _Bad(f"variable {name!r} takes the file's values past {MAX_VALUE_BYTES >> 20} MB "
                       "(the reader's cap per file)")


def _to_class(arr: np.ndarray, code: str, name: str) -> np.ndarray:
    """Stored values as the variable's class (MATLAB may store a double in int16 to save space); values that do
    not fit the class mean a damaged file, not a wrapped or infinite number."""
    dt = np.dtype(code)
    if dt.kind in "iu" and arr.size:
        info = np.iinfo(dt)
        if (arr.dtype.kind == "f" and not np.isfinite(arr).all()) or arr.min() < info.min or arr.max() > info.max:
            raise _Bad(f"variable {name!r}: stored values do not fit its class {dt}")
    try:
        with np.errstate(all="raise"):
            return arr.astype(dt.newbyteorder("="))
    except FloatingPointError:
        raise _Bad(f"variable {name!r}: stored values do not fit its class {dt}") from None


def is_mat5(head: bytes) -> bool:
    return len(head) >= 128 and head[:6] == b"MATLAB" and head[126:128] in (b"IM", b"MI")


def read_mat5(path: str | os.PathLike[str]) -> dict[str, object]:
    """Top-level variables of a level-5 MAT file: numpy arrays, str, dict (struct), list (cell)."""
    path = os.fspath(path)
    try:
        with open_regular(path, what="MAT file", fix="pass a .mat file") as fh:
            raw = read_capped(fh, MAX_FILE_BYTES)
    except FileNotFoundError:
        raise RecordError("file not found", path=path) from None
    except OSError as exc:
        raise RecordError(f"cannot read: {exc.strerror}", path=path) from None
    if raw is None:
        raise RecordError(f"is larger than {MAX_FILE_BYTES >> 20} MB (the reader's cap on a .mat file)",
                          path=path, fix="an ECG record is far smaller; is this the right file?")
    if not is_mat5(raw):
        raise RecordError("not a MATLAB level-5 .mat file (bad 128-byte header)", path=path,
                          fix="MATLAB v7.3 (HDF5) and v4 files need a WFDB header or another reader")
    st = _State("<" if raw[126:128] == b"IM" else ">")
    try:
        return _read_elements(memoryview(raw)[128:], st, depth=0)
    except _Bad as exc:
        raise RecordError(f"damaged MAT file: {exc}", path=path,
                          fix="re-download or re-export the file; ecgedge reads plain numeric/char/struct/cell "
                              "variables") from None


def _read_elements(buf: memoryview, st: _State, depth: int) -> dict[str, object]:
    out: dict[str, object] = {}
    pos = 0
    while pos + 8 <= len(buf):
        st.element()
        mtype, data, pos = _tag(buf, pos, st.endian)
        _variable(mtype, data, st, depth, out)
    return out


def _variable(mtype: int, data: memoryview, st: _State, depth: int, out: dict[str, object]) -> None:
    """A top-level element into ``out``: a matrix, or a compressed element holding one (possibly
    compressed again: the depth cap stops 3,000 nested ones with a RecordError, not a RecursionError)."""
    if depth > MAX_DEPTH:
        raise _Bad(f"elements nested more than {MAX_DEPTH} deep (the reader's cap)")
    if mtype == _MI_COMPRESSED:
        inner = _inflate(data, st)
        if inner is not None:
            _variable(inner[0], memoryview(inner[1]), st, depth + 1, out)
    elif mtype == _MI_MATRIX:
        name, value = _matrix(data, st, depth + 1)
        out[name] = value
    # Other element types are not variables: skipped.


def _tag(buf: memoryview, pos: int, e: str) -> tuple[int, memoryview, int]:
    if pos + 8 > len(buf):
        raise _Bad("element tag runs past the end of the file")
    first, second = struct.unpack_from(e + "II", buf, pos)
    if first >> 16:  # small data element: type and size packed in 4 bytes, data in the next 4
        mtype, nbytes = first & 0xFFFF, first >> 16
        if nbytes > 4:
            raise _Bad(f"small data element claims {nbytes} bytes")
        return mtype, buf[pos + 4 : pos + 4 + nbytes], pos + 8
    mtype, nbytes = first, second
    start = pos + 8
    end = start + nbytes
    if end > len(buf):
        raise _Bad(f"element of {nbytes} bytes runs past the end of the file")
    # Elements are padded to 8 bytes, except compressed ones.
    nxt = end if mtype == _MI_COMPRESSED else start + ((nbytes + 7) & ~7)
    return mtype, buf[start:end], min(nxt, len(buf))


def _inflate(data: memoryview, st: _State) -> tuple[int, bytes] | None:
    """The one element a compressed element holds (as MATLAB writes and scipy reads them), as its type
    and its data, inflated only as far as its own tag says, after checking that size against the file's
    caps. None when it is not a variable (nothing to inflate)."""
    d = zlib.decompressobj()
    try:
        head = d.decompress(data, 8)
        if len(head) < 8:
            raise _Bad("compressed element is cut short before its first tag")
        first, second = struct.unpack(st.endian + "II", head)
        if first >> 16:  # a small element: 8 bytes in all, never a variable
            return None
        mtype, size = first, 8 + second
        if mtype not in (_MI_MATRIX, _MI_COMPRESSED):
            return None  # not a variable: skipped without inflating the rest
        if st.inflated + size > MAX_INFLATED_BYTES:
            raise _Bad(f"compressed elements inflate to more than {MAX_INFLATED_BYTES >> 20} MB "
                       f"(this one claims {size:,} bytes; the reader's cap per file)")
        if size > _RATIO_FREE_BYTES and size > MAX_RATIO * len(data):
            raise _Bad(f"a compressed element of {len(data):,} bytes claims {size:,} bytes inflated "
                       f"(over {MAX_RATIO}:1, which ECG data never reaches)")
        st.inflated += size
        # max_length of 0 would mean "no limit": an empty element has nothing more to inflate.
        body = d.decompress(d.unconsumed_tail, size - 8) if size > 8 else b""
    except zlib.error as exc:
        raise _Bad(f"compressed element does not inflate ({exc})") from None
    if len(body) < size - 8:
        raise _Bad(f"compressed element inflates to {len(body) + 8:,} bytes but its tag claims {size:,}")
    return mtype, body


def _numeric(mtype: int, data: memoryview, e: str) -> np.ndarray:
    dt = _MI_DTYPES.get(mtype)
    if dt is None:
        raise _Bad(f"unsupported numeric element type {mtype}")
    dtype = np.dtype(e + dt)
    if len(data) % dtype.itemsize:
        raise _Bad("numeric element size is not a multiple of its type")
    return np.frombuffer(data, dtype=dtype)


def _text(codes: np.ndarray) -> str:
    """Character codes as text, vectorised (a crafted file may hold millions); invalid codes dropped."""
    if codes.dtype.kind == "f":  # MATLAB may store char codes as doubles: NaN/inf/1e300 are not characters
        codes = codes[np.isfinite(codes) & (np.abs(codes) < 0x110000)]
    codes = codes.astype(np.int64, copy=False)
    codes = codes[(codes >= 0) & (codes < 0x110000) & ((codes < 0xD800) | (codes > 0xDFFF))]
    return codes.astype("<u4").tobytes().decode("utf-32-le")


def _matrix(data: memoryview, st: _State, depth: int) -> tuple[str, object]:
    if depth > MAX_DEPTH:
        raise _Bad(f"structs/cells nested more than {MAX_DEPTH} deep (the reader's cap)")
    e = st.endian
    if len(data) == 0:
        return "", np.zeros((0, 0))
    pos = 0
    t, flags, pos = _tag(data, pos, e)
    f = _numeric(t, flags, e)
    if f.size < 1:
        raise _Bad("matrix without array flags")
    mclass = int(f[0]) & 0xFF
    is_complex = bool(int(f[0]) & 0x800)
    t, dims_raw, pos = _tag(data, pos, e)
    dims_arr = _numeric(t, dims_raw, e)
    if dims_arr.size > MAX_DIMS:
        raise _Bad(f"array with {dims_arr.size} dimensions (the reader's cap is {MAX_DIMS})")
    dims = [int(x) for x in dims_arr]
    if any(d < 0 for d in dims) or len(dims) < 2:
        raise _Bad(f"invalid dimensions {dims}")
    count = math.prod(dims)  # exact: numpy's int64 product wraps for 2**31 x 2**31 x 4
    t, name_raw, pos = _tag(data, pos, e)
    name = bytes(name_raw[:256]).decode("ascii", "replace")

    if mclass in _MX_NUMERIC:
        t, real, pos = _tag(data, pos, e)
        arr = _numeric(t, real, e)
        if arr.size != count:
            raise _Bad(f"variable {name!r}: {arr.size} values for dimensions {dims}")
        # The class's array, plus (complex) the imaginary part and the complex128 result.
        st.values(count * (np.dtype(_MX_NUMERIC[mclass]).itemsize + (32 if is_complex else 0)), name)
        arr = _to_class(arr, _MX_NUMERIC[mclass], name)
        if is_complex:
            t, imag, pos = _tag(data, pos, e)
            im = _numeric(t, imag, e)
            if im.size != count:
                raise _Bad(f"variable {name!r}: imaginary part has the wrong size")
            arr = arr + 1j * im
        try:
            return name, arr.reshape(dims, order="F")
        except ValueError:  # an empty array with dimensions numpy cannot index (0 x 1e9 x 2**31)
            raise _Bad(f"variable {name!r}: dimensions {dims} are beyond what an array can have") from None
    if mclass == _MX_CHAR:
        t, chars, pos = _tag(data, pos, e)
        st.values(8 * count, name)  # the codes and the str built from them
        if t == _MI_UTF8:
            text = bytes(chars).decode("utf-8", "replace")
        elif t in (_MI_UTF16, 4):
            text = bytes(chars).decode("utf-16-le" if e == "<" else "utf-16-be", "replace")
        elif t == _MI_UTF32:
            text = bytes(chars).decode("utf-32-le" if e == "<" else "utf-32-be", "replace")
        else:
            text = _text(_numeric(t, chars, e))
        if len(dims) == 2 and dims[0] > 1 and dims[1] > 0 and len(text) == count:
            # A char matrix: its rows, read column-major.
            grid = np.frombuffer(text.encode("utf-32-le"), "<u4").reshape(dims, order="F")
            return name, [row.tobytes().decode("utf-32-le") for row in np.ascontiguousarray(grid)]
        return name, text
    if mclass == _MX_STRUCT:
        t, fl, pos = _tag(data, pos, e)
        field_len = int(_numeric(t, fl, e)[0]) if len(fl) else 0
        t, names_raw, pos = _tag(data, pos, e)
        if field_len <= 0 or len(names_raw) % field_len:
            raise _Bad(f"struct {name!r}: bad field-name table")
        n_fields = len(names_raw) // field_len
        if count * n_fields * 8 > len(data) - pos:
            raise _Bad(f"struct {name!r}: {count:,} elements of {n_fields} fields do not fit in its "
                       f"{len(data):,} bytes")
        # Every element of a struct array is a dict, fields or not: a 1e9 x 1e9 struct without
        # fields holds no bytes but would build 1e18 dicts. Counted before any is built.
        st.element(count * max(n_fields, 1), f"struct {name!r} of {count:,} elements")
        if not n_fields:  # nothing to read per element: no loop over a count the file chose
            return name, {} if count == 1 else [{} for _ in range(count)]
        names = [bytes(names_raw[i : i + field_len]).split(b"\0", 1)[0].decode("ascii", "replace")
                 for i in range(0, len(names_raw), field_len)]
        elements = []
        for _ in range(count):
            rec = {}
            for fname in names:
                t, sub, pos = _tag(data, pos, e)
                if t != _MI_MATRIX:
                    raise _Bad(f"struct {name!r}: field {fname!r} is not a matrix element")
                rec[fname] = _matrix(sub, st, depth + 1)[1]
            elements.append(rec)
        return name, elements[0] if count == 1 else elements
    if mclass == _MX_CELL:
        if count * 8 > len(data) - pos:
            raise _Bad(f"cell {name!r}: {count:,} cells do not fit in its {len(data):,} bytes")
        st.element(count, f"cell {name!r}")
        cells = []
        for _ in range(count):
            t, sub, pos = _tag(data, pos, e)
            if t != _MI_MATRIX:
                raise _Bad(f"cell {name!r}: element is not a matrix")
            cells.append(_matrix(sub, st, depth + 1)[1])
        return name, cells
    if mclass == _MX_SPARSE:
        raise _Bad(f"variable {name!r} is a sparse matrix, which ECG files never are")
    raise _Bad(f"variable {name!r} has MATLAB class {mclass}, which is not read (objects, handles)")
