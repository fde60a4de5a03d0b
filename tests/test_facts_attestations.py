"""Signed evidence from CI: DSSE envelopes, Sigstore bundles and blob signatures.

Every expected outcome of section 3e of the evidence test data README (copied
to tests/assets/evidence/attestations/, see tests/assets/evidence/README.md) is
a test here, plus adversarial ones: every byte of a small envelope flipped, and
random JSON shapes — never verified, never a traceback.
"""

from __future__ import annotations

import base64
import copy
import hashlib
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from hypothesis import given
from hypothesis import strategies as st

from charter.core import digests, jsonio
from charter.core.errors import ConfigError, InputError
from charter.facts.attestations import (
    Verified,
    pae,
    sniff_attestation,
    verify_attestation,
    verify_attestations,
    verify_blob_signature,
)
from charter.trust import keyless, keys
from charter.trust.keyless import KeylessIdentity
from charter.trust.policy import EvidenceTrust
from tests.test_keyless import no_network  # noqa: F401 - autouse: nothing leaves the machine

ASSETS = Path(__file__).parent / "assets" / "evidence" / "attestations"
SIGSTORE = Path(__file__).parent / "assets" / "sigstore"
COSIGN = ASSETS / "cosign-keyed-sbom-attestation"
LOCAL = ASSETS / "local-dsse-test-vectors"
LINK = ASSETS / "in-toto-run-link"
GITHUB = ASSETS / "slsa-verifier" / "github-attestation-bundle-v0.3"
FULCIO = ASSETS / "slsa-verifier" / "slsa-v0.2-dsse-fulcio"
SLSA_V1 = ASSETS / "slsa-verifier" / "slsa-v1-bundle-v0.2"
PRODUCTION_ROOT = ASSETS / "sigstore-trust" / "production-trusted_root.json"
ACTIONS = "https://token.actions.githubusercontent.com"
BCR = "https://github.com/bazel-contrib/publish-to-bcr/.github/workflows/publish.yaml@refs/tags/v0.0.1"
WRONG_SIGNER = (
    "https://github.com/loosebazooka/aa-test/.github/workflows/malicious_attestation.yaml"
    "@refs/heads/main"
)
GENERIC = (
    "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/"
    "generator_generic_slsa3.yml@refs/heads/main"
)
FORK_BUILDER = (
    "https://github.com/asraa/slsa-github-generator/.github/workflows/"
    "builder_go_slsa3.yml@refs/tags/v1.4.0"
)
TEST_BUILDER = "https://example.com/charter-testdata/TEST-ONLY-builder"
LOCAL_VECTORS = [
    ("provenance.ed25519.dsse.json", "TEST-ONLY-ed25519.pub.pem"),
    ("provenance.ecdsa-p256.dsse.json", "TEST-ONLY-ecdsa-p256.pub.pem"),
]


def key(path: Path) -> keys.VerifyingKey:
    return keys.verifying_key_from_pem(path.read_bytes(), str(path))


def trust(*pems: Path, **kwargs: Any) -> EvidenceTrust:
    return EvidenceTrust(keys=tuple(key(p) for p in pems), **kwargs)


def load(path: Path) -> Any:
    return jsonio.loads(path.read_bytes(), what=str(path))


def only(results: list[Verified]) -> Verified:
    assert len(results) == 1
    return results[0]


def sha256(path: Path) -> str:
    return digests.sha256_bytes(path.read_bytes())


def assert_refused(result: Verified) -> None:
    assert result.error, result
    assert "\n" not in result.error


# --- cosign keyed attestation of a syft SBOM (README 3b, 3e) ---------------------------


def test_cosign_sbom_attestation_verifies_with_cosign_pub() -> None:
    result = verify_attestation(
        load(COSIGN / "alpine.cdx.att.json"), "alpine.cdx.att.json", trust(COSIGN / "cosign.pub")
    )
    assert result.error is None
    assert result.kind == "sbom"
    assert result.signer == keys.key_id(key(COSIGN / "cosign.pub"))
    assert result.statement is not None
    assert result.statement.predicate_type == "https://cyclonedx.org/bom"
    assert result.statement.predicate["bomFormat"] == "CycloneDX"
    assert result.statement.predicate["specVersion"] == "1.4"
    assert len(result.statement.predicate["components"]) == 15
    assert result.statement.subjects == (
        ("", "sha256:4edbd2beb5f78b1014028f4fbb99f3237d9561100b6881aabbf5acce2c4f9454"),
    )
    assert result.builder_id is None


def test_cosign_sbom_attestation_fails_with_another_key() -> None:
    result = verify_attestation(
        load(COSIGN / "alpine.cdx.att.json"), "att.json", trust(COSIGN / "another_cosign.pub")
    )
    assert_refused(result)
    assert result.error == "att.json: the DSSE signature does not verify with any pinned key"
    assert result.signer is None
    assert result.kind == "sbom"  # the unverified claim, so the error can be attached


def test_tampered_cosign_sbom_attestation_fails() -> None:
    result = verify_attestation(
        load(COSIGN / "alpine-tampered.cdx.att.json"), "t.json", trust(COSIGN / "cosign.pub")
    )
    assert_refused(result)
    assert result.error is not None
    assert result.error.startswith("t.json: the DSSE signature does not verify with any pinned key")
    assert "malformed JSON" in result.error  # and the payload is not even JSON any more
    assert result.statement is None and result.signer is None


# --- GitHub artifact attestation: Sigstore bundle v0.3, production root ------------------


def test_github_attestation_bundle_verifies_with_the_pinned_identity() -> None:
    evidence = EvidenceTrust(
        keyless=(KeylessIdentity(BCR, ACTIONS),),
        trusted_root=PRODUCTION_ROOT,
        builders=("https://github.com/bazel-contrib/publish-to-bcr/*",),
    )
    result = only(
        verify_attestations(
            (GITHUB / "MODULE.bazel.intoto.jsonl").read_text(), "MODULE.bazel.intoto.jsonl",
            evidence,
        )
    )  # fmt: skip
    assert result.error is None, result.error
    assert result.kind == "provenance"
    assert result.signer == f"{BCR} ({ACTIONS})"
    assert result.builder_id == BCR
    assert result.statement is not None
    assert result.statement.type == "https://in-toto.io/Statement/v1"
    assert result.statement.subjects == (("MODULE.bazel", sha256(GITHUB / "MODULE.bazel")),)


def test_default_trusted_root_is_sigstore_pythons_bundled_production_root() -> None:
    assert keyless.bundled_trusted_root("production").read_bytes() == PRODUCTION_ROOT.read_bytes()
    evidence = EvidenceTrust(keyless=(KeylessIdentity(BCR, ACTIONS),), builders=(BCR,))
    result = verify_attestation(load(GITHUB / "MODULE.bazel.intoto.jsonl"), "m", evidence)
    assert result.error is None


def test_github_attestation_by_another_signer_fails_naming_the_san() -> None:
    evidence = EvidenceTrust(
        keyless=(KeylessIdentity(BCR, ACTIONS),), trusted_root=PRODUCTION_ROOT, builders=(BCR,)
    )
    result = verify_attestation(
        load(GITHUB / "MODULE-wrong-signer.bazel.intoto.jsonl"), "w", evidence
    )
    assert_refused(result)
    assert result.error is not None
    assert "Certificate's SANs do not match" in result.error
    assert WRONG_SIGNER in result.error
    assert result.signer is None


def test_the_staging_root_does_not_verify_production_attestations() -> None:
    evidence = EvidenceTrust(
        keyless=(KeylessIdentity(BCR, ACTIONS),),
        trusted_root=SIGSTORE / "staging-trusted_root.json",
        builders=(BCR,),
    )
    result = verify_attestation(load(GITHUB / "MODULE.bazel.intoto.jsonl"), "m", evidence)
    assert_refused(result)


def test_a_bundle_needs_pinned_keyless_identities() -> None:
    result = verify_attestation(
        load(GITHUB / "MODULE.bazel.intoto.jsonl"), "m", EvidenceTrust(builders=(BCR,))
    )
    assert result.error == "m: the trust policy's [evidence] pins no keyless identities"


# --- SLSA v1 in a bundle v0.2 with an intoto 0.0.2 Rekor entry ---------------------------


def test_unsupported_rekor_entry_type_is_a_defined_refusal() -> None:
    name = "binary-linux-amd64-workflow_dispatch.build.slsa"
    evidence = EvidenceTrust(
        keyless=(KeylessIdentity("https://github.com/slsa-framework/example-trw/x", ACTIONS),),
        builders=("https://github.com/slsa-framework/*",),
    )
    result = verify_attestation(load(SLSA_V1 / name), name, evidence)
    assert result.error == (
        f"{name}: transparency-log entry type intoto 0.0.2 is not supported for offline "
        "verification (dsse and hashedrekord are)"
    )
    assert result.kind == "provenance"
    assert result.statement is not None
    assert result.statement.predicate_type == "https://slsa.dev/provenance/v1"
    assert result.statement.subjects[0][1] == sha256(
        SLSA_V1 / "binary-linux-amd64-workflow_dispatch"
    )


# --- SLSA v0.2 DSSE with an inline Fulcio certificate and no transparency-log proof ----


def test_fulcio_certificate_without_tlog_proof_is_never_verified_offline() -> None:
    evidence = trust(LOCAL / "TEST-ONLY-ed25519.pub.pem", builders=(GENERIC,))
    name = "binary-linux-amd64-multi-subject-first.intoto.jsonl"
    result = only(verify_attestations((FULCIO / name).read_text(), name, evidence))
    assert result.error == (
        f"{name}: no transparency-log proof of signing time; "
        "the certificate was valid for 10 minutes"
    )
    assert result.kind == "provenance" and result.builder_id == GENERIC
    assert result.statement is not None
    assert result.statement.predicate_type == "https://slsa.dev/provenance/v0.2"
    assert ("artifact1", sha256(FULCIO / "binary-linux-amd64-multi-subject-first")) in (
        result.statement.subjects
    )
    assert len(result.statement.subjects) == 3


def test_fulcio_envelope_with_a_changed_payload_does_not_match_its_certificate() -> None:
    document = load(FULCIO / "binary-linux-amd64-multi-subject-first.intoto.jsonl")
    payload = bytearray(base64.b64decode(document["payload"]))
    payload[-3] ^= 0x01
    document["payload"] = base64.b64encode(bytes(payload)).decode()
    result = verify_attestation(document, "f", EvidenceTrust(builders=(GENERIC,)))
    assert result.error is not None
    assert result.error.startswith("f: the DSSE signature does not verify with its certificate")


def test_untrusted_builder_is_refused_naming_the_builder() -> None:
    name = "binary-linux-amd64-untrusted-builder.intoto.jsonl"
    evidence = EvidenceTrust(
        builders=("https://github.com/slsa-framework/slsa-github-generator/*",)
    )
    result = only(verify_attestations((FULCIO / name).read_text(), name, evidence))
    assert result.error is not None
    assert f"builder {FORK_BUILDER} is not allowed by the trust policy's [evidence] builders" in (
        result.error
    )
    assert result.builder_id == FORK_BUILDER


# --- locally generated TEST-ONLY DSSE vectors (README 3c) ---------------------------------


@pytest.mark.parametrize(("vector", "pem"), LOCAL_VECTORS)
def test_local_dsse_vectors_verify_with_their_keys(vector: str, pem: str) -> None:
    result = verify_attestation(
        load(LOCAL / vector), vector, trust(LOCAL / pem, builders=(TEST_BUILDER,))
    )
    assert result.error is None
    assert result.kind == "provenance" and result.builder_id == TEST_BUILDER
    assert result.signer == keys.key_id(key(LOCAL / pem))
    assert result.statement is not None
    assert result.statement.subjects == (
        ("hello-artifact.txt", sha256(LOCAL / "hello-artifact.txt")),
    )
    payload = base64.b64decode(load(LOCAL / vector)["payload"])
    assert hashlib.sha256(payload).hexdigest() == (
        "01022aff7a52c811d300f2045b0c690ad50a8a100cd958c53be3de312221ea2e"
    )


@pytest.mark.parametrize(("vector", "pem"), LOCAL_VECTORS)
def test_tampered_local_vectors_fail(vector: str, pem: str) -> None:
    tampered = vector.replace(".json", ".TAMPERED.json")
    result = verify_attestation(
        load(LOCAL / tampered), tampered, trust(LOCAL / pem, builders=(TEST_BUILDER,))
    )
    assert result.error == f"{tampered}: the DSSE signature does not verify with any pinned key"
    assert result.signer is None


def test_the_other_test_key_does_not_verify() -> None:
    result = verify_attestation(
        load(LOCAL / "provenance.ed25519.dsse.json"),
        "v",
        trust(
            LOCAL / "TEST-ONLY-ecdsa-p256.pub.pem", COSIGN / "cosign.pub", builders=(TEST_BUILDER,)
        ),
    )
    assert_refused(result)


def test_a_verified_provenance_from_a_builder_not_allowed_is_refused() -> None:
    for builders in [(), ("https://example.com/charter-testdata/TEST-ONLY-builde",),
                     ("https://example.com/*/other",)]:  # fmt: skip
        result = verify_attestation(
            load(LOCAL / "provenance.ed25519.dsse.json"),
            "v",
            trust(LOCAL / "TEST-ONLY-ed25519.pub.pem", builders=builders),
        )
        assert result.error == (
            f"v: builder {TEST_BUILDER} is not allowed by the trust policy's [evidence] builders"
        )
        assert result.signer is not None  # the signature itself did verify


def test_provenance_without_a_builder_id_is_refused() -> None:
    private = keys.generate("ed25519")
    statement = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "a", "digest": {"sha256": "ab" * 32}}],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {"buildDefinition": {}, "runDetails": {}},
    }
    envelope = sign_envelope(jsonio.canonical_bytes(statement), private)
    evidence = EvidenceTrust(keys=(private.public_key(),), builders=("*",))
    result = verify_attestation(envelope, "p", evidence)
    assert result.error == "p: the provenance names no builder id"


# --- in-toto link made by in-toto-run (README 3d) ----------------------------------------


def test_in_toto_link_verifies_and_names_its_products() -> None:
    result = verify_attestation(
        load(LINK / "package.b07e7ca0.link"), "package.b07e7ca0.link",
        trust(LINK / "TEST-ONLY-ed25519.pub.pem"),
    )  # fmt: skip
    assert result.error is None
    assert result.kind == "link"
    assert result.statement is not None
    assert result.statement.type == "link"
    assert result.statement.subjects == (
        ("hello-artifact.tar.gz", sha256(LINK / "hello-artifact.tar.gz")),
    )
    assert result.statement.predicate["name"] == "package"
    assert result.statement.predicate["command"][0] == "tar"
    assert "hello-artifact.txt" in result.statement.predicate["materials"]


def test_link_is_not_verified_by_the_other_ed25519_test_key() -> None:
    result = verify_attestation(
        load(LINK / "package.b07e7ca0.link"), "l", trust(LOCAL / "TEST-ONLY-ed25519.pub.pem")
    )
    assert_refused(result)


# --- nothing is trusted by default ---------------------------------------------------------

ALL_ATTESTATIONS = [
    COSIGN / "alpine.cdx.att.json",
    LOCAL / "provenance.ed25519.dsse.json",
    LOCAL / "provenance.ecdsa-p256.dsse.json",
    LINK / "package.b07e7ca0.link",
    GITHUB / "MODULE.bazel.intoto.jsonl",
    FULCIO / "binary-linux-amd64-multi-subject-first.intoto.jsonl",
    SLSA_V1 / "binary-linux-amd64-workflow_dispatch.build.slsa",
]


@pytest.mark.parametrize("path", ALL_ATTESTATIONS, ids=lambda p: p.name)
def test_an_empty_evidence_trust_verifies_nothing(path: Path) -> None:
    for result in verify_attestations(path.read_text(), path.name, EvidenceTrust()):
        assert_refused(result)
        assert result.signer is None


@pytest.mark.parametrize("path", ALL_ATTESTATIONS, ids=lambda p: p.name)
def test_every_sample_is_sniffed_as_an_attestation(path: Path) -> None:
    assert sniff_attestation(load(path))


def test_sniffing_refuses_other_documents() -> None:
    assert not sniff_attestation([])
    assert not sniff_attestation("payload")
    assert not sniff_attestation({"bomFormat": "CycloneDX", "components": []})
    assert not sniff_attestation({"payload": "", "signatures": []})
    # a bundle over a blob is checked with the blob (verify_blob_signature)
    assert not sniff_attestation(load(SIGSTORE / "bundle_v3.txt.sigstore"))


# --- JSON Lines ------------------------------------------------------------------------------


def test_json_lines_give_one_result_per_envelope_in_order() -> None:
    lines = [
        (LOCAL / "provenance.ed25519.dsse.json").read_text().replace("\n", ""),
        "",
        (LOCAL / "provenance.ed25519.dsse.TAMPERED.json").read_text().replace("\n", ""),
    ]
    results = verify_attestations(
        "\n".join(lines) + "\n", "x.intoto.jsonl",
        trust(LOCAL / "TEST-ONLY-ed25519.pub.pem", builders=(TEST_BUILDER,)),
    )  # fmt: skip
    assert [r.error is None for r in results] == [True, False]
    assert all(r.path == "x.intoto.jsonl" for r in results)


def test_json_lines_name_the_line_that_is_not_json() -> None:
    good = (LOCAL / "provenance.ed25519.dsse.json").read_text().replace("\n", "")
    with pytest.raises(InputError, match=r"x\.jsonl line 2"):
        verify_attestations(good + "\n{not json\n", "x.jsonl", EvidenceTrust())
    with pytest.raises(InputError, match=r"x\.jsonl line 2: not a DSSE envelope"):
        verify_attestations(good + '\n{"bomFormat": "CycloneDX"}\n', "x.jsonl", EvidenceTrust())
    with pytest.raises(InputError, match=r"^x\.jsonl"):
        verify_attestations("{", "x.jsonl", EvidenceTrust())


# --- structure: InputError only when the JSON is not an envelope at all ----------------------


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"payloadType": 1, "payload": "", "signatures": [{"sig": ""}]}, "payloadType and payload"),
        ({"payloadType": "t", "payload": "", "signatures": []}, "no signatures"),
        ({"payloadType": "t", "payload": "", "signatures": {"sig": ""}}, "no signatures"),
        ({"payloadType": "t", "payload": "", "signatures": ["sig"]}, "signature 1 needs"),
        ({"payloadType": "t", "payload": "", "signatures": [{"sig": 5}]}, "signature 1 needs"),
        ({"payloadType": "t", "payload": "", "signatures": [{"sig": "", "cert": 1}]}, "needs"),
        ({"mediaType": "application/vnd.dev.sigstore.bundle.v9+json"}, "unsupported Sigstore"),
        (
            {"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json", "dsseEnvelope": {}},
            "no verificationMaterial",
        ),
    ],
)
def test_a_document_that_is_not_an_envelope_is_an_input_error(
    document: dict[str, Any], message: str
) -> None:
    with pytest.raises(InputError, match=message) as caught:
        verify_attestation(document, "e.json", EvidenceTrust())
    assert str(caught.value).startswith("e.json: ")


def test_a_blob_bundle_is_not_an_attestation() -> None:
    with pytest.raises(InputError, match="signs a blob, not an attestation"):
        verify_attestation(load(SIGSTORE / "bundle_v3.txt.sigstore"), "b", EvidenceTrust())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"payload": "not base64!"}, "the DSSE payload is not base64"),
        ({"payloadType": "application/json"}, "payload type 'application/json' is not"),
    ],
)
def test_undecodable_parts_are_verification_errors(change: dict[str, str], message: str) -> None:
    document = load(LOCAL / "provenance.ed25519.dsse.json") | change
    result = verify_attestation(document, "v", trust(LOCAL / "TEST-ONLY-ed25519.pub.pem"))
    assert result.error is not None and message in result.error


def test_signed_payloads_that_are_not_statements_are_refused() -> None:
    private = keys.generate("p256")
    evidence = EvidenceTrust(keys=(private.public_key(),), builders=("*",))
    for payload, message in [
        (b"[1, 2]", "not a JSON object"),
        (b'{"_type": "https://example.com/Other"}', "not an in-toto statement"),
        (b'{"_type": "https://in-toto.io/Statement/v1", "subject": []}', "no predicateType"),
        (b'{"_type": "https://in-toto.io/Statement/v1", "predicateType": "x"}', "not a list"),
        (
            b'{"_type": "https://in-toto.io/Statement/v1", "predicateType": "x",'
            b' "subject": [{"name": "a", "digest": {"sha256": "ABCD"}}]}',
            "64 lowercase hex",
        ),
        (b'{"_type": "link", "products": []}', "products are not an object"),
        (b'{"a": 1, "a": 2}', "duplicate key"),
    ]:
        result = verify_attestation(sign_envelope(payload, private), "p", evidence)
        assert result.error is not None and message in result.error, (payload, result.error)
        assert result.signer == keys.key_id(private.public_key())  # signed, yet refused


def test_subjects_without_a_sha256_are_left_out() -> None:
    private = keys.generate("ed25519")
    statement = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [
            {"name": "a", "digest": {"sha512": "00" * 64}},
            {"name": "b", "digest": {"sha256": "cd" * 32, "sha512": "00" * 64}},
        ],
        "predicateType": "https://spdx.dev/Document/v2.3",
        "predicate": {"spdxVersion": "SPDX-2.3"},
    }
    evidence = EvidenceTrust(keys=(private.public_key(),))
    result = verify_attestation(
        sign_envelope(jsonio.canonical_bytes(statement), private), "s", evidence
    )
    assert result.error is None and result.kind == "sbom"
    assert result.statement is not None
    assert result.statement.subjects == (("b", "sha256:" + "cd" * 32),)


# --- RSA keys and DSSE's PAE -------------------------------------------------------------


def test_pae_is_the_dsse_v1_encoding() -> None:
    # The example of the DSSE protocol specification.
    assert pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )
    assert pae("t", b"") == b"DSSEv1 1 t 0 "


@pytest.mark.parametrize("scheme", ["pkcs1v15", "pss"])
def test_rsa_keys_verify_dsse_signatures(scheme: str) -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    payload = base64.b64decode(load(LOCAL / "provenance.ed25519.dsse.json")["payload"])
    pad: padding.AsymmetricPadding = (
        padding.PKCS1v15()
        if scheme == "pkcs1v15"
        else padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    )
    sig = private.sign(pae(keyless.IN_TOTO_PAYLOAD, payload), pad, hashes.SHA256())
    envelope = {
        "payloadType": keyless.IN_TOTO_PAYLOAD,
        "payload": base64.b64encode(payload).decode(),
        "signatures": [{"keyid": "", "sig": base64.b64encode(sig).decode()}],
    }
    evidence = EvidenceTrust(keys=(private.public_key(),), builders=(TEST_BUILDER,))
    assert verify_attestation(envelope, "r", evidence).error is None
    envelope["payload"] = base64.b64encode(payload.replace(b"charter", b"Charter", 1)).decode()
    assert_refused(verify_attestation(envelope, "r", evidence))


def test_url_safe_and_unpadded_base64_are_accepted() -> None:
    private = keys.generate("ed25519")
    statement = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "~~~", "digest": {"sha256": "ef" * 32}}],
        "predicateType": "https://example.com/custom/v1",
        "predicate": {"note": "\u00ff\u00fe>>>???"},
    }
    envelope = sign_envelope(jsonio.canonical_bytes(statement), private)
    envelope["payload"] = (
        base64.urlsafe_b64encode(base64.b64decode(envelope["payload"])).decode().rstrip("=")
    )
    envelope["signatures"][0]["keyid"] = None  # sigstore-python leaves the hint out
    envelope["signatures"][0]["sig"] = envelope["signatures"][0]["sig"].rstrip("=")
    result = verify_attestation(envelope, "u", EvidenceTrust(keys=(private.public_key(),)))
    assert result.error is None and result.kind == "attestation"


# --- adversarial: every byte flipped, random shapes ----------------------------------------


def sign_envelope(payload: bytes, private: keys.PrivateKey) -> dict[str, Any]:
    sig = keys.sign(private, pae(keyless.IN_TOTO_PAYLOAD, payload))
    return {
        "payloadType": keyless.IN_TOTO_PAYLOAD,
        "payload": base64.b64encode(payload).decode(),
        "signatures": [{"keyid": "", "sig": base64.b64encode(sig).decode()}],
    }


@pytest.mark.parametrize(("vector", "pem"), LOCAL_VECTORS)
def test_every_flipped_byte_of_payload_or_signature_is_refused(vector: str, pem: str) -> None:
    document = load(LOCAL / vector)
    evidence = trust(LOCAL / pem, builders=("*",))
    assert verify_attestation(document, vector, evidence).error is None
    for field, raw in [
        ("payload", base64.b64decode(document["payload"])),
        ("sig", base64.b64decode(document["signatures"][0]["sig"])),
    ]:
        for position in range(len(raw)):
            changed = bytearray(raw)
            changed[position] ^= 0x01 if position % 2 else 0xFF
            tampered = copy.deepcopy(document)
            encoded = base64.b64encode(bytes(changed)).decode()
            if field == "payload":
                tampered["payload"] = encoded
            else:
                tampered["signatures"][0]["sig"] = encoded
            result = verify_attestation(tampered, vector, evidence)
            assert result.error, (field, position)
            assert result.signer is None, (field, position)


def test_every_flipped_byte_of_the_envelope_file_is_refused_or_changes_nothing_signed() -> None:
    vector = LOCAL / "provenance.ed25519.dsse.json"
    text = vector.read_bytes()
    original = jsonio.loads(text, what="vector")
    signed = (
        base64.b64decode(original["payload"]),
        base64.b64decode(original["signatures"][0]["sig"]),
    )
    evidence = trust(LOCAL / "TEST-ONLY-ed25519.pub.pem", builders=("*",))
    verified = 0
    for position in range(len(text)):
        changed = bytearray(text)
        changed[position] ^= 0x01
        try:
            document = jsonio.loads(bytes(changed), what="flipped")
            result = verify_attestation(document, "flipped", evidence)
        except InputError:
            continue
        if result.error is None:
            # Only bytes the signature does not cover: the keyid hint, or base64
            # padding bits that decode to the same bytes.
            now = (
                base64.b64decode(document["payload"]),
                base64.b64decode(document["signatures"][0]["sig"]),
            )
            assert now == signed, position
            verified += 1
    assert verified < 80  # the 64-character keyid and a few padding bits, nothing else


def test_flipped_bytes_of_a_sigstore_bundle_are_refused() -> None:
    document = load(GITHUB / "MODULE.bazel.intoto.jsonl")
    evidence = EvidenceTrust(keyless=(KeylessIdentity(BCR, ACTIONS),), builders=(BCR,))
    fields = [
        ("dsseEnvelope", "payload"),
        ("dsseEnvelope", "signatures", 0, "sig"),
        ("verificationMaterial", "certificate", "rawBytes"),
        ("verificationMaterial", "tlogEntries", 0, "canonicalizedBody"),
        ("verificationMaterial", "tlogEntries", 0, "inclusionPromise", "signedEntryTimestamp"),
        ("verificationMaterial", "tlogEntries", 0, "inclusionProof", "hashes", 0),
    ]
    refused = 0
    for field in fields:
        holder: Any = document
        for part in field[:-1]:
            holder = holder[part]
        raw = base64.b64decode(holder[field[-1]])
        for position in range(0, len(raw), max(1, len(raw) // 24)):
            changed = bytearray(raw)
            changed[position] ^= 0x01
            tampered = copy.deepcopy(document)
            target: Any = tampered
            for part in field[:-1]:
                target = target[part]
            target[field[-1]] = base64.b64encode(bytes(changed)).decode()
            result = verify_attestation(tampered, "b", evidence)
            assert result.error, (field, position)
            refused += 1
    assert refused > 100


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=12,
)
BASE64ISH = st.one_of(
    st.binary(max_size=40).map(lambda b: base64.b64encode(b).decode()),
    st.text(max_size=12),
    JSON,
)


@st.composite
def envelopes(draw: st.DrawFn) -> Any:
    signature = draw(
        st.dictionaries(st.sampled_from(["sig", "keyid", "cert", "x"]), BASE64ISH, max_size=4)
    )
    document = {
        "payloadType": draw(st.sampled_from([keyless.IN_TOTO_PAYLOAD, "x"]) | JSON),
        "payload": draw(BASE64ISH),
        "signatures": draw(st.sampled_from([[signature], [signature, signature]]) | JSON),
    }
    if draw(st.booleans()):
        return {
            "mediaType": draw(st.sampled_from(sorted(
                ["application/vnd.dev.sigstore.bundle.v0.3+json",
                 "application/vnd.dev.sigstore.bundle+json;version=0.2",
                 "application/vnd.dev.sigstore.bundle.v7"]
            ))),
            "verificationMaterial": draw(JSON | st.just({"publicKey": {"hint": "x"}})),
            "dsseEnvelope": document,
        }  # fmt: skip
    return document


RANDOM_TRUST = EvidenceTrust(
    keys=(keys.verifying_key_from_pem((COSIGN / "cosign.pub").read_bytes()),),
    keyless=(KeylessIdentity(BCR, ACTIONS),),
    builders=("*",),
)


@given(st.one_of(JSON, envelopes()))
def test_random_shapes_are_never_verified_and_never_crash(document: Any) -> None:
    try:
        result = verify_attestation(document, "r.json", RANDOM_TRUST)
    except InputError as exc:
        assert str(exc).startswith("r.json")
        return
    assert result.error and result.error.startswith("r.json")
    assert "\n" not in result.error


@st.composite
def blob_bundles(draw: st.DrawFn) -> bytes:
    material = draw(
        JSON
        | st.just({"publicKey": {"hint": "x"}})
        | st.fixed_dictionaries({"certificate": st.fixed_dictionaries({"rawBytes": BASE64ISH}),
                                 "tlogEntries": JSON})
    )  # fmt: skip
    bundle = {
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "verificationMaterial": material,
        "messageSignature": draw(JSON | st.fixed_dictionaries({"signature": BASE64ISH})),
    }
    return jsonio.compact(bundle).encode()


@given(st.binary(max_size=200) | JSON.map(lambda d: jsonio.compact(d).encode()) | blob_bundles())
def test_random_signature_files_are_never_verified(signature: bytes) -> None:
    try:
        result = verify_blob_signature(signature, "s.sig", b"blob", RANDOM_TRUST)
    except InputError:
        return
    assert result.error and result.kind == "signature"


# --- blob signatures ------------------------------------------------------------------------


def test_cosign_sign_blob_signature_verifies() -> None:
    private = keys.generate("p256")
    blob = b"release artifact\n"
    evidence = EvidenceTrust(keys=(key(COSIGN / "cosign.pub"), private.public_key()))
    result = verify_blob_signature(keyless.cosign_sign_blob(blob, private), "a.sig", blob, evidence)
    assert result == Verified(
        "a.sig", "signature", None, digests.sha256_bytes(blob),
        keys.key_id(private.public_key()), None, None,
    )  # fmt: skip
    changed = verify_blob_signature(
        keyless.cosign_sign_blob(blob, private), "a.sig", b"x", evidence
    )
    assert changed.error == "a.sig: the cosign signature does not verify with any pinned key " + (
        "(sign with `cosign sign-blob --key cosign.key FILE` using a pinned key)"
    )
    assert changed.signed_digest == digests.sha256_bytes(b"x")
    assert_refused(verify_blob_signature(b"%%%", "a.sig", blob, evidence))
    assert_refused(
        verify_blob_signature(
            keyless.cosign_sign_blob(blob, private), "a.sig", blob, EvidenceTrust()
        )
    )


STAGING = SIGSTORE / "staging-trusted_root.json"
YOSSARIAN = KeylessIdentity("william@yossarian.net", "https://github.com/login/oauth")


def test_sigstore_blob_bundle_verifies_with_the_pinned_identity() -> None:
    evidence = EvidenceTrust(keyless=(YOSSARIAN,), trusted_root=STAGING)
    blob = (SIGSTORE / "bundle_v3.txt").read_bytes()
    bundle = (SIGSTORE / "bundle_v3.txt.sigstore").read_bytes()
    result = verify_blob_signature(bundle, "bundle_v3.txt.sigstore", blob, evidence)
    assert result.error is None
    assert result.kind == "signature" and result.signer == str(YOSSARIAN)
    assert result.signed_digest == digests.sha256_bytes(blob)
    assert_refused(verify_blob_signature(bundle, "b", blob + b"!", evidence))
    other = EvidenceTrust(
        keyless=(KeylessIdentity("m@example.com", YOSSARIAN.issuer),), trusted_root=STAGING
    )
    assert_refused(verify_blob_signature(bundle, "b", blob, other))
    assert_refused(verify_blob_signature(bundle, "b", blob, EvidenceTrust(keys=RANDOM_TRUST.keys)))


def test_cve_2022_36056_blob_bundle_is_refused() -> None:
    evidence = EvidenceTrust(keyless=(YOSSARIAN,), trusted_root=STAGING)
    result = verify_blob_signature(
        (SIGSTORE / "bundle_cve_2022_36056.txt.sigstore").read_bytes(), "c",
        (SIGSTORE / "bundle_cve_2022_36056.txt").read_bytes(), evidence,
    )  # fmt: skip
    assert result.error is not None and "inconsistent" in result.error


def test_a_dsse_bundle_over_a_blob_must_name_the_blob() -> None:
    beacon = KeylessIdentity(
        "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/"
        ".github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main",
        ACTIONS,
    )
    evidence = EvidenceTrust(keyless=(beacon,), trusted_root=STAGING, builders=("*",))
    blob = (SIGSTORE / "a.dsse.staging-rekor-v2.txt").read_bytes()
    bundle = (SIGSTORE / "a.dsse.staging-rekor-v2.txt.sigstore.json").read_bytes()
    result = verify_blob_signature(bundle, "a.sigstore.json", blob, evidence)
    assert result.signer == str(beacon)  # the envelope verified …
    assert result.error == (  # … but it attests another file
        f"a.sigstore.json: the attestation does not name {digests.sha256_bytes(blob)} as a subject"
    )


def test_a_dsse_bundle_over_its_subject_verifies_as_that_attestation() -> None:
    evidence = EvidenceTrust(keyless=(KeylessIdentity(BCR, ACTIONS),), builders=(BCR,))
    blob = (GITHUB / "MODULE.bazel").read_bytes()
    result = verify_blob_signature(
        (GITHUB / "MODULE.bazel.intoto.jsonl").read_bytes(), "m", blob, evidence
    )
    assert result.error is None and result.kind == "provenance"
    assert result.signed_digest == digests.sha256_bytes(blob)


def test_keyed_bundle_over_a_blob_is_checked_with_the_pinned_keys() -> None:
    private = keys.generate("p256")
    blob = b"payload"
    bundle = {
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "verificationMaterial": {"publicKey": {"hint": "k"}, "tlogEntries": []},
        "messageSignature": {
            "messageDigest": {"algorithm": "SHA2_256", "digest": ""},
            "signature": keyless.cosign_sign_blob(blob, private).decode(),
        },
    }
    evidence = EvidenceTrust(keys=(private.public_key(),))
    raw = jsonio.canonical_bytes(bundle)
    assert verify_blob_signature(raw, "k", blob, evidence).error is None
    assert_refused(verify_blob_signature(raw, "k", b"other", evidence))


def test_a_json_signature_file_must_be_a_bundle() -> None:
    with pytest.raises(InputError, match="must be a Sigstore bundle"):
        verify_blob_signature(b'{"sig": "x"}', "s", b"", EvidenceTrust())
    with pytest.raises(InputError, match="^s"):
        verify_blob_signature(b"{oops", "s", b"", EvidenceTrust())


def test_an_unusable_trusted_root_is_a_configuration_error(tmp_path: Path) -> None:
    evidence = EvidenceTrust(
        keyless=(KeylessIdentity(BCR, ACTIONS),), trusted_root=tmp_path / "missing.json"
    )
    with pytest.raises(ConfigError, match="missing.json: no such trusted root file"):
        verify_attestation(load(GITHUB / "MODULE.bazel.intoto.jsonl"), "m", evidence)
    (tmp_path / "bad.json").write_text("{}")
    evidence = EvidenceTrust(keyless=evidence.keyless, trusted_root=tmp_path / "bad.json")
    with pytest.raises(ConfigError, match="bad.json: not a Sigstore trusted root"):
        verify_attestation(load(GITHUB / "MODULE.bazel.intoto.jsonl"), "m", evidence)


def _paths(value: Any, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    found = [prefix] if prefix else []
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else []
    )
    for key, child in items:
        found.extend(_paths(child, (*prefix, key)))
    return found


def test_every_part_of_a_bundle_removed_or_emptied_is_refused() -> None:
    # Only the optional RFC 3161 timestamps may go: the Rekor entry's integrated
    # time (covered by its signed promise) still proves when it was signed.
    document = load(GITHUB / "MODULE.bazel.intoto.jsonl")
    evidence = EvidenceTrust(keyless=(KeylessIdentity(BCR, ACTIONS),), builders=(BCR,))
    unsigned = ("verificationMaterial", "timestampVerificationData")
    for path in _paths(document):
        replacements: list[Any] = [None, "", {}, "delete"]
        for replacement in replacements:
            changed = copy.deepcopy(document)
            holder = changed
            for part in path[:-1]:
                holder = holder[part]
            if replacement == "delete":
                holder.pop(path[-1])
            else:
                holder[path[-1]] = replacement
            try:
                result = verify_attestation(changed, "b", evidence)
            except InputError:
                continue
            assert result.error or path == unsigned, (path, replacement)


def test_a_bundle_envelope_with_an_empty_signature_is_refused_not_a_crash() -> None:
    document = load(GITHUB / "MODULE.bazel.intoto.jsonl")
    document["dsseEnvelope"]["signatures"][0]["sig"] = ""
    evidence = EvidenceTrust(keyless=(KeylessIdentity(BCR, ACTIONS),), builders=(BCR,))
    result = verify_attestation(document, "b", evidence)
    assert result.error is not None
    assert result.error.startswith("b: not a valid Sigstore bundle (envelope signature must be")
    document["dsseEnvelope"]["signatures"].append({"sig": "AAAA", "keyid": ""})
    assert_refused(verify_attestation(document, "b", evidence))
