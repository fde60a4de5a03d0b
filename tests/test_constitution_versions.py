"""The constitution TOML's version is signed, and an older one is never accepted again.

Adversarial: an old signed file with its version edited, a file signed the old way (the
signature over the bare checksum), an older signed file replayed after a newer one was
accepted (CLI, runner refresh, runner restart), and the same version with other content.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest
import tomlkit

from charter.actions import constitution as model
from charter.actions.gate import UnverifiedConstitution, load_layers
from charter.actions.lint import default_constitution_toml
from charter.cli import main
from charter.core.errors import ConfigError, VerificationError
from charter.runner.config import load_config, parse_config
from charter.runner.service import NotReady, RunnerService
from charter.trust import keys
from charter.trust.versions import VersionState

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = default_constitution_toml().read_text("utf-8")
KEY = keys.generate()


def text_at(version: str, extra_forbidden: str = "") -> str:
    text = DEFAULT.replace('version = "1.0.0"', f'version = "{version}"', 1)
    if extra_forbidden:
        text = text.replace("forbidden = [\n", f'forbidden = [\n    "{extra_forbidden}",\n', 1)
    return text


def signed(version: str, extra_forbidden: str = "", key: keys.PrivateKey = KEY) -> str:
    return model.sign_text(text_at(version, extra_forbidden), key)


def old_way(text: str, key: keys.PrivateKey = KEY) -> str:
    """Sign as Charter did before the version was covered: over the bare hex checksum."""
    doc = tomlkit.parse(signed(model.parse_text(text).version, key=key))
    checksum = model.canonical_checksum(model.parse_text(text).document)
    doc["identity"]["signature"] = base64.b64encode(  # type: ignore[index]
        keys.sign(key, checksum.encode("ascii"))
    ).decode()
    return tomlkit.dumps(doc)


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    pub = tmp_path / "signing.pub"
    pub.write_bytes(keys.public_pem(KEY.public_key()))
    return tmp_path / "constitution.toml", pub


def gate(path: Path, pub: Path, command: str = "git status") -> int:
    return main(["gate", "--constitution", str(path), "--key", str(pub), "--command", command])


# ------------------------------------------------------------------ the signed message


def test_the_signature_is_over_version_and_checksum() -> None:
    text = signed("1.2.3")
    c = model.parse_text(text)
    message = model.signed_message("1.2.3", c.checksum)
    assert message == (
        f"charter-constitution-signature-v2\nversion=1.2.3\nchecksum={c.checksum}\n".encode()
    )
    assert c.identity.signature is not None
    keys.verify(KEY.public_key(), base64.b64decode(c.identity.signature), message)
    # the checksum itself is still the seed-compatible one (no [identity] in it)
    assert c.identity.checksum == model.canonical_checksum(model.parse_text(DEFAULT).document)


@pytest.mark.parametrize("edited", ["1.0.1", "2.0.0", "0.9.0", "1.0.0-rc.1", "1.0.0+x"])
def test_editing_the_version_of_a_signed_file_breaks_the_signature(
    edited: str, files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    original = signed("1.0.0")
    forged = original.replace('version = "1.0.0"', f'version = "{edited}"', 1)
    assert forged != original
    with pytest.raises(VerificationError, match="does not cover this version"):
        model.verify_constitution(model.parse_text(forged), KEY.public_key())
    path, pub = files
    path.write_text(forged)
    assert gate(path, pub) == 2
    err = capsys.readouterr().err
    assert "refusing to decide" in err and "Traceback" not in err
    assert main(["constitution", "verify", str(path), "--key", str(pub)]) == 1


def test_a_file_signed_the_old_way_is_refused_until_re_signed(
    files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, pub = files
    legacy = old_way(text_at("1.0.0"))
    with pytest.raises(VerificationError, match="signed the old way") as info:
        model.verify_constitution(model.parse_text(legacy), KEY.public_key())
    assert "charter constitution sign" in (info.value.hint or "")
    # nor with its version edited (the old signature never covered it)
    bumped = legacy.replace('version = "1.0.0"', 'version = "7.0.0"', 1)
    with pytest.raises(VerificationError, match="signed the old way"):
        model.verify_constitution(model.parse_text(bumped), KEY.public_key())
    path.write_text(legacy)
    assert gate(path, pub) == 2
    err = capsys.readouterr().err
    assert "signed the old way" in err and "charter constitution sign" in err
    assert len(err.strip().splitlines()) == 1
    # re-signing with `charter constitution sign` makes it acceptable
    key_dir = tmp_path / "keys"
    key_dir.mkdir()
    (key_dir / "signing.key").write_bytes(keys.private_pem(KEY))
    assert main(["constitution", "sign", str(path), "--key-dir", str(key_dir)]) == 0
    assert gate(path, pub) == 0


# ------------------------------------------------------------------ rollback: CLI


def test_cli_refuses_an_older_signed_file_after_a_newer_one(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path, pub = files
    path.write_text(signed("1.1.0"))
    assert gate(path, pub) == 0
    path.write_text(signed("1.0.0"))
    assert gate(path, pub) == 2
    err = capsys.readouterr().err
    assert "rollback refused" in err and "1.0.0 is older than the accepted 1.1.0" in err
    # in a new process too: the record is on disk, in the state directory
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}
    proc = subprocess.run(
        [sys.executable, "-m", "charter", "gate", "--constitution", str(path), "--key", str(pub),
         "--command", "git status"],
        capture_output=True, text=True, env=env, check=False, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "rollback refused" in proc.stderr
    # moving forward is fine, and a major move needs no flag for a constitution TOML
    path.write_text(signed("2.0.0"))
    assert gate(path, pub) == 0


def test_cli_refuses_the_same_version_with_other_content(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path, pub = files
    path.write_text(signed("1.1.0", "terraform destroy*"))
    assert gate(path, pub, "terraform destroy") == 1
    path.write_text(signed("1.1.0"))  # same version, the forbidden pattern gone
    assert gate(path, pub, "terraform destroy") == 2
    assert "different content than the 1.1.0 accepted before" in capsys.readouterr().err
    # the same content re-signed (comments and whitespace do not count) stays accepted
    path.write_text("# a comment\n" + signed("1.1.0", "terraform destroy*"))
    assert gate(path, pub, "terraform destroy") == 1


def test_a_lower_layer_is_remembered_on_its_own(tmp_path: Path, files: tuple[Path, Path]) -> None:
    path, pub = files
    path.write_text(signed("1.0.0"))
    overlay = tmp_path / "team.toml"
    state = VersionState(tmp_path / "state")

    def team(version: str) -> str:
        body = '[boundaries]\nforbidden = ["terraform destroy*"]\n'
        return model.sign_text(f'[identity]\nversion = "{version}"\n\n{body}', KEY)

    overlay.write_text(team("3.1.0"))
    load_layers([path, overlay], [pub, pub], state=state, record=True)
    assert state.get("actions/overlay/" + str(overlay.resolve())) is not None
    overlay.write_text(team("3.0.0"))
    with pytest.raises(UnverifiedConstitution, match="rollback refused"):
        load_layers([path, overlay], [pub, pub], state=state, record=True)


def test_metadata_name_keys_the_record_so_a_copy_elsewhere_is_still_refused(
    tmp_path: Path, files: tuple[Path, Path]
) -> None:
    path, pub = files
    named = DEFAULT.replace("[boundaries]", '[metadata]\nname = "acme"\n\n[boundaries]', 1)
    state = VersionState(tmp_path / "state")
    path.write_text(model.sign_text(named.replace('"1.0.0"', '"1.4.0"', 1), KEY))
    load_layers([path], [pub], state=state, record=True)
    copy = tmp_path / "elsewhere.toml"
    copy.write_text(model.sign_text(named, KEY))
    with pytest.raises(UnverifiedConstitution, match="rollback refused"):
        load_layers([copy], [pub], state=state, record=True)


# ------------------------------------------------------------------ rollback: runner


def runner_config(tmp_path: Path, path: Path, pub: Path) -> Path:
    config = tmp_path / "runner.toml"
    config.write_text(
        f'listen = "127.0.0.1:0"\nstate_dir = "{tmp_path / "state"}"\n'
        f'evaluator_processes = 0\n\n[actions]\nconstitution = "{path}"\nkey = "{pub}"\n\n'
        f'[audit]\nstore = "{tmp_path / "audit.db"}"\n'
    )
    return config


def served(service: RunnerService) -> str | None:
    info = service.status()["actions"]
    return info["version"] if info else None


def test_runner_refuses_rollback_on_refresh_and_after_restart(
    tmp_path: Path, files: tuple[Path, Path]
) -> None:
    path, pub = files
    config = load_config(runner_config(tmp_path, path, pub))
    path.write_text(signed("1.1.0", "terraform destroy*"))
    service = RunnerService(config)
    try:
        assert service.refresh() and served(service) == "1.1.0"
        ask = {"kind": "command", "command": "terraform destroy", "cwd": str(tmp_path)}
        assert service.decide_action(ask, "agent")["verdict"] == "deny"
        # an older signed file: refused, the newer one stays served
        path.write_text(signed("1.0.0"))
        assert not service.refresh()
        assert "rollback refused" in (service.last_refresh or {})["error"]
        assert served(service) == "1.1.0"
        assert service.decide_action(ask, "agent")["verdict"] == "deny"
        # the older file with its version edited upward: the signature breaks
        path.write_text(signed("1.0.0").replace('version = "1.0.0"', 'version = "1.2.0"', 1))
        assert not service.refresh()
        assert "does not cover this version" in (service.last_refresh or {})["error"]
        # the same version with other content
        path.write_text(signed("1.1.0"))
        assert not service.refresh()
        assert "different content" in (service.last_refresh or {})["error"]
    finally:
        service.stop()
    # a restart with the older file: the record in state_dir still refuses it
    path.write_text(signed("1.0.0"))
    restarted = RunnerService(config)
    try:
        assert not restarted.refresh()
        # the proposal stack still loads (served, degraded); the action gate is refused
        assert "rollback refused" in (restarted.actions_error or "")
        with pytest.raises(NotReady):
            restarted.decide_action({"kind": "command", "command": "ls", "cwd": "/"}, "agent")
        path.write_text(signed("1.2.0"))
        assert restarted.refresh() and served(restarted) == "1.2.0"
    finally:
        restarted.stop()


def test_runner_composes_layers_from_its_config(tmp_path: Path, files: tuple[Path, Path]) -> None:
    path, pub = files
    path.write_text(signed("1.0.0"))
    overlay = tmp_path / "team.toml"
    body = '[boundaries]\nforbidden = ["terraform destroy*"]\n'
    overlay.write_text(model.sign_text(f'[identity]\nversion = "1.0.0"\n\n{body}', KEY))
    config = tmp_path / "runner.toml"
    config.write_text(
        f'listen = "127.0.0.1:0"\nstate_dir = "{tmp_path / "state"}"\nevaluator_processes = 0\n'
        f'[actions]\nconstitution = ["{path}", "{overlay}"]\nkey = ["{pub}", "{pub}"]\n'
        f'[audit]\nstore = "{tmp_path / "audit.db"}"\n'
    )
    service = RunnerService(load_config(config))
    try:
        assert service.refresh()
        d = service.decide_action(
            {"kind": "command", "command": "terraform destroy", "cwd": str(tmp_path)}, "agent"
        )
        assert d["verdict"] == "deny" and d["reasons"][0]["layer"] == "overlay:team"
        info = service.status()["actions"]
        assert [x["layer"] for x in info["layers"]] == ["constitution", "overlay"]
        assert set(info["files"]) == {str(path), str(overlay)}
        assert str(overlay) in service.loader.protected
    finally:
        service.stop()


def test_runner_actions_config_forms(tmp_path: Path, files: tuple[Path, Path]) -> None:
    path, pub = files
    path.write_text(signed("1.0.0"))
    head = f'listen = "127.0.0.1:0"\nstate_dir = "{tmp_path / "state"}"\nevaluator_processes = 0\n'
    audit = f'[audit]\nstore = "{tmp_path / "audit.db"}"\n'
    with pytest.raises(ConfigError, match="needs key .* or a trust_policy"):
        parse_config(head + f'[actions]\nconstitution = "{path}"\n' + audit)
    with pytest.raises(ConfigError, match="lists 2 file.* but actions.key 1"):
        parse_config(head + f'[actions]\nconstitution = ["{path}", "{path}"]\nkey = "{pub}"\n')
    with pytest.raises(ConfigError, match="must not be empty"):
        parse_config(head + f'[actions]\nconstitution = []\nkey = "{pub}"\n')
    policy = tmp_path / "trust.toml"
    policy.write_text(f'[layers.constitution]\nkeys = ["{pub}"]\n')
    config = tmp_path / "runner.toml"
    config.write_text(
        f'trust_policy = "{policy}"\n' + head + f'[actions]\nconstitution = "{path}"\n' + audit
    )
    service = RunnerService(load_config(config))
    try:
        assert service.refresh() and served(service) == "1.0.0"
        assert str(policy) in service.loader.protected
    finally:
        service.stop()
    # the policy pins another signer: refused
    policy.write_text(f'[layers.constitution]\nkeys = ["{tmp_path / "other.pub"}"]\n')
    (tmp_path / "other.pub").write_bytes(keys.public_pem(keys.generate().public_key()))
    service = RunnerService(load_config(config))
    try:
        assert not service.refresh()
        assert "does not pin for the constitution layer" in (service.actions_error or "")
    finally:
        service.stop()
