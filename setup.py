"""Build of the native preprocessing kernel (ecgedge._kernel). Everything else is in pyproject.toml.

The kernel is optional at build time: if no C compiler is available the package still installs,
and ecgedge says loudly, once, that it runs on the slower numpy/scipy reference.
"""

import os
import shutil
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
#: top-level folders of the project that a built package carries as ecgedge/_builtin/<folder>/
BUILTIN = ("train", "export")


class BuildPyWithBuiltins(build_py):
    """Copy the recipes (train/) and export profiles (export/) into the package being built, so that built-in
    names work from a wheel install (ecgedge.builtin reads them with importlib.resources)."""

    def run(self):
        super().run()
        for kind in BUILTIN:
            dest = Path(self.build_lib) / "ecgedge" / "_builtin" / kind
            dest.mkdir(parents=True, exist_ok=True)
            for f in sorted((HERE / kind).glob("*.toml")) + sorted((HERE / kind).glob("README.md")):
                shutil.copyfile(f, dest / f.name)

CFLAGS = [] if sys.platform == "win32" else ["-O3", "-std=gnu99", "-fno-math-errno", "-ffp-contract=fast", "-Wall",
                                            "-Wno-unused-function"]
if os.environ.get("ECGEDGE_SANITIZE"):
    # AddressSanitizer + UndefinedBehaviorSanitizer build for the sanitizer test job.
    CFLAGS += ["-O1", "-g", "-fno-omit-frame-pointer", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
               "-DEE_NO_CLONES"]
LDFLAGS = ["-fsanitize=address,undefined"] if os.environ.get("ECGEDGE_SANITIZE") else []
if sys.platform != "win32":
    LDFLAGS.append("-lpthread")


class OptionalBuildExt(build_ext):
    def run(self):
        try:
            super().run()
        except Exception as exc:  # noqa: BLE001 - any build failure: install without the kernel
            self._warn(exc)

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:  # noqa: BLE001
            if os.environ.get("ECGEDGE_REQUIRE_KERNEL"):
                raise
            self._warn(exc)

    @staticmethod
    def _warn(exc):
        print(f"WARNING: ecgedge's native kernel was not built ({exc}); the numpy/scipy reference will be used",
              file=sys.stderr)


setup(
    ext_modules=[
        Extension(
            "ecgedge._kernel",
            sources=["native/_kernel.c", "native/ecgedge_dsp.c", "native/ecgedge_quality.c", "native/ecgedge_wfdb.c"],
            include_dirs=["native"],
            depends=["native/ecgedge_dsp.h", "native/ecgedge_quality.h", "native/ecgedge_wfdb.h"],
            extra_compile_args=CFLAGS,
            extra_link_args=LDFLAGS,
        )
    ],
    cmdclass={"build_ext": OptionalBuildExt, "build_py": BuildPyWithBuiltins},
)
