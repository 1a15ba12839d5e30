"""AOTInductor packages: a model compiled ahead of time into a ``.pt2`` file, with dynamic batch and time.

:func:`export_pt2` runs ``torch.export.export`` (batch and time symbolic, from
:func:`~ecgedge.training.models.export_dynamic_shapes`) and ``torch._inductor.aoti_compile_and_package``;
:class:`PT2Engine` loads the package with ``torch._inductor.aoti_load_package`` and runs it on numpy arrays.

The contract travels twice: inside the package (AOTInductor's ``aot_inductor.metadata``, read back by
``get_metadata()``; key ``ecgedge``) and in a JSON sidecar ``<file>.pt2.json``, which is what
:func:`ecgedge.artifact.read_info` reads without torch.

A package is native code for one torch build, one device kind and one CPU architecture (and, on x86,
the vector ISA of the machine that compiled it, e.g. AVX512). It is not portable the way ONNX is: load it
with the same torch version that built it (checked, with a clear error) on a machine like the one that
built it. Compiling needs a C++ compiler (and, for CUDA, the CUDA toolkit); it takes tens of seconds.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import platform
import shutil
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

from ..artifact import SIDECAR_SUFFIX, output_paths
from ..atomic import atomic_write_text
from ..contract import InputContract
from ..errors import EcgedgeError
from ..trust import check as check_trust
from ..trust import record as record_trusted
from ..trust import sha256_file

FORMAT = "ecgedge-pt2"

METADATA_KEY = "ecgedge"
DEVICES = ("cpu", "cuda")
_VERSION = 1


# ------------------------------------------------------------------------------------------------
# Helpers shared by export and load (torch-free)
# ------------------------------------------------------------------------------------------------


def _check_output_paths(out_path: str | os.PathLike[str], force: bool) -> tuple[Path, Path]:
    """``(package, sidecar)`` paths; refuses a wrong suffix, a folder, or existing files unless ``force``."""
    out = Path(out_path)
    if out.suffix != ".pt2":
        raise EcgedgeError(f"an AOTInductor package must end in .pt2, not {out.suffix or '(no suffix)'!r}",
                           path=out, fix=f"use {out.with_suffix('.pt2').name}")
    return output_paths(out, force, "a package")


def _write_sidecar(side: str | os.PathLike[str], meta: dict) -> None:
    atomic_write_text(side, json.dumps(meta, indent=1, sort_keys=True) + "\n")


def _same_torch(built: str, running: str) -> bool:
    return str(built).strip() == str(running).strip()


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
            # AOTInductor writes its metadata (ours included) beside the compiled wrapper as *_metadata.json
            for n in names:
                # a forged archive may declare a huge metadata entry: skip anything no real package writes
                if "/data/aotinductor/" in n and n.endswith("_metadata.json") and z.getinfo(n).file_size < 1 << 20:
                    with contextlib.suppress(ValueError, UnicodeDecodeError):
                        d = json.loads(z.read(n))
                        if isinstance(d, dict) and METADATA_KEY in d:
                            meta = json.loads(d[METADATA_KEY])
                            meta.setdefault("aoti", {k: v for k, v in d.items() if k.startswith("AOTI_")})
                            break
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
# Export
# ------------------------------------------------------------------------------------------------


def _dim_bounds(dim) -> tuple[int | None, int | None]:
    lo, hi = getattr(dim, "min", None), getattr(dim, "max", None)
    return (int(lo) if isinstance(lo, int) else None, int(hi) if isinstance(hi, int) else None)


def export_pt2(model, example, out_path: str | os.PathLike[str], *, device: str = "cpu", contract_json: str,
               force: bool = False, inductor_configs: dict | None = None) -> dict:
    """Compile ``model`` into an AOTInductor package at ``out_path`` (``.pt2``) with dynamic batch and time.

    ``example`` is a float32 ``[batch, leads, time]`` tensor (a batch of 1 is doubled: a size-1 example lets
    torch.export specialise the batch axis). The model is copied and put in eval mode; the caller's model is
    untouched. ``contract_json`` is the model's :class:`InputContract` as JSON; its lead count must match the
    model. The package is compiled in a temporary folder beside ``out_path`` and renamed into place, then
    the sidecar ``out_path + ".json"`` is written (both atomically). Existing files are refused unless
    ``force``. ``inductor_configs`` go to ``aoti_compile_and_package`` (advanced; e.g. compiler options).

    Returns ``{"path", "bytes", "seconds", "export_seconds", "compile_seconds", "device", "torch_version"}``.
    """
    import torch

    from ..training.models import export_context, export_dynamic_shapes

    if device not in DEVICES:
        raise EcgedgeError(f"pt2 device must be cpu or cuda, not {device!r}", where="pt2.device")
    out, side = _check_output_paths(out_path, force)
    contract = InputContract.from_json(contract_json)
    if not isinstance(model, torch.nn.Module):
        raise EcgedgeError(f"expected a torch model, got {type(model).__name__}", where="pt2.model")
    if device == "cuda" and not torch.cuda.is_available():
        raise EcgedgeError(f"torch {torch.__version__} sees no CUDA device", where="pt2.device",
                           fix="export for device 'cpu', or run on a machine with a GPU and a CUDA build of torch")
    if not isinstance(example, torch.Tensor):
        example = torch.as_tensor(np.asarray(example))
    if example.ndim != 3 or example.shape[0] < 1:
        raise EcgedgeError(f"the example must be [batch, leads, time], got shape {tuple(example.shape)}",
                           where="pt2.example")
    leads = int(getattr(model, "leads", example.shape[1]))
    min_length = int(getattr(model, "min_length", 1))
    if example.shape[1] != leads:
        raise EcgedgeError(f"the example has {example.shape[1]} leads; the model takes {leads}", where="pt2.example")
    if len(contract.leads) != leads:
        raise EcgedgeError(f"the contract lists {len(contract.leads)} leads; the model takes {leads}",
                           where="contract.preprocessing.leads")
    if example.shape[2] < min_length:
        raise EcgedgeError(f"the example has {example.shape[2]} samples; the model needs at least {min_length}",
                           where="pt2.example")

    x = example.detach().to(device=device, dtype=torch.float32).contiguous()
    if x.shape[0] < 2:
        x = torch.cat([x, x])
    net = copy.deepcopy(model).eval().to(device)
    (dyn,) = export_dynamic_shapes(net)
    batch_bounds, time_bounds = _dim_bounds(dyn[0]), _dim_bounds(dyn[2])

    meta = {
        "format": FORMAT, "version": _VERSION, "contract": contract.to_dict(), "device": device,
        "torch_version": torch.__version__, "precision": "fp32", "input_name": "ecg", "output_name": "logits",
        "leads": leads, "min_length": min_length, "classes": int(getattr(net, "num_classes", len(contract.classes))),
        "batch_range": list(batch_bounds), "time_range": [max(min_length, time_bounds[0] or 1), time_bounds[1]],
        "arch": type(model).__name__, "machine": platform.machine(),
    }
    configs = dict(inductor_configs or {})
    configs["aot_inductor.metadata"] = {**dict(configs.get("aot_inductor.metadata") or {}),
                                        METADATA_KEY: json.dumps(meta, sort_keys=True)}

    t0 = time.perf_counter()
    try:
        with export_context(), torch.no_grad():
            prog = torch.export.export(net, (x,), dynamic_shapes=(dyn,))
    except Exception as exc:  # torch raises many types; the first line names the problem
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise EcgedgeError(f"torch.export failed: {first}", where="pt2.export",
                           fix="this architecture cannot be exported with dynamic batch and time; use ONNX") from None
    t1 = time.perf_counter()

    out.parent.mkdir(parents=True, exist_ok=True)
    # Compile into a temporary folder beside the target under the final file name (the archive's root folder
    # is named after the file), then rename: a reader sees no package or a whole one.
    tmpdir = tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        tmp = os.path.join(tmpdir, out.name)
        try:
            torch._inductor.aoti_compile_and_package(prog, package_path=tmp, inductor_configs=configs)
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
            raise EcgedgeError(f"AOTInductor compilation failed: {first}", where="pt2.compile",
                               fix="AOTInductor needs a working C++ compiler (g++/clang++)"
                                   + (" and the CUDA toolkit" if device == "cuda" else "")) from None
        t2 = time.perf_counter()
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        # this machine compiled it: record its hash so that loading it here needs no --trust-model
        record_trusted(sha256_file(tmp), "pt2", out)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    with zipfile.ZipFile(out) as z:  # record what AOTInductor says about the target (ISA, machine) in the sidecar
        for n in z.namelist():
            if "/data/aotinductor/" in n and n.endswith("_metadata.json"):
                with contextlib.suppress(ValueError, UnicodeDecodeError):
                    d = json.loads(z.read(n))
                    if isinstance(d, dict) and METADATA_KEY in d:
                        meta["aoti"] = {k: v for k, v in d.items() if k.startswith("AOTI_")}
                        break
    _write_sidecar(side, meta)
    return {"path": str(out), "bytes": out.stat().st_size, "seconds": round(time.perf_counter() - t0, 2),
            "export_seconds": round(t1 - t0, 2), "compile_seconds": round(t2 - t1, 2), "device": device,
            "torch_version": torch.__version__}


# ------------------------------------------------------------------------------------------------
# Load and run
# ------------------------------------------------------------------------------------------------


class PT2Engine:
    """A loaded AOTInductor package: ``run(x [B, leads, T] float32) -> logits [B, classes]``.

    Refuses, before any native code is loaded, a file that is not an ecgedge ``.pt2`` package, a package
    built by another torch version, for another CPU architecture, or for CUDA where torch sees no GPU.

    A package is code (a shared library, possibly pickled weights): unless ``trust`` is set, it loads only if
    this machine's export recorded its hash (:mod:`ecgedge.trust`). The hash is taken of a private copy, and
    that copy is what torch loads, so the file cannot be swapped between the check and the load.
    """

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
