"""Shared fixtures: small bundle directories written on the fly."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from charter.policy.stack import CompiledStack, Stack, load_stack
from tests.parse_memo import memoised_parsers

# Property tests: derandomised (a fixed, reproducible sequence of examples) in CI
# so CI never fails by chance; random and more thorough locally, where a new
# counterexample is a finding to turn into a regression test.
settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None, max_examples=200, print_blob=True)
settings.load_profile(
    os.environ.get("CHARTER_HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
)

BundleFactory = Callable[..., Path]


def write_bundle(
    directory: Path,
    *,
    layer: str,
    name: str,
    roots: list[str],
    files: dict[str, str],
    version: str = "1.0.0",
) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    manifest = {
        "revision": version,
        "roots": roots,
        "rego_version": 1,
        "metadata": {"charter": {"layer": layer, "name": name, "version": version}},
    }
    (directory / ".manifest").write_text(json.dumps(manifest))
    for rel, text in files.items():
        path = directory / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return directory


_MEMO = contextlib.ExitStack()


def pytest_configure(config: pytest.Config) -> None:
    """Rego parsing and all-passing Rego test runs memoised (tests/parse_memo.py).

    From configuration on, so test modules that load a stack at import time
    (during collection) share it too.
    """
    _MEMO.enter_context(memoised_parsers())


def pytest_unconfigure(config: pytest.Config) -> None:
    _MEMO.close()


@pytest.fixture(autouse=True)
def _isolated_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep every test's audit log, budget and version state out of ~/.charter.

    Subprocesses inherit the environment, so CLI tests are isolated too; a test
    that wants its own location sets the variable again.
    """
    state = tmp_path / "charter-home"
    monkeypatch.setenv("CHARTER_AUDIT", str(state / "audit.db"))
    monkeypatch.setenv("CHARTER_BUDGET", str(state / "budget.json"))
    monkeypatch.setenv("CHARTER_STATE_DIR", str(state / "state"))
    monkeypatch.delenv("CHARTER_TRUST_POLICY", raising=False)


@pytest.fixture
def make_bundle(tmp_path: Path) -> BundleFactory:
    counter = iter(range(1_000_000))

    def factory(**kwargs: object) -> Path:
        return write_bundle(tmp_path / f"bundle{next(counter)}", **kwargs)  # type: ignore[arg-type]

    return factory


@pytest.fixture(scope="session")
def shipped_stack() -> Stack:
    return load_stack()


@pytest.fixture(scope="session")
def shipped_compiled(shipped_stack: Stack) -> CompiledStack:
    return shipped_stack.compile()


def overlay_rule(rule_id: str, condition: str, *, kind: str = "deny", package: str = "r1") -> str:
    """An overlay rule module with valid metadata."""
    return f"""# METADATA
# title: Overlay rule {rule_id}
# description: A test rule.
# related_resources:
#   - ref: https://example.test/{rule_id}
# custom:
#   id: {rule_id}
#   severity: high
#   category: process
package charter.overlay.{package}

import rego.v1

{kind} contains {{"rule": "{rule_id}", "msg": "overlay says no"}} if {{
	{condition}
}}
"""
