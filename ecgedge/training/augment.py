"""Augmentations on a numpy batch ``[batch, leads, time]`` (in place), each applied to a random
subset of the batch with probability ``p``. The paper's five (sign flip, 10 % sample drop, 20 % lead
drop, added sine, added square pulse) plus amplitude scaling, time shift, baseline wander,
power-line interference and Gaussian noise. Amplitudes are relative to each window's standard
deviation, so they mean the same on normalised and raw input."""

from __future__ import annotations

import numpy as np


def _pick(rng: np.random.Generator, n: int, p: float) -> np.ndarray:
    return np.flatnonzero(rng.random(n) < p)


def augment(x: np.ndarray, names: list[str], rng: np.random.Generator, fs: float, p: float = 0.5) -> np.ndarray:
    B, L, T = x.shape
    t = np.arange(T, dtype=np.float32) / fs
    sd = x.std(axis=(1, 2), keepdims=True) + 1e-6  # [B,1,1]
    for name in names:
        idx = _pick(rng, B, p)
        if idx.size == 0:
            continue
        if name == "sign_flip":
            x[idx] *= -1.0
        elif name == "sample_drop":  # 10 % of samples set to zero
            mask = rng.random((idx.size, 1, T)) < 0.10
            x[idx] = np.where(mask, 0.0, x[idx])
        elif name == "lead_drop":  # each lead dropped with probability 0.2 (never all of them)
            mask = rng.random((idx.size, L, 1)) < 0.20
            mask[mask.all(axis=1)[:, 0]] = False
            x[idx] = np.where(mask, 0.0, x[idx])
        elif name == "sine":
            f = rng.uniform(0.1, 50.0, (idx.size, 1, 1))
            a = rng.uniform(0.0, 0.2, (idx.size, 1, 1)) * sd[idx]
            ph = rng.uniform(0, 2 * np.pi, (idx.size, 1, 1))
            x[idx] += (a * np.sin(2 * np.pi * f * t + ph)).astype(np.float32)
        elif name == "square":  # one rectangular pulse
            width = rng.integers(max(1, T // 50), max(2, T // 10), idx.size)
            start = rng.integers(0, np.maximum(1, T - width))
            a = rng.uniform(-0.5, 0.5, idx.size) * sd[idx, 0, 0]
            for k, b in enumerate(idx):
                x[b, :, start[k]:start[k] + width[k]] += a[k]
        elif name == "scale":
            x[idx] *= rng.uniform(0.8, 1.2, (idx.size, L, 1)).astype(np.float32)
        elif name == "shift":
            shifts = rng.integers(-T // 10, T // 10 + 1, idx.size)
            for k, b in enumerate(idx):
                x[b] = np.roll(x[b], shifts[k], axis=-1)
        elif name == "wander":
            f = rng.uniform(0.05, 0.5, (idx.size, 1, 1))
            a = rng.uniform(0.0, 0.3, (idx.size, L, 1)) * sd[idx]
            x[idx] += (a * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi, (idx.size, 1, 1)))).astype(np.float32)
        elif name == "powerline":
            f = rng.choice([50.0, 60.0], (idx.size, 1, 1))
            a = rng.uniform(0.0, 0.1, (idx.size, L, 1)) * sd[idx]
            x[idx] += (a * np.sin(2 * np.pi * f * t)).astype(np.float32)
        elif name == "noise":
            x[idx] += (rng.standard_normal((idx.size, L, T)) * rng.uniform(0, 0.05, (idx.size, 1, 1))
                       * sd[idx]).astype(np.float32)
        else:
            raise ValueError(name)
    return x
