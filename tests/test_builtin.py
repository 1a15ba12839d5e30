"""Built-in recipes and export profiles are found by name in any install (the wheel carries them as package
data; CI's wheel check trains and exports by name from a fresh non-editable install)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from ecgedge.builtin import builtin_names, find_builtin
from ecgedge.errors import EcgedgeError

REPO = Path(__file__).resolve().parents[1]


def test_every_top_level_recipe_and_profile_is_a_builtin():
    assert builtin_names("train") == sorted(p.stem for p in (REPO / "train").glob("*.toml"))
    assert builtin_names("export") == sorted(p.stem for p in (REPO / "export").glob("*.toml"))
    assert find_builtin("train", "ptbxl_resnet1d_wang").name == "ptbxl_resnet1d_wang.toml"
    assert find_builtin("export", "cpu-int8.toml").name == "cpu-int8.toml"
    for bad in ("", "../train/ptbxl_resnet1d_wang", "/etc/passwd", ".hidden", "nosuch"):
        assert find_builtin("train", bad) is None


def test_names_resolve_through_the_loaders():
    pytest.importorskip("torch")
    from ecgedge.export.pipeline import load_profile
    from ecgedge.training.recipe import load_recipe

    assert load_recipe("ptbxl_resnet1d_wang").model.arch == "resnet1d_wang"
    assert load_recipe("train/ptbxl_xresnet1d50_10s.toml", ["train.epochs=1"]).train.epochs == 1
    assert load_profile("cpu-int8")["int8"]["enabled"] is True
    with pytest.raises(EcgedgeError, match="ptbxl_resnet1d_wang"):  # the error lists what there is
        load_recipe("ptbxl_nosuch")
    with pytest.raises(EcgedgeError, match="cpu-int8"):
        load_profile("nosuch-profile")


def test_a_built_wheel_carries_them(tmp_path):
    """Build the wheel (no kernel needed for this check) and look inside."""
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                        str(tmp_path), str(REPO)], capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        pytest.skip(f"cannot build a wheel here: {r.stderr.strip()[-200:]}")
    names = zipfile.ZipFile(next(tmp_path.glob("ecgedge-*.whl"))).namelist()
    for kind in ("train", "export"):
        have = {Path(n).stem for n in names if n.startswith(f"ecgedge/_builtin/{kind}/") and n.endswith(".toml")}
        assert have == set(builtin_names(kind)), kind
