"""Tamper matrix: a signed bundle that was changed in any way never reaches the engine.

Every rejection must happen *before* Rego or data is parsed, with an error that
names the check that failed. The helpers here are shared by the trust tests.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
from collections.abc import Mapping
from pathlib import Path

import jwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from charter.core.digests import sha256_bytes
from charter.core.errors import ArchiveError, PolicyError, TrustError, VerificationError
from charter.policy.build import build_bundle
from charter.policy.bundle import (
    SIGNATURES,
    ArchiveLimits,
    build_tarball,
    layer_from_files,
    read_archive,
    verify_tarball,
)
from charter.trust import keys, signing
from tests.conftest import overlay_rule, write_bundle

TEST_MODULE = """package charter.overlay.r1_test

import rego.v1

import data.charter.overlay.r1

test_push_denied if {
	count(r1.deny) == 1 with input as {"kind": "push"}
}

test_pull_request_allowed if {
	count(r1.deny) == 0 with input as {"kind": "pull_request"}
}
"""


def bundle_files(
    *, layer: str = "overlay", name: str = "acme", version: str = "1.0.0"
) -> dict[str, bytes]:
    """The files of a small valid bundle for ``layer`` (roots follow the layer)."""
    root = {"overlay": "charter/overlay", "pack": f"charter/packs/{name}"}.get(
        layer, "charter/constitution"
    )
    package = root.replace("/", ".")
    manifest = {
        "revision": version,
        "roots": [root],
        "rego_version": 1,
        "metadata": {"charter": {"layer": layer, "name": name, "version": version}},
    }
    rule = overlay_rule("OV-TAMPER-001", 'input.kind == "push"').replace(
        "package charter.overlay.r1", f"package {package}.r1"
    )
    return {
        ".manifest": json.dumps(manifest, indent=2).encode(),
        f"{root}/data.json": b'{"limits": {"max": 3}}\n',
        f"{root}/r1/rule.rego": rule.encode(),
        f"{root}/r1/rule_test.rego": TEST_MODULE.replace("charter.overlay", package).encode(),
    }


def signed_tarball(
    key: keys.PrivateKey, files: Mapping[str, bytes] | None = None, *, scope: str | None = None
) -> bytes:
    """Sign ``files`` directly (no validation), so broken content can be signed too."""
    content = dict(files if files is not None else bundle_files())
    manifest = json.loads(content[".manifest"])
    layer = scope or manifest["metadata"]["charter"]["layer"]
    content[SIGNATURES] = signing.sign_files(content, key, scope=layer)
    return build_tarball(content)


def raw_tarball(entries: list[tuple[tarfile.TarInfo, bytes]]) -> bytes:
    """A gzipped tar with arbitrary (possibly hostile) entries."""
    import gzip

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in entries:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return gzip.compress(buf.getvalue(), mtime=0)


def regular(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


@pytest.fixture(scope="module")
def key() -> keys.PrivateKey:
    return keys.generate("ed25519")


@pytest.fixture(scope="module")
def other_key() -> keys.PrivateKey:
    return keys.generate("ed25519")


@pytest.fixture(scope="module")
def original(key: keys.PrivateKey) -> bytes:
    return signed_tarball(key)


@pytest.fixture(scope="module")
def original_files(original: bytes) -> dict[str, bytes]:
    return read_archive(original)


def verify(data: bytes, key: keys.PrivateKey, layer: str = "overlay") -> dict[str, bytes]:
    return verify_tarball(data, [key.public_key()], layer=layer).files


# --------------------------------------------------------------------------
# The untouched bundle verifies, deterministically
# --------------------------------------------------------------------------


def test_untouched_bundle_verifies_and_loads(original: bytes, key: keys.PrivateKey) -> None:
    verified = verify_tarball(original, [key.public_key()], layer="overlay", source="b.tgz")
    assert verified.signer == keys.key_id(key.public_key())
    assert verified.digest == sha256_bytes(original)
    layer = verified.to_layer()
    assert [r.id for r in layer.rules] == ["OV-TAMPER-001"]
    assert layer.digest == sha256_bytes(original) and layer.signer == verified.signer


def test_build_is_deterministic_and_validates(tmp_path: Path, key: keys.PrivateKey) -> None:
    files = {n: d.decode() for n, d in bundle_files().items() if n != ".manifest"}
    a = write_bundle(
        tmp_path / "a", layer="overlay", name="acme", roots=["charter/overlay"], files=files
    )
    # Same content written in the opposite order must give the same bytes.
    b = write_bundle(
        tmp_path / "b",
        layer="overlay",
        name="acme",
        roots=["charter/overlay"],
        files=dict(reversed(list(files.items()))),
    )
    first, second = build_bundle(a, key), build_bundle(b, key)
    assert first.data == second.data and first.digest == second.digest
    with tarfile.open(fileobj=io.BytesIO(first.data), mode="r:gz") as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == sorted(m.name for m in members)
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname) for m in members} == {(0, 0, 0, "", "")}


def test_build_refuses_failing_tests(tmp_path: Path, key: keys.PrivateKey) -> None:
    files = {n: d.decode() for n, d in bundle_files().items() if n != ".manifest"}
    files["charter/overlay/r1/rule_test.rego"] = files["charter/overlay/r1/rule_test.rego"].replace(
        "count(r1.deny) == 0", "count(r1.deny) == 7"
    )
    d = write_bundle(
        tmp_path / "c", layer="overlay", name="acme", roots=["charter/overlay"], files=files
    )
    with pytest.raises(PolicyError, match="1 test\\(s\\) failed"):
        build_bundle(d, key)


def test_build_runs_extra_validators(tmp_path: Path, key: keys.PrivateKey) -> None:
    files = {n: d.decode() for n, d in bundle_files().items() if n != ".manifest"}
    d = write_bundle(
        tmp_path / "v", layer="overlay", name="acme", roots=["charter/overlay"], files=files
    )
    seen = []

    def linter(context: object) -> None:
        seen.append(context)
        raise PolicyError("ratchet: loosens a constitution parameter")

    with pytest.raises(PolicyError, match="ratchet"):
        build_bundle(d, key, validators=[linter])
    assert len(seen) == 1


# --------------------------------------------------------------------------
# Byte flips inside every file
# --------------------------------------------------------------------------

FILE_NAMES = sorted([*bundle_files(), SIGNATURES])


@pytest.mark.parametrize("name", FILE_NAMES)
@pytest.mark.parametrize("where", [0.0, 0.1, 0.33, 0.5, 0.77, 1.0])
def test_flipping_any_byte_of_any_file_is_rejected(
    original_files: dict[str, bytes], key: keys.PrivateKey, name: str, where: float
) -> None:
    files = dict(original_files)
    data = bytearray(files[name])
    pos = min(int(where * len(data)), len(data) - 1)
    data[pos] ^= 0x01
    files[name] = bytes(data)
    with pytest.raises(VerificationError) as caught:
        verify(build_tarball(files), key)
    message = str(caught.value)
    if name == SIGNATURES:
        assert SIGNATURES in message or "signature" in message
    else:
        assert f"{name}: " in message
        assert "has been modified" in message or "cannot be hashed" in message


def test_tampered_invalid_rego_fails_verification_not_parsing(
    original_files: dict[str, bytes], key: keys.PrivateKey
) -> None:
    files = dict(original_files)
    name = "charter/overlay/r1/rule.rego"
    files[name] = files[name].replace(b"if {", b"if {{{ ((( not rego")
    # Proof that the content really is unparsable: loaded directly, it is a PolicyError.
    with pytest.raises(PolicyError):
        layer_from_files({n: d for n, d in files.items() if n != SIGNATURES}, source="direct")
    with pytest.raises(VerificationError, match="rule.rego: has been modified") as caught:
        verify(build_tarball(files), key)
    assert not isinstance(caught.value, PolicyError)


def test_json_reformatting_is_not_a_change(
    original_files: dict[str, bytes], key: keys.PrivateKey
) -> None:
    # OPA hashes JSON after sorting keys, so layout is not content; values are.
    files = dict(original_files)
    files[".manifest"] = json.dumps(json.loads(files[".manifest"]), sort_keys=True).encode()
    assert verify(build_tarball(files), key)[".manifest"] == files[".manifest"]
    files["charter/overlay/data.json"] = b'{"limits": {"max": 4}}'
    with pytest.raises(VerificationError, match="data.json: has been modified"):
        verify(build_tarball(files), key)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_random_mutations_of_the_tarball_never_pass_as_different_content(
    original: bytes, original_files: dict[str, bytes], key: keys.PrivateKey, data: st.DataObject
) -> None:
    blob = bytearray(original)
    kind = data.draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
    pos = data.draw(st.integers(0, len(blob) - 1))
    if kind == "flip":
        blob[pos] ^= data.draw(st.integers(1, 255))
    elif kind == "insert":
        blob[pos:pos] = data.draw(st.binary(min_size=1, max_size=8))
    elif kind == "delete":
        del blob[pos : pos + data.draw(st.integers(1, 8))]
    else:
        del blob[pos:]
    try:
        files = verify(bytes(blob), key)
    except TrustError:
        return
    # Only container bytes that carry no content (the gzip header's mtime/OS
    # fields) may change without rejection; the verified files must be identical.
    assert files == {n: d for n, d in original_files.items() if n != SIGNATURES}


# --------------------------------------------------------------------------
# Structural changes
# --------------------------------------------------------------------------


def test_added_file_is_rejected(original_files: dict[str, bytes], key: keys.PrivateKey) -> None:
    files = {**original_files, "charter/overlay/r1/extra.rego": b"package charter.overlay.x\n"}
    with pytest.raises(VerificationError, match="extra.rego: not covered by the signature"):
        verify(build_tarball(files), key)


def test_removed_file_is_rejected(original_files: dict[str, bytes], key: keys.PrivateKey) -> None:
    files = dict(original_files)
    del files["charter/overlay/r1/rule_test.rego"]
    with pytest.raises(
        VerificationError, match="rule_test.rego: listed in the signature but missing"
    ):
        verify(build_tarball(files), key)


def test_renamed_file_is_rejected(original_files: dict[str, bytes], key: keys.PrivateKey) -> None:
    files = dict(original_files)
    files["charter/overlay/r1/renamed.rego"] = files.pop("charter/overlay/r1/rule.rego")
    with pytest.raises(VerificationError, match="rule.rego: listed in the signature but missing"):
        verify(build_tarball(files), key)


def test_unsigned_bundle_is_rejected(
    original_files: dict[str, bytes], key: keys.PrivateKey
) -> None:
    files = {n: d for n, d in original_files.items() if n != SIGNATURES}
    with pytest.raises(VerificationError, match="not signed \\(no .signatures.json\\)"):
        verify(build_tarball(files), key)


def test_swapped_signatures_between_bundles_are_rejected(
    original_files: dict[str, bytes], key: keys.PrivateKey
) -> None:
    other = bundle_files(name="acme", version="1.0.1")
    other_signed = read_archive(signed_tarball(key, other))
    files = dict(original_files)
    files[SIGNATURES] = other_signed[SIGNATURES]
    with pytest.raises(VerificationError, match=".manifest: has been modified"):
        verify(build_tarball(files), key)


def test_wrong_key_is_rejected(original: bytes, other_key: keys.PrivateKey) -> None:
    with pytest.raises(VerificationError, match="not trusted for the overlay layer"):
        verify(original, other_key)


def test_wrong_key_without_kid_is_rejected(
    original_files: dict[str, bytes], key: keys.PrivateKey, other_key: keys.PrivateKey
) -> None:
    payload = {"files": signing.file_list(original_files), "scope": "overlay"}
    token = jwt.encode(payload, other_key, algorithm="EdDSA")
    files = {**original_files, SIGNATURES: json.dumps({"signatures": [token]}).encode()}
    with pytest.raises(VerificationError, match="does not verify with any key trusted"):
        verify(build_tarball(files), key)


@pytest.mark.parametrize("alg", ["none", "HS256"])
def test_unpinned_algorithms_are_rejected(
    original_files: dict[str, bytes], key: keys.PrivateKey, alg: str
) -> None:
    payload = {"files": signing.file_list(original_files), "scope": "overlay"}
    secret = keys.public_pem(key.public_key()) if alg == "HS256" else None
    header = {"kid": keys.key_id(key.public_key())}
    if alg == "none":
        token = jwt.encode(payload, None, algorithm="none", headers=header)  # type: ignore[arg-type]
    else:
        # The classic confusion attack: the public key used as an HMAC secret.
        import base64
        import hashlib
        import hmac

        def b64(raw: bytes) -> str:
            return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

        head = b64(json.dumps({"alg": "HS256", "typ": "JWT", **header}).encode())
        body = b64(json.dumps(payload).encode())
        assert secret is not None
        mac = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
        token = f"{head}.{body}.{b64(mac)}"
    files = {**original_files, SIGNATURES: json.dumps({"signatures": [token]}).encode()}
    with pytest.raises(VerificationError, match=f"JWT algorithm '{alg}' is not allowed"):
        verify(build_tarball(files), key)


def test_algorithm_must_match_key_type(
    original_files: dict[str, bytes], key: keys.PrivateKey
) -> None:
    p256 = keys.generate("p256")
    token = jwt.encode(
        {"files": signing.file_list(original_files), "scope": "overlay"},
        p256,
        algorithm="ES256",
        headers={"kid": keys.key_id(key.public_key())},
    )
    files = {**original_files, SIGNATURES: json.dumps({"signatures": [token]}).encode()}
    with pytest.raises(VerificationError, match="ES256 does not match the type of the trusted key"):
        verify(build_tarball(files), key)


def test_p256_bundle_uses_es256_and_verifies() -> None:
    p256 = keys.generate("p256")
    data = signed_tarball(p256)
    info = signing.unverified_info(read_archive(data)[SIGNATURES])
    assert info.algorithm == "ES256" and info.scope == "overlay"
    assert verify(data, p256)


def test_two_signatures_are_rejected(
    original_files: dict[str, bytes], key: keys.PrivateKey
) -> None:
    token = json.loads(original_files[SIGNATURES])["signatures"][0]
    files = {**original_files, SIGNATURES: json.dumps({"signatures": [token, token]}).encode()}
    with pytest.raises(VerificationError, match="exactly one JWT, found 2"):
        verify(build_tarball(files), key)


def test_overlay_signature_cannot_stand_for_a_constitution(key: keys.PrivateKey) -> None:
    # Same trusted key, but the token's scope says overlay: the layer binding fails.
    files = bundle_files(layer="constitution", name="evil")
    data = signed_tarball(key, files, scope="overlay")
    with pytest.raises(VerificationError, match="scope is 'overlay'.*constitution layer"):
        verify(data, key, layer="constitution")


def test_manifest_layer_must_match_the_signed_layer(key: keys.PrivateKey) -> None:
    files = bundle_files(layer="overlay")
    data = signed_tarball(key, files, scope="constitution")
    with pytest.raises(
        VerificationError, match="is a overlay layer but was loaded as the constitution"
    ):
        verify(data, key, layer="constitution")


# --------------------------------------------------------------------------
# Hostile archives
# --------------------------------------------------------------------------


@pytest.mark.parametrize("cut", [0.1, 0.5, 0.9, -1])
def test_truncated_archive_is_rejected(original: bytes, key: keys.PrivateKey, cut: float) -> None:
    end = len(original) - 1 if cut == -1 else int(len(original) * cut)
    with pytest.raises(ArchiveError, match="truncated|corrupt"):
        verify(original[:end], key)


def test_trailing_garbage_is_rejected(original: bytes, key: keys.PrivateKey) -> None:
    with pytest.raises(ArchiveError, match="after the end of the gzip stream"):
        verify(original + b"\x00extra", key)


def test_not_gzip_is_rejected(key: keys.PrivateKey) -> None:
    with pytest.raises(ArchiveError, match="not a gzip archive"):
        verify(b"PK\x03\x04 definitely a zip", key)


def _link(name: str, kind: bytes, target: str) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info, b""


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (regular("../escape.rego", b"x"), "'..' path components"),
        (regular("charter/../../escape.rego", b"x"), "'..' path components"),
        (regular("/etc/cron.d/evil", b"x"), "absolute paths"),
        (_link("charter/overlay/r1/link.rego", tarfile.SYMTYPE, "/etc/passwd"), "symbolic link"),
        (_link("charter/overlay/r1/hard.rego", tarfile.LNKTYPE, ".manifest"), "hard link"),
        (_link("dev", tarfile.CHRTYPE, ""), "device"),
        (_link("fifo", tarfile.FIFOTYPE, ""), "is a FIFO"),
        (regular("a//b.rego", b"x"), "empty or '.' path components"),
    ],
)
def test_unsafe_entries_are_rejected(
    original_files: dict[str, bytes],
    key: keys.PrivateKey,
    entry: tuple[tarfile.TarInfo, bytes],
    message: str,
) -> None:
    entries = [regular(n, d) for n, d in sorted(original_files.items())]
    entries.insert(1, entry)
    with pytest.raises(ArchiveError, match=message):
        verify(raw_tarball(entries), key)


def test_duplicate_names_are_rejected(
    original_files: dict[str, bytes], key: keys.PrivateKey
) -> None:
    entries = [regular(n, d) for n, d in sorted(original_files.items())]
    entries.append(regular("charter/overlay/r1/rule.rego", b"package evil\n"))
    with pytest.raises(ArchiveError, match="appears twice"):
        verify(raw_tarball(entries), key)


def test_leading_dot_slash_and_directories_are_accepted(
    original_files: dict[str, bytes], key: keys.PrivateKey
) -> None:
    # What `tar czf b.tgz -C dir .` produces must still load.
    folder = tarfile.TarInfo("./charter")
    folder.type = tarfile.DIRTYPE
    entries = [(folder, b"")] + [regular(f"./{n}", d) for n, d in sorted(original_files.items())]
    assert verify(raw_tarball(entries), key).keys() == {
        n for n in original_files if n != SIGNATURES
    }


def test_too_many_files_is_rejected(original_files: dict[str, bytes]) -> None:
    with pytest.raises(ArchiveError, match="more than 3 entries"):
        read_archive(build_tarball(original_files), limits=ArchiveLimits(max_files=3))


def test_oversized_file_is_rejected(original_files: dict[str, bytes]) -> None:
    with pytest.raises(ArchiveError, match="larger than 100 bytes"):
        read_archive(build_tarball(original_files), limits=ArchiveLimits(max_file_bytes=100))


def test_decompression_bomb_is_rejected() -> None:
    bomb = build_tarball({"zeros.json": b"\0" * (8 * 1024 * 1024)})
    assert len(bomb) < 64 * 1024
    with pytest.raises(ArchiveError, match="expands beyond"):
        read_archive(bomb, limits=ArchiveLimits(max_total_bytes=1024 * 1024, max_files=10))


def test_bundle_cli_build_verify_inspect(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from charter.cli import main

    files = {n: d.decode() for n, d in bundle_files().items() if n != ".manifest"}
    d = write_bundle(
        tmp_path / "src", layer="overlay", name="acme", roots=["charter/overlay"], files=files
    )
    assert main(["key", "generate", "--out", str(tmp_path / "k")]) == 0
    assert main(["key", "generate", "--out", str(tmp_path / "other")]) == 0
    out = tmp_path / "acme.tar.gz"
    assert (
        main(["bundle", "build", str(d), "-o", str(out), "--key", str(tmp_path / "k/signing.key")])
        == 0
    )
    capsys.readouterr()
    pub = str(tmp_path / "k/signing.pub")
    assert main(["bundle", "verify", str(out), "--key", pub]) == 0
    assert "Bundle verified: overlay acme 1.0.0" in capsys.readouterr().out
    assert main(["bundle", "verify", str(out), "--key", str(tmp_path / "other/signing.pub")]) == 1
    assert "not trusted for the overlay layer" in capsys.readouterr().err
    assert main(["bundle", "verify", str(out), "--key", pub, "--layer", "constitution"]) == 1
    assert "scope is 'overlay'" in capsys.readouterr().err
    assert main(["bundle", "inspect", str(out), "--key", pub, "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["verified"] and report["signer"]["scope"] == "overlay"
    assert [r["id"] for r in report["rules"]] == ["OV-TAMPER-001"]
    assert all(f["signed"] in (True, None) for f in report["files"])
    out.write_bytes(out.read_bytes()[:-20])
    assert main(["bundle", "verify", str(out), "--key", pub]) == 1
    assert "truncated" in capsys.readouterr().err


# --------------------------------------------------------------------------
# Exhaustive: every byte of every file
# --------------------------------------------------------------------------


def test_flipping_every_byte_of_every_file_is_rejected(
    original_files: dict[str, bytes], key: keys.PrivateKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing may be parsed while verifying: any call to the Rego parser fails the test.
    import charter.policy.bundle

    def no_parsing(*args: object, **kwargs: object) -> None:
        raise AssertionError("a bundle was parsed before it verified")

    monkeypatch.setattr(charter.policy.bundle, "parse_module", no_parsing)
    monkeypatch.setattr(charter.policy.bundle, "layer_from_files", no_parsing)
    trusted = [key.public_key()]
    flips = 0
    for name, data in sorted(original_files.items()):
        for pos in range(len(data)):
            for mask in (0x01, 0x80):
                changed = bytearray(data)
                changed[pos] ^= mask
                files = {**original_files, name: bytes(changed)}
                with pytest.raises(VerificationError) as caught:
                    signing.verify_files(files, trusted, scope="overlay")
                message = str(caught.value)
                if name == SIGNATURES:
                    # the token, its header (the kid names another key) or its signature
                    assert re.search(r"signature|signed by key", message), message
                else:
                    assert message.startswith(f"{name}: "), message
                flips += 1
    assert flips == 2 * sum(len(d) for d in original_files.values())


# --------------------------------------------------------------------------
# The whole matrix through the trust policy: rejected before parsing
# --------------------------------------------------------------------------


def _matrix_case(case: str, tmp_path: Path, signers: dict[str, keys.PrivateKey]) -> bytes:
    files = bundle_files()
    good = read_archive(signed_tarball(signers["overlay"], files))
    if case == "flip":
        name = "charter/overlay/r1/rule.rego"
        return build_tarball({**good, name: good[name].replace(b"push", b"pusH", 1)})
    if case == "add":
        return build_tarball({**good, "charter/overlay/r1/more.rego": b"package x\n"})
    if case == "remove":
        return build_tarball({n: d for n, d in good.items() if not n.endswith("_test.rego")})
    if case == "rename":
        renamed = dict(good)
        renamed["charter/overlay/r1/other.rego"] = renamed.pop("charter/overlay/r1/rule.rego")
        return build_tarball(renamed)
    if case == "swap":
        other = read_archive(signed_tarball(signers["overlay"], bundle_files(version="1.0.1")))
        return build_tarball({**good, SIGNATURES: other[SIGNATURES]})
    if case == "unsigned":
        return build_tarball({n: d for n, d in good.items() if n != SIGNATURES})
    if case == "wrong-key":
        return signed_tarball(keys.generate(), files)
    if case == "pack-key":
        return signed_tarball(signers["pack"], files)
    if case == "truncated":
        data = build_tarball(good)
        return data[: len(data) // 2]
    if case == "dotdot":
        entries = [regular(n, d) for n, d in sorted(good.items())]
        return raw_tarball([*entries, regular("../evil.rego", b"package evil\n")])
    if case == "symlink":
        entries = [regular(n, d) for n, d in sorted(good.items())]
        return raw_tarball([*entries, _link("charter/overlay/l.rego", tarfile.SYMTYPE, "/etc")])
    raise AssertionError(case)


@pytest.mark.parametrize(
    ("case", "error", "message"),
    [
        ("flip", VerificationError, "rule.rego: has been modified"),
        ("add", VerificationError, "more.rego: not covered by the signature"),
        ("remove", VerificationError, "rule_test.rego: listed in the signature but missing"),
        ("rename", VerificationError, "rule.rego: listed in the signature but missing"),
        ("swap", VerificationError, ".manifest: has been modified"),
        ("unsigned", VerificationError, "not signed"),
        ("wrong-key", VerificationError, "not trusted for the overlay layer"),
        ("pack-key", VerificationError, "not trusted for the overlay layer"),
        ("truncated", ArchiveError, "truncated|corrupt"),
        ("dotdot", ArchiveError, "'..' path components"),
        ("symlink", ArchiveError, "symbolic link"),
    ],
)
def test_tamper_matrix_through_the_trust_policy(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    case: str,
    error: type[Exception],
    message: str,
) -> None:
    import charter.policy.bundle
    from charter.policy.loading import load_layer
    from charter.trust.policy import parse_policy
    from charter.trust.versions import VersionState

    signers = {layer: keys.generate() for layer in ("overlay", "pack")}
    for layer, signer in signers.items():
        (tmp_path / f"{layer}.pub").write_bytes(keys.public_pem(signer.public_key()))
    policy = parse_policy(
        '[layers.overlay]\nkeys = ["overlay.pub"]\n\n[layers.pack]\nkeys = ["pack.pub"]\n',
        base=tmp_path,
    )
    path = tmp_path / f"{case}.tar.gz"
    path.write_bytes(_matrix_case(case, tmp_path, signers))
    parsed: list[object] = []

    def spy(*args: object, **kwargs: object) -> None:
        parsed.append(args)
        raise AssertionError("parsed before verification")

    monkeypatch.setattr(charter.policy.bundle, "layer_from_files", spy)
    state = VersionState(tmp_path / "state")
    with pytest.raises(error, match=message):
        load_layer(path, policy, "overlay", state=state)
    assert parsed == []
    assert state.get("overlay/acme") is None  # nothing was recorded either


def test_downgrade_is_refused_before_parsing(
    tmp_path: Path, key: keys.PrivateKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    import charter.policy.bundle
    from charter.core.errors import RollbackError
    from charter.policy.loading import load_layer
    from charter.trust.policy import parse_policy
    from charter.trust.versions import VersionState

    (tmp_path / "overlay.pub").write_bytes(keys.public_pem(key.public_key()))
    policy = parse_policy('[layers.overlay]\nkeys = ["overlay.pub"]\n', base=tmp_path)
    state = VersionState(tmp_path / "state")
    for version in ("1.1.0", "1.0.0"):
        (tmp_path / f"{version}.tar.gz").write_bytes(
            signed_tarball(key, bundle_files(version=version))
        )
    assert load_layer(tmp_path / "1.1.0.tar.gz", policy, "overlay", state=state).rules
    monkeypatch.setattr(
        charter.policy.bundle, "layer_from_files", lambda *a, **k: pytest.fail("parsed a downgrade")
    )
    with pytest.raises(RollbackError, match="rollback refused: overlay/acme 1.0.0 is older"):
        load_layer(tmp_path / "1.0.0.tar.gz", policy, "overlay", state=state)
    assert state.get("overlay/acme").version == "1.1.0"  # type: ignore[union-attr]
