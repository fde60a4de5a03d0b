"""Per-decision latency of Charter's API, each rule's share of it, and the secret scan.

For 1,000 generated proposals against the shipped constitution, prints:

- the median and p99 latency of ``charter.policy.decision.evaluate`` (validation,
  context, evaluation, reasons), and its median in the thread's CPU time (steadier
  on a shared machine), next to raw regorus evaluating every set of the same
  compiled engine on the same input, and the cold-start time (load + compile);
  how many rule sets a decision evaluates (the others proven empty for its input,
  ``charter.policy.guards``);
- the share of decision time of each rule set, timed on the compiled engine with
  the input Charter gives it (target: none above 20 %). ``CRED-NO-STATIC-SECRETS-001``
  is charged with Charter's own scan of the patches (``charter.policy.secrets``)
  as well as its Rego;
- the secret scan in MB/s of patch text (8 MB of real code and lockfiles): as
  Charter runs it (its scan, then the rule on that fact) and as plain OPA would
  (the rule's Rego scan alone), with recall and false positives on the corpus
  (tests/assets/secrets/).

``--baseline DIR`` measures a second source tree (e.g. a ``git worktree`` of the
base revision) with this same script and workload, alternating the two in rounds
on this machine and keeping each timing's best round, and prints both side by side.

Targets: typical proposal ≤ 0.5 ms median, API ≤ 1.3x raw regorus, cold start
≤ 300 ms, no rule above 20 %, secret scanning ≥ 50 MB/s.

    .venv/bin/python bench/bench_decisions.py [--n 1000] [--seed 7] [--scan-mb 8] [--quick]
        [--baseline DIR [--rounds 2]] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import secret_corpus  # noqa: E402

from charter.policy.decision import build_context, evaluate  # noqa: E402
from charter.policy.engine import Engine  # noqa: E402
from charter.policy.stack import CompiledStack, load_stack  # noqa: E402

try:  # the scan Charter runs itself (absent before it existed: a baseline tree)
    from charter.policy.secrets import scan as charter_scan  # noqa: E402
except ImportError:  # pragma: no cover - only on an older tree
    charter_scan = None

SECRETS_PACKAGE = "charter.constitution.credential.no_static_secrets"
SECRETS_RULE = f"data.{SECRETS_PACKAGE}.deny"
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


def _timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# ------------------------------------------------------------------ measuring


def _input_text(compiled: CompiledStack, doc: dict[str, Any]) -> str:
    """The input Charter gives the engine for ``doc`` (through the public API)."""
    return json.dumps({**doc, "context": build_context(compiled, doc, NOW)})


def _sets_evaluated(
    compiled: CompiledStack, paths: list[str], docs: list[dict[str, Any]], texts: list[str]
) -> list[int]:
    """Sets each decision evaluates: the others are proven empty for its input
    (charter.policy.guards; on an older tree by kind only, or none before guards)."""
    guards = getattr(compiled, "input_guards", None)
    if guards is not None:
        from charter.policy.guards import admits  # noqa: PLC0415 - absent on older trees

        inputs = [json.loads(text) for text in texts]
        return [sum(1 for p in paths if p not in guards or admits(guards[p], i)) for i in inputs]
    kinds: dict[str, Any] = dict(getattr(compiled, "kind_guards", {}))
    return [sum(1 for p in paths if p not in kinds or d.get("kind") in kinds[p]) for d in docs]


def measure_decisions(compiled: CompiledStack, docs: list[dict[str, Any]]) -> dict[str, Any]:
    """API latency, raw regorus on the same engine and input, and per-rule-set times."""
    raw = compiled.engine._engine  # the regorus engine the API evaluates
    paths = [path for _, _, path in compiled.rules]
    texts = [_input_text(compiled, doc) for doc in docs]
    api: list[float] = []
    api_cpu: list[float] = []  # the thread's CPU time: steadier than wall time on a busy machine
    raw_times: list[float] = []
    scan: list[float] = []
    per_rule: dict[str, list[float]] = {path: [] for path in paths}
    verdicts: dict[str, int] = {}
    evaluated = _sets_evaluated(compiled, paths, docs, texts)
    for _ in range(2):  # warm-up pass, then the measured pass
        api.clear()
        api_cpu.clear()
        raw_times.clear()
        scan.clear()
        verdicts.clear()
        for times in per_rule.values():
            times.clear()
        for doc, text in zip(docs, texts, strict=True):
            start, cpu_start = time.perf_counter(), time.thread_time()
            decision = evaluate(compiled, doc, now=NOW)
            api.append(time.perf_counter() - start)
            api_cpu.append(time.thread_time() - cpu_start)
            verdicts[str(decision.verdict)] = verdicts.get(str(decision.verdict), 0) + 1
            if charter_scan is not None:
                scan.append(_timed(lambda doc=doc: charter_scan(doc)))
            start = time.perf_counter()
            raw.set_input_json(text)
            for path in paths:
                rule_start = time.perf_counter()
                json.loads(raw.eval_rule_as_json(path))
                per_rule[path].append(time.perf_counter() - rule_start)
            raw_times.append(time.perf_counter() - start)
    if scan:  # Charter's scan is part of what CRED-NO-STATIC-SECRETS-001 costs
        per_rule[SECRETS_RULE] = [a + b for a, b in zip(per_rule[SECRETS_RULE], scan, strict=True)]
    total_api = sum(api)
    shares = {
        path.removeprefix("data.charter.constitution."): {
            "share": sum(times) / total_api,
            "median": percentile(times, 0.5),
            "p99": percentile(times, 0.99),
        }
        for path, times in per_rule.items()
    }
    return {
        "api_median": percentile(api, 0.5),
        "api_p99": percentile(api, 0.99),
        "api_cpu_median": percentile(api_cpu, 0.5),
        "raw_median": percentile(raw_times, 0.5),
        "raw_p99": percentile(raw_times, 0.99),
        "scan_median": percentile(scan, 0.5) if scan else None,
        "verdicts": verdicts,
        "sets_evaluated": statistics.mean(evaluated),
        "sets": len(paths),
        "rules": shares,
    }


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


def _best_of(runs: int, fn: Callable[[], Any]) -> float:
    return min(_timed(fn) for _ in range(runs))


def measure_scan(compiled: CompiledStack, megabytes: float) -> dict[str, Any]:
    """MB/s of the secret scan as Charter runs it and as plain OPA runs the rule."""
    text = scan_text(megabytes)
    document = {"files": [{"path": "src/big.py", "status": "added", "patch": text}]}
    charter = compiled.engine.clone()
    charter.set_input({**document, "context": build_context(compiled, document, NOW)})

    def as_charter() -> None:
        if charter_scan is not None:
            charter_scan(document)
        charter.eval_rule(SECRETS_RULE)

    source = next(
        m.source
        for layer in compiled.stack.layers
        for m in layer.policy_modules
        if m.info.package == SECRETS_PACKAGE
    )
    opa = Engine()  # the rule alone: no data.charter_internal, no Charter context
    opa.add_module("no_static_secrets.rego", source)
    opa.set_input(document)
    return {
        "megabytes": len(text) / 1e6,
        "charter_seconds": _best_of(3, as_charter),
        "opa_seconds": _best_of(3, lambda: opa.eval_rule(SECRETS_RULE)),
    }


def corpus_scores(compiled: CompiledStack) -> dict[str, int]:
    """Secrets caught and near misses flagged on the corpus, decided through the API."""
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
    return {"caught": caught, "secrets": secrets, "flagged": flagged, "near": near}


def measure(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    docs = [proposal(rng, i) for i in range(args.n)]
    cold = [_timed(lambda: load_stack().compile()) for _ in range(args.cold_runs)]
    compiled = load_stack().compile()
    return {
        "source": str(Path(sys.modules["charter"].__file__ or "").parent),
        "rule_count": len(compiled.stack.rules),
        "cold_start": statistics.median(cold),
        **measure_decisions(compiled, docs),
        "scan": measure_scan(compiled, args.scan_mb),
        "corpus": corpus_scores(compiled),
    }


# ------------------------------------------------------------------ reporting


def _run_tree(tree: Path | None, argv: list[str]) -> dict[str, Any]:
    """This script's measurement in a child process, on ``tree``'s sources (or this tree's)."""
    env = dict(os.environ)
    src = tree if tree is not None else ROOT
    env["PYTHONPATH"] = os.pathsep.join([str(src / "src"), str(src)])
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), *argv, "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"measuring {src} failed:\n{done.stderr.strip()[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    # PYTHONPATH only adds to sys.path: a tree without src/charter would quietly
    # measure whatever Charter is installed instead.
    if Path(result["source"]).resolve() != (src / "src" / "charter").resolve():
        raise SystemExit(
            f"{src} has no src/charter (measured {result['source']}); pass a tree root"
        )
    return result


def _best(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Each timing at its best round (a busy machine only ever adds time)."""
    best = dict(min(results, key=lambda r: r["api_median"]))  # its rule shares too
    for key in ("api_median", "api_p99", "api_cpu_median", "raw_median", "raw_p99", "cold_start"):
        best[key] = min(r[key] for r in results)
    scans = [r["scan_median"] for r in results if r["scan_median"] is not None]
    best["scan_median"] = min(scans) if scans else None
    best["scan"] = {
        "megabytes": results[0]["scan"]["megabytes"],
        "charter_seconds": min(r["scan"]["charter_seconds"] for r in results),
        "opa_seconds": min(r["scan"]["opa_seconds"] for r in results),
    }
    return best


def _us(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds * 1e6:.1f}"


def _mbs(scan: dict[str, Any], key: str) -> str:
    return f"{scan['megabytes'] / scan[key]:.0f}"


def _secrets_share(result: dict[str, Any]) -> str:
    rule = result["rules"][SECRETS_RULE.removeprefix("data.charter.constitution.")]
    return f"{rule['share'] * 100:.1f} %"


def _top_share(result: dict[str, Any]) -> str:
    name, rule = max(result["rules"].items(), key=lambda kv: kv[1]["share"])
    return f"{rule['share'] * 100:.1f} % ({name.rsplit('.', 2)[-2]})"


def summary_table(columns: list[tuple[str, dict[str, Any]]]) -> Table:
    table = Table(title="decisions: 1 row per measure (same workload, same machine)")
    table.add_column("measure", justify="left")
    for label, _ in columns:
        table.add_column(label, justify="right")
    table.add_column("target", justify="right")
    rows: list[tuple[str, Callable[[dict[str, Any]], str], str]] = [
        ("typical proposal, median (µs)", lambda r: _us(r["api_median"]), "≤ 500"),
        ("p99 (µs)", lambda r: _us(r["api_p99"]), ""),
        ("typical proposal, median CPU time (µs)", lambda r: _us(r["api_cpu_median"]), "≤ 500"),
        ("raw regorus, median (µs)", lambda r: _us(r["raw_median"]), ""),
        ("API / raw, median", lambda r: f"{r['api_median'] / r['raw_median']:.2f}×", "≤ 1.3×"),
        ("cold start (ms)", lambda r: f"{r['cold_start'] * 1e3:.1f}", "≤ 300"),
        (
            "rule sets evaluated per decision (mean)",
            lambda r: f"{r.get('sets_evaluated', r.get('sets', 0)):.1f} of {r.get('sets', '?')}",
            "",
        ),
        ("largest rule share", _top_share, "≤ 20 %"),
        ("CRED-NO-STATIC-SECRETS-001 share", _secrets_share, "≤ 20 %"),
        ("Charter's secret scan, median (µs)", lambda r: _us(r["scan_median"]), ""),
        (
            "secret scan as Charter runs it (MB/s)",
            lambda r: _mbs(r["scan"], "charter_seconds"),
            "≥ 50",
        ),
        ("the rule alone, as plain OPA (MB/s)", lambda r: _mbs(r["scan"], "opa_seconds"), ""),
        (
            "corpus recall",
            lambda r: f"{r['corpus']['caught']}/{r['corpus']['secrets']}",
            "",
        ),
        (
            "corpus false positives",
            lambda r: f"{r['corpus']['flagged']}/{r['corpus']['near']}",
            "",
        ),
        ("verdicts", lambda r: json.dumps(r["verdicts"], sort_keys=True), ""),
    ]
    for label, cell, target in rows:
        table.add_row(label, *(cell(result) for _, result in columns), target)
    return table


def share_table(label: str, result: dict[str, Any], top: int = 10) -> Table:
    table = Table(title=f"{label}: share of decision time per rule set (target: none > 20 %)")
    for col in ("rule set", "share", "median (µs)", "p99 (µs)"):
        table.add_column(col, justify="right")
    ranked = sorted(result["rules"].items(), key=lambda kv: -kv[1]["share"])
    for name, rule in ranked[:top]:
        table.add_row(name, f"{rule['share'] * 100:.1f} %", _us(rule["median"]), _us(rule["p99"]))
    rest = sum(rule["share"] for _, rule in ranked[top:])
    table.add_row(f"({len(ranked) - top} more)", f"{rest * 100:.1f} %", "", "")
    return table


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--cold-runs", type=int, default=5)
    parser.add_argument("--scan-mb", type=float, default=8.0, help="patch text for the MB/s figure")
    parser.add_argument("--quick", action="store_true", help="100 proposals, 0.5 MB: a smoke run")
    parser.add_argument("--baseline", type=Path, help="another source tree to measure alongside")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds with --baseline")
    parser.add_argument("--json", action="store_true", help="print the measurement as JSON")
    args = parser.parse_args()
    if args.quick:
        args.n, args.cold_runs, args.scan_mb = 100, 1, 0.5
    if args.json:
        print(json.dumps(measure(args)))
        return 0
    argv = ["--n", str(args.n), "--seed", str(args.seed), "--cold-runs", str(args.cold_runs)]
    argv += ["--scan-mb", str(args.scan_mb)]
    columns: list[tuple[str, dict[str, Any]]]
    if args.baseline is None:
        columns = [("this tree", measure(args))]
    else:
        before: list[dict[str, Any]] = []
        after: list[dict[str, Any]] = []
        for _ in range(args.rounds):
            before.append(_run_tree(args.baseline.resolve(), argv))
            after.append(_run_tree(None, argv))
        columns = [("baseline", _best(before)), ("this tree", _best(after))]
    console = Console()
    for label, result in columns:
        console.print(f"{label}: {result['source']} ({result['rule_count']} rules)")
    console.print(summary_table(columns))
    for label, result in columns:
        console.print(share_table(label, result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
