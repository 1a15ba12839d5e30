"""Stream settings that cannot make sense are refused the way a record's would be, and a stream's memory
does not grow with its length (the latency summary is bounded)."""

from __future__ import annotations

import io
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from ecgedge.errors import EcgedgeError
from ecgedge.runtime.latency import LatencySummary
from ecgedge.signal import Signal
from ecgedge.streams.raw import FrameDecoder, RawStream

LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")


@pytest.mark.parametrize("gain", [1e-300, 1e-40, 5e-35, 1e39, 0.0, -200.0, float("nan"), float("inf")])
def test_gain_that_float32_cannot_divide_by(gain):
    with pytest.raises(EcgedgeError, match="gain"):
        FrameDecoder(2, "int16", gain=gain)


def test_usable_gains_still_work():
    for g in (1e-30, 1e-3, 200.0, 1e30):
        dec = FrameDecoder(1, "int16", gain=g)
        with np.errstate(all="raise"):  # no overflow, no division by zero at full scale
            out = dec.feed(np.array([32767, -32767], "<i2").tobytes())
        assert np.isfinite(out).all()


@pytest.mark.parametrize("fs", [1e308, 4.9e-324, 0.5, 100_001.0, float("nan")])
def test_implausible_stream_rates(fs):
    with pytest.raises(EcgedgeError, match="sampling frequency"):
        RawStream(io.BytesIO(b""), fs, "I")


def test_one_hertz_stream_is_refused_as_a_record_is():
    """1 Hz is a rate a source may claim, but no band-passed model can use it: the stream says so in the
    words a record at that rate gets."""
    from ecgedge.runtime.live import StreamClassifier
    from ecgedge.runtime.predictor import Predictor

    with pytest.raises(EcgedgeError) as stream_err:
        StreamClassifier(None, 1.0, LEADS)
    rec = Signal(np.zeros((12, 20), np.float32), 1.0, LEADS, ("mV",) * 12, "slow")
    with pytest.raises(EcgedgeError) as record_err:
        Predictor().predict(rec)
    for err in (stream_err, record_err):
        assert "sampled at 1 Hz, which cannot hold the 40 Hz" in str(err.value)


def test_one_hertz_stdin_stream_in_the_cli():
    env = {k: v for k, v in os.environ.items() if k != "ECGEDGE_DEBUG"}
    r = subprocess.run([sys.executable, "-m", "ecgedge", "infer", "--stream", "-", "--fs", "1", "--leads",
                        ",".join(LEADS), "--dtype", "int16", "--gain", "200"], input=b"\0" * 240,
                       capture_output=True, timeout=120, env=env)
    err = r.stderr.decode()
    assert r.returncode == 2 and "sampled at 1 Hz" in err and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("hop", [-1.0, 0.0, float("nan"), float("inf"), -math.inf])
def test_hop_must_be_positive_and_finite(hop):
    from ecgedge.runtime.live import StreamClassifier

    with pytest.raises(EcgedgeError, match="hop must be a positive number of seconds"):
        StreamClassifier(None, 100.0, LEADS, hop=hop)


def test_latency_summary_is_bounded():
    rng = np.random.default_rng(0)
    values = rng.exponential(1.0, 200_000)
    s = LatencySummary(size=1024)
    for v in values:
        s.add(v)
    assert len(s) == 200_000 and len(s.sample) == 1024  # not one entry per row
    assert s.max == pytest.approx(values.max()) and s.mean == pytest.approx(values.mean())
    assert s.percentile(50) == pytest.approx(np.percentile(values, 50), rel=0.1)
    assert s.percentile(99) == pytest.approx(np.percentile(values, 99), rel=0.25)
    small = LatencySummary()
    for v in (3.0, 1.0, 2.0):
        small.add(v)
    assert small.percentile(50) == 2.0  # exact below the reservoir size
    assert math.isnan(LatencySummary().percentile(50))


def test_stream_keeps_a_bounded_latency_summary(tmp_path, monkeypatch):
    """A long replay with a short hop: thousands of rows, and the summary holds no more than its size."""
    from ecgedge.io.wfdb_write import write_wfdb
    from ecgedge.runtime import latency, live
    from ecgedge.simulate import simulated_ecg

    made: list[LatencySummary] = []

    class Small(LatencySummary):
        def __init__(self) -> None:
            super().__init__(size=64)
            made.append(self)

    monkeypatch.setattr(latency, "LatencySummary", Small)
    rec = write_wfdb(simulated_ecg(duration=60.0, fs=100.0), tmp_path, "long")
    code = live.run_stream(rec, hop=0.02, fmt="csv", output=str(tmp_path / "rows.csv"))
    assert code == 0
    rows = sum(1 for _ in open(tmp_path / "rows.csv")) - 1
    (summary,) = made
    assert rows > 2000 and len(summary) >= rows - 5 and len(summary.sample) == 64
