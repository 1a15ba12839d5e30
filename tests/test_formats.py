"""Each WFDB signal format, written by a reference encoder and read back by wfdb and by ecgedge."""

from __future__ import annotations

import numpy as np
import pytest
from wfdb_writer import random_samples, write_record

from ecgedge.io import read_wfdb

wfdb = pytest.importorskip("wfdb")

FORMATS = ["8", "16", "24", "32", "61", "80", "160", "212", "310", "311"]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("n", [1, 2, 3, 999, 1000, 1001])
@pytest.mark.parametrize("nsig", [1, 2, 3, 12])
def test_format_matches_wfdb(tmp_path, fmt, n, nsig):
    rng = np.random.default_rng(hash((fmt, n, nsig)) % 2**32)
    x = random_samples(fmt, n, nsig, rng)
    gains = [float(g) for g in rng.choice([200, 1000, 29, 12.5, 0.3], nsig)]
    baselines = [int(b) for b in rng.integers(-50, 50, nsig)]
    hea = write_record(tmp_path, "rec", fmt, x, gains=gains, baselines=baselines)
    sig = read_wfdb(hea, keep_digital=True)
    ref = wfdb.rdrecord(str(tmp_path / "rec"), physical=False)
    ref_p = wfdb.rdrecord(str(tmp_path / "rec"))
    np.testing.assert_array_equal(sig.digital, ref.d_signal.T)
    np.testing.assert_array_equal(np.isnan(sig.data), np.isnan(ref_p.p_signal.T))
    np.testing.assert_allclose(sig.data, ref_p.p_signal.T.astype(np.float32), rtol=1e-7, equal_nan=True)
    assert not [w for w in sig.warnings if "checksum" in w]


@pytest.mark.parametrize("fmt", ["16", "212", "24"])
def test_byte_offset(tmp_path, fmt):
    x = random_samples(fmt, 500, 3, np.random.default_rng(1))
    hea = write_record(tmp_path, "off", fmt, x, byte_offset=24)
    sig = read_wfdb(hea, keep_digital=True)
    np.testing.assert_array_equal(sig.digital, x.T)


def test_invalid_sample_becomes_nan(tmp_path):
    x = np.zeros((10, 2), np.int64)
    x[4, 1] = -32768
    hea = write_record(tmp_path, "nan", "16", x)
    sig = read_wfdb(hea)
    assert np.isnan(sig.data[1, 4]) and np.isfinite(sig.data[0]).all()
    assert any("invalid" in w for w in sig.warnings)


def test_signals_in_two_files(tmp_path):
    x = random_samples("16", 300, 2, np.random.default_rng(2))
    write_record(tmp_path, "a", "16", x[:, :1], leads=["I"])
    write_record(tmp_path, "b", "212", np.clip(x[:, 1:], -2047, 2047), leads=["II"])
    lines = (tmp_path / "a.hea").read_text().splitlines()
    other = (tmp_path / "b.hea").read_text().splitlines()[1]
    (tmp_path / "two.hea").write_text("\n".join(["two 2 250 300", lines[1], other]) + "\n")
    sig = read_wfdb(tmp_path / "two.hea", keep_digital=True)
    ref = wfdb.rdrecord(str(tmp_path / "two"), physical=False)
    np.testing.assert_array_equal(sig.digital, ref.d_signal.T)
    assert sig.leads == ("I", "II")


def test_flac_falls_back_to_wfdb(tmp_path):
    d = random_samples("16", 2000, 2, np.random.default_rng(3), with_extremes=False) // 4
    wfdb.wrsamp("flac", fs=250, units=["mV", "mV"], sig_name=["I", "II"], d_signal=d.astype(np.int32),
                fmt=["516", "516"], adc_gain=[200.0, 200.0], baseline=[0, 0], write_dir=str(tmp_path))
    sig = read_wfdb(tmp_path / "flac.hea", keep_digital=True)
    np.testing.assert_array_equal(sig.digital, d.T)
    assert sig.meta["reader"] == "wfdb" and any("wfdb" in w for w in sig.warnings)


def test_missing_sample_count_reads_whole_file(tmp_path):
    x = random_samples("16", 123, 2, np.random.default_rng(4))
    write_record(tmp_path, "ns", "16", x)
    text = (tmp_path / "ns.hea").read_text().splitlines()
    text[0] = "ns 2 250"
    (tmp_path / "ns.hea").write_text("\n".join(text) + "\n")
    sig = read_wfdb(tmp_path / "ns.hea", keep_digital=True)
    np.testing.assert_array_equal(sig.digital, x.T)
