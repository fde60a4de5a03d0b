"""The runner's HTTP API on a real uvicorn server (loopback): auth, bodies, approvals."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from charter.cli import main
from charter.facts.decide import decide, hypothetical_facts
from charter.policy.applies import KINDS
from charter.policy.decision import evaluate
from charter.policy.explain import explain, hypothetical
from charter.policy.stack import load_stack, shipped_constitution_path
from tests.cli_helpers import invoke
from tests.runner_helpers import ThreadedRunner, auth, metric, metric_samples, write_config

EXAMPLE = sorted(Path("examples/proposals").glob("*.json"))
PROPOSAL: dict[str, Any] = {
    "kind": "pull_request",
    "repository": "acme/platform",
    "base": "main",
    "head": "feature/docker",
    "author": {"id": "agent-7", "type": "agent"},
    "title": "Add a Dockerfile",
    "body": "no citation",
    "files": [{"path": "api/Dockerfile", "status": "added", "patch": "+FROM python:3.12"}],
}
ACTION = {"kind": "command", "command": "ls -la", "cwd": "/tmp"}


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedRunner]:
    root = tmp_path_factory.mktemp("runner-api")
    config = write_config(
        root,
        f'refresh_interval = "1h"\n\n[stack]\nconstitution = "{shipped_constitution_path()}"\n\n'
        f'[audit]\nstore = "{root / "audit.db"}"\n',
    )
    r = ThreadedRunner(config)
    try:
        yield r
    finally:
        r.stop()


# (method, path, body, roles allowed)
ENDPOINTS: list[tuple[str, str, Any, set[str]]] = [
    ("POST", "/v1/decisions/proposal", PROPOSAL, {"agent", "operator"}),
    ("POST", "/v1/decisions/action", ACTION, {"agent", "operator"}),
    ("GET", "/v1/decisions/unknown-id", None, {"agent", "approver", "operator"}),
    ("POST", "/v1/approvals/unknown-id", {"approve": True}, {"approver"}),
    ("GET", "/v1/rules", None, {"agent", "approver", "operator"}),
    ("GET", "/v1/rules?layer=constitution", None, {"agent", "approver", "operator"}),
    ("GET", "/v1/rules/CITE-BLOCK-REQUIRED-001", None, {"agent", "approver", "operator"}),
    ("POST", "/v1/explain", PROPOSAL, {"agent", "approver", "operator"}),
    (
        "POST",
        "/v1/explain/hypothetical",
        {"adds": ["Dockerfile"]},
        {"agent", "approver", "operator"},
    ),
    ("GET", "/v1/status", None, {"agent", "approver", "operator"}),
    ("POST", "/v1/refresh", None, {"operator"}),
    ("GET", "/metrics", None, {"operator"}),
    ("POST", "/v1/spend", {"cost": 0}, {"agent", "operator"}),
    ("GET", "/v1/spend", None, {"agent", "approver", "operator"}),
    ("DELETE", "/v1/console/sessions/nobody", None, {"operator"}),
]
PUBLIC = ["/healthz", "/readyz", "/docs", "/openapi.json"]


@pytest.mark.parametrize(("method", "path", "body", "allowed"), ENDPOINTS)
def test_every_role_on_every_endpoint(
    runner: ThreadedRunner, method: str, path: str, body: Any, allowed: set[str]
) -> None:
    for who in ("agent", "approver", "operator"):
        r = runner.client.request(method, path, json=body, headers=auth(who))
        if who in allowed:
            assert r.status_code not in (401, 403, 500), (who, r.status_code, r.text)
        else:
            assert r.status_code == 403, (who, r.status_code, r.text)
    assert runner.client.request(method, path, json=body).status_code == 401
    bad = {"Authorization": "Bearer not-a-token"}
    assert runner.client.request(method, path, json=body, headers=bad).status_code == 401
    basic = {"Authorization": "Basic YWdlbnQ6c2VjcmV0"}
    r = runner.client.request(method, path, json=body, headers=basic)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("path", PUBLIC)
def test_public_endpoints(runner: ThreadedRunner, path: str) -> None:
    assert runner.client.get(path).status_code == 200


MALFORMED: list[tuple[str, Any, str]] = [
    ("/v1/decisions/proposal", [], "body"),
    ("/v1/decisions/proposal", "text", "body"),
    ("/v1/decisions/proposal", {}, "proposal"),
    ("/v1/decisions/proposal", {**PROPOSAL, "kind": "teleport"}, "proposal.kind"),
    ("/v1/decisions/proposal", {**PROPOSAL, "files": [{"path": 3}]}, "proposal.files[0]"),
    ("/v1/decisions/proposal", {**PROPOSAL, "author": "me"}, "proposal.author"),
    ("/v1/decisions/action", {}, "body.kind"),
    ("/v1/decisions/action", {"kind": "dance"}, "body.kind"),
    ("/v1/decisions/action", {"kind": "command"}, "body"),
    ("/v1/decisions/action", {"kind": "command", "command": 5}, "body.command"),
    ("/v1/decisions/action", {"kind": "file_write", "path": "/x", "size": -1}, "body.size"),
    ("/v1/decisions/action", {"kind": "file_read"}, "body"),
    ("/v1/decisions/action", {"kind": "command", "command": "ls", "agent": "x"}, "body.agent"),
    ("/v1/decisions/action", {"kind": "tool"}, "body"),
    ("/v1/decisions/action", {"kind": "tool", "tool": 3}, "body.tool"),
    ("/v1/decisions/action", {"kind": "tool", "tool": "t", "arguments": [1]}, "body.arguments"),
    ("/v1/explain", {"kind": "pull_request"}, "proposal"),
    ("/v1/explain/hypothetical", {}, "body"),
    ("/v1/explain/hypothetical", {"adds": []}, "body"),
    ("/v1/explain/hypothetical", {"adds": ["x"], "kind": "pr"}, "body.kind"),
    ("/v1/explain/hypothetical", {"adds": ["x"], "author_type": "robot"}, "body.author_type"),
    ("/v1/explain/hypothetical", {"adds": ["x"], "files": []}, "body.files"),
    ("/v1/explain/hypothetical", {"hypothetical": {"adds": ["x"]}}, "body.hypothetical"),
    ("/v1/explain/hypothetical", {"adds": "Dockerfile"}, "body.adds"),
    ("/v1/explain/hypothetical", {"adds": [""]}, "body.adds.0"),
    ("/v1/explain/hypothetical", {"removes": [7]}, "body.removes.0"),
    ("/v1/explain/hypothetical", {"adds": ["x"] * 1001}, "body.adds"),
    ("/v1/explain/hypothetical", {"adds": ["x"], "body": 3}, "body.body"),
    ("/v1/spend", {}, "body.cost"),
    ("/v1/spend", {"cost": -1}, "body.cost"),
    ("/v1/spend", {"cost": "1"}, "body.cost"),
    ("/v1/spend", {"cost": 1, "run": ""}, "body.run"),
    ("/v1/spend", {"cost": 1, "id": "x" * 129}, "body.id"),
    ("/v1/spend", {"cost": 1, "who": "me"}, "body.who"),
]


@pytest.mark.parametrize(("path", "body", "field"), MALFORMED)
def test_malformed_bodies_are_422_naming_the_field(
    runner: ThreadedRunner, path: str, body: Any, field: str
) -> None:
    r = runner.client.post(path, json=body, headers=auth("agent"))
    assert r.status_code == 422, r.text
    assert r.json()["field"].startswith(field), r.json()


@pytest.mark.parametrize(
    "raw", [b"", b"{", b"null", b"\xff\xfe", b'{"kind": "command", "command": "ls"']
)
def test_unparseable_json_is_422(runner: ThreadedRunner, raw: bytes) -> None:
    paths = ("/v1/decisions/proposal", "/v1/decisions/action", "/v1/explain",
             "/v1/explain/hypothetical")  # fmt: skip
    for path in paths:
        r = runner.client.post(
            path, content=raw, headers={**auth("agent"), "Content-Type": "application/json"}
        )
        assert r.status_code == 422, (path, raw, r.text)


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "kind": st.sampled_from(["pull_request", "merge", "command", "file_write", "x"]) | JSON,
        "repository": st.text(max_size=20) | JSON,
        "author": st.fixed_dictionaries({"id": st.text(max_size=5)}) | JSON,
        "files": st.lists(st.fixed_dictionaries({"path": st.text(max_size=10)}) | JSON, max_size=3),
        "command": st.text(max_size=40) | JSON,
        "path": st.text(max_size=20) | JSON,
        "size": st.integers() | JSON,
        "approve": st.booleans() | JSON,
        "comment": JSON,
    },
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=FIELDS | JSON)
def test_random_bodies_never_500(runner: ThreadedRunner, body: Any) -> None:
    for path, who in (
        ("/v1/decisions/proposal", "agent"),
        ("/v1/decisions/action", "agent"),
        ("/v1/explain", "agent"),
        ("/v1/approvals/some-id", "approver"),
    ):
        r = runner.client.post(path, json=body, headers=auth(who))
        assert r.status_code in (200, 404, 409, 422), (path, body, r.status_code, r.text)


def test_proposal_decision_is_audited_and_explained(runner: ThreadedRunner) -> None:
    r = runner.client.post("/v1/decisions/proposal", json=PROPOSAL, headers=auth("agent"))
    assert r.status_code == 200
    decision = r.json()
    assert decision["verdict"] == "deny"  # no citation block
    assert {x["rule"] for x in decision["reasons"]} >= {"CITE-BLOCK-REQUIRED-001"}
    assert decision["stack"][0]["layer"] == "constitution"
    assert runner.service.audit.has_decision(decision["decision_id"])  # type: ignore[attr-defined]
    e = runner.client.post("/v1/explain", json=PROPOSAL, headers=auth("approver")).json()
    assert "CITE-BLOCK-REQUIRED-001" in e["applies"]
    fired = next(x for x in e["rules"] if x["id"] == "CITE-BLOCK-REQUIRED-001")
    assert fired["verdict"] == "deny" and fired["links"]
    assert not e["rules"][-1]["applies"]


def test_explain_answers_as_the_library_does(runner: ThreadedRunner) -> None:
    """/v1/explain is charter.policy.explain.explain: a PR adding a Dockerfile."""
    e = runner.client.post("/v1/explain", json=PROPOSAL, headers=auth("agent")).json()
    stack = load_stack()
    decision = evaluate(stack.compile(), PROPOSAL)
    local = explain(stack, decision, PROPOSAL)

    def rows(result: dict[str, Any]) -> list[tuple[Any, ...]]:
        keys = ("id", "applies", "fired", "verdict", "why", "messages", "citation", "links")
        return [tuple(json.dumps(r[k]) for k in keys) for r in result["rules"]]

    assert rows(e) == rows(local)
    assert e["applies"] == local["applies"] and e["fired"] == local["fired"]
    assert e["proposal"] == {"kind": "pull_request", "paths": ["api/Dockerfile"]}
    assert "PROC-NO-DIRECT-PUSH-001" not in e["applies"]
    rules = runner.client.get("/v1/rules?layer=constitution", headers=auth("agent")).json()
    assert rules["count"] == len(rules["rules"]) > 5
    missing = runner.client.get("/v1/rules/NOPE-001", headers=auth("agent"))
    assert missing.status_code == 404


@pytest.mark.parametrize("author_type", ["agent", "human"])
def test_hypothetical_explain_answers_as_the_cli_and_the_library_do(
    runner: ThreadedRunner, author_type: str
) -> None:
    """POST /v1/explain/hypothetical is `charter explain --adds Dockerfile`: one library
    function (charter.policy.explain.hypothetical) builds the change for both."""
    body = {"adds": ["Dockerfile"], "author_type": author_type}
    head = runner.service.audit.head()
    r = runner.client.post("/v1/explain/hypothetical", json=body, headers=auth("approver"))
    assert r.status_code == 200, r.text
    # An explanation is no decision: nothing is recorded (and no decision id to use).
    assert runner.service.audit.head() == head and "decision_id" not in r.json()
    served = r.json()
    document = hypothetical(adds=["Dockerfile"], author_type=author_type)
    stack = load_stack()
    local = explain(
        stack, decide(stack.compile(), document, hypothetical_facts(document)).decision, document
    )
    cli = invoke(
        "explain", "--adds", "Dockerfile", "--author-type", author_type, "--format", "json"
    )
    assert cli.returncode == 0, cli.stderr
    from_cli = json.loads(cli.stdout)

    def rows(result: dict[str, Any]) -> list[tuple[Any, ...]]:
        keys = ("id", "applies", "fired", "verdict", "why", "messages", "citation", "links")
        return [tuple(json.dumps(row[k]) for k in keys) for row in result["rules"]]

    assert rows(served) == rows(local) == rows(from_cli)
    assert served["proposal"] == {"kind": "pull_request", "paths": ["Dockerfile"]}
    assert "CITE-BLOCK-REQUIRED-001" in served["fired"]
    assert "PROC-NO-DIRECT-PUSH-001" not in served["applies"]
    # The author type the request names decides: an agent's PR is denied, a human's asks.
    assert served["verdict"] == ("deny" if author_type == "agent" else "ask")
    pushed = runner.client.post(
        "/v1/explain/hypothetical?layer=constitution",
        json={"modifies": ["src/a.py"], "kind": "push"},
        headers=auth("agent"),
    ).json()
    assert pushed["proposal"] == {"kind": "push", "paths": ["src/a.py"]}
    assert "PROC-NO-DIRECT-PUSH-001" in pushed["applies"]
    assert {row["layer"] for row in pushed["rules"]} == {"constitution"}


def test_the_hypothetical_body_is_documented(runner: ThreadedRunner) -> None:
    spec = runner.client.get("/openapi.json").json()
    post = spec["paths"]["/v1/explain/hypothetical"]["post"]
    schema = post["requestBody"]["content"]["application/json"]["schema"]
    assert set(schema["properties"]) == {
        "adds", "modifies", "removes", "kind", "author_type", "body"
    }  # fmt: skip
    assert schema["additionalProperties"] is False
    assert schema["properties"]["kind"]["enum"] == list(KINDS)


def test_approval_flow_and_separation_of_duties(runner: ThreadedRunner) -> None:
    ask = runner.client.post(
        "/v1/decisions/action",
        json={"kind": "command", "command": "git push origin feature", "cwd": "/tmp",
              "agent": {"id": "alice"}},
        headers=auth("agent"),
    ).json()  # fmt: skip
    assert ask["verdict"] == "ask"
    did = ask["decision_id"]
    # An agent can never approve; alice cannot approve her own change.
    assert runner.client.post(f"/v1/approvals/{did}", json={"approve": True},
                              headers=auth("agent")).status_code == 403  # fmt: skip
    r = runner.client.post(f"/v1/approvals/{did}", json={"approve": True}, headers=auth("approver"))
    assert r.status_code == 403 and "own change" in r.json()["error"]
    r = runner.client.post(
        f"/v1/approvals/{did}", json={"approve": True, "comment": "ok"}, headers=auth("approver2")
    )
    assert r.status_code == 200 and r.json()["verdict"] == "allow"
    again = runner.client.post(f"/v1/approvals/{did}", json={"approve": False},
                               headers=auth("approver2"))  # fmt: skip
    assert again.status_code == 409
    state = runner.client.get(f"/v1/decisions/{did}", headers=auth("agent")).json()
    assert state["status"] == "approved" and state["approvals"][0]["by"] == "bob"
    deny = runner.client.post(
        "/v1/decisions/action",
        json={"kind": "command", "command": "sudo rm -rf /var"},
        headers=auth("agent"),
    ).json()
    assert deny["verdict"] == "deny"
    r = runner.client.post(f"/v1/approvals/{deny['decision_id']}", json={"approve": True},
                           headers=auth("approver2"))  # fmt: skip
    assert r.status_code == 409
    records = list(runner.service.audit.records())
    kinds = {(x["decision_id"], x["kind"]) for x in records}
    assert (did, "approval") in kinds


def test_status_metrics_and_cli(runner: ThreadedRunner, capsys: pytest.CaptureFixture[str]) -> None:
    status = runner.client.get("/v1/status", headers=auth("operator")).json()
    assert status["health"] == "ok" and status["ready"] and not status["degraded"]
    assert [x["layer"] for x in status["layers"]] == ["constitution"]
    assert status["actions"]["version"] == "1.0.0"
    metrics = runner.client.get("/metrics", headers=auth("operator"))
    assert metrics.headers["content-type"].startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(metrics.text)}
    assert families["charter_decisions"].type == "counter"
    assert families["charter_http_request_duration_seconds"].type == "histogram"
    assert metric(metrics.text, "charter_degraded") == 0
    assert metric(metrics.text, "charter_ready") == 1
    layers = [s.labels for s in families["charter_stack_layer_info"].samples]
    assert layers[0]["layer"] == "constitution" and layers[0]["digest"].startswith("sha256:")
    code = main(
        ["status", "--runner", runner.url, "--token", "operator-secret", "--format", "json"]
    )
    assert code == 0
    assert json.loads(capsys.readouterr().out)["health"] == "ok"
    assert main(["status", "--runner", runner.url, "--token", "operator-secret"]) == 0
    out = capsys.readouterr().out
    assert "OK" in out and "Degraded: no" in out
    assert f"Evaluators: {status['evaluators']['processes']} processes (0 restarted)" in out
    assert main(["status", "--runner", runner.url]) == 2
    assert main(["status", "--runner", "http://127.0.0.1:1"]) == 2


def test_dev_refuses_non_loopback(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runner", "--dev", "--listen", "0.0.0.0:8080"]) == 2
    assert "loopback" in capsys.readouterr().err


def test_config_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "r.toml"
    bad.write_text('listen = "127.0.0.1:1"\nrefresh = 3\n')
    assert main(["runner", "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "unknown key refresh" in err and "Traceback" not in err
    bad.write_text(
        '[stack]\nconstitution = "x"\n[[tokens]]\nname = "a"\nrole = "god"\nsha256 = "00"\n'
    )
    assert main(["runner", "--config", str(bad)]) == 2
    assert "role 'god'" in capsys.readouterr().err


def test_not_ready_runner_refuses_decisions(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        f'[stack]\nconstitution = "{tmp_path / "missing"}"\n'
        f'[audit]\nstore = "{tmp_path / "a.db"}"\n',
    )
    r = ThreadedRunner(config)
    try:
        # The action constitution is local and loaded: actions are decided, proposals
        # are refused and the runner reports itself degraded (not failed).
        ready = r.client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["health"] == "degraded"
        d = r.client.post("/v1/decisions/proposal", json=PROPOSAL, headers=auth("agent"))
        assert d.status_code == 503 and "missing" in d.json()["error"]
        a = r.client.post("/v1/decisions/action", json=ACTION, headers=auth("agent"))
        assert a.status_code == 200, a.text
        s = r.client.get("/v1/status", headers=auth("operator")).json()
        assert s["health"] == "degraded" and "missing" in s["reason"]
        assert s["serving"] == {"proposals": False, "actions": True}
    finally:
        r.stop()


def test_metrics_parse_and_count_decisions(runner: ThreadedRunner) -> None:
    def scrape() -> str:
        r = runner.client.get("/metrics", headers=auth("operator"))
        assert r.status_code == 200
        return r.text

    before = metric_samples(scrape())
    r = runner.client.post("/v1/decisions/proposal", json=PROPOSAL, headers=auth("agent"))
    assert r.status_code == 200 and r.json()["verdict"] == "deny"
    for _ in range(2):
        ok = runner.client.post("/v1/decisions/action", json=ACTION, headers=auth("agent"))
        assert ok.status_code == 200
    verdict = ok.json()["verdict"]
    bad = runner.client.post("/v1/decisions/action", json={}, headers=auth("agent"))
    assert bad.status_code == 422
    after = metric_samples(scrape())

    def grew(name: str, **labels: str) -> float:
        key = (name, frozenset(labels.items()))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert grew("charter_decisions_total", kind="proposal", verdict="deny") == 1
    assert grew("charter_decisions_total", kind="action", verdict=verdict) == 2
    route = "/v1/decisions/action"
    assert grew("charter_http_requests_total", route=route, code="200") == 2
    assert grew("charter_http_requests_total", route=route, code="422") == 1
    assert grew("charter_http_request_duration_seconds_count", route=route) == 3
    assert grew("charter_http_request_duration_seconds_bucket", route=route, le="+Inf") == 3
    assert grew("charter_http_request_duration_seconds_sum", route=route) > 0
    # Buckets are cumulative: each is at least the one before it.
    bounds = sorted(
        (float(dict(labels)["le"]), value)
        for (name, labels), value in after.items()
        if name == "charter_http_request_duration_seconds_bucket" and ("route", route) in labels
    )
    assert [v for _, v in bounds] == sorted(v for _, v in bounds)


def test_a_tool_call_is_decided_over_http_as_by_the_library(runner: ThreadedRunner) -> None:
    """MCP tool calls reach the runner's gate as they reach the hooks' and the CLI's: a
    tool no pattern names asks; a name the gate refuses is a 422 naming the tool."""
    body = {"kind": "tool", "tool": "mcp__slack__post_message", "arguments": {"text": "hi"}}
    r = runner.client.post("/v1/decisions/action", json=body, headers=auth("agent"))
    assert r.status_code == 200, r.text
    decision = r.json()
    assert decision["verdict"] == "ask"
    assert any("mcp__slack__post_message" in reason["msg"] for reason in decision["reasons"])
    bad = {"kind": "tool", "tool": "no spaces allowed here"}
    r = runner.client.post("/v1/decisions/action", json=bad, headers=auth("agent"))
    assert r.status_code == 422 and "tool name" in r.text, r.text
