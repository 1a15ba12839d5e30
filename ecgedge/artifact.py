"""What an artefact says about itself, read without torch (and without onnx).

Every artefact ecgedge writes carries its InputContract: ONNX files in ``metadata_props`` (key
``ecgedge``), TensorRT engines and ``.pt2`` packages in a JSON sidecar (``<file>.json``), checkpoints
in their safetensors header. :func:`read_info` reads any of them; the runtime uses it to refuse a
file that is not an ecgedge model before it loads an engine.
"""

from __future__ import annotations

import json
import math
import os
import stat
import struct
from dataclasses import dataclass, field
from pathlib import Path

from .contract import InputContract
from .errors import EcgedgeError
from .kinds import SIDECAR_SUFFIX, kind_of

METADATA_KEY = "ecgedge"
ONNX_FORMAT = "ecgedge-onnx"
ARTIFACT_VERSION = 1


@dataclass
class ArtifactInfo:
    path: str
    kind: str  # onnx | tensorrt | pt2 | checkpoint
    contract: InputContract
    meta: dict = field(default_factory=dict)

    @property
    def precision(self) -> str:
        return str(self.meta.get("precision", "fp32"))

    def describe(self) -> dict:
        """A JSON-able summary (what ``ecgedge info`` prints)."""
        c = self.contract
        p = c.preprocessing
        size = os.path.getsize(self.path) if os.path.exists(self.path) else None
        out = {
            "path": self.path, "kind": self.kind, "size_bytes": size, "precision": self.precision,
            "arch": self.meta.get("arch"), "arch_kwargs": self.meta.get("arch_kwargs") or {},
            "classes": list(c.classes), "multilabel": c.multilabel,
            "thresholds": list(c.thresholds) if c.thresholds else None, "dataset": c.dataset, "task": c.task,
            "input": {"leads": list(p.leads), "fs": p.fs, "units": p.units, "window": p.window, "stride": p.stride,
                      "window_seconds": (p.window or 0) / p.fs, "band": list(p.band) if p.band else None,
                      "zero_phase": p.zero_phase, "norm": p.norm, "norm_scope": p.norm_scope, "pad": p.pad,
                      "aggregate": c.aggregate},
        }
        for key in ("flavour", "opset", "metrics", "gate", "calibration", "source", "ecgedge_version", "created",
                    "kept_float", "tensorrt_version", "torch_version", "device", "n_parameters", "recipe_name"):
            if key in self.meta:
                out[key] = self.meta[key]
        return out


def read_info(path: str | os.PathLike[str]) -> ArtifactInfo:
    """The contract and metadata of a model file; an :class:`EcgedgeError` if it is not an ecgedge model."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise EcgedgeError("model file not found", path=path)
    if os.path.isdir(path):
        raise EcgedgeError("is a folder, not a model file", path=path,
                           fix="pass the .onnx (or .engine/.pt2) file inside it")
    if not stat.S_ISREG(os.stat(path).st_mode):
        # a FIFO would block the read forever, /dev/zero would fill memory
        raise EcgedgeError("is not a regular file (a pipe, device or socket)", path=path,
                           fix="pass the model file itself")
    kind = kind_of(path)
    graph: tuple[list, list] | None = None
    if kind == "onnx":
        meta, graph = _onnx_meta(path)
    elif kind in ("tensorrt", "pt2"):
        meta = read_sidecar(path, kind)
    elif kind == "checkpoint":
        meta = _checkpoint_meta(path)
    else:
        raise EcgedgeError(f"unknown model file type {Path(path).suffix or '(no suffix)'!r}", path=path,
                           fix="ecgedge models are .onnx, .engine/.plan (TensorRT), .pt2 or .safetensors checkpoints")
    if "contract" not in meta:
        raise EcgedgeError("has no ecgedge contract", path=path,
                           fix="re-export it with `ecgedge export` (the contract travels inside every artefact)")
    try:
        contract = InputContract.from_dict(meta["contract"])
        check_contract(contract)
    except EcgedgeError as exc:
        raise EcgedgeError(f"its contract is unusable: {exc}", path=path) from None
    if graph is not None:
        check_graph(contract, *graph, path=path)
    return ArtifactInfo(path, kind, contract, meta)


# ------------------------------------------------------------------------------------------------
# A contract must be plausible on its own and agree with the graph it travels with. A file edited by
# hand (or by an attacker) would otherwise fail deep inside the runtime with a traceback, allocate
# without bound, or - worse - run and label the graph's outputs with the wrong class names.
# ------------------------------------------------------------------------------------------------

_MAX_WINDOW = 1 << 24  # samples: ~4.7 h at 1 kHz, far above any ECG model's input
_MAX_BASELINE_S = 10.0  # median-filter lengths for baseline wander are fractions of a second


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _count(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= 1


def check_contract(c: InputContract) -> None:
    """Refuse a contract whose values no ecgedge export writes (an :class:`EcgedgeError` naming the field)."""
    p = c.preprocessing

    def bad(field: str, msg: str) -> EcgedgeError:
        return EcgedgeError(msg, where=f"contract.{field}")

    if not all(isinstance(x, str) and x for x in c.classes):
        raise bad("classes", "class names must be non-empty strings")
    if not all(isinstance(x, str) and x for x in p.leads):
        raise bad("preprocessing.leads", "lead names must be non-empty strings")
    if not (_finite(p.fs) and 1.0 <= p.fs <= 100_000.0):
        raise bad("preprocessing.fs", f"sampling rate {p.fs!r} is outside 1 Hz-100 kHz")
    if not (_count(p.window) and p.window <= _MAX_WINDOW):
        raise bad("preprocessing.window", f"the window must be a whole number of samples (1-{_MAX_WINDOW}), "
                                          f"not {p.window!r}")
    if p.stride is not None and not (_count(p.stride) and p.stride <= _MAX_WINDOW):
        raise bad("preprocessing.stride", f"the stride must be a whole number of samples, not {p.stride!r}")
    if p.band is not None and (len(p.band) != 2 or not all(b is None or (_finite(b) and 0 <= b <= p.fs)
                                                            for b in p.band)):
        raise bad("preprocessing.band", f"band edges must be None or 0..fs Hz, not {list(p.band)!r}")
    if not (_count(p.band_order) and p.band_order <= 16):
        raise bad("preprocessing.band_order", f"filter order must be 1-16, not {p.band_order!r}")
    if p.sos is not None and not all(len(row) == 6 and all(_finite(v) for v in row) for row in p.sos):
        raise bad("preprocessing.sos", "filter sections must be rows of 6 finite numbers")
    if p.baseline is not None and not all(_finite(b) and 0 <= b <= _MAX_BASELINE_S for b in p.baseline):
        raise bad("preprocessing.baseline", f"baseline filter lengths must be 0-{_MAX_BASELINE_S:g} s, "
                                            f"not {list(p.baseline)!r}")
    if not (_finite(p.max_gap) and 0 <= p.max_gap <= 60):
        raise bad("preprocessing.max_gap", f"max_gap must be 0-60 s, not {p.max_gap!r}")


def check_graph(c: InputContract, inputs: list, outputs: list, *, path: str) -> None:
    """Refuse an ONNX file whose contract disagrees with its graph's input ``[batch, leads, time]`` and output
    ``[batch, classes]`` (dimensions that the graph leaves symbolic are checked when the engine loads)."""
    fix = "the contract was edited or the file is damaged: export the model again with `ecgedge export`"

    def bad(field: str, msg: str) -> EcgedgeError:
        return EcgedgeError(f"its contract disagrees with its graph: {msg}", path=path, where=f"contract.{field}",
                            fix=fix)

    if len(inputs) != 1 or len(outputs) < 1:
        raise EcgedgeError(f"the graph has {len(inputs)} input(s) and {len(outputs)} output(s); an ecgedge model "
                           "has one input [batch, leads, time] and a logits output", path=path, fix=fix)
    (in_name, ins), (out_name, outs) = inputs[0], outputs[0]
    if ins is not None and len(ins) != 3:
        raise bad("preprocessing.leads", f"the input {in_name!r} has {len(ins)} dimensions, not [batch, leads, time]")
    if outs is not None and len(outs) != 2:
        raise bad("classes", f"the output {out_name!r} has {len(outs)} dimensions, not [batch, classes]")
    n_leads, n_classes = len(c.preprocessing.leads), len(c.classes)
    if ins is not None and isinstance(ins[1], int) and ins[1] != n_leads:
        raise bad("preprocessing.leads", f"it lists {n_leads} lead(s); the graph takes {ins[1]} input channels")
    if ins is not None and isinstance(ins[2], int) and ins[2] != c.preprocessing.window:
        raise bad("preprocessing.window", f"its window is {c.preprocessing.window} samples; the graph takes "
                                          f"exactly {ins[2]}")
    if outs is not None and isinstance(outs[1], int) and outs[1] != n_classes:
        raise bad("classes", f"it names {n_classes} class(es); the graph outputs {outs[1]}")


def _onnx_meta(path: str) -> tuple[dict, tuple[list, list]]:
    """``metadata_props`` of an ONNX file and its graph's inputs and outputs. Parsed from the protobuf directly:
    no onnx package needed, and the (possibly large) weights are skipped rather than loaded."""
    try:
        if os.path.getsize(path) > _ONNX_MAX_BYTES:
            raise ValueError("larger than the 2 GiB an ONNX protobuf can hold")
        props, graph = _onnx_scan(memoryview(Path(path).read_bytes()))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise EcgedgeError(f"not a readable ONNX file ({exc})", path=path,
                           fix="export it again with `ecgedge export`") from None
    if METADATA_KEY not in props:
        raise EcgedgeError("is an ONNX file but not an ecgedge model (no 'ecgedge' metadata)", path=path,
                           fix="export the model with `ecgedge export` so that it carries its input contract")
    try:
        meta = json.loads(props[METADATA_KEY])
    except json.JSONDecodeError as exc:
        raise EcgedgeError(f"its ecgedge metadata is not JSON ({exc})", path=path) from None
    if not isinstance(meta, dict) or meta.get("format") != ONNX_FORMAT:
        raise EcgedgeError("its ecgedge metadata has the wrong format", path=path)
    return meta, graph


def read_sidecar(path: str | os.PathLike[str], kind: str, fmt: str | None = None) -> dict:
    """The JSON beside an engine or package (``<file>.json``); ``fmt``: the exact format it must declare."""
    side = os.fspath(path) + SIDECAR_SUFFIX
    if not os.path.exists(side):
        raise EcgedgeError(f"no sidecar {os.path.basename(side)} beside this {kind} file", path=path,
                           fix="keep the .json written by `ecgedge export` next to it (it holds the contract)")
    try:
        meta = json.loads(Path(side).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EcgedgeError(f"sidecar is not readable JSON ({exc})", path=side) from None
    declared = meta.get("format") if isinstance(meta, dict) else None
    if fmt is not None and declared != fmt:
        raise EcgedgeError(f"sidecar format is {declared!r}, not {fmt!r}", path=side,
                           fix=f"export the {kind} file again with `ecgedge export`")
    if not str(declared or "").startswith("ecgedge-"):
        raise EcgedgeError("sidecar is not an ecgedge sidecar (no 'format')", path=side)
    return meta


def output_paths(out_path: str | os.PathLike[str], force: bool, what: str) -> tuple[Path, Path]:
    """``(file, sidecar)`` for writing ``what`` (e.g. "an engine"); refuses folders, and existing files unless
    ``force``."""
    out = Path(out_path)
    side = Path(os.fspath(out) + SIDECAR_SUFFIX)
    for p in (out, side):
        if p.is_dir():
            raise EcgedgeError(f"is a folder; cannot write {what} there", path=p)
    existing = [p for p in (out, side) if p.exists()]
    if existing and not force:
        raise EcgedgeError(f"{', '.join(p.name for p in existing)} already exist(s)", path=out.parent,
                           fix="pass force=True (--force) to replace, or choose another output path")
    return out, side


def _checkpoint_meta(path: str) -> dict:
    """The JSON header of a safetensors checkpoint: 8-byte length, then JSON (no torch, no safetensors)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
            if len(head) != 8:
                raise ValueError("file too short")
            (n,) = struct.unpack("<Q", head)
            if n > 100 * 1024 * 1024 or n > os.path.getsize(path) - 8:
                raise ValueError("header length out of range")
            header = json.loads(fh.read(n))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise EcgedgeError(f"not a readable safetensors checkpoint ({exc})", path=path) from None
    # Every level is checked for its type: the header is JSON anyone can write ("__metadata__": 5,
    # "ecgedge": "[1]", ...), and safetensors itself requires metadata values to be strings.
    if not isinstance(header, dict):
        raise EcgedgeError("not a readable safetensors checkpoint (its header is not a JSON object)", path=path)
    extra = header.get("__metadata__", {})
    if not isinstance(extra, dict):
        raise EcgedgeError("its safetensors '__metadata__' is not a JSON object", path=path,
                           where="__metadata__", fix="a checkpoint written by `ecgedge train` has one")
    text = extra.get("ecgedge")
    if text is None:
        raise EcgedgeError("not an ecgedge checkpoint (no ecgedge header)", path=path)
    if not isinstance(text, str):
        raise EcgedgeError(f"its ecgedge header is a {type(text).__name__}, not a JSON string", path=path,
                           where="__metadata__.ecgedge")
    try:
        meta = json.loads(text)
    except ValueError as exc:
        raise EcgedgeError(f"its ecgedge header is not JSON ({exc})", path=path, where="__metadata__.ecgedge") from None
    if not isinstance(meta, dict) or meta.get("format") != "ecgedge-checkpoint":
        raise EcgedgeError("not an ecgedge checkpoint (its ecgedge header is not an ecgedge-checkpoint object)",
                           path=path, where="__metadata__.ecgedge")
    return meta


# ------------------------------------------------------------------------------------------------
# A minimal protobuf walk: ModelProto field 14 is metadata_props (StringStringEntryProto: 1 key, 2 value)
# ------------------------------------------------------------------------------------------------


def _varint(buf: bytes | memoryview, i: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        if i >= len(buf):
            raise ValueError("truncated varint")
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _fields(buf: bytes | memoryview):
    i, n = 0, len(buf)
    while i < n:
        tag, i = _varint(buf, i)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 1:
            value, i = None, i + 8
        elif wire == 2:
            length, i = _varint(buf, i)
            if i + length > n:
                raise ValueError("truncated field")
            value, i = buf[i:i + length], i + length
        elif wire == 5:
            value, i = None, i + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield number, wire, value


def onnx_metadata_props(path: str | os.PathLike[str]) -> dict[str, str]:
    return _onnx_scan(memoryview(Path(path).read_bytes()))[0]


_ONNX_MAX_BYTES = 2 << 30

#: One graph input or output: its name and its dims (int: fixed, str: symbolic, None: unknown), or None for
#: no shape at all.
ValueInfo = tuple[str, "list[int | str | None] | None"]


def _value_info(buf: memoryview) -> ValueInfo:
    """ValueInfoProto (1 name, 2 type) -> TypeProto (1 tensor_type) -> Tensor (2 shape) -> TensorShapeProto
    (1 dim) -> Dimension (1 dim_value, 2 dim_param)."""
    name, dims = "", None
    for n, w, v in _fields(buf):
        if n == 1 and w == 2:
            name = bytes(v).decode("utf-8")
        elif n == 2 and w == 2:
            for n2, w2, v2 in _fields(v):
                if n2 == 1 and w2 == 2:
                    for n3, w3, v3 in _fields(v2):
                        if n3 == 2 and w3 == 2:
                            dims = []
                            for n4, w4, v4 in _fields(v3):
                                if n4 == 1 and w4 == 2:
                                    dim: int | str | None = None
                                    for n5, w5, v5 in _fields(v4):
                                        if n5 == 1 and w5 == 0:
                                            dim = int(v5)
                                        elif n5 == 2 and w5 == 2:
                                            dim = bytes(v5).decode("utf-8")
                                    dims.append(dim)
    return name, dims


def _onnx_scan(data: memoryview) -> tuple[dict[str, str], tuple[list[ValueInfo], list[ValueInfo]]]:
    """``metadata_props`` (ModelProto field 14) and the graph's (field 7) inputs (11) and outputs (12), inputs
    that are initializers (5; listed as inputs by IR < 4) left out. Weights are skipped, not decoded."""
    props: dict[str, str] = {}
    inputs: list[ValueInfo] = []
    outputs: list[ValueInfo] = []
    initializers: set[str] = set()
    saw_graph = False
    for number, wire, value in _fields(data):
        if number == 7 and wire == 2:
            saw_graph = True
            for n2, w2, v2 in _fields(value):
                if n2 == 11 and w2 == 2:
                    inputs.append(_value_info(v2))
                elif n2 == 12 and w2 == 2:
                    outputs.append(_value_info(v2))
                elif n2 == 5 and w2 == 2:
                    for n3, w3, v3 in _fields(v2):
                        if n3 == 8 and w3 == 2:  # TensorProto.name
                            initializers.add(bytes(v3).decode("utf-8"))
        if number == 14 and wire == 2:
            key = val = ""
            for n2, w2, v2 in _fields(value):
                if w2 == 2 and n2 == 1:
                    key = bytes(v2).decode("utf-8")
                elif w2 == 2 and n2 == 2:
                    val = bytes(v2).decode("utf-8")
            props[key] = val
    if not saw_graph:
        raise ValueError("no ONNX graph in the file")
    return props, ([i for i in inputs if i[0] not in initializers], outputs)
