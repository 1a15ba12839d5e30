"""AOTInductor packages: compile once (C++, tens of seconds), then parity with eager PyTorch at several batch
sizes and lengths, the contract inside and beside the package, and clear errors for files that are not one."""

from __future__ import annotations

import json
import os
import shutil
import time
import zipfile

import numpy as np
import pytest
from conftest import run_cli

torch = pytest.importorskip("torch")

from ecgedge.contract import InputContract  # noqa: E402
from ecgedge.dsp.pipeline import Preprocessing  # noqa: E402
from ecgedge.errors import EcgedgeError  # noqa: E402
from ecgedge.export.pt2 import export_pt2  # noqa: E402
from ecgedge.runtime.pt2 import FORMAT, PT2Engine, read_package_meta  # noqa: E402
from ecgedge.training.models import build_model  # noqa: E402

CLASSES = ("NORM", "MI", "STTC", "CD", "HYP")


def _contract() -> InputContract:
    return InputContract(classes=CLASSES, preprocessing=Preprocessing(fs=100.0, window=250), dataset="test")


def _model():
    torch.manual_seed(0)
    return build_model("mobilenet1d", leads=12, classes=5, fs=100, window=250).eval()


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    # export records the package in the trust list: a list of this module's own, not the user's
    mp = pytest.MonkeyPatch()
    mp.setenv("ECGEDGE_CACHE", str(tmp_path_factory.mktemp("pt2-cache")))
    model = _model()
    path = tmp_path_factory.mktemp("pt2") / "mobilenet1d.cpu.pt2"
    t0 = time.perf_counter()
    info = export_pt2(model, torch.randn(2, 12, 250), path, device="cpu", contract_json=_contract().to_json())
    info["test_seconds"] = time.perf_counter() - t0
    yield model, path, info
    mp.undo()


# -- compile, load, run -------------------------------------------------------------------------------


@pytest.mark.slow
def test_package_matches_eager(package):
    model, path, info = package
    assert path.exists() and info["bytes"] == path.stat().st_size > 0
    assert info["device"] == "cpu" and info["torch_version"] == torch.__version__
    engine = PT2Engine(path)
    rng = np.random.default_rng(0)
    for batch in (1, 3):
        for length in (250, 500):
            x = rng.standard_normal((batch, 12, length)).astype(np.float32)
            with torch.no_grad():
                ref = model(torch.from_numpy(x)).numpy()
            out = engine.run(x)
            assert out.shape == (batch, 5) and out.dtype == np.float32
            assert np.max(np.abs(out - ref)) <= 1e-4, (batch, length)


@pytest.mark.slow
def test_contract_inside_and_beside(package):
    _, path, _ = package
    inside = read_package_meta(path)
    side = json.loads(path.with_name(path.name + ".json").read_text())
    for meta in (inside, side):
        assert meta["format"] == FORMAT
        assert InputContract.from_dict(meta["contract"]) == _contract()
        assert meta["torch_version"] == torch.__version__ and meta["device"] == "cpu"
    engine = PT2Engine(path)
    assert engine.contract == _contract()
    # the sidecar is what ecgedge's torch-free artefact reader uses
    from ecgedge.artifact import read_info

    info = read_info(path)
    assert info.kind == "pt2" and info.contract.classes == CLASSES


@pytest.mark.slow
def test_run_rejects_wrong_shapes(package):
    _, path, _ = package
    engine = PT2Engine(path)
    with pytest.raises(EcgedgeError, match="leads"):
        engine.run(np.zeros((1, 8, 250), np.float32))
    with pytest.raises(EcgedgeError, match="time range"):
        engine.run(np.zeros((1, 12, 32), np.float32))
    with pytest.raises(EcgedgeError, match=r"\[batch, leads, time\]"):
        engine.run(np.zeros((12, 250), np.float32))


@pytest.mark.slow
def test_refuses_other_torch_version(package, monkeypatch):
    _, path, _ = package
    monkeypatch.setattr(torch, "__version__", "0.0.1")
    with pytest.raises(EcgedgeError, match=r"tied to the torch version") as err:
        PT2Engine(path)
    assert "0.0.1" in str(err.value)


@pytest.mark.slow
def test_refuses_overwrite_without_force(package, tmp_path):
    model, path, _ = package
    target = tmp_path / path.name
    shutil.copy(path, target)
    with pytest.raises(EcgedgeError, match="already exist"):
        export_pt2(model, torch.randn(2, 12, 250), target, contract_json=_contract().to_json())
    # a sidecar alone also blocks
    target.unlink()
    target.with_name(target.name + ".json").write_text("{}")
    with pytest.raises(EcgedgeError, match="already exist"):
        export_pt2(model, torch.randn(2, 12, 250), target, contract_json=_contract().to_json())


@pytest.mark.slow
def test_trust_rule_on_a_real_package(package, tmp_path, monkeypatch, data):
    """A package this machine exported loads as it is (export recorded its hash); the same bytes with a trust
    list that lacks them are refused, and load with trust (Python and --trust-model)."""
    from ecgedge import trust
    from ecgedge.runtime.predictor import Predictor

    _, path, _ = package
    assert trust.is_recorded(trust.sha256_file(path))
    copy = tmp_path / "renamed.pt2"  # a copy under another name: the hash, not the name, is trusted
    shutil.copy(path, copy)
    shutil.copy(path.with_name(path.name + ".json"), tmp_path / "renamed.pt2.json")
    PT2Engine(copy)
    rec = str(data / "ptb-xl" / "records100" / "00000" / "00001_lr.hea")
    cache = {"ECGEDGE_CACHE": os.environ["ECGEDGE_CACHE"]}
    r = run_cli("infer", rec, "--model", str(copy), "--format", "jsonl", env=cache)
    assert r.returncode == 0 and json.loads(r.stdout)["error"] is None, r.stderr

    monkeypatch.setenv("ECGEDGE_CACHE", str(tmp_path / "another-machine"))
    with pytest.raises(EcgedgeError, match=r"refusing to load an AOTInductor package"):
        PT2Engine(copy)
    with pytest.raises(EcgedgeError, match=r"--trust-model"):
        Predictor(copy)
    assert PT2Engine(copy, trust=True).run(np.zeros((1, 12, 250), np.float32)).shape == (1, 5)
    assert Predictor(copy, trust_model=True).predict(rec).ok
    other = {"ECGEDGE_CACHE": str(tmp_path / "another-machine")}
    r = run_cli("infer", rec, "--model", str(copy), env=other)
    assert r.returncode == 2 and "refusing to load" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = run_cli("infer", rec, "--model", str(copy), "--trust-model", "--format", "jsonl", env=other)
    assert r.returncode == 0 and json.loads(r.stdout)["error"] is None, r.stderr
    # changed after export: no longer the bytes that were recorded
    monkeypatch.setenv("ECGEDGE_CACHE", cache["ECGEDGE_CACHE"])
    with zipfile.ZipFile(copy, "a") as z:
        z.writestr("mobilenet1d.cpu/extra.txt", "appended later")
    with pytest.raises(EcgedgeError, match="refusing to load"):
        PT2Engine(copy)


# -- fast checks (no compilation) -------------------------------------------------------------------------


def test_refusals_before_compiling(tmp_path):
    model, contract = _model(), _contract().to_json()
    x = torch.randn(2, 12, 250)
    with pytest.raises(EcgedgeError, match=r"must end in \.pt2"):
        export_pt2(model, x, tmp_path / "m.zip", contract_json=contract)
    with pytest.raises(EcgedgeError, match="device"):
        export_pt2(model, x, tmp_path / "m.pt2", device="tpu", contract_json=contract)
    with pytest.raises(EcgedgeError, match="leads"):
        export_pt2(model, torch.randn(2, 8, 250), tmp_path / "m.pt2", contract_json=contract)
    with pytest.raises(EcgedgeError, match="at least 64"):
        export_pt2(model, torch.randn(2, 12, 32), tmp_path / "m.pt2", contract_json=contract)
    with pytest.raises(EcgedgeError, match="contract"):
        export_pt2(model, x, tmp_path / "m.pt2", contract_json="{not json")
    (tmp_path / "m.pt2").write_bytes(b"x")
    with pytest.raises(EcgedgeError, match="already exist"):
        export_pt2(model, x, tmp_path / "m.pt2", contract_json=contract)
    assert (tmp_path / "m.pt2").read_bytes() == b"x"


def test_loading_a_file_that_is_not_a_package(tmp_path):
    with pytest.raises(EcgedgeError, match="not found"):
        PT2Engine(tmp_path / "missing.pt2")
    text = tmp_path / "model.pt2"
    text.write_text("this is not a model\n")
    with pytest.raises(EcgedgeError, match="not a zip archive"):
        PT2Engine(text)
    other = tmp_path / "other.pt2"
    with zipfile.ZipFile(other, "w") as z:
        z.writestr("other/readme.txt", "hello")
    with pytest.raises(EcgedgeError, match="archive_format"):
        PT2Engine(other)
    prog = tmp_path / "prog.pt2"  # a pt2 archive with no compiled code (e.g. torch.export.save output)
    with zipfile.ZipFile(prog, "w") as z:
        z.writestr("prog/archive_format", "pt2")
        z.writestr("prog/models/model.json", "{}")
    with pytest.raises(EcgedgeError, match="without AOTInductor code"):
        PT2Engine(prog)
    with pytest.raises(EcgedgeError, match="folder"):
        PT2Engine(tmp_path)
