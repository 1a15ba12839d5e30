"""The signal-quality gate (ecgedge.quality): real records pass, faults injected into real records are caught and
named, noise and flat lines decide no class through `ecgedge infer` (files and --stream -), the native kernel
matches the numpy definition."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli

from ecgedge import quality as Q
from ecgedge.io import read_record
from ecgedge.leads import STANDARD_12
from ecgedge.zoo import shipped

LEADS12 = ",".join(STANDARD_12)


def _records(data: Path, sub: str, n: int, pattern: str = "*.hea") -> list[Path]:
    return sorted((data / sub).rglob(pattern))[:n]


def _mv(sig) -> np.ndarray:
    return np.asarray(sig.data, np.float32)  # the shared records are in mV


@pytest.fixture(scope="module")
def ptbxl500(data):
    return read_record(_records(data, "ptb-xl/records500", 1)[0])


# -- real records --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sub,n,allowed", [("ptb-xl/records100", 60, 1), ("ptb-xl/records500", 30, 1),
                                           ("cinc2021", 12, 0), ("physionet2017/training2017", 60, 1)])
def test_real_records_pass(data, sub, n, allowed):
    """The calibration (benchmarks/quality_calibration.py) flags < 1 % of these sets; a slice of each passes."""
    poor = []
    for f in _records(data, sub, n):
        sig = read_record(f)
        q = Q.assess_signal(sig)
        assert q.verdict in ("ok", "poor") and np.isfinite(q.score)
        if not q.ok:
            poor.append((f.stem, q.reasons))
    assert len(poor) <= allowed, poor


def test_clean_record_summary_and_dict(ptbxl500):
    q = Q.assess_signal(ptbxl500)
    assert q.ok and q.summary() == "ok" and q.reasons == () and 0 <= q.score < 1
    # PTB-XL's limb leads obey Einthoven's law: III, aVR, aVL and aVF are judged through I and II, not measured
    assert q.derived == ("III", "aVR", "aVL", "aVF") and set(q.leads) | set(q.derived) == set(ptbxl500.leads)
    assert q.as_dict() == {"verdict": "ok", "score": round(q.score, 4), "reasons": []}


# -- faults injected into real records ------------------------------------------------------------------------


def _inject(x: np.ndarray, fs: float, lead: int, fault: str, rng: np.random.Generator) -> np.ndarray:
    y = x.copy()
    v = y[lead].astype(np.float64)
    n = v.size
    t = np.arange(n) / fs
    if fault == "flat":
        v[:] = np.median(v)
    elif fault == "lead_off_zero":
        v[n // 3:] = 0.0
    elif fault == "lead_off_rail":
        v[n // 4:] = 32767 / 200
    elif fault == "clipping":
        med = np.median(v)
        c = 0.4 * np.abs(v - med).max()
        v = np.clip(v, med - c, med + c)
    elif fault == "white_noise":
        v = v + rng.standard_normal(n) * v.std()
    elif fault == "motion":
        spec = np.fft.rfft(rng.standard_normal(n))
        spec[(np.fft.rfftfreq(n, 1 / fs) < 0.1) | (np.fft.rfftfreq(n, 1 / fs) > 2)] = 0
        art = np.fft.irfft(spec, n)
        amp = 4 * np.ptp(v)
        art = art / np.abs(art).max() * amp
        art[n // 2:] += amp  # an electrode pop
        v = v + art
    elif fault in ("hum50", "hum60"):
        v = v + 0.3 * np.sin(2 * np.pi * (50.0 if fault == "hum50" else 60.0) * t + 1.0)
    elif fault == "nan_gap":
        v[n // 2:n // 2 + int(0.5 * fs)] = np.nan
    y[lead] = v.astype(np.float32)
    return y


#: what a reason says about each fault (a lead at a converter's rail is flat, or beyond any ECG's range)
WORDS = {"flat": ("flat",), "lead_off_zero": ("flat",), "lead_off_rail": ("flat", "out of ECG range"),
         "clipping": ("clipped",), "white_noise": ("noise",), "motion": ("motion",), "hum50": ("mains hum 50 Hz",),
         "hum60": ("mains hum 60 Hz",), "nan_gap": ("missing samples",)}


@pytest.mark.parametrize("fault", list(WORDS))
@pytest.mark.parametrize("which", ["ptb-xl/records500", "cinc2021", "physionet2017/training2017"])
def test_injected_faults_are_caught_and_named(data, fault, which):
    rng = np.random.default_rng(1)
    sig = read_record(_records(data, which, 1)[0])
    lead = sig.leads.index("V3") if "V3" in sig.leads else 0
    x = _mv(sig)
    assert Q.assess(x, sig.fs, sig.leads).ok  # the host is clean: what is found is the fault
    q = Q.assess(_inject(x, sig.fs, lead, fault, rng), sig.fs, sig.leads)
    assert not q.ok, fault
    named = [r for r in q.reasons if sig.leads[lead] in r.split(":")[0].replace(",", " ").split()]
    assert named, q.reasons
    assert any(word in named[0] for word in WORDS[fault]), q.reasons


def test_hum_at_100_hz_is_named_with_its_alias(data):
    sig = read_record(_records(data, "ptb-xl/records100", 1)[0])
    x = _mv(sig)
    x[7] += 0.3 * np.sin(2 * np.pi * 60.3 * np.arange(sig.n_samples) / sig.fs)
    q = Q.assess(x, sig.fs, sig.leads)
    assert not q.ok and any("lead V2" in r and "60 Hz (aliased to 40" in r for r in q.reasons), q.reasons


@pytest.mark.parametrize("backend", ["auto", "reference"])
def test_absurd_inputs_are_judged_without_warnings(backend, monkeypatch):
    monkeypatch.setenv("ECGEDGE_KERNEL", backend)  # the numpy definition runs where the kernel is not built
    rng = np.random.default_rng(0)
    n = 2500
    cases = {
        "all NaN": (np.full((3, n), np.nan, np.float32), "no signal"),
        "inf": (np.full((3, n), np.inf, np.float32), "no signal"),
        "constant 1e30": (np.full((3, n), 1e30, np.float32), "flat"),
        "alternating 3e38": (np.tile(np.array([3e38, -3e38], np.float32), (3, n // 2)), "out of ECG range"),
        "uniform noise": (rng.uniform(-1, 1, (3, n)).astype(np.float32), "noise"),
        "zeros, 5 samples": (np.zeros((3, 5), np.float32), "flat"),
        "one sample": (np.zeros((3, 1), np.float32), "flat"),
    }
    for name, (x, word) in cases.items():
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no numpy overflow/invalid warnings leak to the user
            q = Q.assess(x, 250.0, ("I", "II", "V1"))
        assert not q.ok and np.isfinite(q.score) and any(word in r for r in q.reasons), (name, q.reasons)
        json.dumps(q.as_dict())


def test_reasons_group_leads_and_say_no_qrs():
    x = np.zeros((12, 5000), np.float32)
    q = Q.assess(x, 500.0, STANDARD_12)
    assert q.reasons == ("all 12 leads flat",) and q.summary() == "poor signal: all 12 leads flat"
    rng = np.random.default_rng(0)
    q = Q.assess(rng.normal(0, 0.3, (1, 9000)).astype(np.float32), 300.0, ("ECG",))
    assert not q.ok and "lead ECG" in q.reasons[0]


def test_native_kernel_matches_the_numpy_definition(data):
    """The kernel's features, its verdict (which spares a clean record the Python judge) and the skipping of limb
    leads equal to their formula of I and II all match the numpy definition."""
    kernel = Q._kernel(None)
    if kernel is None:
        pytest.skip("the native kernel (with its quality features) is not built here")
    rng = np.random.default_rng(2)
    verdicts = 0
    for sub in ("ptb-xl/records100", "ptb-xl/records500", "cinc2021", "physionet2017/training2017"):
        for f in _records(data, sub, 4):
            sig = read_record(f)
            x = _mv(sig)
            variants = [x, x[:, : int(2.5 * sig.fs)], x[:, :7]]
            variants += [_inject(x, sig.fs, lead, fault, rng) for fault in WORDS for lead in (0, len(sig.leads) - 1)]
            for y in variants:
                a = Q.features(y, sig.fs, leads=sig.leads)
                b = Q.features_reference(y, sig.fs, sig.leads)
                for k in Q.FEATURES:
                    tol = 0.3 if k in ("busy", "bpm", "rr_ok") else 1e-3  # counts: one block can flip on rounding
                    np.testing.assert_allclose(a[k], b[k], rtol=tol, atol=1e-6, err_msg=f"{f.stem} {k}")
                dur = y.shape[1] / sig.fs
                native = Q.assess(y, sig.fs, sig.leads)
                reference = Q.judge(b, sig.leads, dur, fs=sig.fs)
                assert (native.verdict, native.reasons, native.derived) == (
                    reference.verdict, reference.reasons, reference.derived), f.stem
                assert native.score == pytest.approx(reference.score, rel=1e-3, abs=1e-6)
                verdicts += 1
    assert verdicts > 100


def test_native_kernel_matches_at_every_rate_and_length():
    """The kernel's vector paths (block means by factors 2 to 10, vector-length tails, order statistics over many
    equal values) against the numpy definition at rates and lengths the shared records do not have."""
    from ecgedge.simulate import simulated_ecg

    if Q._kernel(None) is None:
        pytest.skip("the native kernel (with its quality features) is not built here")
    rng = np.random.default_rng(5)
    cases = 0
    for fs in (128.0, 250.0, 257.0, 300.0, 360.0, 400.0, 800.0, 1000.0):
        for duration in (10.0, 3.7):
            x = np.asarray(simulated_ecg(duration, fs, seed=int(fs)).data, np.float32)
            x = x[:, : x.shape[1] - int(rng.integers(0, 17))]  # lengths off any vector multiple
            quantised = np.round(x * 200) / 200  # a 200-units/mV converter: ties everywhere
            held = x.copy()
            held[3, x.shape[1] // 3:] = held[3, x.shape[1] // 3]  # a long constant stretch: equal block values
            for y in (x, quantised.astype(np.float32), held):
                a, b = Q.features(y, fs, leads=STANDARD_12), Q.features_reference(y, fs, STANDARD_12)
                for k in Q.FEATURES:
                    tol = 0.3 if k in ("busy", "bpm", "rr_ok") else 1e-3
                    np.testing.assert_allclose(a[k], b[k], rtol=tol, atol=1e-6, err_msg=f"{fs} {duration} {k}")
                native = Q.assess(y, fs, STANDARD_12)
                reference = Q.judge(b, STANDARD_12, y.shape[1] / fs, fs=fs)
                assert (native.verdict, native.reasons) == (reference.verdict, reference.reasons), (fs, duration)
                cases += 1
    assert cases == 48


def test_limb_leads_equal_to_their_formula_are_judged_through_i_and_ii():
    rng = np.random.default_rng(3)
    i, ii = rng.normal(0, 0.3, (2, 5000)).astype(np.float32)
    x = np.stack([i, ii, ii - i, -(i + ii) / 2, i - ii / 2, ii - i / 2])
    names = ("I", "II", "III", "aVR", "aVL", "aVF")
    assert Q.features(x, 500.0, leads=names)["derived"].tolist() == [0, 0, 1, 1, 1, 1]
    x[2, 100] += 1.0  # III no longer is II - I: measured on its own
    assert Q.features(x, 500.0, leads=names)["derived"].tolist() == [0, 0, 0, 1, 1, 1]
    assert Q.features(x, 500.0)["derived"].tolist() == [0] * 6  # without names, every lead is measured


# -- the predictor: derived limb leads, missing precordial leads, outputs -------------------------------------


needs_model = pytest.mark.skipif(not shipped(), reason="no shipped model")


@needs_model
def test_predictor_gate_rules(ptbxl500):
    from ecgedge.errors import EcgedgeError
    from ecgedge.runtime.predictor import Predictor

    pred = Predictor(threads=1)
    ok = pred.predict(ptbxl500)
    assert ok.quality is not None and ok.quality.ok and ok.as_dict()["quality"] == "ok"
    # a limb lead off is a missing limb lead: derived from I and II, with a warning, and the record is fine
    x = ptbxl500.data.copy()
    x[ptbxl500.leads.index("aVL")] = 0.0
    p = pred.predict(replace(ptbxl500, data=x))
    assert p.quality.ok and any("aVL" in w and "derived from I and II" in w for w in p.warnings), p.warnings
    # a precordial lead off is named, and no class is decided (probabilities are still there)
    x = ptbxl500.data.copy()
    x[ptbxl500.leads.index("V3")] = 0.0
    p = pred.predict(replace(ptbxl500, data=x))
    assert not p.quality.ok and p.quality.reasons == ("lead V3 flat",)
    assert not p.decisions.any() and p.probabilities.shape == (5,) and p.as_dict()["positive"] == []
    assert p.as_dict()["quality"] == "poor signal: lead V3 flat"
    # lead I off: nothing to derive from; a missing precordial lead: named by the contract check
    x = ptbxl500.data.copy()
    x[0] = 0.0
    assert pred.predict(replace(ptbxl500, data=x)).quality.reasons == ("lead I flat",)
    keep = [i for i, n in enumerate(ptbxl500.leads) if n != "V4"]
    with pytest.raises(EcgedgeError, match="V4"):
        pred.predict(replace(ptbxl500, data=ptbxl500.data[keep], leads=tuple(ptbxl500.leads[i] for i in keep),
                             units=tuple(ptbxl500.units[i] for i in keep)))
    # the gate can be switched off (to measure what it costs): then the decisions are the model's
    pred.quality_gate = False
    assert pred.predict(replace(ptbxl500, data=x)).quality is None


@needs_model
def test_every_output_format_carries_the_verdict(ptbxl500, tmp_path):
    from ecgedge.runtime.predictor import Predictor
    from ecgedge.runtime.report import Writer

    pred = Predictor(threads=1)
    x = ptbxl500.data.copy()
    x[ptbxl500.leads.index("V5")] = 0.0
    preds = [pred.predict(ptbxl500), pred.predict(replace(ptbxl500, data=x, name="offV5"))]
    out = {}
    for fmt in ("table", "csv", "json", "jsonl"):
        for timeline in (False, True):
            buf = io.StringIO()
            w = Writer(buf, fmt, pred.classes, timeline)
            for p in preds:
                w.write(p)
            w.close()
            out[fmt, timeline] = buf.getvalue()
    for timeline in (False, True):
        rows = [r for r in csv.DictReader(io.StringIO(out["csv", timeline])) if not r.get("window")]
        assert [r["quality"] for r in rows] == ["ok", "poor signal: lead V5 flat"]
        assert rows[1]["positive"] == "" and float(rows[1]["quality_score"]) >= 1
        j = json.loads(out["json", timeline])
        assert [d["quality"] for d in j if "window" not in d] == ["ok", "poor signal: lead V5 flat"]
        lines = [json.loads(line) for line in out["jsonl", timeline].splitlines()]
        assert [d["quality"] for d in lines if "window" not in d] == ["ok", "poor signal: lead V5 flat"]
        table = out["table", timeline].splitlines()
        assert [line for line in table if line.startswith("offV5")] == [
            line for line in table if "poor signal: lead V5 flat" in line]


# -- `ecgedge infer`, files and streams --------------------------------------------------------------------------


def _write_int16(folder: Path, name: str, digital: np.ndarray, fs: int = 500, gain: int = 1000) -> Path:
    (folder / f"{name}.dat").write_bytes(np.ascontiguousarray(digital.T.astype("<i2")).tobytes())
    lines = [f"{name} {digital.shape[0]} {fs} {digital.shape[1]}"]
    lines += [f"{name}.dat 16 {gain}/mV 16 0 0 0 0 {lead}" for lead in STANDARD_12]
    (folder / f"{name}.hea").write_text("\n".join(lines) + "\n")
    return folder / f"{name}.hea"


@needs_model
def test_infer_decides_no_class_for_noise_and_flat_records(tmp_path):
    rng = np.random.default_rng(0)
    noise = _write_int16(tmp_path, "noise", rng.integers(-32767, 32768, (12, 5000)))
    flat = _write_int16(tmp_path, "flat", np.zeros((12, 5000), np.int64))
    r = run_cli("infer", str(noise), str(flat), "--format", "jsonl")
    rows = {d["record"]: d for d in map(json.loads, r.stdout.splitlines())}
    assert set(rows) == {"noise", "flat"}, r.stderr
    for name, d in rows.items():
        assert d["positive"] in ([], None), (name, d)
        assert d["error"] or d["quality"].startswith("poor signal"), (name, d)
    assert rows["flat"]["quality"] == "poor signal: all 12 leads flat"
    table = run_cli("infer", str(flat)).stdout
    assert "poor signal: all 12 leads flat" in table


STREAMS = {
    "all NaN": lambda n: np.full((n, 12), np.nan, "<f4"),
    "constant 1e30": lambda n: np.full((n, 12), 1e30, "<f4"),
    "alternating 3e38": lambda n: np.where((np.arange(n) % 2 == 0)[:, None], 3e38, -3e38).astype("<f4")
    * np.ones((1, 12), "<f4"),
}


def _model_window_s() -> float:
    from ecgedge.artifact import read_info
    from ecgedge.zoo import default_model

    c = read_info(default_model()).contract
    return c.window / c.fs


@needs_model
@pytest.mark.parametrize("kind", list(STREAMS))
def test_absurd_streams_give_no_diagnosis_and_a_warning(kind):
    seconds = 2.2 * _model_window_s()  # two windows and a padded tail, whatever the shipped model's window
    raw = STREAMS[kind](int(250 * seconds)).tobytes()
    p = subprocess.run([sys.executable, "-m", "ecgedge", "infer", "--stream", "-", "--fs", "250", "--leads", LEADS12,
                        "--dtype", "float32", "--format", "jsonl"], input=raw, capture_output=True, timeout=120)
    err = p.stderr.decode()
    assert p.returncode == 0, err
    rows = [json.loads(line) for line in p.stdout.decode().splitlines()]
    assert len(rows) >= 2
    assert all(r["positive"] == [] and r["quality"].startswith("poor signal") for r in rows), rows
    assert "warning: poor signal" in err and f"{len(rows)} of {len(rows)} window(s) had a poor signal" in err
    assert err.count("warning: poor signal") == 1  # once when it turns poor, not per window


@needs_model
def test_clean_stream_keeps_its_decisions_and_csv_has_the_verdict():
    from ecgedge.simulate import simulated_ecg

    sig = simulated_ecg(duration=2.5 * _model_window_s(), fs=250.0)
    raw = np.ascontiguousarray(sig.data.T.astype("<f4")).tobytes()
    p = subprocess.run([sys.executable, "-m", "ecgedge", "infer", "--stream", "-", "--fs", "250", "--leads",
                        ",".join(sig.leads), "--dtype", "float32", "--format", "csv"], input=raw,
                       capture_output=True, timeout=120)
    assert p.returncode == 0, p.stderr.decode()
    rows = list(csv.DictReader(io.StringIO(p.stdout.decode())))
    assert rows and all(r["quality"] == "ok" for r in rows)
    assert "poor signal" not in p.stderr.decode()


def test_stream_classifier_rows_carry_the_verdict():
    if not shipped():
        pytest.skip("no shipped model")
    from ecgedge.runtime.live import StreamClassifier
    from ecgedge.simulate import simulated_ecg

    window = _model_window_s()
    sig = simulated_ecg(duration=3 * window, fs=250.0)
    clf = StreamClassifier(None, 250.0, sig.leads, sig.units, hop=window / 2)
    x = sig.data.copy()
    x[sig.leads.index("V2"), int(1.5 * window * 250):] = 0.0  # lead off half-way through the second window
    rows = [r for a in range(0, x.shape[1], 125) for r in clf.push(x[:, a:a + 125])] + clf.flush()
    verdicts = [(round(r.t, 2), r.quality.ok) for r in rows]
    assert verdicts[0] == (round(window, 2), True) and verdicts[-1][1] is False, verdicts
    assert all(not r.decisions.any() for r in rows if not r.quality.ok)
    assert any("V2" in reason for r in rows if not r.quality.ok for reason in r.quality.reasons)
