"""`charter rule list/show/test` through the real command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from charter.cli import main
from charter.trust import keys
from charter.trust.versions import VersionState
from tests.bundle_helpers import make_key, overlay_bundle
from tests.cli_helpers import CliResult, invoke
from tests.conftest import BundleFactory, overlay_rule


def charter(*args: str, stdin: str | None = None) -> CliResult:
    return invoke(*args, stdin=stdin)


def test_the_console_script_runs_in_its_own_process() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import sys; from charter.cli import main; sys.exit(main())",
         "rule", "list", "--layer", "constitution", "--format", "json"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert {r["layer"] for r in json.loads(result.stdout)} == {"constitution"}


def test_rule_list_json_has_the_contract_fields() -> None:
    result = charter("rule", "list", "--layer", "constitution", "--format", "json")
    assert result.returncode == 0, result.stderr
    rules = json.loads(result.stdout)
    assert rules
    for rule in rules:
        assert set(rule) >= {"id", "layer", "severity", "category", "title"}
        assert rule["layer"] == "constitution"


def test_rule_list_rejects_unknown_layer() -> None:
    result = charter("rule", "list", "--layer", "basement")
    assert result.returncode == 2
    assert "basement" in result.stderr
    assert "Traceback" not in result.stderr


def test_rule_show_unknown_id_is_exit_2() -> None:
    result = charter("rule", "show", "NOPE-NOPE-001")
    assert result.returncode == 2
    assert "no rule 'NOPE-NOPE-001'" in result.stderr


def test_rule_show_json() -> None:
    result = charter("rule", "show", "PROC-NO-DIRECT-PUSH-001", "--format", "json")
    assert result.returncode == 0, result.stderr
    rule = json.loads(result.stdout)
    assert rule["id"] == "PROC-NO-DIRECT-PUSH-001"
    assert rule["links"]
    assert ".rego:" in rule["location"]


def _overlay_with_tests(make_bundle: BundleFactory, test_body: str) -> Path:
    return make_bundle(
        layer="overlay",
        name="acme",
        roots=["charter/overlay"],
        files={
            "r1.rego": overlay_rule("ACME-MERGE-001", 'input.kind == "merge"'),
            "r1_test.rego": (
                "package charter.overlay.r1_test\n\nimport rego.v1\n\n"
                "import data.charter.overlay.r1\n\n" + test_body
            ),
        },
    )


def test_rule_test_reports_passes_like_opa(make_bundle: BundleFactory) -> None:
    path = _overlay_with_tests(
        make_bundle,
        'test_merge_denied if {\n\tcount(r1.deny) == 1 with input as {"kind": "merge"}\n}\n\n'
        'test_push_allowed if {\n\tcount(r1.deny) == 0 with input as {"kind": "push"}\n}\n',
    )
    result = charter("rule", "test", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "data.charter.overlay.r1_test.test_merge_denied: PASS (" in result.stdout
    assert "PASS: 2/2" in result.stdout


def test_rule_test_failure_names_test_location_and_verdicts(make_bundle: BundleFactory) -> None:
    path = _overlay_with_tests(
        make_bundle,
        # Wrong on purpose: a push is not denied by the rule.
        'test_push_denied if {\n\tcount(r1.deny) == 1 with input as {"kind": "push"}\n}\n',
    )
    result = charter("rule", "test", str(path))
    assert result.returncode == 1
    assert "data.charter.overlay.r1_test.test_push_denied: FAIL" in result.stdout
    assert "r1_test.rego:7" in result.stdout
    assert "expected verdict: deny, actual verdict: allow" in result.stdout
    assert "FAIL: 1/1" in result.stdout


def test_rule_test_parse_error_is_an_error_result_with_location(
    make_bundle: BundleFactory,
) -> None:
    # Like `opa test`, a module that does not parse is reported (file:line) as an
    # ERROR and the run goes on; it fails the run (exit 1), never a traceback.
    path = make_bundle(
        layer="overlay",
        name="acme",
        roots=["charter/overlay"],
        files={
            "bad_test.rego": "package charter.overlay.bad_test\n\nimport rego.v1\n\ntest_x if {\n"
        },
    )
    result = charter("rule", "test", str(path))
    assert result.returncode == 1
    assert "bad_test.rego (module): ERROR" in result.stdout
    assert "bad_test.rego:6" in result.stdout and "ERROR: 1/1" in result.stdout
    assert "Traceback" not in result.stderr


def test_rule_test_json_output(make_bundle: BundleFactory) -> None:
    path = _overlay_with_tests(
        make_bundle,
        'test_merge_denied if {\n\tcount(r1.deny) == 1 with input as {"kind": "merge"}\n}\n',
    )
    result = charter("rule", "test", str(path), "--format", "json")
    assert result.returncode == 0
    report = json.loads(result.stdout)
    assert report["passed"] == 1 and report["failed"] == 0


def test_unknown_command_is_usage_error() -> None:
    result = charter("frobnicate")
    assert result.returncode == 2
    assert "No such command" in result.stderr


# --------------------------------------------------------------------------
# Signed layers: the same stack options as `charter check`
# --------------------------------------------------------------------------


def _signed_setup(tmp_path: Path) -> tuple[Path, keys.PrivateKey]:
    """A trust policy pinning an overlay key and a pack key; returns it and the overlay key."""
    key, public = make_key(tmp_path / "overlay-key")
    pack_key, other_public = make_key(tmp_path / "pack-key")
    (tmp_path / "pack-key/signing.key").write_bytes(keys.private_pem(pack_key))
    policy = tmp_path / "trust.toml"
    policy.write_text(
        f'[layers.overlay]\nkeys = ["{public}"]\n\n[layers.pack]\nkeys = ["{other_public}"]\n'
    )
    return policy, key


def _list(*args: str) -> tuple[int, list[dict[str, object]] | None]:
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = main(["rule", "list", "--format", "json", *args])
    return code, (json.loads(buffer.getvalue()) if code == 0 else None)


def test_rule_list_loads_a_signed_overlay_through_trust(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy, key = _signed_setup(tmp_path)
    bundle = tmp_path / "ov.tar.gz"
    bundle.write_bytes(overlay_bundle(tmp_path / "src", key, "1.2.0"))
    state = tmp_path / "state"
    code, rules = _list("--trust", str(policy), "--overlay", str(bundle), "--state-dir", str(state))
    assert code == 0 and rules is not None
    overlay = [r for r in rules if r["layer"] == "overlay"]
    assert [r["id"] for r in overlay] == ["ACME-NO-DOCKERFILE-001"]
    assert any(r["layer"] == "constitution" for r in rules)
    # Looking at a version is not accepting it: nothing is recorded.
    assert VersionState(state).get("overlay/acme") is None
    # `rule show` and `rule test` take the same options.
    assert main(["rule", "show", "ACME-NO-DOCKERFILE-001", "--trust", str(policy),
                 "--overlay", str(bundle), "--state-dir", str(state)]) == 0  # fmt: skip
    assert "ACME-NO-DOCKERFILE-001" in capsys.readouterr().out
    assert main(["rule", "test", "--trust", str(policy), "--overlay", str(bundle),
                 "--state-dir", str(state), "--run", "no_direct_push"]) == 0  # fmt: skip
    assert "PASS:" in capsys.readouterr().out


def test_rule_list_reads_the_trust_policy_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy, key = _signed_setup(tmp_path)
    bundle = tmp_path / "ov.tar.gz"
    bundle.write_bytes(overlay_bundle(tmp_path / "src", key))
    monkeypatch.setenv("CHARTER_TRUST_POLICY", str(policy))
    code, rules = _list("--overlay", str(bundle))
    assert code == 0 and rules is not None
    assert "ACME-NO-DOCKERFILE-001" in {r["id"] for r in rules}


@pytest.mark.parametrize(
    ("problem", "message"),
    [
        ("no-policy", "needs a trust policy"),
        ("wrong-key", "not trusted for the overlay layer"),
        ("pack-key", "not trusted for the overlay layer"),
        ("tampered", "not a gzip archive|truncated|corrupt|has been modified"),
    ],
)
def test_rule_list_refuses_what_does_not_verify(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], problem: str, message: str
) -> None:
    import re

    policy, key = _signed_setup(tmp_path)
    signer = key
    if problem == "wrong-key":
        signer = keys.generate()
    elif problem == "pack-key":  # pinned, but for the pack layer only
        signer = keys.load_private(tmp_path / "pack-key/signing.key")
    data = overlay_bundle(tmp_path / "src", signer)
    if problem == "tampered":
        data = data[:-40]
    bundle = tmp_path / "ov.tar.gz"
    bundle.write_bytes(data)
    args = ["--overlay", str(bundle)] if problem == "no-policy" else [
        "--trust", str(policy), "--overlay", str(bundle)]  # fmt: skip
    # Exit 2 (no result), never 0 or 1: an unverified stack lists nothing.
    assert main(["rule", "list", *args]) == 2
    captured = capsys.readouterr()
    assert re.search(message, captured.err), captured.err
    assert "ACME-NO-DOCKERFILE-001" not in captured.out


def test_rule_list_refuses_a_downgrade_and_a_major_without_consent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy, key = _signed_setup(tmp_path)
    state = str(tmp_path / "state")
    versions = {}
    for version in ("1.4.0", "1.3.0", "2.0.0"):
        versions[version] = tmp_path / f"ov-{version}.tar.gz"
        versions[version].write_bytes(overlay_bundle(tmp_path / "src", key, version))
    base = ["--trust", str(policy), "--state-dir", state, "--overlay"]
    # `check` accepts 1.4.0 (and records it in --state-dir, not $CHARTER_STATE_DIR).
    proposal = tmp_path / "p.json"
    proposal.write_text(
        json.dumps({"kind": "pull_request", "repository": "a/b", "base": "main", "head": "f",
                    "author": {"id": "alice", "type": "human"}, "title": "t", "body": "b"})
    )  # fmt: skip
    # Without an identity map "alice" is not believed human, so the missing citation
    # block denies (exit 1): what matters here is that check accepted 1.4.0.
    assert main(["check", str(proposal), *base, str(versions["1.4.0"]), "--no-audit"]) == 1
    assert VersionState(Path(state)).get("overlay/acme").version == "1.4.0"  # type: ignore[union-attr]
    capsys.readouterr()
    assert _list(*base, str(versions["1.4.0"]))[0] == 0
    assert _list(*base, str(versions["1.3.0"]))[0] == 2
    assert "rollback refused" in capsys.readouterr().err
    assert _list(*base, str(versions["2.0.0"]))[0] == 2
    assert "--allow-major" in capsys.readouterr().err
    assert _list(*base, str(versions["2.0.0"]), "--allow-major")[0] == 0
    # Listing 2.0.0 did not accept it.
    assert VersionState(Path(state)).get("overlay/acme").version == "1.4.0"  # type: ignore[union-attr]
