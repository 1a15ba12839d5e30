"""Model files that are code, and when ecgedge agrees to load one.

ONNX models and safetensors checkpoints are *data*: onnxruntime and ecgedge's own readers parse them and
run nothing from the file. Two of ecgedge's artefacts are *code*:

- an AOTInductor package (``.pt2``) holds a compiled shared library that is loaded into the process, and
  its weights may be marked as pickled, which makes torch unpickle them (``torch.load(weights_only=False)``
  runs any Python the pickle names);
- a TensorRT engine (``.engine``/``.plan``/``.trt``) may carry plugin code that TensorRT loads.

So loading one runs whatever its author put in it. ecgedge loads such a file only when

1. the user says they trust it (``--trust-model``; ``trust_model=True`` / ``trust=True`` in Python), or
2. its SHA-256 is in this machine's trust list, which ``ecgedge export`` (:func:`export_pt2`,
   :func:`build_engine`) extends with every ``.pt2`` and engine it writes.

The trust list is ``<cache>/trusted-models.json`` (``$ECGEDGE_CACHE``, default ``~/.cache/ecgedge``):
content hashes, so a renamed or copied export stays trusted and a file changed after export does not.
The check runs on the exact bytes that are then handed to the loader (see the engines), never on a path
that could be swapped in between.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

from .errors import EcgedgeError

#: Artefact kinds (as :func:`ecgedge.artifact.kind_of` names them) that run code when loaded.
CODE_KINDS = {"pt2": "an AOTInductor package (.pt2)", "tensorrt": "a TensorRT engine"}
TRUST_FILE = "trusted-models.json"
#: Oldest entries are dropped beyond this: a list that grows with every export for years helps nobody.
MAX_ENTRIES = 4096
_FORMAT = "ecgedge-trust"


def cache_dir() -> Path:
    """ecgedge's per-user cache folder. The same rule as :func:`ecgedge.training.data.cache_dir`, which cannot be
    imported here: that module pulls in the data-set stack, and the runtime must stay light."""
    return Path(os.environ.get("ECGEDGE_CACHE") or Path.home() / ".cache" / "ecgedge")


def trust_file() -> Path:
    return cache_dir() / TRUST_FILE


def runs_code(kind: str) -> bool:
    return kind in CODE_KINDS


def sha256_file(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def sha256_bytes(data: bytes | memoryview) -> str:
    return hashlib.sha256(data).hexdigest()


def _read() -> dict[str, dict]:
    """The recorded hashes; an unreadable or foreign file counts as empty (trust is then asked for again)."""
    try:
        doc = json.loads(trust_file().read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        return {}
    entries = doc.get("sha256") if isinstance(doc, dict) and doc.get("format") == _FORMAT else None
    return {k: v for k, v in entries.items() if isinstance(v, dict)} if isinstance(entries, dict) else {}


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    """Serialise read-modify-write of the list between concurrent exports (POSIX; elsewhere unlocked)."""
    path = trust_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # Windows: a lost entry only means --trust-model is asked for once more
        yield
        return
    with open(path.with_name(path.name + ".lock"), "a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def record(digest: str, kind: str, path: str | os.PathLike[str]) -> None:
    """Add a file that this machine's export wrote (``digest``: its SHA-256) to the trust list."""
    from .atomic import atomic_write_text

    with _locked():
        entries = _read()
        entries.pop(digest, None)  # re-inserted last: the newest survive the cap
        entries[digest] = {"kind": kind, "path": os.path.abspath(os.fspath(path)),
                           "recorded": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        if len(entries) > MAX_ENTRIES:
            entries = dict(list(entries.items())[-MAX_ENTRIES:])
        atomic_write_text(trust_file(), json.dumps({"format": _FORMAT, "version": 1, "sha256": entries},
                                                   indent=1) + "\n")


def is_recorded(digest: str) -> bool:
    return digest in _read()


def refusal(path: str | os.PathLike[str], kind: str) -> EcgedgeError:
    """The one-line error for an untrusted code artefact: what, why, and the two ways out."""
    return EcgedgeError(
        f"refusing to load {CODE_KINDS.get(kind, kind)}: such a file can run code on this machine, and it was "
        "not written by this machine's `ecgedge export`", path=path,
        fix="pass --trust-model (Python: trust_model=True) only if you trust where it came from, or export it "
            "again here from its checkpoint or ONNX model")


def check(path: str | os.PathLike[str], kind: str, digest: str, *, trust: bool) -> None:
    """Refuse a code artefact (``digest``: the SHA-256 of the bytes about to be loaded) unless trusted."""
    if runs_code(kind) and not trust and not is_recorded(digest):
        raise refusal(path, kind)
