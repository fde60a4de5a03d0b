"""The ratchet: how layers compose so that a lower layer can only tighten.

Tunable parameters are declared by the layer that introduces them, each with
its *stricter direction*::

    {"value": "high", "stricter": "lower", "order": ["low", "medium", "high", "critical"]}

Lower layers only set values (``{"name": value}``). The effective value is the
strictest across every layer that sets it, so even a bundle that skipped the
linter cannot loosen a parameter at runtime.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from charter.core.errors import PolicyError

DIRECTIONS = ("lower", "higher", "true", "false", "superset", "subset")


@dataclass(frozen=True)
class Parameter:
    name: str
    value: Any
    stricter: str
    order: tuple[Any, ...] | None
    declared_by: str
    description: str = ""

    def rank(self, value: Any) -> Any:
        """A sortable key: larger means looser for 'lower', stricter for 'higher'."""
        if self.order is not None:
            try:
                return self.order.index(value)
            except ValueError:
                raise PolicyError(
                    f"parameter {self.name}: value {value!r} is not one of {list(self.order)}"
                ) from None
        return value

    def stricter_of(self, a: Any, b: Any) -> Any:
        """The stricter of two values in this parameter's direction."""
        match self.stricter:
            case "lower":
                return a if self.rank(a) <= self.rank(b) else b
            case "higher":
                return a if self.rank(a) >= self.rank(b) else b
            case "true":
                return bool(a) or bool(b)
            case "false":
                return bool(a) and bool(b)
            case "superset":
                return sorted(set(a) | set(b), key=str)
            case "subset":
                return sorted(set(a) & set(b), key=str)
        raise PolicyError(f"parameter {self.name}: unknown direction {self.stricter!r}")

    def is_at_least_as_strict(self, candidate: Any, reference: Any) -> bool:
        """Whether ``candidate`` moves only in the stricter direction from ``reference``."""
        match self.stricter:
            case "lower":
                return bool(self.rank(candidate) <= self.rank(reference))
            case "higher":
                return bool(self.rank(candidate) >= self.rank(reference))
            case "true":
                return bool(candidate) or not bool(reference)
            case "false":
                return not bool(candidate) or bool(reference)
            case "superset":
                return set(candidate) >= set(reference)
            case "subset":
                return set(candidate) <= set(reference)
        return False

    def check_value(self, value: Any, where: str) -> None:
        kind_ok = {
            "lower": not isinstance(value, (list, dict)),
            "higher": not isinstance(value, (list, dict)),
            "true": isinstance(value, bool),
            "false": isinstance(value, bool),
            "superset": isinstance(value, list),
            "subset": isinstance(value, list),
        }[self.stricter]
        if not kind_ok:
            raise PolicyError(
                f"{where}: parameter {self.name} has a value of the wrong type ({value!r})",
                hint=f"its direction is {self.stricter!r}",
            )
        if self.order is not None:
            self.rank(value)
        elif self.stricter in ("lower", "higher") and (
            isinstance(value, bool) or not isinstance(value, (int, float))
        ):
            raise PolicyError(
                f"{where}: parameter {self.name} must be a number (it has no 'order')"
            )


def declaration(name: str, raw: Any, declared_by: str) -> Parameter:
    if not isinstance(raw, dict) or "value" not in raw or "stricter" not in raw:
        raise PolicyError(
            f"{declared_by}: parameter {name} must be declared as "
            '{"value": …, "stricter": "lower|higher|true|false|superset|subset"}'
        )
    direction = raw["stricter"]
    if direction not in DIRECTIONS:
        raise PolicyError(
            f"{declared_by}: parameter {name} has stricter={direction!r}",
            hint=f"use one of {', '.join(DIRECTIONS)}",
        )
    order = raw.get("order")
    if order is not None and not isinstance(order, list):
        raise PolicyError(f"{declared_by}: parameter {name}: 'order' must be a list")
    param = Parameter(
        name=name,
        value=raw["value"],
        stricter=direction,
        order=tuple(order) if order is not None else None,
        declared_by=declared_by,
        description=str(raw.get("description", "")),
    )
    param.check_value(param.value, declared_by)
    return param


@dataclass(frozen=True)
class LayerParameters:
    """What one layer says about parameters: new declarations and overrides."""

    layer: str
    declarations: dict[str, Any]
    overrides: dict[str, Any]


def effective_parameters(
    layers: Sequence[LayerParameters],
) -> tuple[dict[str, Parameter], dict[str, Any]]:
    """Fold layers top-down into (declarations, effective values).

    A lower layer cannot re-declare an upper parameter (that would let it pick a
    new direction); it may only provide a value, and the stricter one wins.
    """
    declared: dict[str, Parameter] = {}
    values: dict[str, Any] = {}
    for layer in layers:
        for name, raw in layer.declarations.items():
            if name in declared:
                raise PolicyError(
                    f"{layer.layer}: parameter {name} is already declared by "
                    f"{declared[name].declared_by}",
                    hint="a lower layer may set a value for it, not declare it again",
                )
            param = declaration(name, raw, layer.layer)
            declared[name] = param
            values[name] = param.value
        for name, value in layer.overrides.items():
            if name not in declared:
                raise PolicyError(
                    f"{layer.layer}: sets unknown parameter {name}",
                    hint=f"known parameters: {', '.join(sorted(declared)) or 'none'}",
                )
            param = declared[name]
            param.check_value(value, layer.layer)
            values[name] = param.stricter_of(values[name], value)
    return declared, values


def narrow_profile(
    layers: Sequence[tuple[Sequence[dict[str, list[str]]], Collection[str]]],
) -> dict[str, list[str]]:
    """The Environment Profile: per tool category, the intersection across layers.

    ``layers`` holds, top first, each layer's profile documents and the tool
    categories the layers *above* it already require. A category the profile
    does not list allows no tool, so a lower layer may introduce a category
    only if no upper layer requires it (then upper layers never check that
    category and listing tools for it can only tighten); for a category an
    upper layer requires but leaves unlisted, the lower layer's list is ignored.
    """
    result: dict[str, list[str]] = {}
    for profiles, required_above in layers:
        for profile in profiles:
            for category, tools in profile.items():
                if category in result:
                    keep = set(tools)
                    result[category] = [t for t in result[category] if t in keep]
                elif category in required_above:
                    result[category] = []
                else:
                    result[category] = list(tools)
    return result
