"""TensorRT engines.

Building is :mod:`ecgedge.export.tensorrt` (``T``), loading and running :mod:`ecgedge.runtime.trt` (``R``).
The first part runs everywhere: what happens without TensorRT (an EcgedgeError, never an ImportError), the
output-path and sidecar logic, the ONNX inspection and the precision plan. The second part needs TensorRT and
a GPU (skipped otherwise): it builds FP32 and FP16 engines from an exported model and compares them with
onnxruntime. ecgedge's own machines have neither, so the second part has not been run there.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
import types

import numpy as np
import pytest

from ecgedge.contract import InputContract
from ecgedge.dsp.pipeline import Preprocessing
from ecgedge.errors import EcgedgeError
from ecgedge.export import tensorrt as T
from ecgedge.runtime import trt as R

CLASSES = ("NORM", "MI", "STTC", "CD", "HYP")


def _contract(window: int = 250) -> InputContract:
    return InputContract(classes=CLASSES, preprocessing=Preprocessing(fs=100.0, window=window))


def _tiny_onnx(path, *, leads=12, kind="float", batch="batch", time="time", two_inputs=False):
    """A small valid ONNX classifier ``ecg [batch, leads, time] -> logits [batch, 5]`` built by hand:
    global average pool over time, then a matrix product; ``kind`` adds Q/DQ (int8 or uint8) or FP16."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    x = helper.make_tensor_value_info("ecg", TensorProto.FLOAT, [batch, leads, time])
    y = helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, 5])
    rng = np.random.default_rng(0)
    rows = leads if isinstance(leads, int) else 12
    w = rng.standard_normal((rows, 5)).astype(np.float16 if kind == "fp16" else np.float32)
    inits = [numpy_helper.from_array(w, "w")]
    nodes = [helper.make_node("GlobalAveragePool", ["ecg"], ["pooled"], name="pool"),
             helper.make_node("Flatten", ["pooled"], ["flat"], name="flatten")]
    if kind == "float":
        nodes.append(helper.make_node("MatMul", ["flat", "w"], ["logits"], name="head"))
    elif kind == "fp16":
        nodes += [helper.make_node("Cast", ["flat"], ["flat16"], to=TensorProto.FLOAT16, name="to16"),
                  helper.make_node("MatMul", ["flat16", "w"], ["logits16"], name="head"),
                  helper.make_node("Cast", ["logits16"], ["logits"], to=TensorProto.FLOAT, name="to32")]
    else:  # "int8" (symmetric, zero point 0) or "uint8" (onnxruntime's CPU flavour: asymmetric activations)
        zp = np.array(0, np.int8) if kind == "int8" else np.array(128, np.uint8)
        inits += [numpy_helper.from_array(np.array(0.05, np.float32), "s"), numpy_helper.from_array(zp, "zp")]
        nodes += [helper.make_node("QuantizeLinear", ["flat", "s", "zp"], ["q"], name="quant"),
                  helper.make_node("DequantizeLinear", ["q", "s", "zp"], ["dq"], name="dequant"),
                  helper.make_node("MatMul", ["dq", "w"], ["logits"], name="head")]
    inputs = [x]
    if two_inputs:
        inputs.append(helper.make_tensor_value_info("extra", TensorProto.FLOAT, [1]))
    graph = helper.make_graph(nodes, "tiny", inputs, [y], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.save(model, str(path))
    return path


@pytest.fixture(autouse=True)
def _own_trust_list(monkeypatch, tmp_path):
    """Engines built here are recorded in a trust list of the test's own, not the user's."""
    monkeypatch.setenv("ECGEDGE_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def no_tensorrt(monkeypatch):
    """Make ``import tensorrt`` fail here even where TensorRT is installed."""
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    monkeypatch.setattr(R, "_LOGGER", None)


# -- without TensorRT ----------------------------------------------------------------------------------


def test_tensorrt_available_says_why_not_here():
    if importlib.util.find_spec("tensorrt") is not None:
        pytest.skip("TensorRT is installed on this machine")
    ok, why = T.tensorrt_available()
    assert ok is False
    assert "TensorRT is not installed" in why


def test_missing_tensorrt_is_an_ecgedge_error(no_tensorrt, tmp_path):
    ok, why = T.tensorrt_available()
    assert not ok and "not installed" in why
    src = _tiny_onnx(tmp_path / "m.onnx")
    out = tmp_path / "m.engine"
    with pytest.raises(EcgedgeError) as err:
        T.build_engine(src, out, precision="fp16", contract_json=_contract().to_json())
    assert not isinstance(err.value, ImportError)
    assert "TensorRT is not installed" in err.value.message
    assert "--target onnx" in err.value.fix and "JetPack" in err.value.fix
    assert not out.exists() and not (tmp_path / "m.engine.json").exists()
    # loading a (trusted) engine without TensorRT: the same clear error (after the sidecar is found)
    out.write_bytes(b"\0" * 16)
    T._write_sidecar(str(out) + ".json", {"format": R.FORMAT, "contract": _contract().to_dict(),
                                           "tensorrt_version": "10.3.0", "input_name": "ecg", "output_name": "logits"})
    with pytest.raises(EcgedgeError, match="TensorRT is not installed"):
        R.TensorRTEngine(out, trust=True)


def _foreign_engine(tmp_path):
    """An engine file with a valid sidecar that this machine's export did not write."""
    out = tmp_path / "foreign.engine"
    out.write_bytes(b"plugin code could live here" * 4)
    T._write_sidecar(str(out) + ".json", {"format": R.FORMAT, "contract": _contract().to_dict(),
                                           "tensorrt_version": "10.3.0", "input_name": "ecg", "output_name": "logits"})
    return out


def test_foreign_engine_is_refused_before_tensorrt_is_touched(tmp_path, monkeypatch):
    """An engine can carry plugin code: without trust it is refused before TensorRT is imported (no TensorRT
    needed for this test), in one line that names the file and both ways out."""
    out = _foreign_engine(tmp_path)

    def no_import():
        raise AssertionError("TensorRT was imported for an untrusted engine")

    monkeypatch.setattr(R, "import_trt", no_import)
    with pytest.raises(EcgedgeError) as err:
        R.TensorRTEngine(out)
    msg = str(err.value)
    assert "refusing to load a TensorRT engine" in msg and "can run code" in msg and str(out) in msg
    assert "--trust-model" in msg and "export it again here" in msg and "\n" not in msg
    with pytest.raises(AssertionError, match="was imported"):  # trusted: goes on to TensorRT
        R.TensorRTEngine(out, trust=True)
    # recorded by this machine's export: loads without being asked
    from ecgedge import trust

    trust.record(trust.sha256_file(out), "tensorrt", out)
    with pytest.raises(AssertionError, match="was imported"):
        R.TensorRTEngine(out)
    # changed after export: refused again
    out.write_bytes(out.read_bytes() + b"!")
    with pytest.raises(EcgedgeError, match="refusing to load"):
        R.TensorRTEngine(out)


def test_foreign_engine_refused_by_the_cli(tmp_path, data):
    from conftest import run_cli

    out = _foreign_engine(tmp_path)
    rec = data / "ptb-xl" / "records100" / "00000" / "00001_lr.hea"
    for cmd in (["infer", str(rec), "--model", str(out)], ["bench", str(out), "--no-accuracy", "-o", str(tmp_path)]):
        r = run_cli(*cmd, env={"ECGEDGE_CACHE": str(tmp_path / "cache")})
        text = r.stderr if cmd[0] == "infer" else r.stdout + r.stderr
        assert "Traceback" not in r.stderr and "refusing to load a TensorRT engine" in text, r.stderr
        if cmd[0] == "infer":
            assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1


def _fake_tensorrt(version: str, builder_error: bool = True) -> types.ModuleType:
    fake = types.ModuleType("tensorrt")
    fake.__version__ = version

    class ILogger:
        class Severity:
            INTERNAL_ERROR, ERROR, WARNING, INFO, VERBOSE = range(5)

        def __init__(self):
            pass

    def Builder(logger):  # what TensorRT does without a GPU: log, then pybind's nullptr error
        logger.log(ILogger.Severity.ERROR, "CUDA initialization failure with error: 100")
        if builder_error:
            raise TypeError("pybind11::init(): factory function returned nullptr")
        return object()

    fake.ILogger, fake.Builder = ILogger, Builder
    return fake


def test_no_gpu_and_too_old_tensorrt_are_reported(monkeypatch, tmp_path):
    monkeypatch.setattr(R, "_LOGGER", None)
    monkeypatch.setitem(sys.modules, "tensorrt", _fake_tensorrt("10.3.0"))
    ok, why = T.tensorrt_available()
    assert not ok and "no usable CUDA device" in why and "error: 100" in why
    src = _tiny_onnx(tmp_path / "m.onnx")
    with pytest.raises(EcgedgeError, match="cannot create a builder"):
        T.build_engine(src, tmp_path / "m.engine", contract_json=_contract().to_json())
    monkeypatch.setattr(R, "_LOGGER", None)
    monkeypatch.setitem(sys.modules, "tensorrt", _fake_tensorrt("8.2.1"))
    ok, why = T.tensorrt_available()
    assert not ok and "too old" in why
    with pytest.raises(EcgedgeError) as err:
        T.build_engine(src, tmp_path / "m.engine", contract_json=_contract().to_json())
    assert "trtexec" in err.value.fix


def test_build_engine_checks_arguments_first(no_tensorrt, tmp_path):
    src = _tiny_onnx(tmp_path / "m.onnx")
    c = _contract().to_json()
    with pytest.raises(EcgedgeError, match="unknown precision"):
        T.build_engine(src, tmp_path / "m.engine", precision="int4", contract_json=c)
    with pytest.raises(EcgedgeError, match="min <= opt <= max"):
        T.build_engine(src, tmp_path / "m.engine", batch=(4, 2, 8), contract_json=c)
    with pytest.raises(EcgedgeError, match=r"\(min, opt, max\)"):
        T.build_engine(src, tmp_path / "m.engine", time=(64, 250), contract_json=c)
    with pytest.raises(EcgedgeError, match="workspace_mb"):
        T.build_engine(src, tmp_path / "m.engine", workspace_mb=1, contract_json=c)
    with pytest.raises(EcgedgeError, match="contract"):
        T.build_engine(src, tmp_path / "m.engine", contract_json="[]")
    (tmp_path / "m.engine").write_bytes(b"old")
    with pytest.raises(EcgedgeError, match="already exist"):
        T.build_engine(src, tmp_path / "m.engine", contract_json=c)
    assert (tmp_path / "m.engine").read_bytes() == b"old"


def test_check_output_paths(tmp_path):
    out = tmp_path / "sub" / "m.engine"
    assert T._check_output_paths(out, force=False) == (out, tmp_path / "sub" / "m.engine.json")
    out.parent.mkdir()
    (tmp_path / "sub" / "m.engine.json").write_text("{}")  # a sidecar alone blocks too
    with pytest.raises(EcgedgeError, match=r"m\.engine\.json already exist"):
        T._check_output_paths(out, force=False)
    out.write_bytes(b"x")
    with pytest.raises(EcgedgeError, match="already exist") as err:
        T._check_output_paths(out, force=False)
    assert "force" in err.value.fix
    assert T._check_output_paths(out, force=True)[0] == out
    with pytest.raises(EcgedgeError, match="folder"):
        T._check_output_paths(tmp_path / "sub", force=True)


def test_sidecar_round_trip(tmp_path):
    engine = tmp_path / "m.fp16.engine"
    engine.write_bytes(b"plan")
    meta = {"format": R.FORMAT, "contract": _contract().to_dict(), "tensorrt_version": "10.3.0", "precision": "fp16",
            "profile": {"input": "ecg", "batch": [1, 8, 64], "time": [64, 250, 1000]}, "device": "Orin",
            "input_name": "ecg", "output_name": "logits"}
    T._write_sidecar(str(engine) + ".json", meta)
    assert R._read_sidecar(engine) == json.loads(json.dumps(meta))
    from ecgedge.artifact import read_info  # the torch-free reader the runtime uses

    info = read_info(engine)
    assert info.kind == "tensorrt" and info.precision == "fp16" and info.contract == _contract()
    with pytest.raises(ValueError):
        T._write_sidecar(str(engine) + ".json", {"format": "other"})
    side = tmp_path / "m.fp16.engine.json"
    side.write_text(json.dumps({**meta, "format": "ecgedge-pt2"}))
    with pytest.raises(EcgedgeError, match="not 'ecgedge-tensorrt'"):
        R._read_sidecar(engine)
    side.write_text(json.dumps({k: v for k, v in meta.items() if k != "tensorrt_version"}))
    with pytest.raises(EcgedgeError, match="lacks 'tensorrt_version'"):
        R._read_sidecar(engine)
    side.write_text("{oops")
    with pytest.raises(EcgedgeError, match="not readable JSON"):
        R._read_sidecar(engine)
    side.unlink()
    with pytest.raises(EcgedgeError, match="no sidecar"):
        R._read_sidecar(engine)


def test_inspect_onnx(tmp_path):
    info = T.inspect_onnx(_tiny_onnx(tmp_path / "f.onnx"))
    assert (info.input_name, info.output_name, info.leads) == ("ecg", "logits", 12)
    assert info.batch_dim is None and info.time_dim is None and info.input_dtype == "float32"
    assert info.qdq_nodes == 0 and not info.fp16
    assert info.opset == 18
    q = T.inspect_onnx(_tiny_onnx(tmp_path / "q.onnx", kind="int8"))
    assert q.qdq_nodes == 2 and q.asymmetric == [] and not q.fp16
    u = T.inspect_onnx(_tiny_onnx(tmp_path / "u.onnx", kind="uint8"))
    assert u.qdq_nodes == 2 and u.asymmetric == ["quant", "dequant"]
    h = T.inspect_onnx(_tiny_onnx(tmp_path / "h.onnx", kind="fp16"))
    assert h.fp16 and h.qdq_nodes == 0
    fixed = T.inspect_onnx(_tiny_onnx(tmp_path / "x.onnx", leads=8, batch=1, time=250))
    assert (fixed.leads, fixed.batch_dim, fixed.time_dim) == (8, 1, 250)
    with pytest.raises(EcgedgeError, match="symbolic lead axis"):
        T.inspect_onnx(_tiny_onnx(tmp_path / "s.onnx", leads="leads"))
    with pytest.raises(EcgedgeError, match="2 inputs"):
        T.inspect_onnx(_tiny_onnx(tmp_path / "two.onnx", two_inputs=True))
    (tmp_path / "bad.onnx").write_bytes(b"\xff\x00 definitely not protobuf")
    with pytest.raises(EcgedgeError, match="not a readable ONNX file"):
        T.inspect_onnx(tmp_path / "bad.onnx")
    with pytest.raises(EcgedgeError, match="not found"):
        T.inspect_onnx(tmp_path / "missing.onnx")


def test_tiny_onnx_is_valid(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    for kind in ("float", "fp16", "int8"):
        sess = ort.InferenceSession(str(_tiny_onnx(tmp_path / f"{kind}.onnx", kind=kind)),
                                    providers=["CPUExecutionProvider"])
        (y,) = sess.run(None, {"ecg": np.ones((3, 12, 100), np.float32)})
        assert y.shape == (3, 5)


def _info(**kw) -> T.OnnxInfo:
    base = {"input_name": "ecg", "output_name": "logits", "leads": 12, "batch_dim": None, "time_dim": None,
            "input_dtype": "float32"}
    return T.OnnxInfo(**{**base, **kw})


@pytest.mark.parametrize(("version", "precision", "onnx", "strong", "expect"), [
    # TensorRT 10: FP32 ONNX stays weakly typed; FP16 from it by flag; typed ONNX -> strongly typed, no flags
    ("10.3.0", "fp32", {}, None, (False, ())),
    ("10.3.0", "fp16", {}, None, (False, ("FP16",))),
    ("10.3.0", "fp16", {"fp16": True}, None, (True, ())),
    ("10.3.0", "int8", {"qdq_nodes": 4}, None, (True, ())),
    ("10.3.0", "int8", {"qdq_nodes": 4}, False, (False, ("INT8",))),
    ("10.3.0", "fp16", {"fp16": True}, False, (False, ("FP16",))),
    ("10.13.2", "fp32", {}, True, (True, ())),
    # TensorRT 11: always strongly typed, never a precision flag
    ("11.0.0", "fp32", {}, None, (True, ())),
    ("11.1.0", "fp16", {"fp16": True}, None, (True, ())),
    ("11.1.0", "int8", {"qdq_nodes": 2}, None, (True, ())),
    # TensorRT 8.5-9: weak typing only
    ("8.6.1", "fp16", {}, None, (False, ("FP16",))),
    ("8.6.1", "fp16", {"fp16": True}, None, (False, ("FP16",))),
    ("8.6.1", "int8", {"qdq_nodes": 2}, None, (False, ("INT8",))),
])
def test_plan_precision(version, precision, onnx, strong, expect):
    assert T.plan_precision(version, precision, _info(**onnx), strong) == expect


@pytest.mark.parametrize(("version", "precision", "onnx", "strong", "match"), [
    ("10.3.0", "int8", {}, None, "Q/DQ nodes"),
    ("11.0.0", "int8", {}, None, "Q/DQ nodes"),
    ("10.3.0", "int8", {"qdq_nodes": 2, "asymmetric": ["q"]}, None, "symmetric signed INT8"),
    ("10.3.0", "fp16", {"qdq_nodes": 2}, None, "INT8 model"),
    ("10.3.0", "fp32", {"fp16": True}, None, "float16 tensors"),
    ("11.0.0", "fp16", {}, None, "needs an FP16 ONNX"),
    ("10.3.0", "fp16", {}, True, "needs an FP16 ONNX"),
    ("11.0.0", "fp32", {}, False, "strongly typed networks only"),
    ("8.6.1", "fp32", {}, True, "TensorRT 10 or later"),
    ("10.3.0", "bf16", {}, None, "unknown precision"),
])
def test_plan_precision_refusals(version, precision, onnx, strong, match):
    with pytest.raises(EcgedgeError, match=match):
        T.plan_precision(version, precision, _info(**onnx), strong)


# -- with TensorRT and a GPU (not run on ecgedge's machines) --------------------------------------------


@pytest.fixture(scope="module")
def trt():
    trt = pytest.importorskip("tensorrt")
    ok, why = T.tensorrt_available()
    if not ok:
        pytest.skip(why)
    return trt


@pytest.fixture(scope="module")
def onnx_models(trt, tmp_path_factory):
    """mobilenet1d exported as FP32 ONNX (dynamic batch and time) and converted to FP16 (FP32 input/output)."""
    torch = pytest.importorskip("torch")
    onnx = pytest.importorskip("onnx")
    from onnxruntime.transformers.float16 import convert_float_to_float16

    from ecgedge.export.torch_export import export_context, export_dynamic_shapes
    from ecgedge.training.models import build_model

    torch.manual_seed(0)
    model = build_model("mobilenet1d", leads=12, classes=5, fs=100, window=250).eval()
    d = tmp_path_factory.mktemp("trt")
    fp32 = d / "m.fp32.onnx"
    with export_context():
        torch.onnx.export(model, (torch.randn(2, 12, 250),), str(fp32), dynamo=True, opset_version=18,
                          dynamic_shapes=export_dynamic_shapes(model), input_names=["ecg"], output_names=["logits"])
    fp16 = d / "m.fp16.onnx"
    onnx.save(convert_float_to_float16(onnx.load(str(fp32)), keep_io_types=True), str(fp16))
    return d, fp32, fp16


def _ort_logits(path, x):
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {"ecg": x})[0]


def _compare(engine_path, ref_onnx, atol, rtol=0.0):
    engine = R.TensorRTEngine(engine_path)
    rng = np.random.default_rng(0)
    for batch in (1, 3):
        for length in (250, 500):
            x = rng.standard_normal((batch, 12, length)).astype(np.float32)
            y = engine.run(x)
            assert y.shape == (batch, 5) and y.dtype == np.float32
            np.testing.assert_allclose(y, _ort_logits(ref_onnx, x), atol=atol, rtol=rtol)
    return engine


def test_fp32_engine_matches_onnxruntime(trt, onnx_models):
    d, fp32, _ = onnx_models
    info = T.build_engine(fp32, d / "m.fp32.engine", precision="fp32", batch=(1, 4, 8), time=(64, 250, 1000),
                          workspace_mb=512, contract_json=_contract().to_json(), force=True)
    assert info["bytes"] > 0 and info["tensorrt_version"] == trt.__version__
    meta = json.loads((d / "m.fp32.engine.json").read_text())
    assert meta["format"] == R.FORMAT and meta["precision"] == "fp32" and meta["input_name"] == "ecg"
    assert meta["profile"]["min"] == [1, 12, 64] and meta["profile"]["max"] == [8, 12, 1000]
    assert InputContract.from_dict(meta["contract"]) == _contract()
    _compare(d / "m.fp32.engine", fp32, atol=1e-3)


def test_fp16_engine_from_fp16_onnx(trt, onnx_models):
    d, fp32, fp16 = onnx_models
    info = T.build_engine(fp16, d / "m.fp16.engine", precision="fp16", batch=(1, 4, 8), time=(64, 250, 1000),
                          workspace_mb=512, contract_json=_contract().to_json(), force=True)
    assert info["strongly_typed"] == (R.version_tuple(trt.__version__)[0] >= 10)
    _compare(d / "m.fp16.engine", fp32, atol=5e-2, rtol=5e-2)


def test_fp16_flag_from_fp32_onnx(trt, onnx_models):
    if R.version_tuple(trt.__version__)[0] >= 11:
        pytest.skip("TensorRT 11 has no FP16 builder flag (strongly typed only)")
    d, fp32, _ = onnx_models
    info = T.build_engine(fp32, d / "m.fp16flag.engine", precision="fp16", batch=(1, 4, 8), time=(64, 250, 1000),
                          workspace_mb=512, contract_json=_contract().to_json(), force=True)
    assert info["strongly_typed"] is False and info["flags"] == ["FP16"]
    _compare(d / "m.fp16flag.engine", fp32, atol=5e-2, rtol=5e-2)


def test_engine_checks_shapes_and_versions(trt, onnx_models, tmp_path):
    d, fp32, _ = onnx_models
    path = tmp_path / "m.engine"
    T.build_engine(fp32, path, precision="fp32", batch=(1, 2, 4), time=(64, 250, 500), workspace_mb=512,
                   contract_json=_contract().to_json())
    with pytest.raises(EcgedgeError, match="already exist"):
        T.build_engine(fp32, path, precision="fp32", contract_json=_contract().to_json())
    engine = R.TensorRTEngine(path)
    assert engine.backend in ("torch", "cuda-python")
    with pytest.raises(EcgedgeError, match="outside the engine's profile"):
        engine.run(np.zeros((5, 12, 250), np.float32))
    with pytest.raises(EcgedgeError, match="outside the engine's profile"):
        engine.run(np.zeros((1, 12, 501), np.float32))
    with pytest.raises(EcgedgeError, match="leads"):
        engine.run(np.zeros((1, 8, 250), np.float32))
    with pytest.raises(EcgedgeError, match="Q/DQ"):
        T.build_engine(fp32, tmp_path / "i.engine", precision="int8", contract_json=_contract().to_json())
    other = tmp_path / "other.engine"
    shutil.copy(path, other)
    meta = json.loads((tmp_path / "m.engine.json").read_text())
    (tmp_path / "other.engine.json").write_text(json.dumps({**meta, "tensorrt_version": "9.9.9"}))
    with pytest.raises(EcgedgeError, match="not portable"):
        R.TensorRTEngine(other)


def test_engine_trust_rule(trt, onnx_models, tmp_path, monkeypatch):
    """An engine this machine's build_engine wrote loads; the same bytes under another trust list are refused
    unless trusted."""
    d, fp32, _ = onnx_models
    path = tmp_path / "t.engine"
    T.build_engine(fp32, path, precision="fp32", batch=(1, 2, 4), time=(64, 250, 500), workspace_mb=512,
                   contract_json=_contract().to_json())
    R.TensorRTEngine(path).close()
    monkeypatch.setenv("ECGEDGE_CACHE", str(tmp_path / "other-cache"))
    with pytest.raises(EcgedgeError, match="refusing to load a TensorRT engine"):
        R.TensorRTEngine(path)
    R.TensorRTEngine(path, trust=True).close()
