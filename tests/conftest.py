import os
import subprocess
import sys
from pathlib import Path

import pytest

from ecgedge.datasets import data_root

REPO = Path(__file__).resolve().parents[1]


def pytest_sessionstart(session):
    # In CI a missing kernel is a failure, not a reason to skip half the preprocessing suite.
    if os.environ.get("ECGEDGE_REQUIRE_KERNEL"):
        from ecgedge.dsp import native_available

        if not native_available():
            pytest.exit("ECGEDGE_REQUIRE_KERNEL is set but ecgedge._kernel cannot be imported", returncode=1)


@pytest.fixture(scope="session")
def data() -> Path:
    root = data_root()
    if not (root / "ptb-xl").is_dir():
        pytest.skip(f"shared data not found at {root} (set ECGEDGE_DATA)")
    return root


def run_cli(*args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``python -m ecgedge ARGS`` as a user would, capturing its output."""
    full_env = dict(os.environ)
    full_env.pop("ECGEDGE_DEBUG", None)
    full_env["COLUMNS"] = "200"
    if env:
        full_env.update(env)
    return subprocess.run([sys.executable, "-m", "ecgedge", *args], capture_output=True, text=True,
                          timeout=timeout, env=full_env, stdin=subprocess.DEVNULL)
