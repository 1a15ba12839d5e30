"""A synthetic 12-lead ECG, so that every command has a built-in input on a fresh, offline machine.

Each beat is a sum of Gaussian P, Q, R, S and T waves (in the manner of McSharry et al.'s dynamical
model, without the ODE) projected onto the 12 leads through fixed, physiologically plausible lead
weights, with heart-rate variability, baseline wander and noise. It is for smoke tests and demos,
never for accuracy numbers.
"""

from __future__ import annotations

import numpy as np

from .leads import STANDARD_12
from .signal import Signal

# (centre in s relative to R, width in s, amplitude in mV) of P, Q, R, S, T in lead II.
_WAVES = ((-0.20, 0.025, 0.15), (-0.035, 0.010, -0.12), (0.0, 0.012, 1.2), (0.035, 0.010, -0.25),
          (0.28, 0.060, 0.30))
# Per-lead scale of each wave (P, Q, R, S, T): a rough normal axis.
_LEAD_WEIGHTS = np.array([
    [0.6, 0.5, 0.7, 0.5, 0.6],     # I
    [1.0, 1.0, 1.0, 1.0, 1.0],     # II
    [0.4, 0.5, 0.3, 0.5, 0.4],     # III
    [-0.8, -0.7, -0.85, -0.7, -0.8],  # aVR
    [0.1, 0.0, 0.2, 0.0, 0.1],     # aVL
    [0.7, 0.7, 0.65, 0.7, 0.7],    # aVF
    [0.3, 0.0, 0.25, 3.0, -0.2],   # V1
    [0.4, 0.2, 0.6, 2.5, 0.6],     # V2
    [0.5, 0.4, 1.0, 1.5, 0.9],     # V3
    [0.5, 0.6, 1.4, 0.8, 1.0],     # V4
    [0.5, 0.8, 1.3, 0.4, 0.8],     # V5
    [0.5, 0.8, 1.0, 0.2, 0.6],     # V6
])


def simulated_ecg(duration: float = 10.0, fs: float = 500.0, heart_rate: float = 70.0,
                  seed: int = 0, noise: float = 0.02) -> Signal:
    """A reproducible synthetic 12-lead recording in millivolts."""
    rng = np.random.default_rng(seed)
    n = int(round(duration * fs))
    t = np.arange(n) / fs
    rr_mean = 60.0 / heart_rate
    beats = []
    tb = 0.3
    while tb < duration + 0.5:
        beats.append(tb)
        tb += rr_mean * (1 + 0.05 * np.sin(2 * np.pi * 0.25 * tb) + 0.02 * rng.standard_normal())
    waves = np.zeros((5, n))
    for b in beats:
        for k, (c, w, a) in enumerate(_WAVES):
            waves[k] += a * np.exp(-0.5 * ((t - b - c) / w) ** 2)
    data = _LEAD_WEIGHTS @ waves
    data += 0.1 * np.sin(2 * np.pi * 0.3 * t + rng.uniform(0, 2 * np.pi, (12, 1)))
    data += noise * rng.standard_normal(data.shape)
    return Signal(
        data=data.astype(np.float32), fs=float(fs), leads=STANDARD_12, units=("mV",) * 12,
        name="simulated", raw_leads=STANDARD_12,
        comments=(f"synthetic ECG: {heart_rate:g} bpm, seed {seed}; not a patient",),
        meta={"reader": "ecgedge-simulate", "heart_rate": heart_rate, "seed": seed},
    )
