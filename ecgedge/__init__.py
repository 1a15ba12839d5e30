"""ecgedge: deploy ECG classifiers at the edge.

Importing ecgedge is cheap and torch-free: it pulls in numpy and nothing heavy (no torch, scipy
or wfdb). Submodules load what they need when they are used.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["EcgedgeError", "RecordError", "Signal", "__version__", "read_record", "simulated_ecg"]


def __getattr__(name: str):
    if name == "read_record":
        from .io import read_record

        return read_record
    if name == "Signal":
        from .signal import Signal

        return Signal
    if name in ("EcgedgeError", "RecordError"):
        from . import errors

        return getattr(errors, name)
    if name == "simulated_ecg":
        from .simulate import simulated_ecg

        return simulated_ecg
    raise AttributeError(f"module 'ecgedge' has no attribute {name!r}")
