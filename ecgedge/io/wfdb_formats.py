"""Vectorised decoders for the WFDB signal file formats (numpy only).

Each decoder turns the bytes of a signal file into a flat int32 array of samples in file order
(frame after frame, the signals of a frame one after the other), which the caller reshapes.
"""

from __future__ import annotations

import numpy as np

#: WFDB's "no sample" code per format (``wfdb`` turns it into NaN in physical units).
INVALID_SAMPLE = {
    "80": -(2**7),
    "310": -(2**9),
    "311": -(2**9),
    "212": -(2**11),
    "16": -(2**15),
    "61": -(2**15),
    "160": -(2**15),
    "24": -(2**23),
    "32": -(2**31),
    "8": None,
}


def bytes_for(fmt: str, n_samples: int) -> int:
    """Bytes that ``n_samples`` samples occupy in format ``fmt``."""
    if fmt in ("8", "80"):
        return n_samples
    if fmt in ("16", "61", "160"):
        return 2 * n_samples
    if fmt == "24":
        return 3 * n_samples
    if fmt == "32":
        return 4 * n_samples
    if fmt == "212":
        return (3 * n_samples + 1) // 2
    if fmt in ("310", "311"):
        # Three samples per 4 bytes; a trailing one or two samples take 2 or 3 bytes... rounded
        # up to whole 16-bit words (310) or bytes (311) as the WFDB library writes them.
        full, rest = divmod(n_samples, 3)
        tail = {0: 0, 1: 2, 2: 4}[rest] if fmt == "310" else {0: 0, 1: 2, 2: 3}[rest]
        return 4 * full + tail
    raise ValueError(f"no byte count for format {fmt}")


def samples_in(fmt: str, n_bytes: int) -> int:
    """Whole samples held by ``n_bytes`` bytes of format ``fmt``."""
    if fmt in ("8", "80"):
        return n_bytes
    if fmt in ("16", "61", "160"):
        return n_bytes // 2
    if fmt == "24":
        return n_bytes // 3
    if fmt == "32":
        return n_bytes // 4
    if fmt == "212":
        return (2 * n_bytes) // 3
    if fmt in ("310", "311"):
        return 3 * (n_bytes // 4) + (0 if n_bytes % 4 < 2 else (1 if n_bytes % 4 == 2 else 2))
    raise ValueError(f"no sample count for format {fmt}")


def decode(fmt: str, buf: bytes | memoryview, n: int) -> np.ndarray:
    """Decode the first ``n`` samples of ``buf``. The buffer must hold at least ``bytes_for(n)``."""
    if fmt == "16":
        return np.frombuffer(buf, dtype="<i2", count=n).astype(np.int32)
    if fmt == "61":
        return np.frombuffer(buf, dtype=">i2", count=n).astype(np.int32)
    if fmt == "80":
        return np.frombuffer(buf, dtype=np.uint8, count=n).astype(np.int32) - 128
    if fmt == "160":
        return np.frombuffer(buf, dtype="<u2", count=n).astype(np.int32) - 32768
    if fmt == "8":
        # First differences; the caller integrates per signal (it needs the frame layout).
        return np.frombuffer(buf, dtype=np.int8, count=n).astype(np.int32)
    if fmt == "32":
        return np.frombuffer(buf, dtype="<i4", count=n).astype(np.int32)
    if fmt == "24":
        b = np.frombuffer(buf, dtype=np.uint8, count=3 * n).reshape(n, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        return (v ^ 0x800000) - 0x800000
    if fmt == "212":
        return _decode_212(buf, n)
    if fmt == "310":
        return _decode_310(buf, n)
    if fmt == "311":
        return _decode_311(buf, n)
    raise ValueError(f"format {fmt} has no native decoder")


def _sign_extend(v: np.ndarray, bits: int) -> np.ndarray:
    half = 1 << (bits - 1)
    return (v ^ half) - half


def _padded(buf: bytes | memoryview, n_bytes: int, group: int) -> np.ndarray:
    raw = np.frombuffer(buf, dtype=np.uint8, count=min(n_bytes, len(buf)))
    pad = (-raw.size) % group
    if pad:
        raw = np.concatenate([raw, np.zeros(pad, np.uint8)])
    return raw.reshape(-1, group).astype(np.int32)


def _decode_212(buf: bytes | memoryview, n: int) -> np.ndarray:
    b = _padded(buf, bytes_for("212", n), 3)
    out = np.empty(2 * b.shape[0], np.int32)
    out[0::2] = b[:, 0] | ((b[:, 1] & 0x0F) << 8)
    out[1::2] = b[:, 2] | ((b[:, 1] & 0xF0) << 4)
    return _sign_extend(out[:n], 12)


def _decode_310(buf: bytes | memoryview, n: int) -> np.ndarray:
    b = _padded(buf, bytes_for("310", n), 4)
    w0 = b[:, 0] | (b[:, 1] << 8)
    w1 = b[:, 2] | (b[:, 3] << 8)
    out = np.empty(3 * b.shape[0], np.int32)
    out[0::3] = (w0 >> 1) & 0x3FF
    out[1::3] = (w1 >> 1) & 0x3FF
    out[2::3] = ((w0 >> 11) & 0x1F) | (((w1 >> 11) & 0x1F) << 5)
    return _sign_extend(out[:n], 10)


def _decode_311(buf: bytes | memoryview, n: int) -> np.ndarray:
    b = _padded(buf, bytes_for("311", n), 4)
    w = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16) | (b[:, 3] << 24)
    out = np.empty(3 * b.shape[0], np.int32)
    out[0::3] = w & 0x3FF
    out[1::3] = (w >> 10) & 0x3FF
    out[2::3] = (w >> 20) & 0x3FF
    return _sign_extend(out[:n], 10)
