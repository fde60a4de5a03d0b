"""The web console over real HTTP: sessions, cookies, CSRF, roles, escaping, docs offline."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from charter.runner.app import PROPOSAL_EXAMPLE
from charter.runner.console import Failures
from tests.bundle_helpers import shipped_constitution_path
from tests.runner_helpers import TOKENS, ThreadedRunner, auth, write_config

ASK = {"kind": "command", "command": "git push origin feature", "cwd": "/tmp"}
HOSTILE = '<script>alert("pwned")</script>"><img src=x onerror=alert(1)>'
CITED = "```charter\nrules: [CRED-UNSCANNED-PATCH-001]\nblast_radius: api\nrollback: revert\n```\n"
UNSCANNED = [*PROPOSAL_EXAMPLE["files"],
             {"path": "dump.sql", "status": "added", "patch_omitted": "too_large"}]  # fmt: skip


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedRunner]:
    root = tmp_path_factory.mktemp("console")
    config = write_config(
        root,
        f'refresh_interval = "1h"\n\n[stack]\nconstitution = "{shipped_constitution_path()}"\n\n'
        f'[audit]\nstore = "{root / "audit.db"}"\n\n[approvals]\npoll_interval = "50ms"\n',
    )
    served = ThreadedRunner(config)
    try:
        yield served
    finally:
        served.stop()


def ask(runner: ThreadedRunner, command: str = "git push origin feature") -> str:
    r = runner.client.post(
        "/v1/decisions/action", json={**ASK, "command": command}, headers=auth("agent")
    )
    assert r.json()["verdict"] == "ask", r.text
    return str(r.json()["decision_id"])


def state(runner: ThreadedRunner, did: str) -> dict[str, Any]:
    return dict(runner.client.get(f"/v1/decisions/{did}", headers=auth("agent")).json())


def hidden(html: str, name: str = "csrf") -> str:
    match = re.search(rf'name="{name}" value="([^"]+)"', html)
    assert match, html
    return match[1]


class Browser:
    """A signed-in console user: an httpx client with its cookies and CSRF token."""

    def __init__(self, runner: ThreadedRunner, who: str) -> None:
        self.client = httpx.Client(base_url=runner.url, timeout=30, follow_redirects=False)
        form = self.client.get("/console/login")
        r = self.client.post(
            "/console/login",
            data={"csrf": hidden(form.text), "token": TOKENS[who][1]},
        )
        assert r.status_code == 303, r.text
        self.login_response = r
        self.csrf = hidden(self.client.get("/console/status").text)

    def answer(self, did: str, answer: str = "approve", **extra: str) -> httpx.Response:
        data = {"csrf": self.csrf, "answer": answer, "comment": "ok", **extra}
        return self.client.post(f"/console/approvals/{did}", data=data)

    def close(self) -> None:
        self.client.close()


@pytest.fixture
def alice(runner: ThreadedRunner) -> Iterator[Browser]:
    user = Browser(runner, "approver")
    yield user
    user.close()


def test_sign_in_sets_a_strict_httponly_session_cookie(runner: ThreadedRunner) -> None:
    user = Browser(runner, "approver")
    session = next(c for c in user.login_response.headers.get_list("set-cookie")
                   if c.startswith("charter_console="))  # fmt: skip
    assert "HttpOnly" in session and "SameSite=strict" in session and "Path=/" in session
    assert "Secure" not in session  # plain http on the loopback: a Secure cookie is never sent
    # The sign-in form's double-submit cookie is cleared once signed in.
    assert any(c.startswith("charter_console_login=") and "Max-Age=0" in c
               for c in user.login_response.headers.get_list("set-cookie"))  # fmt: skip
    page = user.client.get("/console/approvals")
    assert page.status_code == 200 and "alice (approver)" in page.text
    user.close()


def test_over_https_the_cookie_is_secure_and_host_prefixed(runner: ThreadedRunner) -> None:
    # uvicorn trusts X-Forwarded-Proto from the loopback proxy, as behind a TLS terminator.
    https = {"X-Forwarded-Proto": "https"}
    with httpx.Client(base_url=runner.url, timeout=30) as client:
        form = client.get("/console/login", headers=https)
        login_cookie = form.headers["set-cookie"]
        assert login_cookie.startswith("__Host-charter_console_login=") and "Secure" in login_cookie
        nonce = login_cookie.split("=", 1)[1].split(";")[0]
        r = client.post(
            "/console/login",
            headers={**https, "Cookie": f"__Host-charter_console_login={nonce}"},
            data={"csrf": hidden(form.text), "token": TOKENS["approver"][1]},
        )
    assert r.status_code == 303, r.text
    session = next(
        c for c in r.headers.get_list("set-cookie") if c.startswith("__Host-charter_console=")
    )
    assert "Secure" in session and "HttpOnly" in session and "SameSite=strict" in session


def test_every_page_carries_a_strict_policy_and_no_inline_script(
    runner: ThreadedRunner, alice: Browser
) -> None:
    for path in ("/console/login", "/console/approvals", "/console/decisions", "/console/rules",
                 "/console/waivers", "/console/status", "/console/static/console.css"):  # fmt: skip
        r = alice.client.get(path)
        assert r.status_code == 200, (path, r.status_code)
        csp = r.headers["content-security-policy"]
        script = next(p for p in csp.split(";") if p.strip().startswith("script-src"))
        assert script.split() == ["script-src", "'self'"], csp
        assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["x-content-type-options"] == "nosniff"
        assert not re.search(r"<script(?![^>]*\bsrc=)", r.text), path
        # Every asset is the runner's own (links to rule documentation are not assets).
        assets = re.findall(r'<(?:script|link|img)[^>]*(?:src|href)="([^"]+)"', r.text)
        assert all(a.startswith("/") and not a.startswith("//") for a in assets), assets


def test_a_wrong_token_signs_nobody_in(runner: ThreadedRunner) -> None:
    with httpx.Client(base_url=runner.url, timeout=30) as client:
        form = client.get("/console/login")
        r = client.post("/console/login", data={"csrf": hidden(form.text), "token": "nope"})
        assert r.status_code == 401 and "invalid token" in r.text
        assert not any(c.startswith("charter_console=") for c in r.headers.get_list("set-cookie"))
        assert client.get("/console/approvals").status_code == 303  # back to sign-in


def test_sign_in_needs_its_form_token(runner: ThreadedRunner) -> None:
    """Login CSRF: a cross-site form cannot sign a victim into the attacker's session."""
    with httpx.Client(base_url=runner.url, timeout=30) as client:
        client.get("/console/login")
        for data in ({"token": TOKENS["approver"][1]},
                     {"token": TOKENS["approver"][1], "csrf": "forged"}):  # fmt: skip
            r = client.post("/console/login", data=data)
            assert r.status_code == 403 and "CSRF" in r.text
            assert "set-cookie" not in r.headers


def test_answering_needs_the_session_csrf_token(runner: ThreadedRunner, alice: Browser) -> None:
    did = ask(runner)
    bob = Browser(runner, "approver2")
    for csrf in (None, "", "wrong", bob.csrf):  # missing, empty, wrong, another session's
        data = {"answer": "approve", "comment": "x"}
        if csrf is not None:
            data["csrf"] = csrf
        r = alice.client.post(f"/console/approvals/{did}", data=data)
        assert r.status_code == 403 and "CSRF" in r.text, (csrf, r.status_code)
    # A foreign Origin is refused even with the right token.
    r = alice.client.post(f"/console/approvals/{did}", headers={"Origin": "https://evil.test"},
                          data={"csrf": alice.csrf, "answer": "approve"})  # fmt: skip
    assert r.status_code == 403
    # A JSON body (what a cross-site fetch could send) is not a form.
    r = alice.client.post(
        f"/console/approvals/{did}", json={"csrf": alice.csrf, "answer": "approve"}
    )
    assert r.status_code in (403, 415)
    assert state(runner, did)["status"] == "pending"
    bob.close()


def test_an_approver_answers_and_the_audit_shows_it(runner: ThreadedRunner, alice: Browser) -> None:
    did = ask(runner)
    page = alice.client.get("/console/approvals").text
    assert f'id="ask-{did}"' in page and "agent-1" in page
    r = alice.answer(did, "deny", comment="not on a Friday")
    assert r.status_code == 303 and r.headers["location"].endswith(f"rejected+{did}")
    after = state(runner, did)
    assert after["status"] == "rejected" and after["outcome"] == "deny"
    assert after["approvals"][0]["by"] == "alice"
    assert after["approvals"][0]["comment"] == "not on a Friday"
    # Answered once: a second answer is a conflict, shown on the page.
    again = alice.answer(did)
    assert again.status_code == 409 and "only a pending ask" in again.text
    decisions = alice.client.get("/console/decisions").text
    assert "rejected by alice" in decisions and "not on a Friday" in decisions


@pytest.mark.parametrize("who", ["agent", "operator"])
def test_only_an_approver_can_answer(runner: ThreadedRunner, who: str) -> None:
    did = ask(runner)
    user = Browser(runner, who)
    r = user.answer(did)
    assert r.status_code == 403 and f"role {who} may not" in r.text
    assert state(runner, did)["status"] == "pending"
    if who == "agent":
        assert user.client.get("/console/approvals").status_code == 403
        assert user.client.get("/console/decisions").status_code == 403
        assert user.client.get("/console/rules").status_code == 200
    else:
        assert 'class="approve"' not in user.client.get("/console/approvals").text
    user.close()


def test_without_a_session_nothing_is_answered(runner: ThreadedRunner) -> None:
    did = ask(runner)
    with httpx.Client(base_url=runner.url, timeout=30) as client:
        r = client.post(f"/console/approvals/{did}", data={"csrf": "x", "answer": "approve"})
        assert r.status_code == 403
        r = client.post(
            f"/console/approvals/{did}",
            headers={"Cookie": "charter_console=forged-session-id"},
            data={"csrf": "x", "answer": "approve"},
        )
        assert r.status_code == 403
    assert state(runner, did)["status"] == "pending"


def test_nobody_approves_their_own_change(runner: ThreadedRunner, alice: Browser) -> None:
    proposal = {**PROPOSAL_EXAMPLE, "body": CITED, "files": UNSCANNED,
                "author": {"id": "alice", "type": "agent"}}  # fmt: skip
    r = runner.client.post("/v1/decisions/proposal", json=proposal, headers=auth("agent"))
    assert r.json()["verdict"] == "ask", r.text
    did = r.json()["decision_id"]
    refused = alice.answer(did)
    assert refused.status_code == 403 and "cannot approve a decision about their own change" in (
        refused.text
    )
    assert state(runner, did)["status"] == "pending"


def test_hostile_agent_text_is_escaped(runner: ThreadedRunner, alice: Browser) -> None:
    did = ask(runner, f"git push origin '{HOSTILE}'")
    proposal = {**PROPOSAL_EXAMPLE, "body": CITED, "title": HOSTILE, "files": UNSCANNED}
    r = runner.client.post("/v1/decisions/proposal", json=proposal, headers=auth("agent"))
    assert r.json()["verdict"] == "ask"
    alice.answer(did, "deny", comment=HOSTILE)
    for path in ("/console/approvals", "/console/decisions"):
        page = alice.client.get(path).text
        assert "<script>alert" not in page and "<img src=x" not in page, path
        assert "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;" in page, path
    assert "&lt;img src=x onerror=alert(1)&gt;" in alice.client.get("/console/approvals").text


def test_sign_out_ends_the_session(runner: ThreadedRunner) -> None:
    user = Browser(runner, "approver")
    cookie = user.client.cookies["charter_console"]
    assert user.client.post("/console/logout", data={}).status_code == 403  # CSRF here too
    r = user.client.post("/console/logout", data={"csrf": user.csrf})
    assert r.status_code == 303 and r.headers["location"] == "/console/login"
    assert any(c.startswith("charter_console=") and "Max-Age=0" in c
               for c in r.headers.get_list("set-cookie"))  # fmt: skip
    # The old id is forgotten server-side, even if a browser kept sending it.
    with httpx.Client(base_url=runner.url, timeout=30) as replay:
        r = replay.get("/console/approvals", headers={"Cookie": f"charter_console={cookie}"})
        assert r.status_code == 303 and r.headers["location"] == "/console/login"
    user.close()


def test_the_docs_page_needs_no_network(runner: ThreadedRunner) -> None:
    page = runner.client.get("/docs")
    assert page.status_code == 200
    srcs = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert srcs and all(s.startswith("/") and not s.startswith("//") for s in srcs), srcs
    assert not re.search(r"<script(?![^>]*\bsrc=)", page.text)
    assert "script-src 'self';" in page.headers["content-security-policy"]
    for src in srcs:
        asset = runner.client.get(src)
        assert asset.status_code == 200 and asset.content, src
    bundle = runner.client.get("/docs/assets/swagger-ui-bundle.js")
    assert "javascript" in bundle.headers["content-type"] and b"SwaggerUIBundle" in bundle.content
    assert runner.client.get("/redoc").status_code == 404
    assert not any(
        p.startswith("/console") for p in runner.client.get("/openapi.json").json()["paths"]
    )


def test_the_package_ships_the_templates() -> None:
    """The templates and static files are package data (pyproject's package-data globs)."""
    here = Path(__file__).parents[1] / "src" / "charter" / "runner"
    assert {p.name for p in (here / "templates").glob("*.html")} >= {
        "approvals.html", "login.html", "docs.html", "status.html"}  # fmt: skip
    text = (Path(__file__).parents[1] / "pyproject.toml").read_text()
    assert '"runner/templates/*.html", "runner/static/*"' in text


def test_failed_sign_ins_are_limited_per_client() -> None:
    now = [0.0]
    failures = Failures(limit=3, window=60, size=2, clock=lambda: now[0])
    for _ in range(3):
        assert not failures.blocked("10.0.0.1")
        failures.failed("10.0.0.1")
    assert failures.blocked("10.0.0.1") and not failures.blocked("10.0.0.2")
    now[0] = 61
    assert not failures.blocked("10.0.0.1")  # the window ended
    failures.failed("a")
    failures.failed("b")
    failures.failed("c")
    assert len(failures._table) == 2  # bounded


def test_a_link_cannot_put_words_on_the_page(runner: ThreadedRunner, alice: Browser) -> None:
    spoof = "approved everything; re-enter your token at evil.test"
    page = alice.client.get("/console/approvals", params={"done": spoof}).text
    assert "evil.test" not in page
    page = alice.client.get("/console/approvals", params={"done": "approved abc-1"}).text
    assert 'id="done">approved abc-1<' in page
    r = alice.client.post("/console/approvals/a%0d%0aSet-Cookie:x=1",
                          data={"csrf": alice.csrf, "answer": "approve"})  # fmt: skip
    assert r.status_code == 404 and "set-cookie" not in r.headers


def test_a_client_guessing_tokens_is_refused(runner: ThreadedRunner) -> None:
    # uvicorn takes the client address from X-Forwarded-For sent by the loopback proxy.
    guesser = {"X-Forwarded-For": "203.0.113.9"}
    with httpx.Client(base_url=runner.url, timeout=30, headers=guesser) as client:
        for _ in range(10):
            form = client.get("/console/login")
            r = client.post("/console/login", data={"csrf": hidden(form.text), "token": "guess"})
            assert r.status_code == 401
        form = client.get("/console/login")
        r = client.post(
            "/console/login", data={"csrf": hidden(form.text), "token": TOKENS["approver"][1]}
        )
        assert r.status_code == 429 and "too many failed sign-ins" in r.text
        assert not any(c.startswith("charter_console=") for c in r.headers.get_list("set-cookie"))
    Browser(runner, "approver").close()  # another client still signs in
