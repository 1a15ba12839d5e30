"""Rewrite a shipped model's graph for speed without changing one of its outputs, and update its card.

    python benchmarks/retouch_model.py NAME [NAME ...]

Applies :func:`ecgedge.export.onnx_export.one_dimensional_pools` (time pools exported as 2-D pools of height 1
become 1-D pools, which onnxruntime's INT8 channels-last path runs without transposes) to
``ecgedge/models/NAME.int8.onnx``. The rewrite is exact, and this script proves it before it writes anything: the
old and the new file must give the same logits, to the bit, on every window of the card's held-out records (the
same set `ecgedge bench NAME` scores; folds 1-2, its card's check, for a model trained on every record) and on
random windows. Then the file is replaced atomically and the card's
sha256 and size are updated and a ``retouched`` entry records the check and the batch-1 latency of the old and the
new file, measured here side by side (the card's own latency stays: it was measured on the card's machine); its
accuracy figures stay, because no output changed. A model whose graph has nothing to rewrite is left alone.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

STEP = "python benchmarks/retouch_model.py {name}   # the graph rewritten for speed, every output unchanged"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="+")
    a = ap.parse_args()

    import onnx

    from ecgedge.artifact import read_info
    from ecgedge.atomic import atomic_open
    from ecgedge.errors import EcgedgeError
    from ecgedge.export.onnx_export import one_dimensional_pools
    from ecgedge.machine import describe
    from ecgedge.runtime.bench import time_calls
    from ecgedge.runtime.bench.heldout import heldout_set
    from ecgedge.runtime.ort import run_batched, session

    for name in a.names:
        path = ROOT / "ecgedge" / "models" / f"{name}.int8.onnx"
        card_path = path.with_name(f"{name}.card.json")
        old = path.read_bytes()
        m = onnx.load_from_string(old)
        n = one_dimensional_pools(m.graph)
        if not n:
            print(f"{name}: nothing to rewrite")
            continue
        onnx.checker.check_model(m)
        new = m.SerializeToString()
        contract = read_info(path).contract
        try:
            ev = heldout_set(contract)
        except EcgedgeError:  # trained on every record (its card's check folds): the outputs, not accuracy
            ev = heldout_set(contract, folds=(1, 2))
        rng = np.random.default_rng(0)
        noise = rng.standard_normal((64, len(contract.leads), contract.window)).astype(np.float32)
        s_old, s_new = session(old, threads=1), session(new, threads=1)
        for what, x in (("held-out windows", ev.x), ("random windows", noise)):
            y_old, y_new = run_batched(s_old, x), run_batched(s_new, x)
            if y_old.tobytes() != y_new.tobytes():
                sys.exit(f"{name}: the rewritten graph changed an output on the {what} "
                         f"(max |difference| {np.abs(y_old - y_new).max():.3g}); nothing written")
        xx = rng.standard_normal((1, len(contract.leads), contract.window)).astype(np.float32)
        lat = {}
        for _ in range(2):  # alternate, so that neither file gets the quieter moment
            for tag, s in (("before", s_old), ("after", s_new)):
                t = float(np.median(time_calls(lambda s=s, xx=xx: s.run(None, {"ecg": xx}), min_runs=300, warmup=20)))
                lat[tag] = min(lat.get(tag, np.inf), t * 1e3)
        card = json.loads(card_path.read_text())
        card["sha256"], card["bytes"] = hashlib.sha256(new).hexdigest(), len(new)
        card["retouched"] = {"rewrite": f"{n} time pool(s) as 1-D pools (ecgedge.export.onnx_export."
                                        "one_dimensional_pools)",
                             "checked": f"logits identical to the bit on the {len(ev.x)} windows of {ev.description} "
                                        "and on 64 random windows",
                             "int8_ms_batch1_1thread": {k: round(v, 4) for k, v in lat.items()},
                             "machine": describe(), "date": time.strftime("%Y-%m-%d")}
        step = STEP.format(name=name)
        if step not in card.get("reproduce", []):
            card.setdefault("reproduce", []).append(step)
        with atomic_open(path, "wb") as fh:
            fh.write(new)
        with atomic_open(card_path, "w") as fh:
            fh.write(json.dumps(card, indent=1, default=float) + "\n")
        print(f"{name}: {n} pool(s) rewritten; outputs identical on {len(ev.x)} held-out and 64 random windows; "
              f"batch-1 INT8 {lat['before']:.3f} -> {lat['after']:.3f} ms")


if __name__ == "__main__":
    main()
