"""Live sources: real records, real pipes, real pseudo-terminals, BrainFlow's synthetic board, LSL.

Nothing is mocked. Every wait is bounded: sources are read on a helper thread (:class:`Pump`) and
the test waits on a queue with a deadline, closing the source if it runs out.
"""

from __future__ import annotations

import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
import tty
import uuid
import warnings
from pathlib import Path

import numpy as np
import pytest

from ecgedge.errors import EcgedgeError
from ecgedge.io import read_record
from ecgedge.streams import Chunk, StreamWarning, open_source
from ecgedge.streams.raw import RawStream
from ecgedge.streams.wfdb import FileReplay

MITDB_100 = "wfdb-examples/100.hea"
PTBXL_500 = "ptb-xl/records500/00000/00001_hr.hea"
CPSC_MAT = "cpsc2018/A1980.mat"
_DONE = object()


class Pump:
    """Iterate a source on a daemon thread; the test reads chunks from a queue with deadlines."""

    def __init__(self, source) -> None:
        self.source = source
        self.q: queue.Queue = queue.Queue()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            for chunk in self.source.chunks():
                self.q.put(chunk)
        except BaseException as e:  # handed to the test thread
            self.q.put(e)
        finally:
            self.q.put(_DONE)

    def get(self, timeout: float = 5.0):
        try:
            return self.q.get(timeout=timeout)
        except queue.Empty:
            self.stop()
            raise AssertionError(f"no chunk from {self.source!r} within {timeout} s") from None

    def samples(self, n: int, timeout: float = 5.0) -> list[Chunk]:
        """Data chunks until ``n`` samples have arrived (events and errors fail the test)."""
        deadline = time.monotonic() + timeout
        got, total = [], 0
        while total < n:
            item = self.get(max(0.01, deadline - time.monotonic()))
            if isinstance(item, BaseException):
                raise item
            assert item is not _DONE, f"stream ended after {total} of {n} samples"
            assert item.event in ("", "gap"), f"unexpected event {item.event!r}"
            got.append(item)
            total += item.n_samples
        return got

    def until_event(self, event: str, timeout: float = 5.0) -> tuple[Chunk, list[Chunk]]:
        deadline = time.monotonic() + timeout
        before = []
        while True:
            item = self.get(max(0.01, deadline - time.monotonic()))
            if isinstance(item, BaseException):
                raise item
            assert item is not _DONE, f"stream ended before {event!r}"
            if item.event == event:
                return item, before
            before.append(item)

    def stop(self, timeout: float = 3.0) -> None:
        self.source.close()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "source did not stop after close()"


def concat(chunks: list[Chunk]) -> np.ndarray:
    return np.concatenate([c.data for c in chunks], axis=1)


# ------------------------------------------------------------------------------------- FileReplay
@pytest.mark.parametrize("rel", [MITDB_100, PTBXL_500, CPSC_MAT])
def test_replay_equals_record(data: Path, rel: str) -> None:
    sig = read_record(data / rel)
    src = FileReplay(data / rel, chunk_seconds=0.25)
    chunks = list(src.chunks())
    assert (src.fs, src.leads, src.units) == (sig.fs, sig.leads, sig.units)
    assert all(c.data.dtype == np.float32 and c.data.shape[0] == sig.n_leads for c in chunks)
    assert {c.n_samples for c in chunks[:-1]} == {round(0.25 * sig.fs)}
    assert np.array_equal(concat(chunks), sig.data, equal_nan=True)
    t = [c.t_arrival for c in chunks]
    assert all(b >= a for a, b in zip(t, t[1:]))
    assert all(c.gap_before == 0 and c.event == "" for c in chunks)


def test_replay_realtime_paces_chunks(data: Path) -> None:
    src = FileReplay(data / PTBXL_500, chunk_seconds=0.1, realtime=True, speed=20)  # 10 s at 20x: 0.5 s
    expected = src.signal.duration / 20
    t0 = time.monotonic()
    chunks = Pump(src).samples(src.signal.n_samples, timeout=expected * 10 + 5)
    elapsed = time.monotonic() - t0
    assert elapsed >= 0.8 * expected
    assert np.array_equal(concat(chunks), src.signal.data, equal_nan=True)
    t = [c.t_arrival for c in chunks]
    assert all(b >= a for a, b in zip(t, t[1:]))
    assert t[-1] - t[0] >= 0.8 * expected * (len(t) - 1) / len(t)


def test_replay_close_from_another_thread(data: Path) -> None:
    src = FileReplay(data / MITDB_100, realtime=True)  # 30 minutes if left alone
    pump = Pump(src)
    assert pump.get().n_samples == src.chunk_samples
    t0 = time.monotonic()
    pump.stop()
    assert time.monotonic() - t0 < 1.0


def test_replay_rejects_bad_options(data: Path) -> None:
    with pytest.raises(EcgedgeError, match="speed"):
        FileReplay(data / MITDB_100, speed=0)
    with pytest.raises(EcgedgeError, match="no such record"):
        FileReplay(data / "wfdb-examples" / "nope")


# ------------------------------------------------------------------------------------- RawStream
def _feed_pipe(payload: bytes, seed: int, *, keep_open: threading.Event | None = None) -> tuple[int, threading.Thread]:
    """A pipe's read end, and a thread writing ``payload`` into it in random-sized pieces."""
    r, w = os.pipe()

    def writer() -> None:
        rng = random.Random(seed)
        i = 0
        try:
            while i < len(payload):
                n = rng.randint(1, 97)
                os.write(w, payload[i:i + n])
                i += n
                if rng.random() < 0.05:
                    time.sleep(0.002)
            if keep_open is not None:
                keep_open.wait(10)
        finally:
            os.close(w)

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    return r, t


def test_raw_int16_over_pipe() -> None:
    rng = np.random.default_rng(1)
    digital = rng.integers(-32767, 32767, size=(3000, 3), dtype=np.int16)
    digital[100, 1] = -32768  # WFDB's "no sample"
    gain, baseline = 200.0, 12.0
    r, t = _feed_pipe(digital.astype("<i2").tobytes(), seed=1)
    src = RawStream(r, fs=250, leads="I,II,V1", dtype="int16", gain=gain, baseline=baseline, chunk_samples=64)
    pump = Pump(src)
    try:
        chunks = pump.samples(3000)
    finally:
        # stop the reader before closing its descriptor: a reader still polling a closed fd number would read
        # from whatever pipe the next test opens under the same number
        pump.stop()
        t.join(5)
        os.close(r)
    out = concat(chunks)
    assert out.shape == (3, 3000) and max(c.n_samples for c in chunks) <= 64
    want = (digital.T.astype(np.float32) - np.float32(baseline)) / np.float32(gain)
    want[1, 100] = np.nan
    assert np.array_equal(out, want, equal_nan=True)
    assert np.isnan(out[1, 100]) and np.isnan(out).sum() == 1
    assert src.leads == ("I", "II", "V1") and src.units == ("mV",) * 3


def test_raw_float32_with_trailing_partial_frame() -> None:
    rng = np.random.default_rng(2)
    samples = rng.normal(size=(1001, 2)).astype("<f4")
    payload = samples.tobytes() + b"\x01\x02\x03"  # the writer dies three bytes into a frame
    r, t = _feed_pipe(payload, seed=2)
    src = RawStream(os.fdopen(r, "rb", buffering=0), fs=500, leads=2, dtype="float32")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        chunks = []
        pump = Pump(src)
        while (item := pump.get()) is not _DONE:
            assert not isinstance(item, BaseException), item
            chunks.append(item)
    t.join(5)
    assert np.array_equal(concat(chunks), samples.T)
    assert src.leads == ("ECG1", "ECG2")
    assert src.dropped_bytes == 3
    assert any(issubclass(w.category, StreamWarning) and "3 trailing" in str(w.message) for w in caught)


def test_raw_from_a_file_object_and_close_while_idle() -> None:
    import io

    frames = np.arange(40, dtype="<i2").reshape(20, 2)
    src = RawStream(io.BytesIO(frames.tobytes() + b"\x00"), fs=100, leads="I,II", gain=10, chunk_samples=8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StreamWarning)
        out = concat(list(src.chunks()))
    assert np.array_equal(out, frames.T.astype(np.float32) / 10)

    hold = threading.Event()
    r, t = _feed_pipe(frames.tobytes(), seed=3, keep_open=hold)  # the writer goes quiet, pipe stays open
    src = RawStream(r, fs=100, leads="I,II", gain=10)
    pump = Pump(src)
    pump.samples(20)
    pump.stop()  # must not wait for EOF
    hold.set()
    t.join(5)
    os.close(r)


def test_raw_rejects_bad_options() -> None:
    with pytest.raises(EcgedgeError, match="--dtype"):
        RawStream(0, fs=250, leads="I", dtype="int24")
    with pytest.raises(EcgedgeError, match="--fs"):
        RawStream(0, fs=0, leads="I")
    with pytest.raises(EcgedgeError, match="repeat"):
        RawStream(0, fs=250, leads="II,ii")


# ---------------------------------------------------------------------------------------- serial
_WRITER = r"""
import os, random, select, sys, time
fd, mode, start, n, rate = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
if mode == "text":
    pieces = [b"hello\n"]  # the source drops the first line after opening: it may be partial
    for i in range(start, start + n):
        pieces.append(b"%d,%g\r\n" % (i, -i / 2) if i % 7 == 0 else b"%d %g\n" % (i, -i / 2))
        if i % 40 == 20:
            pieces += [b"garbage\n", b"1,2,3\n", b"4;5\n", b"\n"]
else:
    import struct
    pieces = [struct.pack("<hh", i, -i) for i in range(start, start + n)]
t0 = time.monotonic()
rng = random.Random(start)
blob, sent = b"", 0
for k, piece in enumerate(pieces):
    blob += piece
    if mode == "binary" and rng.random() < 0.7 and k + 1 < len(pieces):
        continue  # binary frames go out in random-sized writes that split frames
    while blob:
        blob = blob[os.write(fd, blob):]
    sent = k
    delay = t0 + sent / rate - time.monotonic()
    if delay > 0:
        time.sleep(delay)
select.select([sys.stdin], [], [], 20)  # hold the pty open until told (stdin closes) or 20 s
"""


class Pty:
    """A pseudo-terminal whose master end is held by a writer process."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)  # no echo, no line editing before pyserial configures the port
        self.port = os.ttyname(self.slave)
        self.proc: subprocess.Popen | None = None

    def start_writer(self, mode: str, start: int, n: int, rate: float) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(self.master), mode, str(start), str(n),
                                      str(rate)], pass_fds=(self.master,), stdin=subprocess.PIPE)
        for fd in (self.master, self.slave):  # from now on only the writer holds the master end
            os.close(fd)
        self.master = self.slave = -1

    def hang_up(self) -> None:
        """Let the writer exit: its master end closes and the device is gone."""
        if self.proc is not None:
            self.proc.stdin.close()
            self.proc.wait(5)

    def cleanup(self) -> None:
        for fd in (self.master, self.slave):
            if fd >= 0:
                os.close(fd)
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        if self.proc is not None and self.proc.stdin and not self.proc.stdin.closed:
            self.proc.stdin.close()


@pytest.fixture
def ptys():
    made: list[Pty] = []

    def make() -> Pty:
        made.append(Pty())
        return made[-1]

    yield make
    for p in made:
        p.cleanup()


def test_serial_text_values_and_malformed_lines(ptys) -> None:
    from ecgedge.streams.serial import SerialSource

    n = 398
    pty = ptys()
    src = SerialSource(pty.port, 115200, 500, "I,II", max_retries=2, backoff=0.05, timeout=5)
    pty.start_writer("text", 0, n, rate=2000)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pump = Pump(src)
        out = concat(pump.samples(n))
    assert np.array_equal(out[0], np.arange(n, dtype=np.float32))
    assert np.array_equal(out[1], -np.arange(n, dtype=np.float32) / 2)
    assert src.malformed == 3 * sum(1 for i in range(n - 1) if i % 40 == 20)
    assert any(issubclass(w.category, StreamWarning) and "malformed" in str(w.message) for w in caught)

    # The device goes away: a "disconnected" event, then (2 retries, no device) an error naming the port.
    t0 = time.monotonic()
    pty.hang_up()
    pump.until_event("disconnected", timeout=5)
    err = pump.get(timeout=5)
    assert isinstance(err, EcgedgeError), err
    assert pty.port in str(err) and "2 attempt" in str(err)
    assert time.monotonic() - t0 < 5
    assert pump.get(timeout=2) is _DONE


def test_serial_binary_frames(ptys) -> None:
    from ecgedge.streams.serial import SerialSource

    n = 1500
    pty = ptys()
    src = SerialSource(pty.port, 115200, 1000, 2, protocol="binary", dtype="int16", gain=4.0, baseline=0,
                       max_retries=0, timeout=5)
    pty.start_writer("binary", 0, n, rate=3000)
    pump = Pump(src)
    try:
        out = concat(pump.samples(n))
    finally:
        pump.stop()
    assert np.array_equal(out[0], np.arange(n, dtype=np.float32) / 4)
    assert np.array_equal(out[1], -np.arange(n, dtype=np.float32) / 4)


@pytest.mark.filterwarnings("ignore::ecgedge.streams.base.StreamWarning")
def test_serial_reconnects_to_a_new_device(ptys, tmp_path: Path) -> None:
    from ecgedge.streams.serial import SerialSource

    link = tmp_path / "ttyECG"
    first = ptys()
    os.symlink(first.port, link)
    src = SerialSource(str(link), 115200, 250, "II,V5", max_retries=20, backoff=0.05, timeout=5)
    first.start_writer("text", 0, 100, rate=1000)
    pump = Pump(src)
    try:
        assert np.array_equal(concat(pump.samples(100))[0], np.arange(100, dtype=np.float32))
        first.hang_up()
        pump.until_event("disconnected")
        # The device comes back as another tty: re-point the link the source was opened on.
        second = ptys()
        tmp_link = tmp_path / "ttyECG.new"
        os.symlink(second.port, tmp_link)
        os.replace(tmp_link, link)
        second.start_writer("text", 1000, 400, rate=500)
        event, _ = pump.until_event("reconnected")
        assert event.gap_before > 0 and event.n_samples == 0
        after = concat(pump.samples(50))[0]
    finally:
        pump.stop()
    assert 1000 <= after[0] < 1400 and np.array_equal(np.diff(after), np.ones(after.size - 1, np.float32))


def test_serial_missing_port_is_an_ecgedge_error(tmp_path: Path) -> None:
    from ecgedge.streams.serial import SerialSource

    port = str(tmp_path / "ttyUSB9")
    with pytest.raises(EcgedgeError) as err:
        SerialSource(port, 115200, 250, "I")
    assert port in str(err.value) and "cannot open" in str(err.value)


def test_serial_close_while_waiting(ptys) -> None:
    from ecgedge.streams.serial import SerialSource

    pty = ptys()  # nothing writes: the source waits for data
    src = SerialSource(pty.port, 115200, 250, "I", timeout=None)
    pump = Pump(src)
    time.sleep(0.2)
    t0 = time.monotonic()
    pump.stop()
    assert time.monotonic() - t0 < 1.0
    assert pump.get(1) is _DONE


# ------------------------------------------------------------------------------------- BrainFlow
def test_brainflow_synthetic_board() -> None:
    pytest.importorskip("brainflow")
    from ecgedge.streams.brainflow import BrainFlowSource, load_brainflow

    BoardShim = load_brainflow().BoardShim
    src = BrainFlowSource(-1, chunk_seconds=0.05)
    ecg_rows = BoardShim.get_ecg_channels(-1)
    assert src.fs == BoardShim.get_sampling_rate(-1)
    assert src.channels == tuple(ecg_rows) and src.leads[0] == "ECG1" and len(src.leads) == len(ecg_rows)
    pump = Pump(src)
    try:
        chunks = pump.samples(int(src.fs * 0.3))
    finally:
        pump.stop()
    x = concat(chunks)
    assert x.shape[0] == len(ecg_rows) and x.dtype == np.float32
    assert np.isfinite(x).all() and np.abs(x).max() < 10  # mV, not µV
    # The session was released: the same board opens again at once, and again after an exception.
    names = "I,II,III,aVR,aVL,aVF,V1,V2,V3,V4,V5,V6,A,B,C,D"
    for _ in range(2):
        with pytest.raises(RuntimeError, match="consumer failed"):
            with BrainFlowSource("synthetic", chunk_seconds=0.05, leads=names) as again:
                for chunk in again.chunks():
                    assert chunk.data.shape[0] == 16 and again.leads[:3] == ("I", "II", "III")
                    raise RuntimeError("consumer failed")
    with BrainFlowSource(-1, channels="1,3", chunk_seconds=0.05) as two:
        assert next(iter(two)).data.shape[0] == 2


def test_brainflow_bad_arguments() -> None:
    pytest.importorskip("brainflow")
    from ecgedge.streams.brainflow import BrainFlowSource

    with pytest.raises(EcgedgeError, match="unknown BrainFlow board"):
        BrainFlowSource("no-such-board")
    with pytest.raises(EcgedgeError, match="out of range"):
        BrainFlowSource(-1, channels=[1, 999])
    with pytest.raises(EcgedgeError, match="2 lead names for 16"):
        BrainFlowSource(-1, leads="I,II")


# ------------------------------------------------------------------------------------------- LSL
def test_lsl_stream() -> None:
    try:
        import pylsl
    except Exception as e:  # not installed, or liblsl missing
        pytest.skip(f"pylsl unavailable: {e}")
    from ecgedge.streams.lsl import LSLSource

    name = f"ecgedge-test-{uuid.uuid4().hex[:8]}"
    info = pylsl.StreamInfo(name, "ECG", 2, 250, "float32", name)
    channels = info.desc().append_child("channels")
    for label in ("II", "V5"):
        ch = channels.append_child("channel")
        ch.append_child_value("label", label)
        ch.append_child_value("unit", "microvolts")
    outlet = pylsl.StreamOutlet(info)
    try:
        src = LSLSource(name, timeout=2)
    except EcgedgeError as e:
        pytest.skip(f"LSL stream resolution failed here (multicast?): {e}")
    stop = threading.Event()

    def push() -> None:
        i = 0
        while not stop.is_set() and i < 2500:
            outlet.push_chunk([[float(k), float(-k)] for k in range(i, i + 25)])
            i += 25
            time.sleep(0.02)

    pump = Pump(src)
    pusher = threading.Thread(target=push, daemon=True)
    pusher.start()
    try:
        x = concat(pump.samples(200, timeout=5))
    finally:
        stop.set()
        pump.stop()
        pusher.join(5)
    assert src.leads == ("II", "V5") and src.fs == 250
    counter = np.rint(x[0] * 1000)  # pushed in µV, arrives in mV
    assert np.array_equal(counter, counter[0] + np.arange(x.shape[1]))
    assert np.allclose(x[0] * 1000, counter, atol=1e-3) and np.array_equal(x[1], -x[0])


# ----------------------------------------------------------------------------------- open_source
def test_open_source_file_forms(data: Path) -> None:
    hea = data / MITDB_100
    for spec in (f"file:{hea}", str(hea), str(hea.with_suffix(".dat")), str(hea.with_suffix(""))):
        with open_source(spec, realtime=None) as src:
            assert isinstance(src, FileReplay) and src.fs == 360 and not src.realtime
    with open_source(f"file:{hea}", realtime=True, speed=4, chunk_seconds=0.5) as src:
        assert src.realtime and src.speed == 4 and src.chunk_samples == 180
    with pytest.raises(EcgedgeError, match="--fs does not apply to a file source"):
        open_source(str(hea), fs=100)


def test_open_source_stdin_needs_options() -> None:
    with pytest.raises(EcgedgeError, match="--fs"):
        open_source("-")
    with pytest.raises(EcgedgeError, match="--leads") as err:
        open_source("stdin", fs=250, dtype="int16", gain=200)
    assert "--fs" not in str(err.value)
    with pytest.raises(EcgedgeError, match="--gain"):
        open_source("-", fs=250, leads="I,II", dtype="int16")
    with pytest.raises(EcgedgeError, match="--dtype"):
        open_source("-", fs=250, leads="I,II")


def test_open_source_stdin_end_to_end() -> None:
    frames = np.arange(600, dtype="<i2").reshape(300, 2)
    code = ("from ecgedge.streams import open_source; import numpy as np\n"
            "with open_source('-', fs=250, leads='I,II', dtype='int16', gain=2) as s:\n"
            "    x = np.concatenate([c.data for c in s.chunks()], axis=1)\n"
            "print(x.shape[1], float(x[1, -1]), s.leads)")
    proc = subprocess.run([sys.executable, "-c", code], input=frames.tobytes(), capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout.decode().split() == ["300", "299.5", "('I',", "'II')"]


def test_open_source_serial(ptys, tmp_path: Path) -> None:
    from ecgedge.streams.serial import SerialSource

    pty = ptys()
    with open_source(f"serial:{pty.port}", fs=250, leads="I,II", baud=9600, retries=1, protocol="binary",
                     gain=100) as src:
        assert isinstance(src, SerialSource) and src.baudrate == 9600 and src.max_retries == 1
        assert src.protocol == "binary" and src.leads == ("I", "II")
    with pytest.raises(EcgedgeError, match="--fs"):
        open_source(f"serial:{pty.port}", leads="I")
    with pytest.raises(EcgedgeError, match="ttyACM7"):
        open_source(f"serial:{tmp_path}/ttyACM7", fs=250, leads="I")
    with pytest.raises(EcgedgeError, match="needs something after the colon"):
        open_source("serial:", fs=250, leads="I")


def test_open_source_brainflow() -> None:
    pytest.importorskip("brainflow")
    from ecgedge.streams.brainflow import BrainFlowSource

    for spec in ("brainflow:synthetic", "brainflow:-1", "brainflow:SYNTHETIC_BOARD"):
        with open_source(spec, chunk_seconds=0.05) as src:
            assert isinstance(src, BrainFlowSource) and src.board_id == -1
    with pytest.raises(EcgedgeError, match="unknown BrainFlow board"):
        open_source("brainflow:toaster")


def test_open_source_lsl_errors() -> None:
    with pytest.raises(EcgedgeError, match="lsl:NAME"):
        open_source("lsl:")
    try:
        import pylsl  # noqa: F401
    except Exception:
        with pytest.raises(EcgedgeError, match="pylsl"):
            open_source("lsl:nothing", timeout=0.2)
        return
    with pytest.raises(EcgedgeError, match="no LSL stream"):
        open_source(f"lsl:absent-{uuid.uuid4().hex[:6]}", timeout=0.3)


def test_open_source_unknown_scheme() -> None:
    with pytest.raises(EcgedgeError, match="unknown stream source 'bluetooth'") as err:
        open_source("bluetooth:AA:BB")
    for kind in ("file:", "stdin", "serial:", "brainflow:", "lsl:"):
        assert kind in str(err.value)
    with pytest.raises(EcgedgeError, match="unknown stream source"):
        open_source("no-such-thing")


def test_import_is_cheap_and_torch_free() -> None:
    code = ("import ecgedge.streams, sys\n"
            "from ecgedge.streams import open_source\n"
            "assert 'torch' not in sys.modules\n"
            "heavy = [m for m in ('serial', 'brainflow', 'pylsl', 'torch', 'scipy', 'wfdb') if m in sys.modules]\n"
            "assert not heavy, heavy\n"
            "from ecgedge.streams import SerialSource, BrainFlowSource, FileReplay, RawStream, LSLSource\n"
            "assert 'torch' not in sys.modules\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_serial_stops_on_keyboard_interrupt() -> None:
    # the child restores Python's own SIGINT handler: started under a background job of a non-interactive shell
    # (how CI may be launched), it would inherit SIGINT ignored, and Python keeps an inherited SIG_IGN
    code = ("import os, signal, sys, tty\n"
            "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
            "from ecgedge.streams.serial import SerialSource\n"
            "m, s = os.openpty(); tty.setraw(s)\n"
            "src = SerialSource(os.ttyname(s), 115200, 250, 'I', timeout=None)\n"
            "print('ready', flush=True)\n"
            "for chunk in src.chunks():\n"
            "    pass\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode != 0 and "KeyboardInterrupt" in err
