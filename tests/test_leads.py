"""Which lead a single-lead model reads (``ecgedge.leads.single_lead_source``), on real records as users have them:
MIT-BIH's MLII, PTB-XL's 12 leads (lead I by default, ``--lead NAME`` for another), a bad ``--lead``, and a
one-channel serial stream on a real pseudo-terminal, all with the shipped single-lead ``physionet2017-af`` model."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
import tty

import numpy as np
import pytest
from conftest import run_cli

from ecgedge.errors import EcgedgeError, OptionError
from ecgedge.leads import STANDARD_12, check_lead_option, single_lead_source

AF = "physionet2017-af"
MITDB_100 = "wfdb-examples/100.hea"
PTBXL = "ptb-xl/records100/00000/00001_lr.hea"
AF_RECORD = "physionet2017/training2017/A00001.hea"


def test_the_rule():
    # the model's own lead, without a word
    assert single_lead_source(("ECG",), ("ECG",)) == (0, None)
    assert single_lead_source(("MLII", "ECG"), ("ECG",)) == (1, None)
    # a record's only lead, whatever its name
    i, note = single_lead_source(("ECG1",), ("ECG",))
    assert i == 0 and "expects lead ECG" in note and "lead ECG1" in note and "only lead" in note
    # lead I of a 12-lead record, MLII of MIT-BIH, lead II before V5
    i, note = single_lead_source(STANDARD_12, ("ECG",))
    assert i == 0 and "reading lead I instead" in note and "--lead NAME" in note
    assert single_lead_source(("MLII", "V5"), ("ECG",))[0] == 0
    assert single_lead_source(("V5", "II"), ("ECG",))[0] == 1
    # --lead picks any lead the record has, in any spelling
    i, note = single_lead_source(STANDARD_12, ("ECG",), "avf")
    assert STANDARD_12[i] == "aVF" and "reading lead aVF" in note and "--lead avf" in note
    assert single_lead_source(STANDARD_12, ("I",), "I") == (0, None)
    # nothing to stand in: the caller says which leads are missing
    assert single_lead_source(("V1", "V5"), ("ECG",)) is None
    # a model of several leads matches by name; --lead does not apply to it
    assert single_lead_source(STANDARD_12, STANDARD_12) is None
    check_lead_option(STANDARD_12, None)
    with pytest.raises(OptionError, match="--lead: chooses the lead of a single-lead model"):
        check_lead_option(STANDARD_12, "II")


def test_a_chosen_lead_the_record_lacks_lists_its_leads():
    with pytest.raises(OptionError) as err:
        single_lead_source(("MLII", "V5"), ("ECG",), "V7", path="100.hea")
    msg = str(err.value)
    assert msg.startswith("100.hea: --lead: no lead 'V7'") and "MLII, V5" in msg and "\n" not in msg
    assert isinstance(err.value, EcgedgeError)


def test_mitdb_mlii_gives_a_prediction_with_a_warning(data):
    r = run_cli("infer", "--model", AF, str(data / MITDB_100), "--format", "jsonl")
    assert r.returncode == 0, r.stderr
    row = json.loads(r.stdout)
    assert row["error"] is None and 0 <= row["A"] <= 1 and row["windows"] > 100
    lead_notes = [w for w in row["warnings"] if "single-lead" in w]
    assert len(lead_notes) == 1 and "expects lead ECG" in lead_notes[0] and "lead MLII" in lead_notes[0]


def test_ptbxl_reads_lead_i_by_default_and_lead_ii_when_asked(data):
    from ecgedge.io import read_record
    from ecgedge.runtime.predictor import Predictor

    rec = str(data / PTBXL)
    rows = {}
    for choice in (None, "I", "II"):
        r = run_cli("infer", "--model", AF, rec, "--format", "jsonl", *(["--lead", choice] if choice else []))
        assert r.returncode == 0, r.stderr
        rows[choice] = json.loads(r.stdout)
    assert "reading lead I instead" in rows[None]["warnings"][0]
    assert "reading lead II instead (--lead II)" in rows["II"]["warnings"][0]
    assert rows[None]["A"] == rows["I"]["A"] != rows["II"]["A"]
    # and what was read is that lead: the record cut down to lead II alone (its only lead) gives the same answer
    sig = read_record(rec)
    k = sig.leads.index("II")
    from dataclasses import replace

    alone = replace(sig, data=sig.data[k:k + 1], leads=("II",), units=sig.units[k:k + 1])
    p = Predictor(AF)
    a = list(p.contract.classes).index("A")  # the AF column, whether the model is AF-vs-rest or four-class
    assert p.predict(alone).probabilities[a] == pytest.approx(rows["II"]["A"], abs=1e-6)


def test_a_bad_lead_name_is_one_line_and_exit_2(data):
    r = run_cli("infer", "--model", AF, str(data / PTBXL), "--lead", "V7")
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert "00001_lr.hea" in lines[0] and "--lead" in lines[0] and "'V7'" in lines[0]
    assert "I, II, III, aVR, aVL, aVF, V1, V2, V3, V4, V5, V6" in lines[0]
    # on a model of 12 leads, --lead is refused before any record is read
    r = run_cli("infer", str(data / PTBXL), "--lead", "II")
    assert r.returncode == 2 and "single-lead model" in r.stderr and "Traceback" not in r.stderr


def test_info_names_a_shipped_models_lead():
    """The lead error's fix says `ecgedge info MODEL` lists a model's leads: a shipped model's name works there too."""
    r = run_cli("info", AF)
    assert r.returncode == 0, r.stderr
    assert [line.split()[1:] for line in r.stdout.splitlines() if line.startswith("leads")] == [["ECG"]]
    r = run_cli("info", "no-such-model")
    assert r.returncode == 2 and "no-such-model: model file not found" in r.stderr


# ------------------------------------------------------------------------------------- a serial stream
_WRITER = r"""
import os, select, sys, time
fd, rate = int(sys.argv[1]), float(sys.argv[2])
values = [float(v) for v in sys.stdin.readline().split()]
t0, k = time.monotonic(), 0
while time.monotonic() - t0 < 60:  # the record, over and over, until the test stops reading
    line = b"%.4f\n" % values[k % len(values)]
    while line:
        line = line[os.write(fd, line):]
    k += 1
    delay = t0 + k / rate - time.monotonic()
    if delay > 0:
        time.sleep(delay)
"""

#: the CLI with Python's own SIGINT handler: under a background job of a non-interactive shell the child would
#: inherit SIGINT ignored, and Python keeps an inherited SIG_IGN
_CLI = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); sys.argv[0] = 'ecgedge'; "
        "from ecgedge.cli import main; main()")


def test_a_one_channel_serial_stream_runs_the_single_lead_model(data):
    pytest.importorskip("serial")
    from ecgedge.io import read_record

    sig = read_record(data / AF_RECORD)  # AliveCor, one lead, 300 Hz, mV
    master, slave = os.openpty()
    tty.setraw(slave)
    port = os.ttyname(slave)
    writer = subprocess.Popen([sys.executable, "-c", _WRITER, str(master), "3000"], pass_fds=(master,),
                              stdin=subprocess.PIPE, text=True)
    writer.stdin.write(" ".join(f"{v:.4f}" for v in sig.data[0]) + "\n")
    writer.stdin.flush()
    os.close(master)
    env = dict(os.environ, COLUMNS="200")
    env.pop("ECGEDGE_DEBUG", None)
    cli = subprocess.Popen([sys.executable, "-c", _CLI, "infer", "--model", AF, "--stream", f"serial:{port}",
                            "--fs", "300", "--leads", "II", "--format", "jsonl"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    rows: list[dict] = []
    try:
        deadline = time.monotonic() + 60
        while len(rows) < 3 and time.monotonic() < deadline:
            ready, _, _ = select.select([cli.stdout], [], [], max(deadline - time.monotonic(), 0.01))
            if not ready:
                break
            line = cli.stdout.readline()
            if not line:
                break
            rows.append(json.loads(line))
        cli.send_signal(2)  # SIGINT: the stream flushes and ends cleanly
        rest, err = cli.communicate(timeout=30)
    finally:
        for p in (cli, writer):
            if p.poll() is None:
                p.kill()
                p.communicate()
        os.close(slave)
    assert len(rows) >= 3, f"{len(rows)} row(s) within 60 s; stderr: {err}"
    assert cli.returncode == 0, err
    rows += [json.loads(line) for line in rest.splitlines()]
    results = [r for r in rows if r.get("A") is not None]
    assert len(results) >= 3 and all(0 <= r["A"] <= 1 for r in results)
    # 10-s windows every 5 s (the model's stride), at the model's 100 Hz
    assert np.diff([r["t"] for r in results[:3]]) == pytest.approx([5.0, 5.0])
    warned = [line for line in err.splitlines() if "single-lead model" in line]
    assert len(warned) == 1 and "expects lead ECG" in warned[0] and "reading lead II" in warned[0], err
    assert "interrupted" in err and "Traceback" not in err
