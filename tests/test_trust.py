"""The trust policy: per-layer signers, version pins, and loading stacks under it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from charter.cli import main
from charter.core.errors import (
    ArchiveError,
    ConfigError,
    PolicyError,
    RollbackError,
    VerificationError,
)
from charter.policy.bundle import ArchiveLimits
from charter.policy.loading import load_layer, load_trusted_stack
from charter.trust import keyless, keys
from charter.trust.policy import load_policy, parse_policy
from charter.trust.versions import VersionState
from tests.test_bundle_tamper import bundle_files, signed_tarball

ASSETS = Path(__file__).parent / "assets"


@pytest.fixture
def signers(tmp_path: Path) -> dict[str, keys.PrivateKey]:
    made = {}
    for layer in ("constitution", "pack", "overlay"):
        made[layer] = keys.generate("ed25519")
        (tmp_path / f"{layer}.pub").write_bytes(keys.public_pem(made[layer].public_key()))
    return made


@pytest.fixture
def policy_file(tmp_path: Path, signers: dict[str, keys.PrivateKey]) -> Path:
    path = tmp_path / "trust.toml"
    path.write_text(
        """
state_dir = "state"

[layers.constitution]
keys = ["constitution.pub"]
version = "2.0.0"

[layers.pack]
keys = ["pack.pub"]

[layers.overlay]
keys = ["overlay.pub"]
"""
    )
    return path


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_policy_loads_relative_keys_and_state(
    policy_file: Path, signers: dict[str, keys.PrivateKey]
) -> None:
    policy = load_policy(policy_file)
    assert policy.for_layer("overlay").key_ids == (keys.key_id(signers["overlay"].public_key()),)
    assert policy.for_layer("constitution").version == "2.0.0"
    assert policy.state_dir == policy_file.parent / "state"


def test_a_policy_saved_with_a_utf8_bom_loads(
    policy_file: Path, signers: dict[str, keys.PrivateKey]
) -> None:
    # Before: "malformed TOML" (the BOM was read as a character of the document).
    policy_file.write_bytes(b"\xef\xbb\xbf" + policy_file.read_bytes())
    policy = load_policy(policy_file)
    assert policy.for_layer("overlay").key_ids == (keys.key_id(signers["overlay"].public_key()),)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[layers.overlay]\nkeys = []\n", "pins no keys and no keyless identities"),
        ("[layers.bogus]\nkeys = []\n", "unknown layer"),
        ("[layers.overlay]\nkey = ['a.pub']\n", "unknown key layers.overlay.key"),
        ("colour = 'red'\n[layers.overlay]\nkeys = []\n", "unknown key colour"),
        ("", "no \\[layers.\\*\\] tables"),
        ("[layers.overlay]\nkeyless = [{ identity = 'a' }]\n", "exactly identity and issuer"),
        ("[layers.overlay\n", "malformed TOML"),
    ],
)
def test_bad_policies_are_refused(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_policy(text)


def test_overlay_loads_with_its_key(
    tmp_path: Path, policy_file: Path, signers: dict[str, keys.PrivateKey]
) -> None:
    bundle = write(tmp_path, "ov.tar.gz", signed_tarball(signers["overlay"]))
    layer = load_layer(bundle, load_policy(policy_file), "overlay")
    assert layer.signer == keys.key_id(signers["overlay"].public_key())
    assert layer.source == str(bundle)
    state = json.loads((tmp_path / "state" / "accepted.json").read_text())
    assert state["layers"]["overlay/acme"]["version"] == "1.0.0"


def test_overlay_key_cannot_sign_a_constitution(
    tmp_path: Path, policy_file: Path, signers: dict[str, keys.PrivateKey]
) -> None:
    files = bundle_files(layer="constitution", name="evil", version="2.0.0")
    bundle = write(tmp_path, "c.tar.gz", signed_tarball(signers["overlay"], files))
    with pytest.raises(VerificationError, match="not trusted for the constitution layer"):
        load_layer(bundle, load_policy(policy_file), "constitution")


def test_a_layer_the_policy_does_not_pin_is_refused(
    tmp_path: Path, signers: dict[str, keys.PrivateKey]
) -> None:
    policy = parse_policy('[layers.overlay]\nkeys = ["overlay.pub"]\n', base=tmp_path)
    bundle = write(
        tmp_path, "p.tar.gz", signed_tarball(signers["pack"], bundle_files(layer="pack"))
    )
    with pytest.raises(VerificationError, match="pins no signer for the pack layer"):
        load_layer(bundle, policy, "pack")


def test_pinned_version_is_enforced_before_parsing(
    tmp_path: Path, policy_file: Path, signers: dict[str, keys.PrivateKey]
) -> None:
    files = bundle_files(layer="constitution", name="core", version="2.1.0")
    files["charter/constitution/r1/rule.rego"] = (
        b"package charter.constitution.r1\nthis is not rego"
    )
    bundle = write(tmp_path, "c.tar.gz", signed_tarball(signers["constitution"], files))
    with pytest.raises(RollbackError, match="2.1.0 is not the pinned 2.0.0"):
        load_layer(bundle, load_policy(policy_file), "constitution")


def test_signed_but_broken_rego_fails_only_after_verification(
    tmp_path: Path, policy_file: Path, signers: dict[str, keys.PrivateKey]
) -> None:
    files = bundle_files()
    files["charter/overlay/r1/rule.rego"] = b"package charter.overlay.r1\nthis is not rego"
    bundle = write(tmp_path, "ov.tar.gz", signed_tarball(signers["overlay"], files))
    with pytest.raises(PolicyError):
        load_layer(bundle, load_policy(policy_file), "overlay")
    # A version that never parsed is not recorded as accepted.
    assert not (tmp_path / "state" / "accepted.json").exists()


def test_unsigned_directory_is_refused_under_a_policy(tmp_path: Path, policy_file: Path) -> None:
    (tmp_path / "dir").mkdir()
    with pytest.raises(VerificationError, match="unsigned bundle directory"):
        load_layer(tmp_path / "dir", load_policy(policy_file), "overlay")


def test_limits_apply_when_loading(
    tmp_path: Path, policy_file: Path, signers: dict[str, keys.PrivateKey]
) -> None:
    bundle = write(tmp_path, "ov.tar.gz", signed_tarball(signers["overlay"]))
    with pytest.raises(ArchiveError, match="more than 2 entries"):
        load_layer(bundle, load_policy(policy_file), "overlay", limits=ArchiveLimits(max_files=2))


def test_cosign_detached_signature_is_accepted(tmp_path: Path) -> None:
    cosign_key = keys.load_private(ASSETS / "cosign" / "cosign.key", b"")
    policy = parse_policy('[layers.overlay]\nkeys = ["cosign.pub"]\n', base=ASSETS / "cosign")
    # The tarball carries no .signatures.json: the cosign blob signature covers it whole.
    files = bundle_files()
    from charter.policy.bundle import build_tarball

    data = build_tarball(files)
    bundle = write(tmp_path, "ov.tar.gz", data)
    write(tmp_path, "ov.tar.gz.sig", keyless.cosign_sign_blob(data, cosign_key))
    layer = load_layer(bundle, policy, "overlay", state=VersionState(tmp_path / "s"))
    assert layer.signer == keys.key_id(cosign_key.public_key())
    # One changed byte and the blob signature no longer holds.
    write(tmp_path, "ov.tar.gz", data[:-1] + bytes([data[-1] ^ 1]))
    with pytest.raises(VerificationError, match="cosign signature does not verify"):
        load_layer(bundle, policy, "overlay", state=VersionState(tmp_path / "s"))


def test_keyless_sidecar_is_checked_against_pinned_identity(tmp_path: Path) -> None:
    sig = ASSETS / "sigstore"
    artifact = write(tmp_path, "x.tar.gz", (sig / "bundle_v3.txt").read_bytes())
    write(tmp_path, "x.tar.gz.sigstore", (sig / "bundle_v3.txt.sigstore").read_bytes())
    root = sig / "staging-trusted_root.json"
    good = parse_policy(
        f"""[layers.overlay]
trusted_root = "{root}"
keyless = [{{ identity = "william@yossarian.net", issuer = "https://github.com/login/oauth" }}]
"""
    )
    # The signature verifies; the artifact is a text file, so the archive check fails next.
    with pytest.raises(ArchiveError, match="not a gzip archive"):
        load_layer(artifact, good, "overlay", state=VersionState(tmp_path / "s"))
    wrong = parse_policy(
        f"""[layers.overlay]
trusted_root = "{root}"
keyless = [{{ identity = "mallory@example.com", issuer = "https://github.com/login/oauth" }}]
"""
    )
    with pytest.raises(VerificationError, match="does not verify for any pinned identity"):
        load_layer(artifact, wrong, "overlay", state=VersionState(tmp_path / "s"))


def test_trusted_stack_requires_signed_layers(
    tmp_path: Path, policy_file: Path, signers: dict[str, keys.PrivateKey]
) -> None:
    overlay = write(tmp_path, "ov.tar.gz", signed_tarball(signers["overlay"]))
    with pytest.raises(VerificationError, match="needs a trust policy"):
        load_trusted_stack(None, overlay=overlay)
    with pytest.raises(
        VerificationError, match="shipped constitution is not signed by a constitution"
    ):
        load_trusted_stack(load_policy(policy_file), overlay=overlay)
    no_constitution = parse_policy('[layers.overlay]\nkeys = ["overlay.pub"]\n', base=tmp_path)
    stack = load_trusted_stack(no_constitution, overlay=overlay, state=VersionState(tmp_path / "s"))
    assert [layer.kind for layer in stack.layers] == ["constitution", "overlay"]
    assert stack.layers[1].signer == keys.key_id(signers["overlay"].public_key())


def test_check_cli_loads_a_signed_overlay(
    tmp_path: Path,
    signers: dict[str, keys.PrivateKey],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "trust.toml").write_text('[layers.overlay]\nkeys = ["overlay.pub"]\n')
    overlay = write(tmp_path, "ov.tar.gz", signed_tarball(signers["overlay"]))
    proposal = tmp_path / "p.json"
    proposal.write_text(
        json.dumps(
            {
                "kind": "pull_request", "repository": "a/b", "base": "main", "head": "f",
                "author": {"id": "alice", "type": "human"}, "title": "t", "body": "b", "files": [],
            }
        )
    )  # fmt: skip
    monkeypatch.setenv("CHARTER_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("CHARTER_TRUST_POLICY", raising=False)
    # No verdict without verification: exit 2, never 1 (which would read as deny).
    assert main(["check", str(proposal), "--overlay", str(overlay), "--format", "json"]) == 2
    assert "needs a trust policy" in capsys.readouterr().err
    monkeypatch.setenv("CHARTER_TRUST_POLICY", str(tmp_path / "trust.toml"))
    code = main(["check", str(proposal), "--overlay", str(overlay), "--format", "json"])
    out = json.loads(capsys.readouterr().out)
    assert code in (0, 1, 3)  # the verdict is the rules' business; loading is ours
    assert [s["layer"] for s in out["stack"]] == ["constitution", "overlay"]


def test_check_bundle_parses_and_records_nothing(
    tmp_path: Path,
    policy_file: Path,
    signers: dict[str, keys.PrivateKey],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import charter.policy.bundle
    from charter.policy.loading import check_bundle

    policy = load_policy(policy_file)
    state = VersionState(tmp_path / "s")
    v1 = write(tmp_path, "v1.tar.gz", signed_tarball(signers["overlay"]))
    v2 = write(
        tmp_path, "v2.tar.gz", signed_tarball(signers["overlay"], bundle_files(version="1.1.0"))
    )
    with monkeypatch.context() as m:
        m.setattr(charter.policy.bundle, "layer_from_files", lambda *a, **k: pytest.fail("parsed"))
        checked = check_bundle(v2, policy.for_layer("overlay"), state=state)
    assert (checked.key, checked.version) == ("overlay/acme", "1.1.0")
    assert state.get("overlay/acme") is None
    assert [r.id for r in checked.verified.to_layer().rules] == ["OV-TAMPER-001"]
    checked.accept(state)
    assert state.get("overlay/acme").version == "1.1.0"  # type: ignore[union-attr]
    with pytest.raises(RollbackError, match="rollback refused"):
        check_bundle(v1, policy.for_layer("overlay"), state=state)


def test_load_without_recording(
    tmp_path: Path, policy_file: Path, signers: dict[str, keys.PrivateKey]
) -> None:
    policy = parse_policy('[layers.overlay]\nkeys = ["overlay.pub"]\n', base=tmp_path)
    state = VersionState(tmp_path / "s")
    v2 = write(
        tmp_path, "v2.tar.gz", signed_tarball(signers["overlay"], bundle_files(version="1.1.0"))
    )
    v1 = write(tmp_path, "v1.tar.gz", signed_tarball(signers["overlay"]))
    assert load_layer(v2, policy, "overlay", state=state, record=False).rules
    stack = load_trusted_stack(policy, overlay=v2, state=state, record=False)
    assert stack.layers[-1].version == "1.1.0"
    assert state.get("overlay/acme") is None
    # Not recorded, so the older version still loads; once recorded, it does not.
    assert load_layer(v1, policy, "overlay", state=state, record=False).rules
    load_trusted_stack(policy, overlay=v2, state=state)
    with pytest.raises(RollbackError):
        load_trusted_stack(policy, overlay=v1, state=state, record=False)
