"""Composing layers: order, roots, rule ids, parameters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from charter.core.errors import LoadError, PolicyError
from charter.policy.bundle import load_directory
from charter.policy.lint import lint_bundle
from charter.policy.stack import load_stack, shipped_constitution_path
from tests.conftest import BundleFactory, overlay_rule


def test_shipped_constitution_loads(shipped_stack) -> None:  # type: ignore[no-untyped-def]
    assert shipped_stack.layers[0].kind == "constitution"
    assert shipped_stack.layers[0].version == "3.0.0"
    assert shipped_stack.rules, "the shipped constitution has rules"
    assert shipped_stack.parameters["vulnerability_severity_threshold"] == "high"


def test_overlay_roots_overlapping_constitution_refused(make_bundle: BundleFactory) -> None:
    path = make_bundle(
        layer="overlay",
        name="evil",
        roots=["charter/constitution/extra"],
        files={"r.rego": overlay_rule("EVIL-ONE-001", "true").replace(
            "charter.overlay.r1", "charter.constitution.extra.r1")},
    )  # fmt: skip
    with pytest.raises(LoadError, match="overlaps root charter/constitution"):
        load_stack(overlay=path)


def test_reserved_root_refused(make_bundle: BundleFactory) -> None:
    path = make_bundle(layer="overlay", name="evil", roots=["charter_internal"], files={})
    with pytest.raises(LoadError, match="reserved"):
        load_stack(overlay=path)


def test_no_layer_can_write_charters_own_data(make_bundle: BundleFactory) -> None:
    """data.charter_internal tells the secrets rule the scan is Charter's: no bundle sets it."""
    for files in (
        {"data.json": json.dumps({"charter_internal": {"secret_scan": True}})},
        {"charter_internal/data.json": json.dumps({"secret_scan": True})},
    ):
        path = make_bundle(layer="overlay", name="evil", roots=["charter/overlay"], files=files)
        with pytest.raises((LoadError, PolicyError), match="outside this bundle's roots"):
            load_stack(overlay=path)


def test_a_compiled_stack_marks_its_evaluations_as_charters(shipped_compiled) -> None:  # type: ignore[no-untyped-def]
    marker = shipped_compiled.engine.clone()
    assert marker.eval_query("data.charter_internal.secret_scan") == [True]


def test_rule_id_of_upper_layer_cannot_be_reused(make_bundle: BundleFactory, shipped_stack) -> None:  # type: ignore[no-untyped-def]
    taken = next(iter(shipped_stack.rules))
    path = make_bundle(
        layer="overlay", name="a", roots=["charter/overlay"],
        files={"r.rego": overlay_rule(taken, "true")},
    )  # fmt: skip
    with pytest.raises(LoadError, match=f"duplicate rule id {taken}"):
        load_stack(overlay=path)


def test_layer_kind_must_match_its_slot(make_bundle: BundleFactory) -> None:
    path = make_bundle(layer="pack", name="p", roots=["charter/packs/p"], files={})
    with pytest.raises(LoadError, match="pack bundle but was given as the overlay"):
        load_stack(overlay=path)


def test_parameters_fold_to_the_strictest(make_bundle: BundleFactory) -> None:
    looser = make_bundle(
        layer="pack", name="p", roots=["charter/packs/p"],
        files={"charter/packs/p/data.json": json.dumps(
            {"parameters": {"vulnerability_severity_threshold": "critical",
                            "min_human_approvals_for_main": 0,
                            "allow_source_code_export": True}})},
    )  # fmt: skip
    stricter = make_bundle(
        layer="overlay", name="o", roots=["charter/overlay"],
        files={"charter/overlay/data.json": json.dumps(
            {"parameters": {"vulnerability_severity_threshold": "medium",
                            "min_human_approvals_for_main": 2,
                            "required_tool_categories": ["sbom"]}})},
    )  # fmt: skip
    stack = load_stack(packs=[looser], overlay=stricter)
    assert stack.parameters["vulnerability_severity_threshold"] == "medium"
    assert stack.parameters["min_human_approvals_for_main"] == 2
    assert stack.parameters["allow_source_code_export"] is False
    # superset: the overlay's shorter list cannot drop required categories
    assert set(stack.parameters["required_tool_categories"]) >= {
        "sbom", "signing", "provenance", "vulnerability-scan"
    }  # fmt: skip


def test_lower_layer_cannot_redeclare_a_parameter(make_bundle: BundleFactory) -> None:
    path = make_bundle(
        layer="overlay", name="o", roots=["charter/overlay"],
        files={"charter/overlay/data.json": json.dumps({"parameters": {
            "allow_source_code_export": {"value": True, "stricter": "true"}}})},
    )  # fmt: skip
    with pytest.raises(PolicyError, match="already declared"):
        load_stack(overlay=path)


def test_unknown_parameter_is_an_error(make_bundle: BundleFactory) -> None:
    path = make_bundle(
        layer="overlay", name="o", roots=["charter/overlay"],
        files={"charter/overlay/data.json": json.dumps({"parameters": {"no_such_knob": 3}})},
    )  # fmt: skip
    with pytest.raises(PolicyError, match="unknown parameter no_such_knob"):
        load_stack(overlay=path)


def test_profile_narrows_by_intersection(make_bundle: BundleFactory) -> None:
    path = make_bundle(
        layer="overlay", name="o", roots=["charter/overlay"],
        files={"charter/overlay/data.json": json.dumps(
            {"profile": {"sbom": ["syft", "some-other-tool"]}})},
    )  # fmt: skip
    stack = load_stack(overlay=path)
    assert stack.profile["sbom"] == ["syft"]


def _constitution(make_bundle: BundleFactory, profile: dict[str, list[str]]) -> Path:
    return make_bundle(
        layer="constitution", name="c", roots=["charter/constitution"],
        files={"charter/constitution/data.json": json.dumps({
            "parameters": {"required_tool_categories": {
                "value": ["sbom", "signing"], "stricter": "superset"}},
            "profile": profile})},
    )  # fmt: skip


def test_profile_lower_layer_cannot_fill_a_required_but_unlisted_category(
    make_bundle: BundleFactory,
) -> None:
    # The constitution requires `signing` but lists no tool for it: no tool is
    # allowed, and an overlay listing one must not open that up.
    constitution = _constitution(make_bundle, {"sbom": ["syft"]})
    overlay = make_bundle(
        layer="overlay", name="o", roots=["charter/overlay"],
        files={"charter/overlay/data.json": json.dumps(
            {"profile": {"signing": ["homemade-signer"]}})},
    )  # fmt: skip
    stack = load_stack(constitution=constitution, overlay=overlay)
    assert stack.profile["signing"] == []


def test_profile_lower_layer_may_add_a_category_it_requires_itself(
    make_bundle: BundleFactory,
) -> None:
    constitution = _constitution(make_bundle, {"sbom": ["syft"], "signing": ["cosign"]})
    pack = make_bundle(
        layer="pack", name="p", roots=["charter/packs/p"],
        files={"charter/packs/p/data.json": json.dumps({
            "parameters": {"required_tool_categories": ["sbom", "signing", "container-build"]},
            "profile": {"container-build": ["kaniko", "buildkit"]}})},
    )  # fmt: skip
    overlay = make_bundle(
        layer="overlay", name="o", roots=["charter/overlay"],
        files={"charter/overlay/data.json": json.dumps(
            {"profile": {"container-build": ["kaniko", "docker"]}})},
    )  # fmt: skip
    stack = load_stack(constitution=constitution, packs=[pack], overlay=overlay)
    # The pack introduced the category; the overlay, below it, can only narrow it.
    assert stack.profile["container-build"] == ["kaniko"]
    assert stack.profile["signing"] == ["cosign"]


def test_directory_layer_round_trip(make_bundle: BundleFactory) -> None:
    path = make_bundle(
        layer="overlay", name="o", roots=["charter/overlay"],
        files={"r.rego": overlay_rule("ACME-ONE-001", "true")},
    )  # fmt: skip
    layer = load_directory(path)
    stack = load_stack(overlay=layer)
    assert stack.rules["ACME-ONE-001"].layer == "overlay"
    assert stack.layer_of_package("charter.overlay.r1") is layer


def test_only_the_constitution_may_read_charters_own_data(make_bundle: BundleFactory) -> None:
    reader = overlay_rule("OV-READS-INTERNAL-001", "data.charter_internal.secret_scan == true")
    path = make_bundle(
        layer="overlay", name="o", roots=["charter/overlay"], files={"r.rego": reader}
    )
    report = lint_bundle(path)
    assert "CHARTER-L011" in report.codes()
    assert "CHARTER-L011" not in lint_bundle(shipped_constitution_path()).codes()


def test_compiling_never_writes_into_a_layers_data(make_bundle: BundleFactory) -> None:
    """Merged data is a copy: a layer reused by a later stack (runner swaps, the hook
    daemon) must not carry an earlier overlay's data into it."""
    overlay = make_bundle(
        layer="overlay", name="o", roots=["charter/overlay"],
        files={"charter/overlay/data.json": json.dumps({"approvers": ["sec-team"]})},
    )  # fmt: skip
    stack = load_stack(overlay=overlay)
    constitution = stack.layers[0]
    before = json.dumps(constitution.data, sort_keys=True)
    stack.compile()
    assert json.dumps(constitution.data, sort_keys=True) == before
    assert "overlay" not in constitution.data["charter"]
