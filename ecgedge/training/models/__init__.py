"""ECG classifiers: the architectures of "Are ECGs enough?" (Marques & Oliveira 2025) and the PTB-XL
benchmark leaders (Strodthoff et al. 2021), written for ecgedge.

Every model takes float32 ``[batch, leads, time]`` and returns logits ``[batch, classes]``. The body
(:meth:`ECGModel.features`) ends in global pooling over time, so one model serves any window at or above
its ``min_length``, and exports to ONNX with symbolic batch and time axes: no layer here fixes the
length (no ``AdaptiveAvgPool1d`` to a size other than 1, no learned position tables, no flatten of a
time axis).

A registry in the manner of timm names them::

    >>> model = build_model("resnet1d18", leads=12, classes=5)
    >>> list_models()                     # every name
    >>> MODELS["inception1d"].description

Transfer learning: :meth:`ECGModel.reset_head` (new classes), :meth:`ECGModel.adapt_input` (new lead
count, initialised from the old first layer) and :meth:`ECGModel.layer_groups` (input to head, for
discriminative learning rates and gradual unfreezing).

The package: :mod:`.base` (the base class), :mod:`.blocks` (layers several families share), one module per
family (:mod:`.paper`, :mod:`.benchmark`, :mod:`.edge`), :mod:`.ensemble` (logit averages of trained models)
and :mod:`.registry` (names -> constructors; :func:`build_model`). Checkpoints name an architecture by its
registry name only, so a module may move without breaking a saved model.
"""

from .base import ADAPT_MODES, ECGModel, count_parameters
from .ensemble import Ensemble
from .registry import MODELS, ModelInfo, build_model, describe, list_models

__all__ = [
    "ADAPT_MODES", "MODELS", "ECGModel", "Ensemble", "ModelInfo", "build_model", "count_parameters", "describe",
    "list_models",
]
