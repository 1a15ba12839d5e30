"""The one interface every live source implements: :class:`Source` yields :class:`Chunk` objects.

A chunk is a block of consecutive samples, float32 ``[leads, n]`` in the source's physical units
(mV unless the source says otherwise), NaN where a sample is missing. Sources also report what
happened between chunks: ``gap_before`` counts samples known to be lost before the chunk (a
dropped packet, a reconnect) and ``event`` names connection changes (``"disconnected"``,
``"reconnected"``); event chunks may carry no samples at all.

Every source is a context manager, and :meth:`Source.close` may be called from another thread to
stop an iteration in progress: sources wait in short slices and check for it, never block forever.
"""

from __future__ import annotations

import abc
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import EcgedgeError
from ..leads import normalize_lead

#: How long a source blocks in one wait before it checks whether it was closed (seconds).
POLL_INTERVAL = 0.1


class StreamWarning(UserWarning):
    """Something in a live stream was skipped or repaired (malformed lines, partial frames)."""


@dataclass
class Chunk:
    """Consecutive samples from a live source."""

    #: float32 ``[leads, n]`` in the source's physical units; NaN marks a missing sample.
    data: np.ndarray
    #: ``time.monotonic()`` when the last sample of this chunk arrived.
    t_arrival: float
    #: Samples known to be missing before this chunk (dropped packets, reconnects); 0 = contiguous.
    gap_before: int = 0
    #: ``""`` for plain data, else what happened: ``"disconnected"``, ``"reconnected"``, ``"gap"``.
    event: str = ""

    @property
    def n_samples(self) -> int:
        return int(self.data.shape[1])


class Source(abc.ABC):
    """A live (or replayed) stream of multi-lead samples."""

    fs: float
    leads: tuple[str, ...]
    units: tuple[str, ...]
    name: str

    def __init__(self) -> None:
        self._stop = threading.Event()

    @abc.abstractmethod
    def chunks(self) -> Iterator[Chunk]:
        """Yield chunks until the source is exhausted or :meth:`close` is called."""

    def close(self) -> None:
        """Stop the stream and free what it holds; safe to call twice and from another thread."""
        self._stop.set()

    @property
    def closed(self) -> bool:
        return self._stop.is_set()

    @property
    def n_leads(self) -> int:
        return len(self.leads)

    def __iter__(self) -> Iterator[Chunk]:
        return self.chunks()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, fs={self.fs:g} Hz, leads={','.join(self.leads)})"

    def _empty(self) -> np.ndarray:
        return np.zeros((len(self.leads), 0), dtype=np.float32)

    def _event(self, event: str, gap_before: int = 0) -> Chunk:
        return Chunk(self._empty(), time.monotonic(), gap_before=gap_before, event=event)


def lead_names(leads: str | Sequence[str] | int | None, n_leads: int | None = None, *,
               prefix: str = "ECG", where: str = "leads") -> tuple[str, ...]:
    """Canonical lead names from a user's ``"I,II"``, a list of names, a count, or nothing.

    With no names, leads are called ``ECG1``, ``ECG2`` ... (``n_leads`` of them).
    """
    if leads is None or (isinstance(leads, str) and not leads.strip()):
        if n_leads is None:
            raise EcgedgeError("the lead names (or their number) are needed", where=where,
                               fix="pass --leads, e.g. --leads I,II or --leads 2")
        return tuple(f"{prefix}{i + 1}" for i in range(n_leads))
    if isinstance(leads, int) or (isinstance(leads, str) and leads.strip().isdigit()):
        return lead_names(None, int(leads), prefix=prefix, where=where)
    names = [s.strip() for s in leads.split(",")] if isinstance(leads, str) else [str(s).strip() for s in leads]
    if not names or any(not s for s in names):
        raise EcgedgeError(f"empty lead name in {leads!r}", where=where, fix="e.g. --leads I,II,V1")
    out = tuple(normalize_lead(s) for s in names)
    if len(set(out)) != len(out):
        raise EcgedgeError(f"lead names repeat: {', '.join(out)}", where=where, fix="give each lead its own name")
    if n_leads is not None and len(out) != n_leads:
        raise EcgedgeError(f"{len(out)} lead names for {n_leads} channels", where=where,
                           fix=f"give {n_leads} names")
    return out


def positive(value, what: str, *, where: str | None = None, fix: str | None = None) -> float:
    """``value`` as a positive finite float, or an EcgedgeError naming ``what``."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise EcgedgeError(f"{what} is not a number: {value!r}", where=where, fix=fix) from None
    if not np.isfinite(x) or x <= 0:
        raise EcgedgeError(f"{what} must be positive, not {value!r}", where=where, fix=fix)
    return x


#: Sampling rates a source may claim: what a record may have, no more (1e308 or 5e-324 Hz are typos or attacks).
MIN_FS, MAX_FS = 1.0, 100_000.0
#: Samples are converted in float32 as ``x / gain``: a gain below this makes an int16 full scale (32768)
#: overflow to inf, and a gain of 1e-300 is 0 in float32 (inf everywhere). Above float32's max it is inf.
MIN_GAIN, MAX_GAIN = 32768.0 / float(np.finfo(np.float32).max), float(np.finfo(np.float32).max)


def sampling_rate(value, *, where: str | None = "fs", fix: str | None = "pass --fs HZ") -> float:
    """``value`` as a sampling rate within 1 Hz-100 kHz, or an EcgedgeError."""
    fs = positive(value, "sampling frequency", where=where, fix=fix)
    if not MIN_FS <= fs <= MAX_FS:
        raise EcgedgeError(f"sampling frequency {fs:g} Hz is outside {MIN_FS:g} Hz-{MAX_FS / 1000:g} kHz",
                           where=where, fix=fix)
    return fs


def gain(value, what: str = "gain (digital units per mV)", *, where: str | None = "gain",
         fix: str | None = "e.g. --gain 200") -> float:
    """``value`` as a positive gain that float32 arithmetic can divide by without overflow or underflow."""
    g = positive(value, what, where=where, fix=fix)
    if not MIN_GAIN <= g <= MAX_GAIN:
        raise EcgedgeError(f"{what} {g:g} is outside {MIN_GAIN:.3g}..{MAX_GAIN:.3g}: the samples divided by it "
                           "would overflow or underflow in float32", where=where, fix=fix)
    return g


class RateLimitedWarning:
    """Warn on the 1st, 10th, 100th ... occurrence of one kind of problem, counting them all."""

    def __init__(self, template: str) -> None:
        self.template = template
        self.count = 0
        self._next = 1

    def hit(self, **fields) -> None:
        self.count += 1
        if self.count >= self._next:
            self._next *= 10
            warnings.warn(self.template.format(count=self.count, **fields), StreamWarning, stacklevel=3)
