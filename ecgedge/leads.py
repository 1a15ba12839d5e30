"""Canonical ECG lead names, so that any record can be mapped onto a model's lead order.

Records spell leads in many ways (``AVR``, ``aVR``, ``avr``, ``V1``, ``v1``, ``MLII``, ``ECG``,
``lead II``). :func:`normalize_lead` maps each to one canonical spelling; names it does not know
are kept (stripped) so that nothing is silently renamed into something it is not.
"""

from __future__ import annotations

from functools import lru_cache

#: The standard 12-lead order used by PTB-XL, CPSC2018 and the CinC challenges.
STANDARD_12 = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")

_CANONICAL = {name.lower(): name for name in STANDARD_12}
_CANONICAL.update(
    {
        # Modified limb / Holter leads (MIT-BIH and friends).
        "mli": "MLI",
        "mlii": "MLII",
        "mliii": "MLIII",
        "ml2": "MLII",
        "v": "V",
        # Frank orthogonal leads (PTB Diagnostic).
        "vx": "X",
        "vy": "Y",
        "vz": "Z",
        "x": "X",
        "y": "Y",
        "z": "Z",
        # Roman numerals written as digits or with a prefix.
        "1": "I",
        "2": "II",
        "3": "III",
        "lead1": "I",
        "lead2": "II",
        "lead3": "III",
        "leadi": "I",
        "leadii": "II",
        "leadiii": "III",
        "avr": "aVR",
        "avl": "aVL",
        "avf": "aVF",
        "-avr": "-aVR",
        "ecg": "ECG",
    }
)
# Right-sided and posterior chest leads.
for _i in range(1, 10):
    _CANONICAL[f"v{_i}"] = f"V{_i}"
    _CANONICAL[f"v{_i}r"] = f"V{_i}R"


@lru_cache(maxsize=1024)
def normalize_lead(name: str) -> str:
    """Return the canonical spelling of a lead name (``'AVR'`` -> ``'aVR'``, ``'v1'`` -> ``'V1'``)."""
    raw = name.strip()
    key = raw.lower().replace(" ", "").replace("_", "").replace("lead-", "lead")
    if key.startswith("ecg") and key[3:] in _CANONICAL and key[3:] not in ("", "ecg"):
        # "ECG II", "ECG V1" as some devices write them; plain "ECG 1" stays a channel number.
        if not key[3:].isdigit():
            key = key[3:]
    return _CANONICAL.get(key, raw)


def normalize_leads(names: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Normalise every name of a record's leads."""
    return tuple(normalize_lead(n) for n in names)
