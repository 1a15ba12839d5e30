"""A description of the machine a measurement came from, for benchmark result files."""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import subprocess
import sys


def describe() -> dict:
    info = {
        "hostname": platform.node(),
        "system": platform.system(),
        "machine": platform.machine(),
        "python": sys.version.split()[0],
        "cpu_model": None,
        "cores": os.cpu_count(),
        "isa": [],
    }
    try:
        with open("/proc/cpuinfo") as fh:
            text = fh.read()
        for line in text.splitlines():
            if line.startswith(("model name", "Model")) and not info["cpu_model"]:
                info["cpu_model"] = line.split(":", 1)[1].strip()
            if line.startswith(("flags", "Features")):
                flags = set(line.split(":", 1)[1].split())
                wanted = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8", "neon", "asimd", "asimddp")
                info["isa"] = [f for f in wanted if f in flags]
                break
    except OSError:
        pass
    try:
        with open("/proc/meminfo") as fh:
            kb = int(fh.readline().split()[1])
        info["memory_gib"] = round(kb / 2**20, 1)
    except (OSError, ValueError, IndexError):
        pass
    versions = {}
    for mod in ("numpy", "onnxruntime", "wfdb", "scipy", "torch"):
        m = sys.modules.get(mod)
        if m is not None:
            versions[mod] = getattr(m, "__version__", "?")
    info["versions"] = versions
    return info


def report() -> dict:
    """:func:`describe`, with what the reader of a benchmark needs besides: installed library versions (from their
    metadata, imported or not), onnxruntime's providers, the GPUs and their driver (nvidia-smi), the platform."""
    from importlib import metadata

    info = describe()
    versions = {}
    for dist in ("ecgedge", "numpy", "onnxruntime", "onnxruntime-gpu", "tensorrt", "torch", "onnx"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[dist] = metadata.version(dist)
    info["versions"] = versions
    with contextlib.suppress(ImportError):
        import onnxruntime as ort

        info["onnxruntime_providers"] = ort.get_available_providers()
    info["gpus"] = []
    smi = shutil.which("nvidia-smi")
    if smi:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            r = subprocess.run([smi, "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                               capture_output=True, text=True, timeout=20)
            for line in r.stdout.strip().splitlines():
                name, driver, mem = (s.strip() for s in line.split(","))
                info["gpus"].append({"name": name, "driver": driver, "memory": mem})
    info["platform"] = platform.platform()
    return info
