"""The policy linter: each kind of loosening fails with its own code; honest layers pass."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import ModuleType

import pytest

from charter.actions import constitution as model
from charter.actions import lint as constitution_lint
from charter.actions.lint import default_constitution_toml, lint_constitution_toml
from charter.cli import main
from charter.policy import lint as policy_lint
from charter.policy.build import sign_rule as build_sign_rule
from charter.policy.lint import CODES, LintFailed, build_validator, lint_bundle, lint_paths
from charter.render.sarif import lint_report as to_sarif
from charter.trust import keys
from tests.bundle_helpers import make_key
from tests.conftest import BundleFactory, write_bundle

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "overlay"
UPPER_TOML = default_constitution_toml()


def sign_rule(file: Path, key: keys.PrivateKey) -> tuple[Path, tuple[str, ...]]:
    """Sign as `charter rule sign` does: the policy linter is the validator."""
    return build_sign_rule(file, key, validators=(build_validator,))


RULE = """# METADATA
# title: Rule {rid}
# description: A test rule.
# related_resources:
#   - ref: https://example.test/{rid}
# custom:
#   id: {rid}
#   severity: high
#   category: process
package {package}

import rego.v1

deny contains {{"rule": "{rid}", "msg": "no"}} if {{
	input.kind == "merge"
}}
"""

TEST = """package {package}_test

import rego.v1

import data.{package}

test_merge_denied if {{
	some e in {last}.deny with input as {{"kind": "merge"}}
	e.rule == "{rid}"
}}

test_push_allowed if {{
	count({last}.deny) == 0 with input as {{"kind": "push"}}
}}
"""


def rule_files(
    rid: str = "ACME-MERGE-001", package: str = "charter.overlay.merge"
) -> dict[str, str]:
    last = package.rsplit(".", 1)[-1]
    stem = package.replace(".", "/")
    return {
        f"{stem}/rule.rego": RULE.format(rid=rid, package=package),
        f"{stem}/rule_test.rego": TEST.format(rid=rid, package=package, last=last),
    }


def overlay(make_bundle: BundleFactory, files: dict[str, str], **kw: object) -> Path:
    args: dict[str, object] = {
        "layer": "overlay",
        "name": "acme",
        "roots": ["charter/overlay"],
        "files": files,
    }
    args.update(kw)
    return make_bundle(**args)


def codes(path: Path) -> set[str]:
    return lint_bundle(path).codes()


# ------------------------------------------------------------------ honest layers


def test_example_overlay_passes() -> None:
    report = lint_bundle(EXAMPLE)
    assert report.ok, [f.to_dict() for f in report.findings]
    assert not report.findings


def test_shipped_constitution_and_every_pack_pass() -> None:
    root = Path(__file__).resolve().parents[1]
    assert lint_bundle(root / "src/charter/policies/constitution").ok
    packs = sorted((root / "examples/packs").iterdir())
    assert len(packs) >= 4
    for pack in packs:
        report = lint_bundle(pack)
        assert report.ok, (pack.name, [str(f) for f in report.errors])


def test_honest_overlay_with_stricter_parameters_passes(make_bundle: BundleFactory) -> None:
    files = rule_files()
    files["charter/overlay/data.json"] = json.dumps(
        {
            "parameters": {
                "vulnerability_severity_threshold": "medium",
                "max_waiver_days": 30,
                "protected_branches": ["main", "release"],
                "require_signed_sbom": True,
            },
            "profile": {"sbom": ["syft"]},
        }
    )
    report = lint_bundle(overlay(make_bundle, files))
    assert report.ok, [f.to_dict() for f in report.findings]


# ------------------------------------------------------------------ loosening, one code each


def test_overlapping_roots(make_bundle: BundleFactory) -> None:
    path = overlay(make_bundle, rule_files(package="charter.constitution.x"),
                   roots=["charter/constitution/x"])  # fmt: skip
    found = codes(path)
    assert "CHARTER-L003" in found
    assert "CHARTER-L005" in found


def test_redefining_a_constitution_rule(make_bundle: BundleFactory) -> None:
    path = overlay(make_bundle, rule_files(rid="PROC-NO-SELF-APPROVAL-001"))
    report = lint_bundle(path)
    assert "CHARTER-L004" in report.codes()
    finding = next(f for f in report.findings if f.code == "CHARTER-L004")
    assert "constitution" in finding.message
    assert finding.line is not None and finding.hint


def test_looser_parameter(make_bundle: BundleFactory) -> None:
    files = rule_files()
    files["charter/overlay/data.json"] = json.dumps(
        {"parameters": {"vulnerability_severity_threshold": "critical"}}
    )
    report = lint_bundle(overlay(make_bundle, files))
    assert report.codes() == {"CHARTER-L020"}
    assert "critical" in report.errors[0].message and "high" in report.errors[0].message


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"max_waiver_days": {"value": 365, "stricter": "higher"}}, "CHARTER-L021"),
        ({"no_such_parameter": 1}, "CHARTER-L022"),
        ({"require_signed_sbom": "yes"}, "CHARTER-L023"),
        ({"protected_branches": []}, "CHARTER-L020"),
        ({"min_human_approvals_for_main": 0}, "CHARTER-L020"),
    ],
)
def test_parameter_checks(make_bundle: BundleFactory, params: dict[str, object], code: str) -> None:
    files = rule_files()
    files["charter/overlay/data.json"] = json.dumps({"parameters": params})
    assert code in codes(overlay(make_bundle, files))


def test_profile_only_narrows(make_bundle: BundleFactory) -> None:
    files = rule_files()
    files["charter/overlay/data.json"] = json.dumps({"profile": {"sbom": ["homegrown"]}})
    assert codes(overlay(make_bundle, files)) == {"CHARTER-L024"}


def test_rule_without_tests(make_bundle: BundleFactory) -> None:
    files = {k: v for k, v in rule_files().items() if not k.endswith("_test.rego")}
    report = lint_bundle(overlay(make_bundle, files))
    assert report.codes() == {"CHARTER-L060"}


def test_rule_tested_only_positively(make_bundle: BundleFactory) -> None:
    files = rule_files()
    test_file = next(k for k in files if k.endswith("_test.rego"))
    files[test_file] = files[test_file].split("test_push_allowed")[0]
    report = lint_bundle(overlay(make_bundle, files))
    assert report.codes() == {"CHARTER-L060"}
    assert "stays silent" in report.errors[0].message


def test_failing_test(make_bundle: BundleFactory) -> None:
    files = rule_files()
    files["charter/overlay/merge/extra_test.rego"] = (
        "package charter.overlay.merge_extra_test\n\nimport rego.v1\n\n"
        "test_wrong if {\n\tfalse\n}\n"
    )
    assert "CHARTER-L061" in codes(overlay(make_bundle, files))


def test_missing_citation_and_metadata(make_bundle: BundleFactory) -> None:
    files = rule_files()
    rule = next(k for k in files if k.endswith("rule.rego"))
    files[rule] = files[rule].replace(
        "# related_resources:\n#   - ref: https://example.test/ACME-MERGE-001\n", ""
    )
    files[rule] = files[rule].replace("#   category: process\n", "")
    report = lint_bundle(overlay(make_bundle, files))
    messages = [f.message for f in report.findings if f.code == "CHARTER-L050"]
    assert any("link nor a citation" in m for m in messages)
    assert any("category" in m for m in messages)


def test_module_without_rule_id(make_bundle: BundleFactory) -> None:
    files = {"charter/overlay/x.rego": "package charter.overlay.x\n\nimport rego.v1\n\n"
             'deny contains {"rule": "X", "msg": "m"} if false\n'}  # fmt: skip
    assert "CHARTER-L051" in codes(overlay(make_bundle, files))


def test_package_and_data_outside_roots(make_bundle: BundleFactory) -> None:
    files = rule_files(package="acme.merge")
    files["elsewhere/data.json"] = json.dumps({"x": 1})
    found = codes(overlay(make_bundle, files))
    assert {"CHARTER-L001", "CHARTER-L002"} <= found


def test_with_override_of_upper_data_in_policy_module(make_bundle: BundleFactory) -> None:
    files = rule_files()
    rule = next(k for k in files if k.endswith("rule.rego"))
    files[rule] = files[rule].replace(
        'input.kind == "merge"\n',
        'input.kind == "merge"\n\tnot data.charter.constitution.process.no_self_approval.deny '
        "with data.charter.constitution.parameters as {}\n",
    )
    report = lint_bundle(overlay(make_bundle, files))
    assert "CHARTER-L010" in report.codes()


def test_allow_rule_is_a_warning_and_deny_must_be_a_set(make_bundle: BundleFactory) -> None:
    files = rule_files()
    rule = next(k for k in files if k.endswith("rule.rego"))
    files[rule] += "\nallow if true\n"
    report = lint_bundle(overlay(make_bundle, files))
    assert report.ok
    assert {f.code for f in report.warnings} == {"CHARTER-L012"}
    files[rule] = files[rule].replace("deny contains", "deny_old contains") + "\ndeny := true\n"
    assert "CHARTER-L013" in codes(overlay(make_bundle, files))


def test_unparseable_module_is_a_finding_not_a_crash(make_bundle: BundleFactory) -> None:
    report = lint_bundle(overlay(make_bundle, {"charter/overlay/x.rego": "package ((("}))
    assert report.codes() == {"CHARTER-L000"}


# ------------------------------------------------------------------ constitution TOML


def lower_toml(tmp_path: Path, body: str) -> model.Constitution:
    path = tmp_path / "lower.toml"
    path.write_text('[identity]\nversion = "1.0.0"\n\n' + body)
    return model.read(path)[1]


def upper() -> model.Constitution:
    return model.read(UPPER_TOML)[1]


def toml_codes(tmp_path: Path, body: str) -> set[str]:
    return {f.code for f in lint_constitution_toml(lower_toml(tmp_path, body), upper())}


def test_toml_honest_lower_layer_passes(tmp_path: Path) -> None:
    body = """[boundaries]
forbidden = ["terraform destroy*"]
requires_approval = ["make deploy*"]
auto_allowed = ["git status", "git diff", "cat README.md", "ruff check src", "echo *"]

[resource_limits]
max_api_cost_per_run = 1.0
max_file_write_size = "1MB"
allowed_directories = ["./src", "./tests"]
blocked_directories = ["./secrets"]

[model_permissions]
coding_model = { sandbox_only = true, can_execute = false }
"""
    findings = lint_constitution_toml(lower_toml(tmp_path, body), upper())
    assert findings == []


def test_toml_auto_allowed_outside_upper_language(tmp_path: Path) -> None:
    body = '[boundaries]\nauto_allowed = ["git status", "npm publish"]\n'
    findings = lint_constitution_toml(lower_toml(tmp_path, body), upper())
    assert [f.code for f in findings] == ["CHARTER-L030"]
    message = findings[0].message
    assert "`npm publish`" in message
    assert "upper layer: ask" in message
    assert findings[0].location.endswith(":5")


def test_toml_removing_a_forbidden_pattern(tmp_path: Path) -> None:
    kept = [p for p in upper().forbidden if p != "rm -rf /"]
    body = "[boundaries]\nforbidden = " + json.dumps(kept) + "\n"
    findings = lint_constitution_toml(lower_toml(tmp_path, body), upper())
    assert [f.code for f in findings] == ["CHARTER-L034"]
    assert "'rm -rf /'" in findings[0].message


def test_toml_demoting_a_forbidden_pattern(tmp_path: Path) -> None:
    body = '[boundaries]\nrequires_approval = ["rm -rf /"]\n'
    assert toml_codes(tmp_path, body) == {"CHARTER-L035"}


def test_toml_larger_limit(tmp_path: Path) -> None:
    body = '[resource_limits]\nmax_api_cost_per_day = 500.0\nmax_file_write_size = "1GB"\n'
    findings = lint_constitution_toml(lower_toml(tmp_path, body), upper())
    assert [f.code for f in findings] == ["CHARTER-L036", "CHARTER-L036"]


def test_toml_wider_directory(tmp_path: Path) -> None:
    body = '[resource_limits]\nallowed_directories = ["./src", "/"]\n'
    findings = lint_constitution_toml(lower_toml(tmp_path, body), upper())
    assert [f.code for f in findings] == ["CHARTER-L037"]
    assert "'/'" in findings[0].message


def test_toml_dropping_a_blocked_directory(tmp_path: Path) -> None:
    body = '[resource_limits]\nblocked_directories = ["/etc"]\n'
    assert toml_codes(tmp_path, body) == {"CHARTER-L034"}


def test_toml_looser_model_permission(tmp_path: Path) -> None:
    body = "[model_permissions]\nplanning_model = { can_execute = true, sandbox_only = false }\n"
    findings = lint_constitution_toml(lower_toml(tmp_path, body), upper())
    assert [f.code for f in findings] == ["CHARTER-L038", "CHARTER-L038"]


# ------------------------------------------------------------------ renderers, build, CLI


def test_sarif_report_shape(make_bundle: BundleFactory) -> None:
    files = {k: v for k, v in rule_files().items() if not k.endswith("_test.rego")}
    report = lint_bundle(overlay(make_bundle, files))
    sarif = to_sarif(report, CODES)
    assert sarif["version"] == "2.1.0"
    run = sarif["runs"][0]
    assert run["tool"]["driver"]["rules"][0]["id"] == "CHARTER-L060"
    result = run["results"][0]
    assert result["level"] == "error"
    assert result["locations"][0]["physicalLocation"]["region"]["startLine"] >= 1


@pytest.mark.parametrize("module", [policy_lint, constitution_lint])
def test_every_code_is_documented(module: ModuleType) -> None:
    doc = module.__doc__ or ""
    codes = module.CODES
    assert codes
    for code in codes:
        assert code in doc


def test_cli_lint_formats_and_exit_codes(
    make_bundle: BundleFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["rule", "lint", str(EXAMPLE)]) == 0
    assert "PASS" in capsys.readouterr().out
    bad = overlay(make_bundle, rule_files(rid="PROC-NO-SELF-APPROVAL-001"))
    assert main(["rule", "lint", str(bad), "--format", "json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is False and doc["findings"][0]["code"] == "CHARTER-L004"
    assert main(["rule", "lint", str(bad), "--format", "sarif"]) == 1
    assert json.loads(capsys.readouterr().out)["version"] == "2.1.0"


def test_cli_lint_toml_against_upper(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lower = tmp_path / "lower.toml"
    lower.write_text('[identity]\nversion = "1.0.0"\n[boundaries]\nauto_allowed = ["git *"]\n')
    assert main(["rule", "lint", str(lower), "--against", str(UPPER_TOML)]) == 1
    out = capsys.readouterr().out
    assert "CHARTER-L030" in out and "would newly auto-allow" in out


def test_lint_paths_accepts_a_rule_file_inside_a_bundle() -> None:
    rule = EXAMPLE / "charter/overlay/change_management/ticket_required.rego"
    report = lint_paths([rule])
    assert report.ok and report.targets == (str(EXAMPLE),)


def test_authoring_loop_sign_then_build(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    work = tmp_path / "overlay"
    shutil.copytree(EXAMPLE, work)
    key, _ = make_key(tmp_path / "keys")
    from charter.trust import keys as keymod

    keymod.write_private(tmp_path / "keys/signing.key", key)
    rule = work / "charter/overlay/change_management/ticket_required.rego"
    assert main(["rule", "test", str(work)]) == 0
    assert main(["rule", "lint", str(rule)]) == 0
    assert main(["rule", "sign", str(rule), "--key", str(tmp_path / "keys/signing.key")]) == 0
    signatures = json.loads((work / ".signatures.json").read_text())
    assert len(signatures["signatures"]) == 1
    out = tmp_path / "overlay.tar.gz"
    code = main(["bundle", "build", str(work), "-o", str(out), "--key",
                 str(tmp_path / "keys/signing.key")])  # fmt: skip
    assert code == 0 and out.is_file()
    capsys.readouterr()
    # The signed bundle loads through a trust policy and its rule decides.
    policy = tmp_path / "trust.toml"
    policy.write_text(f'[layers.overlay]\nkeys = ["{tmp_path / "keys/signing.pub"}"]\n')
    trusted = ["--trust", str(policy), "--overlay", str(out)]
    assert main(["rule", "list", "--layer", "overlay", "--format", "json", *trusted]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in listed] == ["CM-TICKET-REQUIRED-001"]
    merge = {
        "kind": "merge", "repository": "acme/platform", "base": "main",
        "head": "feature/billing", "author": {"id": "agent-7", "type": "agent"},
        "title": "billing", "body": "Roll up billing.", "environment": "production",
        "files": [], "approvals": [{"by": "alice", "type": "human", "groups": []}],
    }  # fmt: skip
    for body, cited in (("Roll up billing.", True), ("Roll up billing. CM-1234", False)):
        proposal = tmp_path / "merge.json"
        proposal.write_text(json.dumps({**merge, "body": body}))
        code = main(["check", str(proposal), "--no-audit", "--format", "json", *trusted])
        decision = json.loads(capsys.readouterr().out)
        reasons = {(r["rule"], r["layer"]) for r in decision["reasons"]}
        assert (("CM-TICKET-REQUIRED-001", "overlay") in reasons) is cited
        if cited:
            assert code == 1 and decision["verdict"] == "deny"


def test_sign_refuses_a_bundle_that_fails_lint(tmp_path: Path) -> None:
    key, _ = make_key(tmp_path / "keys")
    work = write_bundle(
        tmp_path / "ov",
        layer="overlay",
        name="acme",
        roots=["charter/overlay"],
        files={k: v for k, v in rule_files().items() if not k.endswith("_test.rego")},
    )
    rule = next(work.rglob("rule.rego"))
    with pytest.raises(LintFailed):
        sign_rule(rule, key)
    assert not (work / ".signatures.json").exists()


def test_sign_keeps_only_entries_it_can_verify(tmp_path: Path) -> None:
    key, _ = make_key(tmp_path / "keys")
    work = tmp_path / "overlay"
    shutil.copytree(EXAMPLE, work)
    rule = work / "charter/overlay/change_management/ticket_required.rego"
    _, covered = sign_rule(rule, key)
    assert covered == (
        ".manifest",
        "charter/overlay/change_management/ticket_required.rego",
        "charter/overlay/change_management/ticket_required_test.rego",
    )
    # Signing again with another key does not carry over the first key's entries blindly.
    other, _ = make_key(tmp_path / "other")
    _, again = sign_rule(rule, other)
    assert again == covered


def test_build_writes_nothing_when_lint_fails(
    make_bundle: BundleFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = rule_files()
    files["charter/overlay/data.json"] = json.dumps({"parameters": {"max_waiver_days": 365}})
    bad = overlay(make_bundle, files)
    key, _ = make_key(tmp_path / "keys")
    from charter.trust import keys as keymod

    keymod.write_private(tmp_path / "keys/signing.key", key)
    out = tmp_path / "bad.tar.gz"
    code = main(
        ["bundle", "build", str(bad), "-o", str(out), "--key", str(tmp_path / "keys/signing.key")]
    )
    assert code == 1
    assert not out.exists()
    err = capsys.readouterr().err
    assert "CHARTER-L020" in err and "max_waiver_days" in err and "Traceback" not in err


def test_build_validator_raises_lint_failed(make_bundle: BundleFactory) -> None:
    from charter.policy.build import BuildContext
    from charter.policy.bundle import layer_from_files, read_directory_files
    from charter.policy.stack import load_stack

    bad = overlay(make_bundle, rule_files(rid="PROC-NO-SELF-APPROVAL-001"))
    files = read_directory_files(bad)
    with pytest.raises(LoadError_or_policy()):
        layer = layer_from_files(files, source=str(bad))
        build_validator(BuildContext(bad, files, layer, load_stack().layers))


def LoadError_or_policy() -> type[Exception]:  # noqa: N802
    from charter.core.errors import PolicyError

    return PolicyError


# ------------------------------------------------------------------ impersonation, measurability


@pytest.mark.parametrize(
    "entry",
    [
        # a literal in the rule head
        'deny contains {"rule": "PROC-NO-SELF-APPROVAL-001", "msg": "no"} if {\n'
        '\tinput.kind == "merge"\n}\n',
        # a module-level constant
        'upper_id := "PROC-NO-SELF-APPROVAL-001"\n\n'
        'ask contains {"rule": upper_id, "msg": "no"} if {\n\tinput.kind == "merge"\n}\n',
        # an entry built in the body
        'deny contains entry if {\n\tinput.kind == "merge"\n'
        '\tentry := {"rule": "PROC-NO-SELF-APPROVAL-001", "msg": "no"}\n}\n',
    ],
)
def test_entry_citing_an_upper_rule_id_is_impersonation(
    make_bundle: BundleFactory, entry: str
) -> None:
    files = rule_files()
    rule = next(k for k in files if k.endswith("rule.rego"))
    files[rule] += "\n" + entry
    report = lint_bundle(overlay(make_bundle, files))
    assert report.codes() == {"CHARTER-L014"}, [f.to_dict() for f in report.findings]
    (finding,) = report.errors
    assert "PROC-NO-SELF-APPROVAL-001" in finding.message and "constitution" in finding.message
    assert finding.file.endswith("rule.rego") and finding.line is not None and finding.line > 15


def test_citing_its_own_rule_id_through_a_constant_is_fine(make_bundle: BundleFactory) -> None:
    files = rule_files()
    rule = next(k for k in files if k.endswith("rule.rego"))
    files[rule] = files[rule].replace('{"rule": "ACME-MERGE-001"', '{"rule": own_id')
    files[rule] += '\nown_id := "ACME-MERGE-001"\n'
    report = lint_bundle(overlay(make_bundle, files))
    assert report.ok and not report.findings, [f.to_dict() for f in report.findings]


def test_impersonating_entry_is_attributed_to_its_own_layer_at_runtime(
    make_bundle: BundleFactory,
) -> None:
    # The linter refuses it; were it shipped anyway, the decision still names
    # the emitting layer and no constitution metadata is borrowed.
    from charter.policy.decision import evaluate
    from charter.policy.stack import load_stack

    files = rule_files()
    rule = next(k for k in files if k.endswith("rule.rego"))
    files[rule] = files[rule].replace(
        '"ACME-MERGE-001", "msg"', '"PROC-NO-SELF-APPROVAL-001", "msg"'
    )
    path = overlay(make_bundle, files)
    assert "CHARTER-L014" in codes(path)
    merge = {
        "kind": "merge", "repository": "acme/platform", "base": "main", "head": "f",
        "author": {"id": "alice", "type": "human"}, "title": "t", "body": "b", "files": [],
        "approvals": [{"by": "bob", "type": "human", "groups": []}],
    }  # fmt: skip
    decision = evaluate(load_stack(overlay=path).compile(), merge)
    cited = [r for r in decision.reasons if r.rule == "PROC-NO-SELF-APPROVAL-001"]
    assert cited and {r.layer for r in cited} == {"overlay"}
    assert {r.severity for r in cited} == {"unknown"}


def test_unmeasurable_test_input_is_a_warning(make_bundle: BundleFactory) -> None:
    files = rule_files()
    test_file = next(k for k in files if k.endswith("_test.rego"))
    files[test_file] += (
        "\ntest_bound_input_denied if {\n"
        '\tdoc := {"kind": "merge"}\n'
        "\tsome e in merge.deny with input as doc\n"
        '\te.rule == "ACME-MERGE-001"\n}\n'
    )
    report = lint_bundle(overlay(make_bundle, files))
    assert report.ok
    assert report.codes() == {"CHARTER-L062"}
    (finding,) = report.warnings
    assert "doc" in finding.message and finding.line is not None


@pytest.mark.parametrize("module", [policy_lint, constitution_lint])
def test_every_declared_code_is_produced_somewhere(module: ModuleType) -> None:
    import inspect
    import re

    source = inspect.getsource(module)
    produced = set(re.findall(r'_(?:error|warning)\(\s*"(CHARTER-L\d+)"', source))
    codes = set(module.CODES)
    assert codes == produced, codes ^ produced


def test_the_policy_linter_neither_signs_nor_reads_the_agent_runtime() -> None:
    # load -> verify -> compile -> decide: the linter checks, policy.build signs;
    # constitution TOMLs are linted in charter.actions.lint (policy never imports actions).
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(policy_lint))
    imported = {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not [m for m in imported if m.startswith(("charter.actions", "charter.trust"))]
    assert not hasattr(policy_lint, "sign_rule")
    assert not hasattr(policy_lint, "lint_constitution_toml")


# ------------------------------------------------------------------ rule signing


def test_sign_rule_keeps_verified_entries_with_their_signed_hashes(tmp_path: Path) -> None:
    from charter.trust import signing

    key, _ = make_key(tmp_path / "keys")
    files = {**rule_files(), **rule_files("ACME-PUSH-001", "charter.overlay.push")}
    work = write_bundle(
        tmp_path / "ov", layer="overlay", name="acme", roots=["charter/overlay"], files=files
    )
    merge = work / "charter/overlay/merge/rule.rego"
    push = work / "charter/overlay/push/rule.rego"
    _, first = sign_rule(merge, key)
    assert "charter/overlay/push/rule.rego" not in first
    signed_merge = signing.file_hash("x.rego", merge.read_bytes())
    # Change the merge rule (still valid), then sign only the push rule.
    merge.write_text(merge.read_text().replace('msg": "no"', 'msg": "no merges"'))
    target, second = sign_rule(push, key)
    assert set(first) < set(second)
    entries = signing.signed_entries(target.read_bytes(), key.public_key(), scope="overlay")
    assert entries is not None
    # The merge rule keeps the hash it was signed with: its edit is not blessed.
    assert entries["charter/overlay/merge/rule.rego"] == signed_merge
    assert entries["charter/overlay/merge/rule.rego"] != signing.file_hash(
        "x.rego", merge.read_bytes()
    )
    # The written document is exactly what sign_entries makes of those entries.
    assert target.read_bytes() == signing.sign_entries(entries, key, scope="overlay")
    # Another key, or a signature for another layer, carries nothing over.
    other, _ = make_key(tmp_path / "other")
    _, third = sign_rule(push, other)
    assert "charter/overlay/merge/rule.rego" not in third
    assert signing.signed_entries(target.read_bytes(), key.public_key()) is None
    assert signing.signed_entries(target.read_bytes(), other.public_key(), scope="pack") is None
