"""Per-decision latency of Charter's API vs raw regorus on the same modules.

For 1,000 generated proposals against the shipped constitution, prints:

- the median and p99 latency of ``charter.policy.decision.evaluate`` (validation,
  context, evaluation, reasons) next to raw regorus evaluating the same modules
  with the same enriched input, and the cold-start time (load + compile);
- the share of decision time of each rule set (each ``deny``/``ask`` set evaluated
  alone on raw regorus, as decisions evaluate them; target: none above 20 %);
- the secret scan (``CRED-NO-STATIC-SECRETS-001``) in MB/s of patch text next to
  the rule's 1.0.0 text (tests/assets/secrets/) on the same text, with the
  recall and false positives of the shipped rule on the secret corpus.

Targets: typical proposal ≤ 0.5 ms median, API ≤ 1.3x raw regorus, cold start
≤ 300 ms, no rule above 20 %, secret scanning ≥ 50 MB/s.

    .venv/bin/python bench/bench_decisions.py [--n 1000] [--seed 7] [--scan-mb 8] [--quick]
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

from tests import secret_corpus  # noqa: E402

from charter.policy.decision import build_context, evaluate  # noqa: E402
from charter.policy.stack import CompiledStack, load_stack  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SECRETS_RULE = "data.charter.constitution.credential.no_static_secrets.deny"
SECRETS_PACKAGE = "charter.constitution.credential.no_static_secrets"
OLD_SECRETS_RULE = ROOT / "tests" / "assets" / "secrets" / "no_static_secrets-1.0.0.rego"

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
    parser.add_argument("--scan-mb", type=float, default=8.0, help="patch text for the MB/s figure")
    parser.add_argument("--quick", action="store_true", help="100 proposals, 0.5 MB: a smoke run")
    args = parser.parse_args()
    if args.quick:
        args.n, args.cold_runs, args.scan_mb = 100, 1, 0.5
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
    # The same, with CRED-NO-STATIC-SECRETS-001 as released in 1.0.0 (the "before").
    raw_old = regorus.Engine()
    data: dict[str, Any] = {}
    for layer in compiled.stack.layers:
        data.update(copy.deepcopy(layer.data))
        for module in layer.policy_modules:
            raw.add_policy(module.path, module.source)
            old = module.info.package == SECRETS_PACKAGE
            source = OLD_SECRETS_RULE.read_text(encoding="utf-8") if old else module.source
            raw_old.add_policy(module.path, source)
    raw.add_data_json(json.dumps(data))
    raw_old.add_data_json(json.dumps(data))
    paths = [path for _, _, path in compiled.rules]
    enriched = []
    for doc in docs:
        e = dict(doc)
        e["context"] = build_context(compiled, doc, NOW)
        enriched.append(json.dumps(e))

    charter_times: list[float] = []
    raw_times: list[float] = []
    old_times: list[float] = []
    old_secrets: list[float] = []
    per_rule: dict[str, list[float]] = {path: [] for path in paths}
    verdicts: dict[str, int] = {}
    for _ in range(2):  # warm-up pass, then the measured pass
        charter_times.clear()
        raw_times.clear()
        old_times.clear()
        old_secrets.clear()
        verdicts.clear()
        for times in per_rule.values():
            times.clear()
        for doc, text in zip(docs, enriched, strict=True):
            start = time.perf_counter()
            decision = evaluate(compiled, doc, now=NOW)
            charter_times.append(time.perf_counter() - start)
            verdicts[str(decision.verdict)] = verdicts.get(str(decision.verdict), 0) + 1
            start = time.perf_counter()
            raw.set_input_json(text)
            for path in paths:
                rule_start = time.perf_counter()
                json.loads(raw.eval_rule_as_json(path))
                per_rule[path].append(time.perf_counter() - rule_start)
            raw_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            raw_old.set_input_json(text)
            for path in paths:
                rule_start = time.perf_counter()
                json.loads(raw_old.eval_rule_as_json(path))
                if path == SECRETS_RULE:
                    old_secrets.append(time.perf_counter() - rule_start)
            old_times.append(time.perf_counter() - start)

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
    table.add_row(
        "typical proposal, median (µs)",
        f"{percentile(charter_times, 0.5) * 1e6:.1f}",
        "",
        "target ≤ 500 µs",
    )
    for label, q in (("median", 0.5), ("p99", 0.99)):
        new, before = percentile(raw_times, q) * 1e6, percentile(old_times, q) * 1e6
        table.add_row(
            f"raw {label} (µs): shipped vs secrets rule 1.0.0",
            f"{new:.1f}",
            f"{before:.1f}",
            f"{new / before:.2f}×",
        )
    share = sum(old_secrets) / sum(old_times) * 100
    table.add_row(
        "secrets rule 1.0.0: share, median (µs)",
        f"{share:.1f} %",
        f"{percentile(old_secrets, 0.5) * 1e6:.1f}",
        "",
    )
    console = Console()
    console.print(table)
    console.print(f"verdicts: {verdicts}; ratio target ≤ 1.3×")
    console.print(rule_share_table(per_rule))
    console.print(secret_scan_table(compiled, args.scan_mb))
    return 0


def rule_share_table(per_rule: dict[str, list[float]]) -> Table:
    """Each rule set's share of the summed evaluation time, largest first."""
    total = sum(sum(times) for times in per_rule.values())
    table = Table(title="share of decision time per rule set (raw regorus; target: none > 20 %)")
    for col in ("rule set", "share", "median (µs)", "p99 (µs)"):
        table.add_column(col, justify="right")
    ranked = sorted(per_rule.items(), key=lambda item: -sum(item[1]))
    for path, times in ranked[:8]:
        table.add_row(
            path.removeprefix("data.charter.constitution."),
            f"{sum(times) / total * 100:.1f} %",
            f"{percentile(times, 0.5) * 1e6:.1f}",
            f"{percentile(times, 0.99) * 1e6:.1f}",
        )
    table.add_row(f"({len(ranked) - 8} more)", "", "", "")
    return table


def scan_text(megabytes: float) -> str:
    """Added patch lines of real text: this repository's Python and real lockfiles."""
    files = sorted((ROOT / "src").rglob("*.py")) + sorted(
        p for p in (ROOT / "tests" / "assets" / "lockfiles").rglob("*") if p.is_file()
    )
    lines = [
        f"+{line}"
        for path in files
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines()
    ]
    block = "\n".join(lines)
    size = int(megabytes * 1_000_000)
    return ("\n".join([block] * (size // len(block) + 1)))[:size]


def _rule_engine(source: str) -> regorus.Engine:
    engine = regorus.Engine()
    engine.add_policy("no_static_secrets.rego", source)
    return engine


def _best_of(engine: regorus.Engine, runs: int) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(runs):
        start = time.perf_counter()
        result = json.loads(engine.eval_rule_as_json(SECRETS_RULE))
        best = min(best, time.perf_counter() - start)
    return best, result


def corpus_scores(compiled: CompiledStack) -> tuple[int, int, int, int]:
    """(secrets caught, secrets in the corpus, near misses flagged, near misses)."""
    caught = secrets = flagged = near = 0
    for sample in secret_corpus.load():
        decision = evaluate(compiled, secret_corpus.proposal(sample), now=NOW)
        hit = any(r.rule == secret_corpus.RULE_ID for r in decision.reasons)
        if sample.expect in ("secret", "known-miss"):
            secrets += 1
            caught += hit
        else:
            near += 1
            flagged += hit
    return caught, secrets, flagged, near


def secret_scan_table(compiled: CompiledStack, megabytes: float) -> Table:
    """MB/s of the shipped rule vs its 1.0.0 text, and its recall on the corpus."""
    text = scan_text(megabytes)
    document = json.dumps({"files": [{"path": "src/big.py", "status": "added", "patch": text}]})
    shipped_source = next(
        m.source
        for layer in compiled.stack.layers
        for m in layer.policy_modules
        if m.info.package == SECRETS_PACKAGE
    )
    rows = []
    for label, source in (
        ("shipped rule", shipped_source),
        ("rule 1.0.0", OLD_SECRETS_RULE.read_text(encoding="utf-8")),
    ):
        engine = _rule_engine(source)
        engine.set_input_json(document)
        seconds, _ = _best_of(engine, 3)
        rows.append((label, seconds))
    caught, secrets, flagged, near = corpus_scores(compiled)
    table = Table(
        title=f"secret scan over {len(text) / 1e6:.1f} MB of added lines (real code and lockfiles)"
    )
    for col in ("rule", "time (ms, best of 3)", "MB/s", "target"):
        table.add_column(col, justify="right")
    for label, seconds in rows:
        table.add_row(
            label,
            f"{seconds * 1e3:.1f}",
            f"{len(text) / 1e6 / seconds:.0f}",
            "≥ 50 MB/s" if label == "shipped rule" else "",
        )
    table.add_row(
        "corpus (tests/assets/secrets)",
        f"recall {caught}/{secrets} ({caught / secrets * 100:.1f} %)",
        f"false positives {flagged}/{near}",
        "",
    )
    return table


if __name__ == "__main__":
    raise SystemExit(main())
