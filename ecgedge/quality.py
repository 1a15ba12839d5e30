"""Signal quality: is a recording fit to be classified at all?

A lead that fell off, a saturated amplifier, mains hum or a moving patient gives samples that a
classifier still turns into confident diagnoses. :func:`assess` looks at the raw signal (physical
units, its own rate, before any preprocessing) and returns a :class:`Quality`: ``ok`` or ``poor``,
with reasons that name the leads, and a continuous score (``>= 1`` is poor) for ranking.

Per lead it measures, in a handful of vectorised passes over ``[leads, samples]``:

- invalid samples (NaN/inf) and values no ECG amplifier produces;
- flat: no sample-to-sample activity, or a constant stretch (a lead off for a while);
- saturation: the signal sits at its extreme value in several separate plateaus (clipped peaks);
- mains hum at 50 and 60 Hz (aliased where the rate is below twice the mains), and noise above 40 Hz;
- noise that hides the QRS complexes, and large slow excursions (motion);
- whether a plausible heart rhythm (25-250 beats per minute) is found in any lead.

Everything is derived from the 40-ms "total variation" envelope of the signal block-averaged to about
100 Hz (the sum of |x[i+1] - x[i]| per block: a QRS fills one or two blocks, T waves and baseline wander
spread thin), the second difference's energy for high-frequency noise, 0.2-s means for the baseline and
Hann-windowed projections onto the mains frequencies and their sides. The limits in :class:`Limits` were
calibrated on the shared PTB-XL, CinC 2021 and PhysioNet-2017 records and on faults injected into them
(``benchmarks/quality_calibration.py``).

:func:`features_reference` (numpy) defines the features; the native kernel computes the same ones and the
verdict's inputs in one call (native/ecgedge_quality.c, held to it by tests/test_quality.py), which matters:
the gate runs on every record and stream window, and numpy spends its time in the ~250 small operations the
features take, not in arithmetic. Limb leads that equal their formula of I and II are judged through them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

#: Length of the blocks of the activity envelope: about half a QRS complex.
BLOCK_S = 0.04
#: Segments over which the noise measures are taken, so that a noisy stretch is not averaged away.
SEGMENT_S = 2.5
#: Samples per block of the high-frequency noise estimate (a vector's length: 32 ms at 500 Hz, 80 ms at 200 Hz).
HF_BLOCK = 16
#: Mains frequencies checked for hum ...
MAINS_HZ = (50.0, 60.0)
#: ... against the spectrum this far either side: a hum is a line, the ECG's and noise's spectra are broad.
HUM_SIDE_HZ = 4.0
#: A hum is the line's amplitude in excess of this many times its sides' mean ...
HUM_OVER_SIDES = 2.0
#: ... measured in this many half-second segments at most.
HUM_SEGMENTS = 4


def _hum_length(n: int, fs: float) -> int:
    """Samples per hum segment: half a second (or the whole span if shorter)."""
    return min(n, int(round(fs / 2)))


@dataclass(frozen=True)
class Limits:
    """Where a lead (or a record) stops being fit to classify. Each feature is divided by its limit;
    a ratio of 1 or more is a fault. Calibrated in ``benchmarks/quality_calibration.py``."""

    #: Share of NaN/inf samples in a lead ...
    invalid: float = 0.02
    #: ... or a gap (s) longer than preprocessing bridges by interpolation.
    gap_s: float = 0.1
    #: Peak-to-peak range (mV) beyond any ECG amplifier's.
    range_mV: float = 50.0
    #: 98th percentile of the activity envelope (mV per 40 ms) below which a lead is flat.
    flat_mV: float = 0.02
    #: A constant stretch this long (s): the lead was off for that time.
    still_s: float = 0.5
    #: Share of samples on a plateau at the lead's maximum or minimum ...
    clip_share: float = 0.005
    #: ... reached in at least this many separate plateaus (one plateau is an edge effect, not clipping).
    clip_runs: int = 3
    #: Mains hum (the line's amplitude in excess of its sides') relative to the record's QRS activity, or in mV,
    #: whichever is reached first (the shared clean records have at most 0.02 mV) ...
    hum: float = 0.1
    hum_mV: float = 0.05
    #: ... and noise above 40 Hz (RMS) likewise (at most 0.02 mV in the clean records).
    hf: float = 0.05
    hf_mV: float = 0.04
    #: Median activity relative to the QRS activity (the lead's or the record's, the larger), in the worse quarter
    #: of 2.5-s segments: noise as large as a fraction of the complexes ...
    floor: float = 0.3
    #: ... or the share of blocks active at 20 % of it: the signal busy everywhere.
    busy: float = 0.6
    #: A lead's median activity relative to its own 98th percentile: no complexes stand out, noise only.
    own_floor: float = 0.6
    #: Slow excursions (range of the 0.2-s baseline over 2.4 s) relative to the lead's QRS activity (at least half
    #: the record's: a lead with small complexes is not held to its own) ...
    baseline: float = 3.4
    #: ... or a step between consecutive 0.2-s means (an electrode pop).
    jump: float = 1.2
    #: Plausible heart rates (beats per minute).
    min_bpm: float = 25.0
    max_bpm: float = 250.0


LIMITS = Limits()


@dataclass(frozen=True)
class Quality:
    """A signal-quality verdict: ``ok`` or ``poor``, the reasons (naming leads) and a score.

    ``score`` is the worst fault ratio over leads and features (``>= 1``: poor); ``leads`` maps each
    measured lead to its own score; ``faults`` maps each faulty lead to its short fault names; ``derived`` names
    the limb leads that equal their formula of I and II and are judged through them."""

    verdict: str
    score: float
    reasons: tuple[str, ...] = ()
    leads: dict[str, float] = field(default_factory=dict)
    faults: dict[str, tuple[str, ...]] = field(default_factory=dict)
    derived: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.verdict == "ok"

    def summary(self) -> str:
        """``ok``, or ``poor signal: <reasons>`` as output rows print it."""
        return "ok" if self.ok else "poor signal: " + "; ".join(self.reasons)

    def as_dict(self) -> dict:
        return {"verdict": self.verdict, "score": round(float(self.score), 4), "reasons": list(self.reasons)}


def assess(data: np.ndarray, fs: float, leads: Sequence[str], *, scale: Sequence[float] | np.ndarray | None = None,
           skip: Sequence[str] = (), limits: Limits = LIMITS) -> Quality:
    """The quality of ``data`` (``[leads, samples]``, physical units; ``scale`` converts each lead to mV).

    Leads named in ``skip`` are not judged (e.g. limb leads derived from I and II, whose quality is theirs)."""
    x = np.asarray(data)
    if x.ndim != 2:
        raise ValueError(f"expected [leads, samples], got shape {x.shape}")
    names = tuple(leads)
    if skip:
        drop = set(skip)
        keep = [i for i, name in enumerate(names) if name not in drop]
        x, names = x[keep], tuple(names[i] for i in keep)
        scale = None if scale is None else np.asarray(scale)[keep]
    if not x.shape[0]:
        return Quality("ok", 0.0)
    if x.dtype != np.float32:
        x = x.astype(np.float32)
    if scale is not None and any(v != 1.0 for v in scale):
        with np.errstate(over="ignore"):  # an absurd value times a unit becomes inf, which is judged
            x = x * np.asarray(scale, np.float32)[:, None]
    F, verdict = _feature_matrix(x, float(fs), leads=names, limits=limits)
    if verdict is not None and not verdict[0]:
        # the kernel judged it fine (it reaches judge()'s verdict and score): only a poor record needs reasons
        worst, derived = F[len(FEATURES)].tolist(), F[FEATURES.index("derived")].tolist()
        return Quality("ok", verdict[1], (), {n: w for n, w, d in zip(names, worst, derived) if not d}, {},
                       tuple(n for n, d in zip(names, derived) if d))
    return judge(F[:len(FEATURES)], names, x.shape[1] / float(fs), limits, fs=float(fs))


def assess_signal(sig, leads: Sequence[str] | None = None, *, skip: Sequence[str] = (),
                  limits: Limits = LIMITS) -> Quality:
    """:func:`assess` on a :class:`~ecgedge.signal.Signal` (its units converted to mV), optionally only ``leads``."""
    from .dsp.pipeline import unit_scale

    idx = list(range(sig.n_leads)) if leads is None else [sig.leads.index(lead) for lead in leads]
    scale = [unit_scale(sig.units[i] if i < len(sig.units) else "mV") or 1.0 for i in idx]
    data = sig.data if leads is None else sig.data[idx]
    return assess(data, sig.fs, [sig.leads[i] for i in idx], scale=scale, skip=skip, limits=limits)


# ------------------------------------------------------------------------------------------------
# Features
# ------------------------------------------------------------------------------------------------


def _longest_run(mask: np.ndarray) -> np.ndarray:
    """Length of the longest run of True in each row of a boolean ``[rows, n]``."""
    rows, n = mask.shape
    if not n:
        return np.zeros(rows, np.int64)
    pad = np.zeros((rows, n + 2), np.int8)
    pad[:, 1:-1] = mask
    edges = np.diff(pad, axis=1)
    r_start, start = np.nonzero(edges == 1)
    _, stop = np.nonzero(edges == -1)
    out = np.zeros(rows, np.int64)
    np.maximum.at(out, r_start, stop - start)
    return out


def _fold(f: float, fs: float) -> float:
    """Where sampling at ``fs`` puts a frequency ``f``: into [0, fs/2]."""
    f = abs(f) % fs
    return fs - f if f > fs / 2 else f


@lru_cache(maxsize=16)
def _mains_basis(fs: float, m: int) -> tuple[np.ndarray, float]:
    """Hann-windowed cosine and sine ``[m, 12]`` at each mains frequency (as ``fs`` aliases it) and at 4 Hz below
    and above it, columns (cos, sin) x (line, below, above) x (50 Hz, 60 Hz); and the window's sum."""
    t = np.arange(m) / fs
    w = np.hanning(m + 2)[1:-1]  # no zero end points: a short segment keeps all its samples
    cols = []
    for mains in MAINS_HZ:
        for f in (mains, mains - HUM_SIDE_HZ, mains + HUM_SIDE_HZ):
            fa = _fold(f, fs)
            cols += [w * np.cos(2 * np.pi * fa * t), w * np.sin(2 * np.pi * fa * t)]
    return np.array(cols, np.float32).T.copy(), float(w.sum())


#: The features, in the order the native kernel writes them (native/ecgedge_quality.h).
FEATURES = ("invalid", "gap_s", "range", "hf", "activity", "reference", "still_s", "floor", "own_floor", "busy",
            "baseline", "jump", "clip_share", "clip_runs", "hum50", "hum60", "bpm", "rr_ok", "derived")
#: Limb leads a record may carry as computed from I and II (Einthoven/Goldberger), by kernel code: one that equals
#: its formula to within rounding is not measured but judged through I and II (a third of a 12-lead record's cost).
DERIVED = {"III": (1, lambda i, ii: ii - i), "aVR": (2, lambda i, ii: -(i + ii) * np.float32(0.5)),
           "aVL": (3, lambda i, ii: i - ii * np.float32(0.5)), "aVF": (4, lambda i, ii: ii - i * np.float32(0.5))}


def features(x: np.ndarray, fs: float, backend: str | None = None,
             leads: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Per-lead quality features of float32 ``x`` (``[leads, samples]`` in mV, at ``fs``). Each entry is ``[leads]``.

    The native kernel computes them in one call where it is available (``backend``: as the preprocessing's,
    :func:`ecgedge.dsp.get_backend`); :func:`features_reference` is the numpy definition it is held to. With
    ``leads`` named, limb leads equal to their formula of I and II are marked ``derived`` and not measured."""
    return dict(zip(FEATURES, _feature_matrix(x, fs, backend, leads)[0]))


def _derive_codes(leads: Sequence[str] | None) -> tuple[np.ndarray | None, int, int]:
    return _derive_codes_of(tuple(leads)) if leads else (None, -1, -1)


@lru_cache(maxsize=64)
def _derive_codes_of(leads: tuple[str, ...]) -> tuple[np.ndarray | None, int, int]:
    """Cached per lead set (a record's or a window's are the same over a run); the codes are read-only."""
    if "I" not in leads or "II" not in leads:
        return None, -1, -1
    codes = np.array([DERIVED[name][0] if name in DERIVED else 0 for name in leads], np.int32)
    codes.flags.writeable = False
    return (codes if codes.any() else None), leads.index("I"), leads.index("II")


def _feature_matrix(x: np.ndarray, fs: float, backend: str | None = None, leads: Sequence[str] | None = None,
                    limits: Limits | None = None) -> tuple[np.ndarray, tuple[bool, float] | None]:
    """:func:`features` as a matrix ``[features, leads]`` (rows in :data:`FEATURES` order); with ``limits``, the
    kernel's (poor, score) too: :func:`judge`'s verdict without its reasons (None without the kernel)."""
    kernel = _kernel(backend)
    if kernel is None:
        with np.errstate(all="ignore"):  # overflow in absurd inputs is expected; it is judged, not warned about
            f = features_reference(x, fs, leads)
        return np.stack([np.asarray(f[k], np.float64) for k in FEATURES]), None
    L, n = x.shape
    m = _hum_length(n, fs)
    basis, wsum = _mains_basis_rows(fs, m) if m >= 8 else (None, 0.0)
    derive, lead_i, lead_ii = _derive_codes(leads)
    out = np.empty((L, len(FEATURES) + 3))  # and the verdict's inputs: worst ratio, rhythm ratio, unusable
    verdict = kernel.quality(np.ascontiguousarray(x, np.float32), float(fs), out, basis, m if basis is not None else 0,
                             wsum, LIMITS.flat_mV, LIMITS.clip_share, HUM_OVER_SIDES, derive, lead_i, lead_ii,
                             None if limits is None else _limit_vector(limits))
    return out.T, verdict


_N_LIMITS = 18


_LIMIT_VECTORS: dict[int, tuple[Limits, np.ndarray]] = {}


def _limit_vector(limits: Limits) -> np.ndarray:
    """The limits in the kernel's order (native/ecgedge_quality.h, EE_L_*), read-only; cached by identity, as
    :func:`_inverse` is."""
    hit = _LIMIT_VECTORS.get(id(limits))
    if hit is None or hit[0] is not limits:
        if len(_LIMIT_VECTORS) > 64:
            _LIMIT_VECTORS.clear()
        v = np.array([limits.invalid, limits.gap_s, limits.range_mV, limits.flat_mV, limits.still_s,
                      limits.clip_share, limits.clip_runs, limits.hum, limits.hum_mV, limits.hf, limits.hf_mV,
                      limits.floor, limits.busy, limits.own_floor, limits.baseline, limits.jump, limits.min_bpm,
                      limits.max_bpm], np.float64)
        v.flags.writeable = False
        hit = _LIMIT_VECTORS[id(limits)] = (limits, v)
    return hit[1]


_KERNELS: dict[str, object] = {}


def _kernel(backend: str | None):
    """The native kernel if it is the backend in use and has the quality features (an older build may not); looked
    up once per backend choice (``backend``, else ``$ECGEDGE_KERNEL``), as the gate runs on every record and window."""
    choice = backend or os.environ.get("ECGEDGE_KERNEL") or "auto"
    if choice in _KERNELS:
        return _KERNELS[choice]
    from .dsp.backend import get_backend

    K = None
    if get_backend(backend).name == "native":
        from . import _kernel as K

        # an older build of the kernel (without these features, or with other columns or limits) is not used
        fits = getattr(K, "QUALITY_FEATURES", 0) == len(FEATURES) + 3 and getattr(K, "QUALITY_LIMITS", 0) == _N_LIMITS
        K = K if fits else None
    _KERNELS[choice] = K
    return K


@lru_cache(maxsize=16)
def _mains_basis_rows(fs: float, m: int) -> tuple[np.ndarray, float]:
    basis, wsum = _mains_basis(fs, m)
    return np.ascontiguousarray(basis.T), wsum


def features_reference(x: np.ndarray, fs: float, leads: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """:func:`features` in numpy: the definition. Written for speed all the same (the kernel may be missing): a few
    whole-array passes, block sums as matrix products (numpy reduces short axes and cumulates slowly), order
    statistics by partition."""
    derive, lead_i, lead_ii = _derive_codes(leads)
    if derive is not None:
        # a limb lead equal to its formula of I and II to within rounding (0.01 mV and 0.1 % of its range; NaN
        # makes it unequal) is judged through I and II: its row is zero but for "derived"
        same = np.zeros(len(derive), bool)
        i, ii = x[lead_i], x[lead_ii]
        with np.errstate(all="ignore"):
            for k in np.flatnonzero(derive):
                formula = DERIVED[leads[k]][1](i, ii)
                tol = np.float32(0.01) + np.float32(0.001) * (x[k].max() - x[k].min())
                same[k] = bool(np.all(np.abs(x[k] - formula) <= tol))
        if same.any():
            sub = features_reference(x[~same], fs)
            out = {key: np.zeros(len(same)) for key in FEATURES}
            for key, v in sub.items():
                out[key][~same] = v
            out["derived"][same] = 1.0
            return out
    L, n = x.shape
    out: dict[str, np.ndarray] = {}
    # -- invalid samples: max and min propagate NaN and show inf, so the common case costs nothing extra
    mx, mn = x.max(axis=1), x.min(axis=1)
    bad = ~(np.isfinite(mx) & np.isfinite(mn))
    invalid = np.zeros(L)
    gap = np.zeros(L)
    if bad.any():
        x = x.copy()
        mask = ~np.isfinite(x[bad])
        invalid[bad] = mask.mean(axis=1)
        gap[bad] = _longest_run(mask) / fs
        for row, i in zip(mask, np.flatnonzero(bad)):  # bridge gaps linearly: judge what is left, not the gap
            ok = ~row
            x[i, row] = np.interp(np.flatnonzero(row), np.flatnonzero(ok), x[i, ok]) if ok.any() else 0.0
        mx[bad], mn[bad] = x[bad].max(axis=1), x[bad].min(axis=1)
    out["invalid"], out["gap_s"] = invalid, gap
    # -- range: values no ECG amplifier gives; zeroed in the working copy so that the rest stays finite
    rng = mx.astype(np.float64) - mn
    out["range"] = rng
    wild = ~(rng <= 1e6)
    if wild.any():
        x = x if bad.any() else x.copy()
        x[wild] = 0.0
        mx[wild] = mn[wild] = 0.0
    # -- noise above 40 Hz: the second difference keeps < 2.5 % of the power below 40 Hz at 500 Hz and all of
    # white noise's (times 6); its median block energy (QRS blocks are a minority) estimates the noise's RMS.
    # Below 200 Hz there is too little band above 40 Hz to tell noise from ECG: the envelope measures judge it.
    if fs >= 200 and n >= 3 * HF_BLOCK + 2:
        d2 = np.diff(x, n=2, axis=1)
        np.multiply(d2, d2, out=d2)
        out["hf"] = np.sqrt(_quantile(_block_sums(d2, HF_BLOCK, (n - 2) // HF_BLOCK), 0.5) / (6.0 * HF_BLOCK))
    else:
        out["hf"] = np.zeros(L)
    # -- activity envelope at about 100 Hz whatever the rate (block means: a boxcar low-pass near the model's band,
    # so that noise above it, judged above, does not also drown the QRS measures): total variation per 40-ms
    # block, where a QRS fills a block or two and T waves and baseline wander spread thin
    b0 = max(1, int(round(fs / 100.0)))
    xm = x if b0 == 1 else _block_sums(x, b0, n // b0, np.float32) * np.float32(1.0 / b0)
    fm = fs / b0
    b = max(1, int(round(BLOCK_S * fm)))
    nb = (xm.shape[1] - 1) // b
    if nb < 3:
        return _too_short(out, L)
    d1 = np.abs(xm[:, 1:] - xm[:, :-1])
    e = _block_sums(d1, b, nb)
    # -- QRS activity: the 98th percentile of the envelope, per lead and for the record (median of the non-flat
    # leads), the yardstick for the noise measures so that a lead with small complexes is not called noisy
    act = _quantile(e, 0.98)
    out["activity"] = act
    live = act >= LIMITS.flat_mV
    rec = float(_quantile(act[live], 0.5)) if live.any() else float(act.max(initial=0.0))  # np.median: 40 us
    out["reference"] = np.full(L, max(rec, 1e-9))
    own = np.maximum(act, 1e-9)
    # -- constant stretches (exactly no variation): a lead off for a while; runs are measured only in leads with
    # enough constant blocks to hold one of a quarter of a second (quantised quiet stretches have a few)
    still = e <= 1e-7
    out["still_s"] = np.zeros(L)
    some = np.flatnonzero(np.count_nonzero(still, axis=1) >= 0.25 * fm / b)
    if len(some):
        out["still_s"][some] = _longest_run(still[some]) * (b / fm)
    # -- noise per 2.5-s segment, the worse quarter of them deciding (a noisy stretch counts, one bad segment
    # of many does not): the median activity, and the share of busy blocks
    ns = max(1, int(round(SEGMENT_S * fm / b)))
    S = max(1, nb // ns)
    seg = e[:, :S * ns].reshape(L, S, -1) if nb >= ns else e[:, None, :]
    med = _quantile(seg, 0.5)
    busy = np.count_nonzero(seg > (0.2 * np.maximum(own, rec))[:, None, None], axis=2) / seg.shape[2]
    out["floor"] = _quantile(med, 0.75) / np.maximum(own, rec)
    out["own_floor"] = _quantile(med, 0.75) / own
    out["busy"] = _quantile(busy, 0.75)
    # -- baseline per 2.4-s segment (the worse quarter deciding, as above): the range of 0.2-s means (QRS complexes
    # average out) and their largest step, the slow excursions and electrode pops of a moving patient
    bm = max(1, int(round(0.2 * fm)))
    nm = xm.shape[1] // bm
    if nm >= 2:
        means = _block_sums(xm, bm, nm) / bm
        per = 12 if nm >= 12 else nm
        ms = means[:, :nm // per * per].reshape(L, -1, per)
        out["baseline"] = _quantile(ms.max(axis=2) - ms.min(axis=2), 0.75)
        out["jump"] = _quantile(np.abs(np.diff(ms, axis=2)).max(axis=2), 0.75)
    else:
        out["baseline"] = out["jump"] = np.zeros(L)
    out["clip_share"], out["clip_runs"] = _clipping(x, mx, mn, fs)
    out["hum50"], out["hum60"] = _hum(x, fs)
    out["bpm"], out["rr_ok"] = _rhythm(seg, b / fm)
    out["derived"] = np.zeros(L)
    return out


def _too_short(out: dict[str, np.ndarray], L: int) -> dict[str, np.ndarray]:
    """Features of a span too short to measure anything but invalid samples and range."""
    z = np.zeros(L)
    act = np.maximum(out["range"], 1e-9)  # a constant snippet is still flat
    out.update(hf=z, activity=act, reference=act, still_s=z, floor=z, own_floor=z, busy=z, baseline=z, jump=z,
               clip_share=z, clip_runs=z, hum50=z, hum60=z, bpm=np.full(L, 60.0), rr_ok=np.ones(L), derived=z)
    return out


def _quantile(a: np.ndarray, q: float) -> np.ndarray:
    """The ``q`` quantile over the last axis by partition (the nearest rank below): np.percentile costs 20x more."""
    k = int(q * (a.shape[-1] - 1))
    return np.partition(a, k, axis=-1)[..., k]


@lru_cache(maxsize=8)
def _ones(b: int) -> np.ndarray:
    return np.ones(b, np.float32)


def _block_sums(a: np.ndarray, b: int, nb: int, dtype=np.float64) -> np.ndarray:
    """Sums of ``nb`` consecutive blocks of ``b`` samples per row, as a matrix-vector product: numpy reduces short
    axes (``.sum(-1)``) 10-20x more slowly."""
    L = a.shape[0]
    return (a[:, :nb * b].reshape(L, nb, b) @ _ones(b)).astype(dtype, copy=False)


def _clipping(x: np.ndarray, mx: np.ndarray, mn: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """Share of samples on plateaus within 0.2 % of the range from the maximum or minimum, and the number of such
    plateaus: an ADC rail is hit again and again; an edge effect or one flat end once. A plateau lasts 10 ms and
    3 samples at least (quantised sharp peaks repeat a value for 2), and only an extreme that is an excursion
    counts: a lead whose complexes all point one way has its baseline at the other extreme, and stays there."""
    L, n = x.shape
    tol = (mx - mn) * np.float32(0.002)
    share = np.zeros(L)
    runs = np.zeros(L)
    need = max(4, int(LIMITS.clip_share * n))
    k = max(2, int(np.ceil(0.01 * fs)))
    for side in (1, -1):
        at = x >= (mx - tol)[:, None] if side > 0 else x <= (mn + tol)[:, None]
        cand = np.flatnonzero(np.count_nonzero(at, axis=1) >= need)
        if not len(cand):
            continue
        # rare from here on: only leads with enough samples at an extreme are looked at closely
        med = np.median(x[cand], axis=1)
        excursion = (mx[cand] - med if side > 0 else med - mn[cand]) >= 0.25 * (mx[cand] - mn[cand])
        cand = cand[excursion]
        if not len(cand):
            continue
        a = at[cand]
        c = np.zeros((len(cand), n + 1), np.int32)
        np.cumsum(a, axis=1, out=c[:, 1:])
        held = (c[:, k:] - c[:, :-k]) == k  # the k samples ending here are all at the extreme
        r = np.count_nonzero(held[:, 1:] & ~held[:, :-1], axis=1) + held[:, 0]
        share[cand] = np.maximum(share[cand], (np.count_nonzero(held, axis=1) + (k - 1) * r) / n)
        runs[cand] = np.maximum(runs[cand], r)
    return share, runs


def _hum(x: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """Mains hum (mV) at 50 and 60 Hz: the line's amplitude in excess of twice its sides' (4 Hz away: the first zero
    of a half-second Hann window's response), median over up to 4 half-second Hann-windowed segments spread over
    the span (a stationary hum is in all of them; a QRS's broad spectrum is no line). Projections as two matrix
    products of 6 columns: one of 12 would be split across BLAS threads, which costs more than it saves here."""
    L, n = x.shape
    m = _hum_length(n, fs)
    if m < 8:
        return np.zeros(L), np.zeros(L)
    S = n // m
    step = max(1, S // HUM_SEGMENTS)  # a stationary hum needs no more: the cost stays bounded on long records
    idx = np.arange(0, S, step)[:HUM_SEGMENTS]
    seg = x[:, :S * m].reshape(L, S, m)[:, idx].reshape(-1, m)
    basis, wsum = _mains_basis(fs, m)
    out = []
    for k in range(len(MAINS_HZ)):
        p = (seg @ basis[:, 6 * k:6 * k + 6]).astype(np.float64)
        amp = (2.0 / wsum) * np.sqrt(p[:, 0::2] ** 2 + p[:, 1::2] ** 2)  # [segments, (line, below, above)]
        excess = np.maximum(amp[:, 0] - HUM_OVER_SIDES * 0.5 * (amp[:, 1] + amp[:, 2]), 0.0)
        out.append(_quantile(excess.reshape(L, len(idx)), 0.5))
    return out[0], out[1]


def _rhythm(seg: np.ndarray, block_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Beats per minute per lead and the share of beat-to-beat intervals that are physiological (0.24-2.4 s), from
    the envelope in segments ``[leads, segments, blocks]``: a beat where it crosses 30 % of its segment's 98th
    percentile (a segment's own yardstick, so that an artefact elsewhere does not hide the complexes here), no
    sooner than 0.2 s (a refractory period) after the previous crossing."""
    L, S, ns = seg.shape
    above = (seg > 0.3 * _quantile(seg, 0.98)[:, :, None]).reshape(L, S * ns)
    rise = above.copy()
    rise[:, 1:] &= ~above[:, :-1]
    lead, at = np.nonzero(rise)
    gap = np.diff(at) * block_s
    beat = np.ones(len(at), bool)
    beat[1:] = (lead[1:] != lead[:-1]) | (gap >= 0.2)
    lead, at = lead[beat], at[beat]
    bpm = np.bincount(lead, minlength=L) / (S * ns * block_s) * 60.0
    rr = np.diff(at) * block_s
    same = lead[1:] == lead[:-1]
    n_rr = np.bincount(lead[1:], weights=same, minlength=L)
    n_good = np.bincount(lead[1:], weights=same & (rr >= 0.24) & (rr <= 2.4), minlength=L)
    # fewer than two intervals say nothing about regularity (a short window): the beat count judges it
    return bpm, np.where(n_rr >= 2, n_good / np.maximum(n_rr, 1), 1.0)


# ------------------------------------------------------------------------------------------------
# Verdict
# ------------------------------------------------------------------------------------------------


def _mains_name(f: float, fs: float) -> str:
    fa = abs(f - fs * round(f / fs))
    return f"mains hum {f:g} Hz" + (f" (aliased to {fa:g} Hz)" if abs(fa - f) > 1e-6 else "")


#: The faults judged per lead, in the order :func:`lead_ratios` gives them.
KINDS = ("invalid", "range", "flat", "still", "clipped", "hum50", "hum60", "hf", "noise", "no_ecg", "baseline")
#: Faults that make every other measure of a lead meaningless: reported alone.
_FIRST = ("invalid", "range", "flat")
_WORDS = {
    "range": "values out of ECG range", "flat": "flat", "clipped": "saturated/clipped", "hf": "noise above 40 Hz",
    "noise": "noise (no clear QRS)", "no_ecg": "no ECG (noise only)",
    "baseline": "motion artefact (large slow excursions)",
}


def _cap(r: float) -> float:
    """Ratios of absurd inputs (inf, NaN) count as the worst, 100."""
    return r if r < 100.0 else 100.0


def lead_ratios(v: Sequence[float], duration: float, limits: Limits = LIMITS) -> list[float]:
    """One lead's faults as ratios to their limits (``>= 1``: the fault is there), in :data:`KINDS` order, from its
    features ``v`` in :data:`FEATURES` order. Plain Python: for a dozen leads, per record and per window, this
    arithmetic costs less than numpy's per-call overhead would on arrays of twelve."""
    (invalid, gap_s, rng, hf, act, ref, still_s, floor, own_floor, busy, baseline, jump, clip_share, clip_runs,
     hum50, hum60, _bpm, _rr_ok, _derived) = v
    (i_invalid, i_gap, i_range, i_clip, i_floor, i_busy, i_own, i_base, i_jump) = _inverse(limits)
    yard = max(act, 0.5 * ref, 1e-12)  # a lead is held to its own complexes, at least half the record's
    ref = max(ref, 1e-12)
    hum_at = max(min(limits.hum * ref, limits.hum_mV), 1e-12)
    hf_at = max(min(limits.hf * ref, limits.hf_mV), 1e-12)
    r = [max(invalid * i_invalid, gap_s * i_gap), rng * i_range, limits.flat_mV / max(act, 1e-9),
         still_s / max(min(limits.still_s, 0.8 * duration), 1e-12),
         clip_share * i_clip if clip_runs >= limits.clip_runs else 0.0, hum50 / hum_at, hum60 / hum_at, hf / hf_at,
         max(floor * i_floor, busy * i_busy), own_floor * i_own, max(baseline * i_base, jump * i_jump) / yard]
    return [x if x < 100.0 else 100.0 for x in r]  # inf and NaN (absurd input, NaN < 100 is False) count as 100


_INVERSES: dict[int, tuple[Limits, tuple[float, ...]]] = {}


def _inverse(limits: Limits) -> tuple[float, ...]:
    """The limits' reciprocals, in :func:`lead_ratios`' order: multiplications, per lead and record. Cached by
    identity (a frozen dataclass hashes all its fields on every lookup, which costs more than the divisions)."""
    hit = _INVERSES.get(id(limits))
    if hit is None or hit[0] is not limits:
        if len(_INVERSES) > 64:
            _INVERSES.clear()
        hit = _INVERSES[id(limits)] = (limits, tuple(1.0 / v for v in (
            limits.invalid, limits.gap_s, limits.range_mV, limits.clip_share, limits.floor, limits.busy,
            limits.own_floor, limits.baseline, limits.jump)))
    return hit[1]


def rhythm_ratio(v: Sequence[float], duration: float, limits: Limits = LIMITS) -> float:
    """How far one lead's beats are from a plausible rhythm (``>= 1``: none found): fewer beats than the slowest
    rate gives over ``duration`` (none is expected below 2.4 s), more than the fastest, or mostly implausible
    beat-to-beat intervals."""
    least = float(int(duration * limits.min_bpm / 60.0))
    if least < 1:
        return 0.0
    bpm, rr_ok = v[-3], v[-2]
    slow = least / max(bpm * duration / 60.0, 1e-2)
    irregular = 1.0 + (0.5 - rr_ok) if rr_ok < 0.5 else 0.0
    return _cap(max(slow, bpm / limits.max_bpm, irregular))


def ratios(f, duration: float, limits: Limits = LIMITS) -> dict[str, np.ndarray]:
    """:func:`lead_ratios` of every lead, by fault name (for calibration and inspection)."""
    rows = np.array([lead_ratios(v, duration, limits) for v in _rows(f)]).reshape(-1, len(KINDS))
    return dict(zip(KINDS, rows.T))


def _rows(f) -> list[list[float]]:
    """Per-lead feature lists from :func:`features`' dict (or a ``[features, leads]`` matrix)."""
    m = f if isinstance(f, np.ndarray) else np.stack([np.asarray(f[k], np.float64) for k in FEATURES])
    return m.T.tolist()


def judge(f, leads: Sequence[str], duration: float, limits: Limits = LIMITS, fs: float | None = None) -> Quality:
    """The verdict from :func:`features` (its dict, or the matrix ``[features, leads]``) of ``leads`` over
    ``duration`` seconds (``fs`` names aliased hum)."""
    reasons: list[str] = []
    faults: dict[str, tuple[str, ...]] = {}
    groups: dict[str, list[str]] = {}
    scores: dict[str, float] = {}
    rhythm_score: float | None = None
    measured = 0
    derived = []
    for lead, v in zip(leads, _rows(f)):
        if v[-1]:  # a limb lead equal to its formula of I and II: judged through them
            derived.append(lead)
            continue
        measured += 1
        r = lead_ratios(v, duration, limits)
        worst = scores[lead] = max(r)
        first = []
        if worst >= 1.0:  # the faulty leads only: nothing more per lead on a clean record
            found = [k for k, x in zip(KINDS, r) if x >= 1.0]
            first = [k for k in _FIRST if k in found][:1]
            found = first or found  # a lead with no usable signal: that alone
            faults[lead] = tuple(found)
            groups.setdefault(", ".join(_words(k, v, fs) for k in found), []).append(lead)
        if not first:  # a rhythm is looked for in every lead with a signal at all; one plausible lead is enough
            rr = rhythm_ratio(v, duration, limits)
            rhythm_score = rr if rhythm_score is None else min(rhythm_score, rr)
    for words, names in groups.items():  # leads with the same fault share one reason: "leads V1, V2 flat"
        who = (f"all {len(leads)} leads" if len(names) == measured and len(leads) > 2  # the derived ones too
               else f"lead{'s' if len(names) > 1 else ''} {', '.join(names)}")
        reasons.append(f"{who} flat" if words == "flat" else f"{who}: {words}")
    rhythm_score = rhythm_score or 0.0
    if rhythm_score >= 1.0:
        reasons.append("no QRS found in any lead" if len(leads) > 1 else "no QRS found")
    score = max(max(scores.values(), default=0.0), rhythm_score)
    return Quality("poor" if reasons else "ok", score, tuple(reasons), scores, faults, tuple(derived))


def _words(kind: str, v: Sequence[float], fs: float | None) -> str:
    if kind in ("hum50", "hum60"):
        mains = 50.0 if kind == "hum50" else 60.0
        return _mains_name(mains, fs) if fs else f"mains hum {mains:g} Hz"
    if kind == "invalid":
        share = v[FEATURES.index("invalid")]
        return "no signal (all samples NaN/inf)" if share >= 1.0 else f"{share:.0%} missing samples (NaN/inf)"
    if kind == "still":
        return f"flat for {v[FEATURES.index('still_s')]:.1f} s (lead off?)"
    return _WORDS[kind]
