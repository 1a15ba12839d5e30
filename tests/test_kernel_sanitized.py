"""The sanitizer job: the kernel built with AddressSanitizer + UndefinedBehaviorSanitizer, driven with
random shapes, strides, values and chunkings (tests/sanitize/fuzz_kernel.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _runtime(name: str) -> str | None:
    try:
        p = subprocess.run(["gcc", f"-print-file-name={name}"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    p = p.strip()
    return p if os.path.isabs(p) and os.path.exists(p) else None


@pytest.mark.slow
def test_kernel_under_asan_and_ubsan(tmp_path):
    if sys.platform != "linux" or shutil.which("gcc") is None or not (REPO / "native").is_dir():
        pytest.skip("needs gcc on Linux and the source tree")
    asan, ubsan = _runtime("libasan.so"), _runtime("libubsan.so")
    if not asan or not ubsan:
        pytest.skip("gcc's sanitizer runtimes are not installed")
    include = sysconfig.get_paths()["include"]
    so = tmp_path / ("_kernel" + sysconfig.get_config_var("EXT_SUFFIX"))
    # The same sources and flags as setup.py's ECGEDGE_SANITIZE build, compiled directly.
    build = subprocess.run(
        ["gcc", "-shared", "-fPIC", "-std=gnu99", "-O1", "-g", "-fno-omit-frame-pointer",
         "-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-DEE_NO_CLONES", "-ffp-contract=fast",
         f"-I{REPO / 'native'}", f"-I{include}", str(REPO / "native" / "_kernel.c"),
         str(REPO / "native" / "ecgedge_dsp.c"), str(REPO / "native" / "ecgedge_quality.c"),
         str(REPO / "native" / "ecgedge_wfdb.c"), "-o", str(so),
         "-lpthread", "-lm"],
        capture_output=True, text=True, timeout=600,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    so = [str(so)]
    run_env = {
        **os.environ,
        "LD_PRELOAD": f"{asan}:{ubsan}",
        "ASAN_OPTIONS": "detect_leaks=0:abort_on_error=1:halt_on_error=1",
        "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1",
        "PYTHONMALLOC": "malloc",
    }
    r = subprocess.run([sys.executable, str(REPO / "tests" / "sanitize" / "fuzz_kernel.py"), so[0], "1234", "600"],
                       capture_output=True, text=True, env=run_env, timeout=900)
    report = r.stderr[-5000:]
    assert r.returncode == 0, report
    assert "AddressSanitizer" not in r.stderr and "runtime error" not in r.stderr, report
    assert r.stdout.strip() == "ok 600"
