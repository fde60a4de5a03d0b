"""Which ``deny``/``ask`` sets can contribute for which input, proven from the Rego AST.

A decision evaluates every contributed set (one ``eval_rule`` each, a few
microseconds even when the set is empty). Many rules apply to one kind of
proposal only — ``input.kind == "push"`` — or to one kind of author only —
``input.author.type == "agent"`` — and a set none of whose definitions can
succeed for this input need not be evaluated: its value is the empty set.
Charter proves that from the modules' syntax trees, never from metadata a
bundle declares: a set ``data.P.R`` (``R`` is ``deny`` or ``ask``) is
*guarded* by what the values at paths ``F`` below ``input`` must be when

* every rule of the whole stack whose path (package and head, up to a variable
  index) lies above, at or below ``data.P.R`` is a partial set rule
  ``R contains … if { … }`` of a module of package ``P`` (so no ref head from
  another package, no rule of a parent package named after ``P``'s segment, no
  package ``P.R.…``, no ``default R``, no complete rule ``R := …``), and the
  stack's data holds nothing at ``P``;
* every body of every such rule (and there is at least one) is not an ``else``
  and its **first** statement, without ``with`` and without ``not``, is one of
  (``F`` a static path of member names below ``input``: ``kind``,
  ``author.type``, ``context.facts``; no variable index)

  - ``input.F == v`` (either side), ``v`` a string, ``true``, ``false``,
    ``null``, ``[]`` or ``{}`` literal: it admits the value ``v`` at ``F``;
  - ``input.F in {"v", …}`` / ``[…]`` of string literals: it admits those strings;
  - ``input.F != v``: it admits every value at ``F`` but ``v`` (never no value);
  - ``x := input.F`` (a variable on the left): it admits any value at ``F``.

  The set's guard is what its bodies' first statements admit, together: the
  strings united when every body tests the same path the same way (a
  :class:`Guard`), else any of the bodies' guards (an :class:`AnyOf`);
* ``input`` is the input document there: the module has no aliased import and
  no body binds a variable named ``input`` (``some``, ``every``, ``:=``, ``=``).

Then, when no body's guard admits the input (the input has no value at ``F``:
a member is missing, a step is not an object, so the reference is undefined; or
its value is not one the statement admits: :func:`admits`), every body fails at
its first statement: regorus evaluates a body's statements in order and stops at
the first that fails, so nothing after it can raise an error either (an error
would have made the decision ``deny``; ``tests/test_guards.py`` pins that order,
and that none of these statements raises an error on any value at ``F``). The
set is empty, and skipping its evaluation changes no decision. Values compare
as in Rego: ``true`` is not ``1``, ``null`` is only ``null``, ``[]`` is not ``{}``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from enum import Enum
from typing import Any, NamedTuple

from charter.policy.engine import ModuleInfo, ref_path, walk_ast

#: The sets a decision evaluates.
SET_NAMES = ("deny", "ask")
_BINDERS = {"SomeVars": ("vars",), "SomeIn": ("key", "value"), "Every": ("key", "value")}


def _strings(node: Any) -> frozenset[str] | None:
    """The string literals of a set or array literal of string literals only."""
    if not isinstance(node, dict):
        return None
    items = node.get("Set", node.get("Array"))
    if not isinstance(items, dict) or not isinstance(items.get("items"), list):
        return None
    values: list[str] = []
    for item in items["items"]:
        if not (isinstance(item, dict) and isinstance(item.get("String"), dict)):
            return None
        values.append(str(item["String"]["value"]))
    return frozenset(values)


class Empty(Enum):
    """The empty array ``[]`` and the empty object ``{}`` as guard values."""

    ARRAY = "[]"
    OBJECT = "{}"


#: The literals a guard compares with: JSON strings, booleans, null, ``[]`` and ``{}``.
Scalar = str | bool | None | Empty
_NO_LITERAL = object()
_OTHER = object()  # the key of a value no literal equals (a number, a non-empty collection)


def _literal(node: Any) -> Any:
    """The value of a string, boolean, null, ``[]`` or ``{}`` literal, else ``_NO_LITERAL``."""
    if not isinstance(node, dict):
        return _NO_LITERAL
    if isinstance(node.get("String"), dict):
        return str(node["String"]["value"])
    if isinstance(node.get("Bool"), dict) and isinstance(node["Bool"].get("value"), bool):
        return bool(node["Bool"]["value"])
    if isinstance(node.get("Null"), dict):
        return None
    if isinstance(node.get("Array"), dict) and node["Array"].get("items") == []:
        return Empty.ARRAY
    if isinstance(node.get("Object"), dict) and node["Object"].get("fields") == []:
        return Empty.OBJECT
    return _NO_LITERAL


def _key(node: Any) -> Any:
    """What a JSON value is as a guard value: itself (a string, boolean or null),
    :class:`Empty` for an empty array or object, else a key no guard holds."""
    kind = type(node)
    if node is None or kind is str or kind is bool:
        return node
    if isinstance(node, str):  # a subclass (an enum's value): the engine reads the string
        return str(node)
    if kind is list or kind is tuple or isinstance(node, (list, tuple)):
        return _OTHER if node else Empty.ARRAY
    if kind is dict or isinstance(node, Mapping):
        return _OTHER if node else Empty.OBJECT
    return _OTHER


class Guard(NamedTuple):
    """What a body is guarded by: a path below ``input`` (``("kind",)``, ``("author", "type")``)
    and the values it must be one of (``excluded``: must exist and be none of; ``defined``:
    must exist) for the body to get past its first statement."""

    path: tuple[str, ...]
    values: frozenset[Scalar]
    excluded: bool = False
    defined: bool = False


class AnyOf(NamedTuple):
    """A set whose bodies are guarded on different paths or in different ways: it can
    contribute only when one of the guards admits the input."""

    guards: tuple[Guard, ...]


#: What a set is guarded by.
SetGuard = Guard | AnyOf


def _input_field(node: Any) -> tuple[str, ...] | None:
    """The static path below ``input`` a reference names (``input.author.type``), else None."""
    if not (isinstance(node, dict) and ("RefDot" in node or "RefBrack" in node)):
        return None
    path = ref_path(node)
    if len(path) < 2 or path[0] != "input" or "[...]" in path:
        return None
    return tuple(path[1:])


def statement_guard(statement: Any) -> Guard | None:
    """The guard of ``input.F == v``, ``input.F in {"v", …}``, ``input.F != v`` (``v`` a
    string, boolean, null, ``[]`` or ``{}`` literal) or ``x := input.F`` (``F`` a static
    path), else None."""
    if not isinstance(statement, dict) or statement.get("with_mods"):
        return None
    literal = statement.get("literal")
    expr = literal.get("Expr", {}).get("expr") if isinstance(literal, dict) else None
    if not isinstance(expr, dict):
        return None
    if "BoolExpr" in expr and expr["BoolExpr"].get("op") in ("Eq", "Ne"):
        lhs, rhs = expr["BoolExpr"].get("lhs"), expr["BoolExpr"].get("rhs")
        for ref, value in ((lhs, rhs), (rhs, lhs)):
            field = _input_field(ref)
            if field is not None and (scalar := _literal(value)) is not _NO_LITERAL:
                return Guard(field, frozenset((scalar,)), expr["BoolExpr"]["op"] == "Ne")
        return None
    assign = expr.get("AssignExpr")
    if isinstance(assign, dict) and assign.get("op") == "ColEq":
        lhs = assign.get("lhs")
        field = _input_field(assign.get("rhs"))
        if isinstance(lhs, dict) and isinstance(lhs.get("Var"), dict) and field is not None:
            return Guard(field, frozenset(), defined=True)
        return None
    if "Membership" in expr:
        member = expr["Membership"]
        field = _input_field(member.get("value"))
        if member.get("key") is None and field is not None:
            values = _strings(member.get("collection"))
            return None if values is None else Guard(field, values)
    return None


def admits(guard: SetGuard, document: Mapping[str, Any]) -> bool:
    """Whether ``document`` (the whole input) may get a guarded body past its first statement.

    False only when the value at the guard's path is surely not admitted: a missing
    member or a step through something that is not an object (the reference is
    undefined, so the statement fails), or a value that is not one of the guard's
    (with ``excluded``: that is one of them). For :class:`AnyOf`: when none of its
    guards admits the document.
    """
    if isinstance(guard, AnyOf):
        return any(_admits(g, document) for g in guard.guards)
    return _admits(guard, document)


def _admits(guard: Guard, document: Mapping[str, Any]) -> bool:
    node: Any = document
    for part in guard.path:
        # type() first: the ABC check alone costs more than the rest (JSON objects are dicts).
        if (type(node) is not dict and not isinstance(node, Mapping)) or part not in node:
            return False
        node = node[part]
    if guard.defined:
        return True
    # Rego's equality: a string equals a string, a boolean a boolean (true is not 1).
    listed = _key(node) in guard.values
    return listed != guard.excluded


def _binds_input(node: Any) -> bool:
    """Whether a body anywhere binds a variable named ``input`` (conservatively)."""
    for item in walk_ast(node):
        for kind, fields in _BINDERS.items():
            if isinstance(item.get(kind), dict) and any(
                _mentions_input(item[kind].get(f)) for f in fields
            ):
                return True
        assign = item.get("AssignExpr")
        if isinstance(assign, dict) and _mentions_input(assign.get("lhs")):
            return True
    return False


def _mentions_input(node: Any) -> bool:
    return any(
        isinstance(n.get("Var"), dict) and n["Var"].get("value") == "input" for n in walk_ast(node)
    )


def _rule_name(rule: Mapping[str, Any]) -> tuple[list[str], str | None]:
    """The head path of a rule and its form (``Set``, ``Compr``, ``Func``, ``Default``)."""
    if isinstance(rule.get("Default"), dict):
        return ref_path(rule["Default"].get("refr")), "Default"
    spec = rule.get("Spec")
    head = spec.get("head") if isinstance(spec, dict) else None
    if isinstance(head, dict):
        for form in ("Set", "Compr", "Func"):
            if isinstance(head.get(form), dict):
                return ref_path(head[form].get("refr")), form
    return [], None


def _body_guard(body: Mapping[str, Any]) -> Guard | None:
    if body.get("is_else") or body.get("assign") is not None:
        return None
    query = body.get("query")
    statements = query.get("stmts") if isinstance(query, dict) else None
    if not isinstance(statements, list) or not statements:
        return None
    guard = statement_guard(statements[0])
    return None if guard is None or _binds_input(statements) else guard


def _set_guard(rules: Sequence[Mapping[str, Any]]) -> SetGuard | None:
    """The bodies' guard: their common one (admitted values united) when every body
    tests the same path the same way (``!=`` the same value), else any of theirs;
    None when any body is unguarded."""
    if not rules:
        return None
    guards: list[Guard] = []
    for rule in rules:
        spec = rule.get("Spec")
        bodies = spec.get("bodies") if isinstance(spec, dict) else None
        if not isinstance(bodies, list) or not bodies:
            return None
        for body in bodies:
            found = _body_guard(body) if isinstance(body, dict) else None
            if found is None:
                return None
            guards.append(found)
    first = guards[0]
    if all(g.path == first.path and g[2:] == first[2:] for g in guards):
        if first.defined or not first.excluded:
            return first._replace(values=frozenset().union(*(g.values for g in guards)))
        if all(g.values == first.values for g in guards):
            return first
    return AnyOf(tuple(dict.fromkeys(guards)))


def _data_at(data: Mapping[str, Any], package: str) -> bool:
    node: Any = data
    for part in package.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True


def _static_path(package: str, head: list[str]) -> tuple[str, ...]:
    """The part of ``data`` a rule may define: its package and head up to a variable index."""
    cut = head.index("[...]") if "[...]" in head else len(head)
    return (*package.split("."), *head[:cut])


_Entry = tuple[str, list[str], str | None]


class _PathIndex:
    """The named rules by static path, to find those above, at or below a path in O(depth)."""

    def __init__(self, statics: Iterable[tuple[tuple[str, ...], _Entry]]) -> None:
        self._at: dict[tuple[str, ...], list[_Entry]] = {}
        self._under: dict[tuple[str, ...], list[_Entry]] = {}
        for path, entry in statics:
            self._at.setdefault(path, []).append(entry)
            for depth in range(1, len(path) + 1):
                self._under.setdefault(path[:depth], []).append(entry)

    def overlapping(self, target: tuple[str, ...]) -> Iterator[_Entry]:
        """Every rule whose path is a prefix of ``target`` or has ``target`` as a prefix
        (the rules at ``target`` itself once)."""
        for depth in range(1, len(target)):
            yield from self._at.get(target[:depth], ())
        yield from self._under.get(target, ())


def input_guards(modules: Iterable[ModuleInfo], data: Mapping[str, Any]) -> dict[str, SetGuard]:
    """``data.P.R`` → its guard, for every set proven guarded (see the module's docstring)."""
    infos = list(modules)
    if any(_aliased(i) for i in infos):
        return {}
    named: list[tuple[str, Mapping[str, Any], list[str], str | None]] = []
    for info in infos:
        for rule in info.ast.get("rules", []):
            head, form = _rule_name(rule)
            if not head:
                return {}  # a rule Charter cannot name may define any set
            named.append((info.package, rule, head, form))
    index = _PathIndex(
        (_static_path(package, head), (package, head, form)) for package, _, head, form in named
    )
    found: dict[str, SetGuard] = {}
    for package in sorted({info.package for info in infos}):
        if _data_at(data, package):
            continue
        for name in SET_NAMES:
            target = (*package.split("."), name)
            # Every rule whose path lies above, at or below the set must be one of its
            # guarded definitions: a ref head, a parent package's rule or a package
            # P.R.… may define it, part of it or a path above it.
            if any(
                not (pkg == package and head == [name] and form == "Set")
                for pkg, head, form in index.overlapping(target)
            ):
                continue
            defining = [
                rule for pkg, rule, head, form in named if pkg == package and head == [name]
            ]
            guard = _set_guard(defining)
            if guard is not None:
                found[f"data.{package}.{name}"] = guard
    return found


def kind_guards(
    modules: Iterable[ModuleInfo], data: Mapping[str, Any]
) -> dict[str, frozenset[str]]:
    """``data.P.R`` → the kinds it can contribute for, for every set guarded on ``input.kind``."""
    return kinds_by_set(input_guards(modules, data))


def kinds_by_set(guards: Mapping[str, SetGuard]) -> dict[str, frozenset[str]]:
    """Of proven ``guards``, the sets guarded on ``input.kind``, with their kinds."""
    return {
        name: kinds for name, guard in guards.items() if (kinds := guarded_kinds(guard)) is not None
    }


def guarded_kinds(guard: SetGuard) -> frozenset[str] | None:
    """The kinds a set guarded on ``input.kind`` equal to strings can contribute for."""
    if not isinstance(guard, Guard) or guard.path != ("kind",):
        return None
    if guard.excluded or guard.defined or not all(isinstance(v, str) for v in guard.values):
        return None
    return frozenset(str(v) for v in guard.values)


def _aliased(info: ModuleInfo) -> bool:
    return any(isinstance(i, dict) and i.get("as") is not None for i in info.ast.get("imports", []))
