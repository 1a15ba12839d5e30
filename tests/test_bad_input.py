"""Bad input, made from copies of real records: a clear RecordError/DataSetError, never a traceback.

Every case checks three things: the library raises ecgedge's own error (no other exception type),
the message names the file and the line or field at fault, and ``ecgedge data info`` exits with
code 2 and one ``error:`` line on stderr. The real data is only read; mutated copies live in
pytest's ``tmp_path``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from ecgedge.datasets import data_root
from ecgedge.datasets.folder import load_folder
from ecgedge.errors import DataSetError, RecordError
from ecgedge.io import read_record

DATA = data_root()
PTB = DATA / "ptb-xl" / "records100" / "00000"
CPSC = DATA / "cpsc2018" / "A1980.mat"

pytestmark = pytest.mark.skipif(not (PTB / "00001_lr.hea").exists(), reason=f"real data not found under {DATA}")


# ---------------------------------------------------------------------------------------- helpers
def _copy_ptb(tmp_path: Path, name: str = "00001_lr") -> Path:
    """A writable copy of a PTB-XL 100 Hz record (12 signals, format 16, 1000 samples)."""
    for ext in (".hea", ".dat"):
        shutil.copyfile(PTB / (name + ext), tmp_path / (name + ext))
    return tmp_path / (name + ".hea")


def _header_lines(hea: Path) -> list[str]:
    return hea.read_text().splitlines()


def _write_lines(hea: Path, lines: list[str]) -> None:
    hea.write_text("\n".join(lines) + "\n")


def _cli(*args: str | os.PathLike[str]) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, NO_COLOR="1", COLUMNS="200")
    env.pop("FORCE_COLOR", None)
    env.pop("ECGEDGE_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "ecgedge", "data", "info", *map(str, args)],
        capture_output=True, text=True, env=env, timeout=120,
    )


def _assert_cli_error(path: Path, *fragments: str) -> str:
    """``ecgedge data info path`` fails cleanly: exit 2, one ``error:`` line naming the file."""
    proc = _cli(path)
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error:"), proc.stderr
    assert path.name in lines[0], lines[0]
    for frag in fragments:
        assert frag in lines[0], (frag, lines[0])
    return lines[0]


def _assert_record_error(path: Path, *fragments: str, name: str | None = None) -> str:
    """read_record raises RecordError (nothing else) whose message names the file and the fragments."""
    with pytest.raises(RecordError) as info:
        read_record(path)
    msg = str(info.value)
    assert (name or path.name) in msg, msg
    for frag in fragments:
        assert frag in msg, (frag, msg)
    assert "Traceback" not in msg
    return msg


def _check(path: Path, *fragments: str) -> str:
    msg = _assert_record_error(path, *fragments)
    _assert_cli_error(path, *fragments)
    return msg


# ---------------------------------------------------------------------------------- signal files
def test_missing_dat(tmp_path):
    hea = _copy_ptb(tmp_path)
    (tmp_path / "00001_lr.dat").unlink()
    _check(hea, "00001_lr.dat", "missing", "line 2")


def test_truncated_dat(tmp_path):
    hea = _copy_ptb(tmp_path)
    dat = tmp_path / "00001_lr.dat"
    raw = dat.read_bytes()
    dat.write_bytes(raw[: len(raw) // 2])
    _check(hea, "line 1", "1000 samples", "holds only 500", "00001_lr.dat")


@pytest.mark.parametrize("n_samples", [1001, 5000, 10**9, 10**12, 10**18, 10**30 - 1])
def test_sample_count_larger_than_file(tmp_path, n_samples):
    # Also the absurd counts a damaged header can hold: the reader must not try to allocate
    # what the header claims before it finds that the file is far too small.
    hea = _copy_ptb(tmp_path)
    lines = _header_lines(hea)
    assert lines[0] == "00001_lr 12 100 1000"
    lines[0] = f"00001_lr 12 100 {n_samples}"
    _write_lines(hea, lines)
    t0 = time.perf_counter()
    _assert_record_error(hea, "line 1", f"header says {n_samples} samples", "holds only 1000")
    assert time.perf_counter() - t0 < 1.0
    _assert_cli_error(hea, "line 1", f"{n_samples} samples")


def test_sample_count_out_of_range(tmp_path):
    hea = _copy_ptb(tmp_path)
    lines = _header_lines(hea)
    lines[0] = "00001_lr 12 100 " + "9" * 40
    _write_lines(hea, lines)
    _check(hea, "line 1", "number of samples", "out of range")


def test_byte_offset_out_of_range(tmp_path):
    # 16+<huge>: a byte offset no file system can seek to.
    hea = _copy_ptb(tmp_path)
    lines = _header_lines(hea)
    lines[1:] = [ln.replace(" 16 1000.0", " 16+" + "9" * 25 + " 1000.0") for ln in lines[1:]]
    _write_lines(hea, lines)
    _check(hea, "line 2", "00001_lr.dat")


def test_zero_samples(tmp_path):
    hea = _copy_ptb(tmp_path)
    lines = _header_lines(hea)
    lines[0] = "00001_lr 12 100 0"
    _write_lines(hea, lines)
    _check(hea, "line 1", "zero samples")


def test_checksum_mismatch_is_a_warning(tmp_path):
    hea = _copy_ptb(tmp_path)
    dat = tmp_path / "00001_lr.dat"
    raw = bytearray(dat.read_bytes())
    frame, lead = 10, 3  # sample 10 of aVR (line 5 of the header)
    pos = 2 * (frame * 12 + lead)
    value = int.from_bytes(raw[pos : pos + 2], "little", signed=True) + 1
    raw[pos : pos + 2] = value.to_bytes(2, "little", signed=True)
    dat.write_bytes(bytes(raw))

    sig = read_record(hea)
    assert sig.data.shape == (12, 1000)
    hits = [w for w in sig.warnings if "checksum" in w]
    assert len(hits) == 1, sig.warnings
    assert "line 5" in hits[0] and "AVR" in hits[0]

    proc = _cli(hea)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert any(ln.startswith("warning:") and "checksum" in ln for ln in proc.stderr.splitlines()), proc.stderr


# --------------------------------------------------------------------------------------- headers
def test_non_numeric_gain(tmp_path):
    hea = _copy_ptb(tmp_path)
    lines = _header_lines(hea)
    assert "1000.0(0)/mV" in lines[2]
    lines[2] = lines[2].replace("1000.0(0)/mV", "abc")
    _write_lines(hea, lines)
    _check(hea, "line 3", "'adc gain'", "'abc'")


@pytest.mark.parametrize("fmt", ["17", "999"])
def test_unknown_format(tmp_path, fmt):
    hea = _copy_ptb(tmp_path)
    lines = _header_lines(hea)
    lines[1:] = [ln.replace(".dat 16 ", f".dat {fmt} ") for ln in lines[1:]]
    _write_lines(hea, lines)
    _check(hea, "line 2", f"unknown signal format '{fmt}'")


@pytest.mark.parametrize("gain", ["1e-320", "1e-30", "1e300", "-1e-300"])
def test_gain_out_of_range(tmp_path, gain):
    # A gain that would turn every sample into inf (or 0) is a damaged header, not a signal.
    hea = _copy_ptb(tmp_path)
    lines = _header_lines(hea)
    lines[4] = lines[4].replace("1000.0(0)/mV", f"{gain}(0)/mV")
    _write_lines(hea, lines)
    _check(hea, "line 5", "'adc gain'")


def test_non_utf8_signal_line(tmp_path):
    hea = _copy_ptb(tmp_path)
    raw = hea.read_bytes().split(b"\n")
    assert raw[7].endswith(b" V1")
    raw[7] = raw[7][:-2] + b"V\xe91"  # Latin-1 e-acute in the description of line 8
    hea.write_bytes(b"\n".join(raw))
    _check(hea, "line 8", "UTF-8")


def test_latin1_comment_is_only_a_warning(tmp_path):
    hea = _copy_ptb(tmp_path)
    hea.write_bytes(hea.read_bytes() + b"# Befund: Sinusrhythmus, \xfcberdrehte Achse\n")
    sig = read_record(hea)
    assert any("Latin-1" in w for w in sig.warnings)
    assert any("überdrehte" in c for c in sig.comments)


def test_duplicate_lead_names(tmp_path):
    hea = _copy_ptb(tmp_path)
    lines = _header_lines(hea)
    assert lines[7].endswith(" V1") and lines[8].endswith(" V2")
    lines[8] = lines[8][:-2] + "V1"
    _write_lines(hea, lines)
    _check(hea, "line 9", "duplicate lead name 'V1'")


def test_fewer_signal_lines_than_declared(tmp_path):
    hea = _copy_ptb(tmp_path)
    lines = _header_lines(hea)
    _write_lines(hea, lines[:-2])  # 10 of the 12 signal lines
    _check(hea, "declares 12 signals", "has 10 signal lines", "line 11")


@pytest.mark.parametrize("source", [
    "ptb-xl/records100/00000/00001_lr.dat",
    "cinc2021/E07500.mat",
    "cpsc2018/A1980.mat",
    "physionet2017/training2017/A00001.mat",
    "wfdb-examples/100.dat",
    "wfdb-examples/3000003_0003.dat",
])
def test_binary_file_renamed_to_hea(tmp_path, source):
    src = DATA / source
    if not src.exists():
        pytest.skip(f"{source} not in the data root")
    hea = tmp_path / "binary.hea"
    shutil.copyfile(src, hea)
    _check(hea, "line ")


def test_empty_header(tmp_path):
    hea = tmp_path / "empty.hea"
    hea.write_bytes(b"# only a comment\n\n")
    _check(hea, "no record line")


# ----------------------------------------------------------------------------------- CPSC .mat
def _cpsc_data() -> np.ndarray:
    if not CPSC.exists():
        pytest.skip("cpsc2018/A1980.mat not in the data root")
    return read_record(CPSC).data.astype(np.float64)


def _write_cpsc(path: Path, data: np.ndarray) -> None:
    sio = pytest.importorskip("scipy.io")
    sio.savemat(path, {"ECG": {"sex": "Male", "age": np.array([[52.0]]), "data": data}})


def test_cpsc_mat_written_by_scipy_reads(tmp_path):
    # The control for the NaN/inf cases below: the same file without damage reads fine.
    data = _cpsc_data()
    mat = tmp_path / "A9999.mat"
    _write_cpsc(mat, data)
    sig = read_record(mat)
    assert sig.data.shape == (12, 5000)
    np.testing.assert_allclose(sig.data, data.astype(np.float32))
    assert sig.meta["sex"] == "Male" and sig.meta["age"] == "52"


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_cpsc_mat_with_nan_or_inf(tmp_path, bad):
    data = _cpsc_data()
    data[2, 100] = bad  # lead III, sample 100
    data[7, 4000] = bad
    mat = tmp_path / "A9998.mat"
    _write_cpsc(mat, data)
    _check(mat, "ECG.data", "2 NaN/inf", "lead III at sample 100")


def test_cpsc_mat_without_ecg_struct(tmp_path):
    sio = pytest.importorskip("scipy.io")
    mat = tmp_path / "A9997.mat"
    sio.savemat(mat, {"val": np.zeros((12, 10))})
    _check(mat, "ECG.data", "found val")


def test_cpsc_mat_truncated(tmp_path):
    if not CPSC.exists():
        pytest.skip("cpsc2018/A1980.mat not in the data root")
    mat = tmp_path / "A9996.mat"
    raw = CPSC.read_bytes()
    mat.write_bytes(raw[: len(raw) // 2])
    _check(mat, "damaged MAT file")


# ----------------------------------------------------------------------------------- labels CSV
def _folder(tmp_path: Path, csv_text: str) -> Path:
    root = tmp_path / "study"
    root.mkdir()
    for name in ("00001_lr", "00002_lr"):
        _copy_ptb(root, name)
    (root / "labels.csv").write_text(csv_text)
    return root


def test_labels_unknown_class(tmp_path):
    root = _folder(tmp_path, "record,labels\n00001_lr,NORM\n00002_lr,MI;XYZ\n")
    with pytest.raises(DataSetError) as info:
        load_folder(root, classes=["NORM", "MI"])
    msg = str(info.value)
    assert "labels.csv" in msg and "line 3" in msg and "'XYZ'" in msg and "NORM, MI" in msg
    # Without a class list every class in the file is accepted.
    ds = load_folder(root)
    assert set(ds.classes) == {"NORM", "MI", "XYZ"}


def test_labels_unknown_class_column(tmp_path):
    root = _folder(tmp_path, "record,NORM,MI\n00001_lr,1,0\n00002_lr,0,2\n")
    with pytest.raises(DataSetError) as info:
        load_folder(root)
    msg = str(info.value)
    assert "labels.csv" in msg and "line 3" in msg and "'MI'" in msg
    _assert_cli_error(root, "labels.csv", "line 3")


def test_labels_some_records_missing(tmp_path):
    root = _folder(tmp_path, "record,labels\n00001_lr,NORM\n00002_lr,MI\nnot_here,NORM\nsub/also_gone,MI\n")
    ds = load_folder(root)
    assert ds.missing == ["not_here", "sub/also_gone"]
    assert [r.name for r in ds.records] == ["00001_lr", "00002_lr"]
    proc = _cli(root)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "2 record(s)" in proc.stderr and "not_here" in proc.stderr


def test_labels_all_records_missing(tmp_path):
    root = _folder(tmp_path, "record,labels\nnot_here,NORM\nnor_here,MI\n")
    with pytest.raises(DataSetError) as info:
        load_folder(root)
    msg = str(info.value)
    assert "labels.csv" in msg and "none of the 2 records" in msg and "'not_here'" in msg
    _assert_cli_error(root, "labels.csv", "none of the 2 records")


@pytest.mark.parametrize("name", ["../x", "sub/../../x", "..\\x", "/etc/passwd"])
def test_labels_record_escaping_the_folder(tmp_path, name):
    root = _folder(tmp_path, f"record,labels\n00001_lr,NORM\n{name},MI\n")
    # A record that really exists outside the folder must still be refused.
    _copy_ptb(tmp_path, "00002_lr")
    shutil.copyfile(tmp_path / "00002_lr.hea", tmp_path / "x.hea")
    with pytest.raises(DataSetError) as info:
        load_folder(root)
    msg = str(info.value)
    assert "labels.csv" in msg and "line 3" in msg and "outside the data folder" in msg
    _assert_cli_error(root, "labels.csv", "line 3", "outside")


def test_labels_symlink_escaping_the_folder_is_missing(tmp_path):
    root = _folder(tmp_path, "record,labels\n00001_lr,NORM\nlink/00002_lr,MI\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    _copy_ptb(outside, "00002_lr")
    (root / "link").symlink_to(outside, target_is_directory=True)
    ds = load_folder(root)
    assert ds.missing == ["link/00002_lr"]


@pytest.mark.parametrize("name", ["x" * 5000, "a\x00b", "d/" * 3000 + "x"])
def test_labels_unusable_record_name(tmp_path, name):
    # Names no file system can hold are simply not on disk; never an OSError.
    root = _folder(tmp_path, f"record,labels\n00001_lr,NORM\n{name},MI\n")
    ds = load_folder(root)
    assert ds.missing == [name]
    assert [r.name for r in ds.records] == ["00001_lr"]
