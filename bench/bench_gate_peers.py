"""The action gate against outside yardsticks (peer corpora nobody on this project wrote).

Reads the corpora from a directory given on the command line (they are not part of
this repository: GTFOBins is GPL-3.0 and must never be copied in; RedCode is CC BY 4.0),
judges every line as the corpus README says, and prints how many come out
allow / ask / deny:

* ``gtfobins.jsonl`` — one constitution per line that auto-allows the binary
  (``"<binary> *"``), allowed directory the work directory, ``/etc`` and ``/root/.ssh``
  blocked: every ``allow`` is an escape the gate missed;
* ``redcode-bash.jsonl`` — under the shipped default constitution and under the
  corpus' benign constitution (misses split by ``risk_kind``);
* ``benign.jsonl`` — 150 everyday commands under the benign constitution: every
  ``ask``/``deny`` is a false positive;
* ``gemini-cli-shell-safety.jsonl`` — each case's own lists.

Run: ``.venv/bin/python bench/bench_gate_peers.py /path/to/gate-peers [--misses]``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from charter.actions.constitution import parse_text
from charter.actions.gate import Gate

DEFAULT = Path(__file__).resolve().parent.parent / "src/charter/defaults/constitution.toml"


def lines(path: Path) -> Iterator[dict[str, object]]:
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def per_line(auto: list[str], forbidden: list[str], work: str, blocked: bool) -> Gate:
    limits = f'allowed_directories = ["{work}"]\n'
    if blocked:
        limits += 'blocked_directories = ["/etc", "/root/.ssh"]\n'
    text = (
        '[identity]\nversion = "1.0.0"\n[boundaries]\n'
        f"forbidden = {json.dumps(forbidden)}\nrequires_approval = []\n"
        f"auto_allowed = {json.dumps(auto)}\n[resource_limits]\n{limits}"
    )
    return Gate(parse_text(text))


def with_work(text: str, work: str) -> str:
    return text.replace("/tmp/charter-work", work)


def judge(gate: Gate, command: str, cwd: str) -> str:
    try:
        return str(gate.decide_command(command, cwd).verdict)
    except Exception as exc:  # noqa: BLE001 - an error is a result to count
        return f"error:{type(exc).__name__}"


def report(name: str, counts: Counter[str], misses: list[str], show: bool) -> None:
    total = sum(counts.values())
    parts = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    print(f"{name}: {total} lines: {parts}")
    if show:
        for m in misses:
            print("   MISS", json.dumps(m)[:200])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("peers", type=Path, help="the gate-peers directory")
    parser.add_argument("--misses", action="store_true", help="print every miss")
    parser.add_argument("--harder", action="store_true", help="gtfobins: auto-allow helpers")
    args = parser.parse_args()
    peers: Path = args.peers
    with tempfile.TemporaryDirectory() as tmp:
        work = os.path.realpath(tmp)
        gtfo: Counter[str] = Counter()
        by_escape: Counter[str] = Counter()
        gmiss: list[str] = []
        for case in lines(peers / "gtfobins.jsonl"):
            auto = list(case["auto_allowed"])  # type: ignore[call-overload]
            if args.harder:
                for p in case.get("other_programs", []):  # type: ignore[attr-defined]
                    auto += [p, f"{p} *"]
            v = judge(per_line(auto, [], work, True), str(case["command"]), work)
            gtfo[v] += 1
            if v == "allow":
                by_escape[str(case.get("escape"))] += 1
                gmiss.append(f"{case['binary']} {case['function']}: {case['command']}")
        report("gtfobins (block expected)", gtfo, gmiss, args.misses)
        print("   allowed by escape kind:", dict(by_escape))

        benign_text = with_work((peers / "benign-constitution.toml").read_text(), work)
        benign_gate = Gate(parse_text(benign_text))
        default_text = DEFAULT.read_text(encoding="utf-8")
        default_gate = Gate(parse_text(default_text))
        for label, gate in (("default", default_gate), ("benign", benign_gate)):
            rc: Counter[str] = Counter()
            kinds: Counter[str] = Counter()
            rmiss: list[str] = []
            for case in lines(peers / "redcode-bash.jsonl"):
                v = judge(gate, str(case["command"]), work)
                rc[v] += 1
                if v == "allow":
                    kinds[str(case["risk_kind"])] += 1
                    rmiss.append(f"{case['source']}: {case['command']}")
            report(
                f"redcode under the {label} constitution (block expected)", rc, rmiss, args.misses
            )
            print("   allowed by risk_kind:", dict(kinds))

        bc: Counter[str] = Counter()
        bmiss: list[str] = []
        for case in lines(peers / "benign.jsonl"):
            v = judge(benign_gate, str(case["command"]), work)
            bc[v] += 1
            if v != "allow":
                bmiss.append(str(case["command"]))
        report("benign (allow expected)", bc, bmiss, args.misses)
        asked = sum(v for k, v in bc.items() if k != "allow")
        print(f"   false-ask rate: {asked}/{sum(bc.values())}")

        gem: Counter[str] = Counter()
        wrong: list[str] = []
        for case in lines(peers / "gemini-cli-shell-safety.jsonl"):
            gate = per_line(list(case["auto_allowed"]), list(case["forbidden"]), work, False)  # type: ignore[call-overload]
            v = judge(gate, str(case["command"]), work)
            ok = v == "allow" if case["expect"] == "allow" else v != "allow"
            gem["right" if ok else "wrong"] += 1
            if not ok:
                wrong.append(f"expect {case['expect']} got {v}: {case['command']}")
        report("gemini-cli shell safety", gem, wrong, args.misses)


if __name__ == "__main__":
    main()
