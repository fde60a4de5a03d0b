"""Hypothesis strategies for proposals and overlays, shared by property tests."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

AGENT_IDS = ["agent-7", "agent-9", "alice", "bob"]
PATHS = [
    "docs/readme.md",
    ".github/workflows/ci.yml",
    "infra/secrets/db.yaml",
    ".charter/profile.toml",
    "src/app.py",
    "deploy/.kube/config",
]
PATCHES = [
    "+hello world\n",
    "+aws_access_key_id = AKIAIOSFODNN7EXAMPLQ\n",
    "+password = 'hunter2'\n",
    "-removed line\n+added line\n",
    "",
]
CITATION = (
    'Change.\n\n```charter\nrules: [{rule}]\nblast_radius: "docs only"\n'
    'rollback: "git revert"\n```\n'
)


@st.composite
def proposals(draw: st.DrawFn) -> dict[str, Any]:
    author = draw(st.sampled_from(AGENT_IDS))
    doc: dict[str, Any] = {
        "kind": draw(st.sampled_from(["pull_request", "merge", "push", "release"])),
        "repository": "acme/platform",
        "base": draw(st.sampled_from(["main", "develop"])),
        "head": draw(st.sampled_from(["feature/cm-42-x", "fix/y"])),
        "author": {"id": author, "type": "agent" if author.startswith("agent") else "human"},
        "title": "change",
        "body": draw(
            st.one_of(
                st.just(""),
                st.sampled_from(["PROC-NO-DIRECT-PUSH-001", "NOPE-001"]).map(
                    lambda r: CITATION.format(rule=r)
                ),
            )
        ),
        "files": draw(
            st.lists(
                st.builds(
                    lambda p, s, patch: {"path": p, "status": s, "patch": patch},
                    st.sampled_from(PATHS),
                    st.sampled_from(["added", "modified", "removed"]),
                    st.sampled_from(PATCHES),
                ),
                max_size=3,
            )
        ),
        "approvals": draw(
            st.lists(
                st.builds(
                    lambda by, kind: {"by": by, "type": kind, "groups": []},
                    st.sampled_from(AGENT_IDS),
                    st.sampled_from(["human", "agent"]),
                ),
                max_size=2,
            )
        ),
        "labels": draw(st.lists(st.sampled_from(["hotfix", "docs"]), max_size=2)),
        "environment": draw(st.sampled_from([None, "production", "staging"])),
    }
    if draw(st.booleans()):
        doc["artifacts"] = [
            {
                "name": "api",
                "digest": "sha256:" + "a" * 64,
                "sbom": {"format": "cyclonedx", "signed": draw(st.booleans())},
                "provenance": {"format": "in-toto", "signed": draw(st.booleans())},
            }
        ]
    if draw(st.booleans()):
        doc["dependencies"] = {
            "changed": True,
            "scan": {
                "tool": "grype",
                "findings": [
                    {"id": "CVE-2026-0001", "severity": s}
                    for s in draw(st.lists(st.sampled_from(["low", "medium", "high"]), max_size=2))
                ],
            },
        }
    if draw(st.booleans()):
        doc["tools"] = {"sbom": draw(st.sampled_from(["syft", "homegrown"]))}
    if draw(st.booleans()):
        doc["export"] = {"source_code": draw(st.booleans()), "destination": None}
    return doc


CONDITIONS = [
    'input.kind == "merge"',
    'input.kind == "push"',
    'input.author.type == "agent"',
    'input.base == "main"',
    "count(input.files) > 1",
    'some f in input.files; startswith(f.path, "infra/")',
    'input.environment == "production"',
    "true",
    "false",
    "input.context.hour > 12",
    'not regex.match("(?i)cm-[0-9]+", object.get(input, "head", ""))',
]


@st.composite
def overlay_files(draw: st.DrawFn) -> dict[str, str]:
    """A random overlay bundle: deny/ask rules, and parameter overrides in any direction."""
    files: dict[str, str] = {}
    n = draw(st.integers(min_value=0, max_value=3))
    for i in range(n):
        kind = draw(st.sampled_from(["deny", "ask"]))
        cond = draw(st.sampled_from(CONDITIONS))
        rule_id = f"OVL-RULE-{i:03d}"
        files[f"r{i}.rego"] = (
            f"# METADATA\n# title: r{i}\n# description: d\n# custom:\n#   id: {rule_id}\n"
            f"#   severity: medium\n#   category: process\n"
            f"package charter.overlay.r{i}\n\nimport rego.v1\n\n"
            f'{kind} contains {{"rule": "{rule_id}", "msg": "m"}} if {{\n\t{cond}\n}}\n'
        )
    params: dict[str, Any] = {}
    if draw(st.booleans()):
        params["vulnerability_severity_threshold"] = draw(
            st.sampled_from(["low", "medium", "high", "critical"])
        )
    if draw(st.booleans()):
        params["min_human_approvals_for_main"] = draw(st.integers(min_value=0, max_value=3))
    if draw(st.booleans()):
        params["allow_source_code_export"] = draw(st.booleans())
    if draw(st.booleans()):
        params["require_signed_sbom"] = draw(st.booleans())
    if draw(st.booleans()):
        params["protected_branches"] = draw(st.lists(st.sampled_from(["main", "develop"])))
    data: dict[str, Any] = {}
    if params:
        data["parameters"] = params
    if draw(st.booleans()):
        data["profile"] = {"sbom": draw(st.lists(st.sampled_from(["syft", "cdxgen", "homegrown"])))}
    if data:
        files["charter/overlay/data.json"] = json.dumps(data)
    return files
