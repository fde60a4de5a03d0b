"""Loading OPA bundle directories: manifests, roots, metadata, parse errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from charter.core.errors import LoadError, PolicyError
from charter.policy.bundle import layer_from_files, load_directory, parse_manifest
from tests.conftest import BundleFactory, overlay_rule
from tests.test_facts_evidence import nested, remove_nested


def test_loads_rules_with_metadata(make_bundle: BundleFactory) -> None:
    path = make_bundle(
        layer="overlay",
        name="acme",
        roots=["charter/overlay"],
        files={"r1.rego": overlay_rule("ACME-ONE-001", "input.kind == 'push'".replace("'", '"'))},
    )
    layer = load_directory(path)
    assert layer.kind == "overlay"
    assert [r.id for r in layer.rules] == ["ACME-ONE-001"]
    rule = layer.rules[0]
    assert rule.severity == "high"
    assert rule.links == ("https://example.test/ACME-ONE-001",)
    assert rule.file.endswith("r1.rego")
    assert layer.digest.startswith("sha256:")


def test_digest_changes_with_content(make_bundle: BundleFactory) -> None:
    a = make_bundle(
        layer="overlay", name="a", roots=["charter/overlay"],
        files={"r.rego": overlay_rule("ACME-ONE-001", "true")},
    )  # fmt: skip
    b = make_bundle(
        layer="overlay", name="a", roots=["charter/overlay"],
        files={"r.rego": overlay_rule("ACME-ONE-001", "false")},
    )  # fmt: skip
    assert load_directory(a).digest != load_directory(b).digest


def test_module_outside_roots_is_a_load_error(make_bundle: BundleFactory) -> None:
    rule = overlay_rule("ACME-ONE-001", "true").replace(
        "package charter.overlay.r1", "package charter.constitution.sneaky"
    )
    path = make_bundle(layer="overlay", name="a", roots=["charter/overlay"], files={"r.rego": rule})
    with pytest.raises(LoadError, match="outside this bundle's roots"):
        load_directory(path)


def test_data_outside_roots_is_a_load_error(make_bundle: BundleFactory) -> None:
    path = make_bundle(
        layer="overlay",
        name="a",
        roots=["charter/overlay"],
        files={"data.json": json.dumps({"charter": {"constitution": {"parameters": {}}}})},
    )
    with pytest.raises(LoadError, match="data path charter/constitution"):
        load_directory(path)


def test_duplicate_rule_id_names_both_files(make_bundle: BundleFactory) -> None:
    path = make_bundle(
        layer="overlay",
        name="a",
        roots=["charter/overlay"],
        files={
            "a.rego": overlay_rule("ACME-DUP-001", "true", package="a"),
            "b.rego": overlay_rule("ACME-DUP-001", "true", package="b"),
        },
    )
    with pytest.raises(LoadError) as info:
        load_directory(path)
    assert "a.rego" in str(info.value) and "b.rego" in str(info.value)


def test_rego_syntax_error_reports_file_line_col(make_bundle: BundleFactory) -> None:
    path = make_bundle(
        layer="overlay",
        name="a",
        roots=["charter/overlay"],
        files={"bad.rego": "package charter.overlay.bad\n\nimport rego.v1\n\np if {\n"},
    )
    with pytest.raises(PolicyError) as info:
        load_directory(path)
    message = str(info.value)
    assert "bad.rego:" in message
    assert "Stack backtrace" not in message


@pytest.mark.parametrize(
    ("manifest", "needle"),
    [
        (b"{", "not valid JSON"),
        (b"[]", "JSON object"),
        (json.dumps({"roots": []}).encode(), "roots"),
        (json.dumps({"roots": ["x"], "rego_version": 0}).encode(), "rego_version"),
        (json.dumps({"roots": ["x"]}).encode(), "metadata.charter"),
        (
            json.dumps(
                {
                    "roots": ["x"],
                    "metadata": {"charter": {"layer": "god", "name": "a", "version": "1.0.0"}},
                }
            ).encode(),
            "layer",
        ),
        (
            json.dumps(
                {
                    "roots": ["x"],
                    "metadata": {"charter": {"layer": "pack", "name": "a", "version": "v1"}},
                }
            ).encode(),
            "semantic version",
        ),
    ],
)
def test_bad_manifests_are_rejected(manifest: bytes, needle: str) -> None:
    with pytest.raises(PolicyError, match=needle):
        parse_manifest(manifest, "x/.manifest")


@pytest.mark.parametrize(
    ("custom", "needle"),
    [
        ("#   id: lower-case\n#   severity: high\n#   category: process", "stable id"),
        ("#   id: ACME-X-001\n#   severity: extreme\n#   category: process", "severity"),
        ("#   id: ACME-X-001\n#   severity: high", "category"),
    ],
)
def test_bad_rule_metadata_is_rejected(
    make_bundle: BundleFactory, custom: str, needle: str
) -> None:
    module = (
        "# METADATA\n# title: t\n# custom:\n" + custom + "\n"
        "package charter.overlay.x\n\nimport rego.v1\n\ndeny contains 1 if false\n"
    )
    path = make_bundle(
        layer="overlay", name="a", roots=["charter/overlay"], files={"x.rego": module}
    )
    with pytest.raises(PolicyError, match=needle):
        load_directory(path)


def test_missing_manifest(tmp_path: Path) -> None:
    (tmp_path / "x.rego").write_text("package x\n")
    with pytest.raises(LoadError, match="no .manifest"):
        load_directory(tmp_path)


def test_symlink_in_bundle_is_refused(make_bundle: BundleFactory, tmp_path: Path) -> None:
    path = make_bundle(layer="overlay", name="a", roots=["charter/overlay"], files={})
    target = tmp_path / "elsewhere.rego"
    target.write_text("package charter.overlay.evil\n")
    (path / "link.rego").symlink_to(target)
    with pytest.raises(LoadError, match="symbolic links"):
        load_directory(path)


def test_a_bundle_nested_deeper_than_the_recursion_limit_loads(
    make_bundle: BundleFactory,
) -> None:
    # rglob recursed once per folder: 1,200 nested folders in a change's overlay made
    # `check --overlay` and `rule lint` an "internal error".
    path = make_bundle(
        layer="overlay",
        name="a",
        roots=["charter/overlay"],
        files={"r.rego": overlay_rule("ACME-DEEP-001", "true")},
    )
    folders = nested(path, 1200)
    try:
        (folders[-1] / "x.txt").write_text("x\n")
        layer = load_directory(path)
        link = folders[400] / "link.rego"
        link.symlink_to(path / "r.rego")
        with pytest.raises(LoadError, match="symbolic links"):
            load_directory(path)
        link.unlink()
    finally:
        remove_nested(folders)
    assert [rule.id for rule in layer.rules] == ["ACME-DEEP-001"]


@pytest.mark.parametrize(
    ("name", "content", "needle"),
    [
        (".manifest", b'{"roots": ["x"], "roots": ["y"]}', "duplicate key 'roots'"),
        ("charter/overlay/data.json", b'{"limit": 1e999}', "does not fit a 64-bit float"),
        ("charter/overlay/data.json", b'{"name": "\\udc00"}', "lone surrogate"),
        ("charter/overlay/data.json", b'{"a": 1, "a": 2}', "duplicate key 'a'"),
    ],
)
def test_bundle_json_is_read_strictly(
    tmp_path: Path, name: str, content: bytes, needle: str
) -> None:
    # Before: data.json took 1e999 as inf and a lone surrogate as text (neither is JSON
    # another reader agrees on); the error names the file and says why.
    files = {
        ".manifest": json.dumps(
            {
                "roots": ["charter/overlay"],
                "metadata": {"charter": {"layer": "overlay", "name": "o", "version": "1.0.0"}},
            }
        ).encode(),
        name: content,
    }
    with pytest.raises(PolicyError) as info:
        layer_from_files(files, source="b")
    assert info.value.message.startswith(f"b/{name}: ")
    assert "not valid JSON" in info.value.message and needle in info.value.message
