"""What an artefact says about itself, read without torch (and without onnx).

Every artefact ecgedge writes carries its InputContract: ONNX files in ``metadata_props`` (key
``ecgedge``), TensorRT engines and ``.pt2`` packages in a JSON sidecar (``<file>.json``), checkpoints
in their safetensors header. :func:`read_info` reads any of them; the runtime uses it to refuse a
file that is not an ecgedge model before it loads an engine.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

from .contract import InputContract
from .errors import EcgedgeError

METADATA_KEY = "ecgedge"
ONNX_FORMAT = "ecgedge-onnx"
ARTIFACT_VERSION = 1
SIDECAR_SUFFIX = ".json"
KINDS = {".onnx": "onnx", ".engine": "tensorrt", ".plan": "tensorrt", ".trt": "tensorrt", ".pt2": "pt2",
         ".safetensors": "checkpoint"}


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


def kind_of(path: str | os.PathLike[str]) -> str | None:
    return KINDS.get(Path(path).suffix.lower())


def read_info(path: str | os.PathLike[str]) -> ArtifactInfo:
    """The contract and metadata of a model file; an :class:`EcgedgeError` if it is not an ecgedge model."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise EcgedgeError("model file not found", path=path)
    if os.path.isdir(path):
        raise EcgedgeError("is a folder, not a model file", path=path,
                           fix="pass the .onnx (or .engine/.pt2) file inside it")
    kind = kind_of(path)
    if kind == "onnx":
        meta = _onnx_meta(path)
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
    except EcgedgeError as exc:
        raise EcgedgeError(f"its contract is unusable: {exc}", path=path) from None
    return ArtifactInfo(path, kind, contract, meta)


def _onnx_meta(path: str) -> dict:
    """``metadata_props`` of an ONNX file. Parsed from the protobuf directly: no onnx package needed, and the
    (possibly large) weights are skipped rather than loaded."""
    try:
        props = onnx_metadata_props(path)
    except (OSError, ValueError) as exc:
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
    return meta


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
        meta = json.loads(header.get("__metadata__", {}).get("ecgedge", "{}"))
    except (OSError, ValueError, UnicodeDecodeError, AttributeError) as exc:
        raise EcgedgeError(f"not a readable safetensors checkpoint ({exc})", path=path) from None
    if meta.get("format") != "ecgedge-checkpoint":
        raise EcgedgeError("not an ecgedge checkpoint (no ecgedge header)", path=path)
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
    data = memoryview(Path(path).read_bytes())
    props: dict[str, str] = {}
    saw_graph = False
    for number, wire, value in _fields(data):
        if number == 7 and wire == 2:
            saw_graph = True
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
    return props
