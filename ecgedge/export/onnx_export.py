"""FP32 and FP16 ONNX from a checkpoint's model, with dynamic batch and time axes and the contract inside."""

from __future__ import annotations

import contextlib
import io
import json
import warnings

import numpy as np

from ..artifact import ARTIFACT_VERSION, METADATA_KEY, ONNX_FORMAT
from ..errors import EcgedgeError

OPSET = 18
INPUT, OUTPUT = "ecg", "logits"


def _symbolic(dim) -> bool:
    return not dim.HasField("dim_value") and dim.dim_param != ""


def export_fp32(model, example: np.ndarray, arch: str = "") -> bytes:
    """The model as ONNX bytes: ``ecg`` ``[batch, leads, time]`` -> ``logits`` ``[batch, classes]``.

    Raises if the exporter cannot handle an operator (naming it) or if it fixed an axis that must stay
    symbolic: torch's exporter falls back to the example's shape, without an error, where torch.export
    cannot keep a ``Dim``.
    """
    import logging

    import onnx
    import torch

    from .torch_export import export_context, export_dynamic_shapes

    logging.getLogger("torch.onnx").setLevel(logging.ERROR)  # "torchvision is not installed" notes, per export
    model = model.eval()
    x = torch.from_numpy(np.ascontiguousarray(example[:2], np.float32))
    if x.shape[0] < 2:  # batch 1 examples let the exporter specialise the batch axis
        x = torch.cat([x, x])
    buf = io.BytesIO()
    try:
        with export_context(), warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            prog = torch.onnx.export(model, (x,), None, dynamo=True, opset_version=OPSET,
                                     dynamic_shapes=export_dynamic_shapes(model), input_names=[INPUT],
                                     output_names=[OUTPUT], external_data=False, verbose=False)
            buf.write(prog.model_proto.SerializeToString())  # type: ignore[union-attr]
    except Exception as exc:  # torch raises many types here; report the operator it names
        text = str(exc)
        op = next((ln.strip() for ln in text.splitlines() if "aten." in ln or "operator" in ln.lower()), "")
        raise EcgedgeError(f"{arch or 'the model'} cannot be exported to ONNX: {op or text.splitlines()[0][:300]}",
                           where="export", fix="report the operator; choose another architecture meanwhile") from None
    data = buf.getvalue()
    m = onnx.load_from_string(data)
    (inp,) = m.graph.input
    b, _, t = inp.type.tensor_type.shape.dim
    if not (_symbolic(b) and _symbolic(t)):
        raise EcgedgeError(f"the exporter fixed the {'batch' if not _symbolic(b) else 'time'} axis of {arch}",
                           where="export", fix="this architecture needs an export fix; it cannot be deployed as is")
    return data


def set_metadata(data: bytes, meta: dict) -> bytes:
    """Add the contract and provenance to ``metadata_props`` (key ``ecgedge``) and a readable doc string."""
    import onnx

    m = onnx.load_from_string(data)
    meta = {"format": ONNX_FORMAT, "version": ARTIFACT_VERSION, **meta}
    kept = [p for p in m.metadata_props if p.key != METADATA_KEY]
    del m.metadata_props[:]
    m.metadata_props.extend(kept)
    m.metadata_props.add(key=METADATA_KEY, value=json.dumps(meta, sort_keys=True, default=float))
    c = meta.get("contract", {})
    m.doc_string = (f"ecgedge {meta.get('arch', '')} {meta.get('precision', '')}: "
                    f"classes {', '.join(c.get('classes', []))}"
                    f"; run with `ecgedge infer --model THIS_FILE`")
    m.producer_name = "ecgedge"
    return m.SerializeToString()


def to_fp16(data: bytes) -> bytes:
    """FP16 weights and activations, FP32 input and output (``keep_io_types``): the GPU flavour."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    m = onnx.load_from_string(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # Resize/Range/shape arithmetic stay in float; LSTM/GRU in FP16 are not supported by every provider
        m16 = convert_float_to_float16(m, keep_io_types=True, op_block_list=["Range", "Resize", "LSTM", "GRU"])
    _drop_duplicate_casts(m16.graph)
    _unique_node_names(m16.graph)
    return m16.SerializeToString()


def _drop_duplicate_casts(graph) -> None:
    """The FP16 converter puts a Cast before each blocked node's input; two blocked nodes reading one tensor get
    two identical Casts writing the same output name, which is invalid ONNX. Keep the first of each."""
    seen: dict[str, bytes] = {}
    keep = []
    for node in graph.node:
        if node.op_type == "Cast" and len(node.output) == 1 and node.output[0] in seen:
            if seen[node.output[0]] == _cast_key(node):
                continue
        for out in node.output:
            seen.setdefault(out, _cast_key(node) if node.op_type == "Cast" else b"")
        keep.append(node)
    if len(keep) != len(graph.node):
        del graph.node[:]
        graph.node.extend(keep)


def _cast_key(node) -> bytes:
    return b"|".join([*(i.encode() for i in node.input), *(a.SerializeToString() for a in node.attribute)])


def _unique_node_names(graph) -> None:
    """The FP16 converter names the casts it puts around a blocked node after the tensor; two blocked nodes
    reading the same tensor get two casts of one name, which onnxruntime rejects. Rename the repeats."""
    seen: dict[str, int] = {}
    for node in graph.node:
        if node.name in seen:
            seen[node.name] += 1
            node.name = f"{node.name}_{seen[node.name]}"
        else:
            seen[node.name] = 0
        for attr in node.attribute:  # subgraphs (Loop/If/Scan bodies)
            if attr.HasField("g"):
                _unique_node_names(attr.g)
            for g in attr.graphs:
                _unique_node_names(g)


def parity(sess_a, run_b, x: np.ndarray, batch: int = 64) -> float:
    """Largest |logit difference| between an onnxruntime session and a callable on the same windows."""
    from ..runtime.ort import run_batched

    a = run_batched(sess_a, x, batch)
    b = np.concatenate([run_b(x[s:s + batch]) for s in range(0, len(x), batch)])
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))) if len(a) else 0.0


def torch_runner(model):
    import torch

    def run(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model(torch.from_numpy(np.ascontiguousarray(x, np.float32))).float().numpy()

    return run

