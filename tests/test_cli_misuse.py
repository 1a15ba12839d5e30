"""The command line misused as users misuse it: typos, bad numbers, missing arguments, odd file names.

Every case ends in one line on stderr and a known exit code (2: the user's mistake; 3: ecgedge's own bug,
with the "please report" line), never a traceback. The suite runs as a user has ecgedge: as a subprocess,
once in this (full) install and once as a runtime-only install (torch, scipy, wfdb and, where typer does
not need it, click made unimportable)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import run_cli

# (arguments, a fragment the one line must hold)
MISUSE = [
    ((), "missing command: one of"),
    (("nosuchcmd",), "No such command 'nosuchcmd'"),
    (("data",), "missing command: one of info, prepare"),
    (("data", "prepare"), "Missing argument"),
    (("infer", "--bogus"), "No such option: --bogus"),
    (("infer", "--batch", "abc"), "'abc' is not a valid int"),
    (("infer", "--batch", "0"), "0 is less than 1"),
    (("infer", "--workers", "-3"), "-3 is less than 1"),
    (("infer", "--threads", "-1"), "-1 is less than 0"),
    (("infer", "--stream", "-", "--hop", "nan"), "nan is not a positive number of seconds"),
    (("infer", "--stream", "-", "--hop", "-1"), "-1.0 is not a positive number of seconds"),
    (("infer", "--stream", "-", "--hop", "inf"), "inf is not a positive number of seconds"),
    (("infer", "--stream", "-", "--gain", "1e-300"), "would overflow or underflow in float32"),
    (("infer", "--stream", "-", "--gain", "0"), "must be positive"),
    (("infer", "--stream", "-", "--fs", "1e308"), "outside 1 Hz-100 kHz"),
    (("infer", "--stream", "-", "--fs", "0.5"), "outside 1 Hz-100 kHz"),
    (("infer", "--stream", "-", "--fs", "nan"), "outside 1 Hz-100 kHz"),
    (("data", "info", "--fs", "4.9e-324"), "outside 1 Hz-100 kHz"),
    (("bench", "--seconds", "0"), "not a positive number of seconds"),
    (("bench", "--batches", "1,0"), "batch sizes must be at least 1"),
    (("bench", "--engines", "cuda"), "unknown engine 'cuda'"),
    (("infer", "--format", "xml", "--demo"), "unknown format 'xml'"),
    (("info",), "Missing argument"),
]


def _check(r: subprocess.CompletedProcess, fragment: str, code: int = 2) -> None:
    err = r.stderr.strip()
    assert r.returncode == code, (r.returncode, err)
    assert "Traceback" not in err and err.startswith("error:"), err
    assert len(err.splitlines()) == 1, err
    assert fragment in err, err


@pytest.mark.parametrize("args, fragment", MISUSE, ids=[" ".join(a) or "(nothing)" for a, _ in MISUSE])
def test_misuse_is_one_line(args, fragment):
    _check(run_cli(*args), fragment)


def test_usage_line_names_the_command_and_its_help():
    err = run_cli("infer", "--batch", "abc").stderr
    assert "Usage:" in err and "infer [OPTIONS]" in err and "infer --help'" in err


def test_unexpected_exception_is_the_please_report_line():
    code = ("import sys, ecgedge.cli as c\n"
            "@c.app.command('boom')\n"
            "def boom() -> None:\n"
            "    raise ZeroDivisionError('a [bold]bug[/]')\n"
            "sys.argv = ['ecgedge', 'boom']\n"
            "c.main()")
    env = {k: v for k, v in os.environ.items() if k != "ECGEDGE_DEBUG"}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    _check(r, "this is a bug in ecgedge", code=3)
    assert "unexpected ZeroDivisionError: a [bold]bug[/]" in r.stderr and "ECGEDGE_DEBUG=1" in r.stderr
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                       env={**env, "ECGEDGE_DEBUG": "1"})
    assert "Traceback" in r.stderr  # asked for


def _typer_needs_click() -> bool:
    out = subprocess.run([sys.executable, "-c", "import sys, typer; print('click' in sys.modules)"],
                         capture_output=True, text=True, check=True).stdout
    return out.strip() == "True"


def test_misuse_in_a_runtime_only_install(tmp_path):
    """The same cases with torch, scipy and wfdb (and click, unless this typer imports it) unimportable, as
    on a device with `pip install ecgedge` only: usage errors must not need what is not installed."""
    blocked = ["torch", "scipy", "wfdb"] + ([] if _typer_needs_click() else ["click"])
    runner = tmp_path / "runtime_only.py"
    runner.write_text(
        "import sys\n"
        f"for m in {blocked!r}:\n"
        "    sys.modules[m] = None\n"
        "from ecgedge.cli import main\n"
        "sys.argv = ['ecgedge', *sys.argv[1:]]\n"
        "main()\n")
    env = {k: v for k, v in os.environ.items() if k != "ECGEDGE_DEBUG"}
    env["COLUMNS"] = "200"
    for args, fragment in MISUSE:
        r = subprocess.run([sys.executable, str(runner), *args], capture_output=True, text=True, timeout=120,
                           env=env, stdin=subprocess.DEVNULL)
        _check(r, fragment)
    # and a real error of ecgedge's own, through the same entry point
    r = subprocess.run([sys.executable, str(runner), "infer", str(tmp_path / "missing.hea"), "--model",
                        str(tmp_path / "missing.onnx")], capture_output=True, text=True, timeout=120, env=env)
    _check(r, "model file not found")


# -- user text is never Rich markup -----------------------------------------------------------------


@pytest.fixture
def bracket_record(tmp_path):
    """A record in a folder named ``a[/b]`` (that is, ``a[`` then ``b]``) whose header has a comment that is
    Rich markup (and an emoji code and a terminal escape)."""
    from ecgedge.io.wfdb_write import write_wfdb
    from ecgedge.simulate import simulated_ecg

    hea = write_wfdb(simulated_ecg(), tmp_path / "a[" / "b]", "r")
    with open(hea, "a") as fh:
        fh.write("# [bold]x [/] :heart: \x1b]0;pwned\x07\n")
    return tmp_path / "a[" / "b]", hea


def test_markup_in_paths_and_headers_prints_as_text(bracket_record):
    folder, hea = bracket_record
    r = run_cli("data", "info", str(hea))
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert "a[/b]/r.hea" in r.stdout and "[bold]x [/] :heart:" in r.stdout
    assert "\x1b" not in r.stdout and "\\x1b]0;pwned\\x07" in r.stdout  # shown, not obeyed
    r = run_cli("data", "info", str(folder))
    assert r.returncode == 0 and str(folder) in r.stdout, r.stderr
    # the error line of a path with brackets
    r = run_cli("data", "info", str(folder / "[bold]x.hea"))
    _check(r, f"{folder}/[bold]x.hea")


def test_markup_in_infer(bracket_record, tmp_path):
    folder, hea = bracket_record
    missing = str(folder / "[/]missing.hea")
    r = run_cli("infer", str(hea), missing, "--format", "csv")
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert "a[/b]/r.hea" in r.stdout and "[/]missing.hea" in r.stdout
    r = run_cli("infer", str(hea), "--model", str(folder / "[red]m.onnx"))
    _check(r, "[red]m.onnx: model file not found")


def test_record_name_is_not_mathtext_in_plots(data, tmp_path):
    """A record's name titles its plot: ``$...$`` in it is text, not matplotlib mathtext (which fails to parse
    ``x^{``)."""
    pytest.importorskip("matplotlib")
    import shutil

    mat = tmp_path / "a$x^{$.mat"
    shutil.copy(data / "cpsc2018" / "A1980.mat", mat)
    r = run_cli("infer", str(mat), "--plot", str(tmp_path / "png"))
    assert r.returncode == 0 and "Traceback" not in r.stderr and "warning" not in r.stderr, r.stderr
    assert (tmp_path / "png" / "a$x^{$.png").stat().st_size > 0
