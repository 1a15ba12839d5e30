"""Physical values no ECG can have: the sign of a wrong gain, baseline or unit, refused with the field to fix.

A header can calibrate a lead into anything: a baseline of 2e9 or a gain of 1e-6 turns ordinary
samples into values near 1e12 mV that a model then "diagnoses" with confidence. Skin-electrode
potentials stay within a few mV (a large QRS is 5 mV, a pacing spike some tens), so a lead that sits
beyond ±100 mV for most of its samples is mis-calibrated, not a patient. Brief excursions (spikes,
saturation, a lead coming off) stay allowed: only the share of a lead's samples beyond the limit counts.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from ..errors import RecordError
from ..leads import _CANONICAL, normalize_lead

#: No skin-electrode ECG comes near this (mV).
MAX_ECG_MV = 100.0
#: A lead is refused when more than this share of its (non-NaN) samples lie beyond MAX_ECG_MV.
MAX_SHARE_BEYOND = 0.5
#: Lead names ecgedge knows as ECG leads: checked even when their unit is unknown, because the
#: runtime then takes them as mV (see ecgedge.dsp.pipeline).
_ECG_LEADS = frozenset(_CANONICAL.values())


@lru_cache(maxsize=256)
def _limits(units: tuple[str, ...], leads: tuple[str, ...], n: int) -> np.ndarray:
    """Per lead, MAX_ECG_MV in the lead's own unit; inf for a non-voltage channel (blood pressure,
    respiration ...). Cached: a data set repeats the same few unit/lead combinations."""
    from ..dsp.pipeline import unit_scale  # the runtime's own unit table: the check converts as it will

    limits = np.full(n, np.inf)
    for i in range(n):
        scale = unit_scale((units[i] if i < len(units) else "mV") or "mV")
        if scale is None and normalize_lead(leads[i] if i < len(leads) else "") in _ECG_LEADS:
            scale = 1.0  # unknown unit on an ECG lead: the runtime takes it as mV
        if scale:
            limits[i] = MAX_ECG_MV / scale
    limits.setflags(write=False)
    return limits


def plausible_peak(peak: float, units: Sequence[str], leads: Sequence[str], n: int) -> bool:
    """Whether a record of ``n`` leads whose largest |value| is ``peak`` passes :func:`check_physical_values` without
    a look at its samples (NaN: no, the full check decides)."""
    return bool(peak <= _limits(tuple(units), tuple(leads), n).min())


def check_physical_values(data: np.ndarray, units: Sequence[str], leads: Sequence[str], *,
                          path: str | os.PathLike[str] | None, where: Sequence[str], fix: str) -> None:
    """Raise :class:`RecordError` for the first lead of ``data`` (``[leads, samples]``, physical units) whose
    values have |x| > 100 mV (converted through its unit) for most of its samples.

    ``where`` names each lead's place in the file (``"line 3"``, ``"ECG.data"``); ``fix`` says what to
    check. Leads whose unit is not a voltage and whose name is not an ECG lead are not checked.
    """
    n = data.shape[0]
    if not data.size:
        return
    # The common case, a real ECG, in two reductions without a temporary (NaN fails it: full check).
    if plausible_peak(max(float(data.max()), -float(data.min())), units, leads, n):
        return
    limits = _limits(tuple(units), tuple(leads), n)
    with np.errstate(invalid="ignore"):
        beyond = np.abs(data) > limits[:, None].astype(data.dtype)  # NaN compares False; inf counts
    counts = np.count_nonzero(beyond, axis=1)
    if not counts.any():
        return
    present = data.shape[1] - np.count_nonzero(np.isnan(data), axis=1)
    for i in np.flatnonzero(counts > MAX_SHARE_BEYOND * present):
        unit = units[i] if i < len(units) else "mV"
        first = float(data[i, int(np.argmax(beyond[i]))])
        lead = leads[i] if i < len(leads) else f"ch{i}"
        raise RecordError(
            f"signal {lead!r}: {counts[i] / present[i]:.0%} of its samples have |value| > {MAX_ECG_MV:g} mV "
            f"(e.g. {first:.4g} {unit}), which no ECG reaches", path=path, where=where[i], fix=fix,
        )
