"""torch.export helpers for ecgedge models: the dynamic shapes (batch and time symbolic) and the context that
keeps recurrent layers from being unrolled. Used by the ONNX and AOTInductor exports."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


def export_dynamic_shapes(model) -> tuple[dict[int, object]]:
    """``dynamic_shapes`` for ``torch.onnx.export(model, (x,), dynamo=True, ...)``: batch and time symbolic.

    The time Dim starts at ``model.min_length``: below it, strided layers reach length 1 and torch.export
    cannot prove the broadcasting guards it needs. Whatever the Dims, check the exported graph: where
    torch.export fails to keep a named Dim, the ONNX exporter falls back to the example's fixed size
    without an error.
    """
    from torch.export import Dim

    return ({0: Dim("batch", min=1, max=1 << 16), 2: Dim("time", min=model.min_length, max=1 << 24)},)


@contextlib.contextmanager
def export_context() -> Iterator[None]:
    """Wrap ``torch.onnx.export(..., dynamo=True)`` in this when the model may hold an LSTM or GRU.

    torch's ONNX exporter swaps in a ``while_loop`` decomposition of LSTM/GRU only while it captures the
    graph; its later decomposition pass traces the stock one, which unrolls the recurrence over the example
    input's length (minutes for a 1000-sample window, with the time spent growing with the length). Keeping
    the while_loop decomposition registered for the whole export makes it take seconds; the graph still
    holds ONNX LSTM/GRU nodes with a symbolic sequence length.
    """
    try:
        from torch.export._patches import register_gru_while_loop_decomposition, register_lstm_while_loop_decomposition
    except ImportError:  # another torch: export as it is
        yield
        return
    with register_lstm_while_loop_decomposition(), register_gru_while_loop_decomposition():
        yield
