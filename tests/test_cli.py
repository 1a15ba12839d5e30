"""The command line as a user runs it: real subprocesses, real files."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import run_cli


def test_version_and_help():
    r = run_cli("--version")
    assert r.returncode == 0 and r.stdout.startswith("ecgedge ")
    r = run_cli("data", "--help")
    assert r.returncode == 0
    for cmd in ("info", "prepare", "fetch", "folds", "list"):
        assert cmd in r.stdout


def test_python_dash_m_and_console_script_agree():
    a = run_cli("data", "info", "--demo", "--json")
    assert a.returncode == 0, a.stderr
    s = json.loads(a.stdout)
    assert s["n_leads"] == 12 and s["fs"] == 500 and s["duration_s"] == 10


def test_info_record_table_and_json(data):
    rec = data / "ptb-xl" / "records100" / "00000" / "00001_lr.hea"
    r = run_cli("data", "info", str(rec))
    assert r.returncode == 0, r.stderr
    assert "00001_lr" in r.stdout and "100 Hz" in r.stdout and "NORM" in r.stdout
    j = json.loads(run_cli("data", "info", str(rec), "--json").stdout)
    assert j["leads"][3] == "aVR" and j["samples"] == 1000 and "NORM" in j["labels"]


def test_info_on_every_data_set(data):
    # PhysioNet-2017 follows the shared data (3,000 records once, 6,000 now): its .hea files on disk
    n2017 = len(list((data / "physionet2017" / "training2017").glob("*.hea")))
    for name, expect in (("ptbxl", 1976), ("cpsc2018", 10), ("cinc2021", None), ("physionet2017", n2017)):
        r = run_cli("data", "info", name, "--json")
        assert r.returncode == 0, r.stderr
        s = json.loads(r.stdout)
        if expect:
            assert s["records"] == expect
        assert set(s["per_split"]) == {"train", "val", "test", "total"}
    r = run_cli("data", "info", "cpsc2018")
    assert r.returncode == 0 and "6867 record(s) listed in the labels are not on disk" in r.stderr
    r = run_cli("data", "info", str(data / "ptb-xl"), "--task", "rhythm")
    assert r.returncode == 0 and "rhythm" in r.stdout
    r = run_cli("data", "info", str(data / "wfdb-examples"), "--json")
    assert json.loads(r.stdout)["wfdb_records"] == 4
    for rec in ("cpsc2018/A1980.mat", "cinc2021/E07500.hea", "physionet2017/validation-iso-dates/A00001.hea",
                "wfdb-examples/s0010_re.hea", "wfdb-examples/3000003_0003.hea"):
        r = run_cli("data", "info", str(data / rec))
        assert r.returncode == 0, (rec, r.stderr)


def test_prepare_builds_then_reuses(data, tmp_path):
    out = tmp_path / "store"
    r = run_cli("data", "prepare", "cinc2021", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "built in" in r.stdout and (out / "manifest.json").exists()
    r = run_cli("data", "prepare", "cinc2021", "--out", str(out))
    assert r.returncode == 0 and "reused" in r.stdout


def test_folds_file(data, tmp_path):
    r = run_cli("data", "folds", "physionet2017", "--out", str(tmp_path / "f.csv"))
    assert r.returncode == 0, r.stderr
    lines = (tmp_path / "f.csv").read_text().splitlines()
    # one row per record on disk: follows the shared data (3,000 records once, 6,000 now)
    n = len(list((data / "physionet2017" / "training2017").glob("*.hea")))
    assert lines[0] == "record,patient,fold" and len(lines) == n + 1


def test_errors_are_one_line_not_tracebacks(tmp_path):
    for args in (("data", "info", str(tmp_path / "nope.hea")),
                 ("data", "info", "ptbxl", "--task", "nonsense"),
                 ("data", "prepare", "nonsense", "--out", str(tmp_path / "x"))):
        r = run_cli(*args)
        assert r.returncode == 2, (args, r.stderr)
        assert "Traceback" not in r.stderr and r.stderr.strip().startswith("error:")
        assert len(r.stderr.strip().splitlines()) == 1


def test_import_is_light():
    code = ("import sys, ecgedge, ecgedge.cli, ecgedge.io, ecgedge.datasets, ecgedge.store; "
            "ecgedge.read_record; print(sorted(m for m in ('torch','scipy','wfdb','pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_reading_a_record_imports_no_heavy_module(data):
    code = ("import sys, ecgedge; ecgedge.read_record(sys.argv[1]); ecgedge.read_record(sys.argv[2]); "
            "print(sorted(m for m in ('torch','scipy','wfdb','pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code, str(data / "cpsc2018" / "A1980.mat"),
                          str(data / "cinc2021" / "E07500.hea")], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_openblas_threads_default_set_before_numpy():
    """The CLI caps numpy's OpenBLAS at one thread (its idle threads busy-wait at import) before numpy is imported,
    except for training and where the user chose a value."""
    script = ("import os, sys\n"
              "import ecgedge.cli as c\n"
              "assert 'numpy' not in sys.modules, 'importing the CLI imported numpy'\n"
              "sys.argv = ['ecgedge'] + sys.argv[1:]\n"
              "try:\n    c.main()\nexcept SystemExit:\n    pass\n"
              "print('OPENBLAS', os.environ.get('OPENBLAS_NUM_THREADS'))\n")
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}

    def value(*args, **extra):
        r = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=120,
                           env={**env, **extra}, stdin=subprocess.DEVNULL)
        assert r.returncode == 0, r.stderr
        return r.stdout.split("OPENBLAS ")[-1].strip()

    assert value("--version") == "1"
    assert value("--version", OPENBLAS_NUM_THREADS="3") == "3"
    assert value("train", "--help") == "None"
