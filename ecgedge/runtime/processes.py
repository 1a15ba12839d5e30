"""Records classified in worker processes, for inputs large enough to pay for starting them.

One process cannot use much more than one and a half cores on a folder: reading a header, conforming leads, the
quality verdict's bookkeeping and the engine's batching are Python and hold the GIL; only the kernels, the file
reads and the engine release it (on the 2-core VM, reading and preparing alone ran at 1,790 records/s on one
thread and at most 2,007 on two). A worker process has a GIL of its own.

Each worker is a fresh interpreter running :func:`_serve`, holding its own
:class:`~ecgedge.runtime.predictor.Predictor` (one engine thread; records prepared in its own thread between engine
calls, ``workers=0``). Not ``multiprocessing``: its ``spawn`` and ``forkserver`` run the caller's main script again
in every worker (a script without an ``if __name__ == "__main__"`` guard would start workers of its own), and
``fork`` copies a process whose onnxruntime and BLAS threads are running. The parent hands out chunks of paths, one
at a time per worker, from one thread per worker that waits on the worker's pipe (the GIL is free meanwhile),
classifies the first chunks itself while the workers start, and yields each chunk's Predictions in input order:
rows come out exactly as the threaded path gives them, and memory stays bounded on a folder of any size (at most
two chunks per worker ahead of the consumer).

Only onnxruntime's CPU engine runs this way: a GPU engine is one device, and a model file that can hold code
(.pt2, .engine) is opened in exactly one process, the one the user trusted it in. The pipes carry pickles
between this process and workers it started itself, never a file's bytes.
"""

from __future__ import annotations

import os
import pickle
import struct
import sys
import threading
import weakref
from collections.abc import Iterable, Iterator
from itertools import islice

from ..errors import EcgedgeError

#: records per task: its pickling and hand-over (≈ 0.1 ms) are small against its work (≈ 1 ms a record), and a
#: folder's tail still keeps every worker busy
CHUNK = 32
#: ``processes=None`` (auto) uses worker processes only for inputs of at least this many records: below it,
#: starting them (≈ 0.25 s) costs more than they save (the break-even measured on the 2-core VM before one process
#: got faster there; see the README)
MIN_RECORDS = 2000

#: ... and only on machines with at least this many usable cores. On the 2-core VM one process is faster since its
#: readers and engine split the cores and batches ramp up (4,000 records: 1,804-1,968 records/s against 1,677-1,753
#: with two workers, 2026-12-07); the GIL caps one process's reading threads, so workers pay where there are cores
#: enough for more of them (not measured here: no machine with more cores was lent)
MIN_CORES = 4

_HEADER = struct.Struct("<Q")


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask where the platform has one, e.g. a container's)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def auto_processes(engine: str, n_records: int) -> int:
    """How many worker processes ``processes=None`` gives: one per usable core (at most 8), for onnxruntime's
    CPU engine and inputs of at least :data:`MIN_RECORDS` records on a machine with :data:`MIN_CORES` cores or more;
    else 1."""
    cores = usable_cores()
    if engine != "ort" or cores < MIN_CORES or n_records < MIN_RECORDS:
        return 1
    return min(cores, 8)


def _send(fh, obj) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    fh.write(_HEADER.pack(len(data)) + data)
    fh.flush()


def _recv(fh):
    head = fh.read(_HEADER.size)
    if len(head) < _HEADER.size:
        raise EOFError
    n = _HEADER.unpack(head)[0]
    data = fh.read(n)
    if len(data) < n:
        raise EOFError
    return pickle.loads(data)


class _Stopped(Exception):
    """A worker process that ended without answering (killed, out of memory)."""


#: The worker's first lines: no current directory on its path (a stray ecgedge.py there must not win), and this
#: process's ecgedge (a checkout, or one of several installed) where a fresh interpreter would find another.
_BOOT = ("import os, sys, importlib.util\n"
         "del sys.path[0]\n"
         "spec = importlib.util.find_spec('ecgedge')\n"
         "if spec is None or os.path.dirname(os.path.dirname(spec.origin)) != sys.argv[1]:\n"
         "    sys.path.insert(0, sys.argv[1])\n"
         "from ecgedge.runtime.processes import _serve\n"
         "_serve()\n")


class _Worker:
    def __init__(self, settings: dict) -> None:
        import subprocess  # here, not at import: `ecgedge infer` on one record never starts a worker

        import ecgedge

        root = os.path.dirname(os.path.dirname(os.path.abspath(ecgedge.__file__)))
        env = dict(os.environ)
        env.setdefault("OPENBLAS_NUM_THREADS", "1")  # a worker uses one core
        env.setdefault("OMP_NUM_THREADS", "1")
        self.proc = subprocess.Popen([sys.executable, "-c", _BOOT, root], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, env=env, close_fds=True)
        _send(self.proc.stdin, settings)
        self.ready = False
        #: it failed to start or stopped answering: the pool is not used again
        self.broken = False

    def ask(self, obj):
        """Send ``obj``, return the worker's answer (or raise the exception it answered with)."""
        try:
            if obj is not None:
                _send(self.proc.stdin, obj)
            ok, value = _recv(self.proc.stdout)
        except (EOFError, OSError, pickle.UnpicklingError):
            raise _Stopped(self._exit_code(2)) from None
        if not ok:
            raise value
        return value

    def _exit_code(self, timeout: float) -> int | None:
        """Its exit status once it ends within ``timeout`` seconds (a pipe closes as its process dies), else None."""
        import subprocess

        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def close(self) -> None:
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        if self._exit_code(5) is None:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()


class RecordPool:
    """``processes`` workers, each with a Predictor built from ``settings`` (Predictor's keyword arguments; the
    caller sets one engine thread and ``workers=0``). Started on creation, without waiting for them to load
    (≈ 0.25 s): :meth:`predict_many` classifies in this process until they are ready. :meth:`close` stops them."""

    def __init__(self, settings: dict, processes: int) -> None:
        self.settings, self.processes = settings, processes
        self._workers = [_Worker(settings) for _ in range(processes)]  # each imports and loads on its own
        # stopped with the pool, when it is collected, or at exit, whichever comes first
        self._stop = weakref.finalize(self, _stop_workers, self._workers)

    def predict_many(self, items: Iterable, here=None) -> Iterator:
        """Predictions of ``items`` in input order. ``here``: a function that classifies a list of items in this
        process, used for the chunks handed out before the first worker is ready (a folder's first records do
        not wait for the workers to import and load)."""
        it = iter(items)
        cond = threading.Condition()
        results: dict[int, tuple[bool, object]] = {}
        # next chunk to hand out, next chunk to yield, whether to stop handing out
        state = {"next": 0, "yielded": 0, "stop": False}
        ahead = 2 * len(self._workers)  # chunks done or running ahead of the consumer: memory stays bounded

        def post(seq: int | None, outcome: tuple[bool, object]) -> None:
            """``outcome`` for chunk ``seq`` (None: the next one); an error or the end stops the handing out."""
            with cond:
                if seq is None:
                    seq = state["next"]
                    state["next"] += 1
                results[seq] = outcome
                if not outcome[0] or outcome[1] is None:
                    state["stop"] = True
                cond.notify_all()

        def serve(worker: _Worker | None) -> None:
            if worker is not None and not worker.ready:
                try:
                    worker.ask(None)  # "ready", or the error its Predictor raised
                except BaseException as exc:  # noqa: BLE001 - raised by the consumer, in order
                    worker.broken = True
                    return post(None, (False, exc))
                worker.ready = True
            while True:
                with cond:
                    while not state["stop"] and state["next"] - state["yielded"] >= ahead:
                        cond.wait()
                    if state["stop"] or worker is None and any(w.ready for w in self._workers):
                        return
                    seq = state["next"]
                    state["next"] += 1
                    try:
                        block = list(islice(it, CHUNK))
                    except BaseException as exc:  # noqa: BLE001 - the caller's iterator failed: its error, in place
                        block, failed = [], exc
                    else:
                        failed = None
                if not block:
                    return post(seq, (False, failed) if failed is not None else (True, None))  # (True, None): the end
                try:
                    outcome = (True, worker.ask(block) if worker is not None else here(block))
                except _Stopped as exc:
                    worker.broken = True
                    outcome = (False, exc)
                except BaseException as exc:  # noqa: BLE001 - raised in order by the consumer
                    outcome = (False, exc)
                post(seq, outcome)
                if not outcome[0]:
                    return

        helpers = self._workers + ([None] if here is not None and not any(w.ready for w in self._workers) else [])
        threads = [threading.Thread(target=serve, args=(w,), daemon=True, name="ecgedge-worker") for w in helpers]
        for t in threads:
            t.start()
        try:
            while True:
                with cond:
                    seq = state["yielded"]
                    while seq not in results:
                        cond.wait()
                    ok, value = results.pop(seq)
                    state["yielded"] += 1
                    cond.notify_all()
                if not ok:
                    if isinstance(value, _Stopped):
                        raise _stopped_error(value) from None
                    raise value
                if value is None:
                    return
                yield from value
        finally:
            with cond:
                state["stop"] = True
                cond.notify_all()
            for t in threads:
                t.join()
            if not self.alive:
                self.close()  # a worker died: the Predictor starts a fresh pool next time

    @property
    def alive(self) -> bool:
        return bool(self._workers) and all(not w.broken and w.proc.poll() is None for w in self._workers)

    def close(self) -> None:
        self._workers = []
        self._stop()


def _stop_workers(workers: list[_Worker]) -> None:
    for w in workers:
        w.close()


def _stopped_error(exc: _Stopped) -> EcgedgeError:
    code = exc.args[0] if exc.args else None
    how = f"was killed by signal {-code}" if isinstance(code, int) and code < 0 else (
        f"exited with code {code}" if code is not None else "stopped answering")
    return EcgedgeError(f"a worker process {how} before it finished its records (out of memory, or killed)",
                        where="infer", fix="rerun with --processes 1 to classify in this process")


def _serve() -> None:
    """The worker: a Predictor from the first message, then one list of Predictions per list of paths, until its
    input closes. Ctrl-C is the parent's to handle (it closes the pipes); a parent gone is a quiet exit."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing printed may land in the answers' pipe
    try:
        settings = _recv(stdin)
        from .predictor import Predictor

        try:
            pred = Predictor(**settings)
        except Exception as exc:  # noqa: BLE001 - the parent raises it as its own
            _send(stdout, (False, exc))
            return
        _send(stdout, (True, "ready"))
        while True:
            block = _recv(stdin)
            try:
                answer = (True, list(pred.predict_many(block)))
            except Exception as exc:  # noqa: BLE001 - an OptionError (a --lead the record lacks) stops the run
                answer = (False, exc)
            _send(stdout, answer)
    except (EOFError, BrokenPipeError):
        return
