"""INT8 static quantization in the ONNX domain (QDQ), calibrated on real windows, and the accuracy gate.

Two flavours:

- ``cpu``: activations uint8, weights int8 per channel (U8S8). onnxruntime's x86 kernels use VNNI /
  AVX2 u8*s8 dot products for this pair; S8S8 needs an extra conversion there and runs slower.
  ``reduce_range`` (7-bit weights) avoids saturation on x86 CPUs without VNNI.
- ``tensorrt``: symmetric int8 for activations and weights (S8S8 Q/DQ), which TensorRT's explicit
  quantization consumes.

The gate evaluates FP32 and INT8 on the same validation windows and compares macro AUROC. When the
drop is too large, :func:`sensitivity` ranks quantized tensors by their local signal-to-quantization-
noise ratio, and :func:`search_float_layers` keeps the worst ones in float until the drop is small.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import EcgedgeError

FLAVOURS = ("cpu", "tensorrt")
METHODS = ("minmax", "entropy", "percentile")


@dataclass
class QuantOptions:
    flavour: str = "cpu"
    #: "percentile" (99.999th): one extreme-amplitude calibration window stretched MinMax ranges so far that the
    #: default PTB-XL model lost 0.295 validation AUROC (band-passed millivolts, no z-score); percentile lost 0.0001
    method: str = "percentile"
    per_channel: bool = True
    reduce_range: bool = False
    calib_size: int = 512
    percentile: float = 99.999
    #: Node names of the pre-processed float model to keep in float.
    keep_float: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if isinstance(self.keep_float, str):  # a bare string would otherwise be read one character per node
            if self.keep_float.strip() == "auto":
                raise EcgedgeError("keep_float 'auto' is a gate setting, not a list of layers", where="int8.keep_float",
                                   fix="write [gate] keep_float = \"auto\", or list node names")
            self.keep_float = [n.strip() for n in self.keep_float.split(",") if n.strip()]
        if self.flavour not in FLAVOURS:
            raise EcgedgeError(f"unknown INT8 flavour {self.flavour!r}", where="int8.flavour",
                               fix="one of " + ", ".join(FLAVOURS))
        if self.method not in METHODS:
            raise EcgedgeError(f"unknown calibration method {self.method!r}", where="int8.method",
                               fix="one of " + ", ".join(METHODS))
        if self.calib_size < 8:
            raise EcgedgeError(f"calibration needs at least 8 windows, not {self.calib_size}", where="int8.calib_size")
        if not 90.0 <= self.percentile < 100.0:
            raise EcgedgeError(f"percentile must be in [90, 100), not {self.percentile}", where="int8.percentile")


class _Reader:
    """onnxruntime's CalibrationDataReader protocol over windows, in small batches."""

    def __init__(self, x: np.ndarray, name: str, batch: int = 32) -> None:
        self.x, self.name, self.batch, self.i = x, name, batch, 0

    def get_next(self):
        if self.i >= len(self.x):
            return None
        out = {self.name: np.ascontiguousarray(self.x[self.i:self.i + self.batch], np.float32)}
        self.i += self.batch
        return out

    def rewind(self) -> None:
        self.i = 0

    def __iter__(self):
        self.rewind()
        return iter(self.get_next, None)

    def __len__(self) -> int:
        return (len(self.x) + self.batch - 1) // self.batch

    def set_range(self, start_index: int, end_index: int) -> None:  # used by onnxruntime for batched calibration
        self.x = self.x[start_index * self.batch:end_index * self.batch]
        self.i = 0


@contextlib.contextmanager
def _quiet():
    """onnxruntime.quantization logs and prints per tensor; keep the CLI readable."""
    level = logging.getLogger().level
    logging.getLogger().setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        logging.getLogger().setLevel(level)


def preprocess(fp32: bytes, workdir: str) -> str:
    """Shape inference and graph optimisation (batch-norm folding ...) before quantization."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    src, dst = os.path.join(workdir, "fp32.onnx"), os.path.join(workdir, "pre.onnx")
    Path(src).write_bytes(fp32)
    # the shape inference writes scratch files into the current folder: keep them in the work folder
    with contextlib.chdir(workdir):
        try:
            with _quiet():
                quant_pre_process(src, dst, skip_symbolic_shape=False)
        except Exception:  # symbolic shape inference fails on some graphs (loops): retry without it
            with _quiet():
                quant_pre_process(src, dst, skip_symbolic_shape=True)
    return dst


def quantize(pre_path: str, calib: np.ndarray, opts: QuantOptions, workdir: str, keep_float: list[str] | None = None,
             input_name: str = "ecg") -> bytes:
    """Static QDQ quantization of the pre-processed model; returns the INT8 model's bytes."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    method = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
              "percentile": CalibrationMethod.Percentile}[opts.method]
    extra = {"CalibPercentile": opts.percentile} if opts.method == "percentile" else {}
    if opts.flavour == "cpu":
        act, wt = QuantType.QUInt8, QuantType.QInt8
    else:
        act, wt = QuantType.QInt8, QuantType.QInt8
        # TensorRT consumes int8 Q/DQ with zero points 0 and fuses a float bias itself: no int32 bias Q/DQ
        extra.update(ActivationSymmetric=True, WeightSymmetric=True, QuantizeBias=False)
    out = os.path.join(workdir, "int8.onnx")
    cache = os.path.join(workdir, f"calib-{opts.flavour}-{opts.method}.json")
    try:
        with _quiet(), contextlib.chdir(workdir):
            quantize_static(pre_path, out, _Reader(calib, input_name), quant_format=QuantFormat.QDQ,
                            per_channel=opts.per_channel, reduce_range=opts.reduce_range, activation_type=act,
                            weight_type=wt, nodes_to_exclude=list(keep_float or opts.keep_float) or None,
                            calibrate_method=method, extra_options=extra, calibration_cache_path=cache)
    except Exception as exc:
        raise EcgedgeError(f"INT8 quantization failed ({str(exc).strip().splitlines()[0][:300]})",
                           where="int8") from None
    return Path(out).read_bytes()


def node_names(pre_path: str) -> dict[str, str]:
    """Node name -> op type of the pre-processed model (what ``keep_float`` names)."""
    import onnx

    m = onnx.load(pre_path, load_external_data=False)
    return {n.name: n.op_type for n in m.graph.node}


def sensitivity(pre_path: str, int8: bytes, calib: np.ndarray, workdir: str, input_name: str = "ecg",
                n: int = 64) -> list[tuple[str, float, list[str]]]:
    """Quantized tensors, worst first: ``(tensor, SQNR dB of its quantize/dequantize, nodes to keep in float)``.

    The nodes listed for a tensor are the one that produces it and those that consume it: keeping
    them in float removes that tensor's quantization.
    """
    import onnx
    from onnxruntime.quantization.qdq_loss_debug import (
        collect_activations,
        compute_signal_to_quantization_noice_ratio,
        create_activation_matching,
        modify_model_output_intermediate_tensors,
    )

    q_path = os.path.join(workdir, "sens-int8.onnx")
    Path(q_path).write_bytes(int8)
    aug_q = os.path.join(workdir, "sens-int8-aug.onnx")
    x = calib[:n]
    with _quiet(), contextlib.chdir(workdir):
        modify_model_output_intermediate_tensors(q_path, aug_q)
        qdq_act = collect_activations(aug_q, _Reader(x, input_name, 16))
        matched = create_activation_matching(qdq_act)
        errors = {name: {"qdq_err": compute_signal_to_quantization_noice_ratio(m["pre_qdq"], m["post_qdq"])}
                  for name, m in matched.items() if m.get("pre_qdq") and m.get("post_qdq")}
    g = onnx.load(pre_path, load_external_data=False).graph
    producers = {o: nd.name for nd in g.node for o in nd.output}
    consumers: dict[str, list[str]] = {}
    for nd in g.node:
        for i in nd.input:
            consumers.setdefault(i, []).append(nd.name)
    ranked = []
    for tensor, err in errors.items():
        sqnr = float(err.get("qdq_err", np.inf))
        nodes = ([producers[tensor]] if tensor in producers else []) + consumers.get(tensor, [])
        if nodes and np.isfinite(sqnr):
            ranked.append((tensor, sqnr, nodes))
    ranked.sort(key=lambda t: t[1])
    return ranked


def macro_drop(y: np.ndarray, p_ref: np.ndarray, p_new: np.ndarray) -> tuple[float, float, list[float], list[float]]:
    """(macro AUROC of reference, of new, per-class of reference, per-class of new)."""
    from ..metrics import macro_auroc, roc_auc

    a, b = macro_auroc(y, p_ref), macro_auroc(y, p_new)
    pa = [roc_auc(y[:, c], p_ref[:, c]) for c in range(y.shape[1])]
    pb = [roc_auc(y[:, c], p_new[:, c]) for c in range(y.shape[1])]
    return a, b, pa, pb


def workdir():
    return tempfile.TemporaryDirectory(prefix="ecgedge-export-")
