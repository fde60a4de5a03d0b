"""Parse each distinct Rego module text, and run each distinct set of Rego tests, once.

Loading a layer parses every module twice over: regorus builds and exports its
AST (:func:`charter.policy.engine.parse_module`) and PyYAML reads every
``# METADATA`` block (:func:`charter.policy.rules.metadata_blocks`). Most of the
suite loads the same texts again and again (the shipped constitution on every
``charter check``, the same overlay rule in many tests), and that re-parsing
was the largest fixed cost per test.

These are pure functions of the module text: the file path only names the
module in results (``ModuleInfo.path``, ``Rule.file``) and in error messages.
So the memo is keyed by the text (and, for rules, by the arguments that shape
them), stores only successful results, and puts the caller's path back on
every hit. A text that fails to parse is parsed again every time, so every
error a test asserts still comes from the real parser with the real path.
Results are shared read-only: nothing in Charter mutates a ``ModuleInfo``'s
AST, a ``MetadataBlock``'s data or a ``Rule``'s ``custom`` (they are frozen
dataclasses around them).

Every call that *loads* still runs the real loader (manifest, roots, data,
duplicate ids, digests, signatures); only the two parsers are memoised.

Likewise :func:`charter.policy.testing.run_layer_tests` (a layer's Rego unit
tests against a stack's policy modules and data: one fresh regorus engine and
a few hundred evaluations per call), which lint, ``bundle build``, ``rule
test``/``rule new`` and the upgrade judge run on the same constitution copies
over and over. It is deterministic in the module texts, their file names
within each layer, the merged data, ``match`` and ``coverage``; only a run where every test
passed is stored, so any failure or error a test asserts comes from a real run
with real paths. A hit returns the stored results with the caller's file paths,
in the results and in their coverage (timings are those of the first run; no
test asserts a timing).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import pytest

from charter.policy import bundle, compat, engine, lint, rules, testing
from charter.policy.bundle import Layer
from charter.policy.engine import ModuleInfo
from charter.policy.rules import MetadataBlock, Rule
from charter.policy.stack import _merge_data
from charter.policy.testing import TestResult


def _memo_parse_module(real: Callable[[str, str], ModuleInfo]) -> Callable[[str, str], ModuleInfo]:
    seen: dict[str, ModuleInfo] = {}

    def parse_module(path: str, source: str) -> ModuleInfo:
        hit = seen.get(source)
        if hit is None:
            hit = seen[source] = real(path, source)
        return hit if hit.path == path else dataclasses.replace(hit, path=path)

    return parse_module


def _memo_metadata_blocks(
    real: Callable[[str, str], list[MetadataBlock]],
) -> Callable[[str, str], list[MetadataBlock]]:
    seen: dict[str, list[MetadataBlock]] = {}

    def metadata_blocks(path: str, source: str) -> list[MetadataBlock]:
        hit = seen.get(source)
        if hit is None:
            hit = seen[source] = real(path, source)
        return list(hit)

    return metadata_blocks


RulesFn = Callable[..., list[Rule]]


def _memo_rules_from_module(real: RulesFn) -> RulesFn:
    seen: dict[tuple[str, str, str, str], list[Rule]] = {}

    def rules_from_module(
        path: str, source: str, *, package: str, layer: str, layer_name: str
    ) -> list[Rule]:
        key = (source, package, layer, layer_name)
        hit = seen.get(key)
        if hit is None:
            hit = seen[key] = real(
                path, source, package=package, layer=layer, layer_name=layer_name
            )
        return [r if r.file == path else dataclasses.replace(r, file=path) for r in hit]

    return rules_from_module


def _relative(layer: Layer, path: str) -> str:
    prefix = layer.source + "/"
    return path[len(prefix) :] if path.startswith(prefix) else path


LayerTestsFn = Callable[..., list[TestResult]]
Token = tuple[object, ...]


def _tokens(stack_layers: Sequence[Layer], layer: Layer) -> dict[str, Token]:
    """Each module path a run can name (results' files, coverage keys), as a name
    that does not depend on where the caller's copies of the layers live."""
    names: dict[str, Token] = {}
    for i, item in enumerate(stack_layers):
        for m in item.modules:
            names.setdefault(m.path, ("stack", i, _relative(item, m.path)))
    for m in layer.modules:
        names.setdefault(m.path, ("layer", _relative(layer, m.path)))
    return names


def _stored(result: TestResult, names: dict[str, Token]) -> TestResult | None:
    if result.file not in names:
        return None
    covered = result.covered
    if covered is not None:
        if not all(path in names for path in covered):
            return None
        covered = {names[path]: lines for path, lines in covered.items()}  # type: ignore[misc]
    return dataclasses.replace(result, file=names[result.file], covered=covered)  # type: ignore[arg-type]


def _restored(result: TestResult, paths: dict[Token, str]) -> TestResult:
    covered = result.covered
    if covered is not None:
        covered = {paths[token]: lines for token, lines in covered.items()}  # type: ignore[index]
    return dataclasses.replace(result, file=paths[result.file], covered=covered)  # type: ignore[index]


def _memo_run_layer_tests(real: LayerTestsFn) -> LayerTestsFn:
    seen: dict[tuple[object, ...], list[TestResult]] = {}

    def run_layer_tests(
        stack_layers: Sequence[Layer],
        layer: Layer,
        *,
        match: str | None = None,
        coverage: bool = False,
    ) -> list[TestResult]:
        data: dict[str, object] = {}
        for item in stack_layers:  # exactly as the real function merges
            _merge_data(data, item.data)
        names = _tokens(stack_layers, layer)
        key = (
            tuple(
                (i, _relative(item, m.path), m.source)
                for i, item in enumerate(stack_layers)
                for m in item.modules
            ),
            json.dumps(data, sort_keys=True, default=repr),
            # The tested layer's modules with the names results are stored under: a
            # layer that is also in the stack (``rule test``) names them as the stack's,
            # another copy of the same texts (the upgrade judge's) as its own.
            tuple((_relative(layer, m.path), m.source, names[m.path]) for m in layer.modules),
            match,
            coverage,
        )
        hit = seen.get(key)
        if hit is None:
            results = real(stack_layers, layer, match=match, coverage=coverage)
            if any(r.failed or r.error is not None for r in results):
                return results
            stored = [_stored(r, names) for r in results]
            if any(r is None for r in stored):
                return results
            hit = seen[key] = [r for r in stored if r is not None]
        paths = {token: path for path, token in names.items()}
        return [_restored(r, paths) for r in hit]

    return run_layer_tests


@contextmanager
def memoised_parsers() -> Iterator[None]:
    """Install the memo wherever Charter looks the parsers up, for the session."""
    parse = _memo_parse_module(engine.parse_module)
    blocks = _memo_metadata_blocks(rules.metadata_blocks)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(engine, "parse_module", parse)
        patch.setattr(bundle, "parse_module", parse)
        patch.setattr(lint, "parse_module", parse)
        patch.setattr(rules, "metadata_blocks", blocks)
        patch.setattr(lint, "metadata_blocks", blocks)
        # after metadata_blocks: the real rules_from_module reads it from rules'
        # globals, so a miss here still reuses parsed metadata.
        patch.setattr(bundle, "rules_from_module", _memo_rules_from_module(rules.rules_from_module))
        layer_tests = _memo_run_layer_tests(testing.run_layer_tests)
        patch.setattr(testing, "run_layer_tests", layer_tests)
        patch.setattr(lint, "run_layer_tests", layer_tests)
        patch.setattr(compat, "run_layer_tests", layer_tests)
        yield
