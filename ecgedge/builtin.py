"""Where the built-in recipes (``train/``) and export profiles (``export/``) are, in any install.

The project keeps them as top-level folders of the source tree; a built wheel carries copies inside the
package (``ecgedge/_builtin/train``, ``ecgedge/_builtin/export``, made by ``setup.py``'s build step), so
that ``ecgedge train ptbxl_resnet1d_wang`` and ``ecgedge export CKPT --profile cpu-int8`` work from a
plain ``pip install``, not only from a clone. The package's copy wins; a source checkout (an editable
install, or running from the tree) falls back to the top-level folder.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

KINDS = {"train": "recipe", "export": "export profile"}


def builtin_dir(kind: str) -> Path | None:
    """The folder of built-in ``kind`` files (``"train"`` or ``"export"``), or None if this install has none."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind of built-in file {kind!r}")
    packaged = Path(str(resources.files("ecgedge") / "_builtin" / kind))
    if packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parents[1] / kind
    return checkout if checkout.is_dir() and any(checkout.glob("*.toml")) else None


def builtin_names(kind: str) -> list[str]:
    d = builtin_dir(kind)
    return sorted(p.stem for p in d.glob("*.toml")) if d else []


def find_builtin(kind: str, name: str) -> Path | None:
    """``NAME`` or ``NAME.toml`` among the built-in files of ``kind``."""
    d = builtin_dir(kind)
    if d is None or not name or "/" in name or "\\" in name or name.startswith("."):
        return None
    for cand in (d / name, d / f"{name}.toml"):
        if cand.suffix == ".toml" and cand.is_file():
            return cand
    return None
