"""Where a rule's value flows, read from regorus's AST (never from names or text).

Two questions are answered here:

* **Which rules have an effect?** Only ``deny`` and ``ask`` entries count in a
  Charter decision, so a rule has an effect exactly when its value flows into a
  ``deny``/``ask`` rule of the bundle — directly or through other rules, in the
  same package or another one — or when it is an OPA entrypoint (a
  ``# METADATA`` block with ``entrypoint: true``). The linter's L012 warns about
  every other rule, whatever its name: a helper called ``exception`` that feeds
  ``deny`` is fine, an ``allow`` that feeds nothing is dead weight.
* **What does a rule file depend on?** ``charter rule sign`` signs the rule's
  module together with every module and ``data.json`` of its bundle that the
  module reads (imports and ``data.…`` references, transitively), and reports
  the references it cannot sign because they belong to another layer.

A reference is a static path (``data.a.b["c"]`` → ``data/a/b/c``); a dynamic
index keeps its static prefix, which reaches everything under it (an
over-approximation: it can only hide a warning or add a file, never drop one).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from charter.core.errors import CharterError, PolicyError
from charter.policy.bundle import Module, data_paths
from charter.policy.engine import ModuleInfo
from charter.policy.rules import metadata_blocks

#: Rules whose entries count in a decision.
EFFECT_RULES = frozenset({"deny", "ask"})

Path_ = tuple[str, ...]


def ref_path(node: Any) -> list[str] | None:
    """A reference's static path (``data.a.b["c"]`` → [data, a, b, c]); None if not one.

    A dynamic index ends the path: its static prefix is what can be judged.
    """
    if not isinstance(node, dict):
        return None
    if "Var" in node:
        return [str(node["Var"]["value"])]
    if "RefDot" in node:
        inner = node["RefDot"]
        base = ref_path(inner["refr"])
        return [*base, str(inner["field"][1])] if base is not None else None
    if "RefBrack" in node:
        inner = node["RefBrack"]
        base = ref_path(inner["refr"])
        index = inner.get("index")
        if base is not None and isinstance(index, dict) and "String" in index:
            return [*base, str(index["String"]["value"])]
        return base
    return None


def import_aliases(info: ModuleInfo, source: str) -> dict[str, list[str]]:
    """Local name → full path for every ``import`` of a module."""
    aliases: dict[str, list[str]] = {}
    raw = source.encode()
    for imp in info.ast.get("imports", []):
        path = ref_path(imp.get("refr"))
        if not path:
            continue
        alias = imp.get("as") or imp.get("r#as")
        if isinstance(alias, dict) and "start" in alias:
            name = raw[int(alias["start"]) : int(alias["end"])].decode()
        else:
            name = path[-1]
        aliases[name] = path
    return aliases


def resolve(path: list[str], aliases: Mapping[str, list[str]]) -> list[str]:
    """``path`` with an imported name at its start replaced by the import's path."""
    if path and path[0] in aliases and path[0] not in ("data", "input"):
        return [*aliases[path[0]], *path[1:]]
    return path


def span_line(node: Any) -> int | None:
    """The first source line named anywhere in an AST node (None if none)."""
    if isinstance(node, dict):
        span = node.get("span")
        if isinstance(span, dict) and "line" in span:
            return int(span["line"])
        for value in node.values():
            line = span_line(value)
            if line is not None:
                return line
    elif isinstance(node, list):
        for value in node:
            line = span_line(value)
            if line is not None:
                return line
    return None


def rule_head(rule: Any) -> tuple[str, str, int] | None:
    """(kind, name, line) of a rule head: kind is Set, Compr or Func."""
    spec = rule.get("Spec") if isinstance(rule, dict) else None
    if not isinstance(spec, dict):
        return None
    head = spec.get("head", {})
    for kind in ("Set", "Compr", "Func"):
        if kind in head:
            path = ref_path(head[kind].get("refr")) or []
            if path:
                return kind, path[0], span_line(head[kind]) or 1
    return None


def rule_name(rule: Any) -> tuple[str, int] | None:
    """(name, head line) of a rule of a module's AST."""
    head = rule_head(rule)
    return (head[1], head[2]) if head else None


def _maximal_refs(node: Any) -> Iterable[dict[str, Any]]:
    """Every reference node that is not itself the base of a longer reference."""
    if isinstance(node, list):
        for item in node:
            yield from _maximal_refs(item)
        return
    if not isinstance(node, dict):
        return
    if "Var" in node or "RefDot" in node or "RefBrack" in node:
        yield node
        inner = node.get("RefDot") or node.get("RefBrack")
        if isinstance(inner, dict):
            # the base (refr) is part of this reference; an index is its own expression
            yield from _maximal_refs(inner.get("index"))
            if ref_path(inner.get("refr")) is None:
                # not a path (a call's result: `f(x).field`): what it reads is inside
                yield from _maximal_refs(inner.get("refr"))
        return
    for value in node.values():
        yield from _maximal_refs(value)


def references(node: Any, info: ModuleInfo, source: str, local: frozenset[str]) -> set[Path_]:
    """The ``data`` paths a piece of AST reads (a bare name of ``local`` is a rule
    of the module's own package)."""
    aliases = import_aliases(info, source)
    package = ("data", *info.package.split("."))
    found: set[Path_] = set()
    for ref in _maximal_refs(node):
        path = ref_path(ref)
        if not path:
            continue
        full = resolve(path, aliases)
        if full[0] == "data" and len(full) > 1:
            found.add(tuple(full))
        elif full[0] in local and full[0] not in aliases:
            found.add((*package, *full))
    return found


def _overlaps(a: Path_, b: Path_) -> bool:
    n = min(len(a), len(b))
    return a[:n] == b[:n]


# ------------------------------------------------------------------ rules with no effect


@dataclass(frozen=True)
class DeadRule:
    """A rule whose value flows into no ``deny``/``ask`` rule and no entrypoint."""

    name: str
    package: str
    file: str
    line: int


def _entrypoint_lines(module: Module) -> set[int]:
    """Head lines of rules that a ``# METADATA`` block marks ``entrypoint: true``."""
    try:
        blocks = metadata_blocks(module.path, module.source)
    except PolicyError:
        return set()
    heads = sorted(h[1] for rule in module.info.ast.get("rules", []) if (h := rule_name(rule)))
    found: set[int] = set()
    for block in blocks:
        if block.data.get("entrypoint") is True:
            following = [line for line in heads if line > block.line]
            if following:
                found.add(following[0])
    return found


def dead_rules(modules: Sequence[Module]) -> list[DeadRule]:
    """Rules of the policy ``modules`` whose value flows nowhere that counts.

    ``modules`` are one bundle's policy modules (tests are not effects, and
    ``test_*`` rules are tests wherever they are). A rule is live when it is
    ``deny``/``ask``, an entrypoint, or read (transitively) by a live rule.
    """
    local: dict[str, set[str]] = {}
    for module in modules:
        local.setdefault(module.info.package, set()).update(module.info.rule_names)
    nodes: dict[Path_, list[tuple[DeadRule, set[Path_]]]] = {}
    roots: set[Path_] = set()
    for module in modules:
        names = frozenset(local[module.info.package])
        package = ("data", *module.info.package.split("."))
        entry = _entrypoint_lines(module)
        for rule in module.info.ast.get("rules", []):
            head = rule_name(rule)
            if head is None:
                continue
            name, line = head
            if name.startswith(("test_", "todo_test_")):
                continue  # a test (opa test runs it wherever it is), not a rule
            key = (*package, name)
            refs = references(rule, module.info, module.source, names)
            refs.discard(key)
            nodes.setdefault(key, []).append(
                (DeadRule(name, module.info.package, module.path, line), refs)
            )
            if name in EFFECT_RULES or line in entry:
                roots.add(key)
    live: set[Path_] = set()
    todo = list(roots)
    while todo:
        key = todo.pop()
        if key in live:
            continue
        live.add(key)
        for _, refs in nodes.get(key, []):
            for ref in refs:
                todo.extend(k for k in nodes if k not in live and _overlaps(k, ref))
    dead = [rule for key, defs in nodes.items() if key not in live for rule, _ in defs]
    return sorted(dead, key=lambda r: (r.file, r.line))


# ------------------------------------------------------------------ what a rule file depends on


@dataclass(frozen=True)
class Dependencies:
    """What one rule module of a bundle reads.

    ``files`` are bundle-relative names (modules and ``data.json`` files of the
    same bundle, the rule's own module first); ``outside`` are the references
    that lie outside the bundle's roots (upper layers' rules and data, or
    nothing at all), which signing the bundle cannot cover.
    """

    files: tuple[str, ...]
    outside: tuple[str, ...]


def _data_files(files: Mapping[str, bytes]) -> dict[str, list[Path_]]:
    """Bundle-relative data.json name → the data paths it defines."""
    found: dict[str, list[Path_]] = {}
    for name, raw in files.items():
        if name.rsplit("/", 1)[-1] != "data.json":
            continue
        try:
            value = json.loads(raw)
        except ValueError:
            continue
        prefix = [p for p in name.split("/")[:-1] if p]
        paths = data_paths(value, prefix) if isinstance(value, dict) else []
        found[name] = [("data", *p.split("/")) for p in paths] or [("data", *prefix)]
    return found


def dependencies(
    rel: str, modules: Mapping[str, Module], files: Mapping[str, bytes], roots: Sequence[str]
) -> Dependencies:
    """The bundle files the module ``rel`` reads, transitively (see :class:`Dependencies`).

    ``modules`` maps bundle-relative names to the bundle's parsed modules and
    ``files`` holds every file of the bundle; ``roots`` are its manifest roots.
    """
    if rel not in modules:
        raise CharterError(f"{rel} is not a module of the bundle")
    policy = {n: m for n, m in modules.items() if not m.is_test}
    packages = {n: ("data", *m.info.package.split(".")) for n, m in policy.items()}
    data = _data_files(files)
    root_paths = [("data", *r.split("/")) for r in roots if r]
    wanted: list[str] = [rel]
    outside: set[str] = set()
    todo = [rel]
    while todo:
        module = modules[todo.pop()]
        refs = references(module.info.ast, module.info, module.source, module.info.rule_names)
        for ref in sorted(refs):
            hits = [n for n, pkg in packages.items() if _overlaps(pkg, ref)]
            hits += [n for n, paths in data.items() if any(_overlaps(p, ref) for p in paths)]
            for name in hits:
                if name not in wanted:
                    wanted.append(name)
                    if name in modules:
                        todo.append(name)
            if not any(ref[: len(r)] == r or r[: len(ref)] == ref for r in root_paths):
                outside.add(".".join(ref))
    return Dependencies(tuple(wanted), tuple(sorted(outside)))


__all__ = [
    "EFFECT_RULES",
    "DeadRule",
    "Dependencies",
    "dead_rules",
    "dependencies",
    "import_aliases",
    "ref_path",
    "references",
    "resolve",
    "rule_head",
    "rule_name",
    "span_line",
]
