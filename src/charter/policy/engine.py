"""The Rego engine, behind one small interface.

Charter evaluates Rego with regorus (Microsoft's Rust Rego engine). Everything
that touches ``regorus`` lives here so that the evaluator can be swapped without
touching the rest of the code base.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import regorus

from charter.core.errors import EvaluationError, PolicyError

_LOCATION = re.compile(r"-->\s*(?P<file>[^:\n]+):(?P<line>\d+):(?P<col>\d+)")


def _clean(message: str) -> str:
    """Drop the Rust backtrace regorus appends when RUST_BACKTRACE is set."""
    text = message.split("Stack backtrace:", 1)[0].strip()
    return text


def describe_rego_error(exc: BaseException, fallback_file: str) -> str:
    """One line ``file:line:col: message`` from a regorus error."""
    text = _clean(str(exc))
    where = _LOCATION.search(text)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    reason = next((ln for ln in reversed(lines) if ln.startswith("error:")), None)
    reason_text = reason[len("error:") :].strip() if reason else (lines[-1] if lines else text)
    if where:
        return f"{where['file']}:{where['line']}:{where['col']}: {reason_text}"
    return f"{fallback_file}: {reason_text}"


@dataclass(frozen=True)
class ModuleInfo:
    """What Charter needs to know about a Rego module, read from its AST."""

    path: str
    package: str
    rule_names: frozenset[str]
    imports: tuple[str, ...] = ()
    ast: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


def walk_ast(node: Any) -> Iterator[dict[str, Any]]:
    """Every object node of a regorus AST export (``ModuleInfo.ast``), depth first."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk_ast(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk_ast(value)


def _ref_to_path(node: Any) -> list[str]:
    """Turn a regorus AST reference (Var / RefDot / RefBrack) into its path."""
    if not isinstance(node, dict):
        return []
    if "Var" in node:
        return [str(node["Var"]["value"])]
    if "RefDot" in node:
        inner = node["RefDot"]
        return [*_ref_to_path(inner["refr"]), str(inner["field"][1])]
    if "RefBrack" in node:
        inner = node["RefBrack"]
        index = inner.get("index", {})
        if isinstance(index, dict) and "String" in index:
            return [*_ref_to_path(inner["refr"]), str(index["String"]["value"])]
        return [*_ref_to_path(inner["refr"]), "[...]"]
    return []


def ref_path(node: Any) -> list[str]:
    """The path of a regorus AST reference (``input.kind`` → ``["input", "kind"]``);
    a non-string index is ``"[...]"``, anything that is not a reference ``[]``."""
    return _ref_to_path(node)


def _rule_head_name(rule: dict[str, Any]) -> str | None:
    spec = rule.get("Spec")
    if not isinstance(spec, dict):
        return None
    head = spec.get("head", {})
    for kind in ("Set", "Compr", "Func"):
        if kind in head:
            path = _ref_to_path(head[kind].get("refr"))
            return path[0] if path else None
    return None


#: What regorus raises for a Rego or data problem (a Rust ``Err`` surfaces as
#: RuntimeError, a value it cannot convert as ValueError). A Rust panic is
#: pyo3's PanicException, a BaseException: it is left to the caller, which must
#: drop the engine (see the runner's evaluator slots).
ENGINE_ERRORS = (RuntimeError, ValueError)


def parse_module(path: str, source: str) -> ModuleInfo:
    """Parse one Rego v1 module; raise :class:`PolicyError` with file:line:col."""
    probe = regorus.Engine()
    try:
        probe.add_policy(path, source)
        raw = json.loads(probe.get_ast_as_json())
    except ENGINE_ERRORS as exc:
        raise PolicyError(
            f"cannot parse Rego: {describe_rego_error(exc, path)}",
            hint="fix the syntax; Charter reads Rego v1 (`import rego.v1` style)",
        ) from exc
    ast = raw[0]["ast"]
    package = ".".join(_ref_to_path(ast["package"]["refr"]))
    names = {n for r in ast.get("rules", []) if (n := _rule_head_name(r))}
    imports = tuple(".".join(_ref_to_path(i.get("refr"))) for i in ast.get("imports", []))
    return ModuleInfo(
        path=path, package=package, rule_names=frozenset(names), imports=imports, ast=ast
    )


def parses_as_v0(source: str) -> bool:
    """Whether ``source`` parses as a Rego v0 module (for a clearer error than v1's)."""
    probe = regorus.Engine()
    try:
        probe.set_rego_v0(True)
        probe.add_policy("v0.rego", source)
    except ENGINE_ERRORS:
        return False
    return True


def _evaluation_error(what: str, exc: BaseException) -> EvaluationError:
    return EvaluationError(f"{what} failed: {describe_rego_error(exc, what)}")


class Engine:
    """A compiled set of Rego modules and data, ready to evaluate.

    Every error regorus reports comes out as a :class:`PolicyError` (loading)
    or an :class:`EvaluationError` (evaluating), never as a bare RuntimeError.
    """

    def __init__(self) -> None:
        self._engine = regorus.Engine()

    def add_module(self, path: str, source: str) -> str:
        """Add a module; return its package (``data.`` prefixed, as regorus does)."""
        try:
            return str(self._engine.add_policy(path, source))
        except ENGINE_ERRORS as exc:
            raise PolicyError(f"cannot load Rego: {describe_rego_error(exc, path)}") from exc

    def add_data(self, data: dict[str, Any]) -> None:
        try:
            self._engine.add_data_json(json.dumps(data))
        except ENGINE_ERRORS as exc:
            raise PolicyError(f"cannot load data: {_clean(str(exc))}") from exc

    def gather_prints(self, enabled: bool = True) -> None:
        """Keep ``print()`` output for :meth:`take_prints` (else it is dropped)."""
        self._engine.set_gather_prints(enabled)

    def take_prints(self) -> list[str]:
        """The ``print()`` lines gathered so far (``file:line: message``), emptied."""
        try:
            return [str(x) for x in self._engine.take_prints()]
        except ENGINE_ERRORS:
            return []

    def enable_coverage(self, enabled: bool = True) -> None:
        self._engine.set_enable_coverage(enabled)

    def clear_coverage(self) -> None:
        self._engine.clear_coverage_data()

    def coverage(self) -> dict[str, Any]:
        try:
            result: dict[str, Any] = json.loads(self._engine.get_coverage_report_as_json())
        except ENGINE_ERRORS as exc:
            raise _evaluation_error("the coverage report", exc) from exc
        return result

    def packages(self) -> list[str]:
        return [str(p) for p in self._engine.get_packages()]

    def clone(self) -> Engine:
        twin = Engine.__new__(Engine)
        twin._engine = self._engine.clone()
        return twin

    def set_input(self, document: Any) -> None:
        try:
            self.set_input_text(json.dumps(document, allow_nan=False))
        except (TypeError, ValueError) as exc:
            raise EvaluationError(f"input is not a JSON document ({exc})") from exc

    def set_input_value(self, document: Any) -> None:
        """Set the input from Python values (the binding converts them without JSON text).

        The caller has already proven ``document`` is JSON (it serialised it
        canonically): regorus reads the same values as it would from that text.
        """
        try:
            self._engine.set_input(document)
        except (*ENGINE_ERRORS, TypeError) as exc:
            raise EvaluationError(f"input is not a JSON document: {_clean(str(exc))}") from exc

    def set_input_text(self, text: str) -> None:
        """Set the input from JSON text the caller already serialised."""
        try:
            self._engine.set_input_json(text)
        except ENGINE_ERRORS as exc:
            raise EvaluationError(f"input is not valid JSON: {_clean(str(exc))}") from exc

    def eval_rule(self, rule: str, document: Any | None = None) -> Any:
        """Evaluate ``rule`` (e.g. ``data.pkg.deny``); ``None`` when undefined."""
        if document is not None:
            self.set_input(document)
        try:
            raw = self._engine.eval_rule_as_json(rule)
            # Most deny/ask sets are empty for a given input; skip the JSON parser then.
            return [] if raw == "[]" else json.loads(raw)
        except ENGINE_ERRORS as exc:
            raise _evaluation_error(f"evaluating {rule}", exc) from exc

    def eval_query(self, query: str, document: Any | None = None) -> list[Any]:
        """Evaluate a query; return the value of its first expression per result."""
        if document is not None:
            self.set_input(document)
        try:
            raw = json.loads(self._engine.eval_query_as_json(query))
            return [r["expressions"][0]["value"] for r in raw.get("result", [])]
        except ENGINE_ERRORS as exc:
            raise _evaluation_error(f"evaluating {query}", exc) from exc
