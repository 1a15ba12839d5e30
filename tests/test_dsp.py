"""Preprocessing: the native kernel and the numpy/scipy reference, each held to scipy on real records.

Every test that takes ``backend`` runs twice, once per implementation."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from ecgedge.dsp import Preprocessing, Preprocessor, get_backend, native_available, resample_plan
from ecgedge.dsp.design import COMMON_RATES, check_sos, filtfilt_padlen
from ecgedge.dsp.stream import StreamPreprocessor
from ecgedge.errors import EcgedgeError
from ecgedge.io import read_record

ss = pytest.importorskip("scipy.signal")

BACKENDS = ["reference", pytest.param("native", marks=pytest.mark.skipif(not native_available(),
                                                                          reason="native kernel not built"))]


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


@pytest.fixture(scope="module")
def records(data):
    """Real records at the rates the kernel must handle."""
    return {
        "ptbxl100": read_record(data / "ptb-xl/records100/00000/00010_lr.hea"),
        "ptbxl500": read_record(data / "ptb-xl/records500/00000/00010_hr.hea"),
        "mitdb360": read_record(data / "wfdb-examples/100.hea"),
        "pn2017_300": read_record(data / "physionet2017/training2017/A00005.hea"),
        "ptb1000": read_record(data / "wfdb-examples/s0010_re.hea"),
        "cinc500": read_record(data / "cinc2021/E07501.hea"),
    }


def _rel(a, b):
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-12))


def _x(sig, seconds=20):
    return sig.data[:, : int(seconds * sig.fs)].astype(np.float64)


# --------------------------------------------------------------------------------------- filters
@pytest.mark.parametrize("name", ["ptbxl100", "ptbxl500", "mitdb360", "pn2017_300", "ptb1000"])
def test_sosfiltfilt_matches_scipy(backend, records, name):
    sig = records[name]
    B = get_backend(backend)
    for edges, kind, order in (([0.5, 40.0], "bandpass", 2), (0.67, "highpass", 4), (30.0, "lowpass", 3)):
        sos = ss.butter(order, edges, btype=kind, fs=sig.fs, output="sos")
        x = _x(sig)
        y = B.sosfiltfilt(x, sos)
        ref = ss.sosfiltfilt(sos, x, axis=-1)
        assert _rel(y.astype(np.float32), ref) <= 1e-5


def test_causal_filter_in_chunks_equals_whole(backend, records):
    B = get_backend(backend)
    x = _x(records["mitdb360"], 60)
    sos = ss.butter(2, [0.5, 40], btype="bandpass", fs=360, output="sos")
    whole, _ = B.sosfilt(x, sos, B.steady_state(sos, x[:, 0]))
    ref, _ = ss.sosfilt(sos, x, axis=-1, zi=ss.sosfilt_zi(sos)[:, None, :] * x[:, 0][None, :, None])
    assert _rel(whole, ref) <= 1e-9
    rng = np.random.default_rng(1)
    state = B.steady_state(sos, x[:, 0])
    parts, i = [], 0
    while i < x.shape[1]:
        c = int(rng.integers(1, 1000))
        y, state = B.sosfilt(x[:, i:i + c], sos, state)
        parts.append(y)
        i += c
    np.testing.assert_array_equal(np.concatenate(parts, axis=1), whole)


@pytest.mark.parametrize("k", [1, 3, 5, 71, 101, 301])
def test_medfilt_matches_scipy(backend, records, k):
    x = _x(records["ptbxl500"], 10)[:3]
    np.testing.assert_array_equal(get_backend(backend).medfilt(x, k), np.stack([ss.medfilt(r, k) for r in x]))


@pytest.mark.filterwarnings("ignore:kernel_size exceeds volume extent")
def test_medfilt_short_and_constant_inputs(backend):
    B = get_backend(backend)
    rng = np.random.default_rng(0)
    for n in (1, 2, 3, 4, 7):
        x = rng.standard_normal((2, n))
        np.testing.assert_array_equal(B.medfilt(x, 5), np.stack([ss.medfilt(r, 5) for r in x]))
    x = np.ones((1, 50))
    np.testing.assert_array_equal(B.medfilt(x, 9), ss.medfilt(x[0], 9)[None])
    assert B.remove_baseline(np.zeros((2, 0)), 101, 301).shape == (2, 0)  # empty: nothing to do, no error


def test_baseline_removal_is_two_medians(backend, records):
    sig = records["ptbxl500"]
    x = _x(sig, 10)
    k1, k2 = 101, 301  # 200 ms and 600 ms at 500 Hz
    ref = x - np.stack([ss.medfilt(ss.medfilt(r, k1), k2) for r in x])
    np.testing.assert_allclose(get_backend(backend).remove_baseline(x, k1, k2), ref, rtol=0, atol=1e-12)


@pytest.mark.filterwarnings("ignore:kernel_size exceeds volume extent")
@pytest.mark.parametrize(("k1", "k2"), [(101, 301), (21, 61), (61, 21), (17, 1), (3, 5)])
@pytest.mark.parametrize("data", ["ties", "spike", "inf", "constant", "long"])
def test_baseline_removal_hard_inputs(backend, k1, k2, data):
    """The kernel's two stages share one sort per segment (a first-stage median is one of the samples):
    exact against scipy where that sort is hardest -- many equal values, one huge spike that crowds every
    other value into one key, infinities, a flat lead, and a record spanning several segments."""
    rng = np.random.default_rng(k1 * 1000 + k2)
    n = 40_000 if data == "long" else 3_000
    x = np.round(rng.standard_normal((2, n)) * 4) / 4
    if data == "spike":
        x = rng.standard_normal((2, n)) * 1e-3
        x[:, n // 3] = 1e12
    elif data == "inf":
        x[0, 10], x[1, n - 5] = np.inf, -np.inf
    elif data == "constant":
        x[:] = 0.25
    elif data == "long":
        x += np.sin(np.arange(n) / 300.0)
    with np.errstate(invalid="ignore"):
        ref = x - np.stack([ss.medfilt(ss.medfilt(r, k1), k2) for r in x])
    np.testing.assert_array_equal(get_backend(backend).remove_baseline(x, k1, k2), ref)


# ------------------------------------------------------------------------------------ resampling
@pytest.mark.parametrize(("fs_in", "fs_out"), COMMON_RATES)
def test_resample_matches_resample_poly(backend, records, fs_in, fs_out):
    src = {500: "ptbxl500", 1000: "ptb1000", 360: "mitdb360", 300: "pn2017_300", 100: "ptbxl100"}
    # 257 Hz (St Petersburg) and 250 Hz: real samples, read as if recorded at that rate
    x = _x(records[src.get(fs_in, "cinc500")], 8)
    plan = resample_plan(fs_in, fs_out)
    y = get_backend(backend).resample(x, plan)
    ref = ss.resample_poly(x, plan.up, plan.down, axis=-1)
    assert y.shape == ref.shape
    assert _rel(y, ref) <= 1e-12


def test_resample_filter_is_scipys(records):
    """The numpy-built anti-aliasing filter equals the one resample_poly designs."""
    for fs_in, fs_out in COMMON_RATES:
        plan = resample_plan(fs_in, fs_out)
        impulse = np.zeros((1, 400))
        impulse[0, 200] = 1.0
        ref = ss.resample_poly(impulse, plan.up, plan.down, axis=-1)
        from ecgedge.dsp import reference as R

        np.testing.assert_allclose(R.resample_span(impulse, 0, plan, 0, ref.shape[1]), ref, atol=1e-15)


def test_resample_span_streams(backend, records):
    B = get_backend(backend)
    x = _x(records["mitdb360"], 30)
    plan = resample_plan(360, 100)
    whole = B.resample(x, plan)
    # any window of the input that covers the filter's reach gives the same outputs
    j0, n_out = 500, 300
    t_lo = (j0 + plan.pre_remove) * plan.down - (len(plan.h) - 1)
    p_lo = max(0, -(-t_lo // plan.up))
    p_hi = ((j0 + n_out - 1 + plan.pre_remove) * plan.down) // plan.up
    part = B.resample_span(x[:, p_lo:p_hi + 1], p_lo, plan, j0, n_out)
    np.testing.assert_allclose(part, whole[:, j0:j0 + n_out], rtol=0, atol=1e-12)


# ---------------------------------------------------------------------------------- normalisation
def test_normalisations(backend, records):
    B = get_backend(backend)
    x = _x(records["ptbxl100"], 10)
    y, flat = B.normalize(x, "zscore")
    np.testing.assert_allclose(y, (x - x.mean(1, keepdims=True)) / x.std(1, keepdims=True), atol=1e-12)
    y, _ = B.normalize(x, "minmax")
    assert np.allclose(y.min(1), 0) and np.allclose(y.max(1), 1)
    y, _ = B.normalize(x, "robust")
    q25, med, q75 = np.percentile(x, [25, 50, 75], axis=1, keepdims=True)
    np.testing.assert_allclose(y, (x - med) / (q75 - q25), atol=1e-12)
    y, _ = B.normalize(x, "l2")
    np.testing.assert_allclose(np.sqrt((y * y).sum(1)), 1.0)
    assert not flat.any()


@pytest.mark.parametrize("method", ["zscore", "minmax", "robust", "l2"])
def test_flat_lead_is_zeros_and_flagged(backend, method):
    x = np.random.default_rng(0).standard_normal((3, 500))
    x[1] = 0.0 if method == "l2" else 0.42  # constant: no spread (for L2: no energy)
    y, flat = get_backend(backend).normalize(x, method)
    assert flat.tolist() == [False, True, False]
    assert np.isfinite(y).all() and (y[1] == 0).all()


# ---------------------------------------------------------------------------------------- windows
@pytest.mark.parametrize(("n", "window", "stride", "tail"), [(1000, 250, 125, True), (1000, 300, 200, True),
                                                              (1000, 300, 200, False), (250, 250, 125, True),
                                                              (100, 250, 125, True), (1, 10, 5, True)])
@pytest.mark.parametrize("pad", ["zeros", "edge", "wrap"])
def test_windows(backend, n, window, stride, tail, pad):
    from ecgedge.dsp import reference as R

    x = np.arange(2 * n, dtype=np.float64).reshape(2, n)
    w = get_backend(backend).windows(x, window, stride, tail, pad)
    assert w.dtype == np.float32 and w.shape[1:] == (2, window)
    np.testing.assert_array_equal(w, R.windows(x, window, stride, tail, pad))
    if n >= window:
        assert w[0, 0, 0] == 0 and w[-1, 1, -1] == x[1, -1] if tail or (n - window) % stride == 0 else True
    else:
        assert w.shape[0] == 1
        expect = {"zeros": 0.0, "edge": x[0, -1], "wrap": x[0, 0]}[pad]
        assert w[0, 0, n] == np.float32(expect)


# ---------------------------------------------------------------------------------- whole pipeline
SPECS = [
    Preprocessing(fs=100, window=250, stride=125),
    Preprocessing(fs=100, window=500, stride=250, filter_first=True),
    Preprocessing(fs=100, baseline=(0.2, 0.6), band=(None, 40.0), norm="robust"),
    Preprocessing(fs=500, window=2500, stride=2500, zero_phase=False, norm="minmax", norm_scope="window"),
    Preprocessing(fs=100, band=None, norm="l2", window=1000, stride=1000),
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"fs{s.fs:g}-{s.norm}-ff{int(s.filter_first)}")
@pytest.mark.parametrize("name", ["ptbxl100", "ptbxl500", "cinc500", "ptb1000"])
def test_pipeline_native_equals_reference(records, spec, name):
    if not native_available():
        pytest.skip("native kernel not built")
    sig = records[name]
    a = Preprocessor(spec, backend="native")(sig)
    b = Preprocessor(spec, backend="reference")(sig)
    assert a.x.shape == b.x.shape and a.x.dtype == np.float32
    np.testing.assert_allclose(a.x, b.x, rtol=1e-5, atol=1e-5)
    assert a.flat.tolist() == b.flat.tolist()
    assert a.samples == b.samples and (a.starts is None) == (spec.window is None)
    assert spec.window is None or a.starts.tolist() == b.starts.tolist()


@pytest.mark.parametrize("n", [100, 899, 1000, 1001, 1003, 1007, 2999, 3601])
def test_window_starts_are_where_the_windows_were_cut(backend, records, n):
    """Each window's start, as the kernel (or the reference) reports it, at the length its resampler made: 360 -> 100
    Hz of 1001 samples is 278.06 samples, 279 after resampling (rounding said 278: the tail window was off by one)."""
    from dataclasses import replace

    sig = records["mitdb360"]
    spec = Preprocessing(fs=100, leads=sig.leads, band=None, norm="none", window=250, stride=100)
    data = sig.data[:, :n]
    whole = Preprocessor(replace(spec, window=None, stride=None), backend=backend).run(data, sig.fs)
    out = Preprocessor(spec, backend=backend).run(data, sig.fs)
    m = resample_plan(sig.fs, 100).out_len(n)
    assert out.samples == whole.samples == whole.x.shape[1] == m and whole.starts is None
    assert len(out.starts) == len(out.x) and out.starts.dtype == np.int64
    if m <= 250:
        assert out.starts.tolist() == [0]
        return
    assert out.starts[-1] == m - 250 and all(s % 100 == 0 for s in out.starts[:-1])
    for w, start in zip(out.x, out.starts):
        np.testing.assert_array_equal(w, whole.x[:, start:start + 250])


def test_pipeline_against_a_plain_scipy_chain(backend, records):
    sig = records["ptbxl500"]
    spec = Preprocessing(fs=100, window=250, stride=125, filter_first=True)
    out = Preprocessor(spec, backend=backend)(sig).x
    sos = ss.butter(2, [0.5, 40.0], btype="bandpass", fs=500, output="sos")
    y = ss.resample_poly(ss.sosfiltfilt(sos, sig.data.astype(np.float64), axis=-1), 1, 5, axis=-1)
    y = (y - y.mean(-1, keepdims=True)) / y.std(-1, keepdims=True)
    ref = np.stack([y[:, s:s + 250] for s in range(0, 1000 - 250 + 1, 125)])
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)


def test_lead_mapping_units_and_missing_leads(backend, records):
    sig = records["ptbxl500"]
    spec = Preprocessing(fs=100, leads=("V1", "II", "aVR"), norm="none", band=None)
    out = Preprocessor(spec, backend=backend)(sig).x
    ref = ss.resample_poly(sig.data[[6, 1, 3]].astype(np.float64), 1, 5, axis=-1)
    np.testing.assert_allclose(out, ref, rtol=1e-6, atol=1e-7)
    micro = type(sig)(data=sig.data * 1000, fs=sig.fs, leads=sig.leads, units=("uV",) * 12, name="uv")
    np.testing.assert_allclose(Preprocessor(spec, backend=backend)(micro).x, out, rtol=1e-6, atol=1e-6)
    with pytest.raises(EcgedgeError, match="lacks lead"):
        Preprocessor(Preprocessing(leads=("I", "V7")), backend=backend)(sig)


def test_batch_on_threads_equals_one_by_one(records, data):
    if not native_available():
        pytest.skip("native kernel not built")
    recs = [read_record(data / f"ptb-xl/records500/00000/{i:05d}_hr.hea").data for i in range(1, 17)]
    X = np.stack(recs)
    P = Preprocessor(Preprocessing(fs=100, window=250, stride=125, filter_first=True))
    one = np.stack([P.run(x, 500).x for x in X])
    for threads in (1, 2, 4):
        np.testing.assert_array_equal(P.batch(X, 500, threads=threads), one)


# --------------------------------------------------------------------------------------- streaming
@pytest.mark.parametrize("name", ["mitdb360", "pn2017_300", "ptbxl500"])
def test_stream_in_random_chunks_equals_offline(backend, records, name):
    sig = records[name]
    x = sig.data[:, : int(sig.fs * 40)]
    leads = sig.leads[:2]
    spec = Preprocessing(fs=100, leads=leads, window=250, stride=100, zero_phase=False, norm_scope="window")
    offline = Preprocessor(spec, backend=backend).run(x, sig.fs, np.arange(len(leads))).x
    rng = np.random.default_rng(7)
    for _ in range(3):
        st = StreamPreprocessor(spec, sig.fs, sig.leads, backend=backend)
        got, i = [], 0
        while i < x.shape[1]:
            c = int(rng.integers(1, int(sig.fs * 3)))
            got.append(st.push(x[:, i:i + c])[0])
            i += c
        got.append(st.flush()[0])
        np.testing.assert_array_equal(np.concatenate(got), offline)


def test_stream_holds_invalid_samples_and_reports_them(backend):
    spec = Preprocessing(fs=100, leads=("I",), window=100, stride=100, zero_phase=False, norm_scope="window",
                         band=None)
    st = StreamPreprocessor(spec, 100, ("I",), backend=backend)
    x = np.sin(np.arange(300) / 10.0)[None].astype(np.float32)
    x[0, 150:160] = np.nan
    w, ends = st.push(x)
    assert np.isfinite(w).all() and st.invalid_samples == 10 and ends.tolist() == [100, 200, 300]


def test_stream_refuses_what_it_cannot_do():
    with pytest.raises(EcgedgeError, match="future"):
        StreamPreprocessor(Preprocessing(window=100, baseline=(0.2, 0.6)), 500, ("I",) * 12)
    with pytest.raises(EcgedgeError, match="zero-phase"):
        StreamPreprocessor(Preprocessing(window=100), 500, ("I",))
    with pytest.raises(EcgedgeError, match="window"):
        StreamPreprocessor(Preprocessing(zero_phase=False), 500, ("I",))


# ------------------------------------------------------------------------------------- bad input
def test_nan_policy(backend, records):
    sig = records["ptbxl100"]
    x = sig.data.copy()
    x[3, 400:404] = np.nan
    rej = Preprocessor(Preprocessing(fs=100, nan_policy="reject"), backend=backend)
    with pytest.raises(EcgedgeError, match=r"aVR, sample 400"):
        rej.run(x, 100)
    out = Preprocessor(Preprocessing(fs=100, max_gap=0.1), backend=backend).run(x, 100)
    assert np.isfinite(out.x).all() and out.repaired[3] and out.repaired.sum() == 1
    assert any("interpolated" in w for w in out.warnings)
    x[5, 100:200] = np.inf  # one second: longer than max_gap
    with pytest.raises(EcgedgeError, match="aVF, sample 100"):
        Preprocessor(Preprocessing(fs=100, max_gap=0.1), backend=backend).run(x, 100)


def test_bad_shapes_rates_and_filters(backend):
    P = Preprocessor(Preprocessing(fs=100, leads=("I", "II")), backend=backend)
    with pytest.raises(EcgedgeError, match="leads, samples"):
        P.run(np.zeros(100, np.float32), 100)
    with pytest.raises(EcgedgeError, match="zero samples"):
        P.run(np.zeros((2, 0), np.float32), 100)
    with pytest.raises(EcgedgeError, match="model needs 2"):
        P.run(np.zeros((1, 500), np.float32), 100)
    with pytest.raises(EcgedgeError, match="too short"):
        P.run(np.ones((2, 10), np.float32), 100)
    with pytest.raises(EcgedgeError, match="cannot resample"):
        P.run(np.ones((2, 5000), np.float32), 100 * np.pi)
    with pytest.raises(EcgedgeError, match="unstable"):
        check_sos(np.array([[1.0, 0, 0, 1.0, -2.5, 1.2]]))
    with pytest.raises(EcgedgeError, match="6"):
        check_sos(np.ones((2, 5)))
    with pytest.raises(EcgedgeError, match="high edge"):
        Preprocessor(Preprocessing(fs=100, band=(0.5, 60.0)), backend=backend)
    with pytest.raises(EcgedgeError, match="norm"):
        Preprocessing(norm="zscored")
    # odd dtypes and non-contiguous views are converted, not rejected
    x = np.random.default_rng(0).standard_normal((4, 2000))[::2]
    assert P.run(x, 100).x.shape == (2, 2000)
    assert P.run((x * 100).astype(np.int64), 100).x.shape == (2, 2000)


def test_kernel_rejects_misuse_with_exceptions():
    if not native_available():
        pytest.skip("native kernel not built")
    from ecgedge import _kernel as K

    out = np.empty(24, np.float32)
    fl = np.zeros(2, np.uint8)
    x = np.zeros((2, 12), np.float32)
    with pytest.raises(TypeError):
        K.run(np.zeros((2, 12), np.int8), 1, 2, out, fl)
    with pytest.raises(ValueError):
        K.run(np.zeros((4, 12), np.float32)[::2], 1, 2, out, fl)  # not contiguous
    with pytest.raises(ValueError):
        K.run(x, 1, 2, np.empty(23, np.float32), fl)  # wrong output size
    with pytest.raises(TypeError):
        K.run(x, 1, 2, np.empty(24, np.float64), fl)
    with pytest.raises(ValueError):
        K.run(x, 1, 2, out, fl, sos=np.ones(7))
    with pytest.raises(IndexError):
        K.run(x, 1, 2, out, fl, gather=np.array([0, 5], np.int32))
    with pytest.raises(ValueError):
        K.run(np.zeros((2, 0), np.float32), 1, 2, np.empty(0, np.float32), fl)
    with pytest.raises(ValueError):
        K.medfilt(np.zeros((5, 1)), 4, np.zeros((5, 1)))
    with pytest.raises(ValueError):
        K.windows(np.zeros((5, 1)), 0, 1, True, 0, np.zeros(0, np.float32))
    win = {"window": 4, "stride": 4}  # 12 samples: 3 windows of 4, [2, 4] floats each
    with pytest.raises(ValueError, match="starts holds 2 values, the plan cuts 3 windows"):
        K.run(x, 1, 2, out, fl, starts=np.zeros(2, np.int64), **win)
    with pytest.raises(TypeError):
        K.run(x, 1, 2, out, fl, starts=np.zeros(3, np.int32), **win)
    starts = np.full(3, -1, np.int64)
    assert K.run(x, 1, 2, out, fl, starts=starts, **win) == 12 and starts.tolist() == [0, 4, 8]
    ro = np.zeros(24, np.float32)
    ro.setflags(write=False)
    with pytest.raises(ValueError):
        K.run(x, 1, 2, ro, fl)


def test_padlen_matches_scipy():
    for order in (1, 2, 4):
        sos = ss.butter(order, [0.5, 40], btype="bandpass", fs=500, output="sos")
        # scipy raises for inputs not longer than padlen: the same boundary
        n = filtfilt_padlen(sos)
        with pytest.raises(ValueError):
            ss.sosfiltfilt(sos, np.ones(n))
        ss.sosfiltfilt(sos, np.ones(n + 1))


# ------------------------------------------------------------------------------------ backends
def test_backend_choice_and_loud_fallback():
    code = ("import sys; sys.modules['ecgedge._kernel'] = None\n"
            "from ecgedge.dsp import get_backend\n"
            "print(get_backend().name); print(get_backend().name)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.split() == ["reference", "reference"]
    assert r.stderr.count("WARNING") == 1 and "kernel unavailable" in r.stderr
    r = subprocess.run([sys.executable, "-c", "from ecgedge.dsp import get_backend; print(get_backend().name)"],
                       capture_output=True, text=True, check=True, env={**__import__("os").environ,
                                                                         "ECGEDGE_KERNEL": "reference"})
    assert r.stdout.strip() == "reference" and not r.stderr
    with pytest.raises(EcgedgeError, match="unknown preprocessing backend"):
        get_backend("gpu")


def test_spec_round_trips_through_json():
    import json

    spec = Preprocessing(fs=100, window=250, stride=125, baseline=(0.2, 0.6)).designed()
    back = Preprocessing.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert back == spec and back.sos is not None
    with pytest.raises(EcgedgeError, match="unknown preprocessing field"):
        Preprocessing.from_dict({**spec.to_dict(), "colour": "red"})


def test_decision_weights_in_the_contract():
    """A single-label model's decision weights travel in the contract (only when set, so older files and
    runtimes are unchanged) and pick the class with the largest weighted probability; bad weights are refused."""
    from ecgedge.contract import InputContract
    from ecgedge.dsp import Preprocessing
    from ecgedge.errors import EcgedgeError
    from ecgedge.runtime.post import decisions

    prep = Preprocessing(fs=100.0, leads=("ECG",), window=1000)
    c = InputContract(classes=("N", "A", "O", "~"), preprocessing=prep, multilabel=False,
                      decision_weights=(1.0, 3.0, 2.0, 2.0))
    back = InputContract.from_json(c.to_json())
    assert back == c and back.decision_weights == (1.0, 3.0, 2.0, 2.0)
    assert "decision_weights" not in InputContract(classes=("N", "A"), preprocessing=prep).to_dict()
    p = np.array([[0.55, 0.25, 0.15, 0.05], [0.9, 0.05, 0.03, 0.02]])
    assert decisions(p, None, False).argmax(1).tolist() == [0, 0]
    assert decisions(p, None, False, c.decision_weights).argmax(1).tolist() == [1, 0]
    for bad, msg in (((1.0, 2.0), "2 decision weights for 4 classes"), ((1.0, 0.0, 1.0, 1.0), "positive")):
        with pytest.raises(EcgedgeError, match=msg):
            InputContract(classes=("N", "A", "O", "~"), preprocessing=prep, multilabel=False, decision_weights=bad)
    with pytest.raises(EcgedgeError, match="single-label"):
        InputContract(classes=("N", "A"), preprocessing=prep, multilabel=True, decision_weights=(1.0, 2.0))
