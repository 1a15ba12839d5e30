"""The registry of architectures, in the manner of timm: name -> constructor, family, description, source.

Checkpoints and recipes name an architecture by its registry name (and keyword arguments) only.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ...errors import EcgedgeError
from .base import ECGModel, count_parameters
from .benchmark import FCNWang, Inception1d, ResNetWang, XResNet1d
from .edge import MobileNet1d
from .ensemble import Ensemble
from .paper import AlexNet1d, AttResNet1d, CRNN1d, EEGNet, LSTMNet, ResNet1d, ResNetTransformer1d, TransformerECG, VGG1d


@dataclass(frozen=True)
class ModelInfo:
    """One registered architecture: ``build(leads, classes, fs, window, **kwargs) -> ECGModel``."""

    name: str
    build: Callable[..., ECGModel]
    family: str
    description: str
    source: str


MODELS: dict[str, ModelInfo] = {}

_PAPER = "Marques & Oliveira 2025, 'Are ECGs enough?'"
_BENCH = "Strodthoff et al. 2021, 'Deep learning for ECG analysis: benchmarks and insights from PTB-XL'"


def _register(name: str, cls: type[ECGModel], family: str, description: str, source: str,
              uses_fs: bool = False, **defaults) -> None:
    def build(leads: int, classes: int, fs: float = 100.0, window: int = 1000, **kwargs) -> ECGModel:
        kw = {**defaults, **kwargs}
        if uses_fs:
            kw.setdefault("fs", fs)
        return cls(leads, classes, **kw)

    build.__doc__ = f"{name}: {description}"
    build.cls = cls  # type: ignore[attr-defined]
    MODELS[name] = ModelInfo(name, build, family, description, source)


_register("resnet1d18", ResNet1d, "resnet", "1D ResNet-18: basic blocks [2,2,2,2], widths 64-512, stem kernel 15",
          _PAPER, layers=(2, 2, 2, 2))
_register("resnet1d34", ResNet1d, "resnet", "1D ResNet-34: basic blocks [3,4,6,3], widths 64-512, stem kernel 15",
          _PAPER, layers=(3, 4, 6, 3))
_register("resnet1d50", ResNet1d, "resnet",
          "1D ResNet-50: bottleneck blocks [3,4,6,3], widths 32-256 (x4 = 1024 features), stem kernel 15",
          _PAPER, layers=(3, 4, 6, 3), bottleneck=True, width=32)
_register("attresnet1d", AttResNet1d, "attention",
          "ResNet-18-1D + multi-head self-attention over time before pooling (AttResNet/HSMnet)", _PAPER)
_register("lstm", LSTMNet, "recurrent",
          "2-layer bidirectional LSTM (128 units) after two stride-2 convs (1/4 rate), avg+max pooled", _PAPER)
_register("crnn_lstm", CRNN1d, "recurrent", "ResNet-18-1D features, then a bidirectional LSTM over time", _PAPER,
          cell="lstm")
_register("crnn_gru", CRNN1d, "recurrent", "ResNet-18-1D features, then a bidirectional GRU over time", _PAPER,
          cell="gru")
_register("transformer", TransformerECG, "attention",
          "conv patch embedding (100 ms tokens), 4-layer transformer encoder (d=128), mean pool", _PAPER,
          uses_fs=True)
_register("resnet_transformer", ResNetTransformer1d, "attention",
          "ResNet-1D trunk (3 stages, 1/16 rate) then 2 transformer encoder layers (d=256), mean pool", _PAPER)
_register("vgg1d", VGG1d, "cnn", "VGG-16-style 3-tap conv stacks (32-256), max-pooling over time", _PAPER)
_register("alexnet1d", AlexNet1d, "cnn", "AlexNet in 1D: 5 convs (11/5/3 taps) with BN, two FC layers", _PAPER)
_register("eegnet", EEGNet, "cnn",
          "EEGNet: temporal conv, depthwise conv across leads, separable conv (tiny)", _PAPER, uses_fs=True)
_register("xresnet1d50", XResNet1d, "resnet",
          "bag-of-tricks xresnet1d50 [3,4,6,3], 5-tap, width 0.25 (width=1 is the benchmark's size)", _BENCH,
          layers=(3, 4, 6, 3))
_register("xresnet1d101", XResNet1d, "resnet",
          "bag-of-tricks xresnet1d101 [3,4,23,3], 5-tap, width 0.25 (width=1 is the benchmark's size)", _BENCH,
          layers=(3, 4, 23, 3))
_register("inception1d", Inception1d, "cnn",
          "InceptionTime: 6 modules (39/19/9-tap + max-pool branch, 32 filters each), residual every 3", _BENCH,
          uses_fs=True)
_register("resnet1d_wang", ResNetWang, "resnet",
          "Wang et al. 2017 ResNet: 3 blocks of 7/5/3-tap convs (64/128/128), full rate", _BENCH)
_register("fcn_wang", FCNWang, "cnn", "Wang et al. 2017 FCN: 7/5/3-tap convs (128/256/128), global pooling", _BENCH)
_register("mobilenet1d", MobileNet1d, "edge",
          "MobileNetV3-style depthwise-separable inverted residuals + squeeze-excitation, < 0.5 M parameters",
          "ecgedge (after Howard et al. 2019, MobileNetV3)")


def list_models(family: str | None = None) -> list[str]:
    """Registered model names (of one ``family`` if given), in registry order."""
    return [n for n, m in MODELS.items() if family is None or m.family == family]


def _accepted(cls: type) -> list[str]:
    params = inspect.signature(cls.__init__).parameters
    return [p for p in params if p not in ("self", "leads", "classes")]


def build_model(name: str, leads: int, classes: int, fs: float = 100.0, window: int = 1000, **kwargs) -> ECGModel:
    """Build a registered architecture for ``leads`` input leads and ``classes`` outputs.

    ``fs`` (Hz) sets the time scale of models whose kernels are defined in seconds (eegnet, inception1d,
    transformer); ``window`` (samples) is checked against the model's ``min_length``. ``kwargs`` go to
    the model (e.g. ``width``, ``dropout``).
    """
    info = MODELS.get(name)
    if name != "ensemble" and info is None:
        raise EcgedgeError(f"unknown model {name!r}", where="model.arch",
                           fix=f"valid names: {', '.join(MODELS)}")
    if int(leads) < 1 or int(classes) < 1:
        raise EcgedgeError(f"{name}: needs at least 1 lead and 1 class, got leads={leads}, classes={classes}")
    if not fs or fs <= 0:
        raise EcgedgeError(f"{name}: sampling rate must be positive, got {fs}")
    if name == "ensemble":
        if set(kwargs) - {"members"}:
            raise EcgedgeError(f"ensemble: unknown option(s) {', '.join(sorted(set(kwargs) - {'members'}))}",
                               where="model.kwargs", fix="an ensemble takes only members")
        model = Ensemble(int(leads), int(classes), fs=float(fs), **kwargs)
        if window < model.min_length:
            raise EcgedgeError(f"ensemble: a window of {window} samples is shorter than a member's minimum "
                               f"{model.min_length}", fix=f"use a window of at least {model.min_length} samples")
        return model
    cls = info.build.cls  # type: ignore[attr-defined]
    unknown = sorted(set(kwargs) - set(_accepted(cls)))
    if unknown:
        raise EcgedgeError(f"{name}: unknown option(s) {', '.join(unknown)}", where="model.kwargs",
                           fix=f"{name} accepts {', '.join(a for a in _accepted(cls) if a != 'fs')}")
    model = info.build(int(leads), int(classes), fs=float(fs), window=int(window), **kwargs)
    if window < model.min_length:
        raise EcgedgeError(f"{name}: a window of {window} samples is shorter than the model's minimum "
                           f"{model.min_length}", fix=f"use a window of at least {model.min_length} samples")
    return model


def describe(names: Iterable[str] | None = None, leads: int = 12, classes: int = 5) -> list[tuple[str, int, str]]:
    """``(name, parameters, description)`` for each model built at ``leads`` x ``classes``."""
    return [(n, count_parameters(build_model(n, leads, classes)), MODELS[n].description)
            for n in (names or MODELS)]
