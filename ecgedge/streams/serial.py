"""ECG samples from a serial port (USB-serial boards, Arduino-style front ends), via pyserial.

Two wire formats:

* ``text``: one line per sample, the leads' values separated by commas or spaces (``"512,498"``).
  A line that is not exactly one number per lead is counted in :attr:`SerialSource.malformed`
  and skipped with a :class:`~ecgedge.streams.base.StreamWarning`. The first line after the port
  is (re)opened is dropped, since the device may have been in the middle of it.
* ``binary``: interleaved little-endian frames, as :class:`~ecgedge.streams.raw.RawStream` reads.

Values are converted as ``(x - baseline) / gain`` (``gain`` in device units per mV).

When the device goes away (unplugged, port file removed, read errors, or no bytes for
``timeout`` seconds) the source yields a chunk with event ``"disconnected"``, tries to reopen the
port with exponential backoff, and on success yields ``"reconnected"`` with ``gap_before`` the
number of samples estimated lost (time since the last byte × fs). After ``max_retries`` attempts
without data it raises :class:`~ecgedge.errors.EcgedgeError` naming the port.
"""

from __future__ import annotations

import errno
import threading
import time
from collections.abc import Iterator, Sequence

import numpy as np

from ..errors import EcgedgeError
from .base import POLL_INTERVAL, Chunk, RateLimitedWarning, Source, lead_names, positive, sampling_rate
from .base import gain as check_gain
from .raw import FrameDecoder

PROTOCOLS = ("text", "binary")
#: Longest back-off between two attempts to reopen a port (seconds).
MAX_BACKOFF = 10.0
#: A text "line" longer than this without a newline is garbage (wrong baud rate, binary data).
MAX_LINE_BYTES = 4096


def _pyserial():
    try:
        import serial
    except ImportError:
        raise EcgedgeError("serial ports need pyserial", where="serial",
                           fix="pip install 'ecgedge[devices]' (or pip install pyserial)") from None
    return serial


def available_ports() -> list[str]:
    """Serial ports the system lists (may be empty, and does not list pseudo-terminals)."""
    try:
        from serial.tools.list_ports import comports
    except ImportError:
        return []
    try:
        return sorted(p.device for p in comports())
    except Exception:
        return []


class SerialSource(Source):
    """Live samples from a serial device; see the module docstring for formats and reconnects."""

    def __init__(self, port: str, baudrate: int, fs: float, leads: str | Sequence[str] | int,
                 protocol: str = "text", dtype: str = "int16", gain: float = 1.0, baseline: float = 0.0,
                 max_retries: int = 5, backoff: float = 0.5, timeout: float | None = 5.0,
                 chunk_seconds: float = 1 / 32, units: str = "mV") -> None:
        super().__init__()
        self._serial = _pyserial()
        self.port = str(port)
        self.name = self.port
        try:
            self.baudrate = int(baudrate)
        except (TypeError, ValueError):
            raise EcgedgeError(f"baud rate is not a whole number: {baudrate!r}", where="baud",
                               fix="e.g. --baud 115200") from None
        self.fs = sampling_rate(fs, where="fs", fix="pass --fs HZ")
        self.leads = lead_names(leads, where="leads")
        self.units = (units,) * len(self.leads)
        self.protocol = str(protocol).strip().lower()
        if self.protocol not in PROTOCOLS:
            raise EcgedgeError(f"unknown serial protocol {protocol!r}", where="protocol",
                               fix="--protocol text (one line per sample) or --protocol binary")
        self.gain = check_gain(gain, "gain (device units per mV)", where="gain", fix="e.g. --gain 200")
        self.baseline = float(baseline)
        self.decoder = FrameDecoder(len(self.leads), dtype, self.gain, self.baseline) \
            if self.protocol == "binary" else None
        self.max_retries = int(max_retries)
        if self.max_retries < 0:
            raise EcgedgeError(f"retries must be 0 or more, not {max_retries!r}", where="max_retries")
        self.backoff = positive(backoff, "reconnect back-off", where="backoff")
        self.timeout = None if timeout is None or float(timeout) <= 0 else float(timeout)
        self.chunk_seconds = max(0.0, float(chunk_seconds))
        #: Text lines skipped because they did not hold one number per lead.
        self._malformed = RateLimitedWarning(
            "{port}: skipped a malformed line {line!r} (want {n} numbers separated by commas or spaces; "
            "{count} skipped so far)")
        self._lock = threading.Lock()
        self._in_read = False
        self._attempts = 0
        self._text = bytearray()
        self._skip_line = True
        self._ser = None
        try:
            self._ser = self._open()
        except (self._serial.SerialException, OSError) as e:
            raise self._open_error(e) from None

    # ------------------------------------------------------------------ port handling
    @property
    def malformed(self) -> int:
        return self._malformed.count

    def _open(self):
        ser = self._serial.Serial(self.port, self.baudrate, timeout=POLL_INTERVAL)
        self._text.clear()
        self._skip_line = True
        if self.decoder is not None:
            self.decoder.reset()
        return ser

    def _open_error(self, e: Exception) -> EcgedgeError:
        text = str(e)
        if getattr(e, "errno", None) == errno.EACCES or "Permission denied" in text:
            fix = "no permission: add your user to the 'dialout' group (Linux) and log in again"
        else:
            ports = available_ports()
            fix = f"ports found: {', '.join(ports)}" if ports else "no serial ports found; is the device plugged in?"
        return EcgedgeError(f"cannot open serial port: {text}", path=self.port, fix=fix)

    def _close_port(self) -> None:
        with self._lock:
            ser, self._ser = self._ser, None
        if ser is not None:
            try:
                ser.close()
            except Exception:
                pass  # a vanished device may fail to close; there is nothing left to free

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            ser, reading = self._ser, self._in_read
            if ser is not None and reading:
                try:
                    ser.cancel_read()  # wakes a read blocked in select(); the reader closes the port
                except Exception:
                    pass
        if not reading:
            self._close_port()

    def _read_some(self) -> bytes:
        """Bytes that arrived within one poll interval (b"" if none); raises when the port is gone."""
        with self._lock:
            ser = self._ser
            if ser is None or self._stop.is_set():
                return b""
            self._in_read = True
        try:
            first = ser.read(1)
            if not first:
                return b""
            if self.chunk_seconds and self._stop.wait(self.chunk_seconds):
                return b""
            n = ser.in_waiting
            return first + ser.read(n) if n else first
        finally:
            with self._lock:
                self._in_read = False

    # ------------------------------------------------------------------ decoding
    def _parse_text(self, piece: bytes) -> np.ndarray:
        self._text += piece
        lines = self._text.split(b"\n")
        self._text = bytearray(lines.pop())
        if len(self._text) > MAX_LINE_BYTES:
            self._malformed.hit(port=self.port, line=bytes(self._text[:40]) + b"...", n=len(self.leads))
            self._text.clear()
            self._skip_line = True
        n = len(self.leads)
        rows = []
        for line in lines:
            if self._skip_line:
                self._skip_line = False
                continue
            s = line.strip()
            if not s:
                continue
            try:
                values = [float(v) for v in s.replace(b",", b" ").split()]
            except ValueError:
                values = []
            if len(values) != n:
                self._malformed.hit(port=self.port, line=bytes(s[:80]), n=n)
                continue
            rows.append(values)
        if not rows:
            return np.zeros((n, 0), dtype=np.float32)
        x = np.asarray(rows, dtype=np.float64).T
        if self.baseline:
            x -= self.baseline
        if self.gain != 1.0:
            x /= self.gain
        return np.ascontiguousarray(x, dtype=np.float32)

    def _decode(self, piece: bytes) -> np.ndarray:
        return self.decoder.feed(piece) if self.decoder is not None else self._parse_text(piece)

    # ------------------------------------------------------------------ the stream
    def chunks(self) -> Iterator[Chunk]:
        serial = self._serial
        t_last = time.monotonic()  # when the last byte arrived
        try:
            while not self._stop.is_set():
                reason = ""
                try:
                    piece = self._read_some()
                except (serial.SerialException, OSError) as e:
                    reason = str(e) or type(e).__name__
                else:
                    now = time.monotonic()
                    if piece:
                        t_last = now
                        data = self._decode(piece)
                        if data.shape[1]:
                            self._attempts = 0
                            yield Chunk(data, now)
                        continue
                    if self._stop.is_set():
                        break
                    if self.timeout is None or now - t_last < self.timeout:
                        continue
                    reason = f"no data for {now - t_last:.1f} s"
                self._close_port()
                if self._stop.is_set():
                    break
                yield self._event("disconnected")
                if not self._reopen(reason):
                    break
                yield self._event("reconnected", gap_before=max(1, round((time.monotonic() - t_last) * self.fs)))
                t_last = time.monotonic()
        finally:
            self._close_port()

    def _reopen(self, reason: str) -> bool:
        """Reopen the port with back-off; False if closed meanwhile; raises after ``max_retries``."""
        last = reason
        while True:
            if self._attempts >= self.max_retries:
                raise EcgedgeError(
                    f"serial device lost ({reason}) and not back after {self.max_retries} attempt(s) to reopen it"
                    + (f" (last: {last})" if last != reason else ""),
                    path=self.port, fix="check the cable and the device's power; --retries N waits longer")
            delay = min(self.backoff * 2 ** self._attempts, MAX_BACKOFF)
            self._attempts += 1
            if self._stop.wait(delay):
                return False
            try:
                ser = self._open()
            except (self._serial.SerialException, OSError) as e:
                last = str(e) or type(e).__name__
                continue
            with self._lock:
                if self._stop.is_set():
                    ser.close()
                    return False
                self._ser = ser
            return True
