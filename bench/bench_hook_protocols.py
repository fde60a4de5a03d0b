"""Hook adapter overhead: ``hooks.respond`` against the gate alone, per agent.

With bench_gate's 1,000-pattern constitution plus 100 ``tool:`` patterns and 20 SQL
patterns, measures in one run (medians and p99, microseconds, in-process: process
start-up is the decision daemon's bench):

* baseline: ``Gate.decide_action`` on the action each payload stands for,
* ``respond(agent, …)`` on the real-shaped payload (parse, map, decide, render),
* an MCP tool call with a 2 KB SQL argument (``tool:`` and SQL patterns).

Every command is unique (a counter is appended). Run:
``.venv/bin/python bench/bench_hook_protocols.py [--n 3000]``.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.bench_gate import make_patterns, toml

from charter.actions import hooks
from charter.actions.constitution import parse_text
from charter.actions.gate import Gate

ASSETS = Path(__file__).parents[1] / "tests" / "assets" / "hooks"
SHELL = {
    "claude-code": ("claude-code/bash.json", ("tool_input", "command")),
    "gemini-cli": ("gemini-cli/run_shell_command.json", ("tool_input", "command")),
    "cursor": ("cursor/beforeShellExecution.json", ("command",)),
    "codex": ("codex/bash.json", ("tool_input", "command")),
}


def gate() -> Gate:
    forbidden, approval, auto = make_patterns(random.Random(7))
    forbidden += [f"tool:mcp__srv{i}__drop_*" for i in range(50)]
    auto += [f"tool:mcp__srv{i}__get_*" for i in range(50)]
    forbidden += [f"DROP TABLE t{i} *" for i in range(10)] + ["DROP DATABASE *"]
    approval += [f"DELETE FROM t{i} *" for i in range(9)]  # noqa: S608 - patterns, not queries
    return Gate(parse_text(toml(forbidden, approval, auto)))


def timed(fn: Callable[[int], Any], n: int) -> list[float]:
    for i in range(200):
        fn(i)
    out = []
    for i in range(n):
        t = time.perf_counter()
        fn(i)
        out.append((time.perf_counter() - t) * 1e6)
    return sorted(out)


def row(name: str, xs: list[float]) -> dict[str, Any]:
    return {
        "case": name,
        "p50_us": round(statistics.median(xs), 1),
        "p99_us": round(xs[int(len(xs) * 0.99)], 1),
    }


def payload(agent: str, i: int) -> str:
    path, keys = SHELL[agent]
    doc = json.loads((ASSETS / path).read_text().replace("/path/to/project", "/tmp"))
    target = doc
    for k in keys[:-1]:
        target = target[k]
    target[keys[-1]] = f"git status --short -- {agent}-file{i}.txt"  # unique: no cache hit
    return json.dumps(doc)


def shell_action(i: int) -> dict[str, Any]:
    return {"kind": "command", "command": f"git status --short -- base-file{i}.txt", "cwd": "/tmp"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=3000)
    n = parser.parse_args().n
    g = gate()
    base = timed(lambda i: g.decide_action(shell_action(i)), n)
    rows = [row("baseline: gate.decide_action (command)", base)]
    for agent in SHELL:
        bodies = [payload(agent, i) for i in range(n + 200)]

        def answer(i: int, agent: str = agent, bodies: list[str] = bodies) -> Any:
            return hooks.respond(agent, g, bodies[i])

        rows.append(row(f"respond {agent} (shell)", timed(answer, n)))
    columns = ", ".join(f"c{i}" for i in range(300))
    sql = f"SELECT {columns} FROM t WHERE id = 1"  # noqa: S608 - a benchmark input, not a query
    mcp = json.loads((ASSETS / "claude-code" / "mcp.json").read_text())
    mcp["tool_name"] = "mcp__srv7__get_rows"
    mcp["tool_input"] = {"sql": sql}
    text = json.dumps(mcp)
    action = {"kind": "tool", "tool": "mcp__srv7__get_rows", "arguments": {"sql": sql}}
    tool_base = timed(lambda i: g.decide_action(action), n)
    rows.append(row("baseline: gate.decide_action (tool, 2 KB SQL)", tool_base))
    tool_hook = timed(lambda i: hooks.respond("claude-code", g, text), n)
    rows.append(row("respond claude-code (mcp, 2 KB SQL)", tool_hook))
    verdict = hooks.respond("claude-code", g, text).decision.verdict
    print(json.dumps({"n": n, "mcp_verdict": str(verdict), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
