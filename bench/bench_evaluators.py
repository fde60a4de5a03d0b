"""regorus' two evaluators on Charter's decisions: the interpreter Charter uses vs the RVM.

regorus 0.13 ships, next to its tree-walking interpreter (``regorus.Engine``),
a register-based bytecode VM (``regorus.Program`` + ``regorus.Rvm``). Charter
decides with the interpreter; this script measures the alternative on the same
work, so that the choice is a measured one and can be revisited with each
regorus release:

- speed: every ``deny``/``ask`` set of the shipped constitution (and with the four
  example packs, ``--packs``) evaluated for ``bench_decisions``' generated proposals, by
  each evaluator on the same input text (median and p99 per decision, all sets,
  no guards), and the RVM's compile time;
- agreement: for every proposal and set, whether the two give the same value,
  and for a probe corpus of small modules the fail-closed contract needs
  (a runtime error must surface as an error, since Charter turns it into
  ``deny``; an undefined value must leave a set empty). Each disagreement is
  printed with its first example.

Charter switches only when the RVM agrees everywhere here *and* in the test
suite's decisions: a set that comes back empty where the interpreter raised
is a more permissive verdict, which Charter never trades for speed.

    .venv/bin/python bench/bench_evaluators.py [--n 500] [--seed 7] [--packs] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import regorus
from rich.console import Console
from rich.markup import escape
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
PACKS = ROOT / "examples" / "packs"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_decisions  # noqa: E402 - the sibling script's workload
from charter.policy.engine import describe_rego_error  # noqa: E402
from charter.policy.stack import CompiledStack, engine_data, load_stack  # noqa: E402

#: Small modules whose answers the fail-closed contract depends on: (name, module,
#: entry point, input). Charter needs an error where the interpreter raises one.
PROBES: tuple[tuple[str, str, str, dict[str, Any]], ...] = (
    (
        "type error in a builtin",
        "package p\nimport rego.v1\ndeny contains x if { x := 1 / input.a }\n",
        "data.p.deny",
        {"a": "text"},
    ),
    (
        "division by zero",
        "package p\nimport rego.v1\ndeny contains x if { x := 1 / input.a }\n",
        "data.p.deny",
        {"a": 0},
    ),
    (
        "missing operand",
        "package p\nimport rego.v1\ndeny contains x if { x := 1 / input.a }\n",
        "data.p.deny",
        {},
    ),
    (
        "undefined function result in a message",
        "package p\nimport rego.v1\n"
        'why(x) := "bad" if x == 1\n'
        'deny contains sprintf("%s", [why(input.a)]) if input.a\n',
        "data.p.deny",
        {"a": 2},
    ),
)


@dataclass
class Agreement:
    """How often the two evaluators agreed, and the first example of each disagreement."""

    compared: int = 0
    differing: int = 0
    examples: dict[str, str] = field(default_factory=dict)

    def record(self, key: str, same: bool, example: str) -> None:
        self.compared += 1
        if not same:
            self.differing += 1
            self.examples.setdefault(key, example)


def _outcome(run: Any) -> tuple[str, Any]:
    """("value", the JSON value) or ("error", its first line)."""
    try:
        return "value", json.loads(run())
    except (RuntimeError, ValueError) as exc:
        return "error", describe_rego_error(exc, "probe").split(": ", 1)[-1][:100]


def _rvm_for(compiled: CompiledStack) -> tuple[Any, float]:
    modules = [(m.path, m.source) for layer in compiled.stack.layers for m in layer.policy_modules]
    data = json.dumps(engine_data(compiled.stack))  # as Charter's engine holds it
    start = time.perf_counter()
    program = regorus.Program.compile_from_modules(
        data, modules, [path for _, _, path in compiled.rules]
    )
    elapsed = time.perf_counter() - start
    vm = regorus.Rvm()
    vm.load_program(program)
    vm.set_data_json(data)
    return vm, elapsed


def measure_stack(compiled: CompiledStack, texts: list[str]) -> dict[str, Any]:
    """Per-decision time of each evaluator over every set, and where they disagree."""
    engine = compiled.engine._engine  # the interpreter Charter decides with
    vm, compile_seconds = _rvm_for(compiled)
    paths = [path for _, _, path in compiled.rules]
    times: dict[str, list[float]] = {"interpreter": [], "rvm": []}
    agreement = Agreement()
    for _ in range(2):  # a warm-up pass, then the measured one
        for values in times.values():
            values.clear()
        agreement = Agreement()
        for text in texts:
            start = time.thread_time()
            engine.set_input_json(text)
            interpreted = [_outcome(lambda p=p: engine.eval_rule_as_json(p)) for p in paths]
            times["interpreter"].append(time.thread_time() - start)
            start = time.thread_time()
            vm.set_input_json(text)
            compiled_out = [_outcome(lambda p=p: vm.execute_entry_point(p)) for p in paths]
            times["rvm"].append(time.thread_time() - start)
            for path, a, b in zip(paths, interpreted, compiled_out, strict=True):
                example = f"interpreter {json.dumps(a)[:80]} vs rvm {json.dumps(b)[:80]}"
                agreement.record(path.removeprefix("data."), a == b, example)
    return {
        "sets": len(paths),
        "rvm_compile_ms": compile_seconds * 1000,
        "interpreter_median_us": statistics.median(times["interpreter"]) * 1e6,
        "rvm_median_us": statistics.median(times["rvm"]) * 1e6,
        "interpreter_p99_us": bench_decisions.percentile(times["interpreter"], 0.99) * 1e6,
        "rvm_p99_us": bench_decisions.percentile(times["rvm"], 0.99) * 1e6,
        "compared": agreement.compared,
        "differing": agreement.differing,
        "examples": agreement.examples,
    }


def probe() -> list[dict[str, str]]:
    """The probe corpus: each evaluator's answer."""
    answers: list[dict[str, str]] = []
    for name, module, entry, document in PROBES:
        engine = regorus.Engine()
        engine.add_policy("probe.rego", module)
        engine.set_input_json(json.dumps(document))
        program = regorus.Program.compile_from_modules("{}", [("probe.rego", module)], [entry])
        vm = regorus.Rvm()
        vm.load_program(program)
        vm.set_data_json("{}")
        vm.set_input_json(json.dumps(document))
        interpreted = _outcome(lambda e=engine, p=entry: e.eval_rule_as_json(p))
        compiled_out = _outcome(lambda v=vm, p=entry: v.execute_entry_point(p))
        answers.append(
            {
                "probe": name,
                "interpreter": json.dumps(interpreted)[:90],
                "rvm": json.dumps(compiled_out)[:90],
                "agree": "yes" if interpreted == compiled_out else "NO",
            }
        )
    return answers


def _texts(compiled: CompiledStack, n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    docs = [bench_decisions.proposal(rng, i) for i in range(n)]
    return [bench_decisions._input_text(compiled, doc) for doc in docs]


def _stacks(with_packs: bool) -> dict[str, CompiledStack]:
    stacks = {"constitution": load_stack().compile()}
    if with_packs:
        packs = sorted(p for p in PACKS.iterdir() if p.is_dir())
        stacks["constitution + packs"] = load_stack(packs=packs).compile()
    return stacks


def _speed_table(results: dict[str, dict[str, Any]]) -> Table:
    table = Table(title="every deny/ask set per decision (CPU µs; same input text)")
    for column in ("stack", "sets", "interpreter median", "RVM median", "p99 (int / RVM)"):
        if column == "stack":
            table.add_column(column, no_wrap=True)
        else:
            table.add_column(column, justify="right")
    table.add_column("sets that disagree", justify="right")
    for name, r in results.items():
        table.add_row(
            escape(name),
            str(r["sets"]),
            f"{r['interpreter_median_us']:.0f}",
            f"{r['rvm_median_us']:.0f} ({r['interpreter_median_us'] / r['rvm_median_us']:.1f}x)",
            f"{r['interpreter_p99_us']:.0f} / {r['rvm_p99_us']:.0f}",
            f"{r['differing']} of {r['compared']}",
        )
    return table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500, help="generated proposals")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--packs", action="store_true", help="also the stack with the packs")
    parser.add_argument("--json", action="store_true", help="print the measurement as JSON")
    args = parser.parse_args()
    results = {
        name: measure_stack(compiled, _texts(compiled, args.n, args.seed))
        for name, compiled in _stacks(args.packs).items()
    }
    probes = probe()
    if args.json:
        print(json.dumps({"stacks": results, "probes": probes}, indent=2))
        return 0
    console = Console()
    console.print(_speed_table(results))
    for name, r in results.items():
        for where, example in sorted(r["examples"].items()):
            console.print(f"[bold]{escape(name)}[/]: {escape(where)}: {escape(example)}")
    table = Table(title="fail-closed probes")
    for column in ("probe", "interpreter", "RVM", "agree"):
        table.add_column(column)
    for answer in probes:
        table.add_row(*(escape(answer[k]) for k in ("probe", "interpreter", "rvm", "agree")))
    console.print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
