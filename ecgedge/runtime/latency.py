"""A latency summary whose memory does not grow with the number of results (a stream may run for days)."""

from __future__ import annotations

import math
import random

import numpy as np


class LatencySummary:
    """Count, mean and max exactly; percentiles from a uniform reservoir sample of at most ``size`` values
    (Vitter's algorithm R: every value seen has the same chance to be in it, so p50/p99 stay unbiased).

    With fewer than ``size`` values the percentiles are exact.
    """

    def __init__(self, size: int = 4096, seed: int = 0) -> None:
        if size < 1:
            raise ValueError("size must be at least 1")
        self.size = size
        self.count = 0
        self.total = 0.0
        self.max = -math.inf
        self.sample: list[float] = []
        self._rng = random.Random(seed)

    def add(self, value: float) -> None:
        v = float(value)
        self.count += 1
        self.total += v
        self.max = max(self.max, v)
        if len(self.sample) < self.size:
            self.sample.append(v)
        else:
            j = self._rng.randrange(self.count)
            if j < self.size:
                self.sample[j] = v

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else math.nan

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.sample, q)) if self.sample else math.nan

    def __len__(self) -> int:
        return self.count
