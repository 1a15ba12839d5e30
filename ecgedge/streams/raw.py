"""Raw interleaved samples from a pipe or stdin (``acquire | ecgedge infer --stream -``).

The byte stream is sample-major: ``s0l0 s0l1 ... s1l0 s1l1 ...``, little-endian ``int16`` or
``float32``. ``int16`` values are digital units, converted as ``(x - baseline) / gain`` with
``gain`` in units per mV; ``-32768`` (WFDB's "no sample" code) becomes NaN. ``float32`` values
are taken as physical units (the same conversion is applied, which is the identity by default).
"""

from __future__ import annotations

import io
import os
import select
import time
import warnings
from collections.abc import Iterator, Sequence
from typing import BinaryIO

import numpy as np

from ..errors import EcgedgeError
from .base import POLL_INTERVAL, Chunk, Source, StreamWarning, lead_names, sampling_rate
from .base import gain as check_gain

#: Sample types a raw stream may carry (little-endian).
DTYPES = {"int16": np.dtype("<i2"), "float32": np.dtype("<f4")}
INT16_MISSING = -32768


def _dtype(dtype: str, where: str) -> np.dtype:
    key = str(dtype).strip().lower()
    if key not in DTYPES:
        raise EcgedgeError(f"unknown sample type {dtype!r}", where=where, fix="--dtype int16 or --dtype float32")
    return DTYPES[key]


class FrameDecoder:
    """Turns arbitrary byte pieces into whole frames; a partial frame waits for the next piece."""

    def __init__(self, n_leads: int, dtype: str = "int16", gain: float = 1.0, baseline: float = 0.0,
                 where: str = "dtype") -> None:
        self.n_leads = n_leads
        self.dtype = _dtype(dtype, where)
        self.gain = check_gain(gain, "gain (digital units per mV)", where="gain", fix="e.g. --gain 200")
        self.baseline = float(baseline)
        self.frame_bytes = self.dtype.itemsize * n_leads
        self._pending = bytearray()

    @property
    def pending(self) -> int:
        """Bytes of an incomplete frame held back."""
        return len(self._pending)

    def reset(self) -> int:
        """Forget a partial frame (after a reconnect); returns how many bytes were dropped."""
        n = len(self._pending)
        self._pending.clear()
        return n

    def feed(self, piece: bytes) -> np.ndarray:
        """Samples ``float32 [leads, n]`` of every frame completed by ``piece``."""
        self._pending += piece
        n = len(self._pending) // self.frame_bytes
        whole = n * self.frame_bytes
        raw = np.frombuffer(bytes(self._pending[:whole]), dtype=self.dtype).reshape(n, self.n_leads)
        del self._pending[:whole]
        return self.convert(raw.T)

    def convert(self, digital: np.ndarray) -> np.ndarray:
        out = digital.astype(np.float32)
        if self.dtype.kind == "i":
            missing = digital == INT16_MISSING
        else:
            missing = None
        if self.baseline:
            out -= np.float32(self.baseline)
        if self.gain != 1.0:
            out /= np.float32(self.gain)
        if missing is not None and missing.any():
            out[missing] = np.nan
        return np.ascontiguousarray(out)


class RawStream(Source):
    """Interleaved binary samples from a file object, a descriptor or a pipe; EOF ends the stream.

    Chunks hold whatever whole frames have arrived, at most ``chunk_samples`` (default: an eighth
    of a second) per chunk, so latency stays at what the writer gives. A partial frame is kept for
    the next read, never misaligned; one left at EOF is dropped with a :class:`StreamWarning`.

    A file object with a descriptor (a pipe, ``sys.stdin.buffer``) is read through the descriptor,
    waiting in short slices so that :meth:`close` from another thread stops it; bytes a buffered
    reader had already taken in before the stream started are not seen.
    """

    def __init__(self, fileobj: BinaryIO | int, fs: float, leads: str | Sequence[str] | int,
                 dtype: str = "int16", gain: float = 1.0, baseline: float = 0.0,
                 chunk_samples: int | None = None, units: str = "mV", name: str | None = None) -> None:
        super().__init__()
        self.fs = sampling_rate(fs, where="fs", fix="pass --fs HZ")
        self.leads = lead_names(leads, where="leads")
        self.units = (units,) * len(self.leads)
        self.decoder = FrameDecoder(len(self.leads), dtype, gain, baseline)
        self.chunk_samples = int(chunk_samples) if chunk_samples else max(1, round(self.fs / 8))
        if self.chunk_samples <= 0:
            raise EcgedgeError(f"chunk_samples must be positive, not {chunk_samples!r}", where="chunk_samples")
        self._file = fileobj
        self._fd = _fileno(fileobj)
        self.name = name or getattr(fileobj, "name", None) or ("stdin" if self._fd == 0 else "raw stream")
        self.name = str(self.name)
        #: Bytes of a trailing partial frame dropped at EOF.
        self.dropped_bytes = 0

    def _read(self, size: int) -> bytes | None:
        """Up to ``size`` bytes, b"" at EOF, None when nothing came within the poll interval."""
        if self._fd is not None:
            ready, _, _ = select.select([self._fd], [], [], POLL_INTERVAL)
            if not ready:
                return None
            return os.read(self._fd, size)
        reader = getattr(self._file, "read1", None) or self._file.read
        return reader(size)

    def chunks(self) -> Iterator[Chunk]:
        dec = self.decoder
        while not self._stop.is_set():
            want = self.chunk_samples * dec.frame_bytes - dec.pending
            piece = self._read(want)
            if piece is None:
                continue
            if not piece:
                break
            data = dec.feed(piece)
            if data.shape[1]:
                yield Chunk(data, time.monotonic())
        if dec.pending and not self._stop.is_set():
            self.dropped_bytes = dec.reset()
            warnings.warn(f"{self.name}: stream ended inside a frame; dropped {self.dropped_bytes} trailing "
                          f"byte(s) of a {dec.frame_bytes}-byte frame", StreamWarning, stacklevel=2)


def _fileno(fileobj) -> int | None:
    if isinstance(fileobj, int):
        return fileobj
    if isinstance(fileobj, io.BytesIO):
        return None
    try:
        return fileobj.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):
        return None


def _isatty(fd: int) -> bool:
    try:
        return os.isatty(fd)
    except OSError:
        return False


def open_stdin(fs: float, leads: str | Sequence[str] | int, dtype: str = "int16", gain: float = 1.0,
               baseline: float = 0.0, chunk_samples: int | None = None) -> RawStream:
    """A :class:`RawStream` on standard input (descriptor 0, read unbuffered)."""
    if _isatty(0):
        raise EcgedgeError("standard input is a terminal, not a stream of samples", where="stdin",
                           fix="pipe the samples in, e.g. acquire | ecgedge infer --stream - ...")
    return RawStream(0, fs, leads, dtype=dtype, gain=gain, baseline=baseline, chunk_samples=chunk_samples,
                     name="stdin")
