"""Replay a stored record as if it were live: for demos, tests and benchmarking a stream pipeline."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import numpy as np

from ..errors import EcgedgeError
from .base import Chunk, Source, positive


class FileReplay(Source):
    """Chunks of a record read with :func:`ecgedge.io.read_record` (WFDB, CPSC .mat ...).

    ``realtime=True`` paces the chunks so that the last sample of each arrives when it would have
    been recorded (``speed`` times faster); deadlines are measured from the start on the monotonic
    clock, so the replay does not drift however long it runs. Otherwise chunks come as fast as
    they are taken.
    """

    def __init__(self, path: str | os.PathLike[str], chunk_seconds: float = 1 / 8, realtime: bool = False,
                 speed: float = 1.0) -> None:
        super().__init__()
        from ..io import read_record

        self.chunk_seconds = positive(chunk_seconds, "chunk length", where="chunk_seconds")
        self.speed = positive(speed, "replay speed", where="speed", fix="e.g. --speed 1 for real time")
        self.realtime = bool(realtime)
        self.signal = read_record(path)
        self.path = self.signal.path or os.fspath(path)
        self.fs = float(self.signal.fs)
        self.leads = tuple(self.signal.leads)
        self.units = tuple(self.signal.units)
        self.name = self.signal.name
        if self.fs <= 0:
            raise EcgedgeError("record has no sampling frequency", path=self.path)
        self.chunk_samples = max(1, round(self.chunk_seconds * self.fs))

    def chunks(self) -> Iterator[Chunk]:
        data = self.signal.data
        n = data.shape[1]
        t0 = time.monotonic()
        for start in range(0, n, self.chunk_samples):
            if self._stop.is_set():
                return
            end = min(n, start + self.chunk_samples)
            if self.realtime:
                deadline = t0 + end / (self.fs * self.speed)
                while (left := deadline - time.monotonic()) > 0:
                    if self._stop.wait(left):
                        return
            yield Chunk(np.array(data[:, start:end], dtype=np.float32, copy=True), time.monotonic())
