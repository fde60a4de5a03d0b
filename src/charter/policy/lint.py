"""The policy linter: prove, before a bundle is built, that a lower layer only tightens.

``charter rule lint`` and ``charter bundle build`` run it on a bundle directory
or a waiver, against the layers above (see docs/design.md, 'Layers and the
ratchet'; constitution TOMLs have their own linter, :mod:`charter.actions.lint`). Every
finding has a stable code, a ``file:line`` location, an explanation and a fix
hint; any ``error`` finding fails the lint.

Codes
-----
==============  ===============================================================
CHARTER-L000    the bundle, a module or a document cannot be read or parsed
CHARTER-L001    a package lies outside the bundle's own roots
CHARTER-L002    a data path lies outside the bundle's own roots
CHARTER-L003    a root overlaps another layer's root (or Charter's reserved root)
CHARTER-L004    a rule ID is defined twice or redefines an upper layer's rule
CHARTER-L005    a package lies under an upper layer's root
CHARTER-L010    a policy module overrides another layer's data with ``with``
CHARTER-L011    a pack or overlay module reads Charter's reserved ``charter_internal`` namespace
CHARTER-L012    (warning) a rule whose value flows into no ``deny``/``ask`` rule: no effect
CHARTER-L013    ``deny``/``ask`` is not a partial set (``deny contains …``)
CHARTER-L014    an entry's ``rule`` field names a rule ID of an upper layer
CHARTER-L020    a parameter is set in its looser direction
CHARTER-L021    a lower layer re-declares an upper layer's parameter
CHARTER-L022    a lower layer sets an unknown parameter
CHARTER-L023    a parameter value has the wrong type or is not in its order
CHARTER-L024    the Environment Profile lists a tool the upper layer does not
CHARTER-L040    a waiver names a constitution rule (non-waivable)
CHARTER-L041    (warning) a waiver names a rule that is not in the stack
CHARTER-L042    (warning) a waiver has expired
CHARTER-L043    a waiver has no expiry, or one beyond ``max_waiver_days``
CHARTER-L050    rule metadata is missing or invalid (title, description, link or
                citation, id, severity, category, applies_to)
CHARTER-L051    a module contributes ``deny``/``ask`` but declares no rule id
CHARTER-L060    a rule lacks a test where it fires or one where it does not
CHARTER-L061    a test of the bundle fails
CHARTER-L062    (warning) a test's outcome for a rule could not be measured
CHARTER-L063    a rule fires in a test outside its ``custom.applies_to``
CHARTER-L070    an upper layer's own test fails against the composed stack
==============  ===============================================================

Composition (L010–L014) is decided on regorus's AST, never on Rego text. A lower
module *may* read upper data (``data.charter.constitution…``) and ``input``;
it may not override another layer's data with ``with`` outside tests, since
that is an attempt to re-evaluate an upper rule under different facts. A rule
whose value flows into no ``deny``/``ask`` rule of the bundle (data flow over
the AST, :mod:`charter.policy.dataflow`; names play no part) is warned about
(L012): only ``deny`` and ``ask`` entries count, so an ``allow`` or
``exception`` rule that feeds nothing cannot lower any verdict.
An entry object whose ``rule`` is an upper layer's rule ID (a string literal,
or a variable or constant bound to one) impersonates that rule (L014); at
runtime such an entry still counts and is attributed to the layer that emitted
it (:mod:`charter.policy.decision`), so it can mislead readers but never lower a verdict.

Test coverage (L060) is measured by running (:func:`charter.policy.testing.attribute`):
each ``with input as …`` of each test is evaluated against the rule's package;
the rule is covered once a test that evaluates it has an input that makes it
emit an entry with its id, and one has an input that gets past its first
condition and still leaves it silent (tests that never evaluate it, or whose
input fails its first condition, do not count). A
test whose ``with input as …`` value cannot be evaluated on its own (it uses a
variable bound inside the test, say) is reported as L062: it still runs, but it
counts toward no rule's coverage.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from charter.core import findings as findings_mod
from charter.core import jsonio
from charter.core.errors import CharterError, PolicyError, Rejected
from charter.core.findings import Finding, LintReport, Severity
from charter.policy import waivers
from charter.policy.applies import EVERYTHING, changed_paths, parse_applies_to
from charter.policy.build import BuildContext, bundle_root
from charter.policy.bundle import (
    MANIFEST,
    SIGNATURES,
    Layer,
    Manifest,
    Module,
    data_paths,
    layer_from_files,
    package_path,
    parse_manifest,
    path_under_roots,
    read_directory_files,
)
from charter.policy.dataflow import (
    dead_rules,
    import_aliases,
    ref_path,
    resolve,
    rule_head,
    span_line,
)
from charter.policy.engine import parse_module, walk_ast
from charter.policy.profile import parse_requirements
from charter.policy.ratchet import DIRECTIONS, Parameter, declaration
from charter.policy.rules import RULE_ID, SEVERITIES, Rule, metadata_blocks
from charter.policy.stack import RESERVED_ROOT, Stack, load_stack
from charter.policy.testing import attribute, parse_failure, run_layer_tests, v0_hint

_ORDER = {"constitution": 0, "pack": 1, "overlay": 2}
_ALLOW_STYLE = re.compile(
    r"^(allow|exempt|exemption|exception|exceptions|waive|waiver|override|deny_override|"
    r"bypass)(_.*)?$"
)
"""Names that read as lowering a verdict: only the L012 *wording* depends on them."""

#: Every finding code with a one-line description (SARIF ``rules``, docs).
CODES: dict[str, str] = {
    "CHARTER-L000": "The bundle, a module or a document cannot be read or parsed.",
    "CHARTER-L001": "A package lies outside the bundle's own roots.",
    "CHARTER-L002": "A data path lies outside the bundle's own roots.",
    "CHARTER-L003": "A root overlaps another layer's root or Charter's reserved root.",
    "CHARTER-L004": "A rule ID is defined twice or redefines an upper layer's rule.",
    "CHARTER-L005": "A package lies under an upper layer's root.",
    "CHARTER-L010": "A policy module overrides another layer's data with `with`.",
    "CHARTER-L011": "A module reads Charter's reserved namespace.",
    "CHARTER-L012": "A rule's value flows into no deny/ask rule: it has no effect.",
    "CHARTER-L013": "deny/ask must be partial set rules (`deny contains {...} if`).",
    "CHARTER-L014": "An entry's rule field names a rule ID of an upper layer (impersonation).",
    "CHARTER-L020": "A parameter is set in its looser direction.",
    "CHARTER-L021": "A lower layer re-declares an upper layer's parameter.",
    "CHARTER-L022": "A lower layer sets an unknown parameter.",
    "CHARTER-L023": "A parameter value has the wrong type.",
    "CHARTER-L024": "The Environment Profile lists a tool the upper layer does not allow.",
    "CHARTER-L040": "A waiver names a constitution rule; constitution rules are non-waivable.",
    "CHARTER-L041": "A waiver names a rule that is not in the stack.",
    "CHARTER-L042": "A waiver has expired.",
    "CHARTER-L043": "A waiver has no expiry or one beyond max_waiver_days.",
    "CHARTER-L050": "Rule metadata is missing or invalid.",
    "CHARTER-L051": "A module contributes deny/ask entries but declares no rule id.",
    "CHARTER-L060": "A rule lacks a test where it fires or a test where it does not.",
    "CHARTER-L061": "A test of the bundle fails.",
    "CHARTER-L062": "A test's outcome for a rule could not be measured.",
    "CHARTER-L063": "A rule fires in a test outside the kinds and paths its applies_to declares.",
    "CHARTER-L070": "An upper layer's own test fails against the composed stack.",
}


_error = findings_mod.error
_warning = findings_mod.warning


class LintFailed(Rejected, PolicyError):
    """A bundle failed the policy linter (raised by the build validator)."""

    def __init__(self, report: LintReport) -> None:
        shown = "; ".join(f"{f.location}: {f.code}: {f.message}" for f in report.errors[:3])
        more = " …" if len(report.errors) > 3 else ""
        super().__init__(
            f"the policy linter found {len(report.errors)} error(s): {shown}{more}",
            hint="run `charter rule lint DIR` for every finding",
        )
        self.report = report


# ------------------------------------------------------------------ helpers


def _line_of(text: str, needle: str, default: int = 1) -> int:
    index = text.find(needle)
    return text.count("\n", 0, index) + 1 if index >= 0 else default


def _roots_overlap(a: str, b: str) -> bool:
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")


# ------------------------------------------------------------------ bundles


@dataclass(frozen=True)
class _Target:
    directory: Path
    files: dict[str, bytes]
    manifest: Manifest
    modules: tuple[Module, ...]


def default_upper() -> tuple[Layer, ...]:
    """The layers above a pack or overlay when none are given: the shipped constitution."""
    return tuple(load_stack().layers)


def _as_layers(against: Stack | Sequence[Layer] | None) -> tuple[Layer, ...]:
    if against is None:
        return default_upper()
    if isinstance(against, Stack):
        return against.layers
    return tuple(against)


def _read_target(directory: Path, findings: list[Finding]) -> _Target | None:
    try:
        files = {n: d for n, d in read_directory_files(directory).items() if n != SIGNATURES}
    except CharterError as exc:
        findings.append(_error("CHARTER-L000", str(directory), exc.message, exc.hint or ""))
        return None
    if MANIFEST not in files:
        findings.append(
            _error(
                "CHARTER-L000",
                str(directory),
                "no .manifest: not an OPA bundle directory",
                'add a .manifest with "roots" and metadata.charter {layer, name, version}',
            )
        )
        return None
    try:
        manifest = parse_manifest(files[MANIFEST], f"{directory}/{MANIFEST}")
    except CharterError as exc:
        findings.append(
            _error("CHARTER-L000", f"{directory}/{MANIFEST}:1", exc.message, exc.hint or "")
        )
        return None
    modules: list[Module] = []
    for name in sorted(files):
        if not name.endswith(".rego"):
            continue
        where = f"{directory}/{name}"
        try:
            text = files[name].decode("utf-8")
            info = parse_module(where, text)
        except UnicodeDecodeError:
            findings.append(_error("CHARTER-L000", where, "Rego modules must be UTF-8"))
            continue
        except CharterError as exc:
            failed = parse_failure(where, exc.message + v0_hint(text))
            location = f"{where}:{failed.row}"
            findings.append(_error("CHARTER-L000", location, failed.error or "", exc.hint or ""))
            continue
        modules.append(Module(where, text, info, name.endswith("_test.rego")))
    return _Target(directory, files, manifest, tuple(modules))


def _package_line(module: Module) -> str:
    line = int(module.info.ast.get("package", {}).get("span", {}).get("line", 1))
    return f"{module.path}:{line}"


def _check_namespaces(target: _Target, others: Sequence[Layer], findings: list[Finding]) -> None:
    roots = target.manifest.roots
    manifest_text = target.files[MANIFEST].decode("utf-8", "replace")
    for root in roots:
        where = f"{target.directory}/{MANIFEST}:{_line_of(manifest_text, root)}"
        if _roots_overlap(root, RESERVED_ROOT):
            findings.append(
                _error(
                    "CHARTER-L003",
                    where,
                    f"root {root} overlaps {RESERVED_ROOT}, which is reserved for Charter",
                    "choose a root under charter/overlay or charter/packs/<name>",
                )
            )
        for layer in others:
            for other in layer.manifest.roots:
                if _roots_overlap(root, other):
                    findings.append(  # noqa: PERF401 - one finding per item reads better
                        _error(
                            "CHARTER-L003",
                            where,
                            f"root {root} overlaps root {other} of the {layer.kind} layer "
                            f"{layer.name}",
                            "each layer owns a disjoint namespace; use e.g. charter/overlay",
                        )
                    )
    upper_roots = [(r, layer) for layer in others for r in layer.manifest.roots]
    for module in target.modules:
        path = package_path(module.info.package)
        if not path_under_roots(path, roots):
            findings.append(
                _error(
                    "CHARTER-L001",
                    _package_line(module),
                    f"package {module.info.package} is outside this bundle's roots "
                    f"({', '.join(roots)})",
                    "a layer may only define packages under its own manifest roots",
                )
            )
        for root, layer in upper_roots:
            if path_under_roots(path, (root,)):
                findings.append(
                    _error(
                        "CHARTER-L005",
                        _package_line(module),
                        f"package {module.info.package} lies under root {root} of the "
                        f"{layer.kind} layer {layer.name}",
                        "a lower layer cannot add to or redefine an upper layer's packages",
                    )
                )
    for name in sorted(target.files):
        if name.rsplit("/", 1)[-1] != "data.json":
            continue
        where = f"{target.directory}/{name}"
        try:
            value = jsonio.loads(target.files[name], what=where)
        except CharterError as exc:
            findings.append(_error("CHARTER-L000", where, exc.message))
            continue
        text = target.files[name].decode("utf-8", "replace")
        prefix = [p for p in name.split("/")[:-1] if p]
        for dpath in data_paths(value, prefix):
            if not path_under_roots(dpath, roots):
                leaf = dpath.rsplit("/", 1)[-1]
                findings.append(
                    _error(
                        "CHARTER-L002",
                        f"{where}:{_line_of(text, json.dumps(leaf))}",
                        f"data path {dpath} is outside this bundle's roots ({', '.join(roots)})",
                        "a layer may only write data under its own manifest roots",
                    )
                )


def _metadata_problems(
    rule_id: str, data: Mapping[str, Any], custom: Mapping[str, Any]
) -> list[tuple[str, str]]:
    """What is missing or invalid in one rule's metadata, as (message, hint) pairs."""
    problems: list[tuple[str, str]] = []
    if not RULE_ID.match(rule_id):
        problems.append(
            (
                f"rule id {rule_id!r} is not a stable id",
                "use upper-case words joined by '-', e.g. CM-TICKET-REQUIRED-001",
            )
        )
    if not str(data.get("title") or "").strip():
        problems.append((f"rule {rule_id} has no title", "add `# title: …`"))
    if not str(data.get("description") or "").strip():
        problems.append((f"rule {rule_id} has no description", "add `# description: …`"))
    if not data.get("related_resources") and not custom.get("citation"):
        problems.append(
            (
                f"rule {rule_id} has neither a link nor a citation",
                "add related_resources (- ref: URL) or custom.citation",
            )
        )
    if str(custom.get("severity", "")).lower() not in SEVERITIES:
        problems.append(
            (
                f"rule {rule_id} has severity {custom.get('severity')!r}",
                f"set custom.severity to one of {', '.join(SEVERITIES)}",
            )
        )
    category = custom.get("category")
    if not isinstance(category, str) or not category.strip():
        problems.append((f"rule {rule_id} has no custom.category", "e.g. process"))
    try:
        parse_applies_to(custom, f"rule {rule_id}")
    except PolicyError as exc:
        problems.append((exc.message, exc.hint or ""))
    return problems


def _check_metadata(
    target: _Target, upper_ids: Mapping[str, str], findings: list[Finding]
) -> dict[str, tuple[str, str]]:
    """Citation block and metadata of every rule; returns id → (package, location)."""
    declared: dict[str, tuple[str, str]] = {}
    for module in target.modules:
        if module.is_test:
            continue
        try:
            blocks = metadata_blocks(module.path, module.source)
        except PolicyError as exc:
            findings.append(_error("CHARTER-L000", module.path, exc.message, exc.hint or ""))
            continue
        contributes = {"deny", "ask"} & module.info.rule_names
        has_id = False
        for block in blocks:
            custom = block.data.get("custom")
            if not isinstance(custom, dict) or "id" not in custom:
                continue
            has_id = True
            where = f"{module.path}:{block.line}"
            rule_id = str(custom["id"])
            problems = _metadata_problems(rule_id, block.data, custom)
            findings.extend(_error("CHARTER-L050", where, m, h) for m, h in problems)
            if rule_id in upper_ids:
                findings.append(
                    _error(
                        "CHARTER-L004",
                        where,
                        f"rule id {rule_id} redefines a rule of the {upper_ids[rule_id]}",
                        "rule ids are unique across the stack; a lower layer adds rules, "
                        "it never replaces one (choose a new id)",
                    )
                )
            elif rule_id in declared:
                findings.append(
                    _error(
                        "CHARTER-L004",
                        where,
                        f"rule id {rule_id} is already declared at {declared[rule_id][1]}",
                        "rule ids must be unique",
                    )
                )
            else:
                declared[rule_id] = (module.info.package, where)
        if contributes and not has_id:
            findings.append(
                _error(
                    "CHARTER-L051",
                    _package_line(module),
                    f"package {module.info.package} defines {', '.join(sorted(contributes))} "
                    "but has no # METADATA block with custom.id",
                    "add a METADATA block with title, description, related_resources and "
                    "custom {id, severity, category}",
                )
            )
    return declared


def _check_composition(target: _Target, others: Sequence[Layer], findings: list[Finding]) -> None:
    top = target.manifest.layer == "constitution"
    foreign = [(r, layer) for layer in others for r in layer.manifest.roots]
    for module in target.modules:
        if module.is_test:
            continue
        aliases = import_aliases(module.info, module.source)
        for node in walk_ast(module.info.ast.get("rules", [])):
            for mod in node.get("with_mods") or []:
                path = resolve(ref_path(mod.get("refr")) or [], aliases)
                if not path or path[0] != "data":
                    continue
                slash = "/".join(path[1:])
                line = span_line(mod) or 1
                owners = [
                    (root, layer)
                    for root, layer in foreign
                    if _roots_overlap(slash, root) or path_under_roots(slash, (root,))
                ]
                if _roots_overlap(slash, RESERVED_ROOT):
                    owners.append((RESERVED_ROOT, None))  # type: ignore[arg-type]
                if not path_under_roots(slash, target.manifest.roots) or owners:
                    whose = (
                        f"the {owners[0][1].kind} layer {owners[0][1].name}"
                        if owners and owners[0][1] is not None
                        else "another namespace"
                    )
                    findings.append(
                        _error(
                            "CHARTER-L010",
                            f"{module.path}:{line}",
                            f"`with {'.'.join(path)} as …` overrides data of {whose} in a "
                            "policy module",
                            "a lower layer may read upper data but never evaluate it under "
                            "replaced facts; move the override into a *_test.rego module",
                        )
                    )
            ref = ref_path(node) if ("Var" in node or "RefDot" in node) else None
            if ref:
                full = resolve(ref, aliases)
                # The constitution may: Charter tells it there how it evaluates
                # (data.charter_internal.secret_scan, docs/design.md 'Deciding fast').
                if full[:1] == ["data"] and full[1:2] == [RESERVED_ROOT] and not top:
                    findings.append(
                        _error(
                            "CHARTER-L011",
                            f"{module.path}:{span_line(node) or 1}",
                            f"{'.'.join(full)} reads Charter's reserved namespace",
                            "rules read only their own roots, upper data and input",
                        )
                    )
        for rule in module.info.ast.get("rules", []):
            head = rule_head(rule)
            if head is None:
                continue
            kind, name, line = head
            where = f"{module.path}:{line}"
            if name in ("deny", "ask") and kind != "Set":
                findings.append(
                    _error(
                        "CHARTER-L013",
                        where,
                        f"`{name}` is defined as a complete value, not a set of entries",
                        f'write `{name} contains {{"rule": ID, "msg": …}} if {{ … }}`',
                    )
                )


def _check_effects(target: _Target, findings: list[Finding]) -> None:
    """L012: rules whose value flows into no deny/ask rule (:mod:`charter.policy.dataflow`)."""
    if target.manifest.layer == "constitution":
        return
    for rule in dead_rules([m for m in target.modules if not m.is_test]):
        if _ALLOW_STYLE.match(rule.name):
            why = (
                "only deny and ask entries count, so a lower layer can never allow what an "
                "upper layer denies or asks"
            )
            hint = "remove it, or ask for a waiver of a pack/overlay rule instead"
        else:
            why = "only deny and ask entries count"
            hint = "use it in a deny/ask rule, mark it `entrypoint: true` in METADATA, or remove it"
        findings.append(
            _warning(
                "CHARTER-L012",
                f"{rule.file}:{rule.line}",
                f"rule `{rule.name}` has no effect: its value flows into no deny or ask rule of "
                f"this bundle (directly or through other rules); {why}",
                hint,
            )
        )


def _string_constants(module: Module) -> dict[str, str]:
    """Names bound to a string literal: ``rid := "X"`` at module level or in a body."""
    found: dict[str, str] = {}
    for rule in module.info.ast.get("rules", []):
        spec = rule.get("Spec") if isinstance(rule, dict) else None
        head = spec.get("head", {}) if isinstance(spec, dict) else {}
        compr = head.get("Compr") if isinstance(head, dict) else None
        if isinstance(compr, dict):
            path = ref_path(compr.get("refr")) or []
            value = (compr.get("assign") or {}).get("value")
            if len(path) == 1 and isinstance(value, dict) and "String" in value:
                found[path[0]] = str(value["String"]["value"])
    for node in walk_ast(module.info.ast.get("rules", [])):
        assign = node.get("AssignExpr")
        if not isinstance(assign, dict):
            continue
        lhs, rhs = assign.get("lhs"), assign.get("rhs")
        if isinstance(lhs, dict) and "Var" in lhs and isinstance(rhs, dict) and "String" in rhs:
            found.setdefault(str(lhs["Var"]["value"]), str(rhs["String"]["value"]))
    return found


def _check_impersonation(
    target: _Target, upper_ids: Mapping[str, str], findings: list[Finding]
) -> None:
    """An entry object ``{"rule": <an upper layer's rule id>, …}`` in a policy module."""
    if not upper_ids:
        return
    for module in target.modules:
        if module.is_test:
            continue
        constants = _string_constants(module)
        for node in walk_ast(module.info.ast.get("rules", [])):
            obj = node.get("Object")
            fields = obj.get("fields") if isinstance(obj, dict) else None
            for field in fields if isinstance(fields, list) else []:
                if not (isinstance(field, list) and len(field) == 3):
                    continue
                span, key, value = field
                if not (isinstance(key, dict) and key.get("String", {}).get("value") == "rule"):
                    continue
                cited: str | None = None
                if isinstance(value, dict) and "String" in value:
                    cited = str(value["String"]["value"])
                elif isinstance(value, dict) and "Var" in value:
                    cited = constants.get(str(value["Var"]["value"]))
                if cited is None or cited not in upper_ids:
                    continue
                line = span.get("line") if isinstance(span, dict) else None
                findings.append(
                    _error(
                        "CHARTER-L014",
                        f"{module.path}:{line or span_line(value) or 1}",
                        f"an entry cites rule {cited}, which belongs to the "
                        f"{upper_ids[cited]}; a lower layer cannot speak for an upper "
                        "layer's rule (at runtime the entry counts as this layer's own)",
                        "cite one of this bundle's own rule ids in the entry's rule field",
                    )
                )


# ------------------------------------------------------------------ parameters


def _layer_parameter_items(layer: Layer) -> list[tuple[str, Any]]:
    items: list[tuple[str, Any]] = []
    for _, params in layer.root_data("parameters"):
        if isinstance(params, dict):
            items.extend(params.items())
    return items


def _layer_profiles(layer: Layer) -> list[dict[str, Any]]:
    return [p for _, p in layer.root_data("profile") if isinstance(p, dict)]


def _data_location(target: _Target, needle: str) -> str:
    for name in sorted(target.files):
        if name.rsplit("/", 1)[-1] != "data.json":
            continue
        text = target.files[name].decode("utf-8", "replace")
        if json.dumps(needle) in text:
            return f"{target.directory}/{name}:{_line_of(text, json.dumps(needle))}"
    return str(target.directory)


def _direction_words(param: Parameter) -> str:
    return {
        "lower": "lower is stricter",
        "higher": "higher is stricter",
        "true": "true is stricter",
        "false": "false is stricter",
        "superset": "only additions are stricter",
        "subset": "only removals are stricter",
    }[param.stricter]


def check_parameters(
    layer: Layer,
    declarations: Mapping[str, Parameter],
    values: Mapping[str, Any],
    locate: Any = None,
) -> list[Finding]:
    """Every parameter a lower layer sets moves only in its stricter direction."""
    findings: list[Finding] = []

    def where(name: str) -> str:
        return str(locate(name)) if locate is not None else layer.source

    for name, raw in _layer_parameter_items(layer):
        if isinstance(raw, dict) and "stricter" in raw:
            if name in declarations:
                findings.append(
                    _error(
                        "CHARTER-L021",
                        where(name),
                        f"parameter {name} is already declared by "
                        f"{declarations[name].declared_by}; a lower layer cannot re-declare it "
                        "(that would let it choose a new direction)",
                        f'set only a value: "{name}": <value>',
                    )
                )
                continue
            try:
                declaration(name, raw, layer.source)
            except CharterError as exc:
                findings.append(
                    _error("CHARTER-L023", where(name), exc.message, f"one of {DIRECTIONS}")
                )
            continue
        param = declarations.get(name)
        if param is None:
            findings.append(
                _error(
                    "CHARTER-L022",
                    where(name),
                    f"sets unknown parameter {name}",
                    f"known parameters: {', '.join(sorted(declarations)) or 'none'}",
                )
            )
            continue
        try:
            param.check_value(raw, layer.source)
            if name == "profile_requirements":
                parse_requirements(raw, f"parameter {name}")
            strict_enough = param.is_at_least_as_strict(raw, values[name])
        except CharterError as exc:
            findings.append(_error("CHARTER-L023", where(name), exc.message, exc.hint or ""))
            continue
        if not strict_enough:
            findings.append(
                _error(
                    "CHARTER-L020",
                    where(name),
                    f"parameter {name} = {json.dumps(raw)} is looser than the upper layers' "
                    f"{json.dumps(values[name])} ({_direction_words(param)}; declared by "
                    f"{param.declared_by})",
                    f"set {name} to {json.dumps(values[name])} or something stricter, or drop "
                    "it (the effective value is the strictest anyway)",
                )
            )
    return findings


def _check_profile(layer: Layer, upper: Mapping[str, list[str]], target: _Target) -> list[Finding]:
    findings: list[Finding] = []
    for profile in _layer_profiles(layer):
        for category, tools in profile.items():
            allowed = upper.get(category)
            if allowed is None or not isinstance(tools, list):
                continue
            findings.extend(
                _error(
                    "CHARTER-L024",
                    _data_location(target, str(tool)),
                    f"profile category {category} lists {tool}, which the upper layers do not "
                    f"allow ({', '.join(allowed)})",
                    "a lower layer's profile only narrows the upper one; remove the tool",
                )
                for tool in tools
                if tool not in allowed
            )
    return findings


# ------------------------------------------------------------------ tests


def _check_tests(
    layer: Layer,
    composed: Sequence[Layer],
    rules: Mapping[str, tuple[str, str]],
    findings: list[Finding],
) -> None:
    results = run_layer_tests(composed, layer, coverage=bool(rules))
    for r in results:
        if r.failed:
            detail = f": {r.error}" if r.error else ""
            findings.append(
                _error(
                    "CHARTER-L061",
                    f"{r.file}:{r.row}",
                    f"test {r.qualified} fails{detail}",
                    "run `charter rule test DIR` for the expected and actual verdicts",
                )
            )
    if not rules:
        return
    paths = {rid: where.rsplit(":", 1)[0] for rid, (_, where) in rules.items()}
    measured = attribute(
        composed, layer, {rid: (pkg, paths[rid]) for rid, (pkg, _) in rules.items()}
    )
    for case in measured.unmeasured:
        short = " ".join(case.text.split())
        findings.append(
            _warning(
                "CHARTER-L062",
                f"{case.file}:{case.row}",
                f"the input of this test ({short[:60]}{'…' if len(short) > 60 else ''}) "
                "cannot be evaluated on its own, so it counts toward no rule's coverage",
                "write the input as a literal or a module-level value the test "
                "package can see (not a variable bound inside the test)",
            )
        )
    fires = {r.rule: r.firing for r in measured.rules}
    quiet = {r.rule: r.silent for r in measured.rules}
    declared = {r.id: r for r in layer.rules if r.id in rules}
    for measured_rule in measured.rules:
        rule = declared.get(measured_rule.rule)
        if rule is None:
            continue
        for hit in measured_rule.firing_inputs:
            findings.extend(_check_applies_to(rule, hit.document, hit.file, hit.row))
    for rid, (package, where) in sorted(rules.items()):
        missing = []
        if not fires[rid]:
            missing.append("no test in which it produces a violation")
        if not quiet[rid]:
            missing.append(
                "no test of its own in which it stays silent (a test that evaluates it "
                "with an input meeting its first condition but not all of them)"
            )
        if missing:
            findings.append(
                _error(
                    "CHARTER-L060",
                    where,
                    f"rule {rid} has {' and '.join(missing)} "
                    "(measured by evaluating data."
                    f"{package} under each test's `with input as …`; tests that never evaluate it, "
                    "or stop at its first condition, do not count)",
                    "add test_* rules in a *_test.rego beside it: one `some e in deny with "
                    "input as {...}` where it fires, and one `count(deny) == 0 with input as "
                    "{...}` whose input meets its first condition but not the others "
                    "(`charter rule test --coverage` shows each rule's tests)",
                )
            )


def _check_applies_to(rule: Rule, document: Any, file: str, row: int) -> list[Finding]:
    """L063: a test in which ``rule`` fires must lie inside its ``custom.applies_to``."""
    if rule.applies_to == EVERYTHING or not isinstance(document, dict):
        return []
    kind = document.get("kind")
    applies, why = rule.applies_to.judge(kind, changed_paths(document))
    if applies:
        return []
    return [
        _error(
            "CHARTER-L063",
            f"{file}:{row}",
            f"rule {rule.id} fires in this test, but its custom.applies_to says it does not "
            f"apply ({why}): the declaration is narrower than the rule",
            "widen applies_to (kinds, paths) to cover every change the rule can fire on, "
            "or make the rule not fire outside it",
        )
    ]


def _check_upper_tests(
    upper: Sequence[Layer], composed: Sequence[Layer], findings: list[Finding]
) -> None:
    for layer in upper:
        for r in run_layer_tests(composed, layer):
            if r.failed:
                findings.append(  # noqa: PERF401 - one finding per item reads better
                    _error(
                        "CHARTER-L070",
                        f"{r.file}:{r.row}",
                        f"the {layer.kind} layer's test {r.qualified} fails once this bundle "
                        "is composed under it",
                        "the lower layer changes how an upper rule evaluates; remove the "
                        "conflicting data or module",
                    )
                )


# ------------------------------------------------------------------ entry points


def lint_bundle(
    directory: str | Path,
    against: Stack | Sequence[Layer] | None = None,
    *,
    run_tests: bool = True,
) -> LintReport:
    """Lint one bundle directory against the layers above it.

    ``against`` is the stack (or layers) above; by default the shipped
    constitution. A layer of the same kind and name as the bundle is left out
    (it is the one being replaced); so is anything below the bundle's layer.
    """
    path = Path(directory)
    findings: list[Finding] = []
    target = _read_target(path, findings)
    if target is None:
        return LintReport((str(path),), tuple(findings))
    kind = target.manifest.layer
    candidates = [] if kind == "constitution" else list(_as_layers(against))
    upper = [x for x in candidates if _ORDER[x.kind] < _ORDER[kind]]
    peers = [
        x
        for x in candidates
        if x.kind == kind and x.name != target.manifest.name and kind == "pack"
    ]
    others = [*upper, *peers]
    _check_namespaces(target, others, findings)
    upper_ids = {
        r.id: f"{x.kind} layer {x.name} ({r.file}:{r.line})" for x in others for r in x.rules
    }
    rules = _check_metadata(target, upper_ids, findings)
    _check_composition(target, others, findings)
    _check_effects(target, findings)
    _check_impersonation(target, upper_ids, findings)
    fatal = {"CHARTER-L000", "CHARTER-L001", "CHARTER-L002", "CHARTER-L050"}
    if any(f.code in fatal for f in findings):
        return LintReport((str(path),), tuple(findings))
    try:
        layer = layer_from_files(target.files, source=str(path))
    except CharterError as exc:
        findings.append(_error("CHARTER-L000", str(path), exc.message, exc.hint or ""))
        return LintReport((str(path),), tuple(findings))
    if upper:
        try:
            upper_stack = Stack.compose(upper)
        except CharterError as exc:
            findings.append(
                _error("CHARTER-L000", str(path), f"the upper layers do not compose: {exc}")
            )
            return LintReport((str(path),), tuple(findings))
        findings.extend(
            check_parameters(
                layer,
                upper_stack.parameter_declarations,
                upper_stack.parameters,
                lambda name: _data_location(target, name),
            )
        )
        findings.extend(_check_profile(layer, upper_stack.profile, target))
    else:
        findings.extend(check_parameters(layer, {}, {}, lambda n: _data_location(target, n)))
    structural = {"CHARTER-L003", "CHARTER-L004", "CHARTER-L005", "CHARTER-L021"}
    if not run_tests or any(f.code in structural for f in findings):
        return LintReport((str(path),), tuple(findings))
    composed = [*upper, *peers, layer] if kind != "constitution" else [layer]
    composed.sort(key=lambda x: _ORDER[x.kind])
    _check_tests(layer, composed, rules, findings)
    if upper:
        _check_upper_tests(upper, composed, findings)
    return LintReport((str(path),), tuple(findings))


# ------------------------------------------------------------------ waivers


def lint_waiver_file(path: str | Path, stack: Stack, *, now: datetime | None = None) -> LintReport:
    """A waiver must name a pack or overlay rule and expire within max_waiver_days."""
    where = str(path)
    findings: list[Finding] = []
    try:
        waiver = waivers.read_waiver(path)
    except CharterError as exc:
        findings.append(_error("CHARTER-L000", where, exc.message, exc.hint or ""))
        return LintReport((where,), tuple(findings))
    moment = now or datetime.now(UTC)
    rule = stack.rules.get(waiver.rule)
    if rule is None:
        findings.append(
            _warning(
                "CHARTER-L041",
                where,
                f"waiver {waiver.id} names rule {waiver.rule}, which is not in the stack",
                "check the rule id with `charter rule list`",
            )
        )
    elif rule.layer == "constitution":
        findings.append(
            _error(
                "CHARTER-L040",
                where,
                f"waiver {waiver.id} waives constitution rule {waiver.rule}; constitution "
                "rules are non-waivable",
                "fix the proposal instead; only pack and overlay rules can be waived",
            )
        )
    try:
        waivers.check_duration(waiver, waivers.max_waiver_days(stack))
    except CharterError as exc:
        findings.append(_error("CHARTER-L043", where, exc.message, exc.hint or ""))
    if waiver.expired(moment):
        findings.append(
            _warning(
                "CHARTER-L042",
                where,
                f"waiver {waiver.id} expired on {waiver.expires}; it is ignored",
                "create a new waiver if the exception is still needed",
            )
        )
    return LintReport((where,), tuple(findings))


# ------------------------------------------------------------------ dispatch


def lint_paths(
    paths: Sequence[str | Path],
    against: Stack | Sequence[Layer] | None = None,
    *,
    now: datetime | None = None,
) -> LintReport:
    """Lint rule files, bundle directories and waiver files (each bundle once).

    Constitution TOMLs are linted by :func:`charter.actions.lint.lint_constitution_files`.
    """
    report = LintReport((), ())
    upper_layers = _as_layers(against)
    seen: set[Path] = set()
    for raw in paths:
        p = Path(raw)
        if p.suffix == ".json" and p.is_file():
            stack = Stack.compose(list(upper_layers)) if upper_layers else load_stack()
            report = report.merged(lint_waiver_file(p, stack, now=now))
            continue
        if not p.exists():
            finding = _error("CHARTER-L000", str(p), "no such file or directory")
            report = report.merged(LintReport((str(p),), (finding,)))
            continue
        root = bundle_root(p)
        if root is None:
            finding = _error(
                "CHARTER-L000",
                str(p),
                "not inside a bundle directory (no .manifest in it or its parents)",
                "pass a bundle directory, a rule file inside one, a constitution TOML or "
                "a waiver JSON",
            )
            report = report.merged(LintReport((str(p),), (finding,)))
            continue
        if root in seen:
            continue
        seen.add(root)
        report = report.merged(lint_bundle(root, upper_layers))
    return report


def build_validator(context: BuildContext) -> None:
    """A :data:`charter.policy.build.Validator`: refuse to build a bundle that fails the lint."""
    report = lint_bundle(context.directory, context.upper)
    if not report.ok:
        raise LintFailed(report)


__all__ = [
    "CODES",
    "Finding",
    "LintFailed",
    "LintReport",
    "Severity",
    "build_validator",
    "check_parameters",
    "default_upper",
    "lint_bundle",
    "lint_paths",
    "lint_waiver_file",
]
