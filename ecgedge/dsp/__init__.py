"""Preprocessing: one path for training and inference, native kernel with a numpy/scipy reference."""

from .backend import get_backend, native_available
from .design import check_sos, design_bandpass, filtfilt_padlen, resample_plan
from .pipeline import Preprocessed, Preprocessing, Preprocessor, unit_scale

__all__ = [
    "Preprocessed", "Preprocessing", "Preprocessor", "StreamPreprocessor", "check_sos", "design_bandpass",
    "filtfilt_padlen", "get_backend", "native_available", "resample_plan", "unit_scale",
]


def __getattr__(name):
    if name == "StreamPreprocessor":
        from .stream import StreamPreprocessor

        return StreamPreprocessor
    raise AttributeError(name)
