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
    model = average_pools_as_convolutions(model, x)
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
    if one_dimensional_pools(m.graph):
        data = m.SerializeToString()
    return data


_POOL_CLASS: list = []


def average_pools_as_convolutions(model, example):
    """``model`` with every ``nn.AvgPool1d`` replaced by the depthwise convolution it computes (a copy; the model
    itself is not touched; the same model when it has none).

    onnxruntime runs a quantized average pool as ``QLinearAveragePool``, a scalar loop: the three average-pool
    shortcuts of xresnet1d50's strided blocks were 17.5 % of its INT8 time, against 0.3 % for a max-pool of the
    same size. A depthwise convolution with taps 1/k joins the channels-last INT8 convolutions instead. With
    ``count_include_pad=False`` (xresnet's: the edge windows average fewer samples) the sum is divided by each
    window's own share of real samples, itself a convolution of ones, so that the result is the pool's, to float
    rounding (2.5e-7 on the default model's logits), at every length."""
    import copy

    import torch
    from torch import nn

    pools = [(name, m) for name, m in model.named_modules() if type(m) is nn.AvgPool1d]
    if not pools:
        return model
    if not _POOL_CLASS:
        class DepthwiseAverage(nn.Module):
            def __init__(self, channels: int, pool: nn.AvgPool1d) -> None:
                super().__init__()
                k = int(pool.kernel_size[0])
                self.stride, self.padding = int(pool.stride[0]), int(pool.padding[0])
                self.channels = channels
                self.register_buffer("taps", torch.full((channels, 1, k), 1.0 / k))
                self.divide = not pool.count_include_pad and self.padding > 0
                self.register_buffer("share", torch.full((1, 1, k), 1.0 / k))

            def forward(self, x):
                y = nn.functional.conv1d(x, self.taps, stride=self.stride, padding=self.padding, groups=self.channels)
                if not self.divide:
                    return y
                # each output's share of real samples (1 inside, (k - padding) / k at an edge): a [1, 1, L] row
                real = nn.functional.conv1d(torch.ones_like(x[:1, :1]), self.share, stride=self.stride,
                                            padding=self.padding)
                return y / real

        _POOL_CLASS.append(DepthwiseAverage)
    channels: dict[str, int] = {}
    hooks = [m.register_forward_pre_hook(lambda mod, args, name=name: channels.__setitem__(name, args[0].shape[1]))
             for name, m in pools]
    try:
        with torch.no_grad():
            model(example)
    finally:
        for h in hooks:
            h.remove()
    out = copy.deepcopy(model)
    for name, m in pools:
        if m.ceil_mode or name not in channels:  # a ceil-mode pool's extra window is not a convolution's
            continue
        parent, _, attr = name.rpartition(".")
        setattr(out.get_submodule(parent) if parent else out, attr, _POOL_CLASS[0](channels[name], m))
    return out.eval()


def _constant_ints(graph, name: str) -> list[int] | None:
    """The integer values of ``name`` if it is an initializer or a Constant node's output, else None."""
    from onnx import numpy_helper

    for t in graph.initializer:
        if t.name == name:
            return [int(v) for v in numpy_helper.to_array(t).reshape(-1)]
    for node in graph.node:
        if node.op_type == "Constant" and node.output[0] == name:
            for a in node.attribute:
                if a.name == "value":
                    return [int(v) for v in numpy_helper.to_array(a.t).reshape(-1)]
                if a.name in ("value_int", "value_ints"):
                    return [a.i] if a.name == "value_int" else list(a.ints)
    return None


def _used_names(graph) -> set[str]:
    """Every tensor name a node of ``graph`` or of its subgraphs (Loop/If/Scan bodies) reads, and its outputs."""
    used = {o.name for o in graph.output}
    for node in graph.node:
        used.update(node.input)
        for attr in node.attribute:
            for g in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
                used |= _used_names(g)
    return used


def one_dimensional_pools(graph) -> int:
    """Rewrite ``Unsqueeze(axis 2) -> MaxPool/AveragePool [1, k] -> Squeeze(axis 2)`` into the 1-D pool it computes;
    returns how many were rewritten. The models pool over time as a 2-D pool of height 1 (torch.export keeps the
    time axis symbolic that way, see :class:`~ecgedge.training.models.blocks.MaxPool`); in an INT8 graph
    onnxruntime then runs that pool on uint8 in the wrong layout, with transposes around it, while a 1-D pool
    joins its channels-last path (the exported xresnet1d50's stem pool and its two transposes were 14 % of its
    INT8 time).

    A float graph loses the Unsqueeze and Squeeze. In a quantized (QDQ) graph, where Quantize/Dequantize pairs sit
    between them and the pool, they become Identity (the pairs keep their scales, onnxruntime drops the
    identities): exact either way, the same values to the bit, so an INT8 file already shipped can be rewritten
    without changing one of its outputs."""
    import onnx

    consumers: dict[str, list] = {}
    for node in graph.node:
        for i in node.input:
            consumers.setdefault(i, []).append(node)
    producer = {o: node for node in graph.node for o in node.output}
    outputs = {o.name for o in graph.output}

    def only_consumer(name: str):
        c = consumers.get(name, [])
        return c[0] if len(c) == 1 and name not in outputs else None

    def up(name: str):
        """The Unsqueeze that ``name`` comes from through Quantize/Dequantize nodes only, and the tensors between."""
        chain = []
        node = producer.get(name)
        while node is not None and node.op_type in ("QuantizeLinear", "DequantizeLinear"):
            if only_consumer(node.output[0]) is None:
                return None, []
            chain.append(node.output[0])
            node = producer.get(node.input[0])
        ok = node is not None and node.op_type == "Unsqueeze" and only_consumer(node.output[0]) is not None
        return (node, chain + [node.output[0]]) if ok else (None, [])

    def down(name: str):
        """The Squeeze that ``name`` flows into through Quantize/Dequantize nodes only, and the tensors between."""
        chain = [name]
        node = only_consumer(name)
        while node is not None and node.op_type in ("QuantizeLinear", "DequantizeLinear"):
            chain.append(node.output[0])
            node = only_consumer(node.output[0])
        return (node, chain) if node is not None and node.op_type == "Squeeze" else (None, [])

    drop: set[str] = set()  # outputs of Unsqueeze/Squeeze nodes to remove
    four_d: set[str] = set()  # tensors that were 4-D: their recorded shapes are stale
    n = 0
    for pool in list(graph.node):
        if pool.op_type not in ("MaxPool", "AveragePool") or len(pool.output) != 1:
            continue
        (unsq, above), (sq, below) = up(pool.input[0]), down(pool.output[0])
        if unsq is None or sq is None or len(unsq.input) != 2 or len(sq.input) != 2:
            continue
        if _constant_ints(graph, unsq.input[1]) != [2] or _constant_ints(graph, sq.input[1]) != [2]:
            continue
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in pool.attribute}
        k, s = list(attrs.get("kernel_shape", [])), list(attrs.get("strides", [1, 1]))
        pads, dil = list(attrs.get("pads", [0, 0, 0, 0])), list(attrs.get("dilations", [1, 1]))
        auto = attrs.get("auto_pad", b"NOTSET")
        if (len(k) != 2 or k[0] != 1 or s[0] != 1 or dil[0] != 1 or pads[0] or pads[2]
                or auto not in (b"NOTSET", "NOTSET") or attrs.get("storage_order", 0)):
            continue
        keep = {key: v for key, v in attrs.items() if key in ("ceil_mode", "count_include_pad")}
        adjacent = len(above) == 1 and len(below) == 1
        inp, out = (unsq.input[0], sq.output[0]) if adjacent else (pool.input[0], pool.output[0])
        pool.CopyFrom(onnx.helper.make_node(pool.op_type, [inp], [out], name=pool.name, kernel_shape=[k[1]],
                                            strides=[s[1]], pads=[pads[1], pads[3]], dilations=[dil[1]], **keep))
        if adjacent:
            drop.update((unsq.output[0], sq.output[0]))
        else:
            for node in (unsq, sq):
                node.CopyFrom(onnx.helper.make_node("Identity", [node.input[0]], [node.output[0]], name=node.name))
        four_d.update(above + below)
        n += 1
    if n:
        keep_nodes = [node for node in graph.node
                      if node.op_type not in ("Unsqueeze", "Squeeze") or node.output[0] not in drop]
        del graph.node[:]
        graph.node.extend(keep_nodes)
        infos = [v for v in graph.value_info if v.name not in four_d]
        del graph.value_info[:]
        graph.value_info.extend(infos)
        used = _used_names(graph)
        inits = [t for t in graph.initializer if t.name in used]
        if len(inits) != len(graph.initializer):  # the axes constants, now unused
            del graph.initializer[:]
            graph.initializer.extend(inits)
    return n


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

