"""Put a committed `ecgedge bench` result into the README (between the ``bench`` markers).

``python benchmarks/bench_readme.py benchmarks/results/bench-cpu-amd-epyc-2core.json``: the Pareto frontier as
a table, every row in a collapsed table below it, the machine named, the plot linked.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from readme_block import replace_block

from ecgedge.runtime.bench import Row, markdown

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("result")
    ap.add_argument("--block", default="bench", help="the README block to rewrite (default: bench)")
    args = ap.parse_args()
    path = Path(args.result).resolve()
    doc = json.loads(path.read_text())
    rows = [Row(**r) for r in doc["rows"]]
    m, st = doc["machine"], doc["settings"]
    isa = ", ".join(m.get("isa") or []) or "none of AVX2/AVX-512/VNNI/NEON reported"
    gpus = ", ".join(g["name"] for g in m.get("gpus") or []) or "no GPU"
    held = next((r.heldout for r in rows if r.heldout), "not measured")
    front = [r for r in rows if r.pareto]
    text = [
        f"Measured on **{m.get('cpu_model')}, {m.get('cores')} cores** ({m.get('machine')}, ISA: {isa}; {gpus}), "
        f"onnxruntime {m.get('versions', {}).get('onnxruntime', '?')}, {st['threads'] or 'default'} engine "
        f"thread(s), {doc['when'][:10]}. Accuracy: {held}, through the same engine and the runtime's "
        f"preprocessing. Throughput in 10-s records/s at the best batch of {st['batches']}. Full result: "
        f"`{path.relative_to(REPO)}`.",
        "",
        f"![latency against accuracy]({path.with_suffix('.png').relative_to(REPO)})",
        "",
        "The frontier (no other row is faster per 10-s record at batch 1 and at least as accurate):",
        "",
        markdown(front),
        "",
        "<details><summary>every model, engine and precision</summary>",
        "",
        markdown(rows),
        "",
        "</details>",
    ]
    if not replace_block(args.block, "\n".join(text)):
        raise SystemExit("README.md has no <!-- bench:start --> / <!-- bench:end --> markers")
    print(f"README.md: {len(front)} frontier rows, {len(rows)} rows")


if __name__ == "__main__":
    main()
