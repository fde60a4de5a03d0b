"""Per-decision latency of Charter's API vs raw regorus on the same modules.

For 1,000 generated proposals against the shipped constitution, prints the
median and p99 latency of ``charter.policy.decision.evaluate`` (validation, context,
evaluation, reasons) next to raw regorus evaluating the same modules with the
same enriched input, and the cold-start time (load + compile) of the stack.

    .venv/bin/python bench/bench_decisions.py [--n 1000] [--seed 7]
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import regorus
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from charter.policy.decision import build_context, evaluate  # noqa: E402
from charter.policy.stack import load_stack  # noqa: E402

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
PATCH_LINES = [
    "+print('hello')",
    "+aws_access_key_id = AKIAIOSFODNN7EXAMPLQ",
    "+password = 'Zx9!kL2#mQ8$vB4^nR7&'",
    "+## Usage",
    "-old line",
    "+run: make test",
]


def proposal(rng: random.Random, i: int) -> dict[str, Any]:
    author = rng.choice(["agent-7", "agent-9", "alice"])
    files = [
        {
            "path": rng.choice(
                ["docs/guide.md", ".github/workflows/ci.yml", "src/app.py", "infra/main.tf"]
            ),
            "status": rng.choice(["added", "modified"]),
            "patch": "\n".join(rng.choice(PATCH_LINES) for _ in range(rng.randint(1, 30))),
        }
        for _ in range(rng.randint(0, 6))
    ]
    return {
        "kind": rng.choice(["pull_request", "merge", "push", "release"]),
        "repository": "acme/platform",
        "base": "main",
        "head": f"feature/cm-{i}-x",
        "author": {"id": author, "type": "human" if author == "alice" else "agent"},
        "title": f"change {i}",
        "body": (
            "Change.\n\n```charter\nrules: [PROC-NO-DIRECT-PUSH-001]\n"
            'blast_radius: "small"\nrollback: "git revert"\n```\n'
            if rng.random() < 0.7
            else "no citation"
        ),
        "files": files,
        "approvals": [{"by": rng.choice(["alice", "bob", author]), "type": "human"}],
        "labels": [],
        "environment": rng.choice([None, "production"]),
        "artifacts": [
            {
                "name": "api",
                "digest": "sha256:" + "a" * 64,
                "sbom": {"format": "cyclonedx", "signed": rng.random() < 0.8},
                "provenance": {"format": "in-toto", "signed": rng.random() < 0.8},
            }
        ],
        "dependencies": {
            "changed": rng.random() < 0.5,
            "scan": {
                "tool": "grype",
                "findings": [{"id": "CVE-1", "severity": rng.choice(["low", "high"])}],
            },
        },
        "tools": {"sbom": rng.choice(["syft", "cdxgen"]), "signing": "cosign"},
        "export": {"source_code": rng.random() < 0.1, "destination": None},
    }


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))
    return ordered[k]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--cold-runs", type=int, default=5)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    docs = [proposal(rng, i) for i in range(args.n)]

    cold: list[float] = []
    for _ in range(args.cold_runs):
        start = time.perf_counter()
        compiled = load_stack().compile()
        cold.append(time.perf_counter() - start)

    # Raw regorus: the same modules and data, the same enriched input, the
    # same deny/ask sets evaluated one eval_rule each; nothing else.
    raw = regorus.Engine()
    data: dict[str, Any] = {}
    for layer in compiled.stack.layers:
        data.update(copy.deepcopy(layer.data))
        for module in layer.policy_modules:
            raw.add_policy(module.path, module.source)
    raw.add_data_json(json.dumps(data))
    paths = [path for _, _, path in compiled.rules]
    enriched = []
    for doc in docs:
        e = dict(doc)
        e["context"] = build_context(compiled, doc, NOW)
        enriched.append(json.dumps(e))

    charter_times: list[float] = []
    raw_times: list[float] = []
    verdicts: dict[str, int] = {}
    for _ in range(2):  # warm-up pass, then the measured pass
        charter_times.clear()
        raw_times.clear()
        verdicts.clear()
        for doc, text in zip(docs, enriched, strict=True):
            start = time.perf_counter()
            decision = evaluate(compiled, doc, now=NOW)
            charter_times.append(time.perf_counter() - start)
            verdicts[str(decision.verdict)] = verdicts.get(str(decision.verdict), 0) + 1
            start = time.perf_counter()
            raw.set_input_json(text)
            for path in paths:
                json.loads(raw.eval_rule_as_json(path))
            raw_times.append(time.perf_counter() - start)

    table = Table(
        title=f"{args.n} proposals vs the shipped constitution ({len(compiled.stack.rules)} rules)"
    )
    for col in ("measure", "charter API", "raw regorus", "ratio"):
        table.add_column(col, justify="right")
    for label, q in (("median", 0.5), ("p99", 0.99)):
        c = percentile(charter_times, q) * 1e6
        r = percentile(raw_times, q) * 1e6
        table.add_row(f"{label} latency (µs)", f"{c:.1f}", f"{r:.1f}", f"{c / r:.2f}×")
    table.add_row(
        "cold start: load + compile (ms, median)",
        f"{statistics.median(cold) * 1e3:.1f}",
        "",
        "target ≤ 300 ms",
    )
    console = Console()
    console.print(table)
    console.print(f"verdicts: {verdicts}; ratio target ≤ 1.3×")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
