"""A composed constitution stack decides as fast as one constitution of the same size.

Baseline: one constitution with 1,000 patterns (bench_gate's). Compared: the same
patterns split into three layers (constitution, pack, overlay) and composed with
:func:`charter.actions.layers.compose`, plus the one-layer composition of the baseline
itself. Every command is unique (also per engine: no parse cache is shared), and the engines
take turns in a rotating order so that load on the machine hits them alike.
Run: ``.venv/bin/python bench/bench_gate_layers.py [--n 3000]``.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

from charter.actions.constitution import parse_text
from charter.actions.gate import Gate
from charter.actions.layers import LayerFile, compose

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_gate import commands as make_commands  # noqa: E402
from bench.bench_gate import make_patterns  # noqa: E402


def toml(forbidden: list[str], approval: list[str], auto: list[str]) -> str:
    return (
        '[identity]\nversion = "1.0.0"\n\n[boundaries]\n'
        f"forbidden = {json.dumps(forbidden)}\n"
        f"requires_approval = {json.dumps(approval)}\n"
        f"auto_allowed = {json.dumps(auto)}\n"
    )


def layer(text: str, kind: str, name: str) -> LayerFile:
    return LayerFile(parse_text(text, f"<{name}>"), kind, name, f"<{name}>", "", "", name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3000, help="commands per engine")
    args = parser.parse_args()
    rng = random.Random(7)
    forbidden, approval, auto = make_patterns(rng)
    single = Gate(parse_text(toml(forbidden, approval, auto)))
    one = Gate(compose([layer(toml(forbidden, approval, auto), "constitution", "c")]))
    thirds = [(len(forbidden) * i // 3, len(approval) * i // 3) for i in range(4)]
    parts = [
        toml(forbidden[f0:f1], approval[a0:a1], auto if i == 0 else [])
        for i, ((f0, a0), (f1, a1)) in enumerate(zip(thirds, thirds[1:], strict=False))
    ]
    stacked = Gate(
        compose(
            [
                layer(parts[0], "constitution", "c"),
                layer(parts[1], "pack", "p"),
                layer(parts[2], "overlay", "o"),
            ]
        )  # fmt: skip
    )
    engines = {"one constitution": single, "one-layer stack": one, "three-layer stack": stacked}
    times: dict[str, list[float]] = {name: [] for name in engines}
    names = list(engines)
    for warm in make_commands(random.Random(1), 200):
        for gate in engines.values():
            gate.decide_command(warm + " warm", "/tmp")
    for i, command in enumerate(make_commands(rng, args.n)):
        verdicts = set()
        # Each engine gets its own unique command (no shared parse cache), in a rotating
        # order so that load on the machine hits every engine alike.
        for k in range(len(names)):
            name = names[(i + k) % len(names)]
            started = time.perf_counter()
            verdicts.add(engines[name].decide_command(f"{command} e{k}", "/tmp").verdict)
            times[name].append((time.perf_counter() - started) * 1e6)
        assert len(verdicts) == 1, command  # noqa: S101 - the same decisions
    print(f"{len(forbidden) + len(approval) + len(auto)} patterns, {args.n} unique commands")
    print(f"{'engine':20} {'p50 µs':>9} {'p99 µs':>9}")
    for name, samples in times.items():
        samples.sort()
        p99 = samples[int(len(samples) * 0.99) - 1]
        print(f"{name:20} {statistics.median(samples):9.1f} {p99:9.1f}")


if __name__ == "__main__":
    main()
