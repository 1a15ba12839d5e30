"""SNOMED-CT diagnosis codes of the CinC 2020/2021 challenges, mapped to named classes.

Only codes whose meaning is certain are named (the challenges' scored classes and the CPSC2018
classes); any other code keeps its number as its class name (``SNOMED 253352002``) rather than a
guessed label.
"""

from __future__ import annotations

#: code -> (abbreviation, description)
SNOMED_CLASSES: dict[str, tuple[str, str]] = {
    "164889003": ("AF", "atrial fibrillation"),
    "164890007": ("AFL", "atrial flutter"),
    "6374002": ("BBB", "bundle branch block"),
    "426627000": ("Brady", "bradycardia"),
    "733534002": ("CLBBB", "complete left bundle branch block"),
    "713427006": ("CRBBB", "complete right bundle branch block"),
    "270492004": ("IAVB", "1st degree AV block"),
    "713426002": ("IRBBB", "incomplete right bundle branch block"),
    "39732003": ("LAD", "left axis deviation"),
    "445118002": ("LAnFB", "left anterior fascicular block"),
    "164909002": ("LBBB", "left bundle branch block"),
    "251146004": ("LQRSV", "low QRS voltages"),
    "698252002": ("NSIVCB", "nonspecific intraventricular conduction disorder"),
    "10370003": ("PR", "pacing rhythm"),
    "284470004": ("PAC", "premature atrial contraction"),
    "427172004": ("PVC", "premature ventricular contractions"),
    "164947007": ("LPR", "prolonged PR interval"),
    "111975006": ("LQT", "prolonged QT interval"),
    "164917005": ("QAb", "Q wave abnormal"),
    "47665007": ("RAD", "right axis deviation"),
    "59118001": ("RBBB", "right bundle branch block"),
    "427393009": ("SA", "sinus arrhythmia"),
    "426177001": ("SB", "sinus bradycardia"),
    "426783006": ("NSR", "sinus rhythm"),
    "427084000": ("STach", "sinus tachycardia"),
    "63593006": ("SVPB", "supraventricular premature beats"),
    "164934002": ("TAb", "T wave abnormal"),
    "59931005": ("TInv", "T wave inversion"),
    "17338001": ("VPB", "ventricular premature beats"),
    "164884008": ("VEB", "ventricular ectopic beats"),
    "429622005": ("STD", "ST depression"),
    "164931005": ("STE", "ST elevation"),
}

#: The nine CPSC2018 classes, in the challenge's order (REFERENCE.csv numbers 1-9).
CPSC_CLASSES = ("Normal", "AF", "I-AVB", "LBBB", "RBBB", "PAC", "PVC", "STD", "STE")

#: SNOMED code -> CPSC2018 class. The CinC 2021 scoring treats CRBBB/RBBB, PAC/SVPB and PVC/VPB as
#: one class; complete LBBB is LBBB; CPSC2018's own PVC records carry 164884008 in CinC 2020/21.
SNOMED_TO_CPSC: dict[str, str] = {
    "426783006": "Normal",
    "164889003": "AF",
    "270492004": "I-AVB",
    "164909002": "LBBB",
    "733534002": "LBBB",
    "59118001": "RBBB",
    "713427006": "RBBB",
    "284470004": "PAC",
    "63593006": "PAC",
    "427172004": "PVC",
    "17338001": "PVC",
    "164884008": "PVC",
    "429622005": "STD",
    "164931005": "STE",
}


def snomed_name(code: str) -> str:
    """The class name of a code: its abbreviation when known, else ``SNOMED <code>``."""
    known = SNOMED_CLASSES.get(code)
    return known[0] if known else f"SNOMED {code}"
