"""A small, safe reader for MATLAB level-5 ``.mat`` files (numeric arrays, chars, structs, cells).

Enough for ECG archives such as CPSC2018 (a struct ``ECG`` with ``sex``, ``age`` and ``data``)
without scipy. It never executes anything from the file (MAT files hold no code anyway, but
"function handle" and "object" classes are refused rather than interpreted), bounds every
allocation by the file's own sizes, and caps decompression so a crafted file cannot exhaust memory.
"""

from __future__ import annotations

import os
import struct
import zlib

import numpy as np

from ..errors import RecordError

_MI_DTYPES = {
    1: "i1", 2: "u1", 3: "i2", 4: "u2", 5: "i4", 6: "u4", 7: "f4", 9: "f8", 12: "i8", 13: "u8",
}
_MI_MATRIX, _MI_COMPRESSED, _MI_UTF8, _MI_UTF16, _MI_UTF32 = 14, 15, 16, 17, 18
_MX_CELL, _MX_STRUCT, _MX_OBJECT, _MX_CHAR, _MX_SPARSE = 1, 2, 3, 4, 5
_MX_NUMERIC = {6: "f8", 7: "f4", 8: "i1", 9: "u1", 10: "i2", 11: "u2", 12: "i4", 13: "u4", 14: "i8", 15: "u8"}
_MAX_DECOMPRESSED = 1 << 31  # 2 GiB: far above any ECG, far below what a zip bomb asks for
_MAX_DEPTH = 32


class _Bad(Exception):
    pass


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
        with open(path, "rb") as fh:
            raw = fh.read()
    except FileNotFoundError:
        raise RecordError("file not found", path=path) from None
    except OSError as exc:
        raise RecordError(f"cannot read: {exc.strerror}", path=path) from None
    if not is_mat5(raw):
        raise RecordError("not a MATLAB level-5 .mat file (bad 128-byte header)", path=path,
                          fix="MATLAB v7.3 (HDF5) and v4 files need a WFDB header or another reader")
    endian = "<" if raw[126:128] == b"IM" else ">"
    try:
        return _read_elements(memoryview(raw)[128:], endian, depth=0)
    except _Bad as exc:
        raise RecordError(f"damaged MAT file: {exc}", path=path) from None


def _read_elements(buf: memoryview, e: str, depth: int) -> dict[str, object]:
    out: dict[str, object] = {}
    pos = 0
    while pos + 8 <= len(buf):
        mtype, data, pos = _tag(buf, pos, e)
        if mtype == _MI_COMPRESSED:
            inner = _inflate(data)
            sub = _read_elements(memoryview(inner), e, depth + 1)
            out.update(sub)
        elif mtype == _MI_MATRIX:
            name, value = _matrix(data, e, depth + 1)
            out[name] = value
        # Other top-level element types are not variables: skip them.
    return out


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


def _inflate(data: memoryview) -> bytes:
    d = zlib.decompressobj()
    try:
        out = d.decompress(data, _MAX_DECOMPRESSED)
    except zlib.error as exc:
        raise _Bad(f"compressed element does not inflate ({exc})") from None
    if d.unconsumed_tail:
        raise _Bad("compressed element inflates past the size limit")
    return out


def _numeric(mtype: int, data: memoryview, e: str) -> np.ndarray:
    dt = _MI_DTYPES.get(mtype)
    if dt is None:
        raise _Bad(f"unsupported numeric element type {mtype}")
    dtype = np.dtype(e + dt)
    if len(data) % dtype.itemsize:
        raise _Bad("numeric element size is not a multiple of its type")
    return np.frombuffer(data, dtype=dtype)


def _matrix(data: memoryview, e: str, depth: int) -> tuple[str, object]:
    if depth > _MAX_DEPTH:
        raise _Bad("structs/cells nested too deeply")
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
    dims = [int(x) for x in _numeric(t, dims_raw, e)]
    if any(d < 0 for d in dims) or len(dims) < 2:
        raise _Bad(f"invalid dimensions {dims}")
    count = int(np.prod(dims, dtype=np.int64))
    t, name_raw, pos = _tag(data, pos, e)
    name = bytes(name_raw).decode("ascii", "replace")

    if mclass in _MX_NUMERIC:
        t, real, pos = _tag(data, pos, e)
        arr = _numeric(t, real, e)
        if arr.size != count:
            raise _Bad(f"variable {name!r}: {arr.size} values for dimensions {dims}")
        arr = _to_class(arr, _MX_NUMERIC[mclass], name)
        if is_complex:
            t, imag, pos = _tag(data, pos, e)
            im = _numeric(t, imag, e)
            if im.size != count:
                raise _Bad(f"variable {name!r}: imaginary part has the wrong size")
            arr = arr + 1j * im
        return name, arr.reshape(dims, order="F")
    if mclass == _MX_CHAR:
        t, chars, pos = _tag(data, pos, e)
        if t == _MI_UTF8:
            text = bytes(chars).decode("utf-8", "replace")
        elif t in (_MI_UTF16, 4):
            text = bytes(chars).decode("utf-16-le" if e == "<" else "utf-16-be", "replace")
        elif t == _MI_UTF32:
            text = bytes(chars).decode("utf-32-le" if e == "<" else "utf-32-be", "replace")
        else:
            text = "".join(chr(int(c)) for c in _numeric(t, chars, e) if 0 <= int(c) < 0x110000)
        if len(dims) == 2 and dims[0] > 1 and dims[1] > 0 and len(text) == count:
            # A char matrix: its rows, read column-major.
            rows = ["".join(text[r + dims[0] * c] for c in range(dims[1])) for r in range(dims[0])]
            return name, rows
        return name, text
    if mclass == _MX_STRUCT:
        t, fl, pos = _tag(data, pos, e)
        field_len = int(_numeric(t, fl, e)[0]) if len(fl) else 0
        t, names_raw, pos = _tag(data, pos, e)
        if field_len <= 0 or len(names_raw) % field_len:
            raise _Bad(f"struct {name!r}: bad field-name table")
        names = [bytes(names_raw[i : i + field_len]).split(b"\0", 1)[0].decode("ascii", "replace")
                 for i in range(0, len(names_raw), field_len)]
        elements = []
        for _ in range(count):
            rec = {}
            for fname in names:
                t, sub, pos = _tag(data, pos, e)
                if t != _MI_MATRIX:
                    raise _Bad(f"struct {name!r}: field {fname!r} is not a matrix element")
                rec[fname] = _matrix(sub, e, depth + 1)[1]
            elements.append(rec)
        return name, elements[0] if count == 1 else elements
    if mclass == _MX_CELL:
        cells = []
        for _ in range(count):
            t, sub, pos = _tag(data, pos, e)
            if t != _MI_MATRIX:
                raise _Bad(f"cell {name!r}: element is not a matrix")
            cells.append(_matrix(sub, e, depth + 1)[1])
        return name, cells
    if mclass == _MX_SPARSE:
        raise _Bad(f"variable {name!r} is a sparse matrix, which ECG files never are")
    raise _Bad(f"variable {name!r} has MATLAB class {mclass}, which is not read (objects, handles)")
