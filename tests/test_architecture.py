"""The layout is the design: no import cycles, no hidden imports, a stated public API.

`lint-imports` (run by scripts/test) enforces the layer order declared in
pyproject.toml; these tests add what a layers contract cannot see.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

import grimp
import pytest
from hypothesis import settings

import charter

SRC = Path(charter.__file__).parent

#: Where function-local imports of Charter modules are allowed, and why. Nothing
#: there can hide a cycle (nothing imports the CLI): a verb imports the library
#: modules it needs only when it runs, so `charter hook` starts without loading
#: the runner, the registry client or their optional dependencies.
LAZY_ALLOWED_UNDER = "charter/cli/"
#: Outside the CLI, only a module that needs an optional extra may be imported
#: lazily, and only where it is chosen: (importing file, imported module).
LAZY_OPTIONAL = {
    ("charter/audit/stores.py", "charter.audit.postgres"),  # charter[postgres]
    ("charter/runner/approvals.py", "charter.runner.approval_pg"),  # charter[postgres]
    ("charter/runner/shared_state.py", "charter.runner.state_pg"),  # charter[postgres]
}


def _strongly_connected(graph: grimp.ImportGraph) -> list[set[str]]:
    """Tarjan's algorithm, iteratively, over the module import graph."""
    modules = sorted(m for m in graph.modules if m.startswith("charter"))
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[set[str]] = []
    counter = 0
    for root in modules:
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if not child.startswith("charter"):
                    continue
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append(
                        (child, iter(sorted(graph.find_modules_directly_imported_by(child))))
                    )
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component: set[str] = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(component)
    return found


def test_no_import_cycles_between_modules() -> None:
    graph = grimp.build_graph("charter", include_external_packages=False)
    cycles = _strongly_connected(graph)
    assert cycles == [], f"import cycles: {cycles}"


def test_cycle_finder_finds_a_cycle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The detector itself must be able to fail: a two-module cycle is reported.
    package = tmp_path / "charter_cycle_probe"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from charter_cycle_probe import b\n")
    (package / "b.py").write_text("from charter_cycle_probe import a\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    graph = grimp.build_graph("charter_cycle_probe", cache_dir=None)
    assert _strongly_connected(graph) == [{"charter_cycle_probe.a", "charter_cycle_probe.b"}]


def _local_charter_imports(path: Path, rel: str = "") -> list[int]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    lines: list[int] = []
    for func in ast.walk(tree):
        if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(func):
            if isinstance(node, ast.ImportFrom) and (rel, node.module) in LAZY_OPTIONAL:
                continue
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("charter"):
                lines.append(node.lineno)
            elif isinstance(node, ast.Import) and any(
                a.name.startswith("charter") for a in node.names
            ):
                lines.append(node.lineno)
    return lines


def test_no_function_local_imports_of_charter_modules() -> None:
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC.parent).as_posix()
        if rel.startswith(LAZY_ALLOWED_UNDER):
            continue
        offenders.extend(f"{rel}:{line}" for line in _local_charter_imports(path, rel))
    assert offenders == [], "function-local imports hide the dependency graph: " + ", ".join(
        offenders
    )


def test_public_api_is_stated() -> None:
    assert charter.__all__, "charter.__all__ names the public API"
    for name in charter.__all__:
        assert hasattr(charter, name), name
    assert charter.__version__.count(".") >= 2


def test_property_tests_are_derandomised_in_ci() -> None:
    ci = settings.get_profile("ci")
    assert ci.derandomize is True
    assert ci.database is None
    if os.environ.get("CI") and not os.environ.get("CHARTER_HYPOTHESIS_PROFILE"):
        assert settings.default.derandomize is True
