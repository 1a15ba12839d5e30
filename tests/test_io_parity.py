"""Every record under the shared data decodes to what wfdb (the reference) reads: digital samples
bit-exact, physical values equal as float32."""

from __future__ import annotations

import numpy as np
import pytest

from ecgedge.io import read_record, read_wfdb

wfdb = pytest.importorskip("wfdb")

WFDB_FOLDERS = [
    "ptb-xl/records100",
    "ptb-xl/records500",
    "cinc2021",
    "physionet2017/training2017",
    "wfdb-examples",
]


def _assert_same(path: str, sig) -> None:
    ref = wfdb.rdrecord(path[:-4], physical=False)
    ref_p = wfdb.rdrecord(path[:-4])
    assert sig.digital is not None
    np.testing.assert_array_equal(sig.digital, ref.d_signal.T.astype(np.int32), err_msg=path)
    np.testing.assert_array_equal(sig.data, ref_p.p_signal.T.astype(np.float32), err_msg=path)
    assert sig.fs == ref.fs
    assert list(sig.raw_leads) == list(ref.sig_name)
    assert list(sig.units) == list(ref.units)
    assert sig.n_samples == ref.sig_len


@pytest.mark.parametrize("folder", WFDB_FOLDERS)
def test_every_record_matches_wfdb(data, folder):
    headers = sorted((data / folder).rglob("*.hea"))
    assert headers, folder
    for hea in headers:
        sig = read_wfdb(hea, keep_digital=True)
        _assert_same(str(hea), sig)
        assert sig.meta["reader"] == "ecgedge", f"{hea} fell back to wfdb"


def test_iso_date_headers_that_wfdb_rejects(data):
    folder = data / "physionet2017" / "validation-iso-dates"
    headers = sorted(folder.glob("*.hea"))
    assert len(headers) == 20
    with pytest.raises(Exception):  # noqa: B017 - the point is that the reference cannot read these
        wfdb.rdheader(str(headers[0])[:-4])
    for hea in headers:
        sig = read_wfdb(hea, keep_digital=True)
        assert sig.meta["base_date"] and "-" in sig.meta["base_date"]
        # The same recordings are in the training release, with headers wfdb reads.
        twin = data / "physionet2017" / "training2017" / hea.name
        _assert_same(str(twin), sig)


def test_cpsc_mat_matches_scipy(data):
    sio = pytest.importorskip("scipy.io")
    mats = sorted((data / "cpsc2018").glob("*.mat"))
    assert len(mats) == 10
    for m in mats:
        sig = read_record(m)
        ref = sio.loadmat(m)["ECG"]
        np.testing.assert_array_equal(sig.data, ref["data"][0, 0].astype(np.float32))
        assert sig.meta["sex"] == str(ref["sex"][0, 0][0])
        assert sig.meta["age"] == str(int(ref["age"][0, 0][0, 0]))
        assert sig.fs == 500 and sig.leads[6] == "V1"


def test_entry_point_accepts_every_spelling(data):
    base = data / "cinc2021" / "E07500"
    a = read_record(str(base) + ".hea")
    for variant in (str(base), str(base) + ".mat"):
        b = read_record(variant)
        np.testing.assert_array_equal(a.data, b.data)
    ptb = data / "ptb-xl" / "records100" / "00000" / "00001_lr.dat"
    assert read_record(ptb).name == "00001_lr"


def test_signal_carries_names_units_and_comments(data):
    sig = read_record(data / "cinc2021" / "E07500.hea")
    assert sig.data.dtype == np.float32 and sig.data.shape == (12, 5000)
    assert sig.leads == ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
    assert sig.units == ("mV",) * 12
    assert sig.name == "E07500"
    assert any(c.startswith("Dx:") for c in sig.comments)
    assert sig.meta["dx"] == ("67741000119109", "426177001")
    assert sig.lead("avr") is not None and sig.lead("AVR").shape == (5000,)


def test_mitdb_212_and_invalid_samples(data):
    sig = read_record(data / "wfdb-examples" / "100.hea")
    assert sig.leads == ("MLII", "V5") and sig.fs == 360 and sig.n_samples == 650000
    assert np.isfinite(sig.data).all()


@pytest.mark.parametrize("folder", ["ptb-xl/records500", "physionet2017/training2017"])
def test_native_decoder_reads_what_wfdb_reads(data, folder, monkeypatch):
    """What `ecgedge infer` reads (no digital copy kept: format 16 through the kernel's one-pass decoder) is what
    wfdb reads and what the numpy path reads, to the bit, on every record of the folder."""
    headers = sorted((data / folder).rglob("*.hea"))
    assert headers, folder
    for hea in headers[:300]:
        sig = read_record(hea)
        ref_p = wfdb.rdrecord(str(hea)[:-4])
        np.testing.assert_array_equal(sig.data, ref_p.p_signal.T.astype(np.float32), err_msg=str(hea))
        with monkeypatch.context() as m:
            m.setenv("ECGEDGE_KERNEL", "reference")
            slow = read_record(hea)
        assert sig.data.tobytes() == slow.data.tobytes() and sig.warnings == slow.warnings, hea
