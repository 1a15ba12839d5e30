"""The Signal: what every reader returns and every later stage consumes."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(eq=False)
class Signal:
    """A multi-lead recording in physical units.

    ``data`` is float32 ``[leads, samples]``; invalid samples (WFDB's "no value" codes, gaps) are
    NaN. ``leads`` holds canonical lead names (see :mod:`ecgedge.leads`), ``raw_leads`` the names
    as the file wrote them.
    """

    data: np.ndarray
    fs: float
    leads: tuple[str, ...]
    units: tuple[str, ...]
    name: str
    comments: tuple[str, ...] = ()
    path: str | None = None
    raw_leads: tuple[str, ...] = ()
    warnings: list[str] = field(default_factory=list)
    #: Digital samples ``int32 [leads, samples]`` when the reader was asked to keep them.
    digital: np.ndarray | None = None
    #: Free-form facts from the file: base time/date, age, sex, format codes, checksums ...
    meta: dict = field(default_factory=dict)

    @property
    def n_leads(self) -> int:
        return int(self.data.shape[0])

    @property
    def n_samples(self) -> int:
        return int(self.data.shape[1])

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.n_samples / self.fs if self.fs else 0.0

    def lead(self, name: str) -> np.ndarray:
        """One lead by (any spelling of) its name."""
        from .leads import normalize_lead

        key = normalize_lead(name)
        try:
            return self.data[self.leads.index(key)]
        except ValueError:
            raise KeyError(f"{self.name}: no lead {name!r}; leads are {', '.join(self.leads)}") from None

    def __repr__(self) -> str:
        return (
            f"Signal({self.name!r}, leads={self.n_leads}, samples={self.n_samples}, "
            f"fs={self.fs:g} Hz, duration={self.duration:.1f} s)"
        )
