"""Transfer against scratch on a small imbalanced target: PhysioNet/CinC 2017, single lead, 6,000 records.

``python benchmarks/transfer_curve.py --init runs/…/model.safetensors`` trains, for each training-set size
(``--sizes``, 0 = the whole training split: 3,600 records) and each 5-fold cross-validation fold (``--folds``),
each arm (``--kinds``) of the task (``--task``):

- ``scratch``: the task's scratch recipe;
- ``finetune``: the transfer recipe from the PTB-XL checkpoint, every layer trained with the scratch recipe's
  schedule and learning rate;
- ``gradual``: the same start, one layer group unfrozen per epoch from the head down, discriminative rates
  (each group half the rate of the one above it) and a third of the rate;
- ``linear``: the same start, the head alone trained (a linear probe on the pretrained features; BatchNorm
  statistics still follow the new data).

Tasks: ``rhythm`` (the challenge's four classes N, A, O, ~: train/physionet2017_rhythm*.toml; scored by test
macro AUROC, the challenge's F1 and AF-vs-rest AUROC of the A column) and ``af`` (AF vs rest:
train/physionet2017_af_*.toml, whose transfer recipe starts from a resnet1d_wang checkpoint).

Every run selects its epoch on its own validation folds; its test folds are evaluated once. The table (mean
+- sd over the folds run, and each transfer arm minus scratch on the same folds, with wins) is rebuilt from
every run found under ``--out`` and written to ``benchmarks/results/transfer-physionet2017-{task}.json``. That
file is also the record: a cell it holds whose run folder is gone (another machine, a cleaned tree) keeps its
scores in the table and is not trained again (``--rerun`` trains it); ``recorded_folds`` lists such folds.

The curve's protocol, the same for every arm and size (``PROTOCOL``): an epoch draws at least 640 training
windows (10 optimizer steps; one pass over 100 records would be 2, too few for either arm to learn), and
evaluation windows do not overlap (10-s hop: half the evaluation cost of the recipes' 5-s hop).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from readme_block import replace_block

REPO = Path(__file__).resolve().parents[1]
PROTOCOL = ["train.min_samples_per_epoch=640", "preprocessing.stride=10.0"]
TASKS = {
    "rhythm": {
        "scratch": ("physionet2017_rhythm.toml", []),
        "finetune": ("physionet2017_rhythm_transfer.toml", ['transfer.mode="finetune"']),
        "gradual": ("physionet2017_rhythm_transfer.toml", ['transfer.mode="gradual"', "transfer.discriminative_lr=0.5",
                                                           "train.lr=0.001"]),
        "linear": ("physionet2017_rhythm_transfer.toml", ['transfer.mode="linear"']),
    },
    "af": {
        "scratch": ("physionet2017_af_scratch.toml", []),
        "transfer": ("physionet2017_af_transfer.toml", ['transfer.lead_adapt="mean"']),
        "transfer-first": ("physionet2017_af_transfer.toml", ['transfer.lead_adapt="first"']),
    },
}
KINDS = TASKS["af"]  # the former name: the AF task's arms
#: what each run is scored by, from its metrics.json test report
SCORES = {
    "macro_auroc": lambda t: t["macro_auroc"],
    "challenge_f1": lambda t: t.get("challenge_f1"),
    "af_auroc": lambda t: (t.get("per_class", {}).get("A") or {}).get("auroc"),
}


def run_dir(out_root: Path, kind: str, size: int | str, fold: int) -> Path:
    """One run's folder: ``{kind}-n{size}-cv{fold}`` (size 0 or "all": the whole training split)."""
    return out_root / f"{kind}-n{size or 'all'}-cv{fold}"


def run_one(task: str, kind: str, size: int, fold: int, init: str, init_sha256: str, out_root: Path,
            extra: list[str]) -> None:
    out = run_dir(out_root, kind, size, fold)
    if (out / "metrics.json").exists():
        return
    out.mkdir(parents=True, exist_ok=True)
    if kind != "scratch":  # which pretrained weights this run started from, whatever the path names later
        (out / "init_sha256.txt").write_text(init_sha256 + "\n")
    recipe, sets = TASKS[task][kind]
    cmd = [sys.executable, "-m", "ecgedge", "train", str(REPO / "train" / recipe), "--out", str(out),
           "--set", 'data.split="cv5"', "--set", f"data.cv_fold={fold}", "--set", f"data.train_size={size}",
           "--set", "train.bootstrap=0"]
    for s in PROTOCOL + sets + extra:
        cmd += ["--set", s]
    if kind != "scratch":
        cmd += ["--init", init]
    if (out / "train_state.safetensors").exists():
        cmd += ["--resume"]  # a run cut short (the session ended) goes on from its last epoch
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    out.mkdir(parents=True, exist_ok=True)
    (out / "train.log").write_text(r.stdout + r.stderr)
    (out / "wall_seconds.txt").write_text(f"{time.perf_counter() - t0:.1f}\n")
    print(f"{out.name}: {'FAILED' if r.returncode else 'done'} in {time.perf_counter() - t0:.0f} s", flush=True)


def recorded(task: str) -> dict:
    """The cells of the task's results file as last written (empty if none): runs whose folders are gone
    (another machine, a cleaned tree) stay in the table and are not trained again."""
    f = results_path(task)
    if not f.exists():
        return {}
    try:
        return json.loads(f.read_text()).get("results", {})
    except (OSError, ValueError) as e:
        raise SystemExit(f"{f}: not a readable results file ({e}); "
                         "move it aside to rebuild the table from the runs") from None


def results_path(task: str) -> Path:
    return REPO / "benchmarks" / "results" / f"transfer-physionet2017-{task}.json"


def _merge(runs: dict, old: dict) -> None:
    """Add to ``runs`` every fold of ``old`` that no run folder holds now (a fold found on disk wins)."""
    for key, o in old.items():
        row = runs.setdefault(key, {"kind": o["kind"], "train_size": o["train_size"], "folds": {},
                                    "validation": {}, "scores": {k: {} for k in SCORES}})
        for fold, v in o["folds"].items():
            f = int(fold)
            if f in row["folds"]:
                continue
            row["folds"][f] = v
            row.setdefault("recorded_folds", []).append(f)
            if fold in o.get("validation", {}):
                row["validation"][f] = o["validation"][fold]
            for k, vals in o.get("scores", {}).items():
                if fold in vals:
                    row["scores"].setdefault(k, {})[f] = vals[fold]
            if fold in (o.get("init_sha256") or {}):
                row.setdefault("init_sha256", {})[f] = o["init_sha256"][fold]
            if fold in (o.get("best_epoch") or {}):
                row["best_epoch"] = {**row.get("best_epoch", {}), f: o["best_epoch"][fold]}
        row.setdefault("test_records", o.get("test_records"))


def table(out_root: Path, kinds, old: dict | None = None) -> dict:
    runs: dict[str, dict] = {}
    for m in sorted(out_root.glob("*-n*-cv*/metrics.json")):
        g = re.fullmatch(r"(.+)-n(\w+)-cv(\d)", m.parent.name)
        if not g or g[1] not in kinds:
            continue
        d = json.loads(m.read_text())
        key = f"{g[1]}-{g[2]}"
        row = runs.setdefault(key, {"kind": g[1], "train_size": g[2], "folds": {}, "validation": {},
                                    "scores": {k: {} for k in SCORES}})
        row["folds"][int(g[3])] = d["test"]["macro_auroc"]
        row["validation"][int(g[3])] = d["validation"]["macro_auroc"]
        for k, f in SCORES.items():
            v = f(d["test"])
            if v is not None:
                row["scores"][k][int(g[3])] = v
        tuned = _tuned_challenge_f1(m.parent)
        if tuned is not None:  # every run decided the same way, whichever ecgedge trained it
            row["scores"]["challenge_f1"][int(g[3])] = tuned
        row["best_epoch"] = {**row.get("best_epoch", {}), int(g[3]): d.get("best_epoch")}
        row["test_records"] = d["test"]["n_records"]
        sha = m.parent / "init_sha256.txt"
        if sha.exists():
            row.setdefault("init_sha256", {})[int(g[3])] = sha.read_text().strip()
    old = {k: v for k, v in (old or {}).items() if v.get("kind") in kinds}
    _merge(runs, old)
    for row in runs.values():
        row["folds"] = dict(sorted(row["folds"].items()))
        for k in row["scores"]:
            row["scores"][k] = dict(sorted(row["scores"][k].items()))
        v = list(row["folds"].values())
        row["n_folds"], row["mean"] = len(v), statistics.mean(v)
        row["sd"] = statistics.stdev(v) if len(v) > 1 else None
        row["summary"] = {k: _mean_sd(list(vals.values())) for k, vals in row["scores"].items() if vals}
    for key, row in runs.items():
        w = _pooled_weights([run_dir(out_root, row["kind"], row["train_size"], f) for f in row["folds"]])
        o = old.get(key, {})
        if w is None and sorted(int(f) for f in o.get("folds", {})) == list(row["folds"]):
            w = o.get("decision_weights_pooled_validation")  # tuned when the runs were on disk, on the same folds
        if w is not None:
            row["decision_weights_pooled_validation"] = w
    return runs


def _pooled_weights(run_dirs: list[Path]) -> list[float] | None:
    """Decision weights tuned on the validation folds of all the given runs at once (each fold's validation
    records scored by a model that never trained on them): the rule a final model trained on every record
    (data.split = all, `--set train.decision_weights=[...]`) ships with."""
    import numpy as np

    from ecgedge.metrics import tune_decision_weights

    ys, ps, classes = [], [], None
    for run in run_dirs:
        f = run / "predictions.npz"
        if not f.exists():
            return None
        z = np.load(f, allow_pickle=False)
        if "validation_probs" not in z or bool(z["validation_labels"].sum(axis=1).max() > 1):
            return None
        classes = [str(c) for c in z["classes"]]
        ys.append(z["validation_labels"])
        ps.append(z["validation_probs"])
    if not ys or len(classes) < 2:
        return None
    return [float(w) for w in tune_decision_weights(np.concatenate(ys), np.concatenate(ps), classes)]


def _tuned_challenge_f1(run: Path) -> float | None:
    """The test folds' challenge F1 under decision weights tuned on the run's validation folds (what the
    training loop ships in the contract), from the run's saved probabilities; None without them."""
    import numpy as np

    from ecgedge.metrics import CHALLENGE_2017_CLASSES, challenge_f1, tune_decision_weights

    f = run / "predictions.npz"
    if not f.exists():
        return None
    z = np.load(f, allow_pickle=False)
    classes = [str(c) for c in z["classes"]]
    if not all(c in classes for c in CHALLENGE_2017_CLASSES) or "validation_probs" not in z:
        return None
    w = tune_decision_weights(z["validation_labels"], z["validation_probs"], classes)
    return challenge_f1(z["test_labels"], z["test_probs"] * w, classes)


def _mean_sd(v: list[float]) -> dict:
    return {"mean": statistics.mean(v), "sd": statistics.stdev(v) if len(v) > 1 else None, "n": len(v)}


def paired(runs: dict, kind: str, size: str, score: str = "macro_auroc") -> dict | None:
    """``kind`` minus scratch on the folds both ran: mean, sd, wins, folds."""
    sc, tr = runs.get(f"scratch-{size}"), runs.get(f"{kind}-{size}")
    if not sc or not tr:
        return None
    a, b = sc["scores"].get(score, {}), tr["scores"].get(score, {})
    common = sorted(set(a) & set(b))
    if not common:
        return None
    d = [b[f] - a[f] for f in common]
    mean, sd = statistics.mean(d), statistics.stdev(d) if len(d) > 1 else None
    ci = None
    if len(d) >= 3:  # a 95 % t-interval of the mean paired difference over the folds
        from scipy.stats import t

        h = float(t.ppf(0.975, len(d) - 1)) * sd / len(d) ** 0.5
        ci = [mean - h, mean + h]
    return {"mean": mean, "sd": sd, "ci": ci, "wins": sum(x > 0 for x in d), "n": len(d)}


def readme_table(runs: dict, kinds, score: str = "macro_auroc") -> str:
    """Markdown: one row per training-set size; per arm the test score's mean +- sd over folds; per transfer arm
    its paired difference to scratch on the same folds: the mean with a 95 % t-interval over 3 or more folds
    (+- sd over 2), and the folds it wins."""
    kinds = [k for k in kinds if any(r["kind"] == k for r in runs.values())]
    sizes = sorted({r["train_size"] for r in runs.values()}, key=lambda v: (v == "all", int(v) if v != "all" else 0))
    arms = [k for k in kinds if k != "scratch"] if "scratch" in kinds else []
    head = kinds + [f"{k} − scratch (wins)" for k in arms]
    lines = ["| training records | " + " | ".join(head) + " |", "|---" * (len(head) + 1) + "|"]
    for size in sizes:
        cells = []
        for k in kinds:
            r = runs.get(f"{k}-{size}")
            s = r and r["summary"].get(score)
            if not s:
                cells.append("—")
                continue
            sd = f" ± {s['sd']:.3f}" if s["sd"] is not None else ""
            cells.append(f"{s['mean']:.3f}{sd} ({s['n']})")
        for k in arms:
            p = paired(runs, k, size, score)
            if p is None:
                cells.append("—")
            elif p["ci"] is not None:
                cells.append(f"{p['mean']:+.3f} [{p['ci'][0]:+.3f}, {p['ci'][1]:+.3f}] ({p['wins']}/{p['n']})")
            elif p["n"] > 1:
                cells.append(f"{p['mean']:+.3f} ± {p['sd']:.3f} ({p['wins']}/{p['n']})")
            else:
                cells.append(f"{p['mean']:+.3f} (1 fold)")
        lines.append(f"| {size} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--init", required=True, help="PTB-XL-pretrained checkpoint (same architecture)")
    ap.add_argument("--task", choices=sorted(TASKS), default="rhythm")
    ap.add_argument("--sizes", default="100,300,1000,3000,0", help="training-set sizes; 0 = all")
    ap.add_argument("--folds", default="0,1,2,3,4")
    ap.add_argument("--kinds", default=None, help="arms (default: all of the task's)")
    ap.add_argument("--out", default=None, help="runs folder (default runs/transfer-{task})")
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--readme", action="store_true", help="rewrite the README's transfer tables")
    ap.add_argument("--table-only", action="store_true", help="train nothing: rebuild the table from the runs")
    ap.add_argument("--rerun", action="store_true",
                    help="train cells the results file already records (default: keep them, train only the rest)")
    ap.add_argument("--jobs", type=int, default=1,
                    help="runs at once, each on cores/jobs torch threads (small runs use cores poorly)")
    args = ap.parse_args()
    arms = TASKS[args.task]
    kinds = args.kinds.split(",") if args.kinds else list(arms)
    bad = [k for k in kinds if k not in arms]
    if bad:
        ap.error(f"--kinds: {bad[0]!r} is not an arm of the {args.task} task ({', '.join(arms)})")
    out_root = Path(args.out or REPO / "runs" / f"transfer-{args.task}")
    # fold-major: stopped early, the table still covers every size and arm on the same folds
    todo = [(args.task, kind, int(size), int(fold)) for fold in args.folds.split(",")
            for size in args.sizes.split(",") for kind in kinds]
    old = {} if args.rerun else recorded(args.task)
    have = {(r["kind"], r["train_size"], int(f)) for r in old.values() for f in r["folds"]}
    skipped = [t for t in todo if (t[1], str(t[2] or "all"), t[3]) in have
               and not (run_dir(out_root, *t[1:]) / "metrics.json").exists()]
    if skipped and not args.table_only:
        print(f"{len(skipped)} runs recorded in {results_path(args.task).name} and not on disk: kept, not retrained "
              "(--rerun trains them)", flush=True)
    todo = [t for t in todo if t not in skipped]
    if any(t[1] != "scratch" for t in todo) and not args.table_only and not Path(args.init).is_file():
        ap.error(f"--init: {args.init} is not a file (the PTB-XL checkpoint the transfer arms start from)")
    from ecgedge.trust import sha256_file

    init_sha256 = sha256_file(args.init) if Path(args.init).is_file() else ""
    extra = list(args.set)
    if args.jobs > 1:
        extra.append(f"train.threads={max(1, (os.cpu_count() or 1) // args.jobs)}")
    if not args.table_only:
        with ThreadPoolExecutor(max(1, args.jobs)) as pool:
            list(pool.map(lambda t: run_one(*t, args.init, init_sha256, out_root, extra), todo))
    from ecgedge.atomic import atomic_write_text
    from ecgedge.machine import describe

    runs = table(out_root, list(arms), old)
    for key, row in sorted(runs.items()):
        print(key + ": " + ", ".join(f"{k} {s['mean']:.3f}" + (f" ± {s['sd']:.3f}" if s["sd"] is not None else "")
                                     + f" ({s['n']})" for k, s in row["summary"].items()))
    res = results_path(args.task)
    atomic_write_text(res, json.dumps({"when": time.strftime("%Y-%m-%d"), "machine": describe(), "init": args.init,
                               "task": args.task, "arms": {k: list(v) for k, v in arms.items()},
                               "protocol": "5-fold CV on 10 stratified folds (test 2 folds, validation 2, train 6); "
                                           "epoch chosen on validation; test evaluated once per run; "
                                           + "; ".join(PROTOCOL),
                               "results": runs,
                               "paired": {f"{k}-{r['train_size']}": {s: paired(runs, k, r["train_size"], s)
                                                                    for s in SCORES}
                                          for k in arms if k != "scratch"
                                          for r in runs.values() if r["kind"] == k}}, indent=1))
    print(f"wrote {res}")
    if args.readme:
        for score in ("macro_auroc", "challenge_f1", "af_auroc") if args.task == "rhythm" else ("macro_auroc",):
            name = f"transfer-{args.task}-{score}" if args.task == "rhythm" else "transfer"
            if replace_block(name, readme_table(runs, list(arms), score)):
                print(f"README table {name} updated")


if __name__ == "__main__":
    main()
