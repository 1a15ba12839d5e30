"""TensorRT engines from ecgedge ONNX models: build them (:func:`build_engine`). Loading and running one is the
runtime's (:class:`ecgedge.runtime.trt.TensorRTEngine`).

.. warning::
   This module was written against the documented TensorRT 10/11 Python API (NVIDIA's Python API reference,
   the 10.x release notes and the 10.x -> 11.x migration guide) and has NOT been run on this project's
   machines: they have no NVIDIA GPU and TensorRT cannot be installed there. Only the parts that need no
   TensorRT (argument checks, ONNX inspection, the precision plan, the sidecar, the "TensorRT is missing"
   errors) are tested here; ``tests/test_tensorrt.py`` holds the GPU tests, which skip without TensorRT.

What it does
------------
- One optimization profile on the ONNX model's single input (``[batch, leads, time]``; the input name and
  the lead count are read from the ONNX file), with ``(min, opt, max)`` for batch and time.
- Precision follows TensorRT's direction of travel. TensorRT 10 deprecates *weak typing* (precision flags
  that let the builder pick kernels; deprecated in 10.12) and implicit INT8 calibration (10.1); TensorRT 11
  removes both: networks are always *strongly typed* (the tensor types written in the ONNX decide the
  precision) and INT8 exists only as explicit quantization (Q/DQ nodes). Hence:

  ======== ================================ ==========================================================
  build    TensorRT 10                      TensorRT 11
  ======== ================================ ==========================================================
  fp32     FP32 ONNX, no flags              FP32 ONNX (strongly typed)
  fp16     FP16 ONNX -> strongly typed;     FP16 ONNX only (``ecgedge export --fp16`` writes one)
           FP32 ONNX -> ``BuilderFlag.FP16``
  int8     Q/DQ ONNX -> strongly typed      Q/DQ ONNX (strongly typed)
  ======== ================================ ==========================================================

  ``strongly_typed=None`` picks: True on TensorRT >= 10 when the ONNX holds Q/DQ nodes or float16 tensors,
  otherwise False (always True on 11). INT8 without Q/DQ nodes is refused: calibrate and quantize first
  (``ecgedge export --int8`` with the ``tensorrt`` flavour: symmetric signed INT8, zero points 0).
  A weakly typed INT8 build (``strongly_typed=False`` on TensorRT 8.5-10) sets ``BuilderFlag.INT8`` only, not
  FP16, so that the layers the accuracy gate kept in float stay FP32.
- TensorRT 8.5-9 are accepted for building and running (networks are created with ``EXPLICIT_BATCH``,
  which 10 ignores), but strongly typed builds need 10. TensorRT < 8.5 lacks the tensor-name API used here:
  on a Jetson Nano (JetPack 4.6, TensorRT 8.2) build with ``trtexec`` (see the README).

Engines are not portable: an engine runs only with the TensorRT version that built it (checked against the
sidecar) and is meant for the GPU model that built it (warned). Build on the deployment device.

Sidecar ``<engine>.json`` (written atomically beside the engine): ``{"format": "ecgedge-tensorrt",
"contract", "tensorrt_version", "precision", "strongly_typed", "profile", "device", "input_name",
"output_name", ...}``; :func:`ecgedge.artifact.read_info` reads it without TensorRT. The engine's hash goes
into this machine's trust list (:mod:`ecgedge.trust`), so that it loads here without ``--trust-model``.
"""

from __future__ import annotations

import contextlib
import json
import os
import time as _time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..artifact import output_paths
from ..atomic import atomic_open, atomic_write_text
from ..contract import InputContract
from ..errors import EcgedgeError
from ..runtime.trt import FORMAT, gpu_name, import_trt, log_tail, trt_logger, version_tuple
from ..trust import record as record_trusted
from ..trust import sha256_bytes

PRECISIONS = ("fp32", "fp16", "int8")
_SIDECAR_VERSION = 1


# ------------------------------------------------------------------------------------------------
# The builder
# ------------------------------------------------------------------------------------------------


def _create_builder(trt):
    logger = trt_logger(trt)
    logger.messages.clear()
    try:
        builder = trt.Builder(logger)
    except Exception as exc:  # pybind raises TypeError ("factory function returned nullptr") without a GPU
        builder, why = None, str(exc)
    else:
        why = ""
    if builder is None:
        detail = log_tail(logger, errors_only=False) or why or "unknown reason"
        raise EcgedgeError(f"TensorRT {trt.__version__} cannot create a builder: no usable CUDA device ({detail})",
                           where="tensorrt",
                           fix="TensorRT needs an NVIDIA GPU with a working driver (check `nvidia-smi`; on a Jetson, "
                               "run on the device); or export with --target onnx instead")
    return builder


def tensorrt_available() -> tuple[bool, str]:
    """``(True, "TensorRT 10.x on <GPU>")`` when TensorRT imports and can create a builder; else ``(False, why)``."""
    try:
        trt = import_trt()
        builder = _create_builder(trt)
    except EcgedgeError as exc:
        return False, exc.message
    del builder
    name, cc = gpu_name()
    return True, f"TensorRT {trt.__version__} on {name}" + (f" (compute {cc})" if cc else "")


# ------------------------------------------------------------------------------------------------
# Helpers that need no TensorRT: output paths, sidecar, ONNX inspection, the precision plan
# ------------------------------------------------------------------------------------------------


def _check_output_paths(out_path: str | os.PathLike[str], force: bool) -> tuple[Path, Path]:
    """``(engine, sidecar)``; refuses folders, and existing files unless ``force``."""
    return output_paths(out_path, force, "an engine")


def _write_sidecar(side: str | os.PathLike[str], meta: dict) -> None:
    if meta.get("format") != FORMAT or "contract" not in meta:
        raise ValueError("a TensorRT sidecar needs format and contract")  # a bug in the caller, not user input
    atomic_write_text(side, json.dumps(meta, indent=1, sort_keys=True) + "\n")


@dataclass
class OnnxInfo:
    """What the builder needs to know about an ONNX model, read with the ``onnx`` package."""

    input_name: str
    output_name: str
    leads: int
    batch_dim: int | None  # fixed size, or None when symbolic
    time_dim: int | None
    input_dtype: str  # "float32" | "float16" | ...
    qdq_nodes: int = 0
    fp16: bool = False
    #: Q/DQ nodes whose zero point is not a signed INT8 zero (TensorRT needs symmetric INT8)
    asymmetric: list[str] = field(default_factory=list)
    metadata: dict = field(default_factory=dict)
    opset: int | None = None


_ELEM = {1: "float32", 10: "float16", 16: "bfloat16", 11: "float64", 3: "int8", 2: "uint8", 6: "int32", 7: "int64"}


def inspect_onnx(path: str | os.PathLike[str]) -> OnnxInfo:
    """Input/output names, lead count, fixed axes, Q/DQ and FP16 content of an ONNX model (weights not loaded)."""
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        raise EcgedgeError("reading the ONNX model needs the onnx package", where="tensorrt",
                           fix="pip install onnx (it comes with ecgedge[train])") from None
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise EcgedgeError("ONNX model not found", path=path)
    try:
        model = onnx.load(path, load_external_data=False)
    except Exception as exc:  # protobuf DecodeError and friends
        raise EcgedgeError(f"not a readable ONNX file ({str(exc).strip()[:200]})", path=path) from None
    g = model.graph
    inits = {t.name: t for t in g.initializer}
    inputs = [i for i in g.input if i.name not in inits]
    if len(inputs) != 1:
        raise EcgedgeError(f"the model has {len(inputs)} inputs ({', '.join(i.name for i in inputs)}); an ecgedge "
                           "model has one, [batch, leads, time]", path=path)
    if len(g.output) != 1:
        raise EcgedgeError(f"the model has {len(g.output)} outputs; an ecgedge model has one (logits)", path=path)
    (inp,), (out,) = inputs, g.output
    tt = inp.type.tensor_type
    dims = list(tt.shape.dim)
    if len(dims) != 3:
        raise EcgedgeError(f"input {inp.name!r} has {len(dims)} axes; expected 3 ([batch, leads, time])", path=path)

    def fixed(d) -> int | None:
        return int(d.dim_value) if d.HasField("dim_value") and d.dim_value > 0 else None

    leads = fixed(dims[1])
    if leads is None:
        raise EcgedgeError(f"input {inp.name!r} has a symbolic lead axis; TensorRT's profile needs the lead count",
                           path=path, fix="export the model with a fixed number of leads")

    nodes = list(g.node)
    for fn in model.functions:
        nodes.extend(fn.node)
    qdq = [n for n in nodes if n.op_type in ("QuantizeLinear", "DequantizeLinear")]
    asymmetric = []
    for n in qdq:
        if len(n.input) >= 3 and n.input[2] in inits:
            zp = inits[n.input[2]]
            if zp.data_type != onnx.TensorProto.INT8 or np.any(numpy_helper.to_array(zp) != 0):
                asymmetric.append(n.name or n.output[0])
    f16 = onnx.TensorProto.FLOAT16
    fp16 = (any(t.data_type == f16 for t in g.initializer)
            or any(n.op_type == "Cast" and any(a.name == "to" and a.i == f16 for a in n.attribute) for n in nodes)
            or any(v.type.tensor_type.elem_type == f16 for v in [*g.input, *g.output, *g.value_info]))
    meta = {}
    for p in model.metadata_props:
        if p.key == "ecgedge":
            with contextlib.suppress(ValueError):
                meta = json.loads(p.value)
    opset = next((int(o.version) for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    return OnnxInfo(input_name=inp.name, output_name=out.name, leads=leads, batch_dim=fixed(dims[0]),
                    time_dim=fixed(dims[2]), input_dtype=_ELEM.get(tt.elem_type, str(tt.elem_type)),
                    qdq_nodes=len(qdq), fp16=fp16, asymmetric=asymmetric,
                    metadata=meta if isinstance(meta, dict) else {}, opset=opset)


def plan_precision(trt_version: str | tuple[int, ...], precision: str, info: OnnxInfo,
                   strongly_typed: bool | None = None) -> tuple[bool, tuple[str, ...]]:
    """``(strongly_typed, BuilderFlag names)`` for a build, or an :class:`EcgedgeError` for an impossible one.

    See the module docstring for the table. Pure: tested without TensorRT.
    """
    ver = version_tuple(trt_version) if isinstance(trt_version, str) else tuple(trt_version)
    major = ver[0]
    if precision not in PRECISIONS:
        raise EcgedgeError(f"unknown precision {precision!r}", where="tensorrt.precision", fix="fp32, fp16 or int8")
    if precision == "int8" and not info.qdq_nodes:
        raise EcgedgeError("an INT8 engine needs an ONNX model with Q/DQ nodes (explicit quantization); this one has "
                           "none, and TensorRT's implicit INT8 calibration is deprecated in TensorRT 10 and removed "
                           "in 11",
                           where="tensorrt.precision",
                           fix="build from the INT8 ONNX written by `ecgedge export --int8` with the tensorrt flavour "
                               "(*.int8-trt.onnx), or build fp16")
    if info.qdq_nodes and info.asymmetric:
        shown = ", ".join(info.asymmetric[:3]) + (" ..." if len(info.asymmetric) > 3 else "")
        raise EcgedgeError(f"{len(info.asymmetric)} Q/DQ node(s) use unsigned or non-zero zero points ({shown}); "
                           "TensorRT takes symmetric signed INT8 only", where="tensorrt.precision",
                           fix="quantize with the tensorrt flavour (symmetric INT8); the cpu flavour (U8S8) is for "
                               "onnxruntime")
    if info.qdq_nodes and precision != "int8":
        raise EcgedgeError(f"the ONNX model holds {info.qdq_nodes} Q/DQ nodes: it is an INT8 model",
                           where="tensorrt.precision", fix="build it with precision int8, or build fp32/fp16 from the "
                                                           "float ONNX model")
    if precision == "fp32" and info.fp16:
        raise EcgedgeError("the ONNX model holds float16 tensors; an fp32 engine needs the FP32 ONNX model",
                           where="tensorrt.precision", fix="build from the fp32 ONNX, or build with precision fp16")
    auto = major >= 10 and (info.qdq_nodes > 0 or info.fp16)
    if major >= 11:
        if strongly_typed is False:
            raise EcgedgeError(f"TensorRT {'.'.join(map(str, ver))} builds strongly typed networks only",
                               where="tensorrt.strongly_typed", fix="leave strongly_typed unset")
        strong = True
    else:
        strong = auto if strongly_typed is None else bool(strongly_typed)
    if strong and major < 10:
        raise EcgedgeError(f"strongly typed networks need TensorRT 10 or later (this is {'.'.join(map(str, ver))})",
                           where="tensorrt.strongly_typed", fix="leave strongly_typed unset")
    if strong:
        if precision == "fp16" and not info.fp16:
            raise EcgedgeError("a strongly typed fp16 engine needs an FP16 ONNX model (the types in the ONNX decide "
                               "the precision); this one is FP32", where="tensorrt.precision",
                               fix="build from the FP16 ONNX written by `ecgedge export --fp16` (*.fp16.onnx)"
                                   + ("" if major >= 11 else ", or pass strongly_typed=False"))
        return True, ()
    flags = {"fp32": (), "fp16": ("FP16",), "int8": ("INT8",)}[precision]
    return False, flags


def _triple(value, name: str) -> tuple[int, int, int]:
    try:
        lo, opt, hi = (int(v) for v in value)
    except (TypeError, ValueError):
        raise EcgedgeError(f"{name} must be (min, opt, max), got {value!r}", where=f"tensorrt.{name}") from None
    if not 1 <= lo <= opt <= hi:
        raise EcgedgeError(f"{name} must satisfy 1 <= min <= opt <= max, got {(lo, opt, hi)}", where=f"tensorrt.{name}")
    return lo, opt, hi


# ------------------------------------------------------------------------------------------------
# Build
# ------------------------------------------------------------------------------------------------


def _parser_error_text(err) -> str:
    def call(name: str):
        fn = getattr(err, name, None)
        with contextlib.suppress(Exception):
            return fn() if callable(fn) else None
        return None

    node, name, op = call("node"), call("node_name"), call("node_operator")
    where = f"node {node}" if node is not None and node >= 0 else "graph"
    if name:
        where += f" {name!r}"
    if op:
        where += f" ({op})"
    return f"{where}: {call('code')}: {call('desc')}"


def build_engine(onnx_path: str | os.PathLike[str], out_path: str | os.PathLike[str], *, precision: str = "fp32",
                 batch: tuple[int, int, int] = (1, 8, 64), time: tuple[int, int, int] | None = None,
                 workspace_mb: int = 1024, strongly_typed: bool | None = None, contract_json: str,
                 force: bool = False) -> dict:
    """Build a TensorRT engine from an ecgedge ONNX model; write it and its sidecar atomically.

    ``batch`` and ``time`` are the optimization profile's ``(min, opt, max)`` (``time`` defaults to
    ``(window, window, 4 * window)`` from the contract). ``workspace_mb`` caps the builder's scratch memory
    (keep it small on a Jetson). See the module docstring for ``precision`` and ``strongly_typed``.
    Returns ``{"path", "bytes", "seconds", "tensorrt_version", "precision", "strongly_typed", "flags", "device",
    "profile"}``. Raises :class:`EcgedgeError` for everything a user can act on, TensorRT missing included.
    """
    t0 = _time.perf_counter()
    if precision not in PRECISIONS:
        raise EcgedgeError(f"unknown precision {precision!r}", where="tensorrt.precision", fix="fp32, fp16 or int8")
    contract = InputContract.from_json(contract_json)
    b_rng = _triple(batch, "batch")
    t_rng = _triple(time if time is not None else (contract.window, contract.window, 4 * contract.window), "time")
    if int(workspace_mb) < 16:
        raise EcgedgeError(f"workspace_mb must be at least 16, got {workspace_mb}", where="tensorrt.workspace_mb")
    out, side = _check_output_paths(out_path, force)
    onnx_path = os.fspath(onnx_path)

    trt = import_trt()
    info = inspect_onnx(onnx_path)
    if info.leads != len(contract.leads):
        raise EcgedgeError(f"the ONNX input has {info.leads} leads; the contract lists {len(contract.leads)}",
                           path=onnx_path, fix="pass the contract of this model")
    for name, fixed, rng in (("batch", info.batch_dim, b_rng), ("time", info.time_dim, t_rng)):
        if fixed is not None and rng != (fixed, fixed, fixed):
            raise EcgedgeError(f"the ONNX model fixes the {name} axis at {fixed}; the profile asks for {rng}",
                               path=onnx_path, fix=f"use {name}=({fixed}, {fixed}, {fixed}), or export with a dynamic "
                                                   f"{name} axis")
    strong, flags = plan_precision(trt.__version__, precision, info, strongly_typed)
    major = version_tuple(trt.__version__)[0]

    builder = _create_builder(trt)
    logger = trt_logger(trt)
    net_flags = 0
    creation = trt.NetworkDefinitionCreationFlag
    if major < 10:
        net_flags |= 1 << int(creation.EXPLICIT_BATCH)  # ignored (deprecated) in 10, removed in 11
    if strong and hasattr(creation, "STRONGLY_TYPED"):  # 11: accepted and ignored (always strongly typed)
        net_flags |= 1 << int(creation.STRONGLY_TYPED)
    network = builder.create_network(net_flags)
    parser = trt.OnnxParser(network, logger)
    data = Path(onnx_path).read_bytes()
    if not parser.parse(data, path=onnx_path):  # path: lets the parser find external weights
        errs = [_parser_error_text(parser.get_error(i)) for i in range(parser.num_errors)]
        raise EcgedgeError(f"TensorRT {trt.__version__}'s ONNX parser rejected the model (opset {info.opset}; "
                           f"{len(errs)} error(s)): " + " | ".join(errs or [log_tail(logger) or "no detail"]),
                           path=onnx_path,
                           fix="an operator or opset this TensorRT does not support (TensorRT 8.2 reads opsets up to "
                               "13, 8.6 up to 17): try a newer TensorRT, convert the ONNX to an older opset, or "
                               "choose another architecture; or deploy the ONNX model with onnxruntime")
    if network.num_inputs != 1 or network.get_input(0).name != info.input_name:
        got = [network.get_input(i).name for i in range(network.num_inputs)]
        raise EcgedgeError(f"TensorRT sees inputs {got}; the ONNX model's input is {info.input_name!r}", path=onnx_path)

    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_mb) << 20)
    for f in flags:
        config.set_flag(getattr(trt.BuilderFlag, f))
    shapes = {k: (b, info.leads, t) for k, b, t in zip(("min", "opt", "max"), b_rng, t_rng)}
    profile = builder.create_optimization_profile()
    try:
        profile.set_shape(info.input_name, shapes["min"], shapes["opt"], shapes["max"])
    except Exception as exc:  # RuntimeError: shapes inconsistent
        raise EcgedgeError(f"TensorRT rejected the profile {shapes}: {exc}", where="tensorrt.profile") from None
    if config.add_optimization_profile(profile) < 0:
        raise EcgedgeError(f"TensorRT rejected the profile {shapes}: {log_tail(logger) or 'invalid'}",
                           where="tensorrt.profile")

    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise EcgedgeError(f"TensorRT {trt.__version__} could not build the {precision} engine: "
                           f"{log_tail(logger) or 'no detail (see the TensorRT log)'}", path=onnx_path,
                           fix="try a larger workspace_mb, a smaller profile (batch/time max), or another precision")
    with atomic_open(out, "wb") as fh:
        fh.write(memoryview(serialized))
    # this machine built it: record its hash so that loading it here needs no --trust-model
    record_trusted(sha256_bytes(memoryview(serialized)), "tensorrt", out)
    name, cc = gpu_name()
    meta = {
        "format": FORMAT, "version": _SIDECAR_VERSION, "contract": contract.to_dict(),
        "tensorrt_version": trt.__version__, "precision": precision, "strongly_typed": strong, "flags": list(flags),
        "profile": {"input": info.input_name, "batch": list(b_rng), "time": list(t_rng), "leads": info.leads,
                    **{k: list(v) for k, v in shapes.items()}},
        "device": name, "compute_capability": cc, "input_name": info.input_name, "output_name": info.output_name,
        "workspace_mb": int(workspace_mb), "source": os.path.basename(onnx_path),
    }
    if info.metadata.get("arch"):
        meta["arch"] = info.metadata["arch"]
    _write_sidecar(side, meta)
    return {"path": str(out), "bytes": out.stat().st_size, "seconds": round(_time.perf_counter() - t0, 2),
            "tensorrt_version": trt.__version__, "precision": precision, "strongly_typed": strong,
            "flags": list(flags), "device": name, "profile": meta["profile"]}


