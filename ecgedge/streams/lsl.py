"""Lab Streaming Layer (LSL) streams, via pylsl: any acquisition program that publishes an outlet.

The stream is found by name (or by type: ``lsl:type=ECG``). Lead names and units come from the
stream's ``<channels>`` description when it has one; values in µV or V are converted to mV.
Breaks in the LSL timestamps of more than a few sample periods are reported as ``gap_before``;
a stream that goes silent for ``timeout`` seconds yields ``"disconnected"``, and ``"reconnected"``
when samples flow again (pylsl's inlet recovers by itself).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence

import numpy as np

from ..errors import EcgedgeError
from .base import POLL_INTERVAL, Chunk, Source, lead_names, positive

#: Multipliers from units a stream may declare to mV.
_TO_MV = {"mv": 1.0, "millivolt": 1.0, "millivolts": 1.0, "uv": 1e-3, "µv": 1e-3, "μv": 1e-3,
          "microvolt": 1e-3, "microvolts": 1e-3, "v": 1e3, "volt": 1e3, "volts": 1e3}
_QUIET_LOG = "[log]\nlevel = -2\n"


def load_pylsl(quiet: bool = True):
    """The pylsl module with liblsl loaded, or an EcgedgeError that says how to install it."""
    fix = ("pip install 'pylsl>=1.18' (its wheels bundle liblsl on Linux x86_64, macOS and Windows); elsewhere install "
           "liblsl (e.g. conda install -c conda-forge liblsl) and set PYLSL_LIB to its path")
    try:
        import pylsl
    except ImportError as e:
        raise EcgedgeError(f"LSL streams need pylsl ({e})", where="lsl", fix=fix) from None
    except (RuntimeError, OSError) as e:  # pylsl imports but cannot find or load liblsl
        raise EcgedgeError(f"pylsl could not load liblsl: {e}", where="lsl", fix=fix) from None
    if quiet and not _user_config():
        try:
            pylsl.set_config_content(_QUIET_LOG)  # only takes effect before liblsl's first use
        except (AttributeError, NotImplementedError):
            pass
    return pylsl


def _user_config() -> bool:
    if os.environ.get("LSLAPICFG"):
        return True
    places = ("lsl_api.cfg", os.path.expanduser("~/lsl_api/lsl_api.cfg"), "/etc/lsl_api/lsl_api.cfg")
    return any(os.path.exists(p) for p in places)


class LSLSource(Source):
    """Samples from an LSL outlet found by ``name`` (or ``stream_type``) within ``timeout`` seconds."""

    def __init__(self, name: str | None = None, timeout: float = 5.0, *, stream_type: str | None = None,
                 leads: str | Sequence[str] | None = None, unit: str | None = None,
                 chunk_seconds: float = 1 / 16, quiet: bool = True) -> None:
        super().__init__()
        if not name and not stream_type:
            raise EcgedgeError("which LSL stream?", where="lsl", fix="lsl:NAME or lsl:type=ECG")
        self.timeout = positive(timeout, "timeout", where="timeout")
        self.chunk_seconds = positive(chunk_seconds, "chunk length", where="chunk_seconds")
        pylsl = self._lsl = load_pylsl(quiet)
        prop, value = ("name", name) if name else ("type", stream_type)
        where = f"lsl stream {prop}={value}"
        found = pylsl.resolve_byprop(prop, value, 1, self.timeout)
        if not found:
            raise EcgedgeError(f"no LSL stream with {prop} {value!r} found within {self.timeout:g} s", where="lsl",
                               fix="start the sending program, check it is on this network, and that "
                                   "multicast is allowed (or list LSL's KnownPeers in lsl_api.cfg)")
        info = found[0]
        self.fs = float(info.nominal_srate())
        if self.fs <= 0:
            raise EcgedgeError("stream has an irregular sampling rate; ECG needs a fixed one", where=where)
        n = int(info.channel_count())
        self.name = info.name()
        self._inlet = pylsl.StreamInlet(info, max_buflen=60, recover=True)
        try:
            full = self._inlet.info(timeout=self.timeout)
        except Exception:
            full = info
        labels, units = _describe(full, n)
        self.leads = lead_names(leads if leads is not None else (labels or None), n, where="leads")
        declared = unit or (units[0] if units and len(set(units)) == 1 else None)
        self.scale = 1.0
        if declared:
            key = declared.strip().lower()
            if key not in _TO_MV:
                raise EcgedgeError(f"stream values are in {declared!r}, which ecgedge cannot convert to mV",
                                   where=where, fix="--unit uV, mV or V")
            self.scale = _TO_MV[key]
        self.units = ("mV",) * n
        self._max_chunk = max(64, int(self.fs * 2))

    def close(self) -> None:
        self._stop.set()
        inlet, self._inlet = getattr(self, "_inlet", None), None
        if inlet is not None:
            try:
                inlet.close_stream()
            except Exception:
                pass

    def chunks(self) -> Iterator[Chunk]:
        inlet = self._inlet
        if inlet is None:
            return
        try:
            inlet.open_stream(timeout=self.timeout)
        except Exception as e:  # pylsl's TimeoutError / LostError
            raise EcgedgeError(f"could not open the LSL stream: {e or type(e).__name__}",
                               where=f"lsl stream {self.name}",
                               fix="check that the sending program is still running") from None
        t_last = time.monotonic()
        ts_last: float | None = None
        silent = False
        wait = min(self.chunk_seconds, POLL_INTERVAL)
        while not self._stop.wait(wait):
            try:
                samples, stamps = inlet.pull_chunk(timeout=0.0, max_samples=self._max_chunk)
            except Exception as e:
                if self._stop.is_set():
                    return
                raise EcgedgeError(f"LSL stream lost: {e}", where=f"lsl stream {self.name}") from None
            now = time.monotonic()
            if not samples:
                if not silent and now - t_last > self.timeout:
                    silent = True
                    yield self._event("disconnected")
                continue
            gap = 0
            if ts_last is not None and stamps:
                missing = round((stamps[0] - ts_last) * self.fs) - 1
                if missing >= max(2, round(0.05 * self.fs)):
                    gap = missing
            if silent:
                silent = False
                yield self._event("reconnected", gap_before=gap)
                gap = 0
            ts_last = stamps[-1] if stamps else None
            t_last = now
            data = np.asarray(samples, dtype=np.float64).T
            if self.scale != 1.0:
                data *= self.scale
            yield Chunk(np.ascontiguousarray(data, dtype=np.float32), now, gap_before=gap,
                        event="gap" if gap else "")


def _describe(info, n: int) -> tuple[list[str], list[str]]:
    """Channel labels and units from a stream's ``<desc><channels>``, if it lists all ``n``."""
    labels, units = [], []
    try:
        ch = info.desc().child("channels").child("channel")
        while not ch.empty():
            labels.append(ch.child_value("label"))
            units.append(ch.child_value("unit"))
            ch = ch.next_sibling()
    except Exception:
        return [], []
    if len(labels) != n:
        return [], []
    labels = labels if all(labels) and len(set(labels)) == n else []
    units = [u for u in units if u]
    return labels, units if len(units) == n else []
