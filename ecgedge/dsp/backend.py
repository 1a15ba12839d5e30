"""Choosing between the native kernel and the numpy/scipy reference.

``ECGEDGE_KERNEL=reference`` (or ``backend="reference"``) forces the reference; ``native`` requires
the kernel; the default, ``auto``, uses the kernel and, if it cannot be loaded, says so loudly
once on stderr and falls back to the reference — never silently.
"""

from __future__ import annotations

import os
import sys
from types import ModuleType

from ..errors import EcgedgeError

_warned = False
_native: ModuleType | None = None
_native_error: str | None = None


def _load_native() -> ModuleType | None:
    global _native, _native_error
    if _native is None and _native_error is None:
        try:
            from . import native

            _native = native
        except ImportError as exc:
            _native_error = str(exc)
    return _native


def kernel_module(name: str | None = None) -> ModuleType | None:
    """The compiled ``ecgedge._kernel`` when the backend ``name`` (else ``$ECGEDGE_KERNEL``) would be the native one,
    else None; never warns or raises, for callers that have a numpy path of their own (the WFDB reader) and leave
    the loud choice to preprocessing."""
    choice = (name or os.environ.get("ECGEDGE_KERNEL") or "auto").lower()
    if choice not in ("auto", "native") or _load_native() is None:
        return None
    from .. import _kernel

    return _kernel


def native_available() -> bool:
    return _load_native() is not None


def get_backend(name: str | None = None) -> ModuleType:
    """The module implementing the preprocessing operations: ``native`` or ``reference``."""
    global _warned
    choice = (name or os.environ.get("ECGEDGE_KERNEL") or "auto").lower()
    if choice not in ("auto", "native", "reference"):
        raise EcgedgeError(f"unknown preprocessing backend {choice!r}", where="ECGEDGE_KERNEL",
                           fix="use auto, native or reference")
    if choice == "reference":
        from . import reference

        return reference
    native = _load_native()
    if native is not None:
        return native
    if choice == "native":
        raise EcgedgeError(f"the native kernel is not available ({_native_error})",
                           fix="reinstall ecgedge with a C compiler present (pip install --force-reinstall .)")
    if not _warned:
        _warned = True
        print(f"ecgedge: WARNING: native preprocessing kernel unavailable ({_native_error}); "
              "using the numpy/scipy reference, which is much slower", file=sys.stderr)
    from . import reference

    return reference
