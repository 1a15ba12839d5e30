import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ecgedge.datasets import data_root

REPO = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def benchmark_script(name: str):
    """``benchmarks/NAME.py`` imported as a module (with ``benchmarks/`` on the path for its own imports)."""
    import importlib.util

    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        yield mod
    finally:
        sys.path.remove(str(REPO / "benchmarks"))


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


@contextlib.contextmanager
def time_limit(seconds: float):
    """Turn a hang (a read blocked on a FIFO without a writer, a parser in a loop) into a failure: SIGALRM, so the
    test must run in the main thread."""
    def _raise(signum, frame):
        raise TimeoutError(f"no result after {seconds} s: blocked or hung")

    old = signal.signal(signal.SIGALRM, _raise)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def run_cli(*args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``python -m ecgedge ARGS`` as a user would, capturing its output."""
    full_env = dict(os.environ)
    full_env.pop("ECGEDGE_DEBUG", None)
    full_env["COLUMNS"] = "200"
    if env:
        full_env.update(env)
    return subprocess.run([sys.executable, "-m", "ecgedge", *args], capture_output=True, text=True,
                          timeout=timeout, env=full_env, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="session")
def tiny_run(data, tmp_path_factory):
    """A small mobilenet1d trained for 3 epochs on 600 records of the shared PTB-XL subset (about 10 s), and its
    export (FP32 + INT8 + FP16). Smaller runs give a model whose logits barely vary (std ~1e-5): no INT8 model
    can rank such outputs, and the export gate rightly refuses it.

    Shared by the export and inference tests; the cache of prepared stores lives in the session's tmp folder."""
    pytest.importorskip("torch")
    from ecgedge.export.pipeline import options_from, run_export
    from ecgedge.training.loop import train
    from ecgedge.training.recipe import load_recipe

    root = tmp_path_factory.mktemp("tiny")
    mp = pytest.MonkeyPatch()
    mp.setenv("ECGEDGE_CACHE", str(root / "cache"))
    r = load_recipe(REPO / "train" / "ptbxl_resnet1d18.toml",
                    ["train.epochs=3", "train.batch_size=32", "train.threads=1", "train.bootstrap=50",
                     "data.train_size=600", 'model.arch="mobilenet1d"'])
    res = train(r, root / "run", log=lambda m: None)
    out = root / "export"
    log: list[str] = []
    report = run_export(res.checkpoint, options_from(None, int8=True, fp16=True, out=str(out), threads=1,
                                                     calib_size=128), log=log.append)
    yield {"root": root, "checkpoint": res.checkpoint, "out": out, "report": report, "log": log,
           "fp32": out / "mobilenet1d.fp32.onnx", "int8": out / "mobilenet1d.int8.onnx",
           "fp16": out / "mobilenet1d.fp16.onnx", "cache": root / "cache"}
    mp.undo()
