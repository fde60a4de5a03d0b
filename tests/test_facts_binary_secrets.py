"""Binary files are scanned for credentials too (charter.facts.binary).

A file git calls binary has no patch, so the patch scan (CRED-NO-STATIC-SECRETS-001)
never reads it. Its new bytes are scanned when the proposal is built: one that holds
a credential-looking token, a compressed archive, or one too large to scan says so in
``patch_omitted`` (not ``"binary"``), and CRED-UNSCANNED-PATCH-001 asks. Real git
repositories, real files (images generated with the standard library, keys with
openssl/ssh-keygen where present).
"""

from __future__ import annotations

import gzip
import io
import json
import shutil
import struct
import subprocess
import tarfile
import zipfile
import zlib
from pathlib import Path
from typing import Any

import pytest

from charter.facts.identities import IdentityMap
from charter.facts.proposal import GitRange, StagedChange, build_from_git, build_staged
from tests.cli_helpers import invoke
from tests.test_facts_git import commit, git

NOW = "2026-11-20T10:00:00Z"
# Assembled at run time: no credential-looking literal in the source tree.
AWS = "AKIA" + "Q3EXAMPLEKEY7ZZZ"
GITHUB = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
PEM = (
    "-----BEGIN RSA "
    + "PRIVATE KEY-----\nMIIEowIBAAKCAQEAx9c2\n-----END RSA "
    + "PRIVATE KEY-----\n"
)
UNSCANNED = "CRED-UNSCANNED-PATCH-001"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "README.md").write_text("hello\n")
    (root / "logo.bin").write_bytes(b"\x00old logo\x00" * 10)
    commit(root, "base")
    git(root, "checkout", "-q", "-b", "feature")
    return root


def add(repo: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_bytes(data)
    commit(repo, "add files")


def built(repo: Path, **kw: Any) -> dict[str, dict[str, Any]]:
    doc = build_from_git(GitRange(repo=repo, base="main", head="feature", **kw), IdentityMap())
    return {f["path"]: f for f in doc["files"]}


def png(width: int = 32, height: int = 32) -> bytes:
    """A real PNG, written with zlib and struct (random-looking pixel data)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(
        b"\x00" + bytes((x * 7 + y * 13) % 256 for x in range(width * 3)) for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def tar(members: dict[str, bytes], mode: str = "w") -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode=mode) as archive:  # type: ignore[call-overload]
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


def zipped(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


# --- a token in a binary file ---


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"\x00" + f"aws_key = {AWS}\n".encode(), "an AWS access key id"),
        (b"\x00\x01" + GITHUB.encode() + b"\x00", "a GitHub token"),
        (b"\x00" + PEM.encode(), "a private key block"),
        (b"\x00" + ("glpat-" + "x" * 24).encode(), "a GitLab token"),
    ],
)
def test_a_token_after_a_nul_byte_asks(repo: Path, data: bytes, kind: str) -> None:
    add(repo, {"config.dat": data})
    entry = built(repo)["config.dat"]
    assert entry["binary"] is True and entry["patch"] is None
    assert entry["patch_omitted"] == f"binary; holds {kind}"


def test_the_secret_itself_is_never_in_the_document(repo: Path) -> None:
    add(repo, {"a.dat": b"\x00" + AWS.encode() + b" " + GITHUB.encode() + b"\n" + PEM.encode()})
    doc = build_from_git(GitRange(repo=repo, base="main", head="feature"), IdentityMap())
    text = json.dumps(doc)
    assert AWS not in text and GITHUB not in text and "MIIEowIBAAKCAQEAx9c2" not in text
    omitted = {f["path"]: f for f in doc["files"]}["a.dat"]["patch_omitted"]
    assert omitted == "binary; holds a private key block, an AWS access key id and a GitHub token"


def test_an_uncompressed_tar_holding_a_key_is_found(repo: Path) -> None:
    add(repo, {"bundle.tar": tar({"home/.ssh/id_rsa": PEM.encode(), "notes.txt": b"hi\n"})})
    assert built(repo)["bundle.tar"]["patch_omitted"] == "binary; holds a private key block"


def test_a_token_across_a_read_chunk_is_found(repo: Path) -> None:
    # 64 KiB chunks: the token straddles the first boundary.
    data = b"\x00" * (65536 - 10) + f" {AWS} ".encode() + b"\x00" * 100
    add(repo, {"blob.dat": data})
    assert built(repo)["blob.dat"]["patch_omitted"] == "binary; holds an AWS access key id"


def test_a_modified_binary_is_scanned_a_removed_or_unchanged_one_is_not(repo: Path) -> None:
    (repo / "logo.bin").write_bytes(b"\x00new logo " + AWS.encode())
    commit(repo, "edit logo")
    assert built(repo)["logo.bin"]["patch_omitted"] == "binary; holds an AWS access key id"
    git(repo, "checkout", "-q", "-b", "later")
    git(repo, "mv", "logo.bin", "renamed.bin")
    commit(repo, "rename only")
    doc = build_from_git(GitRange(repo=repo, base="feature", head="later"), IdentityMap())
    (entry,) = doc["files"]
    # A pure rename is a text patch (rename from/to): its bytes are not new, nothing asks.
    assert entry["status"] == "renamed" and "patch_omitted" not in entry
    git(repo, "rm", "-q", "renamed.bin")
    commit(repo, "remove")
    doc = build_from_git(GitRange(repo=repo, base="later~1", head="later"), IdentityMap())
    assert [f["patch_omitted"] for f in doc["files"]] == ["binary"]


# --- key formats without a text marker ---


def test_an_openssh_key_in_binary_form_is_found(repo: Path) -> None:
    add(repo, {"key.bin": b"openssh-key-v1\x00\x00\x00\x00\x04none" + bytes(range(64))})
    assert built(repo)["key.bin"]["patch_omitted"] == "binary; holds an OpenSSH private key"


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")
def test_der_and_pkcs12_keys_made_by_openssl_are_found(repo: Path, tmp_path: Path) -> None:
    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=tmp_path, check=True, capture_output=True)

    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "k.pem")
    openssl("pkey", "-in", "k.pem", "-outform", "DER", "-out", "k8.der")
    openssl("ec", "-in", "k.pem", "-outform", "DER", "-out", "sec1.der")
    openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024", "-out", "r.pem")
    openssl("rsa", "-in", "r.pem", "-traditional", "-outform", "DER", "-out", "rsa1.der")
    openssl(
        "req", "-x509", "-new", "-key", "k.pem", "-subj", "/CN=t", "-days", "1", "-out", "c.pem"
    )
    openssl("x509", "-in", "c.pem", "-outform", "DER", "-out", "cert.der")
    openssl("pkcs12", "-export", "-inkey", "k.pem", "-in", "c.pem", "-passout", "pass:x",
            "-out", "store.p12")  # fmt: skip
    names = ["k8.der", "sec1.der", "rsa1.der", "store.p12", "cert.der"]
    add(repo, {name: (tmp_path / name).read_bytes() for name in names})
    files = built(repo)
    for name in ("k8.der", "sec1.der", "rsa1.der"):
        assert files[name]["patch_omitted"] == "binary; holds a DER private key", name
    assert files["store.p12"]["patch_omitted"] == "binary; holds a PKCS#12 key store"
    # A certificate is public: no ask.
    assert files["cert.der"]["patch_omitted"] == "binary"


# --- compressed archives ---


@pytest.mark.parametrize(
    ("name", "data", "format_"),
    [
        ("keys.zip", zipped({"id_rsa": PEM.encode()}), "zip"),
        ("app.jar", zipped({"META-INF/MANIFEST.MF": b"Manifest-Version: 1.0\n"}), "zip"),
        ("keys.tar.gz", tar({"id_rsa": PEM.encode()}, "w:gz"), "gzip"),
        ("keys.tgz", gzip.compress(b"\x00" + AWS.encode(), mtime=0), "gzip"),
        ("keys.tar.bz2", tar({"id_rsa": PEM.encode()}, "w:bz2"), "bzip2"),
        ("keys.tar.xz", tar({"id_rsa": PEM.encode()}, "w:xz"), "xz"),
        # A zip appended to an image (a polyglot) is still a zip.
        ("logo2.png", png() + zipped({"id_rsa": PEM.encode()}), "zip"),
    ],
)
def test_a_compressed_archive_asks(repo: Path, name: str, data: bytes, format_: str) -> None:
    add(repo, {name: data})
    assert built(repo)[name]["patch_omitted"] == (
        f"binary; a compressed archive ({format_}), its members not scanned for credentials"
    )


# --- budgets ---


def test_a_binary_over_the_per_file_budget_is_not_scanned_and_says_so(repo: Path) -> None:
    add(repo, {"big.bin": b"\x00" * 5000, "small.bin": b"\x00" * 100})
    files = built(repo, max_binary_scan_bytes=4096)
    assert files["big.bin"]["patch_omitted"] == (
        "binary; larger than the 4096-byte scan budget, not scanned for credentials"
    )
    assert files["small.bin"]["patch_omitted"] == "binary"


def test_once_the_total_budget_is_spent_binaries_are_not_scanned(repo: Path) -> None:
    add(repo, {"a.bin": b"\x00" * 3000, "b.bin": b"\x00" * 3000})
    files = built(repo, max_total_binary_scan_bytes=4000)
    assert files["a.bin"]["patch_omitted"] == "binary"
    assert files["b.bin"]["patch_omitted"] == (
        "binary; the 4000-byte total scan budget for binary files is spent,"
        " not scanned for credentials"
    )


# --- ordinary binaries stay quiet ---


def test_ordinary_images_and_documents_stay_binary(repo: Path) -> None:
    pdf = (
        b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Length 44 /Filter /FlateDecode >>\nstream\n"
        + zlib.compress(b"BT /F1 12 Tf 72 712 Td (Hello) Tj ET" + b"\x00")
        + b"\nendstream\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
    )
    jpeg = (
        b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
        + bytes((i * 31) % 256 for i in range(4096))
        + b"\xff\xd9"
    )
    add(repo, {"img/a.png": png(), "img/b.png": png(200, 100), "doc.pdf": pdf, "p.jpg": jpeg})
    files = built(repo)
    for name in ("img/a.png", "img/b.png", "doc.pdf", "p.jpg"):
        assert files[name]["binary"] is True, name
        assert files[name]["patch_omitted"] == "binary", name


def test_the_repositorys_own_binaries_stay_binary_but_its_tarballs_ask(repo: Path) -> None:
    """Every binary of Charter's own tree, added at once: only compressed archives ask."""
    source = Path(__file__).resolve().parent.parent
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=source, capture_output=True, check=True
    ).stdout.split(b"\x00")
    blobs = {}
    for raw in listed:
        path = source / raw.decode()
        if raw and path.is_file() and b"\x00" in path.read_bytes()[:8000]:
            blobs[f"tree/{raw.decode()}"] = path.read_bytes()
    assert blobs
    add(repo, blobs)
    files = built(repo)
    for name in blobs:
        expected = "binary"
        if name.endswith(".gz"):
            expected = (
                "binary; a compressed archive (gzip), its members not scanned for credentials"
            )
        assert files[name]["patch_omitted"] == expected, name


# --- every way of building decides alike ---


def reasons(result: Any) -> tuple[int, set[str]]:
    decision = json.loads(result.stdout)
    return result.returncode, {r["rule"] for r in decision["reasons"]}


def test_check_git_staged_and_piped_from_git_all_ask(repo: Path) -> None:
    add(repo, {"blob.dat": b"\x00" + AWS.encode()})
    args = ("--now", NOW, "--format", "json", "--no-audit")
    direct = invoke("check", "--git", "main..feature", "--repo", str(repo), *args)
    proposal = invoke("proposal", "from-git", "--repo", str(repo), "--base", "main",
                      "--head", "feature")  # fmt: skip
    assert proposal.returncode == 0, proposal.stderr
    assert AWS not in proposal.stdout
    piped = invoke("check", "-", *args, stdin=proposal.stdout)
    # The same change, staged (what the pre-commit hook decides).
    git(repo, "reset", "-q", "--soft", "main")
    staged = invoke("check", "--staged", "--repo", str(repo), *args)
    for result in (direct, piped, staged):
        code, rules = reasons(result)
        assert UNSCANNED in rules, result.stdout
        assert AWS not in result.stdout and AWS not in result.stderr
    assert reasons(direct) == reasons(piped)
    doc = build_staged(StagedChange(repo=repo), IdentityMap())
    assert doc["files"][0]["patch_omitted"] == "binary; holds an AWS access key id"


def test_an_ordinary_image_does_not_ask(repo: Path) -> None:
    add(repo, {"logo.png": png()})
    result = invoke("check", "--git", "main..feature", "--repo", str(repo), "--now", NOW,
                    "--format", "json", "--no-audit")  # fmt: skip
    assert UNSCANNED not in reasons(result)[1]


def test_a_github_api_binary_without_a_patch_asks(tmp_path: Path) -> None:
    """The API returns no bytes for a binary file: its patch_omitted is not "binary"."""
    from tests.test_facts_github import ASSETS, api_dir
    from tests.test_facts_github import build as build_github

    files = [
        {"filename": "a.py", "status": "added", "patch": "@@ -0,0 +1 @@\n+a"},
        {"filename": "logo.png", "status": "added"},
    ]
    raw = json.loads((ASSETS / "pull_request.opened.payload.json").read_text())
    raw["pull_request"]["changed_files"] = len(files)
    event = tmp_path / "event.json"
    event.write_text(json.dumps(raw))
    doc = build_github(event, api_dir(tmp_path, files=files))
    logo = {f["path"]: f for f in doc["files"]}["logo.png"]
    assert logo["patch_omitted"] != "binary"
    result = invoke("check", "-", "--now", NOW, "--format", "json", "--no-audit",
                    stdin=json.dumps(doc))  # fmt: skip
    decision = json.loads(result.stdout)
    assert any(r["rule"] == UNSCANNED and "logo.png" in r["msg"] for r in decision["reasons"]), (
        decision["reasons"]
    )


# --- the byte scan is the patch scan's token definitions ---


def test_the_byte_scan_finds_the_token_kinds_the_patch_scan_finds_on_the_corpus() -> None:
    from charter.facts import binary
    from charter.policy.secrets import GENERIC, line_kinds
    from tests.secret_corpus import load

    samples = load()
    assert samples
    for sample in samples:
        text = sample.line[1:]  # without the patch's "+"
        expected = [k for k in line_kinds(text) if k != GENERIC]
        data = b"\x00" + text.encode("utf-8", "surrogatepass") + b"\n"
        assert binary.scan([data]).credentials() == expected, sample.number
        # Read in pieces: a token split across reads is found alike.
        pieces = [data[i : i + 7] for i in range(0, len(data), 7)]
        assert binary.scan(pieces).credentials() == expected, sample.number


def test_a_binary_file_made_text_is_scanned_on_its_new_side(repo: Path) -> None:
    # git calls it binary (its old side has NUL bytes); its new side is text.
    (repo / "logo.bin").write_bytes(f"key = {AWS}\n".encode())
    commit(repo, "logo becomes text")
    entry = built(repo)["logo.bin"]
    assert entry["binary"] is True
    assert entry["patch_omitted"] == "binary; holds an AWS access key id"


def test_a_text_file_marked_binary_by_attributes_is_a_patch_whatever_the_scan_budget(
    repo: Path,
) -> None:
    add(repo, {".gitattributes": b"*.cfg -diff\n", "app.cfg": f"key = {AWS}\n".encode()})
    entry = built(repo, max_binary_scan_bytes=10, max_total_binary_scan_bytes=10)["app.cfg"]
    assert entry["binary"] is False and "patch_omitted" not in entry
    assert AWS in entry["patch"]


@pytest.mark.parametrize(
    "encoding", ["utf-16", "utf-16-le", "utf-16-be"]
)  # with a BOM (native order), without one, either byte order
def test_a_token_in_utf16_text_is_found(repo: Path, encoding: str) -> None:
    # UTF-16 text (Windows .reg, PowerShell) has a NUL after or before every ASCII byte.
    text = f"[settings]\r\nkey = {AWS}\r\ntoken = {GITHUB}\r\n" + "padding line\r\n" * 50
    add(repo, {"settings.reg": text.encode(encoding)})
    assert built(repo)["settings.reg"]["patch_omitted"] == (
        "binary; holds an AWS access key id and a GitHub token"
    )


def test_utf16_text_is_read_across_reads_of_odd_length() -> None:
    from charter.facts import binary

    data = ("x" * 100 + f" {AWS} " + "y" * 100).encode("utf-16-be")
    # The first read decides (as git's: at least 8000 bytes, or the whole file); the
    # later ones have odd lengths, so the planes swap from read to read.
    pieces = [data[:101]] + [data[i : i + 7] for i in range(101, len(data), 7)]
    assert binary.scan(pieces).credentials() == ["an AWS access key id"]
