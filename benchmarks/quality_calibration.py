"""Calibration of the signal-quality gate (:mod:`ecgedge.quality`) on the shared real records.

``python benchmarks/quality_calibration.py`` measures, with the limits the runtime ships:

(a) the false-flag rate on the shared records taken as clean: PTB-XL ``records100`` and ``records500``, CinC
    2021 and PhysioNet-2017's N/A/O classes (for PTB-XL also split by its own noise annotations);
(b) how well the gate's continuous score separates PhysioNet-2017's ``~`` (noise) class from the rest (AUROC),
    and the verdict's confusion matrix against ``~`` vs rest;
(c) detection of faults injected into one lead of real records that the gate passes clean: a flat lead, a
    lead off (flat at 0 or at the rail from some point on), clipping, white noise, motion artefact (large
    slow excursions), 50 and 60 Hz hum, NaN gaps; each at a headline severity and swept over severities.

Results go to ``benchmarks/results/quality-calibration.json`` (with the machine they were measured on) and a
markdown table is printed for the README. Seeded: the same data give the same numbers.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ecgedge import quality as Q  # noqa: E402
from ecgedge.datasets import data_root  # noqa: E402
from ecgedge.dsp.pipeline import unit_scale  # noqa: E402
from ecgedge.io import read_record  # noqa: E402

#: fault -> (headline severity, the sweep); severities are explained in inject()
FAULTS = {
    "flat": (1.0, [1.0]),
    "lead_off_zero": (1.0, [1.0]),
    "lead_off_rail": (1.0, [1.0]),
    "clipping": (0.5, [0.8, 0.65, 0.5, 0.35]),
    "white_noise": (0.0, [12.0, 6.0, 0.0, -6.0]),
    "motion": (2.0, [0.5, 1.0, 2.0, 4.0]),
    "hum50": (0.2, [0.05, 0.1, 0.2, 0.5]),
    "hum60": (0.2, [0.05, 0.1, 0.2, 0.5]),
    "nan_gap": (0.5, [0.05, 0.2, 0.5, 2.0]),
}


def load(root: Path, limit: int | None = None) -> dict[str, list[tuple[str, np.ndarray, float, tuple[str, ...], str]]]:
    """The clean sets, and PhysioNet-2017's ``~``: ``set -> [(name, data in mV, fs, leads, label)]``."""
    ptbxl = root / "ptb-xl"
    notes = {}
    with open(ptbxl / "ptbxl_database.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            noisy = [k for k in ("baseline_drift", "static_noise", "burst_noise", "electrodes_problems") if row[k]]
            notes[int(row["ecg_id"])] = ",".join(noisy)
    ref_csv = root / "physionet2017" / "training2017" / "REFERENCE.csv"
    ref = dict(csv.reader(open(ref_csv))) if ref_csv.exists() else {}
    sets = {
        "ptbxl100": sorted((ptbxl / "records100").rglob("*.hea")),
        "ptbxl500": sorted((ptbxl / "records500").rglob("*.hea")),
        "cinc2021": sorted((root / "cinc2021").glob("*.hea")),
        "physionet2017": sorted((root / "physionet2017" / "training2017").glob("*.hea")),
    }
    out: dict[str, list] = {}
    for key, files in sets.items():
        rows = []
        for f in files[:limit]:
            sig = read_record(f)
            scale = np.array([unit_scale(u) or 1.0 for u in sig.units], np.float32)[:, None]
            data = (sig.data * scale).astype(np.float32)
            if key.startswith("ptbxl"):
                label = notes.get(int(f.stem.split("_")[0]), "")
            elif key == "physionet2017":
                label = ref.get(f.stem, "?")
            else:
                label = ""
            rows.append((f.stem, data, float(sig.fs), sig.leads, label))
        out[key] = rows
    return out


# ------------------------------------------------------------------------------------------------
# Fault injection
# ------------------------------------------------------------------------------------------------


def _lowpass_noise(n: int, fs: float, lo: float, hi: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise band-limited to [lo, hi] Hz (FFT masking), unit peak."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / fs)
    spec[(f < lo) | (f > hi)] = 0
    y = np.fft.irfft(spec, n)
    return y / max(np.abs(y).max(), 1e-12)


def inject(x: np.ndarray, fs: float, lead: int, fault: str, severity: float, rng: np.random.Generator) -> np.ndarray:
    """A copy of ``x`` (``[leads, samples]``, mV) with ``fault`` in lead ``lead``:

    - ``flat``: the lead constant at its median for the whole record;
    - ``lead_off_zero`` / ``lead_off_rail``: from a random time in the first half on, the lead is 0 mV, or at the
      rail of a 16-bit converter at 200 units/mV (+-163.8 mV, the lowest common gain; the sign at random);
    - ``clipping``: the lead clipped at ``severity`` x its largest excursion from the median, both sides;
    - ``white_noise``: Gaussian noise at an SNR of ``severity`` dB against the lead's variance;
    - ``motion``: noise band-limited to 0.1-2 Hz whose peak is ``severity`` x the lead's peak-to-peak range, plus
      two steps of that size (electrode pops);
    - ``hum50`` / ``hum60``: a sinusoid of ``severity`` mV peak at 50/60 Hz (+-0.1 Hz, random phase);
    - ``nan_gap``: a gap of ``severity`` s of NaN at a random place.
    """
    y = x.copy()
    v = y[lead].astype(np.float64)
    n = v.size
    t = np.arange(n) / fs
    if fault == "flat":
        v[:] = np.median(v)
    elif fault in ("lead_off_zero", "lead_off_rail"):
        t0 = int(rng.uniform(0, 0.5) * n)
        v[t0:] = 0.0 if fault == "lead_off_zero" else rng.choice([-1, 1]) * 32767 / 200
    elif fault == "clipping":
        med = np.median(v)
        c = severity * np.abs(v - med).max()
        v = np.clip(v, med - c, med + c)
    elif fault == "white_noise":
        v = v + rng.standard_normal(n) * np.sqrt(v.var() / 10 ** (severity / 10))
    elif fault == "motion":
        amp = severity * (v.max() - v.min())
        art = _lowpass_noise(n, fs, 0.1, 2.0, rng) * amp
        for _ in range(2):
            art[int(rng.uniform(0.1, 0.9) * n):] += rng.choice([-1, 1]) * amp
        v = v + art
    elif fault in ("hum50", "hum60"):
        f = (50.0 if fault == "hum50" else 60.0) + rng.uniform(-0.1, 0.1)
        v = v + severity * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
    elif fault == "nan_gap":
        g = max(1, int(severity * fs))
        a = int(rng.uniform(0, max(n - g, 1)))
        v[a:a + g] = np.nan
    else:
        raise ValueError(fault)
    y[lead] = v.astype(np.float32)
    return y


# ------------------------------------------------------------------------------------------------
# Metrics
# ------------------------------------------------------------------------------------------------


def auroc(score: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney, ties counted half)."""
    score = np.asarray(score, np.float64)
    positive = np.asarray(positive, bool)
    order = np.argsort(score, kind="mergesort")
    ranks = np.empty(len(score))
    s = score[order]
    i = 0
    while i < len(s):  # average ranks over ties
        j = i
        while j + 1 < len(s) and s[j + 1] == s[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    n1, n0 = positive.sum(), (~positive).sum()
    return float((ranks[positive].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def _reason_kinds(q: Q.Quality) -> list[str]:
    kinds = [k for faults in q.faults.values() for k in faults]
    if any(r.startswith("no QRS") for r in q.reasons):
        kinds.append("no_rhythm")
    return kinds


def clean_rates(sets: dict, limits: Q.Limits) -> tuple[dict, dict]:
    """False flags on the clean sets (PhysioNet-2017 N/A/O only) and the PhysioNet-2017 ~ separation."""
    rates, times = {}, {}
    pn_scores, pn_noise, pn_poor = [], [], []
    for key, rows in sets.items():
        groups: dict[str, list] = {}
        t0 = time.thread_time()  # CPU time: the machine may be shared, wall time would measure the others too
        for name, data, fs, leads, label in rows:
            q = Q.assess(data, fs, leads, limits=limits)
            if key == "physionet2017":
                pn_scores.append(q.score)
                pn_noise.append(label == "~")
                pn_poor.append(not q.ok)
                if label == "~":
                    continue
                group = "physionet2017 N/A/O"
            else:
                group = key
            groups.setdefault(group, []).append((name, q, label))
        times[key] = (time.thread_time() - t0) / max(len(rows), 1) * 1e3
        for group, items in groups.items():
            poor = [(n, q, lab) for n, q, lab in items if not q.ok]
            entry = {"records": len(items), "flagged": len(poor), "rate": len(poor) / len(items),
                     "reasons": dict(Counter(k for _, q, _ in poor for k in set(_reason_kinds(q))).most_common()),
                     "examples": {n: list(q.reasons) for n, q, _ in poor[:8]}}
            if group.startswith("ptbxl"):
                quiet = [(n, q) for n, q, lab in items if not lab]
                entry["without_noise_annotation"] = {"records": len(quiet),
                                                     "flagged": sum(not q.ok for _, q in quiet)}
                entry["without_noise_annotation"]["rate"] = (entry["without_noise_annotation"]["flagged"]
                                                             / max(len(quiet), 1))
            rates[group] = entry
    total = sum(e["records"] for e in rates.values())
    rates["pooled"] = {"records": total, "flagged": sum(e["flagged"] for e in rates.values()),
                       "sets": [g for g in rates]}
    rates["pooled"]["rate"] = rates["pooled"]["flagged"] / max(total, 1)
    y = np.array(pn_noise)
    poor = np.array(pn_poor)
    sep = {"records": len(y), "noise": int(y.sum()), "auroc": auroc(np.array(pn_scores), y),
           "confusion": {"noise_poor": int((y & poor).sum()), "noise_ok": int((y & ~poor).sum()),
                         "rest_poor": int((~y & poor).sum()), "rest_ok": int((~y & ~poor).sum())}}
    sep["sensitivity"] = sep["confusion"]["noise_poor"] / max(sep["noise"], 1)
    sep["specificity"] = sep["confusion"]["rest_ok"] / max(len(y) - sep["noise"], 1)
    return rates, {"physionet2017_noise": sep, "cpu_ms_per_record": times}


def fault_rates(sets: dict, limits: Q.Limits, per_set: int, seed: int = 0) -> dict:
    """Detection of each injected fault (one random lead of records the gate passes clean), at each severity.

    ``caught``: the verdict is poor; ``named``: a reason names the faulty lead (or, single-lead, says no QRS)."""
    rng = np.random.default_rng(seed)
    hosts = []
    for key, rows in sets.items():
        ok = [r for r in rows if (key != "physionet2017" or r[4] == "N") and Q.assess(r[1], r[2], r[3],
                                                                                        limits=limits).ok]
        pick = rng.choice(len(ok), size=min(per_set, len(ok)), replace=False) if ok else []
        hosts += [(key, ok[i]) for i in sorted(pick)]
    out: dict = {}
    for fault, (headline, sweep) in FAULTS.items():
        out[fault] = {"headline_severity": headline, "by_severity": {}}
        for sev in sweep:
            per: dict[str, list[int]] = {}
            for key, (_name, data, fs, leads, _) in hosts:
                lead = int(rng.integers(len(leads)))
                q = Q.assess(inject(data, fs, lead, fault, sev, rng), fs, leads, limits=limits)
                named = leads[lead] in q.faults or (len(leads) == 1 and not q.ok)
                per.setdefault(key, []).append((not q.ok, named))
            allv = [v for vs in per.values() for v in vs]
            out[fault]["by_severity"][str(sev)] = {
                "records": len(allv), "caught": float(np.mean([c for c, _ in allv])),
                "named": float(np.mean([m for _, m in allv])),
                "by_set": {k: float(np.mean([c for c, _ in vs])) for k, vs in per.items()}}
        out[fault]["caught"] = out[fault]["by_severity"][str(headline)]["caught"]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=None, help="the shared data folder (default: ECGEDGE_DATA or ../shared/data)")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "quality-calibration.json"))
    ap.add_argument("--faults-per-set", type=int, default=100, help="host records per data set for the faults")
    ap.add_argument("--limit", type=int, default=None, help="at most this many records per set (a quick look)")
    args = ap.parse_args(argv)
    root = Path(args.data) if args.data else data_root()
    t0 = time.perf_counter()
    sets = load(root, args.limit)
    print(f"loaded {sum(len(v) for v in sets.values())} records in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    limits = Q.LIMITS
    busy = os.getloadavg()[0]  # the CPU times below are of a shared machine: say how busy it was
    rates, sep = clean_rates(sets, limits)
    sep["cpu_load"] = {"cores": os.cpu_count(), "load_average_1min": [round(busy, 2), round(os.getloadavg()[0], 2)],
                       "note": "cpu_ms_per_record: thread CPU time of quality.assess per record (native kernel), "
                               "load average before and after"}
    faults = fault_rates(sets, limits, args.faults_per_set)
    from ecgedge.machine import describe

    result = {"when": time.strftime("%Y-%m-%d"), "machine": describe(), "limits": limits.__dict__,
              "clean": rates, **sep, "faults": faults,
              "protocol": "clean: every shared record of the set, verdict with the shipped limits; faults: "
                          f"{args.faults_per_set} records per set that pass clean (PhysioNet-2017: class N), one "
                          "random lead each, seed 0; caught = verdict poor"}
    if args.limit is None:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {os.path.relpath(args.out)}", file=sys.stderr)
    print(markdown(result))
    return 0


def markdown(r: dict) -> str:
    lines = ["| records taken as clean | n | flagged poor |", "|---|---|---|"]
    for group, e in r["clean"].items():
        extra = ""
        if "without_noise_annotation" in e:
            w = e["without_noise_annotation"]
            extra = f" (without PTB-XL noise annotations: {w['rate']:.1%} of {w['records']})"
        lines.append(f"| {group} | {e['records']} | {e['rate']:.1%}{extra} |")
    s = r["physionet2017_noise"]
    c = s["confusion"]
    lines += ["", f"PhysioNet-2017 `~` vs rest ({s['records']} records, {s['noise']} `~`): score AUROC "
                  f"**{s['auroc']:.3f}**; verdict poor on {c['noise_poor']} of {s['noise']} `~` "
                  f"(sensitivity {s['sensitivity']:.1%}) and on {c['rest_poor']} of {s['records'] - s['noise']} "
                  f"others (specificity {s['specificity']:.1%}).", "",
              "| injected fault (one lead) | headline severity | caught (lead named) | sweep (severity: caught) |",
              "|---|---|---|---|"]
    for fault, e in r["faults"].items():
        sweep = ", ".join(f"{k}: {v['caught']:.0%}" for k, v in e["by_severity"].items())
        named = e["by_severity"][str(e["headline_severity"])]["named"]
        lines.append(f"| {fault} | {e['headline_severity']} | {e['caught']:.1%} ({named:.1%}) | {sweep} |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
