"""Randomised driver for the kernel built with AddressSanitizer + UndefinedBehaviorSanitizer.

Run by tests/test_kernel_sanitized.py as ``python fuzz_kernel.py PATH_TO_SO SEED ITERATIONS``: random
shapes, dtypes, layouts, lead maps, filters, rates, medians, normalisations, windows, invalid samples
and chunkings, plus deliberate misuse. Any memory error or undefined behaviour aborts the process.
"""

import importlib.util
import math
import sys

import numpy as np

path, seed, iterations = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
spec = importlib.util.spec_from_file_location("_kernel", path)
K = importlib.util.module_from_spec(spec)
spec.loader.exec_module(K)
rng = np.random.default_rng(seed)

# Stable band-pass sections (Butterworth, computed once offline-style: poles inside the unit circle).
SOS = [
    np.array([[0.0675, 0.1349, 0.0675, 1.0, -1.1430, 0.4128]]),
    np.array([[0.0036, 0.0072, 0.0036, 1.0, -1.8227, 0.8372], [1.0, -2.0, 1.0, 1.0, -1.9911, 0.9912]]),
    np.array([[0.2, 0.4, 0.2, 1.0, -0.5, 0.3], [1.0, -2.0, 1.0, 1.0, -1.9, 0.905], [1.0, 0.0, -1.0, 1.0, -0.2, 0.1]]),
]
RATES = [(1, 5), (1, 2), (5, 18), (1, 3), (100, 257), (2, 5), (5, 1)]


def filt(up, down):
    max_rate = max(up, down)
    half = 10 * max_rate
    m = np.arange(2 * half + 1) - half
    h = (1.0 / max_rate) * np.sinc(m / max_rate) * np.kaiser(2 * half + 1, 5.0)
    h = h / h.sum() * up
    pre = down - half % down
    return np.concatenate([np.zeros(pre), h]), (half + pre) // down


def expect(exc_types, fn, *a, **k):
    try:
        fn(*a, **k)
    except exc_types:
        return
    raise AssertionError(f"{fn.__name__} accepted bad input")


for it in range(iterations):
    L = int(rng.integers(1, 20))
    n = int(rng.integers(1, 3000))
    C = L + int(rng.integers(0, 3))
    dtype = rng.choice([np.int16, np.int32, np.float32, np.float64])
    layout = int(rng.integers(0, 2))
    shape = (n, C) if layout == 0 else (C, n)
    src = (rng.standard_normal(shape) * 300).astype(dtype)
    nan_policy = int(rng.integers(0, 2))
    if dtype in (np.float32, np.float64) and rng.random() < 0.3:
        k = int(rng.integers(1, 6))
        flat = src.reshape(-1)
        flat[rng.integers(0, flat.size, k)] = rng.choice([np.nan, np.inf, -np.inf])
    gather = rng.permutation(C)[:L].astype(np.int32) if rng.random() < 0.7 else None
    gain = rng.uniform(0.5, 2000, L) if rng.random() < 0.5 else None
    sos = SOS[int(rng.integers(0, len(SOS)))] if rng.random() < 0.8 else None
    resample = rng.random() < 0.7
    up, down = RATES[int(rng.integers(0, len(RATES)))] if resample else (1, 1)
    h, pre = filt(up, down) if resample else (None, 0)
    m = -(-n * up // down) if resample else n
    window = int(rng.integers(1, 400)) if rng.random() < 0.6 else 0
    stride = int(rng.integers(1, 300))
    cover = bool(rng.integers(0, 2))
    k1 = int(rng.integers(0, 40)) * 2 + 1 if rng.random() < 0.3 else 0
    k2 = int(rng.integers(0, 60)) * 2 + 1 if k1 and rng.random() < 0.7 else 0
    kw = dict(gather=gather, gain=gain, nan_policy=nan_policy, max_gap=int(rng.integers(0, 10)),
              filter_first=bool(rng.integers(0, 2)), k1=k1, k2=k2, sos=sos, zero_phase=bool(rng.integers(0, 2)),
              h=h, up=up, down=down, pre_remove=pre, norm=int(rng.integers(0, 5)), window=window, stride=stride,
              cover_tail=cover, pad=int(rng.integers(0, 3)),
              invalid=int(rng.integers(-5, 5)) if dtype in (np.int16, np.int32) and rng.random() < 0.3 else None)
    W = 0
    if window:
        W = 1 if m <= window else 1 + (m - window) // stride + (1 if cover and (m - window) % stride else 0)
        size = W * L * window
    else:
        size = m * L
    starts = np.full(W, -1, np.int64)
    out = np.empty(size, np.float32)
    flags = np.zeros(L, np.uint8)
    if C < L and gather is None:
        continue
    try:
        K.run(src, layout, L, out, flags, starts=starts, **kw)
        assert np.isfinite(out).all(), "non-finite output"
        assert ((starts >= 0) & (starts <= max(m - window, 0))).all(), "window start outside the record"
    except (ValueError, FloatingPointError):
        pass  # too short for filtfilt, or non-finite input by policy: fine, as long as nothing broke
    if it % 5 == 0:
        B = int(rng.integers(1, 5))
        batch = np.stack([src] * B)
        bout = np.empty(size * B, np.float32)
        try:
            K.run_batch(batch, layout, L, bout, np.zeros((B, L), np.uint8), int(rng.integers(1, 4)), **kw)
        except (ValueError, FloatingPointError):
            pass
    # streaming pieces with random chunking
    x = rng.standard_normal((n, L))
    if sos is not None:
        state = np.zeros((2 * len(sos), L))
        i = 0
        while i < n:
            c = int(rng.integers(1, 200))
            part = np.ascontiguousarray(x[i:i + c])
            K.sosfilt(part, np.ascontiguousarray(sos), state)
            i += c
        y = x.copy()
        try:
            K.sosfiltfilt(y, np.ascontiguousarray(sos))
        except ValueError:
            pass
    if resample:
        j0 = int(rng.integers(0, max(m, 1)))
        n_out = int(rng.integers(0, 50))
        start = int(rng.integers(0, n))
        o = np.empty((n_out, L))
        if n_out:
            K.resample(np.ascontiguousarray(x[start:]), start, h, up, down, pre, j0, o)
    kk = int(rng.integers(0, 30)) * 2 + 1
    K.medfilt(x, kk, np.empty_like(x))
    # two-stage baseline removal, both layouts: widths either side of the shared-sort threshold, spikes
    k1, k2 = (int(rng.integers(0, 60)) * 2 + 1 for _ in range(2))
    xb = x.copy()
    if n > 2 and rng.random() < 0.3:
        xb[int(rng.integers(0, n))] = 1e12
    K.remove_baseline(xb, k1, k2)
    K.remove_baseline(np.ascontiguousarray(xb.T), k1, k2 if rng.random() < 0.8 else 0, True)
    if window:
        wc = K.window_count(n, window, stride, cover)
        K.windows(x, window, stride, cover, int(rng.integers(0, 3)), np.empty(wc * L * window, np.float32))
    # signal-quality features: any rate, length and lead count, NaN/inf, constants, absurd values, limb-lead codes
    if hasattr(K, "quality"):
        fs = float(rng.choice([50.0, 100.0, 128.0, 250.0, 257.0, 300.0, 360.0, 500.0, 1000.0, 7.0]))
        with np.errstate(over="ignore"):  # 3e38 times a normal deviate overflows float32: inf, as a stream can send
            xq = (rng.standard_normal((L, n)) * rng.choice([1e-4, 1.0, 1e3, 3e38])).astype(np.float32)
        if rng.random() < 0.3:
            xq[int(rng.integers(0, L))] = rng.choice([0.0, 1e30, np.nan, np.inf])
        if rng.random() < 0.3:
            xq.reshape(-1)[rng.integers(0, xq.size, 5)] = np.nan
        mq = min(n, int(round(fs / 2)))
        basis = rng.standard_normal((12, mq)).astype(np.float32) if mq >= 8 and rng.random() < 0.8 else None
        derive = rng.integers(0, 5, L).astype(np.int32) if rng.random() < 0.5 else None
        li, lii = (int(rng.integers(-1, L)) for _ in range(2))
        limits = np.abs(rng.standard_normal(K.QUALITY_LIMITS)) + 0.01 if rng.random() < 0.7 else None
        qout = np.empty((L, K.QUALITY_FEATURES))
        K.quality(xq, fs, qout, basis, mq if basis is not None else 0, 100.0, 0.02, 0.005, 2.0, derive, li, lii, limits)
        expect((ValueError, TypeError), K.quality, xq, fs, np.empty((L, 3)), None, 0, 1.0, 0.02, 0.005, 2.0, None, -1,
               -1, None)
        expect((ValueError, TypeError), K.quality, xq, fs, qout, np.zeros((12, 3), np.float32), 5, 1.0, 0.02, 0.005,
               2.0, None, -1, -1, None)
    if hasattr(K, "wfdb16"):
        # a format-16 signal file of random bytes (every int16 value, the invalid code included), any width and length,
        # read from an offset into a larger buffer as a header's byte offset does
        width, frames = int(rng.integers(1, 20)), int(rng.integers(1, 3000))
        extra = int(rng.integers(0, 7))
        raw = rng.integers(0, 256, 2 * width * frames + extra, dtype=np.uint8).tobytes()
        if rng.random() < 0.3:
            raw = bytes([0x00, 0x80]) * (width * frames) + raw[:extra]  # every sample invalid
        base = rng.integers(-40000, 40000, width).astype(np.float32)
        gain = rng.choice([1.0, -1.0, 200.0, 1e-30, 3e38, 0.001], width).astype(np.float32)
        sig = np.empty((width, frames), np.float32)
        sums, bad, lo, hi = (np.empty(width, np.int64) for _ in range(4))
        with np.errstate(all="ignore"):
            peak = K.wfdb16(memoryview(raw)[:2 * width * frames], frames, width, base, gain, sig, sums, bad, lo, hi)
            if bad.any():
                assert math.isnan(peak)  # the caller must look at every value
            else:
                assert peak == float(np.abs(sig).max()), (peak, np.abs(sig).max())
        d = np.frombuffer(raw, "<i2", count=width * frames).reshape(frames, width).astype(np.int64)
        assert (sums == d.sum(0)).all() and (bad == (d == -32768).sum(0)).all()
        assert (lo == d.min(0)).all() and (hi == d.max(0)).all()
        expect((ValueError, TypeError), K.wfdb16, raw[:2 * width * frames - 1], frames, width, base, gain, sig, sums,
               bad, lo, hi)
        expect((ValueError, TypeError), K.wfdb16, raw, frames, width + 1, base, gain, sig, sums, bad, lo, hi)
        expect((ValueError, TypeError), K.wfdb16, raw, frames, width, base, gain, sig.astype(np.float64), sums, bad,
               lo, hi)
        expect((ValueError, TypeError), K.wfdb16, raw, 0, width, base, gain, sig, sums, bad, lo, hi)
        expect((ValueError, TypeError), K.wfdb16, raw, frames, width, base, gain, sig, sums, bad, None, hi)
    if hasattr(K, "wfdb_header"):
        # headers: a valid one of random shape, then mutated bytewise (cut anywhere, bytes replaced or inserted)
        n_sig = int(rng.integers(0, 70))
        lines = [f"r{it} {n_sig} {rng.choice(['500', '360.5', '1000.'])} {int(rng.integers(0, 10**6))}"
                 + rng.choice(["", " 10:11:12.5", " 1/2/2000", " 2014-05-08 05:05:15"])]
        for _ in range(n_sig):
            lines.append(f"r.dat {rng.choice(['16', '212', '16x1+24', '80:3', '8x2'])} "
                         f"{rng.choice(['200', '1000.0(0)/mV', '12.5(-3)', '1(2147483647)/uV'])} 16 "
                         f"{int(rng.integers(-9, 9))} {int(rng.integers(-99, 99))} {int(rng.integers(-9, 99999))} 0"
                         + rng.choice(["", " V1", " lead II  "]))
            if rng.random() < 0.1:
                lines.append("# " + "c" * int(rng.integers(0, 300)))
        raw = bytearray("\n".join(lines).encode() + rng.choice([b"", b"\n", b"\r\n"]))
        got = K.wfdb_header(bytes(raw))
        assert got is None or len(got[-1]) == n_sig
        for _ in range(int(rng.integers(1, 6))):
            op, at = rng.integers(0, 3), int(rng.integers(0, len(raw) + 1))
            if op == 0:
                del raw[at:]
            elif op == 1 and at < len(raw):
                raw[at] = int(rng.integers(0, 256))
            else:
                raw[at:at] = bytes(rng.integers(0, 256, int(rng.integers(1, 8))).astype(np.uint8))
            K.wfdb_header(bytes(raw))
        K.wfdb_header(rng.integers(0, 256, int(rng.integers(0, 600))).astype(np.uint8).tobytes())
        expect((TypeError,), K.wfdb_header, "text, not bytes")

    # misuse: wrong sizes, types, flags; must raise, never touch memory
    expect((ValueError, TypeError), K.run, src, layout, L, np.empty(max(size - 1, 0), np.float32), flags, **kw)
    expect((ValueError, TypeError), K.run, src, layout, L, out, flags, starts=np.zeros(W + 1, np.int64), **kw)
    expect((ValueError, TypeError, IndexError), K.run, src, layout, L, out, flags,
           gather=np.full(L, C + 3, np.int32))
    expect((ValueError, TypeError), K.sosfilt, x, np.ones(5), np.zeros((2, L)))
    expect((ValueError, TypeError), K.resample, x, 0, np.zeros(0), 1, 2, 0, 0, np.empty((3, L)))
print("ok", iterations)
