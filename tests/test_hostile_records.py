"""Records written to hurt: what a header may point at, files that are not files, containers that
claim more than they hold, and calibrations no ECG has (issue 19, "Reading what a record should not
reach, or without limit").

Each case is made from copies of real records (PTB-XL, CinC 2021, CPSC2018) in ``tmp_path`` and must
end in ecgedge's own RecordError naming the file, the field and the fix: never a traceback, a hang
or an allocation the file does not justify. The controls beside them show that real data still reads.
"""

from __future__ import annotations

import math
import os
import shutil
import struct
import subprocess
import sys
import time
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import time_limit
from test_bad_input import _assert_cli_error, _assert_record_error, _check, _copy_ptb, _header_lines, _write_lines
from wfdb_writer import write_record

from ecgedge.datasets import data_root
from ecgedge.errors import RecordError
from ecgedge.io import matv5, parse_header, read_header, read_record, read_wfdb

DATA = data_root()
PTB = DATA / "ptb-xl" / "records100" / "00000"
CINC = DATA / "cinc2021"
CPSC = DATA / "cpsc2018" / "A1980.mat"

pytestmark = pytest.mark.skipif(not (PTB / "00001_lr.hea").exists(), reason=f"real data not found under {DATA}")
needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")


def _set_file_names(hea: Path, name: str) -> None:
    """Every signal line of ``hea`` names ``name`` as its signal file."""
    lines = _header_lines(hea)
    _write_lines(hea, [lines[0]] + [name + " " + ln.split(None, 1)[1] for ln in lines[1:]])


def _run_cli(*args: str | os.PathLike[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, NO_COLOR="1", COLUMNS="200")
    env.pop("FORCE_COLOR", None)
    env.pop("ECGEDGE_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "ecgedge", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=timeout)


# ------------------------------------------------------------------- signal files outside the folder
@pytest.mark.parametrize("name", ["/etc/passwd", "/proc/self/environ", "../x.dat", "sub/../../x.dat", "..\\x.dat",
                                  "./../x.dat"])
def test_signal_file_outside_the_header_folder(tmp_path, name):
    folder = tmp_path / "rec"
    folder.mkdir()
    hea = _copy_ptb(folder)
    # A real signal file really is there for '..' to reach: it must still be refused.
    shutil.copyfile(PTB / "00001_lr.dat", tmp_path / "x.dat")
    _set_file_names(hea, name)
    msg = _check(hea, "line 2", "'file name'", repr(name)[1:11], "relative to the header's folder")
    assert "absolute path" in msg or "outside the header's folder" in msg
    # The header alone (what `data info FOLDER` reads) is refused the same way.
    with pytest.raises(RecordError, match="line 2"):
        read_header(hea)


@pytest.mark.parametrize("target", ["/etc/passwd", "outside"])
def test_signal_file_symlink_leading_outside(tmp_path, target):
    folder = tmp_path / "rec"
    folder.mkdir()
    hea = _copy_ptb(folder)
    (folder / "00001_lr.dat").unlink()
    if target == "outside":  # a perfectly good signal file, but outside the record's folder
        target = str(tmp_path / "elsewhere.dat")
        shutil.copyfile(PTB / "00001_lr.dat", target)
    if not os.path.exists(target):
        pytest.skip(f"{target} not on this machine")
    (folder / "00001_lr.dat").symlink_to(target)
    _check(hea, "line 2", "'file name'", "symlink that leads outside", "copy the file")


def test_folder_of_symlinks_to_a_data_set_still_reads(tmp_path):
    # The control: header and signal file both linked into the same real folder (how tests and users
    # make a working set of a few records) stay readable, and so does a sub-folder signal file name.
    for ext in (".hea", ".dat"):
        (tmp_path / ("00001_lr" + ext)).symlink_to(PTB / ("00001_lr" + ext))
    want = read_record(PTB / "00001_lr.hea").data
    np.testing.assert_array_equal(read_record(tmp_path / "00001_lr.hea").data, want)
    sub = tmp_path / "copy"
    sub.mkdir()
    hea = _copy_ptb(sub)
    (sub / "signals").mkdir()
    (sub / "00001_lr.dat").rename(sub / "signals" / "00001_lr.dat")
    _set_file_names(hea, "signals/00001_lr.dat")
    np.testing.assert_array_equal(read_record(hea).data, want)


@pytest.mark.parametrize("segment", ["../x", "/etc/x", "a/../../x"])
def test_segment_name_outside_the_header_folder(tmp_path, segment):
    hea = tmp_path / "multi.hea"
    hea.write_text(f"multi/2 1 100 2000\nseg1 1000\n{segment} 1000\n")
    _check(hea, "line 3", "'segment name'")


def test_multi_segment_record_checks_its_segments_files(tmp_path):
    # A segment header is itself a header naming signal files: a segment that names /etc/passwd is
    # refused before wfdb opens anything.
    pytest.importorskip("wfdb")
    (tmp_path / "seg1.hea").write_text("seg1 1 100 1000\n/etc/passwd 16 200/mV 16 0 0 0 0 I\n")
    hea = tmp_path / "multi.hea"
    hea.write_text("multi/1 1 100 1000\nseg1 1000\n")
    msg = _assert_record_error(hea, "'file name'", "absolute path", name="seg1.hea")
    assert "line 2" in msg


# -------------------------------------------------------------------------- only regular files
@needs_fifo
@pytest.mark.parametrize("which", ["hea", "dat", "cinc-mat", "cpsc-mat"])
def test_fifo_is_refused_at_once(tmp_path, which):
    if which in ("hea", "dat"):
        hea = _copy_ptb(tmp_path)
        victim = tmp_path / f"00001_lr.{which}"
    elif which == "cinc-mat":
        if not (CINC / "E07500.hea").exists():
            pytest.skip("cinc2021 not in the data root")
        hea = tmp_path / "E07500.hea"
        shutil.copyfile(CINC / "E07500.hea", hea)
        victim = tmp_path / "E07500.mat"
    else:
        hea = victim = tmp_path / "A0001.mat"
    victim.unlink(missing_ok=True)
    os.mkfifo(victim)
    with time_limit(10):  # a blocked open() would never return
        msg = _assert_record_error(hea, "FIFO", "not a regular file")
    if which in ("dat", "cinc-mat"):
        assert "line 2" in msg and victim.name in msg  # the header's line that names it
    with time_limit(60):
        _assert_cli_error(hea, "FIFO")


@pytest.mark.parametrize("which", ["hea", "cpsc-mat", "dat-inside"])
def test_dev_zero_behind_a_symlink_is_refused(tmp_path, which):
    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero")
    if which == "hea":
        target = tmp_path / "00001_lr.hea"
    elif which == "cpsc-mat":
        target = tmp_path / "A0001.mat"
    else:
        # A device inside the folder (a bind mount, a copied device node): the regular-file check,
        # not the folder check, refuses it. Simulated with a link inside the folder to a link to /dev/zero.
        _copy_ptb(tmp_path)
        (tmp_path / "00001_lr.dat").unlink()
        (tmp_path / "zero").symlink_to("/dev/zero")
        (tmp_path / "00001_lr.dat").symlink_to(tmp_path / "zero")
        target = tmp_path / "00001_lr.hea"
    if which != "dat-inside":
        target.symlink_to("/dev/zero")
    tracemalloc.start()
    try:
        with time_limit(10):
            with pytest.raises(RecordError) as info:
                read_record(target)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    msg = str(info.value)
    assert target.name in msg
    assert "character device" in msg or "leads outside" in msg
    assert peak < 16 << 20


@needs_fifo
def test_fifo_and_device_in_a_folder_do_not_hang_folder_commands(tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    _copy_ptb(folder)
    os.mkfifo(folder / "pipe.hea")
    os.mkfifo(folder / "pipe2.mat")
    (folder / "zero.hea").symlink_to("/dev/zero")
    # data info on the folder reads every header; infer reads every record (shipped model).
    info = _run_cli("data", "info", folder, timeout=120)
    assert "Traceback" not in info.stderr, info.stderr
    assert info.returncode == 0, info.stderr
    assert "pipe.hea" in info.stderr and "FIFO" in info.stderr
    infer = _run_cli("infer", folder, "--format", "csv", timeout=300)
    assert "Traceback" not in infer.stderr, infer.stderr
    lines = infer.stdout.splitlines()
    by_name = {ln.split(",", 1)[0]: ln for ln in lines[1:]}
    assert set(by_name) == {"00001_lr", "pipe", "pipe2", "zero"}, infer.stdout
    assert "FIFO" in by_name["pipe"] and "FIFO" in by_name["pipe2"] and "character device" in by_name["zero"]
    assert "FIFO" not in by_name["00001_lr"]


def test_header_larger_than_the_cap_is_refused_before_reading(tmp_path):
    hea = _copy_ptb(tmp_path)
    lines = _header_lines(hea)
    with open(hea, "w") as fh:
        fh.write("\n".join(lines) + "\n")
        comment = "# " + "x" * 1000 + "\n"
        for _ in range(5 * 1024):  # 5 MB of comments
            fh.write(comment)
    _check(hea, "larger than 4 MB")


# ----------------------------------------------------------------------------- plausible values
@pytest.mark.parametrize("fs", ["0.5", "1e308", "4.9e-324", "100001", "1e-300"])
def test_implausible_sampling_frequency(tmp_path, fs):
    hea = _copy_ptb(tmp_path)
    lines = _header_lines(hea)
    toks = lines[0].split()
    toks[2] = fs
    _write_lines(hea, [" ".join(toks)] + lines[1:])
    _check(hea, "line 1", "'sampling frequency'", fs, "1 Hz to 100 kHz")


@pytest.mark.parametrize("fs", ["1", "100000", "360", "1000/2"])
def test_plausible_sampling_frequency_edges_parse(fs):
    hdr = parse_header(f"r 1 {fs} 10\nr.dat 16 200/mV 16 0 0 0 0 I\n".encode(), "r.hea")
    assert 1 <= hdr.fs <= 100_000


@pytest.mark.parametrize("field,value", [("baseline", "100000000000000000000"), ("baseline", "-2147483649"),
                                         ("adc zero", "2147483648")])
def test_baseline_or_adc_zero_beyond_32_bits(tmp_path, field, value):
    hea = _copy_ptb(tmp_path)
    lines = _header_lines(hea)
    toks = lines[1].split()
    if field == "baseline":
        toks[2] = f"1000.0({value})/mV"
    else:
        toks[2] = "1000.0/mV"  # without a baseline, the adc zero is the baseline
        toks[4] = value
    lines[1] = " ".join(toks)
    _write_lines(hea, lines)
    _check(hea, "line 2", f"'{field}'", "out of range", "32-bit")


@pytest.mark.parametrize("gain_field", ["1000.0(2000000000)/mV", "0.001(0)/mV", "1(0)/V", "1e-06(0)/uV"])
def test_absurd_calibration_is_refused(tmp_path, gain_field):
    hea = _copy_ptb(tmp_path)
    lines = _header_lines(hea)
    toks = lines[3].split()  # lead III
    toks[2] = gain_field
    lines[3] = " ".join(toks)
    _write_lines(hea, lines)
    msg = _check(hea, "line 4", "signal 'III'", "100 mV", "gain, baseline and units")
    assert "no ECG" in msg
    # The WFDB decoder itself still decodes what the file says (like wfdb): only the entry point refuses.
    assert read_wfdb(hea).data.shape == (12, 1000)
    assert read_record(hea, check_values=False).data.shape == (12, 1000)


@pytest.mark.parametrize("unit,gain", [("mV", 1000.0), ("uV", 1.0), ("µV", 1.0), ("V", 1e6), ("mv", 1000.0)])
def test_units_are_converted_before_the_100_mv_check(tmp_path, unit, gain):
    # The same samples, written in other units with the matching gain: the same ECG, so it reads.
    hea = _copy_ptb(tmp_path)
    lines = _header_lines(hea)
    _write_lines(hea, [lines[0]] + [ln.replace("1000.0(0)/mV", f"{gain:g}(0)/{unit}") for ln in lines[1:]])
    sig = read_record(hea)
    ref = read_record(PTB / "00001_lr.hea")
    scale = {"mV": 1, "mv": 1, "uV": 1000, "µV": 1000, "V": 1e-3}[unit]
    np.testing.assert_allclose(sig.data, ref.data * scale, rtol=1e-6)


def test_brief_excursions_and_non_ecg_channels_are_kept(tmp_path):
    # Saturation or a pacing spike in part of a lead is a fact about the recording, not a calibration
    # error: 30 % of lead I at 163 mV reads. A blood-pressure channel in mmHg is not an ECG lead.
    x = np.zeros((1000, 2), np.int64)
    x[:300, 0] = 32767
    x[:, 1] = 12000  # 120 mmHg at gain 100
    hea = write_record(tmp_path, "sat", "16", x, fs=100, leads=["I", "ABP"])
    _write_lines(hea, [ln.replace("200(0)/mV", "100(0)/mmHg") if ln.endswith("ABP") else ln
                       for ln in _header_lines(hea)])
    sig = read_record(hea)
    assert sig.units == ("mV", "mmHg")
    assert np.isclose(sig.data[0, 0], 163.835) and np.isclose(sig.data[1, 0], 120.0)
    x[:600, 0] = 32767  # 60 %: most of the lead
    hea = write_record(tmp_path, "sat", "16", x[:, :1], fs=100, leads=["I"])
    _check(hea, "line 2", "signal 'I'", "60%")


def test_cpsc_mat_in_the_wrong_unit_is_refused(tmp_path):
    sio = pytest.importorskip("scipy.io")
    if not CPSC.exists():
        pytest.skip("cpsc2018/A1980.mat not in the data root")
    data = sio.loadmat(CPSC)["ECG"][0, 0]["data"].astype(np.float64)
    mat = tmp_path / "A9995.mat"
    sio.savemat(mat, {"ECG": {"sex": "Male", "age": np.array([[52.0]]), "data": data * 1e6}})
    _check(mat, "ECG.data", "100 mV", "CPSC2018 stores ECG.data in mV")


# ------------------------------------------------------------------------------- skew through wfdb
def test_skewed_signal_read_through_wfdb_has_nan_not_the_invalid_code(tmp_path):
    wfdb = pytest.importorskip("wfdb")
    rng = np.random.default_rng(7)
    x = rng.integers(-2000, 2000, (500, 2))
    hea = write_record(tmp_path, "skew", "16", x, fs=250, gains=[1000.0, 1000.0], leads=["I", "II"])
    lines = _header_lines(hea)
    lines[2] = lines[2].replace("skew.dat 16 ", "skew.dat 16:3 ", 1)  # signal II is 3 samples late
    _write_lines(hea, lines)
    sig = read_record(hea)
    assert sig.meta["reader"] == "wfdb"
    ref = wfdb.rdrecord(str(tmp_path / "skew"))  # wfdb's own physical reading: NaN at the end
    assert np.isnan(ref.p_signal[-3:, 1]).all()
    np.testing.assert_array_equal(np.isnan(sig.data), np.isnan(ref.p_signal.T))
    assert np.isnan(sig.data[1, -3:]).all() and not (sig.data == np.float32(-32.768)).any()
    np.testing.assert_allclose(sig.data[1, :-3], x[3:, 1] / 1000.0, rtol=1e-6)
    assert any("invalid sample" in w for w in sig.warnings)


def test_flac_invalid_samples_are_nan(tmp_path):
    wfdb = pytest.importorskip("wfdb")
    d = np.random.default_rng(8).integers(-3000, 3000, (1000, 2)).astype(np.int32)
    d[10, 1] = -(2**15)  # format 516's "no sample" code
    wfdb.wrsamp("flac", fs=250, units=["mV", "mV"], sig_name=["I", "II"], d_signal=d, fmt=["516", "516"],
                adc_gain=[200.0, 200.0], baseline=[0, 0], write_dir=str(tmp_path))
    sig = read_record(tmp_path / "flac.hea")
    assert np.isnan(sig.data[1, 10]) and np.isfinite(sig.data[0]).all()
    assert np.isfinite(np.delete(sig.data[1], 10)).all()


@needs_fifo
def test_wfdb_fallback_refuses_fifo_and_escapes_before_wfdb_opens_them(tmp_path):
    pytest.importorskip("wfdb")
    hea = _copy_ptb(tmp_path)
    lines = _header_lines(hea)
    _write_lines(hea, [lines[0]] + [ln.replace("00001_lr.dat 16 ", "00001_lr.dat 16:1 ") for ln in lines[1:]])
    (tmp_path / "00001_lr.dat").unlink()
    os.mkfifo(tmp_path / "00001_lr.dat")
    with time_limit(10):
        _assert_record_error(hea, "line 2", "FIFO")


# ----------------------------------------------------------------------------------------- MAT-5
def _el(mtype: int, payload: bytes) -> bytes:
    return struct.pack("<II", mtype, len(payload)) + payload + b"\0" * (-len(payload) % 8)


def _matrix(mclass: int, dims: list[int], name: bytes, body: bytes = b"") -> bytes:
    return _el(14, _el(6, struct.pack("<II", mclass, 0)) + _el(5, struct.pack(f"<{len(dims)}i", *dims))
               + _el(1, name) + body)


def _compressed(element: bytes) -> bytes:
    z = zlib.compress(element)
    return struct.pack("<II", 15, len(z)) + z


def _mat_file(path: Path, *elements: bytes) -> Path:
    header = b"MATLAB 5.0 MAT-file, written by ecgedge's tests".ljust(116, b" ") + b"\0" * 8
    path.write_bytes(header + struct.pack("<H", 0x0100) + b"IM" + b"".join(elements))
    return path


def _zip_bomb(total: int, tag: bytes) -> bytes:
    """A zlib stream of ``tag`` and then zeros, ``total`` bytes inflated, made in well under a second: deflate
    blocks after a full flush repeat byte for byte."""
    chunk = bytes(1 << 20)
    c = zlib.compressobj(9)
    head = c.compress(tag) + c.flush(zlib.Z_FULL_FLUSH)
    block = c.compress(chunk) + c.flush(zlib.Z_FULL_FLUSH)
    n = (total - len(tag)) // len(chunk)
    adler = zlib.adler32(tag)
    for _ in range(n):
        adler = zlib.adler32(chunk, adler)
    return head + block * n + b"\x03\x00" + struct.pack(">I", adler)  # an empty final block, the checksum


def _refused_quickly(mat: Path, *fragments: str, seconds: float = 1.0, peak_mb: int = 64) -> str:
    """Refused within ``seconds`` of CPU time (not wall time: the CI machine may be busy with other work)
    and ``peak_mb`` of Python allocations."""
    tracemalloc.start()
    t0 = time.process_time()
    try:
        with time_limit(120):
            msg = _assert_record_error(mat, "damaged MAT file", *fragments)
        elapsed = time.process_time() - t0
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert elapsed < seconds, elapsed
    assert peak < peak_mb << 20, peak
    return msg


def test_mat_struct_claiming_1e18_elements_without_fields(tmp_path):
    body = struct.pack("<HHi", 5, 4, 32) + _el(1, b"")  # field-name length 32 (a small element), no names
    mat = _mat_file(tmp_path / "A0001.mat", _matrix(2, [10**9, 10**9], b"ECG", body))
    assert mat.stat().st_size < 256
    _refused_quickly(mat, f"more than {matv5.MAX_ELEMENTS:,} data elements")


def test_mat_cell_claiming_more_cells_than_bytes(tmp_path):
    mat = _mat_file(tmp_path / "A0001.mat", _matrix(1, [2**31 - 1, 2**31 - 1], b"c"))
    _refused_quickly(mat, "cell 'c'")


def test_mat_3000_nested_compressed_elements(tmp_path):
    element = _matrix(6, [1, 1], b"x", _el(9, struct.pack("<d", 1.0)))
    for _ in range(3000):
        element = _compressed(element)
    mat = _mat_file(tmp_path / "A0001.mat", element)
    assert mat.stat().st_size < 100_000
    _refused_quickly(mat, "nested more than 32 deep")
    # A CLI run sees a clear error too, not a RecursionError.
    _assert_cli_error(mat, "nested more than 32 deep")


def test_mat_1mb_inflating_to_1gib_fails_fast(tmp_path):
    # The tag inside claims what follows (1 GiB): refused from the claim, before inflating it.
    z = _zip_bomb(1 << 30, struct.pack("<II", 14, (1 << 30) - 8))
    mat = _mat_file(tmp_path / "A0001.mat", struct.pack("<II", 15, len(z)) + z)
    assert mat.stat().st_size < 2 << 20
    _refused_quickly(mat, "512 MB")


@pytest.mark.parametrize("claim", [100 << 20, 400 << 20])
def test_mat_bomb_whose_tag_claims_less_fails_fast(tmp_path, claim):
    # A tag that claims less than the bomb holds, but still far more than its compressed bytes: refused by
    # the compression ratio before inflating.
    z = _zip_bomb(1 << 30, struct.pack("<II", 14, claim))
    mat = _mat_file(tmp_path / "A0001.mat", struct.pack("<II", 15, len(z)) + z)
    _refused_quickly(mat, f"over {matv5.MAX_RATIO}:1")


def test_mat_bomb_of_empty_tags_fails_fast(tmp_path):
    # 1 GiB of empty 8-byte tags (the old reader parsed each one in a Python loop for 90 s):
    # a compressed element holds one element, so nothing past the first tag is inflated.
    z = _zip_bomb(1 << 30, b"")
    mat = _mat_file(tmp_path / "A0001.mat", struct.pack("<II", 15, len(z)) + z)
    t0 = time.process_time()
    _assert_record_error(mat, "no struct 'ECG'", "found nothing")
    assert time.process_time() - t0 < 1.0


def test_mat_inflated_total_is_capped_per_file_not_per_element(tmp_path, monkeypatch):
    # Three compressed variables, each under the cap, together over it (the cap scaled down to 4 MB
    # so the test inflates little; the real one is 512 MB).
    monkeypatch.setattr(matv5, "MAX_INFLATED_BYTES", 4 << 20)
    rng = np.random.default_rng(9)
    elements = [_compressed(_matrix(6, [1, 200_000], f"v{i}".encode(), _el(9, rng.standard_normal(200_000).tobytes())))
                for i in range(3)]
    mat = _mat_file(tmp_path / "A0001.mat", *elements)
    _refused_quickly(mat, "more than 4 MB", "per file")
    monkeypatch.setattr(matv5, "MAX_INFLATED_BYTES", 8 << 20)  # the control: under the cap, it parses
    assert set(matv5.read_mat5(mat)) == {"v0", "v1", "v2"}


def test_mat_values_cap_before_class_conversion(tmp_path, monkeypatch):
    # int8 stored for a double variable is 8x once converted: counted (and refused) before converting.
    monkeypatch.setattr(matv5, "MAX_VALUE_BYTES", 8 << 20)
    n = 2 << 20
    mat = _mat_file(tmp_path / "A0001.mat", _matrix(6, [1, n], b"big", _el(1, bytes(n))))
    _refused_quickly(mat, "variable 'big'", "8 MB")
    monkeypatch.setattr(matv5, "MAX_VALUE_BYTES", 32 << 20)
    assert matv5.read_mat5(mat)["big"].dtype == np.float64


def test_mat_dimensions_whose_product_overflows_int64(tmp_path):
    dims = [2**31 - 1] * 3  # the product wraps in int64 arithmetic
    mat = _mat_file(tmp_path / "A0001.mat", _matrix(6, dims, b"x", _el(9, struct.pack("<d", 1.0))))
    _refused_quickly(mat, "1 values for dimensions")


def test_mat_with_too_many_dimensions(tmp_path):
    mat = _mat_file(tmp_path / "A0001.mat", _matrix(6, [1] * 1000, b"x", _el(9, struct.pack("<d", 1.0))))
    _refused_quickly(mat, "1000 dimensions")


def test_mat_too_many_top_level_elements(tmp_path):
    small = struct.pack("<HHi", 5, 4, 0)  # an 8-byte small element: not a variable, skipped
    mat = _mat_file(tmp_path / "A0001.mat", small * (matv5.MAX_ELEMENTS + 1))
    _refused_quickly(mat, f"more than {matv5.MAX_ELEMENTS:,} data elements", seconds=5)


def test_real_mat_files_still_read_under_the_caps():
    sio = pytest.importorskip("scipy.io")
    mats = sorted((DATA / "cpsc2018").glob("*.mat"))
    if not mats:
        pytest.skip("cpsc2018 not in the data root")
    for m in mats:
        sig = read_record(m)
        np.testing.assert_array_equal(sig.data, sio.loadmat(m)["ECG"]["data"][0, 0].astype(np.float32))
    assert math.isfinite(float(sig.data.max()))


def test_unbuffered_reads_gather_short_reads_until_the_end(tmp_path):
    """Headers and signal files are read unbuffered (two files a record in a folder run); a raw read may return less
    than asked, so the readers gather until the count or the end: here a real pipe delivers 5,000 bytes in dribs."""
    import threading

    from ecgedge.io._files import read_capped, read_fully

    payload = bytes(range(256)) * 20 + b"tail"
    for reader in (lambda fh: read_fully(fh, len(payload) + 10), lambda fh: read_fully(fh, 777)):
        r, w = os.pipe()

        def dribble(w=w):
            try:
                for i in range(0, len(payload), 333):
                    os.write(w, payload[i:i + 333])
                    time.sleep(0.001)
            except BrokenPipeError:
                pass  # the 777-byte reader has what it asked for and closed its end
            finally:
                os.close(w)

        t = threading.Thread(target=dribble)
        t.start()
        with os.fdopen(r, "rb", buffering=0) as fh:
            got = reader(fh)
        t.join()
        assert got == payload[:len(got)] and len(got) in (len(payload), 777)
    # read_capped takes the size from fstat: on a regular file opened unbuffered it reads it whole
    path = tmp_path / "capped.bin"
    path.write_bytes(payload)
    with open(path, "rb", buffering=0) as fh:
        assert read_capped(fh, 1 << 20) == payload
    with open(path, "rb", buffering=0) as fh:
        assert read_capped(fh, 100) is None
