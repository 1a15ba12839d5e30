"""Model files that are code (.pt2, TensorRT engines) load only when trusted; ONNX stays data.

The forged package here is what the audit used: a zip with the right entry names, a forged ``ecgedge-pt2``
metadata file, and a weights entry marked as pickled, whose pickle creates a marker file when unpickled.
None of these tests needs torch: the refusal comes before torch is imported."""

from __future__ import annotations

import json
import os
import pickle
import platform
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import run_cli

from ecgedge import trust
from ecgedge.contract import InputContract
from ecgedge.dsp.pipeline import Preprocessing
from ecgedge.errors import EcgedgeError


@pytest.fixture(autouse=True)
def _own_trust_list(monkeypatch, tmp_path):
    monkeypatch.setenv("ECGEDGE_CACHE", str(tmp_path / "cache"))


class _Payload:
    """Unpickling this creates ``marker``: what a hostile package's pickled weights could do instead."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _forged_pt2(folder: Path, marker: Path) -> Path:
    contract = InputContract(classes=("NORM", "MI", "STTC", "CD", "HYP"),
                             preprocessing=Preprocessing(fs=100.0, window=250))
    torch_version = sys.modules["torch"].__version__ if sys.modules.get("torch") else "2.13.0+cpu"
    meta = {"format": "ecgedge-pt2", "version": 1, "contract": contract.to_dict(), "device": "cpu",
            "torch_version": torch_version, "precision": "fp32", "leads": 12, "min_length": 64, "classes": 5,
            "machine": platform.machine()}
    path = folder / "evil.pt2"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("evil/archive_format", "pt2")
        z.writestr("evil/data/aotinductor/model/model_metadata.json",
                   json.dumps({"ecgedge": json.dumps(meta), "AOTI_DEVICE_KEY": "cpu"}))
        z.writestr("evil/data/weights/model_weights_config.json",
                   json.dumps({"config": {"w": {"path_name": "weight_0", "use_pickle": True, "tensor_meta": None}}}))
        z.writestr("evil/data/weights/weight_0", pickle.dumps(_Payload(marker)))
    (folder / "evil.pt2.json").write_text(json.dumps(meta))
    return path


def _armed(path: Path, marker: Path) -> None:
    """The payload is live: unpickling the weights entry does create the marker (then removed again)."""
    with zipfile.ZipFile(path) as z:
        pickle.loads(z.read("evil/data/weights/weight_0"))  # on purpose: proves the payload works
    assert marker.exists()
    marker.unlink()


def test_forged_pt2_is_refused_and_its_payload_never_runs(tmp_path, monkeypatch):
    from ecgedge.runtime.engines import open_model
    from ecgedge.runtime.pt2 import PT2Engine

    marker = tmp_path / "pwned"
    evil = _forged_pt2(tmp_path, marker)
    _armed(evil, marker)
    torch = sys.modules.get("torch")
    if torch is not None:  # were torch reached, the test would say so rather than run the payload
        monkeypatch.setattr(torch._inductor, "aoti_load_package",
                            lambda *a, **k: pytest.fail("torch's loader was reached"), raising=False)
    for load in (lambda: PT2Engine(evil), lambda: open_model(evil)):
        with pytest.raises(EcgedgeError) as err:
            load()
        msg = str(err.value)
        assert "refusing to load an AOTInductor package (.pt2)" in msg and "can run code" in msg
        assert str(evil) in msg and "--trust-model" in msg and "export it again here" in msg
    assert not marker.exists()


def test_forged_pt2_refused_by_every_command_that_loads_models(tmp_path, data):
    marker = tmp_path / "pwned"
    evil = _forged_pt2(tmp_path, marker)
    rec = str(data / "ptb-xl" / "records100" / "00000" / "00001_lr.hea")
    env = {"ECGEDGE_CACHE": str(tmp_path / "cache")}
    r = run_cli("infer", rec, "--model", str(evil), env=env)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    line = r.stderr.strip()
    assert len(line.splitlines()) == 1 and line.startswith("error:") and "refusing to load" in line
    assert "can run code" in line and "--trust-model" in line and "evil.pt2" in line
    r = run_cli("infer", "--stream", rec, "--model", str(evil), env=env)
    assert r.returncode == 2 and "refusing to load" in r.stderr and "Traceback" not in r.stderr, r.stderr
    r = run_cli("bench", str(evil), "--no-accuracy", "-o", str(tmp_path / "b"), env=env)
    assert "refusing to load" in r.stdout + r.stderr and "Traceback" not in r.stderr, r.stderr
    # `info` reads only the sidecar (data) and says what the file is
    r = run_cli("info", str(evil), env=env)
    assert r.returncode == 0 and "can run code" in r.stdout and "--trust-model" in r.stdout, r.stderr
    assert json.loads(run_cli("info", str(evil), "--json", env=env).stdout)["trusted_here"] is False
    assert not marker.exists()


def test_refusal_in_a_runtime_only_install(tmp_path):
    """Without torch the forged package is refused the same way (not a torch ImportError)."""
    marker = tmp_path / "pwned"
    evil = _forged_pt2(tmp_path, marker)
    code = ("import sys; sys.modules['torch'] = None\n"
            "from ecgedge.runtime.predictor import Predictor\n"
            f"Predictor({str(evil)!r})")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "ECGEDGE_CACHE": str(tmp_path / "cache")})
    assert r.returncode != 0 and "refusing to load an AOTInductor package" in r.stderr
    assert not marker.exists()


def test_trust_list(tmp_path):
    f = tmp_path / "m.engine"
    f.write_bytes(b"x" * 100)
    digest = trust.sha256_file(f)
    assert not trust.is_recorded(digest)
    with pytest.raises(EcgedgeError, match="refusing to load a TensorRT engine"):
        trust.check(f, "tensorrt", digest, trust=False)
    trust.check(f, "tensorrt", digest, trust=True)  # the user's word
    trust.check(f, "onnx", digest, trust=False)  # data: no trust needed
    trust.record(digest, "tensorrt", f)
    trust.check(f, "tensorrt", digest, trust=False)
    doc = json.loads(trust.trust_file().read_text())
    assert doc["sha256"][digest]["path"] == str(f) and doc["sha256"][digest]["kind"] == "tensorrt"
    assert not [p for p in trust.trust_file().parent.iterdir() if p.name.endswith(".tmp")]
    trust.trust_file().write_text("{not json")  # damaged: nothing is trusted, nothing crashes
    assert not trust.is_recorded(digest)
    trust.record(digest, "tensorrt", f)
    assert trust.is_recorded(digest)


def test_trust_list_is_capped(tmp_path, monkeypatch):
    monkeypatch.setattr(trust, "MAX_ENTRIES", 3)
    for i in range(5):
        trust.record(f"{i:064x}", "pt2", tmp_path / f"{i}.pt2")
    assert [trust.is_recorded(f"{i:064x}") for i in range(5)] == [False, False, True, True, True]
