"""The shipped default on real records as users have them: other sampling rates, fewer leads, microvolt
headers, short and long recordings. Each input is made from real PTB-XL 500 Hz records of the shared data
(resampled, re-scaled, cut or repeated, written as WFDB) and must give what the original gives, within a
tolerance that the conversion explains, through the same runtime path as `ecgedge infer`."""

from __future__ import annotations

import numpy as np
import pytest

from ecgedge import read_record
from ecgedge.io.wfdb_write import write_wfdb
from ecgedge.runtime.predictor import Predictor
from ecgedge.signal import Signal
from ecgedge.zoo import shipped

pytestmark = pytest.mark.skipif("ptbxl-superdiagnostic" not in shipped(), reason="no shipped default model")
N_RECORDS = 8


@pytest.fixture(scope="module")
def originals(data):
    files = sorted((data / "ptb-xl" / "records500").rglob("*.hea"))[:N_RECORDS]
    return [read_record(f) for f in files]


@pytest.fixture(scope="module")
def predictor():
    return Predictor()


@pytest.fixture(scope="module")
def reference(predictor, originals):
    return np.array([predictor.predict(s).probabilities for s in originals])


def _variant(sig: Signal, data: np.ndarray, fs: float | None = None, leads=None, units=None) -> Signal:
    leads = tuple(leads or sig.leads)
    return Signal(np.asarray(data, np.float32), fs or sig.fs, leads, tuple(units or ("mV",) * len(leads)), sig.name)


def _through_wfdb(sig: Signal, tmp_path, k: int):
    """Written as a WFDB record and read back, as a user's file would arrive."""
    return read_record(write_wfdb(sig, tmp_path, f"r{k}"))


def _check(predictor, reference, variants, tmp_path, tol: float, warn: str | None = None):
    got = []
    for k, v in enumerate(variants):
        p = predictor.predict(_through_wfdb(v, tmp_path, k))
        assert p.error is None and np.isfinite(p.probabilities).all()
        if warn:
            assert any(warn in w for w in p.warnings), p.warnings
        got.append(p.probabilities)
    diff = np.abs(np.array(got) - reference)
    assert diff.max() <= tol, f"largest probability change {diff.max():.3f} (tolerance {tol})"
    return np.array(got)


@pytest.mark.parametrize("fs", [250.0, 1000.0])
def test_other_sampling_rates(predictor, originals, reference, tmp_path, fs):
    ss = pytest.importorskip("scipy.signal")
    up, down = (1, 2) if fs == 250 else (2, 1)
    variants = [_variant(s, ss.resample_poly(s.data.astype(np.float64), up, down, axis=-1), fs=fs) for s in originals]
    _check(predictor, reference, variants, tmp_path, tol=0.05)


def test_the_same_records_at_100_hz(predictor, originals, reference, data):
    """PTB-XL's own 100 Hz files of the same recordings: its downsampling and rounding, not ours, so the
    tolerance is wider for single values and tight on average."""
    got = []
    for s in originals:
        ecg_id = s.name.split("_")[0]
        p = predictor.predict(next((data / "ptb-xl" / "records100").rglob(f"{ecg_id}_lr.hea")))
        got.append(p.probabilities)
    diff = np.abs(np.array(got) - reference)
    assert diff.max() <= 0.15 and diff.mean() <= 0.02, (diff.max(), diff.mean())


def test_microvolt_headers(predictor, originals, reference, tmp_path):
    variants = [_variant(s, s.data * 1000.0, units=("uV",) * s.n_leads) for s in originals]
    _check(predictor, reference, variants, tmp_path, tol=0.02)


def test_eight_leads_limb_leads_derived(predictor, originals, reference, tmp_path):
    """I, II and V1-V6, as many carts store them: III, aVR, aVL and aVF are derived, with a warning."""
    keep = ["I", "II", "V1", "V2", "V3", "V4", "V5", "V6"]
    variants = [_variant(s, s.data[[s.leads.index(n) for n in keep]], leads=keep) for s in originals]
    _check(predictor, reference, variants, tmp_path, tol=0.05, warn="derived")


def _clear_decisions_agree(predictor, reference, got, margin: float = 0.4, share: float = 0.9) -> None:
    """The classes with the clearest evidence (probability far from the threshold) keep their decision."""
    thr = np.array(predictor.contract.thresholds)
    clear = np.abs(reference - thr) > margin
    assert ((got > thr) == (reference > thr))[clear].mean() >= share


def test_short_five_second_records(predictor, originals, reference, tmp_path):
    """Half a record: padded with a warning, and still a finite answer that keeps the clear decisions."""
    variants = [_variant(s, s.data[:, : s.data.shape[1] // 2]) for s in originals]
    got = _check(predictor, reference, variants, tmp_path, tol=1.0, warn="")
    _clear_decisions_agree(predictor, reference, got)


def test_long_sixty_second_records(predictor, originals, reference, tmp_path):
    """Six repeats of the record (60 s): windows are aggregated as the contract says (a max over more windows
    can only see more), and the answer keeps the record's clear decisions."""
    variants = [_variant(s, np.tile(s.data, 6)) for s in originals]
    got = _check(predictor, reference, variants, tmp_path, tol=0.3)
    _clear_decisions_agree(predictor, reference, got)
