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


# ------------------------------------------------------------------------------------------------
# Which lead a single-lead model reads
# ------------------------------------------------------------------------------------------------

#: Leads a single-lead model reads in place of its own, in this order: lead I first (a hand-held device's "ECG"
#: is lead I-like), then lead II and Holter's modified lead II (MIT-BIH's MLII), then the other limb leads.
STAND_INS = ("I", "II", "MLII", "MLI", "III", "MLIII", "aVL", "aVF", "aVR")


def check_lead_option(needed: tuple[str, ...] | list[str], chosen: str | None) -> None:
    """``--lead`` picks the lead of a single-lead model; for a model of several leads it is a mistake."""
    if chosen is not None and len(needed) != 1:
        from .errors import OptionError

        raise OptionError(f"chooses the lead of a single-lead model; this model reads {len(needed)} leads "
                          f"({', '.join(needed)}), each by name", where="--lead", fix="leave --lead out")


def single_lead_source(have: tuple[str, ...] | list[str], needed: tuple[str, ...] | list[str],
                       chosen: str | None = None, *, path: str | None = None) -> tuple[int, str | None] | None:
    """Which of a record's (or stream's) leads ``have`` a single-lead model reads: ``(index, warning)``, the
    warning naming the lead used and the one the model expects (None when they are the same lead).

    The rule: ``chosen`` (``--lead NAME``) when given; else the model's own lead; else the record's only lead,
    whatever its name; else the first of :data:`STAND_INS` the record has (lead I of a 12-lead record, MLII of
    MIT-BIH). None when the model reads several leads, or when the record has none of these. A ``chosen`` lead
    the record lacks raises :class:`~ecgedge.errors.OptionError`, listing the record's leads."""
    check_lead_option(needed, chosen)
    if len(needed) != 1:
        return None
    expected = normalize_lead(needed[0])
    names = [normalize_lead(h) for h in have]

    def use(i: int, why: str) -> tuple[int, str | None]:
        return i, None if names[i] == expected else (
            f"single-lead model expects lead {expected}; reading lead {names[i]} instead ({why})")

    if chosen is not None:
        want = normalize_lead(chosen)
        if want not in names:
            from .errors import OptionError

            raise OptionError(f"no lead {chosen!r} here; the leads are {', '.join(names) or 'none'}", path=path,
                              where="--lead", fix="choose one of them, or leave --lead out")
        return use(names.index(want), f"--lead {chosen}")
    if expected in names:
        return names.index(expected), None
    if len(names) == 1:
        return use(0, "the only lead")
    for lead in STAND_INS:
        if lead in names:
            return use(names.index(lead), f"a limb lead, of {len(names)}; --lead NAME picks another")
    return None
