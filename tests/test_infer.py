"""``ecgedge infer`` and ``Predictor`` on real records with a model trained and exported here: parity with the
training path, folders with broken records, output formats, lead substitutes, torch-free runs, streams."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, run_cli

from ecgedge.errors import EcgedgeError
from ecgedge.io import read_record

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::DeprecationWarning")


def _ptbxl(data, n=6, rate=100):
    folder = data / "ptb-xl" / f"records{rate}"
    return sorted(folder.rglob("*.hea"))[:n]


def test_predictor_matches_the_training_path(tiny_run, data):
    """What infer computes for a record file equals what training evaluated for it from the prepared store."""
    from ecgedge.runtime.evalset import store_windows
    from ecgedge.runtime.ort import run_batched, session
    from ecgedge.runtime.post import aggregate, probabilities
    from ecgedge.runtime.predictor import Predictor
    from ecgedge.store import PreparedStore

    pred = Predictor(tiny_run["fp32"], threads=1)
    stores = list((tiny_run["cache"] / "stores").iterdir())
    store = PreparedStore.open(stores[0])
    c = pred.contract
    sess = session(tiny_run["fp32"], threads=1)
    files = {p.stem.removesuffix("_lr"): p for p in (data / "ptb-xl" / "records100").rglob("*.hea")}
    for i in range(5):
        hea = files[store.names[i]]
        x, owner = store_windows(store, np.array([i]), c.preprocessing)
        want = aggregate(probabilities(run_batched(sess, x), c.multilabel), owner, 1, c.aggregate)[0]
        got = pred.predict(str(hea))
        assert got.ok and got.n_windows == len(x)
        np.testing.assert_allclose(got.probabilities, want, atol=2e-5)


def test_folder_with_broken_records_gives_error_rows(tiny_run, data, tmp_path):
    good = _ptbxl(data, 3)
    folder = tmp_path / "mixed"
    folder.mkdir()
    for p in good:
        for suf in (".hea", ".dat"):
            (folder / (p.stem + suf)).symlink_to(p.with_suffix(suf))
    (folder / "broken.hea").write_text("broken 12 100 1000\nthis is not a signal line\n")
    (folder / "nodata.hea").write_text("nodata 1 100 1000\nnodata.dat 16 200/mV 16 0 0 0 0 I\n")
    r = run_cli("infer", str(folder), "--model", str(tiny_run["int8"]), "--format", "csv")
    assert r.returncode == 1, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert [row["record"] for row in rows] == sorted([p.stem for p in good] + ["broken", "nodata"])
    by = {row["record"]: row for row in rows}
    for p in good:
        row = by[p.stem]
        assert not row["error"] and 0 <= float(row["NORM"]) <= 1 and int(row["windows"]) == 7
    assert "broken.hea" in by["broken"]["error"] and "line 2" in by["broken"]["error"]
    assert "nodata" in by["nodata"]["error"] and by["nodata"]["NORM"] == ""
    assert "2 failed" in r.stderr


def test_output_formats_and_timeline(tiny_run, data, tmp_path):
    recs = [str(p) for p in _ptbxl(data, 2)]
    j = json.loads(run_cli("infer", *recs, "--model", str(tiny_run["int8"]), "--format", "json").stdout)
    assert [d["record"] for d in j] == [os.path.basename(r)[:-4] for r in recs]
    assert set(j[0]) >= {"CD", "HYP", "MI", "NORM", "STTC", "positive", "windows", "warnings", "error"}
    lines = run_cli("infer", *recs, "--model", str(tiny_run["int8"]), "--format", "jsonl", "--timeline").stdout
    rows = [json.loads(line) for line in lines.splitlines()]
    assert len(rows) == 2 * (1 + 7)  # a record row and 7 window rows each
    assert [r["start_s"] for r in rows[1:8]] == [0.0, 1.25, 2.5, 3.75, 5.0, 6.25, 7.5]
    out = tmp_path / "res.csv"
    r = run_cli("infer", *recs, "--model", str(tiny_run["int8"]), "--format", "csv", "-o", str(out))
    assert r.returncode == 0 and r.stdout == ""
    head = out.read_text().splitlines()[0].split(",")
    assert head[:6] == ["record", "CD", "HYP", "MI", "NORM", "STTC"]
    table = run_cli("infer", recs[0], "--model", str(tiny_run["int8"])).stdout
    assert "NORM" in table.splitlines()[0] and os.path.basename(recs[0])[:-4] in table


def test_plot(tiny_run, data, tmp_path):
    pytest.importorskip("matplotlib")
    rec = _ptbxl(data, 1)[0]
    r = run_cli("infer", str(rec), "--model", str(tiny_run["int8"]), "--plot", str(tmp_path / "png"))
    assert r.returncode == 0, r.stderr
    png = tmp_path / "png" / f"{rec.stem}.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000


def test_every_record_type_under_shared_data(tiny_run, data):
    """500 Hz PTB-XL, CinC 2021 .mat, CPSC .mat, PTB (15 leads), and records the model cannot take."""
    from ecgedge.runtime.predictor import Predictor

    pred = Predictor(tiny_run["int8"], threads=1)
    items = [*_ptbxl(data, 2, 500), *sorted((data / "cinc2021").glob("*.hea"))[:2],
             *sorted((data / "cpsc2018").glob("*.mat"))[:2], data / "wfdb-examples" / "s0010_re.hea",
             data / "wfdb-examples" / "100.hea", *sorted((data / "physionet2017").rglob("*.hea"))[:1]]
    out = {p.name: p for p in pred.predict_many(str(i) for i in items)}
    assert len(out) == len(items)
    for name, p in out.items():
        if name in ("100",) or name.startswith("A0"):
            assert not p.ok and "lacks lead" in p.error
        else:
            assert p.ok, p.error
            assert p.probabilities.shape == (5,) and np.all((p.probabilities >= 0) & (p.probabilities <= 1))
    assert out["s0010_re"].n_windows > 20  # 38.4 s at 1000 Hz, resampled to 100 Hz


def test_default_threads_split_the_cores():
    """By default the reading threads take half the cores (at most 4) and the engine the rest; an explicit choice
    of either is kept."""
    from ecgedge.runtime.predictor import Predictor, split_cores
    from ecgedge.runtime.processes import usable_cores

    cores = usable_cores()
    p = Predictor(None)
    assert p.workers == max(1, min(4, cores // 2))
    assert p.engine.sess.get_session_options().intra_op_num_threads == max(1, cores - p.workers)
    assert [split_cores(c, r) for c, r in ((2, 1), (8, 4), (1, 1), (4, 0))] == [1, 4, 1, 4]
    p = Predictor(None, threads=3, workers=2)
    assert p.workers == 2 and p.engine.sess.get_session_options().intra_op_num_threads == 3


def test_runtime_sessions_sleep_instead_of_spinning():
    """The runtime's onnxruntime threads do not busy-wait between operators (the decode workers need those cores);
    the export gate and benchmarks that ask for onnxruntime's default still get it."""
    from ecgedge.runtime.ort import session
    from ecgedge.runtime.predictor import Predictor

    key = "session.intra_op.allow_spinning"
    assert Predictor(None).engine.sess.get_session_options().get_session_config_entry(key) == "0"
    from ecgedge.zoo import resolve

    default = session(resolve(None), threads=1).get_session_options()
    with pytest.raises(RuntimeError, match="does not have"):  # onnxruntime's own default (spinning) untouched
        default.get_session_config_entry(key)


def test_read_ahead_changes_nothing_but_timing(tiny_run, data):
    """predict_many reads about a batch of windows ahead of the engine: the rows, their order, the error rows
    between them and every probability are what reading one record at a time gives, across batch boundaries."""
    from ecgedge.runtime.predictor import Predictor

    items = [str(p) for p in _ptbxl(data, 40, 500)]
    items[7:7] = [str(data / "wfdb-examples" / "100.hea")]  # an error row in the middle (lacks the leads)
    runs = []
    for read_ahead, batch in ((1, 256), (None, 256), (None, 9), (None, None)):
        pred = Predictor(tiny_run["int8"], threads=1, batch=batch, workers=2)
        assert pred.batch == (batch or 64)  # the default on onnxruntime's CPU engine (default_batch)
        pred.read_ahead = read_ahead
        runs.append(list(pred.predict_many(items)))
    for rows in runs:
        assert [r.name for r in rows] == [Path(i).stem for i in items]
        assert not rows[7].ok and all(r.ok for i, r in enumerate(rows) if i != 7)
    for rows in runs[1:]:
        for a, b in zip(runs[0], rows):
            if a.ok:
                np.testing.assert_array_equal(a.probabilities, b.probabilities)


def test_limb_leads_are_derived_with_a_warning(tiny_run, data):
    from dataclasses import replace

    from ecgedge.runtime.predictor import Predictor

    pred = Predictor(tiny_run["fp32"], threads=1)
    sig = read_record(_ptbxl(data, 1)[0])
    keep = [i for i, n in enumerate(sig.leads) if n not in ("III", "aVR", "aVL", "aVF")]
    partial = replace(sig, data=sig.data[keep], leads=tuple(sig.leads[i] for i in keep),
                      units=tuple(sig.units[i] for i in keep))
    full, derived = pred.predict(sig), pred.predict(partial)
    assert any("derived from I and II" in w for w in derived.warnings)
    # PTB-XL's limb leads obey Einthoven's law up to quantisation: the results agree closely
    np.testing.assert_allclose(derived.probabilities, full.probabilities, atol=0.02)
    no_ii = [i for i, n in enumerate(sig.leads) if n not in ("II", "III")]
    with pytest.raises(EcgedgeError, match="lacks lead"):
        pred.predict(replace(sig, data=sig.data[no_ii], leads=tuple(sig.leads[i] for i in no_ii),
                             units=tuple(sig.units[i] for i in no_ii)))


def test_rate_too_low_and_short_records(tiny_run, data, tmp_path):
    from dataclasses import replace

    from ecgedge.runtime.predictor import Predictor

    pred = Predictor(tiny_run["fp32"], threads=1)
    sig = read_record(_ptbxl(data, 1)[0])
    low = replace(sig, data=sig.data[:, ::2].copy(), fs=50.0)
    with pytest.raises(EcgedgeError, match="sampled at 50 Hz.*40 Hz"):
        pred.predict(low)
    short = replace(sig, data=sig.data[:, :180].copy())  # 1.8 s, the window is 2.5 s
    p = pred.predict(short)
    assert p.n_windows == 1 and any("shorter than the model" in w for w in p.warnings)


def test_not_a_model(tmp_path, data):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    g = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    plain = tmp_path / "plain.onnx"
    onnx.save(helper.make_model(g), str(plain))
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(os.urandom(64))
    rec = str(_ptbxl(data, 1)[0])
    for f, msg in ((plain, "not an ecgedge model"), (junk, "not a readable ONNX"), (tmp_path / "nope.onnx",
                                                                                   "not found")):
        r = run_cli("infer", rec, "--model", str(f))
        assert r.returncode == 2 and msg in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_infer_never_imports_torch(tiny_run, data, tmp_path):
    """The runtime path with torch made unimportable (as on a device without it)."""
    rec = str(_ptbxl(data, 1)[0])
    code = ("import sys; sys.modules['torch'] = None; sys.modules['scipy'] = None; sys.modules['wfdb'] = None\n"
            "from ecgedge.cli import main\n"
            f"sys.argv = ['ecgedge', 'infer', {rec!r}, '--model', {str(tiny_run['int8'])!r}, '--format', 'jsonl']\n"
            "main()")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "ECGEDGE_DEBUG": "1"})
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["error"] is None
    code = ("import sys; sys.modules['torch'] = None\n"
            "from ecgedge.runtime.predictor import Predictor\n"
            f"p = Predictor({str(tiny_run['int8'])!r}).predict({rec!r})\n"
            "assert 'torch' not in [m.split('.')[0] for m in sys.modules if sys.modules[m] is not None]\n"
            "print(p.probabilities.sum())")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


def test_demo_with_a_model(tiny_run):
    r = run_cli("infer", "--demo", "--model", str(tiny_run["int8"]))
    assert r.returncode == 0, r.stderr
    assert "simulated" in r.stdout and "1 record(s), 0 failed" in r.stderr


# -- streams ----------------------------------------------------------------------------------------


def _sim_record(tmp_path, seconds=60.0):
    from ecgedge.io.wfdb_write import write_wfdb
    from ecgedge.simulate import simulated_ecg

    return write_wfdb(simulated_ecg(duration=seconds, fs=500.0), tmp_path, "sim")


def test_stream_replay_file(tiny_run, tmp_path):
    rec = _sim_record(tmp_path)
    r = run_cli("infer", "--stream", rec, "--model", str(tiny_run["int8"]), "--format", "jsonl")
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    # 60 s at a 2.5-s window and 1.25-s hop: ends at 2.5, 3.75, ..., 60
    assert [row["t"] for row in rows] == pytest.approx(list(np.arange(2.5, 60.01, 1.25)))
    assert all(0 <= row["NORM"] <= 1 and row["latency_ms"] >= 0 for row in rows)
    assert "real time" in r.stderr and "latency after the last sample" in r.stderr


def test_stream_stdin_int16(tiny_run, tmp_path):
    from ecgedge.simulate import simulated_ecg

    sig = simulated_ecg(duration=20.0, fs=250.0)
    raw = np.round(sig.data.T * 200).astype("<i2").tobytes()
    leads = ",".join(sig.leads)
    p = subprocess.run([sys.executable, "-m", "ecgedge", "infer", "--stream", "-", "--fs", "250", "--leads", leads,
                        "--dtype", "int16", "--gain", "200", "--model", str(tiny_run["int8"]), "--format", "csv"],
                       input=raw, capture_output=True, timeout=120)
    assert p.returncode == 0, p.stderr.decode()
    rows = list(csv.DictReader(io.StringIO(p.stdout.decode())))
    assert len(rows) == len(np.arange(2.5, 20.01, 1.25))
    r = run_cli("infer", "--stream", "-", "--model", str(tiny_run["int8"]))
    assert r.returncode == 2 and "--fs" in r.stderr


def test_stream_brainflow_synthetic(tiny_run):
    pytest.importorskip("brainflow")
    from ecgedge.runtime.live import StreamClassifier
    from ecgedge.streams import open_source

    leads = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
    src = open_source("brainflow:synthetic", leads=list(leads), channels="1,2,3,4,5,6,7,8,9,10,11,12")
    rows = []
    deadline = time.monotonic() + 20
    with src:
        clf = StreamClassifier(str(tiny_run["int8"]), src.fs, src.leads, src.units, hop=0.5)
        for chunk in src.chunks():
            rows += clf.push(chunk.data, chunk.t_arrival)
            if len(rows) >= 2 or time.monotonic() > deadline:
                break
    assert len(rows) >= 2, "no results from the synthetic board within 20 s"
    assert all(r.probabilities.shape == (5,) and np.isfinite(r.probabilities).all() for r in rows)
    assert rows[1].t - rows[0].t == pytest.approx(0.5)


def test_stream_gap_restarts_preprocessing(tiny_run):
    from ecgedge.runtime.live import StreamClassifier
    from ecgedge.simulate import simulated_ecg

    sig = simulated_ecg(duration=10.0, fs=100.0)
    clf = StreamClassifier(str(tiny_run["int8"]), 100.0, sig.leads, sig.units)
    a = clf.push(sig.data[:, :500])
    gap = clf.gap(300, "reconnected")
    b = clf.push(sig.data[:, 500:])
    assert gap.event == "reconnected" and gap.probabilities is None
    assert a[-1].t == pytest.approx(5.0) and b[0].t == pytest.approx(8.0 + 2.5)  # restarted after the gap


def test_default_model_card_and_quick_start():
    from ecgedge.zoo import shipped

    models = shipped()
    if not models:
        pytest.skip("no shipped model in this checkout")
    for name, card in models.items():
        assert os.path.exists(card["path"]), name
        # a model trained on every record (nothing held out) carries its cross-validated estimate instead
        held_out = card["test"]["macro_auroc_int8"] if card.get("test") else card["estimate"]["pooled"]["macro_auroc"]
        assert card["contract"]["classes"] and held_out > 0.5
    r = run_cli("infer", "--demo")
    assert r.returncode == 0, r.stderr
    assert "simulated" in r.stdout


def test_repo_has_no_scratch_files():
    scratch = [p.name for p in REPO.iterdir() if p.suffix in (".data",) or p.name == "sym_shape_infer_temp.onnx"]
    assert not scratch, f"scratch files left in the repository root: {scratch}"


def test_single_lead_model_takes_a_records_only_lead_or_lead_i(data):
    """A single-lead model (the shipped AF model's lead is the hand-held device's "ECG") accepts a record's only
    lead, or lead I (else II, MLII...) of a multi-lead record, with a warning; a record with no limb lead is an
    error naming a model."""
    from dataclasses import replace

    from ecgedge.runtime.predictor import conform_leads

    one = read_record(data / "physionet2017" / "training2017" / "A00001.hea")
    out, notes = conform_leads(one, ("ECG",))
    assert out.leads == ("ECG",) and out.n_leads == 1 and notes == []
    out, notes = conform_leads(one, ("I",))
    assert out.leads == ("I",) and np.array_equal(out.data, one.data) and "only lead" in notes[0]
    twelve = read_record(next((data / "ptb-xl" / "records100").rglob("*.hea")))
    out, notes = conform_leads(twelve, ("ECG",))
    assert out.leads == ("ECG",) and np.array_equal(out.data[0], twelve.data[twelve.leads.index("I")])
    assert "lead I" in notes[0]
    mitdb = read_record(data / "wfdb-examples" / "100.hea")  # MLII + V5: two leads, no lead I: MLII stands in
    out, notes = conform_leads(mitdb, ("ECG",))
    assert out.leads == ("ECG",) and np.array_equal(out.data[0], mitdb.data[0]) and "lead MLII" in notes[0]
    only_chest = replace(mitdb, leads=("V1", "V5"))  # no limb lead at all
    with pytest.raises(EcgedgeError, match="lacks lead"):
        conform_leads(only_chest, ("ECG",))


def test_former_model_name_still_works():
    """The AF-vs-rest model became the four-class rhythm model: its old name is an alias."""
    from ecgedge.zoo import ALIASES, model_path, shipped

    for old, new in ALIASES.items():
        if new in shipped():
            assert model_path(old) == model_path(new)
