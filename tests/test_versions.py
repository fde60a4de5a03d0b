"""Accepted versions: rollback and silent major moves are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from charter.core.errors import ConfigError, RollbackError
from charter.policy.loading import load_layer
from charter.trust import keys
from charter.trust.policy import parse_policy
from charter.trust.versions import VersionState, check_transition, default_state_dir
from tests.test_bundle_tamper import bundle_files, signed_tarball


def test_first_version_is_accepted_and_recorded(tmp_path: Path) -> None:
    state = VersionState(tmp_path)
    state.accept("overlay/acme", "1.2.0", "sha256:a")
    assert VersionState(tmp_path).get("overlay/acme") is not None
    assert VersionState(tmp_path).get("overlay/acme").version == "1.2.0"  # type: ignore[union-attr]


@pytest.mark.parametrize("older", ["1.1.9", "1.2.0-rc.1", "0.9.0"])
def test_older_version_is_a_rollback(tmp_path: Path, older: str) -> None:
    state = VersionState(tmp_path)
    state.accept("overlay/acme", "1.2.0", "sha256:a")
    with pytest.raises(RollbackError, match=f"rollback refused: overlay/acme {older} is older"):
        state.accept("overlay/acme", older, "sha256:b", allow_major=True)
    assert state.get("overlay/acme").version == "1.2.0"  # type: ignore[union-attr]


def test_newer_minor_moves_forward_and_stays(tmp_path: Path) -> None:
    state = VersionState(tmp_path)
    state.accept("overlay/acme", "1.2.0", "sha256:a")
    state.accept("overlay/acme", "1.3.0", "sha256:b")
    with pytest.raises(RollbackError, match="older than the accepted 1.3.0"):
        state.check("overlay/acme", "1.2.0", "sha256:a")


def test_same_version_same_content_is_fine_other_content_is_not(tmp_path: Path) -> None:
    state = VersionState(tmp_path)
    state.accept("pack/soc2", "1.0.0", "sha256:a")
    state.accept("pack/soc2", "1.0.0", "sha256:a")
    with pytest.raises(RollbackError, match="different content than the 1.0.0 accepted before"):
        state.accept("pack/soc2", "1.0.0", "sha256:b")


def test_major_change_needs_explicit_consent(tmp_path: Path) -> None:
    state = VersionState(tmp_path)
    state.accept("constitution/core", "1.4.0", "sha256:a")
    with pytest.raises(RollbackError, match="major version change 1.4.0 -> 2.0.0.*--allow-major"):
        state.accept("constitution/core", "2.0.0", "sha256:b")
    state.accept("constitution/core", "2.0.0", "sha256:b", allow_major=True)
    assert state.get("constitution/core").version == "2.0.0"  # type: ignore[union-attr]


def test_no_previous_version_allows_anything() -> None:
    check_transition("overlay/x", None, "7.0.0", "sha256:z")


def test_default_state_dir_honours_env_then_home() -> None:
    assert default_state_dir({"CHARTER_STATE_DIR": "/s"}) == Path("/s")
    assert default_state_dir({"HOME": "/h"}) == Path("/h/.charter/state")


def test_downgraded_bundle_is_refused_before_parsing(tmp_path: Path) -> None:
    signer = keys.generate()
    (tmp_path / "o.pub").write_bytes(keys.public_pem(signer.public_key()))
    policy = parse_policy('[layers.overlay]\nkeys = ["o.pub"]\n', base=tmp_path)
    state = VersionState(tmp_path / "state")
    new = tmp_path / "new.tar.gz"
    new.write_bytes(signed_tarball(signer, bundle_files(version="1.4.0")))
    load_layer(new, policy, "overlay", state=state)
    # The older bundle is genuinely signed, but its Rego would not even parse:
    # a RollbackError (not a PolicyError) shows the refusal came first.
    old_files = bundle_files(version="1.3.0")
    old_files["charter/overlay/r1/rule.rego"] = b"package charter.overlay.r1\n}}} not rego"
    old = tmp_path / "old.tar.gz"
    old.write_bytes(signed_tarball(signer, old_files))
    with pytest.raises(RollbackError, match="overlay/acme 1.3.0 is older than the accepted 1.4.0"):
        load_layer(old, policy, "overlay", state=state)
    major = tmp_path / "major.tar.gz"
    major.write_bytes(signed_tarball(signer, bundle_files(version="2.0.0")))
    with pytest.raises(RollbackError, match="--allow-major"):
        load_layer(major, policy, "overlay", state=state)
    assert load_layer(major, policy, "overlay", state=state, allow_major=True).version == "2.0.0"


@pytest.mark.parametrize(
    "text",
    [
        '{"layers": {"overlay/o": {"version": "9.0.0"}, "overlay/o": {"version": "1.0.0"}}}',
        '{"layers": {}, "layers": {"overlay/o": {"version": "1.0.0"}}}',
        '{"layers": {"overlay/o": {"version": "1.0.0", "n": 1e999}}}',
    ],
)
def test_an_ambiguous_state_file_is_refused_not_read(tmp_path: Path, text: str) -> None:
    # Before: duplicate keys were read last-wins, so a state file could say one
    # thing to a reviewer and another to Charter (here: roll 9.0.0 back to 1.0.0).
    state = VersionState(tmp_path)
    state.path.write_text(text)
    with pytest.raises(ConfigError, match="accepted-version state is unreadable"):
        state.get("overlay/o")


def test_the_gate_keeps_its_workflow_slots_in_charter_state_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before: `charter exec` read $CHARTER_STATE (default ~/.charter), a second name
    # for the state directory; a slot held under $CHARTER_STATE_DIR did not count.
    import fcntl
    import os

    from charter.cli import main
    from tests.gate_helpers import constitution_text, write_signed

    state = tmp_path / "state"
    monkeypatch.setenv("CHARTER_STATE_DIR", str(state))
    monkeypatch.setenv("CHARTER_STATE", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("CHARTER_AUDIT", str(tmp_path / "audit.db"))
    monkeypatch.setenv("CHARTER_BUDGET", str(tmp_path / "budget.json"))
    text = constitution_text("[resource_limits]\nmax_concurrent_workflows = 1\n")
    constitution, pub = write_signed(tmp_path / "c", text)
    (state / "slots").mkdir(parents=True)
    held = os.open(state / "slots" / "slot-0", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        argv = ["exec", "--constitution", str(constitution), "--key", str(pub), "--", "true"]
        assert main(argv) == 1
        assert not (tmp_path / "elsewhere").exists()
    finally:
        os.close(held)
    assert main(argv) == 0
