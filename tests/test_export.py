"""Export end to end on a model trained here: FP32 parity, calibrated INT8 through the accuracy gate, FP16,
the contract inside every artefact, profiles, and clear errors that leave nothing half-written."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from conftest import REPO, run_cli  # noqa: E402

from ecgedge.artifact import read_info  # noqa: E402
from ecgedge.errors import EcgedgeError  # noqa: E402
from ecgedge.export.pipeline import load_profile, options_from, run_export  # noqa: E402
from ecgedge.runtime.ort import session  # noqa: E402
from ecgedge.training.checkpoint import load_checkpoint  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::DeprecationWarning",
                                        "ignore:The tensor attributes:UserWarning")


def _symbolic(dim) -> bool:
    return not dim.HasField("dim_value") and dim.dim_param != ""


def test_fp32_int8_fp16_artefacts(tiny_run):
    ck = load_checkpoint(tiny_run["checkpoint"])
    for key in ("fp32", "int8", "fp16"):
        path = tiny_run[key]
        m = onnx.load(str(path))
        (inp,), (out,) = m.graph.input, m.graph.output
        b, leads, t = inp.type.tensor_type.shape.dim
        assert _symbolic(b) and _symbolic(t), f"{key}: an axis was specialised: {b} {t}"
        assert leads.dim_value == 12 and inp.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
        assert out.type.tensor_type.shape.dim[1].dim_value == 5
        info = read_info(path)
        assert info.contract == ck.contract, f"{key}: the contract did not travel"
        assert info.precision == key and info.meta["source"]["sha256"]
    ops8 = {n.op_type for n in onnx.load(str(tiny_run["int8"])).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops8
    assert os.path.getsize(tiny_run["int8"]) < 0.5 * os.path.getsize(tiny_run["fp32"])
    rep = tiny_run["report"]
    assert rep["artefacts"]["mobilenet1d.fp32.onnx"]["parity"] <= 1e-4
    (g8, g16) = rep["gate"]
    for g in (g8, g16):
        assert g["drop"] <= 0.005 and set(g["per_class"]) == set(ck.contract.classes)
        assert 0.5 < g["macro_auroc_fp32"] <= 1.0
    on_disk = json.loads((tiny_run["out"] / "export_report.json").read_text())
    assert on_disk["gate"][0]["macro_auroc"] == pytest.approx(g8["macro_auroc"])
    assert any("max |logit difference| vs PyTorch" in line for line in tiny_run["log"])
    assert not list(tiny_run["out"].parent.glob(".export.staging-*")), "staging folder left behind"


def test_onnx_runs_at_any_batch_and_length_and_matches_torch(tiny_run):
    ck = load_checkpoint(tiny_run["checkpoint"])
    model = ck.build_model()
    s32, s8 = session(tiny_run["fp32"], threads=1), session(tiny_run["int8"], threads=1)
    gen = np.random.default_rng(5)
    for shape in [(1, 12, 250), (3, 12, 500), (2, 12, 1000)]:
        x = gen.standard_normal(shape).astype(np.float32)
        with torch.no_grad():
            want = model(torch.from_numpy(x)).numpy()
        got = s32.run(None, {"ecg": x})[0]
        assert np.max(np.abs(got - want)) <= 1e-4
        q = s8.run(None, {"ecg": x})[0]
        assert q.shape == want.shape and np.isfinite(q).all()
        # INT8 stays close to FP32 in logit space on every input shape, not just the gate's windows
        assert np.corrcoef(q.ravel(), want.ravel())[0, 1] > 0.95


def test_info_prints_the_contract(tiny_run):
    r = run_cli("info", str(tiny_run["int8"]))
    assert r.returncode == 0, r.stderr
    for text in ("int8", "mobilenet1d", "CD, HYP, MI, NORM, STTC", "100 Hz", "window 250 samples", "band-pass 0.5-40",
                 "zscore", "accuracy check"):
        assert text in r.stdout, text
    j = json.loads(run_cli("info", str(tiny_run["checkpoint"]), "--json").stdout)
    assert j["kind"] == "checkpoint" and j["classes"] == ["CD", "HYP", "MI", "NORM", "STTC"]


def test_profiles_parse():
    names = sorted(p.stem for p in (REPO / "export").glob("*.toml"))
    assert names == ["cpu-int8", "desktop-gpu-fp16", "jetson-nano-fp16", "jetson-orin-int8"]
    o = options_from(load_profile("cpu-int8"))
    assert o.int8 and o.quant.flavour == "cpu" and o.targets == ["onnx"]
    o = options_from(load_profile("jetson-orin-int8"), calib_size=64)
    assert o.int8 and o.fp16 and o.quant.flavour == "tensorrt" and "tensorrt" in o.targets
    assert o.quant.calib_size == 64 and o.trt_batch == (1, 8, 64)
    o = options_from(load_profile("jetson-nano-fp16"))
    assert o.fp16 and not o.int8


def test_bad_profiles_and_options(tmp_path):
    bad = tmp_path / "p.toml"
    bad.write_text("[int8]\nflavor = 'cpu'\n")
    with pytest.raises(EcgedgeError, match="unknown key int8.flavor") as e:
        options_from(load_profile(bad))
    assert "flavour" in e.value.fix
    with pytest.raises(EcgedgeError, match="export profile not found") as e:
        load_profile("jetson-xavier")
    assert "cpu-int8" in e.value.fix
    with pytest.raises(EcgedgeError, match="unknown calibration method"):
        options_from(None, method="kl")
    with pytest.raises(EcgedgeError, match="unknown target"):
        options_from(None, targets=["onnx", "coreml"])
    # keep_float given as a string: node names split at commas ("auto" is the gate's setting, never a node list)
    assert options_from(None, keep_float="auto").quant.keep_float == []
    assert options_from(None, keep_float="auto").keep_float == "auto"
    assert options_from(None, keep_float="Conv_1, Relu_2").quant.keep_float == ["Conv_1", "Relu_2"]
    p = tmp_path / "k.toml"
    p.write_text("[int8]\nkeep_float = 'Conv_1,Conv_2'\n")
    assert options_from(load_profile(p)).quant.keep_float == ["Conv_1", "Conv_2"]
    p.write_text("[int8]\nkeep_float = 'auto'\n")
    with pytest.raises(EcgedgeError, match="gate setting") as e:
        options_from(load_profile(p))
    assert "[gate]" in e.value.fix


def test_existing_output_is_refused_and_kept(tiny_run, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    keep = out / "mobilenet1d.fp32.onnx"
    keep.write_bytes(b"precious")
    r = run_cli("export", str(tiny_run["checkpoint"]), "--out", str(out), env={"ECGEDGE_CACHE": str(tiny_run["cache"])})
    assert r.returncode == 2 and "already exist" in r.stderr and "--force" in r.stderr
    assert keep.read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"], "staging left behind"


def test_not_a_checkpoint(tmp_path):
    cases = {"text.safetensors": b"hello, I am not a checkpoint",
             "trunc.safetensors": b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\":"}
    for name, blob in cases.items():
        p = tmp_path / name
        p.write_bytes(blob)
        r = run_cli("export", str(p), "--out", str(tmp_path / "o"))
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
        assert name in r.stderr and "checkpoint" in r.stderr
    from safetensors.torch import save_file

    plain = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, str(plain), metadata={"author": "someone"})
    r = run_cli("export", str(plain), "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "not an ecgedge checkpoint" in r.stderr
    r = run_cli("info", str(plain))
    assert r.returncode == 2 and "not an ecgedge checkpoint" in r.stderr
    assert not (tmp_path / "o").exists()


def test_calibration_data_that_does_not_fit_the_contract(tiny_run, data, tmp_path):
    # MIT-BIH and Fantasia-style records have two to four leads; the model needs twelve
    folder = tmp_path / "two-lead"
    folder.mkdir()
    for name in ("100.hea", "100.dat", "test01_00s.hea", "test01_00s.dat"):
        (folder / name).symlink_to(data / "wfdb-examples" / name)
    r = run_cli("export", str(tiny_run["checkpoint"]), "--int8", "--calib", str(folder),
                "--out", str(tmp_path / "o"), env={"ECGEDGE_CACHE": str(tiny_run["cache"])}, timeout=300)
    assert r.returncode == 2, r.stderr
    assert "none of" in r.stderr and "lacks lead" in r.stderr and "calibration" in r.stderr
    assert not (tmp_path / "o").exists()


def _flat_records(folder, n=3):
    from ecgedge.io.wfdb_write import write_wfdb
    from ecgedge.simulate import simulated_ecg

    for i in range(n):
        s = simulated_ecg(seed=i)
        s.data[:] = 0.0
        write_wfdb(s, folder, f"flat{i}")


def test_gate_fails_on_bad_calibration_and_nothing_is_written(tiny_run, tmp_path):
    """Calibrating on flat records (all-zero windows) collapses the INT8 ranges: the gate must catch it."""
    _flat_records(tmp_path / "flat")
    out = tmp_path / "o"
    r = run_cli("export", str(tiny_run["checkpoint"]), "--int8", "--calib", str(tmp_path / "flat"), "--calib-size",
                "16", "--out", str(out), env={"ECGEDGE_CACHE": str(tiny_run["cache"])}, timeout=600)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "INT8 loses" in r.stderr and "gate" in r.stderr and "--allow-drop" in r.stderr
    assert not out.exists()
    r = run_cli("export", str(tiny_run["checkpoint"]), "--int8", "--calib", str(tmp_path / "flat"), "--calib-size",
                "16", "--out", str(out), "--allow-drop", env={"ECGEDGE_CACHE": str(tiny_run["cache"])}, timeout=600)
    assert r.returncode == 0, r.stderr
    gate = read_info(out / "mobilenet1d.int8.onnx").meta["gate"]
    assert gate["drop"] > 0.005  # written, and the drop is recorded in the artefact


def test_sensitivity_and_float_fallback(tiny_run, tmp_path):
    """The remedy's machinery: rank tensors by quantization noise, keep their layers in float, re-quantize."""
    from ecgedge.export import onnx_export as E
    from ecgedge.export import quantize as Q
    from ecgedge.export.pipeline import _search_float
    from ecgedge.export.windows import training_data

    ck = load_checkpoint(tiny_run["checkpoint"])
    calib, val = training_data(ck.meta, ck.contract, calib_size=64, log=lambda m: None)
    fp32 = E.export_fp32(ck.build_model(), calib[:4])
    with Q.workdir() as wd:
        pre = Q.preprocess(fp32, wd)
        qo = Q.QuantOptions(calib_size=64)
        bad = Q.quantize(pre, calib * 1e-3, qo, wd)  # ranges 1000x too small: saturates
        ranked = Q.sensitivity(pre, bad, calib, wd)
        assert ranked and ranked[0][1] <= ranked[-1][1]
        names = Q.node_names(pre)
        assert all(n in names for _, _, nodes in ranked for n in nodes)
        from ecgedge.export.pipeline import _eval

        p_ref = _eval(session(fp32, threads=1), val, ck.contract)
        opts = options_from(None, max_drop=1.0, threads=1)
        found = _search_float(pre, bad, calib * 1e-3, qo, wd, val, ck.contract, p_ref, opts, [], lambda m: None)
        assert found is not None
        nodes, row, model = found
        assert nodes and row["drop"] <= 1.0
        kept = {n.name for n in onnx.load_from_string(model).graph.node}
        assert set(nodes) <= kept


def test_unexportable_operator_is_named():
    from ecgedge.export.onnx_export import export_fp32

    class Odd(torch.nn.Module):
        min_length = 8

        def forward(self, x):
            return torch.linalg.eigvalsh(x @ x.transpose(1, 2))[:, :5]

    with pytest.raises(EcgedgeError, match="cannot be exported to ONNX") as e:
        export_fp32(Odd(), np.zeros((2, 12, 64), np.float32), "odd")
    assert "eigh" in str(e.value) or "linalg" in str(e.value)


def test_checkpoint_without_contract_or_arch(tmp_path):
    import json as _json

    from safetensors.torch import save_file

    for name, meta in (("nocontract", {"format": "ecgedge-checkpoint", "arch": "mobilenet1d"}),
                       ("badcontract", {"format": "ecgedge-checkpoint", "arch": "mobilenet1d",
                                        "contract": {"version": 1, "classes": []}})):
        p = tmp_path / f"{name}.safetensors"
        save_file({"w": torch.zeros(2)}, str(p), metadata={"ecgedge": _json.dumps(meta)})
        r = run_cli("export", str(p), "--out", str(tmp_path / "o"))
        assert r.returncode == 2 and "Traceback" not in r.stderr and "contract" in r.stderr, r.stderr
    assert not (tmp_path / "o").exists()


def test_tensorrt_flavour_is_symmetric_int8(tiny_run, tmp_path):
    """The Q/DQ that TensorRT's explicit quantization consumes: int8 activations and weights, zero points 0."""
    from onnx import numpy_helper

    out = tmp_path / "trt"
    run_export(tiny_run["checkpoint"], options_from(None, int8=True, flavour="tensorrt", out=str(out), threads=1,
                                                    calib_size=64), log=lambda m: None)
    m = onnx.load(str(out / "mobilenet1d.int8-trt.onnx"))
    inits = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    zps = [n.input[2] for n in m.graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear") and len(n.input) > 2]
    assert zps
    for z in zps:
        assert inits[z].dtype == np.int8 and not inits[z].any(), z
    assert read_info(out / "mobilenet1d.int8-trt.onnx").meta["flavour"] == "tensorrt"


@pytest.mark.parametrize("arch", ["xresnet1d50", "inception1d", "vgg1d"])
def test_time_pools_are_exported_as_1d_pools(arch):
    """The models pool over time as 2-D pools of height 1 (torch.export keeps the time axis symbolic that way); the
    exported graph has them as plain 1-D pools (no Unsqueeze/Squeeze around them), which onnxruntime's INT8
    channels-last path runs without transposes; the same logits as PyTorch at every length and batch."""
    from ecgedge.export.onnx_export import export_fp32
    from ecgedge.training.models.registry import build_model

    torch.manual_seed(0)
    model = build_model(arch, 12, 5).eval()
    with torch.no_grad():  # non-trivial batch-norm statistics, so that a wrong pool would show in the logits
        for mod in model.modules():
            if isinstance(mod, torch.nn.BatchNorm1d):
                mod.running_mean.uniform_(-0.2, 0.2)
                mod.running_var.uniform_(0.5, 2.0)
    gen = np.random.default_rng(0)
    m = onnx.load_from_string(export_fp32(model, gen.standard_normal((2, 12, 1000)).astype(np.float32), arch))
    pools = [n for n in m.graph.node if n.op_type in ("MaxPool", "AveragePool")]
    assert pools and not [n for n in m.graph.node if n.op_type in ("Unsqueeze", "Squeeze")]
    assert "AveragePool" not in {n.op_type for n in m.graph.node}  # xresnet's shortcuts: depthwise convolutions
    for n in pools:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
        assert len(attrs["kernel_shape"]) == 1 and len(attrs["pads"]) == 2, (n.name, attrs)
    onnx.checker.check_model(m)
    used = {i for n in m.graph.node for i in n.input}
    assert all(t.name in used for t in m.graph.initializer), "an unused initializer was left behind"
    s = session(m.SerializeToString(), threads=1)
    for shape in [(1, 12, 1000), (3, 12, 777), (2, 12, 251)]:
        x = gen.standard_normal(shape).astype(np.float32)
        with torch.no_grad():
            want = model(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(s.run(None, {"ecg": x})[0], want, atol=1e-4, rtol=1e-4)


def test_pool_rewrite_of_a_quantized_graph_changes_no_output(tmp_path, monkeypatch):
    """An INT8 file exported before the rewrite (2-D pool between Quantize/Dequantize pairs, stale 4-D shapes) is
    rewritten in place of its Unsqueeze/Squeeze (Identity), and every logit stays the same to the bit: what
    `benchmarks/retouch_model.py` relies on to speed up a shipped file without touching its card's figures."""
    from ecgedge.export import onnx_export as E
    from ecgedge.export.quantize import QuantOptions, preprocess, quantize
    from ecgedge.training.models.registry import build_model

    torch.manual_seed(1)
    model = build_model("xresnet1d50", 12, 5, width=0.125).eval()
    gen = np.random.default_rng(1)
    calib = (gen.standard_normal((32, 12, 1000)) * 0.3).astype(np.float32)
    monkeypatch.setattr(E, "one_dimensional_pools", lambda graph: 0)  # the export as it was before 2026-12-06
    old_fp32 = E.export_fp32(model, calib[:2], "xresnet1d50")
    monkeypatch.undo()
    pre = preprocess(old_fp32, str(tmp_path))
    old = quantize(pre, calib, QuantOptions(calib_size=32), str(tmp_path))
    m = onnx.load_from_string(old)
    assert {"Unsqueeze", "Squeeze"} <= {n.op_type for n in m.graph.node}
    assert E.one_dimensional_pools(m.graph) == 1
    ops = [n.op_type for n in m.graph.node]
    assert "Unsqueeze" not in ops and "Squeeze" not in ops and ops.count("Identity") == 2
    onnx.checker.check_model(m)
    s_old, s_new = session(old, threads=1), session(m.SerializeToString(), threads=1)
    for shape in [(4, 12, 1000), (1, 12, 333)]:
        x = (gen.standard_normal(shape) * 0.3).astype(np.float32)
        assert s_old.run(None, {"ecg": x})[0].tobytes() == s_new.run(None, {"ecg": x})[0].tobytes()
    assert E.one_dimensional_pools(m.graph) == 0  # nothing left to rewrite


@pytest.mark.parametrize("k,s,p,include", [(3, 2, 1, False), (3, 2, 1, True), (2, 2, 0, False), (5, 3, 2, False),
                                           (4, 1, 2, False)])
def test_average_pools_export_as_depthwise_convolutions(k, s, p, include):
    """An ``nn.AvgPool1d`` is exported as the depthwise convolution it computes (onnxruntime's quantized average
    pool is a scalar loop), divided by each window's share of real samples where padding is not counted: the
    pool's values at every length, edges included; the model being exported is not modified."""
    from torch import nn

    from ecgedge.export.onnx_export import average_pools_as_convolutions, export_fp32

    class Net(nn.Module):
        min_length = 16  # what the exporter's symbolic time axis starts at (an ECGModel's attribute)

        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv1d(12, 6, 3, padding=1)
            self.pool = nn.AvgPool1d(k, s, p, count_include_pad=include)
            self.head = nn.Linear(6, 5)

        def forward(self, x):
            return self.head(torch.relu(self.pool(self.conv(x))).amax(-1))

    torch.manual_seed(2)
    net = Net().eval()
    gen = np.random.default_rng(2)
    ex = torch.from_numpy(gen.standard_normal((2, 12, 100)).astype(np.float32))
    swapped = average_pools_as_convolutions(net, ex)
    assert type(net.pool) is nn.AvgPool1d and type(swapped.pool) is not nn.AvgPool1d
    for t in (100, 37, 8):
        x = torch.from_numpy(gen.standard_normal((3, 6, t)).astype(np.float32))
        with torch.no_grad():
            torch.testing.assert_close(swapped.pool(x), net.pool(x), rtol=1e-6, atol=1e-6)
    m = onnx.load_from_string(export_fp32(net, ex.numpy(), "net"))
    assert "AveragePool" not in {n.op_type for n in m.graph.node}
    sess = session(m.SerializeToString(), threads=1)
    for t in (100, 41):
        x = gen.standard_normal((2, 12, t)).astype(np.float32)
        with torch.no_grad():
            want = net(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(sess.run(None, {"ecg": x})[0], want, atol=1e-5, rtol=1e-5)
    ceil = Net().eval()
    ceil.pool = nn.AvgPool1d(k, s, p, ceil_mode=True, count_include_pad=include)
    assert type(average_pools_as_convolutions(ceil, ex).pool) is nn.AvgPool1d  # not a convolution's windows: kept
