"""Run the Rego tests of a stack or of bundle directories, like ``opa test``.

Each ``test_*`` rule of a ``*_test.rego`` module is evaluated in an engine that
holds every policy module of the stack plus that layer's tests; a test passes
when it evaluates to ``true``. For a failing test that checks a rule's verdict,
Charter re-evaluates the tested package under the test's own ``with input as``
value and reports the expected verdict (from the test name) against the actual.

Test names and expected verdicts
--------------------------------
A test name says which verdict it expects with a *verdict word*, one of the
``_``-separated tokens of the name:

=========  =====================================
verdict    words
=========  =====================================
deny       ``deny``, ``denies``, ``denied``
ask        ``ask``, ``asks``, ``asked``
allow      ``allow``, ``allows``, ``allowed``
=========  =====================================

The **last** verdict word wins, so ``test_merge_approval_denied`` expects
``deny`` and ``test_denied_branch_allowed`` expects ``allow``; a verdict word
directly after ``not``/``never`` (``test_x_not_denied``) is ambiguous and gives
no expectation. Other words (``approval``, ``violation``, ``ok``…) are never
read as verdicts. A name without a verdict word has no expected verdict: the
report then shows only the actual one. The convention matters only for the
report (and for the constitution's own test-quality checks): whether a test
passes is decided by running it, never by its name.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from charter.core.errors import CharterError
from charter.policy.bundle import Layer, Module
from charter.policy.engine import Engine, ModuleInfo, walk_ast
from charter.policy.stack import Stack, _merge_data

#: Verdict words of test names (see the module docstring).
VERDICT_WORDS: dict[str, str] = {
    "deny": "deny",
    "denies": "deny",
    "denied": "deny",
    "ask": "ask",
    "asks": "ask",
    "asked": "ask",
    "allow": "allow",
    "allows": "allow",
    "allowed": "allow",
}
_NEGATIONS = frozenset({"not", "never"})
#: regorus reports columns in UTF-8 bytes and counts a tab as this many.
_TAB_COLUMNS = 4


@dataclass(frozen=True)
class TestResult:
    __test__ = False  # a result type, not a pytest test class

    name: str
    package: str
    file: str
    row: int
    passed: bool
    duration_s: float
    error: str | None = None
    expected: str | None = None
    actual: str | None = None

    @property
    def qualified(self) -> str:
        return f"data.{self.package}.{self.name}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.qualified,
            "location": f"{self.file}:{self.row}",
            "passed": self.passed,
            "duration_ms": round(self.duration_s * 1000, 3),
            "error": self.error,
            "expected": self.expected,
            "actual": self.actual,
        }


@dataclass(frozen=True)
class TestReport:
    __test__ = False  # a report type, not a pytest test class

    results: tuple[TestResult, ...]

    @property
    def passed(self) -> int:
        return sum(r.passed for r in self.results)

    @property
    def failed(self) -> int:
        return len(self.results) - self.passed

    @property
    def ok(self) -> bool:
        return bool(self.results) and self.failed == 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "failed": self.failed,
            "total": len(self.results),
            "results": [r.to_dict() for r in self.results],
        }


# ------------------------------------------------------------------ AST helpers


def _head_var(rule: Any) -> dict[str, Any] | None:
    """The ``Var`` node naming a rule (``test_x`` in ``test_x if …``), if simple."""
    spec = rule.get("Spec") if isinstance(rule, dict) else None
    if not isinstance(spec, dict):
        return None
    head = spec.get("head", {})
    for kind in ("Compr", "Set", "Func"):
        if kind in head:
            refr = head[kind].get("refr", {})
            var = refr.get("Var") if isinstance(refr, dict) else None
            if isinstance(var, dict):
                return var
    return None


def find_tests(module: Module) -> list[tuple[str, int]]:
    """(name, row) of every ``test_*`` rule, in source order, without duplicates."""
    found: dict[str, int] = {}
    for rule in module.info.ast.get("rules", []):
        var = _head_var(rule)
        if var and str(var["value"]).startswith("test_"):
            found.setdefault(str(var["value"]), int(var["span"]["line"]))
    return sorted(found.items(), key=lambda item: item[1])


def expected_verdict(test_name: str) -> str | None:
    """The verdict a test name expects: its last verdict word (module docstring)."""
    tokens = test_name.lower().split("_")
    for i in range(len(tokens) - 1, -1, -1):
        verdict = VERDICT_WORDS.get(tokens[i])
        if verdict is not None:
            return None if i > 0 and tokens[i - 1] in _NEGATIONS else verdict
    return None


def byte_offset(source: bytes, line: int, col: int) -> int | None:
    """The byte offset of regorus's ``line:col`` in ``source`` (None if out of range).

    regorus counts lines from 1 and columns from 1 in UTF-8 bytes, with a tab
    worth four columns; its ``start``/``end`` offsets are not reliable for
    expressions that span lines, so locations are rebuilt from line and column.
    """
    lines = source.splitlines(keepends=True)
    if not 1 <= line <= len(lines):
        return None
    text = lines[line - 1]
    column, offset = 1, 0
    while offset < len(text) and column < col:
        column += _TAB_COLUMNS if text[offset : offset + 1] == b"\t" else 1
        offset += 1
    return sum(len(x) for x in lines[: line - 1]) + offset


def expression_text(source: str, line: int, col: int) -> str:
    """The source text of the Rego expression that starts at ``line:col``.

    The end is found by balancing brackets (skipping strings, raw strings and
    comments), stopping at whitespace, ``;`` or an unbalanced closer at depth 0.
    """
    raw = source.encode()
    start = byte_offset(raw, line, col)
    if start is None:
        return ""
    i = start
    depth = 0
    while i < len(raw):
        c = raw[i : i + 1]
        if c == b'"':
            i += 1
            while i < len(raw) and raw[i : i + 1] not in (b'"', b"\n"):
                i += 2 if raw[i : i + 1] == b"\\" else 1
        elif c == b"`":
            end = raw.find(b"`", i + 1)
            i = len(raw) if end < 0 else end
        elif c == b"#" and depth > 0:
            end = raw.find(b"\n", i)
            i = (len(raw) if end < 0 else end) - 1
        elif c in (b"(", b"[", b"{"):
            depth += 1
        elif c in (b")", b"]", b"}"):
            if depth == 0:
                break
            depth -= 1
        elif depth == 0 and (c.isspace() or c == b";"):
            break
        i += 1
    return raw[start : min(i, len(raw))].decode("utf-8", "replace")


def _expression_start(node: Any) -> tuple[int, int] | None:
    """The leftmost ``(line, col)`` of all spans under an expression node.

    A node's own span may sit on an operator (``.``, ``(``) or on its last
    field, so the expression starts at the leftmost span beneath it.
    """
    spans = [
        (int(n["span"]["line"]), int(n["span"]["col"]))
        for n in walk_ast(node)
        if isinstance(n.get("span"), dict) and "line" in n["span"] and "col" in n["span"]
    ]
    return min(spans) if spans else None


def with_input_texts(module: Module, test_name: str) -> list[str]:
    """Source text of every ``with input as <expr>`` inside one test rule, in order."""
    texts: list[str] = []
    for rule in module.info.ast.get("rules", []):
        var = _head_var(rule)
        if var is None or var.get("value") != test_name:
            continue
        for node in walk_ast(rule["Spec"].get("bodies")):
            for mod in node.get("with_mods") or []:
                refr = mod.get("refr", {})
                target_var = refr.get("Var") if isinstance(refr, dict) else None
                if not isinstance(target_var, dict) or target_var.get("value") != "input":
                    continue
                where = _expression_start(mod.get("r#as") or mod.get("as"))
                if where is not None:
                    text = expression_text(module.source, *where)
                    if text:
                        texts.append(text)
    return texts


def _tested_package(info: ModuleInfo, rule_packages: set[str]) -> str | None:
    if info.package.endswith("_test") and info.package[: -len("_test")] in rule_packages:
        return info.package[: -len("_test")]
    for imp in info.imports:
        target = imp.removeprefix("data.")
        if target in rule_packages:
            return target
    return None


def _actual_verdict(engine: Engine, module: Module, test: str, package: str) -> str | None:
    texts = with_input_texts(module, test)
    if not texts:
        return None
    imports = "\n".join(f"import {imp}" for imp in module.info.imports if imp != "rego.v1")
    # `with` only applies inside rule bodies, so each probe is a body.
    probe = f"package {module.info.package}\nimport rego.v1\n{imports}\n"
    for kind in ("deny", "ask"):
        probe += (
            f"__charter_probe_{kind} := n if {{\n"
            f'\tn := count(object.get(data.{package}, "{kind}", set())) '
            f"with input as {texts[0]}\n}}\n"
        )
    twin = engine.clone()
    try:
        twin.add_module(f"{module.path}#probe", probe)
        deny = twin.eval_rule(f"data.{module.info.package}.__charter_probe_deny")
        ask = twin.eval_rule(f"data.{module.info.package}.__charter_probe_ask")
    except CharterError:
        return None
    if deny:
        return "deny"
    if ask:
        return "ask"
    return "allow"


def run_layer_tests(
    stack_layers: Sequence[Layer], layer: Layer, *, match: str | None = None
) -> list[TestResult]:
    """Run one layer's tests against the policy modules of ``stack_layers``."""
    engine = Engine()
    data: dict[str, Any] = {}
    for item in stack_layers:
        _merge_data(data, item.data)
    engine.add_data(data)
    rule_packages: set[str] = set()
    for item in stack_layers:
        for module in item.policy_modules:
            engine.add_module(module.path, module.source)
            if {"deny", "ask"} & module.info.rule_names:
                rule_packages.add(module.info.package)
    for module in layer.test_modules:
        engine.add_module(module.path, module.source)
    results: list[TestResult] = []
    for module in layer.test_modules:
        for name, row in find_tests(module):
            qualified = f"data.{module.info.package}.{name}"
            if match and not re.search(match, qualified):
                continue
            start = time.perf_counter()
            error: str | None = None
            try:
                value = engine.eval_rule(qualified)
            except CharterError as exc:
                value, error = None, str(exc)
            elapsed = time.perf_counter() - start
            passed = value is True
            expected = actual = None
            if not passed and error is None:
                package = _tested_package(module.info, rule_packages)
                expected = expected_verdict(name)
                if package is not None:
                    actual = _actual_verdict(engine, module, name, package)
            results.append(
                TestResult(
                    name=name,
                    package=module.info.package,
                    file=module.path,
                    row=row,
                    passed=passed,
                    duration_s=elapsed,
                    error=error,
                    expected=expected,
                    actual=actual,
                )
            )
    return results


def run_tests(
    stack: Stack, layers: Sequence[Layer] | None = None, *, match: str | None = None
) -> TestReport:
    """Run the tests of ``layers`` (default: every layer of ``stack``)."""
    targets = list(layers) if layers is not None else list(stack.layers)
    results: list[TestResult] = []
    for layer in targets:
        results.extend(run_layer_tests(stack.layers, layer, match=match))
    return TestReport(results=tuple(results))
