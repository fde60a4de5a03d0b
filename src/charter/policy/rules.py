"""Rule metadata: the OPA ``# METADATA`` blocks that describe each rule.

A rule is a Rego v1 module (or a rule inside one) annotated with OPA's
``# METADATA`` YAML block. Charter requires ``custom.id``, ``custom.severity``
and ``custom.category`` and reads ``title``, ``description``,
``related_resources``, ``custom.citation`` and ``custom.applies_to`` (what the
rule looks at: :mod:`charter.policy.applies`) for reasons and reports.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from charter.core.errors import PolicyError
from charter.policy.applies import EVERYTHING, AppliesTo, parse_applies_to

SEVERITIES = ("low", "medium", "high", "critical")
RULE_ID = re.compile(r"^[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)+$")
_COMMENT = re.compile(r"^\s*#(?P<text>.*)$")


@dataclass(frozen=True)
class Rule:
    """One rule of the stack, as described by its metadata."""

    id: str
    title: str
    description: str
    severity: str
    category: str
    layer: str
    layer_name: str
    package: str
    file: str
    line: int
    citation: str | None = None
    links: tuple[str, ...] = ()
    custom: dict[str, Any] = field(default_factory=dict, compare=False)
    #: What the rule looks at (``custom.applies_to``; :mod:`charter.policy.applies`).
    applies_to: AppliesTo = EVERYTHING

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "severity": self.severity,
            "category": self.category,
            "citation": self.citation,
            "links": list(self.links),
            "layer": self.layer,
            "layer_name": self.layer_name,
            "package": self.package,
            "location": f"{self.file}:{self.line}",
            "applies_to": self.applies_to.to_dict(),
        }


@dataclass(frozen=True)
class MetadataBlock:
    line: int
    data: dict[str, Any]


def metadata_blocks(path: str, source: str) -> list[MetadataBlock]:
    """Every ``# METADATA`` block in a module, parsed as YAML."""
    lines = source.splitlines()
    blocks: list[MetadataBlock] = []
    i = 0
    while i < len(lines):
        if lines[i].strip() == "# METADATA":
            start = i + 1
            body: list[str] = []
            i += 1
            while i < len(lines) and (m := _COMMENT.match(lines[i])):
                text = m["text"]
                body.append(text[1:] if text.startswith(" ") else text)
                i += 1
            try:
                data = yaml.safe_load("\n".join(body)) or {}
            except yaml.YAMLError as exc:
                raise PolicyError(
                    f"{path}:{start}: the # METADATA block is not valid YAML ({exc})",
                    hint="indent the YAML consistently after '# '",
                ) from exc
            if not isinstance(data, dict):
                raise PolicyError(f"{path}:{start}: the # METADATA block must be a YAML mapping")
            blocks.append(MetadataBlock(line=start, data=data))
            continue
        i += 1
    return blocks


def _links(resources: Any) -> tuple[str, ...]:
    if not resources:
        return ()
    if not isinstance(resources, list):
        resources = [resources]
    out: list[str] = []
    for item in resources:
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, dict) and isinstance(item.get("ref"), str):
            out.append(item["ref"])
    return tuple(out)


def rules_from_module(
    path: str, source: str, *, package: str, layer: str, layer_name: str
) -> list[Rule]:
    """The rules a module declares (metadata blocks with ``custom.id``)."""
    found: list[Rule] = []
    for block in metadata_blocks(path, source):
        custom = block.data.get("custom") or {}
        if not isinstance(custom, dict) or "id" not in custom:
            continue
        rule_id = str(custom["id"])
        where = f"{path}:{block.line}"
        if not RULE_ID.match(rule_id):
            raise PolicyError(
                f"{where}: rule id {rule_id!r} is not a stable id",
                hint="use upper-case words joined by '-', e.g. CM-TICKET-REQUIRED-001",
            )
        severity = str(custom.get("severity", "")).lower()
        if severity not in SEVERITIES:
            raise PolicyError(
                f"{where}: rule {rule_id} has severity {custom.get('severity')!r}",
                hint=f"set custom.severity to one of {', '.join(SEVERITIES)}",
            )
        category = custom.get("category")
        if not isinstance(category, str) or not category:
            raise PolicyError(f"{where}: rule {rule_id} has no custom.category")
        citation = custom.get("citation")
        found.append(
            Rule(
                id=rule_id,
                title=str(block.data.get("title") or ""),
                description=str(block.data.get("description") or "").strip(),
                severity=severity,
                category=category,
                layer=layer,
                layer_name=layer_name,
                package=package,
                file=path,
                line=block.line,
                citation=str(citation) if citation is not None else None,
                links=_links(block.data.get("related_resources")),
                custom=dict(custom),
                applies_to=parse_applies_to(custom, where),
            )
        )
    return found
