"""Model files whose metadata lies: a contract that disagrees with its ONNX graph, implausible contract values,
and safetensors headers of the wrong JSON type. Each is one clear error at load (and in `ecgedge info`),
never a traceback and never a run that labels the graph's outputs with the wrong names."""

from __future__ import annotations

import json
import struct

import pytest
from conftest import REPO, run_cli

from ecgedge.artifact import read_info
from ecgedge.errors import EcgedgeError

onnx = pytest.importorskip("onnx")

SHIPPED = REPO / "ecgedge" / "models" / "ptbxl-superdiagnostic.int8.onnx"


def _edited(tmp_path, name: str, edit_contract=None, edit_graph=None):
    """A copy of the shipped model with its contract (and/or graph) edited as a hand or an attacker would."""
    m = onnx.load(str(SHIPPED))
    for p in m.metadata_props:
        if p.key == "ecgedge":
            meta = json.loads(p.value)
            if edit_contract:
                edit_contract(meta["contract"])
            p.value = json.dumps(meta)  # NaN is written as NaN, which json.loads reads back
    if edit_graph:
        edit_graph(m.graph)
    out = tmp_path / f"{name}.onnx"
    onnx.save(m, str(out))
    return out


def _pre(**kw):
    return lambda c: c["preprocessing"].update(**kw)


def _symbolic_classes(graph):
    dim = graph.output[0].type.tensor_type.shape.dim[1]
    dim.ClearField("dim_value")
    dim.dim_param = "classes"


CASES = [
    # (name, contract edit, graph edit, what the error must say)
    ("one-lead", _pre(leads=["I"]), None, "it lists 1 lead(s); the graph takes 12 input channels"),
    ("half-window", _pre(window=250.5), None, "window must be a whole number of samples"),
    ("huge-baseline", _pre(baseline=[1e9, 1e9]), None, "baseline filter lengths must be 0-10 s"),
    ("nan-baseline", _pre(baseline=[float("nan"), 0.2]), None, "baseline filter lengths"),
    ("nan-rate", _pre(fs=float("nan")), None, "'fs' must be a positive rate"),
    ("absurd-rate", _pre(fs=1e308), None, "outside 1 Hz-100 kHz"),
    ("inf-filter", lambda c: c["preprocessing"]["sos"][0].__setitem__(0, float("inf")), None,
     "filter sections must be rows of 6 finite numbers"),
    ("two-classes", lambda c: c.update(classes=["A", "B"], thresholds=[0.5, 0.5]), None,
     "it names 2 class(es); the graph outputs 5"),
    ("seven-classes", lambda c: c.update(classes=list("ABCDEFG"), thresholds=[0.5] * 7), None,
     "it names 7 class(es); the graph outputs 5"),
    ("two-no-thresholds", lambda c: c.update(classes=["A", "B"], thresholds=None), None,
     "it names 2 class(es); the graph outputs 5"),
    ("thresholds-count", lambda c: c.update(thresholds=[0.5, 0.5]), None, "2 thresholds for 5 classes"),
    ("class-not-text", lambda c: c.update(classes=[1, 2, 3, 4, 5]), None, "class names must be non-empty strings"),
    # the graph leaves the class dimension symbolic: caught when the engine runs one window at load
    ("symbolic-two-classes", lambda c: c.update(classes=["A", "B"], thresholds=None), _symbolic_classes,
     "graph outputs shape [5]"),
]


@pytest.mark.parametrize("name, contract, graph, msg", CASES, ids=[c[0] for c in CASES])
def test_contract_that_disagrees_is_refused_at_load(tmp_path, name, contract, graph, msg):
    from ecgedge.runtime.engines import open_model

    path = _edited(tmp_path, name, contract, graph)
    with pytest.raises(EcgedgeError) as err:
        open_model(path)
    assert msg in str(err.value) and str(path) in str(err.value)
    if graph is None:  # `ecgedge info` reads the same checks (without loading an engine)
        with pytest.raises(EcgedgeError, match="contract"):
            read_info(path)


@pytest.mark.parametrize("name", ["one-lead", "half-window", "huge-baseline", "two-no-thresholds"])
def test_cli_says_it_in_one_line(tmp_path, data, name):
    contract, graph, msg = next((c, g, m) for n, c, g, m in CASES if n == name)
    path = _edited(tmp_path, name, contract, graph)
    rec = str(data / "ptb-xl" / "records100" / "00000" / "00001_lr.hea")
    for args in (("info", str(path)), ("infer", rec, "--model", str(path))):
        r = run_cli(*args)
        assert r.returncode == 2 and "Traceback" not in r.stderr, (args, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1 and msg in r.stderr and r.stdout == "", (args, r.stderr)


def test_edited_but_consistent_model_still_loads(tmp_path):
    """The checks refuse what is wrong, not what is merely different: new thresholds are fine."""
    from ecgedge.runtime.engines import open_model

    path = _edited(tmp_path, "thresholds", lambda c: c.update(thresholds=[0.3] * 5))
    info, engine = open_model(path)
    assert info.contract.thresholds == (0.3,) * 5 and engine.name == "ort"


def _safetensors(tmp_path, header) -> str:
    raw = json.dumps(header).encode() if not isinstance(header, bytes) else header
    path = tmp_path / "model.safetensors"
    path.write_bytes(struct.pack("<Q", len(raw)) + raw)
    return str(path)


@pytest.mark.parametrize("header, msg", [
    ({"__metadata__": {"ecgedge": "[1]"}}, "not an ecgedge-checkpoint object"),
    ({"__metadata__": {"ecgedge": "5"}}, "not an ecgedge-checkpoint object"),
    ({"__metadata__": {"ecgedge": 5}}, "is a int, not a JSON string"),
    ({"__metadata__": {"ecgedge": "{oops"}}, "ecgedge header is not JSON"),
    ({"__metadata__": 5}, "'__metadata__' is not a JSON object"),
    ({"__metadata__": "[1]"}, "'__metadata__' is not a JSON object"),
    ([1, 2], "header is not a JSON object"),
    ({}, "no ecgedge header"),
    (b"\xff\xfe", "not a readable safetensors checkpoint"),
])
def test_safetensors_header_of_the_wrong_type(tmp_path, header, msg):
    path = _safetensors(tmp_path, header)
    with pytest.raises(EcgedgeError, match=msg):
        read_info(path)
    r = run_cli("info", path)
    assert r.returncode == 2 and "Traceback" not in r.stderr and msg in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
