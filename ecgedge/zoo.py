"""Models shipped inside the package, with their cards (see ``ecgedge/models/*.card.json``)."""

from __future__ import annotations

import json
from pathlib import Path

from .errors import EcgedgeError

MODELS_DIR = Path(__file__).resolve().parent / "models"
DEFAULT = "ptbxl-superdiagnostic"


def shipped() -> dict[str, dict]:
    """Name -> card of every shipped model."""
    out = {}
    for card in sorted(MODELS_DIR.glob("*.card.json")):
        d = json.loads(card.read_text())
        d["path"] = str(MODELS_DIR / d["file"])
        out[card.name.removesuffix(".card.json")] = d
    return out


#: Former names of shipped models that still work: the AF-vs-rest model became the four-class rhythm model
#: (N, A, O, ~), whose A column is the AF probability.
ALIASES = {"physionet2017-af": "physionet2017-rhythm"}


def model_path(name: str) -> str:
    models = shipped()
    if name not in models and ALIASES.get(name) in models:
        name = ALIASES[name]
    if name not in models:
        raise EcgedgeError(f"no shipped model {name!r}", where="--model",
                           fix="shipped models: " + (", ".join(models) or "none in this installation"))
    path = models[name]["path"]
    if not Path(path).exists():
        raise EcgedgeError("the shipped model file is missing from this installation", path=path,
                           fix="reinstall ecgedge")
    return path


def default_model() -> str:
    return model_path(DEFAULT)


def resolve(model: str | None) -> str:
    """A --model value: a file path, or the name of a shipped model; None: the default."""
    if model is None:
        return default_model()
    if Path(model).exists() or any(sep in model for sep in ("/", "\\")) or "." in Path(model).name:
        return model
    return model_path(model)
