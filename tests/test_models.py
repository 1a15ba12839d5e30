"""The model zoo: every registered architecture builds, runs at any length, transfers and exports to ONNX.

The ONNX tests export with symbolic batch and time axes and check it in the graph: torch's exporter
falls back to the example's fixed shape, without an error, when torch.export cannot keep a Dim dynamic.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from ecgedge.errors import EcgedgeError  # noqa: E402
from ecgedge.export.torch_export import export_context, export_dynamic_shapes  # noqa: E402
from ecgedge.training.models import (  # noqa: E402
    MODELS,
    ECGModel,
    build_model,
    count_parameters,
    list_models,
)

NAMES = list_models()
EXPECTED = [
    "resnet1d18", "resnet1d34", "resnet1d50", "attresnet1d", "lstm", "crnn_lstm", "crnn_gru", "transformer",
    "resnet_transformer", "vgg1d", "alexnet1d", "eegnet", "xresnet1d50", "xresnet1d101", "inception1d",
    "resnet1d_wang", "fcn_wang", "mobilenet1d",
]


@pytest.fixture(autouse=True)
def _threads():
    old = torch.get_num_threads()
    torch.set_num_threads(min(2, old))
    yield
    torch.set_num_threads(old)


def _build(name: str, leads: int = 12, classes: int = 5, **kwargs) -> ECGModel:
    torch.manual_seed(0)
    return build_model(name, leads=leads, classes=classes, **kwargs)


def _input_weight(layer: torch.nn.Module) -> torch.Tensor:
    return layer.weight_ih_l0 if isinstance(layer, (torch.nn.LSTM, torch.nn.GRU)) else layer.weight


def _check_groups(model: ECGModel) -> list[list[torch.nn.Parameter]]:
    groups = model.layer_groups()
    ids = [id(p) for g in groups for p in g]
    assert all(groups), "an empty layer group"
    assert len(ids) == len(set(ids)), "a parameter in two groups"
    assert set(ids) == {id(p) for p in model.parameters()}, "a parameter in no group"
    assert [id(p) for p in groups[-1]] == [id(p) for p in model.head.parameters()], "the head is not the last group"
    return groups


# -- registry --------------------------------------------------------------------------------------


def test_registry_names_and_info():
    assert NAMES == EXPECTED
    for name, info in MODELS.items():
        assert info.name == name and info.family and info.description and info.source and callable(info.build)
    assert set(list_models("recurrent")) == {"lstm", "crnn_lstm", "crnn_gru"}


def test_unknown_model_lists_valid_names():
    with pytest.raises(EcgedgeError, match="unknown model 'resnet1d19'") as e:
        build_model("resnet1d19", leads=12, classes=5)
    assert e.value.fix and all(n in e.value.fix for n in NAMES)
    assert "resnet1d18" in str(e.value)


def test_bad_options_are_user_errors():
    with pytest.raises(EcgedgeError, match="unknown option.*widht") as e:
        build_model("resnet1d18", leads=12, classes=5, widht=32)
    assert "width" in e.value.fix
    with pytest.raises(EcgedgeError, match="shorter than the model's minimum"):
        build_model("vgg1d", leads=12, classes=5, window=16)
    with pytest.raises(EcgedgeError, match="at least 1 lead"):
        build_model("fcn_wang", leads=0, classes=5)
    with pytest.raises(EcgedgeError, match="unknown lead adaptation mode"):
        _build("fcn_wang").adapt_input(1, mode="sum")


def test_mobilenet_is_small_and_scales_with_width():
    small = count_parameters(_build("mobilenet1d"))
    assert small < 500_000
    assert count_parameters(_build("mobilenet1d", width=0.5)) < small
    assert count_parameters(_build("mobilenet1d", width=1.5)) > small


def test_options_reach_the_model():
    assert count_parameters(_build("resnet1d18", width=32)) < count_parameters(_build("resnet1d18"))
    assert _build("transformer", fs=500.0).patch == 50 and _build("transformer").patch == 10
    assert _build("eegnet", fs=500.0).temporal[0].kernel_size == (1, 251)
    assert _build("inception1d").blocks[0].convs[0].kernel_size == (39,)


# -- every model: shapes, lengths, transfer ---------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_model_forward_and_transfer(name):
    model = _build(name).eval()
    with torch.no_grad():
        for shape in [(2, 12, 1000), (2, 12, 750), (1, 12, 1000), (1, 12, model.min_length)]:
            y = model(torch.randn(*shape))
            assert y.shape == (shape[0], 5) and y.dtype == torch.float32, shape
            assert torch.isfinite(y).all(), shape

    groups = _check_groups(model)
    assert 4 <= len(groups) <= 6

    # a training step reaches the first layer
    model.train()
    model(torch.randn(2, 12, 500)).square().mean().backward()
    grad = _input_weight(model.input_layer()).grad
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0
    model.zero_grad()

    model.reset_head(3)
    model.eval()
    with torch.no_grad():
        assert model(torch.randn(2, 12, 1000)).shape == (2, 3)

    model.adapt_input(1)
    assert model.leads == 1
    with torch.no_grad():
        y = model(torch.randn(2, 1, 1000))
    assert y.shape == (2, 3) and torch.isfinite(y).all()
    _check_groups(model)

    # what a checkpoint of the adapted model rebuilds: the same architecture built for 1 lead, 3 classes
    fresh = build_model(name, leads=1, classes=3)
    fresh.load_state_dict(model.state_dict())  # strict: same keys and shapes
    fresh.eval()
    x = torch.randn(1, 1, 800)
    with torch.no_grad():
        torch.testing.assert_close(fresh(x), model(x))


def test_adapt_input_modes():
    base = _build("resnet1d18")
    w = base.input_layer().weight.detach().clone()  # [64, 12, 15]

    m = _build("resnet1d18")
    m.adapt_input(2, mode="mean")
    new = m.input_layer().weight
    assert new.shape == (64, 2, 15)
    torch.testing.assert_close(new[:, 0], w.mean(1))
    torch.testing.assert_close(new[:, 1], w.mean(1))

    m = _build("resnet1d18")
    m.adapt_input(3, mode="first")
    torch.testing.assert_close(m.input_layer().weight, w[:, :3])

    one = _build("resnet1d18")
    one.adapt_input(1, mode="first")
    one.adapt_input(4, mode="repeat")  # 1 -> 4: every lead gets lead I's filter
    torch.testing.assert_close(one.input_layer().weight, w[:, :1].expand(-1, 4, -1))

    m = _build("resnet1d18")
    m.adapt_input(14, mode="first")  # more leads than before: the extra ones get the mean
    torch.testing.assert_close(m.input_layer().weight[:, :12], w)
    torch.testing.assert_close(m.input_layer().weight[:, 13], w.mean(1))

    # the rest of the network is untouched, and the new layer is trainable
    torch.testing.assert_close(m.head.weight, base.head.weight)
    assert m.input_layer().weight.requires_grad


@pytest.mark.parametrize("name,kwargs,layers", [
    ("lstm", {"downsample": 1}, 1),  # the LSTM reads the leads
    ("eegnet", {}, 1),  # the depthwise spatial Conv2d spans the leads
    ("inception1d", {}, 3),  # the first module's bottleneck and pool branch, and the first shortcut
    ("resnet1d_wang", {}, 2),  # the first block and its shortcut
])
def test_adapt_input_of_other_first_layers(name, kwargs, layers):
    model = _build(name, **kwargs).eval()
    assert len(model._input_paths) == layers
    old = _input_weight(model.input_layer()).detach().clone()
    model.adapt_input(3, mode="mean")
    new = _input_weight(model.input_layer())
    lead_dim = 2 if name == "eegnet" else 1
    assert new.shape[lead_dim] == 3
    torch.testing.assert_close(new.select(lead_dim, 2), old.mean(lead_dim))
    with torch.no_grad():
        assert model(torch.randn(2, 3, 500)).shape == (2, 5)


def test_lstm_groups_split_the_recurrent_layers():
    model = _build("lstm")
    groups = _check_groups(model)
    assert len(groups) == 4  # conv front end, LSTM layer 1, LSTM layer 2, head


# -- ONNX export -----------------------------------------------------------------------------------


def _realistic_batchnorm(model: ECGModel) -> None:
    """Non-trivial BatchNorm affine parameters and running statistics (fresh ones are 1/0 and hide export
    bugs), set the way training would: a few train-mode passes with a cumulative average."""
    gen = torch.Generator().manual_seed(1)
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    with torch.no_grad():
        for bn in bns:
            # residual branches' last BN starts at 0 (zero-init): give it a small scale, as after training
            lo, hi = (0.1, 0.3) if getattr(bn, "_zero_init", False) else (0.5, 1.0)
            bn.weight.copy_(torch.rand(bn.weight.shape, generator=gen) * (hi - lo) + lo)
            bn.bias.copy_(torch.randn(bn.bias.shape, generator=gen) * 0.05)
            bn.reset_running_stats()
            bn.momentum = None
        model.train()
        for _ in range(2):
            model(torch.randn(8, model.leads, 500, generator=gen))
        for bn in bns:
            bn.momentum = 0.1
    model.eval()


def _symbolic(dim) -> bool:
    return dim.dim_param != "" and not dim.dim_param.isdigit() and not dim.HasField("dim_value")


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::FutureWarning", "ignore:The tensor attributes:UserWarning")
@pytest.mark.parametrize("name", NAMES)
def test_onnx_export_dynamic_batch_and_time(name, tmp_path):
    model = _build(name)
    _realistic_batchnorm(model)
    path = tmp_path / f"{name}.onnx"
    example = torch.randn(2, 12, 500, generator=torch.Generator().manual_seed(2))
    with export_context():
        torch.onnx.export(model, (example,), str(path), dynamo=True, opset_version=18,
                          dynamic_shapes=export_dynamic_shapes(model), input_names=["ecg"], output_names=["logits"],
                          external_data=False, verbose=False)

    graph = onnx.load(str(path)).graph
    (inp,) = graph.input
    (out,) = graph.output
    b, leads, t = inp.type.tensor_type.shape.dim
    assert _symbolic(b), f"batch axis was fixed: {b}"
    assert _symbolic(t), f"time axis was fixed: {t}"
    assert leads.dim_value == 12
    ob, oc = out.type.tensor_type.shape.dim
    assert _symbolic(ob) and oc.dim_value == 5

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    gen = torch.Generator().manual_seed(3)
    for shape in [(1, 12, 1000), (2, 12, 640)]:  # neither the example's batch nor its length
        x = torch.randn(*shape, generator=gen)
        got = sess.run(["logits"], {"ecg": x.numpy()})[0]
        with torch.no_grad():
            want = model(x).numpy()
        assert got.shape == want.shape == (shape[0], 5)
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-4, err_msg=f"{name} at {shape}")


def test_ensemble_specs_are_checked():
    """The ensemble architecture: members built by name, averaged; bad member lists are one clear error each."""
    ens = build_model("ensemble", 12, 5, members=[{"arch": "mobilenet1d"}, {"arch": "eegnet", "kwargs": {}}])
    x = torch.randn(2, 12, 250)
    ens.eval()
    with torch.no_grad():
        torch.testing.assert_close(ens(x), (ens.members[0](x) + ens.members[1](x)) / 2)
    assert ens.min_length == max(m.min_length for m in ens.members)
    for bad, match in (([], "needs a list of members"), ([{"arch": "ensemble"}], "member 0 is not"),
                       ([{"arch": "mobilenet1d", "kwargs": [1]}], "member 0 is not"),
                       ([{"arch": "nope"}], "unknown model 'nope'")):
        with pytest.raises(EcgedgeError, match=match):
            build_model("ensemble", 12, 5, members=bad)
    with pytest.raises(EcgedgeError, match="unknown option"):
        build_model("ensemble", 12, 5, members=[{"arch": "eegnet"}], width=2)
