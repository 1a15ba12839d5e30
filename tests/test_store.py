"""The prepared-data store: built once, reused while inputs are unchanged, rebuilt when one changes."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from ecgedge.datasets import load_dataset
from ecgedge.errors import StoreError
from ecgedge.io import read_record
from ecgedge.store import PreparedStore, prepare


def test_ptbxl_store_round_trip(data, tmp_path):
    ds = load_dataset("ptbxl")
    res = prepare(ds, tmp_path / "store")
    st = res.store
    assert not res.reused and len(st) == len(ds) and st.fs == 100
    assert st.leads[:3] == ("I", "II", "III") and st.classes == ds.classes
    x = st.as_array()
    assert x.shape == (len(ds), 12, 1000) and x.dtype == np.float32
    np.testing.assert_array_equal(x[0], read_record(ds.records[0].path).data)
    np.testing.assert_array_equal(st.labels, ds.label_matrix())
    assert set(st.indices("test")) == {i for i, r in enumerate(ds.records) if r.fold == 10}
    manifest = json.loads((tmp_path / "store" / "manifest.json").read_text())
    assert manifest["ecgedge_version"] and manifest["key"]
    assert all(len(v["sha256"]) == 64 for v in manifest["sources"].values())
    assert any(p.endswith("ptbxl_database.csv") for p in manifest["sources"])

    again = prepare(ds, tmp_path / "store")
    assert again.reused


def test_changed_input_invalidates(data, tmp_path):
    src = data / "ptb-xl"
    root = tmp_path / "ptb-xl"
    (root / "records100" / "00000").mkdir(parents=True)
    for f in ("ptbxl_database.csv", "scp_statements.csv"):
        shutil.copy(src / f, root / f)
    for i in range(1, 31):
        for ext in (".hea", ".dat"):
            shutil.copy(src / "records100" / "00000" / f"{i:05d}_lr{ext}", root / "records100" / "00000")
    ds = load_dataset("ptbxl", root)
    first = prepare(ds, tmp_path / "store")
    assert len(first.store) == len(ds) and len(ds.missing) > 1900
    assert prepare(ds, tmp_path / "store").reused
    dat = root / "records100" / "00000" / "00005_lr.dat"
    raw = bytearray(dat.read_bytes())
    raw[100] ^= 0xFF
    dat.write_bytes(bytes(raw))
    rebuilt = prepare(load_dataset("ptbxl", root), tmp_path / "store")
    assert not rebuilt.reused
    i = rebuilt.store.names.index("00005")
    assert not np.array_equal(rebuilt.store.signal(i), first.store.signal(i))
    # A different setting is a different store too.
    assert not prepare(load_dataset("ptbxl", root, task="rhythm"), tmp_path / "store").reused


def test_variable_length_and_resampled(data, tmp_path):
    ds = load_dataset("cpsc2018")
    st = prepare(ds, tmp_path / "cpsc", fs=100).store
    assert st.fs == 100 and len(st) == 10
    lengths = [read_record(r.path).n_samples for r in ds.records]
    assert [st.signal(i).shape[1] for i in range(len(st))] == [-(-n // 5) for n in lengths]  # resample_poly rounds up
    with pytest.raises(StoreError, match="differ in length"):
        st.as_array()


def test_damaged_store_is_detected_and_rebuilt(data, tmp_path):
    ds = load_dataset("cinc2021")
    prepare(ds, tmp_path / "s")
    with open(tmp_path / "s" / "signals.f32", "r+b") as fh:
        fh.truncate(100)
    with pytest.raises(StoreError, match="damaged"):
        PreparedStore.open(tmp_path / "s")
    res = prepare(ds, tmp_path / "s")
    assert not res.reused and len(res.store) == len(ds)


def test_refuses_to_replace_a_foreign_folder(data, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    with pytest.raises(StoreError, match="not an ecgedge store"):
        prepare(load_dataset("cinc2021"), out)
    assert (out / "thesis.tex").read_text() == "precious"


def test_store_runs_the_shared_preprocessing(data, tmp_path):
    from ecgedge.dsp import Preprocessing, Preprocessor

    ds = load_dataset("cinc2021")
    spec = Preprocessing(fs=100, band=(0.5, 40.0), norm="zscore", window=None)
    st = prepare(ds, tmp_path / "pre", preprocessing=spec).store
    assert st.fs == 100 and st.manifest["preprocessing"]["band"] == [0.5, 40.0]
    P = Preprocessor(spec)
    for i in (0, len(st) - 1):
        np.testing.assert_array_equal(st.signal(i), P(read_record(ds.records[i].path)).x)
    with pytest.raises(StoreError, match="window"):
        prepare(ds, tmp_path / "w", preprocessing=Preprocessing(window=250))


def test_prepare_cli_with_band(data, tmp_path):
    from conftest import run_cli

    r = run_cli("data", "prepare", "cpsc2018", "--out", str(tmp_path / "s"), "--fs", "100", "--band", "0.5", "40",
                "--norm", "zscore")
    assert r.returncode == 0, r.stderr
    st = PreparedStore.open(tmp_path / "s")
    assert st.fs == 100 and abs(float(st.signal(0).mean())) < 1e-3
