"""The watchdog: a verified file that changes on disk turns decisions to deny."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from charter.actions.constitution import sign_text
from charter.actions.gate import Gate, load_constitution
from charter.actions.lint import default_constitution_toml
from charter.cli import main
from charter.core.digests import sha256_bytes
from charter.core.errors import InputError, IntegrityLost, TrustError, exit_code
from charter.core.verdict import Verdict
from charter.trust import keys
from charter.trust.watchdog import IntegrityEvent, Watchdog

#: Upper bound for "within one interval" waits: generous, never asserted as a duration.
BOUND = 30.0


def decide(watchdog: Watchdog, command: str) -> str:
    """A stand-in for the gate's decision code: consult the guard first, fail closed."""
    try:
        watchdog.guard()
    except IntegrityLost:
        return "deny"
    return "allow" if command.startswith("ls") else "ask"


@pytest.fixture
def watched(tmp_path: Path) -> Path:
    path = tmp_path / "constitution.toml"
    path.write_text('[identity]\nversion = "1.0.0"\n')
    return path


def test_background_thread_detects_an_edit(watched: Path) -> None:
    events: list[IntegrityEvent] = []
    seen = threading.Event()

    def record(event: IntegrityEvent) -> None:
        events.append(event)
        seen.set()

    with Watchdog(interval=0.02) as watchdog:
        watchdog.watch(watched, sha256_bytes(watched.read_bytes()))
        watchdog.on_integrity_lost(record)
        assert decide(watchdog, "ls -la") == "allow"
        watched.write_text('[identity]\nversion = "6.6.6"\n')
        assert watchdog.wait_lost(BOUND)
        assert seen.wait(BOUND)
    assert not watchdog.healthy
    assert watchdog.reason == f"constitution integrity lost: {watched.resolve()} changed"
    assert decide(watchdog, "ls -la") == "deny"
    with pytest.raises(IntegrityLost, match="constitution integrity lost") as caught:
        watchdog.guard()
    assert isinstance(caught.value, TrustError) and exit_code(caught.value) == 1
    assert [e.path for e in events] == [str(watched.resolve())]
    assert events[0].expected != events[0].actual
    assert events[0].to_dict()["event"] == "integrity_lost"


def test_check_now_and_latching(watched: Path) -> None:
    watchdog = Watchdog({watched: sha256_bytes(watched.read_bytes())}, interval=3600)
    assert watchdog.check_now() and watchdog.healthy
    original = watched.read_bytes()
    watched.write_bytes(original + b"# sneaky\n")
    assert not watchdog.check_now()
    # Restoring the bytes does not restore trust: the change may have been used.
    watched.write_bytes(original)
    assert watchdog.check_now() is True
    with pytest.raises(IntegrityLost):
        watchdog.guard()
    assert len(watchdog.events) == 1


def test_a_deleted_file_is_an_integrity_loss(watched: Path) -> None:
    watchdog = Watchdog(interval=3600)
    watchdog.watch(watched)
    watched.unlink()
    assert not watchdog.check_now()
    assert watchdog.events[0].actual is None


def test_the_expected_digest_is_what_was_verified(watched: Path) -> None:
    # A change between verification and watch() is still caught.
    verified = watched.read_bytes()
    watched.write_text("tampered in between")
    watchdog = Watchdog(interval=3600)
    watchdog.watch(watched, sha256_bytes(verified))
    assert not watchdog.check_now()


def test_failing_callback_does_not_stop_fail_closed(watched: Path) -> None:
    watchdog = Watchdog(interval=3600)
    watchdog.watch(watched)

    def broken(event: IntegrityEvent) -> None:
        raise RuntimeError("audit store down")

    later: list[IntegrityEvent] = []
    watchdog.on_integrity_lost(broken)
    watchdog.on_integrity_lost(later.append)
    watched.write_text("x")
    watchdog.check_now()
    assert not watchdog.healthy and len(later) == 1
    assert watchdog.callback_errors == ("RuntimeError: audit store down",)


def test_stop_ends_the_thread_and_interval_must_be_positive(watched: Path) -> None:
    watchdog = Watchdog(interval=0.01).start()
    watchdog.watch(watched)
    start = watchdog.checks
    deadline = threading.Event()
    for _ in range(int(BOUND / 0.01)):
        if watchdog.checks > start + 2:
            break
        deadline.wait(0.01)
    assert watchdog.checks > start
    watchdog.stop(timeout=BOUND)
    assert watchdog.healthy
    with pytest.raises(InputError):
        Watchdog(interval=0)


def test_real_gate_decisions_turn_to_deny_within_one_interval(tmp_path: Path) -> None:
    """A signed constitution, a real Gate and a real Watchdog; the file is edited on disk.

    "Within one interval" is counted in checks, never in seconds: the first
    check that *starts* after the edit must already report the loss (a check
    that was running during the edit may still have read the old bytes).
    """

    key = keys.generate()
    (tmp_path / "signing.pub").write_bytes(keys.public_pem(key.public_key()))
    path = tmp_path / "constitution.toml"
    path.write_text(sign_text(default_constitution_toml().read_text(), key))
    loaded = load_constitution(path, tmp_path / "signing.pub")
    detected_at: list[int] = []
    with Watchdog(interval=0.02) as watchdog:
        watchdog.watch(path, loaded.digest)
        watchdog.on_integrity_lost(lambda event: detected_at.append(watchdog.checks))
        gate = Gate(loaded.constitution, watchdog=watchdog)
        assert gate.decide_command("git status", str(tmp_path)).verdict is Verdict.ALLOW
        before_edit = watchdog.checks
        # Loosen it on disk: allow everything.
        path.write_text(path.read_text().replace("auto_allowed = [", 'auto_allowed = ["*", ', 1))
        assert watchdog.wait_lost(BOUND)
        decision = gate.decide_command("git status", str(tmp_path))
    assert decision.verdict is Verdict.DENY
    assert any("integrity lost" in r.msg for r in decision.reasons)
    assert detected_at and detected_at[0] <= before_edit + 2


@pytest.mark.parametrize(
    "interval", [float("inf"), 1e308, float("nan"), 0, -1, 1e-9, 8 * 24 * 3600.0]
)
def test_intervals_out_of_range_are_refused(interval: float) -> None:
    with pytest.raises(InputError, match="must be a number of seconds"):
        Watchdog(interval=interval)


def test_a_dead_checking_thread_is_never_healthy(watched: Path) -> None:
    """Regression (issue 10, defect 4): the thread died of OverflowError, then said ok."""
    reported: list[IntegrityEvent] = []
    watchdog = Watchdog({watched: sha256_bytes(watched.read_bytes())}, interval=1.0)
    watchdog.on_integrity_lost(reported.append)
    watchdog.interval = 1e308  # what --interval 1e308 used to reach: Event.wait overflows
    watchdog.start()
    try:
        assert watchdog.wait_lost(BOUND)
        assert not watchdog.healthy
        with pytest.raises(IntegrityLost, match="stopped checking"):
            watchdog.guard()
        assert len(reported) == 1 and "OverflowError" in reported[0].reason
    finally:
        watchdog.stop(timeout=BOUND)
    assert not watchdog.healthy


@pytest.mark.parametrize("interval", ["inf", "1e308", "nan", "0", "-5"])
def test_cli_watch_refuses_bad_intervals(
    tmp_path: Path, interval: str, capsys: pytest.CaptureFixture[str]
) -> None:

    key = keys.generate()
    (tmp_path / "k.pub").write_bytes(keys.public_pem(key.public_key()))
    path = tmp_path / "c.toml"
    path.write_text(sign_text(default_constitution_toml().read_text(), key))
    args = ["constitution", "watch", str(path), "--key", str(tmp_path / "k.pub")]
    assert main([*args, "--interval", interval]) == 2
    out, err = capsys.readouterr()
    assert "--interval must be a number of seconds" in err
    assert len(err.strip().splitlines()) <= 2 and "Traceback" not in err  # message + hint
    assert "unchanged" not in out and "verified" not in out
