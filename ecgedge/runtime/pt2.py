"""AOTInductor packages at run time: read a ``.pt2`` package's metadata without torch
(:func:`read_package_meta`), load and run it (:class:`PT2Engine`; needs torch).

Compiling one is export's job (:mod:`ecgedge.export.pt2`). The contract travels twice: inside the package
(AOTInductor's ``aot_inductor.metadata``, key ``ecgedge``) and in a JSON sidecar ``<file>.pt2.json``, which is
what :func:`ecgedge.artifact.read_info` reads without torch.

A package is native code for one torch build, one device kind and one CPU architecture (and, on x86, the vector
ISA of the machine that compiled it, e.g. AVX512). It is not portable the way ONNX is: it loads with the same
torch version that built it (checked, with a clear error) on a machine like the one that built it.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from ..contract import InputContract
from ..errors import EcgedgeError
from ..kinds import SIDECAR_SUFFIX
from ..trust import check as check_trust
from ..trust import sha256_file
from .engines import Engine

FORMAT = "ecgedge-pt2"

METADATA_KEY = "ecgedge"


# ------------------------------------------------------------------------------------------------
# The package's metadata (torch-free: zipfile only, nothing in the archive runs)
# ------------------------------------------------------------------------------------------------


def _same_torch(built: str, running: str) -> bool:
    return str(built).strip() == str(running).strip()


def package_metadata(z: zipfile.ZipFile) -> dict | None:
    """The ecgedge metadata inside an open package, with what AOTInductor says about its target (``aoti``: ISA,
    machine); None if it holds none. AOTInductor writes its metadata (ours included) beside the compiled
    wrapper as ``*_metadata.json``."""
    for n in z.namelist():
        # a forged archive may declare a huge metadata entry: skip anything no real package writes
        if "/data/aotinductor/" in n and n.endswith("_metadata.json") and z.getinfo(n).file_size < 1 << 20:
            with contextlib.suppress(ValueError, UnicodeDecodeError):
                d = json.loads(z.read(n))
                if isinstance(d, dict) and METADATA_KEY in d:
                    meta = json.loads(d[METADATA_KEY])
                    if isinstance(meta, dict):
                        meta.setdefault("aoti", {k: v for k, v in d.items() if k.startswith("AOTI_")})
                        return meta
    return None


def read_package_meta(path: str | os.PathLike[str]) -> dict:
    """The ecgedge metadata of a ``.pt2`` package, read from the archive (no torch, no native code loaded).

    Falls back to the sidecar ``<file>.json`` when the archive holds none. Raises :class:`EcgedgeError` if the
    file is not a ``.pt2`` package or not an ecgedge one.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise EcgedgeError("package not found", path=path)
    if os.path.isdir(path):
        raise EcgedgeError("is a folder, not a .pt2 package", path=path)
    if not zipfile.is_zipfile(path):
        raise EcgedgeError("not a .pt2 package (not a zip archive)", path=path,
                           fix="pass a package written by `ecgedge export --target pt2`")
    meta: dict | None = None
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
            if not any(n.endswith("/archive_format") for n in names):
                raise EcgedgeError("not a .pt2 package (a zip archive without 'archive_format')", path=path,
                                   fix="pass a package written by `ecgedge export --target pt2`")
            if not any("/data/aotinductor/" in n for n in names):
                raise EcgedgeError("is a .pt2 archive without AOTInductor code (an exported program, not a "
                                   "compiled package?)", path=path,
                                   fix="compile it with `ecgedge export --target pt2`")
            meta = package_metadata(z)
    except (zipfile.BadZipFile, OSError) as exc:
        raise EcgedgeError(f"not a readable .pt2 package ({exc})", path=path) from None
    if meta is None:
        side = path + SIDECAR_SUFFIX
        if not os.path.exists(side):
            raise EcgedgeError("is an AOTInductor package but not an ecgedge one (no contract inside, no sidecar)",
                               path=path, fix="export the model with `ecgedge export --target pt2`")
        try:
            meta = json.loads(Path(side).read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise EcgedgeError(f"sidecar is not readable JSON ({exc})", path=side) from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise EcgedgeError(f"its metadata is not {FORMAT!r}", path=path,
                           fix="export the model with `ecgedge export --target pt2`")
    return meta


# ------------------------------------------------------------------------------------------------
# Load and run
# ------------------------------------------------------------------------------------------------


class PT2Engine(Engine):
    """A loaded AOTInductor package: ``run(x [B, leads, T] float32) -> logits [B, classes]``.

    Refuses, before any native code is loaded, a file that is not an ecgedge ``.pt2`` package, a package
    built by another torch version, for another CPU architecture, or for CUDA where torch sees no GPU.

    A package is code (a shared library, possibly pickled weights): unless ``trust`` is set, it loads only if
    this machine's export recorded its hash (:mod:`ecgedge.trust`). The hash is taken of a private copy, and
    that copy is what torch loads, so the file cannot be swapped between the check and the load.
    """

    name = "pt2"

    def __init__(self, path: str | os.PathLike[str], *, device_index: int = -1, trust: bool = False) -> None:
        self.path = os.fspath(path)
        self.meta = read_package_meta(self.path)  # zipfile only: nothing in the archive runs
        with contextlib.ExitStack() as stack:
            load_from = self.path
            if not trust:
                private = stack.enter_context(tempfile.TemporaryDirectory(prefix="ecgedge-pt2-"))
                load_from = os.path.join(private, os.path.basename(self.path))
                shutil.copyfile(self.path, load_from)
                check_trust(self.path, "pt2", sha256_file(load_from), trust=False)
            self._load(load_from, device_index)

    def _load(self, load_from: str, device_index: int) -> None:
        import torch

        try:
            self.contract = InputContract.from_dict(self.meta.get("contract"))
        except EcgedgeError as exc:
            raise EcgedgeError(f"its contract is unusable: {exc}", path=self.path) from None
        built = str(self.meta.get("torch_version", "?"))
        if not _same_torch(built, torch.__version__):
            raise EcgedgeError(f"built with torch {built}; this is torch {torch.__version__}", path=self.path,
                               fix="AOTInductor packages are tied to the torch version that compiled them: install "
                                   f"torch {built}, or export the model again here (or use the ONNX model)")
        machine = self.meta.get("machine") or (self.meta.get("aoti") or {}).get("AOTI_MACHINE")
        if machine and machine != platform.machine():
            raise EcgedgeError(f"compiled for {machine}; this machine is {platform.machine()}", path=self.path,
                               fix="export the model again on this kind of machine, or use the ONNX model")
        self.device = str(self.meta.get("device", "cpu"))
        if self.device == "cuda" and not torch.cuda.is_available():
            raise EcgedgeError("compiled for CUDA but torch sees no GPU here", path=self.path,
                               fix="run on a machine with a GPU, or export with device 'cpu'")
        self.leads = int(self.meta.get("leads", len(self.contract.leads)))
        self.min_length = int(self.meta.get("min_length", 1))
        b, t = self.meta.get("batch_range") or [1, None], self.meta.get("time_range") or [self.min_length, None]
        self.batch_range = (int(b[0] or 1), int(b[1]) if b[1] else None)
        self.time_range = (int(t[0] or self.min_length), int(t[1]) if t[1] else None)
        if self.batch_range[1]:
            self.max_batch = self.batch_range[1]
        try:
            self._model = torch._inductor.aoti_load_package(load_from, device_index=device_index)
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
            isa = (self.meta.get("aoti") or {}).get("AOTI_CPU_ISA")
            raise EcgedgeError(f"AOTInductor could not load the package: {first}", path=self.path,
                               fix="export it again on this machine" + (f" (it was built for {isa})" if isa else ""),
                               ) from None

    def run(self, x: np.ndarray) -> np.ndarray:
        """Logits (float32 ``[B, classes]``) for float32 windows ``[B, leads, T]``."""
        import torch

        a = np.asarray(x)
        if a.ndim != 3:
            raise EcgedgeError(f"input must be [batch, leads, time], got shape {a.shape}", where="pt2.run")
        bsz, leads, length = a.shape
        if leads != self.leads:
            raise EcgedgeError(f"input has {leads} leads; the model takes {self.leads}", where="pt2.run")
        lo, hi = self.batch_range
        if bsz < lo or (hi is not None and bsz > hi):
            raise EcgedgeError(f"batch of {bsz} is outside the package's range {lo}..{hi}", where="pt2.run",
                               fix="split the input into smaller batches")
        lo, hi = self.time_range
        if length < lo or (hi is not None and length > hi):
            raise EcgedgeError(f"{length} samples is outside the package's time range {lo}..{hi}", where="pt2.run",
                               fix=f"windows of {lo} samples or more (the contract's window is {self.contract.window})")
        t = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))
        if self.device != "cpu":
            t = t.to(self.device)
        with torch.inference_mode():
            y = self._model(t)
        if isinstance(y, (tuple, list)):
            y = y[0]
        return y.detach().float().cpu().numpy()

    __call__ = run
