"""The layered stack: one constitution, zero or more packs, at most one overlay.

Composition is monotone by construction: layers own disjoint roots, rule ids are
unique, parameters fold to their strictest value, and the verdict of a decision
is the maximum over every layer's contributions (see ``charter.policy.decision``).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

from charter.core.errors import LoadError
from charter.policy.bundle import Layer, load_directory, path_under_roots
from charter.policy.engine import Engine
from charter.policy.guards import SetGuard, admits, input_guards, kinds_by_set
from charter.policy.profile import DEFAULT_PATH, ProfileContext, Requirement, parse_requirements
from charter.policy.ratchet import LayerParameters, Parameter, effective_parameters, narrow_profile
from charter.policy.rules import Rule

RESERVED_ROOT = "charter_internal"
_ORDER = {"constitution": 0, "pack": 1, "overlay": 2}


def shipped_constitution_path() -> Path:
    """Directory of the constitution bundle shipped inside the package."""
    return Path(str(resources.files("charter").joinpath("policies/constitution")))


def shipped_packs_path() -> Path:
    return Path(str(resources.files("charter").joinpath("policies/packs")))


def _roots_overlap(a: str, b: str) -> bool:
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")


def _layer_label(layer: Layer) -> str:
    return f"{layer.kind} {layer.name} ({layer.source})"


def _layer_parameters(layer: Layer) -> LayerParameters:
    declarations: dict[str, Any] = {}
    overrides: dict[str, Any] = {}
    for _, params in layer.root_data("parameters"):
        if not isinstance(params, dict):
            raise LoadError(f"{layer.source}: 'parameters' must be an object")
        for name, raw in params.items():
            if isinstance(raw, dict) and "stricter" in raw:
                declarations[name] = raw
            else:
                overrides[name] = raw
    return LayerParameters(
        layer=_layer_label(layer), declarations=declarations, overrides=overrides
    )


def _layer_profile(layer: Layer) -> list[dict[str, list[str]]]:
    out: list[dict[str, list[str]]] = []
    for _, profile in layer.root_data("profile"):
        if not isinstance(profile, dict) or not all(
            isinstance(v, list) and all(isinstance(t, str) for t in v) for v in profile.values()
        ):
            raise LoadError(
                f"{layer.source}: 'profile' must map tool categories to lists of tool names"
            )
        out.append(profile)
    return out


def _required_categories(upper: Sequence[LayerParameters]) -> frozenset[str]:
    """Tool categories the given (upper) layers require, after their ratchet."""
    if not upper:
        return frozenset()
    _, values = effective_parameters(upper)
    required = values.get("required_tool_categories") or []
    return frozenset(c for c in required if isinstance(c, str))


@dataclass(frozen=True)
class Stack:
    """A validated composition of layers (top first)."""

    layers: tuple[Layer, ...]
    parameter_declarations: dict[str, Parameter] = field(compare=False)
    parameters: dict[str, Any] = field(compare=False)
    profile: dict[str, list[str]] = field(compare=False)
    #: The Environment Profile file decisions are made under (:meth:`with_profile`).
    profile_file: ProfileContext | None = field(default=None, compare=False)

    @classmethod
    def compose(cls, layers: Sequence[Layer]) -> Stack:
        ordered = sorted(layers, key=lambda layer: _ORDER[layer.kind])
        if list(ordered) != list(layers):
            raise LoadError(
                "layers must be ordered constitution, packs, overlay",
                hint="pass the constitution first and the overlay last",
            )
        kinds = [layer.kind for layer in layers]
        if kinds.count("constitution") != 1:
            raise LoadError("a stack needs exactly one constitution layer")
        if kinds.count("overlay") > 1:
            raise LoadError("a stack takes at most one overlay layer")
        owner: dict[str, Layer] = {}
        for layer in layers:
            for root in layer.manifest.roots:
                if _roots_overlap(root, RESERVED_ROOT):
                    raise LoadError(f"{layer.source}: root {root} is reserved for Charter")
                for other_root, other in owner.items():
                    if _roots_overlap(root, other_root):
                        raise LoadError(
                            f"{_layer_label(layer)}: root {root} overlaps root {other_root} "
                            f"of {_layer_label(other)}",
                            hint="each layer owns its own namespace; choose a disjoint root",
                        )
                owner[root] = layer
        seen: dict[str, Rule] = {}
        for layer in layers:
            for rule in layer.rules:
                if rule.id in seen:
                    first = seen[rule.id]
                    raise LoadError(
                        f"duplicate rule id {rule.id}: {first.file}:{first.line} "
                        f"and {rule.file}:{rule.line}",
                        hint="rule ids must be unique across the whole stack",
                    )
                seen[rule.id] = rule
        layer_params = [_layer_parameters(x) for x in layers]
        declarations, values = effective_parameters(layer_params)
        profile = narrow_profile(
            [
                (_layer_profile(x), _required_categories(layer_params[:i]))
                for i, x in enumerate(layers)
            ]
        )
        parse_requirements(values.get("profile_requirements"), "parameter profile_requirements")
        return cls(
            layers=tuple(layers),
            parameter_declarations=declarations,
            parameters=values,
            profile=profile,
        )

    def with_profile(self, profile: ProfileContext | None) -> Stack:
        """This stack deciding under the Environment Profile file ``profile``."""
        return dataclasses.replace(self, profile_file=profile)

    @cached_property
    def profile_requirements(self) -> tuple[Requirement, ...]:
        """The ``profile_requirements`` parameter, parsed (validated by :meth:`compose`)."""
        return tuple(parse_requirements(self.parameters.get("profile_requirements")))

    @cached_property
    def profile_path(self) -> str:
        """Where the profile file lives: ``data.charter.constitution.profile_file``."""
        for layer in self.layers:
            if layer.kind == "constitution":
                node: Any = layer.data
                for key in ("charter", "constitution", "profile_file"):
                    node = node.get(key) if isinstance(node, dict) else None
                if isinstance(node, str) and node.strip():
                    return node
        return DEFAULT_PATH

    @cached_property
    def rules(self) -> dict[str, Rule]:
        return {rule.id: rule for layer in self.layers for rule in layer.rules}

    @cached_property
    def digest(self) -> str:
        h = hashlib.sha256()
        for layer in self.layers:
            h.update(f"{layer.kind}\0{layer.name}\0{layer.version}\0{layer.digest}\n".encode())
        return "sha256:" + h.hexdigest()

    @cached_property
    def static_context(self) -> dict[str, Any]:
        """The part of ``input.context`` that depends only on the stack."""
        given = self.profile_file or ProfileContext(path=self.profile_path)
        return {
            "parameters": self.parameters,
            # A profile file replaces the bundle's default lists (docs/design.md).
            "profile": given.current.allowed() if given.current is not None else self.profile,
            "profile_file": given.to_context(),
            "profile_requirements": [r.to_context() for r in self.profile_requirements],
            "stack": {"rule_ids": sorted(self.rules), "layers": self.describe()},
        }

    @cached_property
    def profile_record(self) -> dict[str, Any] | None:
        """What a decision record keeps of :attr:`profile_file` (its digest: once per stack)."""
        return self.profile_file.record() if self.profile_file is not None else None

    def layer_of_package(self, package: str) -> Layer | None:
        path = package.replace(".", "/")
        for layer in self.layers:
            if path_under_roots(path, layer.manifest.roots):
                return layer
        return None

    def describe(self) -> list[dict[str, Any]]:
        return [layer.describe() for layer in self.layers]

    def with_overlay(self, overlay: Layer) -> Stack:
        return Stack.compose([*[x for x in self.layers if x.kind != "overlay"], overlay])

    def compile(self) -> CompiledStack:
        return CompiledStack.build(self)


def _merge_data(target: dict[str, Any], source: dict[str, Any]) -> None:
    """Merge ``source`` into ``target``; ``source`` is never changed or shared.

    A layer's own objects are copied in, so merging the next layer cannot write
    into them (a long-lived layer would otherwise carry one overlay's data into
    every later compilation)."""
    for key, value in source.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge_data(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


@dataclass(frozen=True)
class CompiledStack:
    """A stack loaded into one engine, with the deny/ask sets a decision evaluates."""

    stack: Stack
    engine: Engine
    #: (package, "deny" | "ask", rule path) of every set a layer contributes.
    rules: tuple[tuple[str, str, str], ...]
    packages: tuple[str, ...]
    #: The layer kind each contributing package belongs to (fixed per stack).
    package_layers: Mapping[str, str] = field(default_factory=dict, compare=False)
    #: Sets proven empty unless the input's value at a path (``kind``, ``author.type``,
    #: ``context.facts``) is one of some values, or is there at all, or one of several
    #: such conditions holds (:func:`charter.policy.guards.input_guards`); empty:
    #: evaluate every set.
    input_guards: Mapping[str, SetGuard] = field(default_factory=dict, compare=False)

    @property
    def kind_guards(self) -> dict[str, frozenset[str]]:
        """The sets guarded on ``input.kind``, with their kinds."""
        return kinds_by_set(self.input_guards)

    def results(
        self, document: Mapping[str, Any] | None = None, *, guarded: bool = False
    ) -> list[dict[str, Any]]:
        """Every contributed ``deny``/``ask`` set under the current input.

        One ``eval_rule`` per set: regorus evaluates a rule that gathers many
        packages' sets superlinearly (a generated aggregate module measured
        about 3x slower than these separate calls on the shipped constitution).
        With ``guarded``, ``document`` must be the current input (the very
        values the engine was given): a set proven unable to contribute for it
        is empty without being evaluated. Any error propagates, so the caller
        fails closed on the whole decision.
        """
        evaluate = self.engine.eval_rule
        if not guarded or document is None:
            return [
                {"package": pkg, "kind": kind, "entries": evaluate(path)}
                for pkg, kind, path in self.rules
            ]
        guards, slots = self._guard_slots
        # Each distinct guard is judged once (32 sets share 16 on the shipped constitution).
        admitted = [admits(guard, document) for guard in guards]
        return [
            {
                "package": pkg,
                "kind": kind,
                "entries": evaluate(path) if slot is None or admitted[slot] else [],
            }
            for (pkg, kind, path), slot in zip(self.rules, slots, strict=True)
        ]

    @cached_property
    def _guard_slots(self) -> tuple[tuple[SetGuard, ...], tuple[int | None, ...]]:
        """The distinct guards of :attr:`input_guards`, and each set's among them (or None)."""
        guards = tuple(dict.fromkeys(self.input_guards.values()))
        index = {guard: slot for slot, guard in enumerate(guards)}
        return guards, tuple(
            index[self.input_guards[path]] if path in self.input_guards else None
            for _, _, path in self.rules
        )

    @cached_property
    def stack_document(self) -> tuple[dict[str, Any], ...]:
        return tuple(self.stack.describe())

    @classmethod
    def build(cls, stack: Stack) -> CompiledStack:
        engine = Engine()
        data = engine_data(stack)
        engine.add_data(data)
        contributing: list[tuple[str, str]] = []
        infos = [module.info for layer in stack.layers for module in layer.policy_modules]
        for layer in stack.layers:
            for module in layer.policy_modules:
                engine.add_module(module.path, module.source)
                contributing.extend(
                    (module.info.package, kind)
                    for kind in ("deny", "ask")
                    if kind in module.info.rule_names
                )
        pairs = sorted(set(contributing))
        return cls(
            stack=stack,
            engine=engine,
            rules=tuple((pkg, kind, f"data.{pkg}.{kind}") for pkg, kind in pairs),
            packages=tuple(dict.fromkeys(p for p, _ in pairs)),
            package_layers={p: _layer_kind(stack, p) for p, _ in pairs},
            input_guards=input_guards(infos, data),
        )


def engine_data(stack: Stack) -> dict[str, Any]:
    """The data a decision's engine holds: every layer's, merged in order, and Charter's
    own root (no layer may write it): this evaluator fills input.context.secret_scan
    (charter.policy.secrets), so the rule need not scan again. Plain OPA on the bundle
    has no such data and scans."""
    data: dict[str, Any] = {}
    for layer in stack.layers:
        _merge_data(data, layer.data)
    data[RESERVED_ROOT] = {"secret_scan": True}
    return data


def _layer_kind(stack: Stack, package: str) -> str:
    layer = stack.layer_of_package(package)
    return layer.kind if layer else "unknown"


def load_stack(
    *,
    constitution: str | Path | Layer | None = None,
    packs: Sequence[str | Path | Layer] = (),
    overlay: str | Path | Layer | None = None,
) -> Stack:
    """Load and compose a stack from bundle directories (the shipped constitution by default)."""

    def as_layer(item: str | Path | Layer) -> Layer:
        return item if isinstance(item, Layer) else load_directory(item)

    if constitution is None:
        top = load_directory(shipped_constitution_path(), label="shipped:constitution")
    else:
        top = as_layer(constitution)
    layers = [top, *(as_layer(p) for p in packs)]
    if overlay is not None:
        layers.append(as_layer(overlay))
    expected = ["constitution"] + ["pack"] * len(packs) + (["overlay"] if overlay else [])
    for layer, kind in zip(layers, expected, strict=True):
        if layer.kind != kind:
            raise LoadError(
                f"{layer.source}: is a {layer.kind} bundle but was given as the {kind}",
                hint="check metadata.charter.layer in its .manifest",
            )
    return Stack.compose(layers)
