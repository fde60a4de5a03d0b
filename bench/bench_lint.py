"""Lint time of 1,000 overlay auto_allowed patterns against a 1,000-pattern constitution.

Prints a table comparing, in the same run:

- parse only: tokenising and normalising both pattern lists (the floor);
- the linter: ``lint_constitution_toml`` (program index + lazy NFA product walk);
- naive pairwise: each lower pattern against each upper pattern separately, no
  index (measured on a sample of lower patterns and extrapolated; note it is
  also *incomplete*: it misses patterns only a union of upper patterns covers);
- greenery: building greenery FSMs for the same patterns (sample, extrapolated).

Target: the linter ≤ 5 s. Run: ``.venv/bin/python bench/bench_lint.py``.
"""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path

from charter.actions import constitution as model
from charter.actions.automata import AllowedLanguage, compile_command_pattern, to_regex
from charter.actions.lint import lint_constitution_toml

N = 1000
SAMPLE = 20
TARGET_S = 5.0


def patterns(seed: int) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    tools = [f"tool{i}" for i in range(200)]
    subs = ["build", "test", "lint", "status", "show"]
    upper = [f"{t} {s}*" for t in tools for s in subs][: N // 2]
    upper += [f"{t} {s} --verbose *" for t in tools for s in subs][: N - len(upper)]
    lower: list[str] = []
    for i in range(N):
        t, s = rng.choice(tools[:100]), rng.choice(subs)
        kind = i % 4
        if kind == 0:
            lower.append(f"{t} {s}")  # contained (exact)
        elif kind == 1:
            lower.append(f"{t} {s} --verbose src/{i}.py")  # contained via the * pattern
        elif kind == 2:
            lower.append(f"{t} {s}-{i}")  # contained via the in-token glob
        else:
            lower.append(f"{t} deploy{i} *")  # not contained: a counterexample is needed
    return upper, lower


def toml(upper: list[str], lower: list[str], directory: Path) -> tuple[Path, Path]:
    up = directory / "upper.toml"
    low = directory / "lower.toml"
    up.write_text('[identity]\nversion = "1.0.0"\n[boundaries]\nauto_allowed = [\n'
                  + ",\n".join(f'  "{p}"' for p in upper) + "\n]\n")  # fmt: skip
    low.write_text('[identity]\nversion = "1.0.0"\n[boundaries]\nauto_allowed = [\n'
                   + ",\n".join(f'  "{p}"' for p in lower) + "\n]\n")  # fmt: skip
    return up, low


def main() -> None:
    upper, lower = patterns(7)
    with tempfile.TemporaryDirectory() as tmp:
        up_path, low_path = toml(upper, lower, Path(tmp))
        start = time.perf_counter()
        _, up = model.read(up_path)
        _, low = model.read(low_path)
        for p in [*upper, *lower]:
            compile_command_pattern(p)
        parse_s = time.perf_counter() - start

        start = time.perf_counter()
        _, up = model.read(up_path)
        _, low = model.read(low_path)
        findings = lint_constitution_toml(low, up)
        lint_s = time.perf_counter() - start

    start = time.perf_counter()
    for p in lower[:SAMPLE]:
        for q in upper:
            AllowedLanguage([q]).contains(p)
    naive_s = (time.perf_counter() - start) * (N / SAMPLE)

    from greenery import parse

    start = time.perf_counter()
    for p in (upper + lower)[:SAMPLE]:
        regex = to_regex(compile_command_pattern(p))
        if regex is not None:
            parse(regex).to_fsm()
    greenery_s = (time.perf_counter() - start) * (2 * N / SAMPLE)

    rows = [
        ("parse only (tokenise + normalise 2,000 patterns)", parse_s, "measured"),
        ("charter lint (indexed NFA product walk)", lint_s, "measured"),
        ("naive pairwise (1,000 x 1,000 checks)", naive_s, f"extrapolated from {SAMPLE}"),
        ("greenery FSM construction only (2,000 FSMs)", greenery_s, f"extrapolated from {SAMPLE}"),
    ]
    print(f"{'approach':52} {'seconds':>9}  note")
    print("-" * 80)
    for name, seconds, note in rows:
        print(f"{name:52} {seconds:9.3f}  {note}")
    print("-" * 80)
    print(f"findings: {len(findings)} (expected {N // 4} not-contained patterns)")
    verdict = "OK" if lint_s <= TARGET_S else "OVER TARGET"
    print(f"target <= {TARGET_S:.1f} s: {verdict}; linter vs naive: x{naive_s / lint_s:.0f} faster")
    example = next((f for f in findings), None)
    if example is not None:
        print(f"example: {example.message}")


if __name__ == "__main__":
    main()
