"""Untrusted text reaches the terminal literally, through every text output of the CLI.

Commands, paths, file names, rule titles and messages, waiver reasons: none of
them is Charter's own text, so none may be read as Rich markup. Each command
below is fed bracketed strings and must show them verbatim, exit with its own
verdict, and never fail with a MarkupError.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

from charter.audit import stores as audit
from charter.cli import main
from charter.policy.stack import shipped_constitution_path
from charter.render import text as render_text
from tests.conftest import write_bundle
from tests.gate_helpers import constitution_text, write_signed

BRACKETS = ("[/]", "[green]ALLOW[/green]", "[bold]x[red]", "[core]", "[link=http://x]y[/link]")
TEXT = " ".join(BRACKETS)
#: The bracketed strings a file path can hold (a path cannot hold ``//``).
IN_PATHS = BRACKETS[:4]
EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "proposals"
NOW = "2026-11-20T10:00:00Z"
RULE = "ACME-BRACKETS-001"

RULE_MODULE = f"""# METADATA
# title: {json.dumps(TEXT)}
# description: {json.dumps(TEXT)}
# related_resources:
#   - ref: https://example.test/{RULE}
# custom:
#   id: {RULE}
#   severity: high
#   category: process
package charter.overlay.brackets

import rego.v1

deny contains {{"rule": "{RULE}", "msg": {json.dumps(TEXT)}}} if {{
	input.title == {json.dumps(TEXT)}
}}
"""
TEST_MODULE = f"""package charter.overlay.brackets_test

import rego.v1

import data.charter.overlay.brackets

test_fires if {{
	count(brackets.deny) == 1 with input as {{"title": {json.dumps(TEXT)}}}
}}

test_quiet if {{
	count(brackets.deny) == 0 with input as {{"title": "docs"}}
}}
"""


def tricky(base: Path) -> Path:
    """A directory whose path holds every bracketed string a path can hold."""
    path = base.joinpath(*IN_PATHS)
    path.mkdir(parents=True, exist_ok=True)
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def shows(text: str, strings: tuple[str, ...] = BRACKETS) -> None:
    missing = [s for s in strings if s not in text]
    assert not missing, f"{missing} not shown verbatim in:\n{text}"
    assert "MarkupError" not in text


@pytest.fixture(autouse=True)
def _wide(monkeypatch: pytest.MonkeyPatch) -> None:
    # Table cells fold at the terminal width; make room so strings stay whole.
    monkeypatch.setenv("COLUMNS", "1000")


@pytest.fixture
def overlay(tmp_path: Path) -> Path:
    return write_bundle(
        tricky(tmp_path) / "overlay",
        layer="overlay",
        name="acme",
        roots=["charter/overlay"],
        files={"rules/r.rego": RULE_MODULE, "rules/r_test.rego": TEST_MODULE},
    )


@pytest.fixture
def signed(tmp_path: Path) -> tuple[Path, Path]:
    return write_signed(tricky(tmp_path / "c"), constitution_text())


def gate(signed: tuple[Path, Path], *args: str | Path) -> list[str | Path]:
    return ["gate", "--constitution", signed[0], "--key", signed[1], *args]


# ------------------------------------------------------------------ the renderer itself


def test_literal_makes_control_characters_visible() -> None:
    assert render_text.literal("a\x1b[31mb\nc\u202e") == "a\\x1b[31mb\\x0ac\\u202e"
    assert render_text.literal("a\nb\tc", multiline=True) == "a\nb\tc"
    shown = render_text.render(render_text.styled(("[red]", "bold"), TEXT, " :smile:"))
    assert shown == f"[red]{TEXT} :smile:\n"


# ------------------------------------------------------------------ actions


@pytest.mark.parametrize(
    ("command", "code"),
    [
        (f"echo {' '.join(repr(b) for b in BRACKETS)}", 0),
        ("rm -rf / # [green]ALLOW[/green]", 1),
        (f"make {' '.join(repr(b) for b in BRACKETS)}", 3),
    ],
)
def test_gate_shows_the_command_verbatim_and_exits_with_its_verdict(
    signed: tuple[Path, Path], capsys: pytest.CaptureFixture[str], command: str, code: int
) -> None:
    exit_code, out, err = run(capsys, *gate(signed, "--command", command))
    assert exit_code == code, err
    assert out.startswith(f"{command}: "), out
    verdict = {0: "ALLOW", 1: "DENY", 3: "ASK"}[code]
    assert out.split("\n")[0].endswith(")") and f": {verdict}  (" in out
    records = list(audit.open_store(os.environ["CHARTER_AUDIT"]).records())
    assert records[-1]["verdict"] == verdict.lower()


def test_gate_echo_of_a_closing_tag_is_allowed_and_recorded_once(
    signed: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # The defect: MarkupError (exit 2) after the audit log already said allow.
    code, out, err = run(capsys, *gate(signed, "--command", "echo '[/]'"))
    assert (code, err) == (0, "")
    assert out.startswith("echo '[/]': ALLOW")
    records = list(audit.open_store(os.environ["CHARTER_AUDIT"]).records())
    assert [r["verdict"] for r in records] == ["allow"]


def test_gate_file_actions_show_the_path(
    signed: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tricky(tmp_path) / "[bold]x[red].json"
    for option in ("--write", "--read"):
        code, out, err = run(capsys, *gate(signed, option, target, "--cwd", tmp_path))
        assert code in (0, 1, 3) and not err, err
        shows(out, IN_PATHS)
        assert f"{target}: " in out


def test_exec_refusal_names_the_command_verbatim(
    signed: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["exec", "--constitution", signed[0], "--key", signed[1], "--"]
    code, out, err = run(capsys, *base, "make", *BRACKETS)
    assert code == 3  # ask, and nobody at a terminal to approve
    assert err.startswith("charter: ask: ")
    shows(err)


def test_hook_reason_keeps_the_command(
    signed: tuple[Path, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    payload = {"tool_name": "Bash", "tool_input": {"command": f"make '{TEXT}'"}, "cwd": "/"}
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(payload)))
    code, out, err = run(
        capsys, "hook", "claude-code", "--constitution", signed[0], "--key", signed[1]
    )
    assert code == 0, err
    document = json.loads(out)
    assert document["hookSpecificOutput"]["permissionDecision"] == "ask"


def test_constitution_show_shows_the_path(
    signed: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "constitution", "show", signed[0], "--key", signed[1])
    assert code == 0, err
    shows(out, IN_PATHS)


# ------------------------------------------------------------------ proposals and rules


def test_check_shows_file_name_and_rule_text(
    overlay: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = json.loads((EXAMPLES / "docs-pr-compliant.json").read_text())
    document["title"] = TEXT
    proposal = tricky(tmp_path / "p") / "[bold]x[red].json"
    proposal.write_text(json.dumps(document))
    code, out, err = run(capsys, "check", proposal, "--now", NOW, "--overlay", overlay)
    assert code == 1, err  # the overlay rule denies this title
    assert out.startswith(f"{proposal}: DENY")
    shows(out)


def test_rule_list_show_and_test(overlay: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "rule", "list", "--layer", "overlay", "--overlay", overlay)
    assert code == 0, err
    shows(out)
    code, out, err = run(capsys, "rule", "show", RULE, "--overlay", overlay)
    assert code == 0, err
    shows(out)
    assert out.count(TEXT) == 2  # title and description
    shows(out, IN_PATHS)  # location
    code, out, err = run(capsys, "rule", "test", overlay)
    assert code == 0, err
    shows(out, IN_PATHS)


def test_rule_lint_shows_paths(overlay: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (overlay / "rules" / "extra.rego").write_text("package elsewhere.extra\n\nx := true\n")
    code, out, err = run(capsys, "rule", "lint", overlay)
    assert code == 1, err
    assert "CHARTER-L" in out
    shows(out, IN_PATHS)


def test_upgrade_check_shows_the_overlay(overlay: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys, "upgrade", "check", "--overlay", overlay, "--to", shipped_constitution_path()
    )
    assert code in (0, 1), err
    shows(out, IN_PATHS)


# ------------------------------------------------------------------ keys, waivers, bundles


def test_keys_waivers_and_bundles(
    overlay: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    where = tricky(tmp_path / "k")
    code, out, err = run(capsys, "key", "generate", "--out", where)
    assert code == 0, err
    shows(out, IN_PATHS)
    waivers = tricky(tmp_path / "w")
    waiver = waivers / "[core].json"
    base = ["--overlay", overlay, "--now", NOW]
    code, out, err = run(
        capsys, "waiver", "create", "--rule", RULE, "--scope", "repo=acme/platform",
        "--reason", TEXT, "--expires", "2026-12-01", "--approver", "[bold]alice[/bold]",
        "--key", where / "signing.key", "-o", waiver, *base,
    )  # fmt: skip
    assert code == 0, err
    shows(out, IN_PATHS)
    code, out, err = run(capsys, "waiver", "verify", waiver, "--key", where / "signing.pub", *base)
    assert code == 0, err
    shows(out, IN_PATHS)
    code, out, err = run(capsys, "waiver", "list", waivers, *base)
    assert code == 0, err
    shows(out, IN_PATHS)

    archive = tricky(tmp_path / "b") / "[core].tar.gz"
    build = ["bundle", "build", overlay, "-o", archive, "--key", where / "signing.key"]
    code, out, err = run(capsys, *build)
    assert code == 0, err
    shows(out, IN_PATHS)
    code, out, err = run(capsys, "bundle", "verify", archive, "--key", where / "signing.pub")
    assert code == 0, err
    code, out, err = run(capsys, "bundle", "inspect", archive, "--key", where / "signing.pub")
    assert code == 0, err
    shows(out)  # the rule title
    shows(out, IN_PATHS)


# ------------------------------------------------------------------ audit and errors


def test_audit_verify_and_export(
    signed: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tricky(tmp_path / "a") / "audit.db"
    command = f"echo '{TEXT}'"
    assert run(capsys, *gate(signed, "--command", command, "--audit", store))[0] == 0
    code, out, err = run(capsys, "audit", "verify", "--store", store)
    assert code == 0, err
    shows(out, IN_PATHS)
    # By default the export drops the command; a policy that keeps commands shows it verbatim.
    code, out, err = run(capsys, "audit", "export", "--store", store)
    assert code == 0, err
    assert TEXT not in json.dumps([json.loads(line) for line in out.splitlines()])
    keep = tmp_path / "keep.toml"
    keep.write_text('[export]\ncommands = "keep"\n')
    code, out, err = run(capsys, "audit", "export", "--store", store, "--redact", keep)
    assert code == 0, err
    assert TEXT in out or TEXT in json.dumps([json.loads(line) for line in out.splitlines()])


def test_error_messages_show_paths_verbatim(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tricky(tmp_path) / "[link=http:x]y[" / "link].json"
    code, out, err = run(capsys, "check", missing)
    assert code == 2 and out == ""
    assert err.startswith("charter: error: ") and "Traceback" not in err
    shows(err, IN_PATHS)


def test_runner_status_shows_layer_names_and_problems(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # `charter status` renders what the runner reports; the runner got it from files.
    from charter.cli.runner import _render_status

    layer = {"layer": "overlay", "name": TEXT, "version": "1.0.0", "digest": "sha256:0"}
    doc = {"health": "degraded", "reason": TEXT, "layers": [layer], "waivers": {"error": TEXT}}
    _render_status("http://127.0.0.1:1", doc)
    out = capsys.readouterr().out
    assert out.startswith("Runner http://127.0.0.1:1: DEGRADED\n")
    assert out.count(TEXT) == 3, out


def test_a_rendering_failure_records_nothing(
    signed: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Rendering comes before recording: if it fails, no allow is in the log while
    # the user saw an error.
    def broken(*_: object) -> None:
        raise UnicodeError("the terminal cannot show this")

    monkeypatch.setattr(render_text, "action_decision", broken)
    code, out, err = run(capsys, *gate(signed, "--command", "ls"))
    assert code == 2 and out == ""
    assert "cannot show" in err
    store = Path(os.environ["CHARTER_AUDIT"])
    assert not store.exists() or list(audit.open_store(store).records()) == []
