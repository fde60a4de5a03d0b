"""Run the Rego tests of a stack or of bundle directories, like ``opa test``.

Each ``test_*`` rule of a ``*_test.rego`` module is evaluated in an engine that
holds every policy module of the stack plus that layer's tests; a test passes
when it evaluates to ``true``. For a failing test that checks a rule's verdict,
Charter re-evaluates the tested package under the test's own ``with input as``
value and reports the expected verdict (from the test name) against the actual.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from charter.bundle import Layer, Module
from charter.engine import Engine, ModuleInfo
from charter.errors import CharterError
from charter.stack import Stack, _merge_data

_EXPECT_DENY = re.compile(r"(deny|denied|violation|violates|reject|blocked|forbidden)")
_EXPECT_ASK = re.compile(r"(^|_)(ask|asks|approval)(_|$)")
_EXPECT_ALLOW = re.compile(r"(allow|allowed|accepted|passes|ok|no_violation|compliant|none)")


@dataclass(frozen=True)
class TestResult:
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


def _test_rules(module: Module) -> list[tuple[str, int]]:
    """(name, row) of every ``test_*`` rule, in source order, without duplicates."""
    found: dict[str, int] = {}
    for rule in module.info.ast.get("rules", []):
        spec = rule.get("Spec") if isinstance(rule, dict) else None
        if not isinstance(spec, dict):
            continue
        head = spec.get("head", {})
        for kind in ("Compr", "Set", "Func"):
            if kind in head:
                refr = head[kind].get("refr", {})
                var = refr.get("Var") if isinstance(refr, dict) else None
                if var and str(var["value"]).startswith("test_"):
                    found.setdefault(str(var["value"]), int(var["span"]["line"]))
    return sorted(found.items(), key=lambda item: item[1])


def expected_verdict(test_name: str) -> str | None:
    """What a test name says it expects (``test_push_to_main_denied`` → deny)."""
    name = test_name.lower()
    if _EXPECT_ASK.search(name):
        return "ask"
    if re.search(r"(^|_)(no|not|without)_(violation|deny|denial)", name):
        return "allow"
    if _EXPECT_DENY.search(name):
        return "deny"
    if _EXPECT_ALLOW.search(name):
        return "allow"
    return None


def _with_input_texts(module: Module, test_name: str) -> list[str]:
    """Source text of every ``with input as <expr>`` inside one test rule."""
    texts: list[str] = []
    source = module.source.encode()

    def walk(node: Any, inside: bool) -> None:
        if isinstance(node, dict):
            if "with_mods" in node and inside:
                for mod in node.get("with_mods") or []:
                    refr = mod.get("refr", {})
                    var = refr.get("Var") if isinstance(refr, dict) else None
                    if var and var.get("value") == "input":
                        span = _span_of(mod.get("r#as") or mod.get("as"))
                        if span:
                            texts.append(source[span[0] : span[1]].decode())
            for value in node.values():
                walk(value, inside)
        elif isinstance(node, list):
            for value in node:
                walk(value, inside)

    for rule in module.info.ast.get("rules", []):
        spec = rule.get("Spec") if isinstance(rule, dict) else None
        if not isinstance(spec, dict):
            continue
        head = spec.get("head", {})
        names = [h.get("refr", {}).get("Var", {}).get("value") for h in head.values()]
        if test_name in names:
            walk(spec.get("bodies"), True)
    return texts


def _span_of(node: Any) -> tuple[int, int] | None:
    """Smallest start / largest end of all spans under an expression node."""
    starts: list[int] = []
    ends: list[int] = []

    def walk(n: Any) -> None:
        if isinstance(n, dict):
            span = n.get("span")
            if isinstance(span, dict) and "start" in span:
                starts.append(int(span["start"]))
                ends.append(int(span["end"]))
            for v in n.values():
                walk(v)
        elif isinstance(n, list):
            for v in n:
                walk(v)

    walk(node)
    return (min(starts), max(ends)) if starts else None


def _tested_package(info: ModuleInfo, rule_packages: set[str]) -> str | None:
    if info.package.endswith("_test") and info.package[: -len("_test")] in rule_packages:
        return info.package[: -len("_test")]
    for imp in info.imports:
        target = imp.removeprefix("data.")
        if target in rule_packages:
            return target
    return None


def _actual_verdict(engine: Engine, module: Module, test: str, package: str) -> str | None:
    texts = _with_input_texts(module, test)
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
        for name, row in _test_rules(module):
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
