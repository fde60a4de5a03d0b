"""What each shipped pack adds to a decision, next to the constitution alone.

Two proposals, both all-added files so every line is content a rule may read:

- ``workflow``: one added GitHub Actions workflow (a real sample, 770 bytes of patch);
- ``large``: 124 files, about 1.4 MB of patches: every real workflow, Dockerfile and
  Terraform sample of ``tests/assets/packs`` and this repository's Python sources.

For each stack (the constitution alone, the constitution with one pack, with all
four) prints the best-of-N time of ``charter.policy.decision.evaluate``, the
pack's share over the constitution's own time (target: each pack ≤ +50 %), and the
slowest pack rule sets timed on the compiled engine. All stacks are measured in the
same run, alternating, so machine load hits them alike.

    .venv/bin/python bench/bench_packs.py [--runs 9] [--top 8] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from charter.policy.decision import evaluate  # noqa: E402
from charter.policy.stack import CompiledStack, load_stack  # noqa: E402

PACKS = ROOT / "examples" / "packs"
ASSETS = ROOT / "tests" / "assets" / "packs"
NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
PLACES = {
    "workflows": ".github/workflows/{stem}.yml",
    "dockerfiles": "services/{stem}/Dockerfile",
    "terraform": "infra/{stem}.tf",
}


def added(path: str, text: str) -> dict[str, Any]:
    lines = text.splitlines()
    patch = f"@@ -0,0 +1,{len(lines)} @@\n" + "\n".join(f"+{line}" for line in lines)
    return {"path": path, "status": "added", "patch": patch}


def proposal(files: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "kind": "pull_request",
        "repository": "acme/platform",
        "base": "main",
        "head": "feature/x",
        "author": {"id": "alice", "type": "human"},
        "title": "change",
        "body": '```charter\nrules: [CI-GHA-WRITE-ALL-001]\nblast_radius: "small"\n'
        'rollback: "git revert"\n```\n',
        "files": files,
        "approvals": [{"by": "bob", "type": "human"}],
        "labels": [],
    }


def proposals() -> dict[str, dict[str, Any]]:
    workflow = ASSETS / "workflows" / "untrusted_checkout.yml"
    samples = [
        added(PLACES[p.parent.name].format(stem=p.stem.replace(".", "-")), p.read_text())
        for p in sorted(ASSETS.glob("*/*"))
        if p.parent.name in PLACES
    ]
    sources = sorted((ROOT / "src" / "charter").rglob("*.py"))
    files = list(samples)
    for src in sources:
        if len(files) >= 124:
            break
        files.append(added(str(src.relative_to(ROOT)), src.read_text()))
    return {
        "workflow": proposal([added(".github/workflows/ci.yml", workflow.read_text())]),
        "large": proposal(files),
    }


def stacks() -> dict[str, CompiledStack]:
    names = sorted(p.name for p in PACKS.iterdir() if p.is_dir())
    out = {"constitution": load_stack().compile()}
    for name in names:
        out[f"+ {name}"] = load_stack(packs=[PACKS / name]).compile()
    out["+ all four"] = load_stack(packs=[PACKS / n for n in names]).compile()
    return out


def per_rule(compiled: CompiledStack, doc: dict[str, Any], runs: int) -> dict[str, float]:
    """Best time of each pack rule set, on the input the decision gave the engine."""
    evaluate(compiled, doc, now=NOW)  # leaves the decision's input in the engine
    engine = compiled.engine
    out: dict[str, float] = {}
    for pkg, _, path in compiled.rules:
        if compiled.package_layers.get(pkg) != "pack":
            continue
        best = float("inf")
        for _ in range(runs):
            start = time.perf_counter()
            engine.eval_rule(path)
            best = min(best, time.perf_counter() - start)
        out[path.removeprefix("data.charter.packs.")] = best
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--top", type=int, default=8)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    docs = proposals()
    compiled = stacks()
    best: dict[tuple[str, str], float] = {}
    for round_ in range(args.runs * 10):  # alternate the stacks: load hits them alike
        for label, stack in compiled.items():
            for name, doc in docs.items():
                if name == "large" and round_ >= args.runs:
                    continue  # the small proposal gets ten times the rounds
                start = time.perf_counter()
                evaluate(stack, doc, now=NOW)
                took = time.perf_counter() - start
                best[label, name] = min(best.get((label, name), float("inf")), took)
    rules = {n: per_rule(compiled["+ all four"], d, args.runs) for n, d in docs.items()}
    sizes = {n: sum(len(f["patch"]) for f in d["files"]) for n, d in docs.items()}
    counts = {n: len(d["files"]) for n, d in docs.items()}
    if args.json:
        print(
            json.dumps(
                {
                    "proposals": {n: {"files": counts[n], "bytes": sizes[n]} for n in docs},
                    "seconds": {f"{s} | {n}": t for (s, n), t in best.items()},
                    "pack_rule_sets": rules,
                },
                indent=2,
            )
        )
        return
    for name in docs:
        base = best["constitution", name]
        print(f"\n{name}: {counts[name]} files, {sizes[name] / 1e3:.1f} kB of patch")
        for label in compiled:
            took = best[label, name]
            extra = "" if label == "constitution" else f"  (+{(took - base) / base:.0%})"
            print(f"  {label:<16} {took * 1e3:8.2f} ms{extra}")
    for name, times in rules.items():
        print(f"\nslowest pack rule sets on {name!r} (all four packs, best of {args.runs}):")
        for path, took in sorted(times.items(), key=lambda kv: -kv[1])[: args.top]:
            print(f"  {took * 1e3:8.3f} ms  {path}")


if __name__ == "__main__":
    main()
