"""Where `ecgedge infer` writes: `-o FILE` checked before any work, overwrites that keep the file's mode and
write through symlinks, a stream that leaves an existing file alone until data arrives, leftovers of killed
runs cleaned up; and the progress bar, on a terminal only."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import shutil
import stat
import struct
import subprocess
import sys
import termios
import time

import numpy as np
import pytest
from conftest import run_cli

from ecgedge.atomic import atomic_open, check_output, remove_stale_leftovers
from ecgedge.errors import EcgedgeError

LEADS = "I,II,III,aVR,aVL,aVF,V1,V2,V3,V4,V5,V6"


def _rec(data, i: int = 1) -> str:
    return str(data / "ptb-xl" / "records100" / "00000" / f"{i:05d}_lr.hea")


def _records(data, tmp_path, n: int):
    """A folder of ``n`` PTB-XL records (copied: tests never write beside the shared data)."""
    folder = tmp_path / "recs"
    folder.mkdir()
    for i in range(1, n + 1):
        for ext in (".hea", ".dat"):
            shutil.copy(data / "ptb-xl" / "records100" / "00000" / f"{i:05d}_lr{ext}", folder)
    return folder


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def _age(path, seconds: float) -> None:
    t = time.time() - seconds
    os.utime(path, (t, t))


# -- -o checked up front ----------------------------------------------------------------------------


def test_output_into_a_folder_fails_before_any_record(data, tmp_path):
    folder = _records(data, tmp_path, 3)
    out = tmp_path / "results"
    out.mkdir()
    r = run_cli("infer", str(folder), "-o", str(out))
    assert r.returncode == 2 and "is a folder" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "record(s)" not in r.stderr and r.stdout == ""
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("where, msg", [("/proc/ecgedge-results.csv", "cannot write here"),
                                        ("/proc/self/status", "cannot write here")])
def test_output_into_proc_fails_up_front(data, where, msg):
    r = run_cli("infer", _rec(data), "-o", where)
    assert r.returncode == 2 and msg in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_output_below_a_file_or_in_a_read_only_folder(data, tmp_path):
    (tmp_path / "plain").write_text("x")
    r = run_cli("infer", _rec(data), "-o", str(tmp_path / "plain" / "out.csv"))
    assert r.returncode == 2 and "is not a folder" in r.stderr and "Traceback" not in r.stderr, r.stderr
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        r = run_cli("infer", _rec(data), "-o", str(ro / "out.csv"))
        assert r.returncode == 2 and "cannot write here" in r.stderr and "Traceback" not in r.stderr, r.stderr
    finally:
        ro.chmod(0o755)


def test_check_output_creates_nothing(tmp_path):
    target = tmp_path / "new" / "deeper" / "out.csv"
    check_output(target)
    assert not (tmp_path / "new").exists()  # probed in the first folder that exists
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(EcgedgeError, match="is a folder"):
        check_output(tmp_path)


# -- overwriting ------------------------------------------------------------------------------------


def test_overwrite_keeps_mode_and_follows_symlinks(data, tmp_path):
    out = tmp_path / "out.csv"
    out.write_text("old\n")
    out.chmod(0o640)
    r = run_cli("infer", _rec(data), "--format", "csv", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o640 and out.read_text().startswith("record,")
    real = tmp_path / "real"
    real.mkdir()
    target = real / "target.csv"
    target.write_text("old\n")
    target.chmod(0o600)
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    r = run_cli("infer", _rec(data), "--format", "csv", "-o", str(link))
    assert r.returncode == 0, r.stderr
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_text().startswith("record,") and stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.csv", "out.csv", "real"]  # no leftovers
    assert [p.name for p in real.iterdir()] == ["target.csv"]
    r = run_cli("infer", _rec(data), "-o", os.devnull)  # a device is written in place, never replaced
    assert r.returncode == 0 and os.path.exists(os.devnull) and not os.path.isfile(os.devnull), r.stderr


def test_atomic_open_new_file_gets_the_usual_mode(tmp_path):
    umask = os.umask(0)
    os.umask(umask)
    with atomic_open(tmp_path / "a" / "new.txt", "w") as fh:
        fh.write("x")
    assert stat.S_IMODE((tmp_path / "a" / "new.txt").stat().st_mode) == 0o666 & ~umask


# -- stream output ----------------------------------------------------------------------------------


def _stream(out, raw: bytes, *extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "ECGEDGE_DEBUG"}
    return subprocess.run([sys.executable, "-m", "ecgedge", "infer", "--stream", "-", "--fs", "100", "--leads",
                           LEADS, "--dtype", "int16", "--gain", "200", "--format", "csv", "-o", str(out), *extra],
                          input=raw, capture_output=True, timeout=120, env=env)


def test_stream_leaves_an_existing_file_alone_until_data_arrives(tmp_path):
    from ecgedge.simulate import simulated_ecg

    out = tmp_path / "live.csv"
    out.write_text("yesterday's results\n")
    out.chmod(0o640)
    r = _stream(out, b"")  # the source ends before one window
    assert r.returncode == 0, r.stderr.decode()
    assert out.read_text() == "yesterday's results\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["live.csv"]  # its temporary file is gone too
    from ecgedge.artifact import read_info
    from ecgedge.zoo import default_model

    c = read_info(default_model()).contract
    window = c.window / c.fs  # whatever the shipped default's window is: 2.4 windows of signal
    sig = simulated_ecg(duration=2.4 * window, fs=100.0)
    r = _stream(out, np.round(sig.data.T * 200).astype("<i2").tobytes())
    assert r.returncode == 0, r.stderr.decode()
    lines = out.read_text().splitlines()
    # a row at the first full window, one per hop (half a window) after it, and the flushed tail
    assert lines[0].startswith("t_s,") and len(lines) >= 4, lines
    assert stat.S_IMODE(out.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["live.csv"]
    folder = tmp_path / "d"
    folder.mkdir()
    r = _stream(folder, b"")
    assert r.returncode == 2 and b"is a folder" in r.stderr and b"Traceback" not in r.stderr


# -- leftovers of killed runs -----------------------------------------------------------------------


def test_stale_temporary_files_are_removed(data, tmp_path):
    out = tmp_path / "out.csv"
    dead, alive = _dead_pid(), os.getpid()
    stale = tmp_path / f".out.csv.{dead}.abcd1234.tmp"
    running = tmp_path / f".out.csv.{alive}.efgh5678.tmp"  # this test process: alive
    legacy_old = tmp_path / ".out.csv.ijkl9012.tmp"  # the naming before PIDs: stale after an hour
    legacy_new = tmp_path / ".out.csv.mnop3456.tmp"
    other = tmp_path / f".other.csv.{dead}.abcd1234.tmp"  # another output's: not ours to judge
    for p in (stale, running, legacy_old, legacy_new, other):
        p.write_text("partial")
        _age(p, 60)
    _age(legacy_old, 7200)
    r = run_cli("infer", _rec(data), "--format", "csv", "-o", str(out))
    assert r.returncode == 0, r.stderr
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted(["out.csv", running.name, legacy_new.name, other.name]), left


def test_fresh_leftover_of_a_dead_pid_is_kept(tmp_path):
    """Modified after this process started: not provably a killed run's (the PID may be another host's)."""
    tmp = tmp_path / f".out.csv.{_dead_pid()}.abcd1234.tmp"
    tmp.write_text("x")
    os.utime(tmp, None)
    import ecgedge.atomic as A

    if tmp.stat().st_mtime < A._STARTED:
        pytest.skip("clock granularity")
    assert remove_stale_leftovers(tmp_path / "out.csv") == [] and tmp.exists()


def test_stale_store_builds_are_removed(data, tmp_path):
    from ecgedge.datasets import load_dataset
    from ecgedge.store import prepare

    out = tmp_path / "store"
    dead = _dead_pid()
    stale = tmp_path / f".store.building-{dead}"  # a killed `data prepare`
    running = tmp_path / ".store.building-1"  # a live one (PID 1 is always alive; ours is prepare's own)
    old_only_copy = tmp_path / f".store.old-{dead}"
    for d in (stale, running, old_only_copy):
        d.mkdir()
        (d / "signals.f32").write_bytes(b"\0" * 1024)
        _age(d, 86400)  # older than this process: a long test session started long before the test
    # before the store exists, an ".old" folder may be the only copy of the previous store: kept
    assert remove_stale_leftovers(out) == [stale]
    assert old_only_copy.exists() and running.exists()
    stale.mkdir()
    _age(stale, 86400)
    prepare(load_dataset("cinc2021"), out)
    left = sorted(p.name for p in tmp_path.iterdir())
    assert stale.name not in left and running.name in left and "store" in left
    assert remove_stale_leftovers(out) == [old_only_copy]  # the store is back: the old copy can go


# -- progress ---------------------------------------------------------------------------------------


def _run_on_pty(args: list[str], *, stdout_on_pty: bool, timeout: float = 120) -> tuple[int, str, bytes]:
    """Run the CLI with stderr (and optionally stdout) on a real pseudo-terminal; return the exit code, what
    the terminal received and what stdout received."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("ECGEDGE_DEBUG", "COLUMNS", "NO_COLOR", "TERM")}
    env["TERM"] = "xterm-256color"
    p = subprocess.Popen([sys.executable, "-m", "ecgedge", *args], stdin=subprocess.DEVNULL,
                         stdout=slave if stdout_on_pty else subprocess.PIPE, stderr=slave, env=env)
    os.close(slave)
    seen = bytearray()
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        ready, _, _ = select.select([master], [], [], 1.0)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: every writer of the terminal has closed it
                break
            if not chunk:
                break
            seen += chunk
        elif p.poll() is not None:
            break
    out = b"" if stdout_on_pty else p.stdout.read()
    code = p.wait(timeout=30)
    os.close(master)
    return code, seen.decode("utf-8", "replace"), out


def test_progress_bar_on_a_terminal(data, tmp_path):
    folder = _records(data, tmp_path, 30)
    out = tmp_path / "out.csv"
    code, term, _ = _run_on_pty(["infer", str(folder), "--format", "csv", "-o", str(out)], stdout_on_pty=False)
    assert code == 0, term
    assert "classifying" in term and "records/s" in term and "ETA" in term and "/30" in term, term
    assert "30 record(s), 0 failed" in term and "Traceback" not in term
    assert len(out.read_text().splitlines()) == 31
    # results on the same terminal: printed above the bar, every row there
    code, term, _ = _run_on_pty(["infer", str(folder)], stdout_on_pty=True)
    assert code == 0 and "records/s" in term and "Traceback" not in term, term
    assert all(f"{i:05d}_lr" in term for i in range(1, 31))


def test_no_progress_output_when_stderr_is_not_a_terminal(data, tmp_path):
    folder = _records(data, tmp_path, 5)
    r = run_cli("infer", str(folder), "--format", "csv")
    assert r.returncode == 0, r.stderr
    assert r.stderr.strip().splitlines() == [r.stderr.strip()]  # the summary line only
    assert "records/s" not in r.stderr and "\r" not in r.stderr and "\x1b" not in r.stderr
    assert len(r.stdout.splitlines()) == 6
