"""A description of the machine a measurement came from, for benchmark result files."""

from __future__ import annotations

import os
import platform
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
