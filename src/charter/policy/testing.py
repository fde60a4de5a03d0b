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

OPA compatibility
-----------------
As ``opa test`` does, every ``test_*`` rule of every module of the tested
bundles is a test (not only those of ``*_test.rego`` files); a ``todo_test_*``
rule is reported as SKIPPED and never evaluated; ``print()`` output produced
while a test runs is attached to that test; a test that raises is an ERROR. A
module that does not parse (a Rego v0 module, say) is one ERROR result at its
file and line, and the other tests still run (:func:`load_for_tests`).

Coverage and attribution
------------------------
:func:`run_layer_tests` with ``coverage=True`` records which lines each test
evaluated (regorus's coverage, one report per test) and
:func:`coverage_report` merges them into ``opa test --coverage --format json``'s
shape. :func:`attribute` decides, by running, which tests exercise which rule:

* a test **exercises** rule R when running it (the test rule itself, with
  coverage on) evaluated a line of one of R's ``deny``/``ask`` bodies: a test
  that only looks at another package never counts for R, whatever its input;
* a **firing** test of R exercises R and has a ``with input as …`` value under
  which R's package emits an entry whose ``rule`` is R's id;
* a **silent** test of R exercises R and has an input under which R emits
  nothing although the evaluation got past the first condition of one of R's
  bodies (a *near miss*: assignments such as ``msg := sprintf(…)`` and
  ``print`` calls are not conditions). An input that fails R's very first
  condition (``input.kind == "merge"`` for a push) says little about R, so it
  only counts for a body with a single condition.

"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from charter.core.errors import CharterError
from charter.policy.bundle import Layer, Module, layer_from_files, read_directory_files
from charter.policy.dataflow import import_aliases
from charter.policy.engine import Engine, ModuleInfo, parse_module, parses_as_v0, walk_ast
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
    skipped: bool = False
    #: ``print()`` output produced while the test ran, in order.
    output: tuple[str, ...] = ()
    #: Why a failing test failed when no verdict was measured ("evaluated to false").
    reason: str | None = None
    #: Lines the test evaluated, per module path (only with coverage).
    covered: dict[str, frozenset[int]] | None = field(default=None, compare=False, repr=False)

    @property
    def qualified(self) -> str:
        return f"data.{self.package}.{self.name}" if self.package else self.name

    @property
    def failed(self) -> bool:
        """Failed or raised (a skipped test neither passed nor failed)."""
        return not self.passed and not self.skipped

    @property
    def status(self) -> str:
        """``PASS``, ``FAIL``, ``ERROR`` or ``SKIPPED``, as ``opa test`` prints them."""
        if self.skipped:
            return "SKIPPED"
        if self.passed:
            return "PASS"
        return "ERROR" if self.error else "FAIL"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.qualified,
            "location": f"{self.file}:{self.row}",
            "status": self.status,
            "passed": self.passed,
            "skipped": self.skipped,
            "duration_ms": round(self.duration_s * 1000, 3),
            "error": self.error,
            "reason": self.reason,
            "expected": self.expected,
            "actual": self.actual,
            "output": list(self.output),
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
        return sum(r.failed for r in self.results)

    @property
    def skipped(self) -> int:
        return sum(r.skipped for r in self.results)

    @property
    def ok(self) -> bool:
        return bool(self.results) and self.failed == 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "failed": self.failed,
            "skipped": self.skipped,
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


def find_tests(module: Module, *, todo: bool = False) -> list[tuple[str, int]]:
    """(name, row) of every ``test_*`` rule (and ``todo_test_*`` with ``todo``), in
    source order, without duplicates."""
    prefixes = ("test_", "todo_test_") if todo else ("test_",)
    found: dict[str, int] = {}
    for rule in module.info.ast.get("rules", []):
        head = rule.get("Spec", {}).get("head", {}) if isinstance(rule, dict) else {}
        if "Func" in head:
            continue  # a function is never a test (as in opa test)
        var = _head_var(rule)
        if var and str(var["value"]).startswith(prefixes):
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


def _engine_for(stack_layers: Sequence[Layer], layer: Layer) -> tuple[Engine, set[str]]:
    """An engine with every policy module of ``stack_layers``, ``layer``'s tests and
    all data; and the packages that contribute deny/ask."""
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
    return engine, rule_packages


def _modules_with_tests(stack_layers: Sequence[Layer], layer: Layer) -> list[Module]:
    """``layer``'s test modules, and its policy modules loaded with ``stack_layers``
    (``test_*`` rules may sit in any module; a policy module of a layer that is
    not part of the stack, as when one release's tests run on another, is not
    loaded, so its inline tests cannot run)."""
    loaded = {m.path for item in stack_layers for m in item.policy_modules}
    return [m for m in layer.modules if m.is_test or m.path in loaded]


def _prints(engine: Engine, paths: Sequence[str]) -> tuple[str, ...]:
    """``print()`` output gathered since the last call, without regorus's
    ``file:line:`` prefix (``opa test`` shows the message alone)."""
    lines: list[str] = []
    for line in engine.take_prints():
        for path in paths:
            head = f"{path}:"
            if line.startswith(head):
                _, _, rest = line[len(head) :].partition(": ")
                line = rest
                break
        lines.append(line)
    return tuple(lines)


def _lines_by_file(report: Mapping[str, Any], wanted: set[str] | None) -> dict[str, frozenset[int]]:
    return {
        str(f["path"]): frozenset(int(x) for x in f.get("covered", []))
        for f in report.get("files", [])
        if wanted is None or f.get("path") in wanted
    }


def _reason(value: Any) -> str:
    if value is None or value == "<undefined>":
        return "the test is undefined: a condition in its body does not hold"
    return f"the test evaluated to {json.dumps(value)[:80]}, not true"


def run_layer_tests(
    stack_layers: Sequence[Layer],
    layer: Layer,
    *,
    match: str | None = None,
    coverage: bool = False,
) -> list[TestResult]:
    """Run one layer's tests against the policy modules of ``stack_layers``.

    Every ``test_*`` rule of every module of ``layer`` runs (``todo_test_*`` is
    SKIPPED); with ``coverage`` each result carries the lines it evaluated.
    """
    engine, rule_packages = _engine_for(stack_layers, layer)
    engine.gather_prints(True)
    if coverage:
        engine.enable_coverage(True)
    paths = [m.path for item in stack_layers for m in item.modules] + [
        m.path for m in layer.test_modules
    ]
    files = {m.path for m in layer.modules}
    results: list[TestResult] = []
    for module in _modules_with_tests(stack_layers, layer):
        for name, row in find_tests(module, todo=True):
            qualified = f"data.{module.info.package}.{name}"
            if match and not re.search(match, qualified):
                continue
            base = TestResult(
                name=name,
                package=module.info.package,
                file=module.path,
                row=row,
                passed=False,
                duration_s=0.0,
            )
            if name.startswith("todo_"):
                results.append(replace(base, skipped=True))
                continue
            if coverage:
                engine.clear_coverage()
            start = time.perf_counter()
            error: str | None = None
            try:
                value = engine.eval_rule(qualified)
            except CharterError as exc:
                value, error = None, str(exc)
            elapsed = time.perf_counter() - start
            output = _prints(engine, paths)
            covered = _lines_by_file(engine.coverage(), files) if coverage else None
            passed = value is True
            expected = actual = reason = None
            if not passed and error is None:
                package = _tested_package(module.info, rule_packages)
                expected = expected_verdict(name)
                if package is not None:
                    actual = _actual_verdict(engine, module, name, package)
                if actual is None:
                    reason = _reason(value)
            results.append(
                replace(
                    base,
                    passed=passed,
                    duration_s=elapsed,
                    error=error,
                    expected=expected,
                    actual=actual,
                    output=output,
                    reason=reason,
                    covered=covered,
                )
            )
    return results


def run_tests(
    stack: Stack,
    layers: Sequence[Layer] | None = None,
    *,
    match: str | None = None,
    coverage: bool = False,
) -> TestReport:
    """Run the tests of ``layers`` (default: every layer of ``stack``)."""
    targets = list(layers) if layers is not None else list(stack.layers)
    results: list[TestResult] = []
    for layer in targets:
        results.extend(run_layer_tests(stack.layers, layer, match=match, coverage=coverage))
    return TestReport(results=tuple(results))


# ------------------------------------------------------------------ modules that do not parse


def parse_failure(where: str, message: str) -> TestResult:
    """An ERROR result for a module that cannot be loaded, at its file and line."""
    found = re.match(
        r"^(?:cannot parse Rego: )?(?P<file>.+?):(?P<line>\d+):(?P<col>\d+): ", message
    )
    row = int(found["line"]) if found else 1
    return TestResult(
        name=f"{where} (module)",
        package="",
        file=where,
        row=row,
        passed=False,
        duration_s=0.0,
        error=message,
    )


def v0_hint(source: str) -> str:
    """A sentence to add to a parse error when ``source`` is Rego v0 ('' otherwise)."""
    if parses_as_v0(source):
        return (
            " — this module is Rego v0 syntax; Charter reads Rego v1 (add `if` before rule "
            "bodies and `contains` to partial set rules, as `opa fmt --v0-v1` does)"
        )
    return ""


def load_for_tests(directory: str | Path) -> tuple[Layer, list[TestResult]]:
    """Load a bundle directory for testing, setting aside modules that do not parse.

    Each such module becomes one ERROR result (file, line, and whether it is
    Rego v0) instead of aborting the run; the rest of the bundle is tested.
    """
    path = Path(directory)
    files = read_directory_files(path)
    errors: list[TestResult] = []
    kept: dict[str, bytes] = {}
    for name, raw in files.items():
        if name.endswith(".rego"):
            where = f"{path}/{name}"
            try:
                text = raw.decode("utf-8")
                parse_module(where, text)
            except UnicodeDecodeError:
                errors.append(parse_failure(where, f"{where}: Rego modules must be UTF-8"))
                continue
            except CharterError as exc:
                errors.append(parse_failure(where, exc.message + v0_hint(text)))
                continue
        kept[name] = raw
    return layer_from_files(kept, source=str(path)), errors


# ------------------------------------------------------------------ coverage


def coverage_report(results: Sequence[TestResult], layers: Sequence[Layer]) -> dict[str, Any]:
    """Line coverage of ``layers``' modules over ``results``, shaped like
    ``opa test --coverage --format json``: ``files`` → covered / not_covered
    row ranges, line counts and a percentage, then the totals."""
    lines: dict[str, frozenset[int]] = {}
    for module in (m for layer in layers for m in layer.modules):
        rows = frozenset(coverable_lines(module))
        if rows:
            lines[module.path] = frozenset(rows)
    covered: dict[str, set[int]] = {path: set() for path in lines}
    for result in results:
        for path, rows in (result.covered or {}).items():
            if path in covered:
                covered[path] |= rows & lines[path]
    files: dict[str, Any] = {}
    total_covered = total_missing = 0
    for path in sorted(lines):
        hit = sorted(covered[path])
        missing = sorted(lines[path] - covered[path])
        total_covered += len(hit)
        total_missing += len(missing)
        files[path] = {
            "covered": _ranges(hit),
            "not_covered": _ranges(missing),
            "covered_lines": len(hit),
            "not_covered_lines": len(missing),
            "coverage": _percent(len(hit), len(missing)),
        }
    return {
        "files": files,
        "covered_lines": total_covered,
        "not_covered_lines": total_missing,
        "coverage": _percent(total_covered, total_missing),
    }


def _percent(hit: int, missing: int) -> float:
    return round(100.0 * hit / (hit + missing), 2) if hit + missing else 100.0


def _ranges(rows: Sequence[int]) -> list[dict[str, dict[str, int]]]:
    out: list[dict[str, dict[str, int]]] = []
    for row in rows:
        if out and out[-1]["end"]["row"] == row - 1:
            out[-1]["end"]["row"] = row
        else:
            out.append({"start": {"row": row}, "end": {"row": row}})
    return out


def _statement_line(stmt: Any) -> int | None:
    span = stmt.get("span") if isinstance(stmt, dict) else None
    return int(span["line"]) if isinstance(span, dict) and "line" in span else None


def _bodies(rule: Any) -> list[list[Any]]:
    spec = rule.get("Spec") if isinstance(rule, dict) else None
    bodies = spec.get("bodies", []) if isinstance(spec, dict) else []
    return [
        list(b.get("query", {}).get("stmts", []))
        for b in bodies
        if isinstance(b, dict) and isinstance(b.get("query"), dict)
    ]


def coverable_lines(module: Module) -> set[int]:
    """Lines coverage can mark in ``module``: every statement of every rule body
    (rule heads and their one-line bodies included); tests' own lines are left out."""
    rows: set[int] = set()
    for rule in module.info.ast.get("rules", []):
        var = _head_var(rule)
        if var is not None and str(var["value"]).startswith(("test_", "todo_test_")):
            continue
        for stmts in _bodies(rule):
            rows.update(r for st in stmts if (r := _statement_line(st)) is not None)
    return rows


# ------------------------------------------------------------------ attribution


def _is_condition(stmt: Any) -> bool:
    """A body statement that can fail: not ``x := …`` and not ``print(…)``."""
    literal = stmt.get("literal", {}) if isinstance(stmt, dict) else {}
    expr = literal.get("Expr", {}).get("expr", {}) if isinstance(literal, dict) else {}
    if not isinstance(expr, dict):
        return True
    assign = expr.get("AssignExpr")
    if isinstance(assign, dict) and assign.get("op") == "ColEq":
        return False
    call = expr.get("Call")
    if isinstance(call, dict):
        fcn = call.get("fcn", {})
        if isinstance(fcn, dict) and fcn.get("Var", {}).get("value") == "print":
            return False
    return True


def _head_rule_id(rule: Any) -> str | None:
    """The literal ``rule`` field of a deny/ask entry in the rule head, if any."""
    spec = rule.get("Spec") if isinstance(rule, dict) else None
    key = spec.get("head", {}).get("Set", {}).get("key") if isinstance(spec, dict) else None
    fields = key.get("Object", {}).get("fields", []) if isinstance(key, dict) else []
    for item in fields:
        if len(item) == 3 and item[1].get("String", {}).get("value") == "rule":
            value = item[2].get("String", {}).get("value")
            return str(value) if value is not None else None
    return None


def _rule_bodies(module: Module, rule_id: str) -> list[list[Any]]:
    """The statements of each deny/ask body of ``rule_id`` in ``module`` (bodies
    naming another id in their head are left out)."""
    found: list[list[Any]] = []
    for rule in module.info.ast.get("rules", []):
        var = _head_var(rule)
        if var is None or var.get("value") not in ("deny", "ask"):
            continue
        named = _head_rule_id(rule)
        if named is None or named == rule_id:
            found.extend(_bodies(rule))
    return found


def body_lines(module: Module, rule_id: str) -> frozenset[int]:
    """Every statement line of the deny/ask bodies of ``rule_id``."""
    return frozenset(
        row
        for stmts in _rule_bodies(module, rule_id)
        for st in stmts
        if (row := _statement_line(st)) is not None
    )


def near_miss_lines(module: Module, rule_id: str) -> frozenset[int]:
    """Lines an input reaches only by meeting a body's first condition (for a body
    with one condition: that condition's line)."""
    rows: set[int] = set()
    for stmts in _rule_bodies(module, rule_id):
        conditions = [st for st in stmts if _is_condition(st)] or stmts
        later = conditions[1:] or conditions
        rows.update(r for st in later if (r := _statement_line(st)) is not None)
    return frozenset(rows)


@dataclass(frozen=True)
class FiringInput:
    """A test input under which a rule fired: where it is and its value (for L063)."""

    file: str
    row: int
    document: Any


@dataclass(frozen=True)
class RuleTests:
    """The tests that exercise one rule, as measured by :func:`attribute`."""

    rule: str
    package: str
    file: str
    firing: tuple[str, ...]
    silent: tuple[str, ...]
    #: Every test input under which the rule fired (``custom.applies_to`` is checked
    #: against them).
    firing_inputs: tuple[FiringInput, ...] = field(default=(), compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "package": self.package,
            "file": self.file,
            "firing_tests": list(self.firing),
            "silent_tests": list(self.silent),
        }


@dataclass(frozen=True)
class Unmeasured:
    """A test input that cannot be evaluated on its own (it counts toward no rule)."""

    file: str
    row: int
    test: str
    text: str


@dataclass(frozen=True)
class Attribution:
    rules: tuple[RuleTests, ...]
    unmeasured: tuple[Unmeasured, ...]


def _probe_source(module: Module, packages: Sequence[str], texts: Sequence[str]) -> str:
    """A module in the test's package: rule ``__charter_probe_<i>`` maps each
    package to the rule ids it emits under ``input`` = ``texts[i]``."""
    aliases = import_aliases(module.info, module.source)
    lines = [f"package {module.info.package}", "import rego.v1"]
    for name, path in aliases.items():
        if path != ["rego", "v1"]:
            suffix = f" as {name}" if path[-1] != name else ""
            lines.append(f"import {'.'.join(path)}{suffix}")
    per_package = ", ".join(
        f'"{pkg}": {{object.get(e, "rule", "") | some e in '
        f'object.get(data.{pkg}, "deny", set()) | object.get(data.{pkg}, "ask", set())}}'
        for pkg in packages
    )
    for i, text in enumerate(texts):
        lines.append(
            f"__charter_probe_{i} := result if {{\n"
            f"\tresult := {{{per_package}}} with input as {text}\n}}"
        )
        lines.append(f"__charter_input_{i} := doc if {{\n\tdoc := input with input as {text}\n}}")
    return "\n".join(lines) + "\n"


#: The rule ids each package emits, the lines evaluated, and the input's value.
_Outcome = tuple[dict[str, set[str]], dict[str, frozenset[int]], Any]


def _probe(
    engine: Engine,
    module: Module,
    packages: Sequence[str],
    texts: Sequence[str],
    files: set[str],
) -> list[_Outcome | None]:
    """Per input text: the rule ids each package emits and the lines of ``files``
    evaluated (None: the input cannot be evaluated on its own)."""

    def run(indices: Sequence[int]) -> list[_Outcome | None] | None:
        twin = engine.clone()
        twin.enable_coverage(True)
        try:
            twin.add_module(
                f"{module.path}#probe",
                _probe_source(module, packages, [texts[i] for i in indices]),
            )
            out: list[_Outcome | None] = []
            for k in range(len(indices)):
                twin.clear_coverage()
                value = twin.eval_rule(f"data.{module.info.package}.__charter_probe_{k}")
                if isinstance(value, dict):
                    ids = {str(p): {str(v) for v in got} for p, got in value.items()}
                    covered = _lines_by_file(twin.coverage(), files)
                    document = twin.eval_rule(f"data.{module.info.package}.__charter_input_{k}")
                    out.append((ids, covered, document))
                else:
                    out.append(None)
            return out
        except CharterError:
            return None

    together = run(range(len(texts)))
    if together is not None:
        return together
    results: list[_Outcome | None] = []
    for i in range(len(texts)):
        one = run([i])
        results.append(one[0] if one else None)
    return results


def attribute(
    stack_layers: Sequence[Layer],
    layer: Layer,
    rules: Mapping[str, tuple[str, str]],
    results: Sequence[TestResult] | None = None,
) -> Attribution:
    """Which of ``layer``'s tests fire and which stay silent for each rule, by running.

    ``rules`` maps a rule id to (package, module path); ``results`` are the
    layer's test results run with coverage (run here when not given). Each
    ``with input as …`` of each test is also evaluated on its own against every
    rule package (see the module docstring for what counts).
    """
    if results is None:
        results = run_layer_tests(stack_layers, layer, coverage=True)
    ran = {(r.file, r.name): r.covered or {} for r in results}
    engine, _ = _engine_for(stack_layers, layer)
    modules = {m.path: m for m in layer.policy_modules}
    lines = {
        rid: (body_lines(modules[path], rid), near_miss_lines(modules[path], rid))
        if path in modules
        else (frozenset(), frozenset())
        for rid, (_, path) in rules.items()
    }
    files = {path for _, path in rules.values()}
    firing: dict[str, list[str]] = {rid: [] for rid in rules}
    silent: dict[str, list[str]] = {rid: [] for rid in rules}
    inputs: dict[str, list[FiringInput]] = {rid: [] for rid in rules}
    unmeasured: list[Unmeasured] = []
    for module in _modules_with_tests(stack_layers, layer):
        cases = [
            (name, row, text)
            for name, row in find_tests(module)
            for text in with_input_texts(module, name)
        ]
        if not cases:
            continue
        # The packages this module's tests evaluated when they ran (by coverage).
        seen = {
            path
            for name, _, _ in cases
            for path, rows in ran.get((module.path, name), {}).items()
            if rows
        }
        tested = sorted({pkg for pkg, path in rules.values() if path in seen})
        if not tested:
            continue
        outcomes = _probe(engine, module, tested, [t for _, _, t in cases], files)
        for (name, row, text), outcome in zip(cases, outcomes, strict=True):
            label = f"data.{module.info.package}.{name}"
            if outcome is None:
                unmeasured.append(Unmeasured(module.path, row, label, text))
                continue
            ids, covered, document = outcome
            evaluated = ran.get((module.path, name), {})
            for rid, (package, path) in rules.items():
                body, near = lines[rid]
                if not body & evaluated.get(path, frozenset()):
                    continue  # the test never looked at this rule
                if rid in ids.get(package, set()):
                    target = firing[rid]
                    inputs[rid].append(FiringInput(module.path, row, document))
                elif near & covered.get(path, frozenset()):
                    target = silent[rid]
                else:
                    continue
                if label not in target:
                    target.append(label)
    return Attribution(
        rules=tuple(
            RuleTests(rid, pkg, path, tuple(firing[rid]), tuple(silent[rid]), tuple(inputs[rid]))
            for rid, (pkg, path) in sorted(rules.items())
        ),
        unmeasured=tuple(unmeasured),
    )
