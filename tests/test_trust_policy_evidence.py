"""The trust policy's [evidence] table: who may sign CI evidence, and which builders."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from charter.core.errors import ConfigError, InputError, VerificationError
from charter.facts.attestations import verify_attestation, verify_attestations
from charter.trust import keyless, keys
from charter.trust.keyless import KeylessIdentity
from charter.trust.policy import EvidenceTrust, load_policy, parse_policy
from tests.test_facts_attestations import (
    ACTIONS,
    BCR,
    COSIGN,
    GITHUB,
    LOCAL,
    PRODUCTION_ROOT,
    TEST_BUILDER,
    load,
)
from tests.test_keyless import no_network  # noqa: F401 - autouse: nothing leaves the machine

GENERATOR = (
    "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/"
    "generator_generic_slsa3.yml@refs/tags/v*"
)


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    shutil.copy(COSIGN / "cosign.pub", tmp_path / "cosign.pub")
    shutil.copy(LOCAL / "TEST-ONLY-ed25519.pub.pem", tmp_path / "ed25519.pub")
    (tmp_path / "roots").mkdir()
    shutil.copy(PRODUCTION_ROOT, tmp_path / "roots" / "production-trusted_root.json")
    (tmp_path / "overlay.pub").write_bytes(keys.public_pem(keys.generate().public_key()))
    return tmp_path


def write_policy(directory: Path, text: str) -> Path:
    path = directory / "trust.toml"
    path.write_text(text)
    return path


def test_evidence_table_is_read_with_paths_relative_to_the_policy(policy_dir: Path) -> None:
    policy = load_policy(
        write_policy(
            policy_dir,
            f"""
[layers.overlay]
keys = ["overlay.pub"]

[evidence]
keys = ["cosign.pub", "ed25519.pub"]
keyless = [{{ identity = "{BCR}", issuer = "{ACTIONS}" }}]
trusted_root = "roots/production-trusted_root.json"
builders = ["{GENERATOR}", "{BCR}"]
""",
        )
    )
    evidence = policy.evidence
    assert [keys.key_id(k) for k in evidence.keys] == [
        keys.key_id(keys.load_public(policy_dir / "cosign.pub")),
        keys.key_id(keys.load_public(policy_dir / "ed25519.pub")),
    ]
    assert evidence.key_files == (policy_dir / "cosign.pub", policy_dir / "ed25519.pub")
    assert evidence.keyless == (KeylessIdentity(BCR, ACTIONS),)
    assert evidence.trusted_root == policy_dir / "roots" / "production-trusted_root.json"
    assert evidence.builders == (GENERATOR, BCR)
    # evidence signers and layer signers are separate scopes
    assert policy.for_layer("overlay").keys != evidence.keys
    assert not set(policy.for_layer("overlay").key_ids) & {keys.key_id(k) for k in evidence.keys}
    # and the policy verifies the real GitHub attestation and the cosign SBOM attestation
    result = verify_attestation(load(GITHUB / "MODULE.bazel.intoto.jsonl"), "m", evidence)
    assert result.error is None and result.signer == f"{BCR} ({ACTIONS})"
    sbom = verify_attestation(load(COSIGN / "alpine.cdx.att.json"), "a", evidence)
    assert sbom.error is None and sbom.kind == "sbom"


def test_a_policy_without_evidence_trusts_no_evidence(policy_dir: Path) -> None:
    policy = parse_policy('[layers.overlay]\nkeys = ["overlay.pub"]\n', base=policy_dir)
    assert policy.evidence == EvidenceTrust()
    assert policy.evidence.keys == () and policy.evidence.keyless == ()
    assert not policy.evidence.builder_allowed(TEST_BUILDER)
    for result in verify_attestations(
        (LOCAL / "provenance.ed25519.dsse.json").read_text(), "p", policy.evidence
    ):
        assert result.error == "p: the trust policy's [evidence] pins no keys; " + (
            f"builder {TEST_BUILDER} is not allowed by the trust policy's [evidence] builders"
        )


def test_an_evidence_only_policy_loads_and_still_pins_no_layer(policy_dir: Path) -> None:
    policy = parse_policy('[evidence]\nkeys = ["cosign.pub"]\n', base=policy_dir)
    assert len(policy.evidence.keys) == 1
    assert policy.evidence.trusted_root is None  # no keyless identity: sigstore never needed
    with pytest.raises(VerificationError, match="pins no signer for the overlay layer"):
        policy.for_layer("overlay")
    with pytest.raises(ConfigError, match=r"no \[layers\.\*\] tables and no \[evidence\]"):
        parse_policy('state_dir = "s"\n', base=policy_dir)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("production", "production"), ("staging", "staging"), (None, "production")],
)
def test_keyless_trusted_root_names_a_bundled_root(
    policy_dir: Path, value: str | None, expected: str
) -> None:
    root = f'trusted_root = "{value}"\n' if value else ""
    policy = parse_policy(
        f'[evidence]\nkeyless = [{{ identity = "a@b.example", issuer = "https://i" }}]\n{root}',
        base=policy_dir,
    )
    assert policy.evidence.trusted_root == keyless.bundled_trusted_root(expected)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("unknown = 1", "unknown key evidence.unknown"),
        ('keys = "cosign.pub"', "evidence.keys must be a list of file paths"),
        ('keys = [""]', "evidence.keys must be a list of file paths"),
        ('keys = ["missing.pub"]', "missing.pub: cannot read public key"),
        ('builders = "x"', "evidence.builders must be a list of builder id patterns"),
        ("builders = [1]", "evidence.builders must be a list of builder id patterns"),
        ('keyless = [{ identity = "a" }]', "each evidence.keyless entry needs exactly identity"),
        ('keyless = { identity = "a", issuer = "b" }', "evidence.keyless must be a list"),
        ("trusted_root = 3\nkeyless = []", "evidence.trusted_root must be a string"),
    ],
)
def test_malformed_evidence_tables_are_config_errors(
    policy_dir: Path, table: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_policy(f"[evidence]\n{table}\n", base=policy_dir, source="trust.toml")


def test_evidence_must_be_a_table(policy_dir: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[evidence\] must be a table"):
        parse_policy('evidence = "all"\n', base=policy_dir)


def test_evidence_keys_may_be_rsa_but_not_short(policy_dir: Path) -> None:
    strong = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()  # noqa: S505
    for name, public in [("rsa.pub", strong), ("weak.pub", weak)]:
        pem = public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
        (policy_dir / name).write_bytes(pem)
    policy = parse_policy('[evidence]\nkeys = ["rsa.pub"]\n', base=policy_dir)
    assert keys.key_id(policy.evidence.keys[0]) == keys.key_id(strong)
    with pytest.raises(InputError, match="RSA key of 1024 bits is too short"):
        parse_policy('[evidence]\nkeys = ["weak.pub"]\n', base=policy_dir)
    # layers still only accept the key types Charter signs with
    with pytest.raises(InputError, match="unsupported key type"):
        parse_policy('[layers.overlay]\nkeys = ["rsa.pub"]\n', base=policy_dir)


@pytest.mark.parametrize(
    ("pattern", "builder", "allowed"),
    [
        (GENERATOR, GENERATOR.replace("v*", "v1.9.0"), True),
        (GENERATOR, GENERATOR.replace("v*", "v2.1.0-rc.1/x"), True),  # * spans anything
        (GENERATOR, GENERATOR.replace("@refs/tags/v*", "@refs/heads/main"), False),
        (GENERATOR, GENERATOR.replace("slsa-framework", "asraa").replace("v*", "v1.4.0"), False),
        (BCR, BCR, True),
        (BCR, BCR + "x", False),  # no pattern matches a prefix only
        ("https://x.example/b?", "https://x.example/bb", False),  # ? is literal
        ("https://x.example/b?", "https://x.example/b?", True),
        ("https://x.example/[ab]", "https://x.example/a", False),  # [ ] are literal
        ("https://x.example/a.c", "https://x.example/abc", False),  # . is literal
        ("*", "anything at all", True),
    ],
)
def test_builder_patterns_only_know_star(pattern: str, builder: str, allowed: bool) -> None:
    assert EvidenceTrust(builders=(pattern,)).builder_allowed(builder) is allowed


def test_the_layers_table_is_still_required_to_be_well_formed(policy_dir: Path) -> None:
    with pytest.raises(ConfigError, match="unknown key layers.overlay.builders"):
        parse_policy('[layers.overlay]\nkeys = ["overlay.pub"]\nbuilders = []\n', base=policy_dir)
    with pytest.raises(ConfigError, match=r"\[layers.overlay\] pins no keys"):
        parse_policy('[layers.overlay]\n[evidence]\nkeys = ["cosign.pub"]\n', base=policy_dir)


def test_local_vectors_verify_under_a_policy_that_allows_their_builder(policy_dir: Path) -> None:
    policy = parse_policy(
        '[evidence]\nkeys = ["ed25519.pub"]\nbuilders = ["https://example.com/charter-testdata/*"]\n',
        base=policy_dir,
    )
    result = verify_attestation(load(LOCAL / "provenance.ed25519.dsse.json"), "p", policy.evidence)
    assert result.error is None and result.builder_id == TEST_BUILDER
