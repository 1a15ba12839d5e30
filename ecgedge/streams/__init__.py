"""Sources of live ECG samples for ``ecgedge infer --stream SOURCE``.

Every source yields :class:`Chunk` objects (float32 ``[leads, n]`` in mV, NaN = missing) and can
be closed from another thread. :func:`open_source` turns the command line's SOURCE string into
one; importing this package is cheap: pyserial, BrainFlow and pylsl load only when used.

====================================  ===============================================================
SOURCE                                what
====================================  ===============================================================
``file:PATH`` or ``x.hea/.dat/.mat``  replay a record (``realtime``, ``speed``, ``chunk_seconds``)
``-`` or ``stdin``                    raw interleaved samples on stdin (``fs``, ``leads``, ``dtype``,
                                      ``gain`` for int16, ``baseline``, ``chunk_samples``)
``serial:/dev/ttyUSB0``               a serial device (``fs``, ``leads``, ``baud``, ``protocol``,
                                      ``dtype``, ``gain``, ``baseline``, ``retries``, ``backoff``,
                                      ``timeout``)
``brainflow:synthetic|ID|NAME``       a BrainFlow board (``serial_port``, ``channels``, ``leads``,
                                      ``chunk_seconds``, ``timeout``)
``lsl:NAME`` or ``lsl:type=TYPE``     an LSL stream (``timeout``, ``leads``, ``unit``)
====================================  ===============================================================

Option names map to command-line flags as ``--`` + the name with ``_`` as ``-`` (``serial_port``
is ``--serial-port``); options set to None count as not given.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ..errors import EcgedgeError
from .base import Chunk, Source, StreamWarning

if TYPE_CHECKING:
    from .brainflow import BrainFlowSource
    from .lsl import LSLSource
    from .raw import RawStream, open_stdin
    from .serial import SerialSource
    from .wfdb import FileReplay

__all__ = ["SCHEMES", "BrainFlowSource", "Chunk", "FileReplay", "LSLSource", "RawStream", "SerialSource", "Source",
           "StreamWarning", "open_source", "open_stdin"]

#: The SOURCE forms :func:`open_source` accepts.
SCHEMES = {
    "file": "file:PATH (or a path ending .hea, .dat or .mat)",
    "stdin": "- or stdin (raw samples on standard input)",
    "serial": "serial:PORT (e.g. serial:/dev/ttyUSB0, serial:COM3)",
    "brainflow": "brainflow:synthetic or brainflow:BOARD_ID",
    "lsl": "lsl:NAME or lsl:type=TYPE",
}
_RECORD_EXTS = (".hea", ".dat", ".mat")
_LAZY = {"FileReplay": "wfdb", "RawStream": "raw", "open_stdin": "raw", "SerialSource": "serial",
         "BrainFlowSource": "brainflow", "LSLSource": "lsl"}

# Options each kind of source takes, named as the CLI names them (after aliases), and the ones it cannot do without.
_ALIASES = {"board": "board_id", "type": "stream_type"}
_ACCEPTS = {
    "file": {"realtime", "speed", "chunk_seconds"},
    "stdin": {"fs", "leads", "dtype", "gain", "baseline", "chunk_samples"},
    "serial": {"fs", "leads", "baud", "protocol", "dtype", "gain", "baseline", "retries", "backoff", "timeout",
               "chunk_seconds"},
    "brainflow": {"serial_port", "channels", "leads", "chunk_seconds", "timeout", "params", "quiet"},
    "lsl": {"timeout", "leads", "unit", "chunk_seconds", "stream_type", "quiet"},
}
_HELP = {"fs": "the sampling frequency: pass --fs HZ", "leads": "the lead names: pass --leads I,II (or a count)",
         "dtype": "the sample type: pass --dtype int16 or --dtype float32",
         "gain": "the int16 scale: pass --gain UNITS_PER_MV (e.g. --gain 200)"}
_EXAMPLE = {"fs": "500", "leads": "I,II", "dtype": "int16", "gain": "200"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module = importlib.import_module(f"{__name__}.{_LAZY[name]}")
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _scheme(spec: str) -> tuple[str, str]:
    """(kind, rest) of a SOURCE string."""
    text = spec.strip()
    if text in ("-", "stdin", "stdin:"):
        return "stdin", ""
    head, sep, rest = text.partition(":")
    # "C:\\data\\x.hea" is a path on Windows, not a scheme "c".
    if sep and len(head) > 1 and head.replace("_", "").replace("-", "").isalnum():
        kind = head.lower()
        if kind not in SCHEMES:
            raise EcgedgeError(f"unknown stream source {head!r}", where="--stream",
                               fix="use one of: " + "; ".join(SCHEMES.values()))
        if kind == "stdin":
            return kind, ""
        if not rest.strip():
            raise EcgedgeError(f"{kind}: needs something after the colon", where="--stream",
                               fix=SCHEMES[kind])
        return kind, rest.strip()
    if text.lower().endswith(_RECORD_EXTS) or os.path.exists(text + ".hea"):
        return "file", text
    if os.path.exists(text):
        raise EcgedgeError("not a record file", path=text, where="--stream",
                           fix="a record ends in .hea, .dat or .mat; or use one of: " + "; ".join(SCHEMES.values()))
    raise EcgedgeError(f"unknown stream source {text!r}", where="--stream",
                       fix="use one of: " + "; ".join(SCHEMES.values()))


def _options(kind: str, options: dict[str, Any]) -> dict[str, Any]:
    opts = {}
    for key, value in options.items():
        if value is None:
            continue
        key = _ALIASES.get(key, key)
        if key not in _ACCEPTS[kind]:
            accepted = ", ".join("--" + k.replace("_", "-") for k in sorted(_ACCEPTS[kind]))
            raise EcgedgeError(f"--{key.replace('_', '-')} does not apply to a {kind} source", where="--stream",
                               fix=f"a {kind} source takes {accepted}")
        opts[key] = value
    return opts


def _need(kind: str, opts: dict[str, Any], *names: str) -> None:
    missing = [n for n in names if n not in opts]
    if missing:
        what = "; ".join(_HELP[n] for n in missing)
        raise EcgedgeError(f"a {kind} stream needs {what}", where="--stream",
                           fix="e.g. " + " ".join(f"--{n} {_EXAMPLE[n]}" for n in missing))


def open_source(spec: str, **options: Any) -> Source:
    """The :class:`Source` a SOURCE string names (see the module docstring for the forms and options)."""
    kind, rest = _scheme(str(spec))
    opts = _options(kind, options)
    if kind == "file":
        from .wfdb import FileReplay

        return FileReplay(rest, **opts)
    if kind == "stdin":
        from .raw import open_stdin

        _need("stdin", opts, "fs", "leads", "dtype")
        if str(opts["dtype"]).strip().lower() == "int16":
            _need("stdin (int16)", opts, "gain")
        return open_stdin(**opts)
    if kind == "serial":
        from .serial import SerialSource

        _need("serial", opts, "fs", "leads")
        baud = opts.pop("baud", 115200)
        if "retries" in opts:
            opts["max_retries"] = opts.pop("retries")
        return SerialSource(rest, baud, opts.pop("fs"), opts.pop("leads"), **opts)
    if kind == "brainflow":
        from .brainflow import BrainFlowSource

        return BrainFlowSource(board_id=rest, **opts)
    from .lsl import LSLSource

    if rest.lower().startswith("type="):
        opts["stream_type"] = rest[5:].strip()
        return LSLSource(None, **opts)
    if rest.lower().startswith("name="):
        rest = rest[5:].strip()
    return LSLSource(rest, **opts)
