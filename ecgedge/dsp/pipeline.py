"""One preprocessing path for training and inference: lead mapping, unit scaling, baseline removal,
band-pass, resampling to the model's rate, normalisation and windowing.

:class:`Preprocessing` is the specification (it travels in a model's contract as plain JSON);
:class:`Preprocessor` runs it on whole records (offline, zero-phase), :class:`StreamPreprocessor`
on chunks as they arrive (causal, with carried state, chunking-invariant).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache

import numpy as np

from ..errors import EcgedgeError
from ..leads import STANDARD_12, normalize_lead
from ..signal import Signal
from .backend import get_backend
from .design import check_sos, design_bandpass, filtfilt_padlen, resample_plan
from .reference import NORMS, PADS

_UNIT_SCALE = {"mv": 1.0, "millivolt": 1.0, "uv": 1e-3, "µv": 1e-3, "μv": 1e-3, "microvolt": 1e-3, "v": 1e3,
               "volt": 1e3}


@lru_cache(maxsize=256)  # asked for every lead of every record, twice (the quality gate and the kernel's gather)
def unit_scale(unit: str, target: str = "mV") -> float | None:
    """Factor that converts ``unit`` into ``target`` (``None`` when a unit is not a voltage we know)."""
    a, b = _UNIT_SCALE.get(unit.strip().lower()), _UNIT_SCALE.get(target.strip().lower())
    return None if a is None or b is None else a / b


@dataclass(frozen=True)
class Preprocessing:
    """What a model expects of its input. Written at training time, read back at inference."""

    fs: float = 100.0
    leads: tuple[str, ...] = STANDARD_12
    units: str = "mV"
    band: tuple[float | None, float | None] | None = (0.5, 40.0)
    band_order: int = 2
    #: Second-order sections of the band-pass at ``fs`` (filled by :meth:`designed`).
    sos: tuple[tuple[float, ...], ...] | None = None
    zero_phase: bool = True
    #: Two median-filter lengths in seconds for baseline-wander removal, e.g. (0.2, 0.6); None: off.
    baseline: tuple[float, float] | None = None
    norm: str = "zscore"
    #: "record": normalise the whole record; "window": each window on its own (what a stream can do).
    norm_scope: str = "record"
    window: int | None = None
    stride: int | None = None
    cover_tail: bool = True
    pad: str = "zeros"
    nan_policy: str = "interpolate"
    #: Longest run of invalid samples (seconds) that is interpolated rather than rejected.
    max_gap: float = 0.1
    #: Filter at the record's own rate before resampling (needs scipy at run time to design it).
    filter_first: bool = False

    def __post_init__(self) -> None:
        problems = []
        if not (self.fs > 0 and math.isfinite(self.fs)):
            problems.append(("fs", f"must be a positive rate, not {self.fs}"))
        if not self.leads:
            problems.append(("leads", "must name at least one lead"))
        if self.norm not in NORMS:
            problems.append(("norm", f"{self.norm!r} is not one of {', '.join(NORMS)}"))
        if self.norm_scope not in ("record", "window"):
            problems.append(("norm_scope", f"{self.norm_scope!r} is not record or window"))
        if self.pad not in PADS:
            problems.append(("pad", f"{self.pad!r} is not one of {', '.join(PADS)}"))
        if self.nan_policy not in ("reject", "interpolate"):
            problems.append(("nan_policy", f"{self.nan_policy!r} is not reject or interpolate"))
        if self.window is not None and self.window < 1:
            problems.append(("window", f"must be at least 1 sample, not {self.window}"))
        if self.stride is not None and self.stride < 1:
            problems.append(("stride", f"must be at least 1 sample, not {self.stride}"))
        if self.baseline is not None and (len(self.baseline) != 2 or min(self.baseline) < 0):
            problems.append(("baseline", "must be two non-negative lengths in seconds"))
        if problems:
            f, msg = problems[0]
            raise EcgedgeError(f"'{f}' {msg}", where="preprocessing")

    def designed(self) -> Preprocessing:
        """A copy with the band-pass coefficients computed (training/export time; needs scipy)."""
        if self.band is None or self.sos is not None:
            return self
        sos = design_bandpass(self.fs, self.band[0], self.band[1], self.band_order)
        return replace(self, sos=tuple(tuple(float(v) for v in row) for row in sos))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["leads"] = list(self.leads)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Preprocessing:
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(d) - known
        if unknown:
            raise EcgedgeError(f"unknown preprocessing field(s) {', '.join(sorted(unknown))}", where="preprocessing",
                               fix="the model was made by a newer ecgedge; upgrade")
        d = dict(d)
        for key in ("leads", "band", "baseline"):
            if d.get(key) is not None:
                d[key] = tuple(d[key])
        if d.get("sos") is not None:
            d["sos"] = tuple(tuple(r) for r in d["sos"])
        return cls(**d)


def _odd(n: float) -> int:
    k = max(1, int(round(n)))
    return k if k % 2 else k + 1


@dataclass
class Preprocessed:
    """Model input for one record, and what was done to get it."""

    x: np.ndarray  # float32 [windows, leads, window], or [leads, samples] when no window is set
    flat: np.ndarray  # bool [leads]: the lead had no spread and is all zeros
    repaired: np.ndarray  # bool [leads]: invalid samples were interpolated
    warnings: list[str] = field(default_factory=list)
    #: int64 [windows]: each window's first sample at the model's rate, as the kernel cut it (None: no windows)
    starts: np.ndarray | None = None
    #: samples per lead at the model's rate, before windowing (fewer than a window: the one window is padded)
    samples: int = 0


class Preprocessor:
    """Runs a :class:`Preprocessing` on whole records with the native kernel (or the reference)."""

    def __init__(self, spec: Preprocessing, backend: str | None = None) -> None:
        self.spec = spec.designed() if spec.band is not None and spec.sos is None else spec
        self.sos = check_sos(np.array(self.spec.sos), where="preprocessing.sos") if self.spec.sos else None
        self.backend = get_backend(backend)
        self._gathered: dict[tuple, tuple[np.ndarray, np.ndarray, list[str]]] = {}

    # -- stage parameters for a source rate --------------------------------------------------------
    @lru_cache(maxsize=32)  # noqa: B019 - a handful of rates per preprocessor, freed with it
    def _stages(self, fs_in: float):
        s = self.spec
        plan = resample_plan(float(fs_in), float(s.fs))
        stage_fs = fs_in if s.filter_first else s.fs
        sos = self.sos
        if s.filter_first and sos is not None and fs_in != s.fs:
            sos = check_sos(design_bandpass(fs_in, s.band[0], s.band[1], s.band_order))
        k1 = k2 = 0
        if s.baseline:
            k1 = _odd(s.baseline[0] * stage_fs) if s.baseline[0] > 0 else 0
            k2 = _odd(s.baseline[1] * stage_fs) if s.baseline[1] > 0 else 0
        max_gap = int(round(s.max_gap * fs_in)) if s.nan_policy == "interpolate" else 0
        return plan, sos, k1, k2, max_gap

    def gather(self, sig: Signal) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """Indices of the model's leads in ``sig`` and the unit scale of each (an error names what is missing).

        Remembered per lead layout and units: a folder's records share a few, and this ran for every record."""
        key = (tuple(sig.leads), tuple(sig.units))
        hit = self._gathered.get(key)
        if hit is None:
            hit = self._gather(sig)
            if len(self._gathered) < 64:
                hit[0].setflags(write=False)
                hit[1].setflags(write=False)
                self._gathered[key] = hit
        return hit[0], hit[1], list(hit[2])

    def _gather(self, sig: Signal) -> tuple[np.ndarray, np.ndarray, list[str]]:
        have = {name: i for i, name in enumerate(sig.leads)}
        idx, scale, warnings = [], [], []
        missing = [lead for lead in self.spec.leads if normalize_lead(lead) not in have]
        if missing:
            raise EcgedgeError(
                f"lacks lead(s) {', '.join(missing)} that the model needs (record has {', '.join(sig.leads)})",
                path=sig.path or sig.name, where="leads",
                fix="use a model trained on the leads this record has",
            )
        for lead in self.spec.leads:
            i = have[normalize_lead(lead)]
            idx.append(i)
            unit = sig.units[i] if i < len(sig.units) else self.spec.units
            f = unit_scale(unit, self.spec.units)
            if f is None:
                warnings.append(f"lead {lead}: unknown unit {unit!r}, taken as {self.spec.units}")
                f = 1.0
            scale.append(f)
        return np.array(idx, np.int32), np.array(scale, np.float64), warnings

    def __call__(self, sig: Signal) -> Preprocessed:
        gather, scale, warnings = self.gather(sig)
        x = self.run(sig.data, sig.fs, gather, scale, name=sig.path or sig.name)
        return replace(x, warnings=warnings + x.warnings)

    def run(self, data: np.ndarray, fs: float, gather: np.ndarray | None = None, scale: np.ndarray | None = None,
            name: str = "<array>") -> Preprocessed:
        """``data`` is ``[channels, samples]`` (float32 physical, or int16/int32 digital with ``scale`` = 1/gain)."""
        data = np.asarray(data)
        if data.ndim != 2:
            raise EcgedgeError(f"expected [leads, samples], got shape {data.shape}", path=name)
        if data.shape[1] == 0:
            raise EcgedgeError("record has zero samples", path=name)
        if data.dtype not in (np.float32, np.float64, np.int16, np.int32):
            data = data.astype(np.float32)
        L = len(self.spec.leads)
        if gather is None:
            if data.shape[0] < L:
                raise EcgedgeError(f"has {data.shape[0]} leads, the model needs {L}", path=name, where="leads")
            gather = np.arange(L, dtype=np.int32)
        if scale is None:
            scale = np.ones(L)
        plan, sos, k1, k2, max_gap = self._stages(float(fs))
        s = self.spec
        if self.backend.name == "native":
            out, flags, starts, m = self._native_run(data, gather, scale, plan, sos, k1, k2, max_gap, name)
            flat, repaired = (flags & 1).astype(bool), (flags & 2).astype(bool)
        else:
            out, flat, repaired, starts, m = self._reference_run(data, gather, scale, plan, sos, k1, k2, max_gap,
                                                                 name)
        warnings = []
        if flat.any():
            warnings.append("flat lead(s) set to zero: " + ", ".join(np.array(s.leads)[flat]))
        if repaired.any():
            warnings.append("invalid samples interpolated in lead(s): " + ", ".join(np.array(s.leads)[repaired]))
        if s.norm_scope == "window" and s.norm != "none":
            out, wflat = _normalize_windows(out, s.norm)
            flat = flat | wflat
        return Preprocessed(out, flat, repaired, warnings, starts, m)

    def batch(self, data: np.ndarray, fs: float, gather: np.ndarray | None = None, threads: int = 1) -> np.ndarray:
        """Equal-length records ``[records, channels, samples]`` in one call, on ``threads`` threads.

        Returns ``[records, ...]`` shaped as :meth:`run` returns one record's ``x``."""
        data = np.asarray(data)
        if data.ndim != 3 or data.shape[0] == 0 or data.shape[2] == 0:
            raise EcgedgeError(f"expected [records, leads, samples], got shape {data.shape}", where="batch")
        if self.backend.name != "native" or self.spec.norm_scope == "window":
            return np.stack([self.run(rec, fs, gather).x for rec in data])
        from .. import _kernel as K

        s = self.spec
        L = len(s.leads)
        if gather is None:
            if data.shape[1] < L:
                raise EcgedgeError(f"records have {data.shape[1]} leads, the model needs {L}", where="leads")
            gather = np.arange(L, dtype=np.int32)
        gather = np.ascontiguousarray(gather, np.int32)
        if data.dtype not in (np.float32, np.float64, np.int16, np.int32):
            data = data.astype(np.float32)
        data = np.ascontiguousarray(data)
        plan, sos, k1, k2, max_gap = self._stages(float(fs))
        n = data.shape[2]
        m = plan.out_len(n)
        window, stride = s.window or 0, s.stride or s.window or 1
        per = m * L if not window else K.window_count(m, window, stride, s.cover_tail) * L * window
        out = np.empty(per * data.shape[0], np.float32)
        flags = np.zeros((data.shape[0], L), np.uint8)
        try:
            K.run_batch(data, 1, L, out, flags, int(threads), gather=gather,
                        nan_policy=int(s.nan_policy == "interpolate"), max_gap=max_gap,
                        filter_first=s.filter_first, k1=k1, k2=k2, sos=sos, zero_phase=s.zero_phase,
                        h=None if plan.identity else plan.h, up=plan.up, down=plan.down,
                        pre_remove=plan.pre_remove, norm=NORMS[s.norm], window=window, stride=stride,
                        cover_tail=s.cover_tail, pad=PADS[s.pad])
        except (FloatingPointError, ValueError) as exc:
            raise EcgedgeError(f"preprocessing failed: {exc}", where="batch") from None
        shape = (data.shape[0], L, m) if not window else (data.shape[0], -1, L, window)
        return out.reshape(shape)

    def _native_run(self, data, gather, scale, plan, sos, k1, k2, max_gap, name):
        from .. import _kernel as K

        s = self.spec
        data = np.ascontiguousarray(data)
        n = data.shape[1]
        m = plan.out_len(n)
        L = len(gather)
        window, stride = s.window or 0, s.stride or s.window or 1
        W = K.window_count(m, window, stride, s.cover_tail) if window else 0
        out = np.empty(W * L * window if window else m * L, np.float32)
        flags = np.zeros(L, np.uint8)
        starts = np.empty(W, np.int64) if window else None
        try:
            gain = None if (scale == 1.0).all() else np.ascontiguousarray(1.0 / scale)
            m = K.run(data, 1, L, out, flags, gather=np.ascontiguousarray(gather, np.int32), gain=gain,
                      nan_policy=int(s.nan_policy == "interpolate"), max_gap=max_gap,
                      filter_first=s.filter_first, k1=k1, k2=k2, sos=sos, zero_phase=s.zero_phase,
                      h=None if plan.identity else plan.h, up=plan.up, down=plan.down, pre_remove=plan.pre_remove,
                      norm=NORMS[s.norm] if s.norm_scope == "record" else 0, window=window, stride=stride,
                      cover_tail=s.cover_tail, pad=PADS[s.pad], starts=starts)
        except FloatingPointError as exc:
            raise self._nonfinite_error(str(exc), name) from None
        except ValueError as exc:
            if "too short" in str(exc):
                raise self._short_error(name, n, sos) from None
            raise EcgedgeError(f"preprocessing failed: {exc}", path=name) from None
        shape = (L, m) if not window else (-1, L, window)
        return out.reshape(shape), flags, starts, m

    def _reference_run(self, data, gather, scale, plan, sos, k1, k2, max_gap, name):
        from . import reference as R

        s = self.spec
        x = data[gather].astype(np.float64)
        if not (scale == 1.0).all():
            x = x / (1.0 / scale)[:, None]  # the kernel divides by the gain: same operation, same bits
        x, repaired, err = R.fix_nonfinite(x, s.nan_policy, max_gap)
        if err:
            kind, lead, t, run = err
            raise self._nonfinite_error(f"{'non-finite sample' if kind == 'nonfinite' else 'gap too long'}: "
                                        f"lead {lead}, sample {t}, run {run}", name)
        n = x.shape[1]

        def filt(y):
            y = R.remove_baseline(y, k1, k2)
            if sos is None:
                return y
            if s.zero_phase:
                if y.shape[1] <= filtfilt_padlen(sos):
                    raise self._short_error(name, n, sos)
                return R.sosfiltfilt(y, sos)
            return R.sosfilt(y, sos, R.steady_state(sos, y[:, 0]))[0]

        if s.filter_first or plan.identity:
            x = filt(x)
        if not plan.identity:
            x = R.resample(x, plan)
            if not s.filter_first:
                x = filt(x)
        flat = np.zeros(x.shape[0], bool)
        if s.norm_scope == "record":
            x, flat = R.normalize(x, s.norm)
        m = x.shape[1]
        if s.window:
            stride = s.stride or s.window
            return (R.windows(x, s.window, stride, s.cover_tail, s.pad), flat, repaired,
                    R.window_starts(m, s.window, stride, s.cover_tail), m)
        return x.astype(np.float32), flat, repaired, None, m

    def _nonfinite_error(self, detail: str, name: str) -> EcgedgeError:
        import re

        m = re.search(r"lead (\d+), sample (\d+), run (\d+)", detail)
        where = "samples"
        if m:
            lead, t, run = (int(v) for v in m.groups())
            where = f"lead {self.spec.leads[lead]}, sample {t}"
            detail = f"{run} invalid (NaN/inf) sample(s) in a row"
        fix = ("set nan_policy='interpolate' to bridge short gaps" if self.spec.nan_policy == "reject"
               else f"gaps longer than {self.spec.max_gap:g} s are not interpolated; trim the record")
        return EcgedgeError(detail, path=name, where=where, fix=fix)

    def _short_error(self, name, n, sos) -> EcgedgeError:
        need = filtfilt_padlen(sos) + 1
        return EcgedgeError(f"record of {n} samples is too short for the zero-phase band-pass "
                            f"(needs more than {need - 1} samples at the filter's rate)", path=name,
                            fix="use a longer record")


def _normalize_windows(x: np.ndarray, method: str) -> tuple[np.ndarray, np.ndarray]:
    from . import reference as R

    lead_axis = x.ndim - 2
    flat_any = np.zeros(x.shape[lead_axis], bool)
    flat_x = x.reshape(-1, x.shape[-1]).astype(np.float64)
    y, flat = R.normalize(flat_x, method)
    flat_any |= flat.reshape(-1, x.shape[lead_axis]).any(axis=0) if x.ndim == 3 else flat
    return y.reshape(x.shape).astype(np.float32), flat_any
