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


def _read_both(hea, monkeypatch):
    """The record through the native one-pass decoder and through numpy (``ECGEDGE_KERNEL=reference``)."""
    from ecgedge.io import wfdb_record

    fast = wfdb_record.read_wfdb(hea)
    with monkeypatch.context() as m:
        m.setenv("ECGEDGE_KERNEL", "reference")
        slow = wfdb_record.read_wfdb(hea)
    return fast, slow


def _same_signal(a, b) -> None:
    assert a.data.dtype == b.data.dtype == np.float32 and a.data.flags.c_contiguous
    assert a.data.tobytes() == b.data.tobytes()  # to the bit, NaNs included
    assert (a.warnings, a.leads, a.units, a.meta, a.fs) == (b.warnings, b.leads, b.units, b.meta, b.fs)


@pytest.mark.parametrize("n", [1, 2, 999, 5000])
@pytest.mark.parametrize("nsig", [1, 3, 12])
def test_native_format16_decoder_matches_numpy(tmp_path, monkeypatch, n, nsig):
    """Format 16 (PTB-XL's, the challenges') goes through the kernel's one-pass decoder: the same values, NaNs for
    the invalid-sample code, checksums and warnings as the numpy path, for negative gains, baselines and offsets."""
    from ecgedge.dsp.backend import native_available

    if not native_available():
        pytest.skip("native kernel not built")
    from ecgedge import _kernel

    assert getattr(_kernel, "WFDB16", 0) >= 2
    rng = np.random.default_rng(n * 100 + nsig)
    x = random_samples("16", n, nsig, rng)
    gains = [float(g) for g in rng.choice([200, 1000, -400, 12.5, 0.25], nsig)]
    baselines = [int(b) for b in rng.integers(-3000, 3000, nsig)]
    hea = write_record(tmp_path, "rec", "16", x, gains=gains, baselines=baselines, byte_offset=6 if n > 1 else 0)
    from ecgedge.io import wfdb_record

    assert wfdb_record._read_native16(wfdb_record.read_header(hea), str(tmp_path), True) is not None  # the fast path
    fast, slow = _read_both(hea, monkeypatch)
    _same_signal(fast, slow)
    ref_p = wfdb.rdrecord(str(tmp_path / "rec"))
    np.testing.assert_array_equal(fast.data, ref_p.p_signal.T.astype(np.float32))
    if n > 4:
        assert np.isnan(fast.data[0, 3]) and "1 invalid sample(s)" in " ".join(fast.warnings)
    # a damaged signal file: the checksum warning comes from the decoder's sums as well
    dat = tmp_path / "rec.dat"
    raw = bytearray(dat.read_bytes())
    raw[-1] ^= 0x01
    dat.write_bytes(bytes(raw))
    fast, slow = _read_both(hea, monkeypatch)
    _same_signal(fast, slow)
    assert any("checksum mismatch" in w for w in fast.warnings)


def test_native_decoder_keeps_the_plausibility_check(tmp_path, monkeypatch):
    """The decoder's extremes replace the plausibility check's two passes over the samples; a gain that makes a lead
    read hundreds of mV is still refused, naming the line, on both paths; NaNs still take the full check."""
    from ecgedge.errors import RecordError
    from ecgedge.io import read_record

    x = np.full((1000, 2), 20000, np.int64)
    hea = write_record(tmp_path, "bad", "16", x, gains=[200.0, 20.0])  # 1000 mV on the second signal
    for env in ("auto", "reference"):
        monkeypatch.setenv("ECGEDGE_KERNEL", env)
        with pytest.raises(RecordError, match="line 3"):
            read_record(hea)
    x[:, 1] = 100
    x[::2, 1] = -32768  # half the second lead invalid; the rest plausible
    hea = write_record(tmp_path, "nan", "16", x, gains=[200.0, 200.0])
    monkeypatch.setenv("ECGEDGE_KERNEL", "auto")
    sig = read_record(hea)
    assert np.isnan(sig.data[1, ::2]).all() and (sig.data[1, 1::2] == 0.5).all()


def test_native_decoder_refuses_wrong_buffers():
    from ecgedge.dsp.backend import native_available

    if not native_available():
        pytest.skip("native kernel not built")
    from ecgedge import _kernel as K

    out, z = np.empty((2, 10), np.float32), np.empty(2, np.int64)
    f2 = np.ones(2, np.float32)
    K.wfdb16(bytes(40), 10, 2, f2, f2, out, z, z.copy(), z.copy(), z.copy())
    with pytest.raises(ValueError, match="frames"):
        K.wfdb16(bytes(39), 10, 2, f2, f2, out, z, z.copy(), z.copy(), z.copy())  # short buffer
    with pytest.raises(ValueError):
        K.wfdb16(bytes(40), 10, 2, f2, f2, np.empty((2, 9), np.float32), z, z.copy(), z.copy(), z.copy())
    with pytest.raises(TypeError):
        K.wfdb16(bytes(40), 10, 2, f2, f2, out.astype(np.float64), z, z.copy(), z.copy(), z.copy())
