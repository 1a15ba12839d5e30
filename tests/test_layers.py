"""The layering the architecture promises, read from the source: what runs a model (``ecgedge/runtime``) never
imports what builds one (``ecgedge/export``) or trains one (``ecgedge/training``), not even inside a function."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "ecgedge"
RUNTIME_MUST_NOT_IMPORT = ("ecgedge.export", "ecgedge.training")


def _imports(path: Path, root: Path) -> list[tuple[int, str]]:
    """``(line, absolute module)`` of every import in a module at any depth, relative ones resolved
    (``from .. import training`` names ``ecgedge.training``)."""
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    package = parts[:-1]  # a module's package; an __init__'s own package is its folder
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            if node.module is None:
                out += [(node.lineno, f"{target}.{a.name}") for a in node.names]
            else:
                out.append((node.lineno, target))
    return out


def _violations(root: Path, folder: str, forbidden: tuple[str, ...]) -> list[str]:
    bad = []
    for path in sorted((root / folder).rglob("*.py")):
        for line, name in _imports(path, root):
            if any(name == f or name.startswith(f + ".") for f in forbidden):
                bad.append(f"{path.relative_to(root.parent)}:{line}: imports {name}")
    return bad


def test_runtime_imports_neither_export_nor_training():
    assert _violations(PACKAGE, "runtime", RUNTIME_MUST_NOT_IMPORT) == []


def test_the_check_sees_every_form_of_import(tmp_path):
    """A check that cannot fail proves nothing: relative, absolute, nested and package-level imports are seen."""
    pkg = tmp_path / "ecgedge"
    (pkg / "runtime" / "sub").mkdir(parents=True)
    (pkg / "runtime" / "bad.py").write_text("def f():\n    from ..export.pt2 import PT2Engine\n"
                                            "    from .. import training\n    import ecgedge.export.tensorrt\n"
                                            "    from . import engines\n")
    (pkg / "runtime" / "sub" / "__init__.py").write_text("from ...training.models import build_model\n")
    found = [f.split(": imports ")[1] for f in _violations(pkg, "runtime", RUNTIME_MUST_NOT_IMPORT)]
    assert found == ["ecgedge.export.pt2", "ecgedge.training", "ecgedge.export.tensorrt",
                     "ecgedge.training.models"], found
