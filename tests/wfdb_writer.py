"""A small WFDB writer for tests: encodes every format ecgedge decodes, so each can be read back
through ``wfdb.rdrecord`` (the reference) and through ecgedge. ``wfdb`` itself writes only some
formats (80, 16, 24, 32 and FLAC)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

BITS = {"8": 8, "16": 16, "24": 24, "32": 32, "61": 16, "80": 8, "160": 16, "212": 12, "310": 10, "311": 10}


def encode(fmt: str, samples: np.ndarray, init: np.ndarray | None = None) -> bytes:
    """``samples`` is int [frames, signals]; returns the signal file's bytes."""
    s = np.asarray(samples, np.int64)
    flat = s.reshape(-1)
    if fmt == "16":
        return flat.astype("<i2").tobytes()
    if fmt == "61":
        return flat.astype(">i2").tobytes()
    if fmt == "80":
        return (flat + 128).astype(np.uint8).tobytes()
    if fmt == "160":
        return (flat + 32768).astype("<u2").tobytes()
    if fmt == "32":
        return flat.astype("<i4").tobytes()
    if fmt == "24":
        u = flat & 0xFFFFFF
        return np.stack([u & 0xFF, (u >> 8) & 0xFF, (u >> 16) & 0xFF], axis=1).astype(np.uint8).tobytes()
    if fmt == "8":
        prev = np.asarray(init, np.int64)[None, :]
        diffs = np.diff(np.concatenate([prev, s]), axis=0)
        assert np.abs(diffs).max() <= 127, "format 8 needs first differences within +-127"
        return diffs.reshape(-1).astype(np.int8).tobytes()
    if fmt == "212":
        v = flat & 0xFFF
        if v.size % 2:
            v = np.concatenate([v, [0]])
        a, b = v[0::2], v[1::2]
        out = np.stack([a & 0xFF, ((a >> 8) & 0x0F) | (((b >> 8) & 0x0F) << 4), b & 0xFF], axis=1)
        return out.astype(np.uint8).tobytes()
    if fmt in ("310", "311"):
        v = flat & 0x3FF
        pad = (-v.size) % 3
        v = np.concatenate([v, np.zeros(pad, np.int64)])
        a, b, c = v[0::3], v[1::3], v[2::3]
        if fmt == "310":
            w0 = (a << 1) | ((c & 0x1F) << 11)
            w1 = (b << 1) | (((c >> 5) & 0x1F) << 11)
            words = np.stack([w0, w1], axis=1).reshape(-1)
            return words.astype("<u2").tobytes()
        w = a | (b << 10) | (c << 20)
        return w.astype("<u4").tobytes()
    raise ValueError(fmt)


def write_record(folder: Path, name: str, fmt: str, samples: np.ndarray, fs: float = 250.0,
                 gains: list[float] | None = None, baselines: list[int] | None = None,
                 leads: list[str] | None = None, byte_offset: int = 0) -> Path:
    """Write ``name.hea`` + ``name.dat`` in format ``fmt`` with correct checksums."""
    samples = np.asarray(samples, np.int64)
    n, nsig = samples.shape
    gains = gains or [200.0] * nsig
    baselines = baselines or [0] * nsig
    leads = leads or [f"ch{i}" for i in range(nsig)]
    init = samples[0] if fmt != "8" else samples[0] - np.clip(samples[0], -100, 100)
    payload = encode(fmt, samples, init if fmt == "8" else None)
    (folder / f"{name}.dat").write_bytes(b"\0" * byte_offset + payload)
    fmt_field = fmt + (f"+{byte_offset}" if byte_offset else "")
    lines = [f"{name} {nsig} {fs:g} {n}"]
    for i in range(nsig):
        checksum = int(samples[:, i].sum()) % 65536
        checksum = checksum - 65536 if checksum >= 32768 else checksum
        lines.append(f"{name}.dat {fmt_field} {gains[i]:g}({baselines[i]})/mV {BITS[fmt]} 0 {int(init[i])} "
                     f"{checksum} 0 {leads[i]}")
    (folder / f"{name}.hea").write_text("\n".join(lines) + "\n")
    return folder / f"{name}.hea"


def random_samples(fmt: str, n: int, nsig: int, rng: np.random.Generator, with_extremes: bool = True) -> np.ndarray:
    bits = BITS[fmt]
    lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    if fmt == "8":
        steps = rng.integers(-20, 21, (n, nsig))
        return np.clip(np.cumsum(steps, axis=0), -5000, 5000)
    x = rng.integers(lo + 1, hi + 1, (n, nsig))
    if with_extremes and n > 4:
        x[1, 0] = lo + 1
        x[2, 0] = hi
        x[3, 0] = lo  # the "invalid sample" code of most formats
    return x
