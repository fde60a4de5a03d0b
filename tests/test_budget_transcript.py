"""The API-cost budget fed from Claude Code transcripts (tests/assets/claude-code-transcripts).

The prices below are test numbers chosen for easy arithmetic, not anyone's price list;
the expected costs are worked out by hand from the token counts in the fixtures.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from charter.actions.budget import Budget, BudgetError, Pricing, load_pricing
from charter.cli import main
from tests.gate_helpers import constitution_text, write_signed

ASSETS = Path(__file__).parent / "assets" / "claude-code-transcripts"
SESSION = ASSETS / "session.jsonl"
SUBAGENT = ASSETS / "subagent.jsonl"

PRICES = """
currency = "USD"
source = "test numbers"

[models."claude-opus-4-6"]
input = 5.0
output = 25.0
cache_read = 0.5
cache_write_5m = 6.25
cache_write_1h = 10.0

[models."claude-haiku-4-5*"]
input = 1.0
output = 5.0
cache_read = 0.1
cache_write_5m = 1.25
cache_write_1h = 2.0
"""


def per_mtok(*pairs: tuple[int, float]) -> float:
    return sum(tokens * price for tokens, price in pairs) / 1_000_000


# session.jsonl: each request once, at its last (largest) streamed usage.
REQ_MAIN_001 = per_mtok((15000, 5), (2500, 25), (50000, 0.5), (8000, 6.25), (3000, 10))
REQ_MAIN_002 = per_mtok((22000, 5), (4800, 25), (62000, 0.5), (0, 6.25), (5000, 10))
REQ_MAIN_003 = per_mtok((30000, 5), (6200, 25), (70000, 0.5), (2000, 6.25))
REQ_MAIN_004 = per_mtok((35000, 5), (3500, 25), (80000, 0.5), (4000, 6.25))  # no 5m/1h split
SESSION_COST = REQ_MAIN_001 + REQ_MAIN_002 + REQ_MAIN_003 + REQ_MAIN_004  # + a zero API error
# subagent.jsonl, priced by the "claude-haiku-4-5*" prefix.
SUBAGENT_COST = (
    per_mtok((5000, 1), (1200, 5), (12000, 0.1), (3000, 1.25))
    + per_mtok((8000, 1), (2800, 5), (15000, 0.1), (2000, 2))
    + per_mtok((6000, 1), (900, 5), (18000, 0.1), (1500, 1.25))
)


@pytest.fixture
def pricing(tmp_path: Path) -> Pricing:
    path = tmp_path / "pricing.toml"
    path.write_text(PRICES)
    return load_pricing(path)


def test_a_session_is_charged_once_per_request(tmp_path: Path, pricing: Pricing) -> None:
    assert SESSION_COST == pytest.approx(1.2335)
    store = Budget(tmp_path / "b.json", run_id="r")
    transcript = tmp_path / "s.jsonl"
    shutil.copy(SESSION, transcript)
    assert store.feed_transcript(transcript, pricing) == pytest.approx(SESSION_COST)
    assert store.feed_transcript(transcript, pricing) == 0.0  # nothing new
    assert store.spent_today() == pytest.approx(SESSION_COST)
    assert store.spent_run() == pytest.approx(SESSION_COST)
    sub = tmp_path / "agent.jsonl"
    shutil.copy(SUBAGENT, sub)
    assert store.feed_transcript(sub, pricing) == pytest.approx(SUBAGENT_COST)
    assert store.spent_today() == pytest.approx(SESSION_COST + SUBAGENT_COST)


@pytest.mark.parametrize("step", [97, 401, 1500, 5000])
def test_reading_a_growing_transcript_in_pieces_charges_the_same(
    tmp_path: Path, pricing: Pricing, step: int
) -> None:
    # Cuts fall inside lines and between streamed entries of one request.
    data = SESSION.read_bytes()
    transcript = tmp_path / "s.jsonl"
    transcript.write_bytes(b"")
    store = Budget(tmp_path / "b.json")
    charged = 0.0
    for end in [*range(step, len(data), step), len(data)]:
        transcript.write_bytes(data[:end])
        charged += store.feed_transcript(transcript, pricing)
    assert charged == pytest.approx(SESSION_COST)
    assert store.spent_today() == pytest.approx(SESSION_COST)


def test_a_replaced_or_shortened_transcript_does_not_charge_twice(
    tmp_path: Path, pricing: Pricing
) -> None:
    transcript = tmp_path / "s.jsonl"
    shutil.copy(SESSION, transcript)
    store = Budget(tmp_path / "b.json")
    store.feed_transcript(transcript, pricing)
    transcript.unlink()
    lines = SESSION.read_bytes().splitlines(keepends=True)
    transcript.write_bytes(b"".join(lines[:3]))  # a new, shorter file
    assert store.feed_transcript(transcript, pricing) == 0.0
    assert store.spent_today() == pytest.approx(SESSION_COST)


def test_a_transcript_not_there_yet_costs_nothing(tmp_path: Path, pricing: Pricing) -> None:
    store = Budget(tmp_path / "b.json")
    assert store.feed_transcript(tmp_path / "none.jsonl", pricing) == 0.0
    assert store.spent_today() == 0.0


def test_unpriced_usage_fails_closed_and_is_charged_once_priced(tmp_path: Path) -> None:
    only_opus = tmp_path / "p.toml"
    only_opus.write_text(PRICES.split('[models."claude-haiku-4-5*"]')[0])
    sub = tmp_path / "agent.jsonl"
    shutil.copy(SUBAGENT, sub)
    store = Budget(tmp_path / "b.json")
    with pytest.raises(BudgetError, match="no price for model 'claude-haiku-4-5-20251001'"):
        store.feed_transcript(sub, load_pricing(only_opus))
    full = tmp_path / "full.toml"
    full.write_text(PRICES)
    assert store.feed_transcript(sub, load_pricing(full)) == pytest.approx(SUBAGENT_COST)


def test_one_hour_cache_writes_need_their_price(tmp_path: Path) -> None:
    no_1h = tmp_path / "p.toml"
    no_1h.write_text(PRICES.replace("cache_write_1h = 10.0\n", ""))
    transcript = tmp_path / "s.jsonl"
    shutil.copy(SESSION, transcript)
    with pytest.raises(BudgetError, match="cache_write_1h"):
        Budget(tmp_path / "b.json").feed_transcript(transcript, load_pricing(no_1h))


def test_a_malformed_line_or_a_non_file_fails_closed(tmp_path: Path, pricing: Pricing) -> None:
    store = Budget(tmp_path / "b.json")
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(SESSION.read_bytes() + b'{"type": "assistant", "message": \n')
    with pytest.raises(BudgetError, match="malformed transcript line"):
        store.feed_transcript(bad, pricing)
    fifo = tmp_path / "fifo.jsonl"
    os.mkfifo(fifo)
    with pytest.raises(BudgetError, match="not a regular file"):  # and no hang on open
        store.feed_transcript(fifo, pricing)
    with pytest.raises(BudgetError, match="not a regular file"):
        store.feed_transcript("/dev/zero", pricing)
    negative = tmp_path / "neg.jsonl"
    entry = {
        "type": "assistant",
        "requestId": "req_x",
        "message": {"model": "claude-opus-4-6", "usage": {"input_tokens": -5}},
    }
    negative.write_text(json.dumps(entry) + "\n")
    with pytest.raises(BudgetError, match="not a token count"):
        store.feed_transcript(negative, pricing)
    assert store.spent_today() == 0.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "\\[models.NAME\\]"),
        ('[models."m"]\ninput = 1\noutput = 1\ncache_read = 1\n', "cache_write_5m"),
        ('[models."m"]\ninput = -1\noutput = 1\ncache_read = 1\ncache_write_5m = 1\n', "input"),
        (
            '[models."m"]\ninput = 1\noutput = 1\ncache_read = 1\ncache_write_5m = 1\nx = 1\n',
            "only",
        ),
        ('[models."m"]\ninput = "1"\noutput = 1\ncache_read = 1\ncache_write_5m = 1\n', "input"),
        ('price = 1\n[models."m"]\ninput = 1\n', "\\[models.NAME\\]"),
        ("[models", "unreadable"),
    ],
)
def test_malformed_pricing_is_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "p.toml"
    path.write_text(text)
    with pytest.raises(BudgetError, match=message):
        load_pricing(path)


def test_recorded_spends_keep_the_transcript_offsets(tmp_path: Path, pricing: Pricing) -> None:
    store = Budget(tmp_path / "b.json")
    transcript = tmp_path / "s.jsonl"
    shutil.copy(SESSION, transcript)
    store.feed_transcript(transcript, pricing)
    store.record(0.5)  # a manual record must not forget where the transcript was read to
    assert store.feed_transcript(transcript, pricing) == 0.0
    assert store.spent_today() == pytest.approx(SESSION_COST + 0.5)


def _hook(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    body: str,
) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(body))
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_the_hook_feeds_the_budget_and_the_gate_denies_once_it_is_spent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CHARTER_AUDIT", str(tmp_path / "audit.db"))
    monkeypatch.setenv("CHARTER_BUDGET", str(tmp_path / "budget.json"))
    monkeypatch.delenv("CHARTER_PRICING", raising=False)
    constitution, key = write_signed(
        tmp_path / "c", constitution_text("[resource_limits]\nmax_api_cost_per_day = 1.0\n")
    )
    prices = tmp_path / "pricing.toml"
    prices.write_text(PRICES)
    transcript = tmp_path / "projects" / "s.jsonl"
    transcript.parent.mkdir()
    lines = SESSION.read_bytes().splitlines(keepends=True)
    transcript.write_bytes(b"".join(lines[:8]))  # requests 001 and 002: 0.5535, under 1.0
    body = json.dumps(
        {
            "session_id": "abc123",
            "transcript_path": str(transcript),
            "cwd": str(tmp_path),
            "hook_event_name": "PreToolUse",
            "tool_name": "Bash",
            "tool_input": {"command": "git status"},
        }
    )
    argv = ["hook", "claude-code", "--constitution", str(constitution), "--key", str(key)]
    code, out, err = _hook(monkeypatch, capsys, [*argv, "--pricing", str(prices)], body)
    assert code == 0, err
    assert json.loads(out)["hookSpecificOutput"]["permissionDecision"] == "allow"
    assert Budget(tmp_path / "budget.json").spent_today() == pytest.approx(
        REQ_MAIN_001 + REQ_MAIN_002
    )
    transcript.write_bytes(SESSION.read_bytes())  # the session went on: 1.2335 spent
    code, out, _ = _hook(monkeypatch, capsys, [*argv, "--pricing", str(prices)], body)
    doc = json.loads(out)["hookSpecificOutput"]
    assert doc["permissionDecision"] == "deny"
    assert "max_api_cost_per_day" in doc["permissionDecisionReason"]
    # Writing the prices is writing the gate's own file: denied like the constitution.
    write = json.loads(body)
    write.update(tool_name="Write", tool_input={"file_path": str(prices), "content": "x"})
    del write["transcript_path"]
    monkeypatch.setenv("CHARTER_BUDGET", str(tmp_path / "other-budget.json"))
    code, out, _ = _hook(monkeypatch, capsys, [*argv, "--pricing", str(prices)], json.dumps(write))
    doc = json.loads(out)["hookSpecificOutput"]
    assert doc["permissionDecision"] == "deny"
    assert "pricing.toml" in doc["permissionDecisionReason"]


def test_without_pricing_the_hook_reads_no_transcript(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CHARTER_AUDIT", str(tmp_path / "audit.db"))
    monkeypatch.setenv("CHARTER_BUDGET", str(tmp_path / "budget.json"))
    monkeypatch.delenv("CHARTER_PRICING", raising=False)
    constitution, key = write_signed(tmp_path / "c")
    transcript = tmp_path / "s.jsonl"
    shutil.copy(SESSION, transcript)
    body = json.dumps(
        {
            "transcript_path": str(transcript),
            "cwd": str(tmp_path),
            "hook_event_name": "PreToolUse",
            "tool_name": "Bash",
            "tool_input": {"command": "git status"},
        }
    )
    argv = ["hook", "claude-code", "--constitution", str(constitution), "--key", str(key)]
    code, _, _ = _hook(monkeypatch, capsys, argv, body)
    assert code == 0
    assert Budget(tmp_path / "budget.json").spent_today() == 0.0


def test_budget_feed_reads_the_stop_hook_payload(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # As a Stop hook: the payload on stdin names the transcript; the turn's cost is
    # recorded even when no tool call follows it.
    prices = tmp_path / "pricing.toml"
    prices.write_text(PRICES)
    transcript = tmp_path / "s.jsonl"
    shutil.copy(SESSION, transcript)
    stop = {
        "session_id": "abc123",
        "transcript_path": str(transcript),
        "hook_event_name": "Stop",
        "stop_hook_active": False,
    }
    argv = ["budget", "feed", "--pricing", str(prices), "--budget", str(tmp_path / "b.json")]
    code, out, err = _hook(monkeypatch, capsys, [*argv, "--format", "json"], json.dumps(stop))
    assert code == 0, err
    assert json.loads(out)["recorded"] == pytest.approx(SESSION_COST)
    code, out, _ = _hook(monkeypatch, capsys, [*argv, "--format", "json"], json.dumps(stop))
    assert json.loads(out)["recorded"] == 0.0
    code, _, err = _hook(monkeypatch, capsys, argv, json.dumps({"hook_event_name": "Stop"}))
    assert code == 2 and "transcript_path" in err
