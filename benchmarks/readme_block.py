"""The README's generated tables live between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->``; the
benchmark scripts rewrite them through this one function (atomically)."""

from __future__ import annotations

from pathlib import Path

from ecgedge.atomic import atomic_write_text

README = Path(__file__).resolve().parents[1] / "README.md"


def replace_block(name: str, body: str) -> bool:
    """Put ``body`` between the markers ``name``; False (README untouched) when they are missing."""
    text = README.read_text()
    a, b = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    if a not in text or b not in text:
        return False
    new = text[: text.index(a) + len(a)] + "\n" + body.strip("\n") + "\n" + text[text.index(b):]
    if new != text:
        atomic_write_text(README, new)
    return True
