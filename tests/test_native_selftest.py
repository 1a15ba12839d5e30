"""The C core's own test (native/tests/selftest.c: every routine against a naive implementation),
built in each configuration the kernel can be built in, and on aarch64 where a cross compiler and
qemu are installed (.ci/run installs them)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SOURCES = [str(REPO / "native" / "tests" / "selftest.c"), str(REPO / "native" / "ecgedge_dsp.c")]

VARIANTS = {
    "x86-64 dispatch (AVX-512/AVX2/baseline clones)": ["-O3", "-ffp-contract=fast"],
    "portable C99, no vector extensions, no clones": ["-O3", "-std=c99", "-DEE_NO_VECTOR_EXT", "-DEE_NO_CLONES"],
    "unoptimised": ["-O0"],
}


def _build_and_run(cc: list[str], flags: list[str], out: Path, runner: list[str] | None = None) -> str:
    cmd = [*cc, "-std=gnu99", *flags, f"-I{REPO / 'native'}", *SOURCES, "-lm", "-o", str(out)]
    # the portable variant asks for strict C99 itself; later -std wins
    b = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert b.returncode == 0, b.stderr[-2000:]
    r = subprocess.run([*(runner or []), str(out)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout.strip()


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_selftest_native(tmp_path, variant):
    if not (REPO / "native").is_dir() or shutil.which("gcc") is None:
        pytest.skip("needs gcc and the source tree")
    assert _build_and_run(["gcc"], VARIANTS[variant], tmp_path / "selftest") == "selftest ok"


def test_selftest_aarch64(tmp_path):
    cc, qemu = shutil.which("aarch64-linux-gnu-gcc"), shutil.which("qemu-aarch64")
    if not cc or not qemu:
        pytest.skip("aarch64 cross compiler or qemu-user not installed")
    for flags in (["-O3", "-ffp-contract=fast"], ["-O3", "-DEE_NO_VECTOR_EXT"]):
        assert _build_and_run([cc, "-static"], flags, tmp_path / "selftest-arm", [qemu]) == "selftest ok"
