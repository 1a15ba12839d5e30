"""Records classified in worker processes (:mod:`ecgedge.runtime.processes`): the same rows as this process gives,
in input order, with error rows, errors that stop a run, a killed worker, a model that cannot load, and a caller
that stops reading early. Real records from the shared data, real ``python -m`` workers, the shipped models."""

from __future__ import annotations

import gc
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from conftest import run_cli

import ecgedge.runtime.processes as P
from ecgedge.errors import EcgedgeError, OptionError
from ecgedge.runtime.predictor import Predictor

AF = "physionet2017-af"


@pytest.fixture(scope="module")
def records(data, tmp_path_factory):
    """30 shared 500 Hz PTB-XL records, a damaged header and a missing record, in an order that mixes them."""
    good = [str(p) for p in sorted((data / "ptb-xl" / "records500").rglob("*.hea"))[:30]]
    bad = tmp_path_factory.mktemp("bad") / "broken.hea"
    bad.write_text("broken 12 500 5000\nthis is not a signal line\n")
    return good[:7] + [str(bad)] + good[7:20] + [str(bad.with_name("missing.hea"))] + good[20:]


def _rows(preds) -> list[dict]:
    return [p.as_dict() for p in preds]


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(P, "CHUNK", 3)  # many chunks over few records: order across workers is exercised


def test_worker_processes_give_the_rows_this_process_gives(records, small_chunks):
    here = _rows(Predictor(threads=1, processes=1).predict_many(records))
    with Predictor(threads=1, processes=2) as pred:
        there = _rows(pred.predict_many(records))
        assert pred.ran_in == 2 and pred._pool.alive
        again = _rows(pred.predict_many(iter(records[::-1])))  # the pool serves a second run, from an iterator
    assert there == here
    assert again == here[::-1]
    assert [i for i, r in enumerate(here) if r["error"]] == [7, 21]
    assert "broken.hea" in here[7]["error"] and "missing" in here[21]["error"]


def test_close_stops_the_workers(records):
    pred = Predictor(threads=1, processes=2)
    assert len(list(pred.predict_many(records[:5]))) == 5
    procs = [w.proc for w in pred._pool._workers]
    pred.close()
    assert pred._pool is None and all(p.poll() is not None for p in procs)
    assert len(list(pred.predict_many(records[:5]))) == 5  # started again on demand
    procs = [w.proc for w in pred._pool._workers]
    del pred  # dropped without close(): its workers stop with it
    gc.collect()
    for p in procs:
        p.wait(timeout=30)


def test_auto_starts_workers_only_for_large_inputs(records, monkeypatch):
    pred = Predictor(threads=1)
    assert len(list(pred.predict_many(records))) == len(records)
    assert pred.ran_in == 1 and pred._pool is None  # 32 records: below MIN_RECORDS
    monkeypatch.setattr(P, "MIN_RECORDS", 20)
    monkeypatch.setattr(P, "usable_cores", lambda: 2)
    assert P.auto_processes("ort", 10 * P.MIN_RECORDS) == 1  # 2 cores: one process is faster
    monkeypatch.setattr(P, "MIN_CORES", 2)
    with pred:
        assert len(list(pred.predict_many(records))) == len(records) and pred.ran_in == 2  # a list: counted
        # an iterator is not read ahead to count it (a slow source's first rows must not wait): this process
        assert len(list(pred.predict_many(iter(records)))) == len(records) and pred.ran_in == 1
    monkeypatch.undo()
    monkeypatch.setattr(P, "usable_cores", lambda: P.MIN_CORES)
    assert P.auto_processes("ort", P.MIN_RECORDS) == P.MIN_CORES
    assert P.auto_processes("ort", P.MIN_RECORDS - 1) == 1
    assert P.auto_processes("ort-cuda", 10 * P.MIN_RECORDS) == 1
    monkeypatch.setattr(P, "usable_cores", lambda: 16)
    assert P.auto_processes("ort", 10 * P.MIN_RECORDS) == 8
    monkeypatch.setattr(P, "usable_cores", lambda: P.MIN_CORES - 1)
    assert P.auto_processes("ort", 10 * P.MIN_RECORDS) == 1


def test_an_option_error_in_a_worker_stops_the_run_as_it_does_here(data, small_chunks):
    """--lead V7 on records without V7: the run stops with the option's one line, after the rows before it."""
    recs = [str(p) for p in sorted((data / "physionet2017" / "training2017").glob("*.hea"))[:8]]
    with pytest.raises(OptionError) as here:
        list(Predictor(AF, threads=1, processes=1, lead="V7").predict_many(recs))
    with Predictor(AF, threads=1, processes=2, lead="V7") as pred, pytest.raises(OptionError) as there:
        list(pred.predict_many(recs))
    assert str(there.value) == str(here.value) and "--lead" in str(there.value)


def test_a_worker_killed_during_a_run_is_an_error_and_the_next_run_starts_fresh(records, small_chunks):
    with Predictor(threads=1, processes=2) as pred:
        assert len(list(pred.predict_many(records[:4]))) == 4  # the workers are up
        victim = pred._pool._workers[0].proc
        rows = pred.predict_many(records)
        next(rows)
        victim.send_signal(signal.SIGKILL)
        with pytest.raises(EcgedgeError, match=r"worker process was killed by signal 9.*--processes 1"):
            list(rows)
        assert not pred._pool.alive  # the broken pool was stopped
        assert len(list(pred.predict_many(records))) == len(records)
        # a worker that died between runs: the next run starts a fresh pool instead of failing
        pred._pool._workers[1].proc.kill()
        pred._pool._workers[1].proc.wait()
        assert len(list(pred.predict_many(records[:5]))) == 5


def test_a_model_the_workers_cannot_open_is_an_error(tmp_path, records):
    model = tmp_path / "default.int8.onnx"
    shutil.copy(Predictor(threads=1).info.path, model)
    settings = dict(model=str(model), threads=1, workers=0, processes=1)
    model.write_bytes(b"not a model")  # replaced after this process opened it
    pool = P.RecordPool(settings, 2)
    with pytest.raises(EcgedgeError, match="default.int8.onnx: not a readable ONNX file"):
        list(pool.predict_many(records))  # without this process's help: every record waits for a worker
    assert not pool.alive
    pool.close()


def test_a_failing_input_iterator_raises_in_order(records, small_chunks):
    def items():
        yield from records[:6]
        raise RuntimeError("the listing failed")

    got = []
    with Predictor(threads=1, processes=2) as pred, pytest.raises(RuntimeError, match="the listing failed"):
        for p in pred.predict_many(items()):
            got.append(p.name)
    assert got == [os.path.basename(r)[:-4] for r in records[:6]]


def test_stopping_early_leaves_the_pool_usable(records, small_chunks):
    with Predictor(threads=1, processes=2) as pred:
        for i, _ in enumerate(pred.predict_many(records)):
            if i == 4:
                break
        t = time.monotonic()
        assert len(list(pred.predict_many(records[:3]))) == 3
        assert time.monotonic() - t < 60


def test_processes_must_be_at_least_one():
    with pytest.raises(OptionError, match="--processes"):
        Predictor(threads=1, processes=0)


def test_workers_never_run_the_callers_main_script(tmp_path, data):
    """A script without an ``if __name__ == "__main__"`` guard: multiprocessing's spawn would run it again in every
    worker; these workers run only ecgedge."""
    marker = tmp_path / "ran"
    script = tmp_path / "script.py"
    recs = [str(p) for p in sorted((data / "ptb-xl" / "records500").rglob("*.hea"))[:6]]
    script.write_text(
        "from ecgedge.runtime.predictor import Predictor\n"
        f"open({str(marker)!r}, 'a').write('x')\n"
        f"rows = list(Predictor(threads=1, processes=2).predict_many({recs!r}))\n"
        "print(sum(r.ok for r in rows))\n")
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "6" and marker.read_text() == "x"


def test_cli_processes_option(records, data, tmp_path):
    folder = data / "ptb-xl" / "records500"
    one = run_cli("infer", str(folder), "--processes", "1", "--format", "csv", timeout=600)
    two = run_cli("infer", str(folder), "--processes", "2", "--format", "csv", timeout=600)
    assert one.returncode == 0 and two.returncode == 0, two.stderr
    assert two.stdout == one.stdout and one.stdout.count("\n") == 501
    assert "2 worker processes" in two.stderr and "worker processes" not in one.stderr
    bad = run_cli("infer", str(folder), "--processes", "0")
    assert bad.returncode == 2 and "--processes" in bad.stderr


def test_cli_counts_a_folder_listing_to_choose_workers(records, monkeypatch, tmp_path, capsys, data):
    """`ecgedge infer folder/` piped: the listing is counted up to the threshold (a directory walk, cheap), and a
    folder at or above it runs in workers: the same rows."""
    from ecgedge.runtime.infer import run_files

    folder = str(data / "ptb-xl" / "records500")
    monkeypatch.setattr(P, "usable_cores", lambda: 2)
    monkeypatch.setattr(P, "MIN_CORES", 2)
    monkeypatch.setattr(P, "MIN_RECORDS", 600)  # above the folder's 500: this process
    assert run_files([folder], fmt="csv", output=str(tmp_path / "one.csv")) == 0
    assert "worker processes" not in capsys.readouterr().err
    monkeypatch.setattr(P, "MIN_RECORDS", 400)  # below it: workers
    assert run_files([folder], fmt="csv", output=str(tmp_path / "two.csv")) == 0
    assert "2 worker processes" in capsys.readouterr().err
    assert (tmp_path / "one.csv").read_text() == (tmp_path / "two.csv").read_text()
