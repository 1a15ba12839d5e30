"""AOTInductor packages: a model compiled ahead of time into a ``.pt2`` file, with dynamic batch and time.

:func:`export_pt2` runs ``torch.export.export`` (batch and time symbolic, from
:func:`~ecgedge.export.torch_export.export_dynamic_shapes`) and ``torch._inductor.aoti_compile_and_package``;
the runtime's :class:`~ecgedge.runtime.pt2.PT2Engine` loads the package with
``torch._inductor.aoti_load_package`` and runs it on numpy arrays.

The contract travels twice: inside the package (AOTInductor's ``aot_inductor.metadata``, read back by
``get_metadata()``; key ``ecgedge``) and in a JSON sidecar ``<file>.pt2.json``, which is what
:func:`ecgedge.artifact.read_info` reads without torch.

A package is native code for one torch build, one device kind and one CPU architecture (and, on x86,
the vector ISA of the machine that compiled it, e.g. AVX512). It is not portable the way ONNX is: load it
with the same torch version that built it (checked, with a clear error) on a machine like the one that
built it. Compiling needs a C++ compiler (and, for CUDA, the CUDA toolkit); it takes tens of seconds.
"""

from __future__ import annotations

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

from ..artifact import output_paths
from ..atomic import atomic_write_text
from ..contract import InputContract
from ..errors import EcgedgeError
from ..runtime.pt2 import FORMAT, METADATA_KEY, package_metadata
from ..trust import record as record_trusted
from ..trust import sha256_file

DEVICES = ("cpu", "cuda")
_VERSION = 1


# ------------------------------------------------------------------------------------------------
# Output paths and the sidecar
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

    from .torch_export import export_context, export_dynamic_shapes

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
        inside = package_metadata(z)
    if inside is not None:
        meta["aoti"] = inside["aoti"]
    _write_sidecar(side, meta)
    return {"path": str(out), "bytes": out.stat().st_size, "seconds": round(time.perf_counter() - t0, 2),
            "export_seconds": round(t1 - t0, 2), "compile_seconds": round(t2 - t1, 2), "device": device,
            "torch_version": torch.__version__}


