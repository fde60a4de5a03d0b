"""The evidence CI produced (``--evidence DIR``), read and verified instead of believed.

A directory of files is sorted into:

* **signatures** — ``X.sig`` (cosign ``sign-blob`` with a key) and ``X.sigstore.json`` /
  ``X.sigstore`` (a Sigstore bundle) over the file ``X`` next to them;
* **attestations** — DSSE envelopes and Sigstore bundles carrying in-toto statements
  (SLSA provenance v0.2/v1, CycloneDX/SPDX SBOM predicates, in-toto links), one per
  JSON file or one per line of a ``.jsonl`` file;
* **SBOMs** (CycloneDX 1.4–1.6, SPDX 2.3) and **vulnerability scans** (Grype, Trivy,
  OSV-Scanner, pip-audit, CycloneDX with ``vulnerabilities``);
* **artifacts** — every other regular file, named by its path under ``DIR`` and
  identified by its sha256 digest.

Signatures are checked against the trust policy's ``[evidence]`` signers
(:mod:`charter.facts.attestations`); an attestation counts for an artifact when one
of its subjects has the artifact's digest. ``sbom.signed`` / ``provenance.signed``
are true only when a signature verified; otherwise the part says why in ``error``,
which the supply-chain rules quote. A file named like evidence that cannot be read
as such, a symbolic link, or a file outside ``DIR`` is an input error (exit 2), never
a silently smaller set of evidence.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import stat
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from charter.core import jsonio
from charter.core.digests import sha256_bytes
from charter.core.errors import InputError
from charter.facts import attestations, sboms, scan_coverage, scans
from charter.trust.policy import EvidenceTrust

#: Largest evidence document Charter parses (artifacts of any size are only hashed).
MAX_DOCUMENT_BYTES = 64 * 1024 * 1024
_CHUNK = 1 << 16
#: Most files read from one evidence directory.
MAX_FILES = 10_000
_HINT = "see docs/design.md, 'Facts: evidence'"
SIGNATURE_SUFFIXES = (".sigstore.json", ".sigstore", ".sig")
#: Names that promise evidence: such a file must parse as evidence.
EVIDENCE_MARKERS = (
    ".cdx.json",
    ".spdx.json",
    ".sbom.json",
    ".intoto.jsonl",
    ".intoto.json",
    ".att.json",
    ".dsse.json",
    ".link",
    ".slsa",
    ".provenance.json",
)
SLSA_FORMATS = {
    "https://slsa.dev/provenance/v0.2": "slsa-provenance-v0.2",
    "https://slsa.dev/provenance/v1": "slsa-provenance-v1",
}


@dataclass(frozen=True)
class Evidence:
    """What the directory proves: artifacts (with their parts) and the merged scan."""

    artifacts: tuple[dict[str, Any], ...]
    scan: dict[str, Any] | None
    #: Verified statements whose subjects match no artifact (shown, never counted).
    unattached: tuple[str, ...] = ()


@dataclass
class _Sorted:
    artifacts: dict[str, str] = field(default_factory=dict)  # name -> sha256 digest
    paths: dict[str, Path] = field(default_factory=dict)  # name -> file (artifacts)
    blobs: dict[str, bytes] = field(default_factory=dict)  # name -> bytes (signed files)
    signatures: list[tuple[str, bytes]] = field(default_factory=list)
    statements: list[attestations.Verified] = field(default_factory=list)
    sboms: list[sboms.Sbom] = field(default_factory=list)
    scans: list[scans.Scan] = field(default_factory=list)


def collect(
    directory: Path,
    trust: EvidenceTrust,
    declared: Iterable[Mapping[str, Any]] = (),
) -> Evidence:
    """Read, verify and attach everything in ``directory``.

    ``declared`` are the document's artifacts: one with a ``digest`` receives the
    evidence whose subject has that digest even when its file is not in ``directory``.
    """
    found = _sort(directory, trust)
    names = dict(found.artifacts)
    for artifact in declared:
        digest, name = artifact.get("digest"), artifact.get("name")
        # A file in the directory is identified by its own bytes: a declared digest
        # never renames it (the difference becomes a contradiction when reconciling).
        if (
            isinstance(digest, str)
            and isinstance(name, str)
            and name not in found.artifacts
            and digest not in names.values()
        ):
            names[name] = digest
    other = _other_digests(found)
    known = {name: frozenset({digest, *other.get(name, ())}) for name, digest in names.items()}
    parts = _parts(found, trust, names, known)
    artifacts = tuple(
        {"name": name, "digest": digest, **parts.get(name, {})}
        for name, digest in sorted(names.items())
    )
    index = _index(known)
    unattached = tuple(
        sorted(
            {
                v.path
                for v in found.statements
                if v.statement is not None
                and v.error is None
                and not any(_subject_matches(s, known, index) for s in _digest_sets(v.statement))
            }
        )
    )
    return Evidence(artifacts, _merged_scan(found.scans), unattached)


#: Most bytes of inline evidence (``"evidence"`` in a proposal) after decoding.
MAX_INLINE_BYTES = 32 * 1024 * 1024
#: Most parts of an inline file's name: the scratch copy is removed with shutil.rmtree,
#: which recurses once per folder (a name 1,200 folders deep was a RecursionError).
MAX_INLINE_DEPTH = 32


def inline_files(document: Mapping[str, Any]) -> dict[str, bytes] | None:
    """The files of a document's inline ``evidence`` (``{"files": [{"name", "base64"}]}``).

    The runner's proposal body and ``charter check`` read the same key, so the same
    document gets the same answer anywhere. None when the document carries none.
    """
    raw = document.get("evidence")
    if raw is None:
        return None
    where = "proposal.evidence"
    items = raw.get("files") if isinstance(raw, dict) and set(raw) == {"files"} else None
    if not isinstance(items, list):
        raise InputError(
            f'{where}: must be {{"files": [{{"name": ..., "base64": ...}}]}}', hint=_HINT
        )
    files: dict[str, bytes] = {}
    total = 0
    for index, item in enumerate(items):
        name, data = _inline_file(item, f"{where}.files[{index}]")
        if name in files:
            raise InputError(f"{where}.files[{index}]: {name!r} is given twice", hint=_HINT)
        total += len(data)
        if total > MAX_INLINE_BYTES or len(files) >= MAX_FILES:
            raise InputError(
                f"{where}: more than {MAX_INLINE_BYTES} bytes or {MAX_FILES} files",
                hint="reference large artifacts by digest in artifacts[] instead",
            )
        files[name] = data
    return files


def _inline_file(item: Any, where: str) -> tuple[str, bytes]:
    if not isinstance(item, dict) or set(item) != {"name", "base64"}:
        raise InputError(f'{where}: must be {{"name": ..., "base64": ...}}', hint=_HINT)
    name, encoded = item["name"], item["base64"]
    parts = name.split("/") if isinstance(name, str) else []
    if not parts or any(p in ("", ".", "..") or "\x00" in p or "\\" in p for p in parts):
        raise InputError(
            f"{where}.name: must be a relative path without '.', '..' or empty parts",
            hint="e.g. dist/app.cdx.json",
        )
    if len(parts) > MAX_INLINE_DEPTH:
        raise InputError(
            f"{where}.name: more than {MAX_INLINE_DEPTH} parts deep",
            hint="e.g. dist/app.cdx.json",
        )
    if not isinstance(encoded, str):
        raise InputError(f"{where}.base64: must be a string", hint=_HINT)
    try:
        return name, base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InputError(f"{where}.base64: not base64 ({exc})", hint=_HINT) from None


def collect_files(
    files: Mapping[str, bytes],
    trust: EvidenceTrust,
    declared: Iterable[Mapping[str, Any]] = (),
) -> Evidence:
    """:func:`collect` for evidence given as bytes (inline in a proposal)."""
    with tempfile.TemporaryDirectory(prefix="charter-evidence-") as scratch:
        root = Path(scratch)
        for name, data in files.items():
            target = root / name
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                if target.exists():
                    raise InputError(f"proposal.evidence: {name!r} clashes with a directory")
                target.write_bytes(data)
            except OSError as exc:  # a name too long, a file where a folder must go …
                raise InputError(
                    f"proposal.evidence: {name[:80]!r} cannot be a file name "
                    f"({exc.strerror or exc})",
                    hint="use short relative names such as dist/app.cdx.json",
                ) from None
        return collect(root, trust, declared)


def for_document(
    declared: Mapping[str, Any], directory: Path | None, trust: EvidenceTrust
) -> Evidence | None:
    """The evidence of a proposal: ``directory`` (``--evidence``) or the inline files.

    None when there is neither; both at once is an input error (give evidence once).
    """
    inline = inline_files(declared)
    if inline is not None and directory is not None:
        raise InputError(
            "the proposal carries evidence inline and --evidence was given too",
            hint="give the evidence once: inline (runner bodies) or as a directory",
        )
    artifacts = declared.get("artifacts")
    listed = [a for a in artifacts if isinstance(a, dict)] if isinstance(artifacts, list) else []
    if directory is not None:
        return collect(directory, trust, listed)
    if inline is not None:
        return collect_files(inline, trust, listed)
    return None


# ---------------------------------------------------------------- reading the directory
def _sort(directory: Path, trust: EvidenceTrust) -> _Sorted:
    root = _root(directory)
    found = _Sorted()
    files = _files(root)
    for relative in files:
        _read(root, relative, found, trust)
    return found


def _root(directory: Path) -> Path:
    try:
        info = directory.stat()
    except OSError as exc:
        raise InputError(
            f"--evidence {directory}: {exc.strerror or exc}",
            hint="give the directory CI wrote its SBOMs, scans and attestations to",
        ) from exc
    if not stat.S_ISDIR(info.st_mode):
        raise InputError(f"--evidence {directory}: not a directory", hint=_HINT)
    return directory.resolve()


def _files(root: Path) -> list[str]:
    """Every regular file under ``root``, each folder's files (by name) before its
    folders. Walked with a list, not recursion: a tree nested deeper than Python's
    recursion limit is still read (or refused by its size), and a folder that cannot be
    listed is an input error, never a part of the evidence silently left out."""
    found: list[str] = []
    pending = [root]
    folders = 0
    while pending:
        base = pending.pop()
        folders += 1
        entries = sorted(_listed(root, base), key=lambda entry: entry.name)
        subfolders = []
        for entry in entries:
            path = Path(entry.path)
            relative = path.relative_to(root).as_posix()
            if path.is_symlink():
                raise InputError(
                    f"evidence {relative}: is a symbolic link",
                    hint="copy the file into the evidence directory; links are not followed",
                )
            if path.is_dir():
                subfolders.append(path)
                continue
            if not path.is_file():
                raise InputError(f"evidence {relative}: not a regular file", hint=_HINT)
            found.append(relative)
        if len(found) > MAX_FILES or folders + len(pending) + len(subfolders) > MAX_FILES:
            raise InputError(
                f"--evidence {root}: more than {MAX_FILES} files (or folders)",
                hint="pass only the evidence",
            )
        pending.extend(reversed(subfolders))
    return found


def _listed(root: Path, folder: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as entries:
            return list(entries)
    except OSError as exc:
        shown = folder.relative_to(root).as_posix()
        raise InputError(f"evidence {shown}: {exc.strerror or exc}", hint=_HINT) from None


def _read(root: Path, relative: str, found: _Sorted, trust: EvidenceTrust) -> None:
    """Sort one file; each file is read once (an artifact only streamed through the hash)."""
    path = root / relative
    raw = _raw_document(path, relative)
    if raw is None:
        found.artifacts[relative] = _file_digests(path, relative, ("sha256",))[0]
        found.paths[relative] = path
        return
    if relative.endswith(SIGNATURE_SUFFIXES):
        bundle = _sigstore_bundle(raw, relative)
        if not (isinstance(bundle, dict) and "dsseEnvelope" in bundle):
            found.signatures.append((relative, raw))
            return
        document: Any = bundle  # a Sigstore bundle that wraps an attestation
    else:
        document = _document(raw, relative)
    if document is _NOT_JSON:
        found.artifacts[relative] = sha256_bytes(raw)
        found.paths[relative] = path
        return
    if _is_jsonl(relative):
        for line, item in enumerate(document, start=1):
            found.statements.append(_attestation(item, f"{relative}:{line}", trust))
        return
    if attestations.sniff_attestation(document):
        found.statements.append(_attestation(document, relative, trust))
        return
    recognised = False
    if isinstance(document, dict) and sboms.sniff_sbom(document):
        found.sboms.append(sboms.parse_sbom(document, relative))
        found.blobs[relative] = raw
        recognised = True
    if scans.sniff_scan(document):
        found.scans.append(scans.parse_scan(document, relative))
        recognised = True
    if recognised:
        return
    if relative.endswith(EVIDENCE_MARKERS):
        raise InputError(
            f"evidence {relative}: named like evidence but is not an SBOM, scan, "
            "DSSE envelope or Sigstore bundle Charter reads",
            hint=_HINT,
        )
    found.artifacts[relative] = sha256_bytes(raw)
    found.paths[relative] = path


_NOT_JSON: Any = object()
#: How much of an unnamed file is looked at to tell a JSON document from an artifact.
_PEEK = 4096


def _sigstore_bundle(raw: bytes, relative: str) -> Any:
    """The parsed bundle of ``X.sigstore(.json)``; None for a ``.sig`` (base64 text)."""
    if not relative.endswith((".sigstore.json", ".sigstore")):
        return None
    return jsonio.loads(raw, what=f"evidence {relative}", hint=_HINT)


def _is_jsonl(relative: str) -> bool:
    return relative.endswith(".jsonl")


def _raw_document(path: Path, relative: str) -> bytes | None:
    """The bytes of a file that is (or may be) a document; None for an artifact.

    Signatures and files named like evidence or JSON are read whole; anything else
    only when it is small enough and starts like JSON, so an artifact is not read
    into memory before it is hashed.
    """
    if relative.endswith(SIGNATURE_SUFFIXES):
        return _bytes(path, relative)
    promised = relative.endswith(EVIDENCE_MARKERS) or relative.endswith((".json", ".jsonl"))
    try:
        size = path.stat().st_size
        if size > MAX_DOCUMENT_BYTES:
            if relative.endswith(EVIDENCE_MARKERS):
                raise InputError(
                    f"evidence {relative}: larger than {MAX_DOCUMENT_BYTES} bytes", hint=_HINT
                )
            return None
        if not promised:
            with path.open("rb") as handle:
                start = handle.read(_PEEK).lstrip()[:1]
            # Only whitespace in the first bytes: the whole file decides below.
            if start and start not in (b"{", b"["):
                return None
    except OSError as exc:
        raise InputError(f"evidence {relative}: {exc.strerror or exc}", hint=_HINT) from exc
    raw = _bytes(path, relative)
    if not promised and raw.lstrip()[:1] not in (b"{", b"["):
        return None
    return raw


def _document(raw: bytes, relative: str) -> Any:
    """The parsed JSON of an evidence file, or ``_NOT_JSON`` for an artifact."""
    if _is_jsonl(relative):
        return [
            jsonio.loads(line, what=f"evidence {relative}:{number}", hint=_HINT)
            for number, line in enumerate(raw.splitlines(), start=1)
            if line.strip()
        ]
    try:
        return jsonio.loads(raw, what=f"evidence {relative}", hint=_HINT)
    except InputError:
        if relative.endswith(EVIDENCE_MARKERS):
            raise
        return _NOT_JSON  # e.g. a release artifact that merely starts with "{"


def _attestation(document: Any, where: str, trust: EvidenceTrust) -> attestations.Verified:
    if not attestations.sniff_attestation(document):
        raise InputError(
            f"evidence {where}: not a DSSE envelope or Sigstore bundle",
            hint="a .jsonl file holds one attestation per line",
        )
    return attestations.verify_attestation(document, where, trust)


def _bytes(path: Path, relative: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"evidence {relative}: {exc.strerror or exc}", hint=_HINT) from exc


def _file_digests(path: Path, relative: str, algorithms: Iterable[str]) -> list[str]:
    """``algo:hex`` of a file for each algorithm, in one pass over its bytes."""
    hashers = [(name, hashlib.new(name)) for name in algorithms]
    try:
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(_CHUNK), b""):
                for _, hasher in hashers:
                    hasher.update(chunk)
    except OSError as exc:
        raise InputError(f"evidence {relative}: {exc.strerror or exc}", hint=_HINT) from exc
    return [f"{name}:{hasher.hexdigest()}" for name, hasher in hashers]


def _other_digests(found: _Sorted) -> dict[str, list[str]]:
    """The artifact files' digests under the other algorithms evidence names (sha384,
    sha512): computed only when a statement subject or an SBOM names one."""
    named = {
        digest.split(":", 1)[0]
        for digests in [
            *(d for v in found.statements if v.statement for d in _digest_sets(v.statement)),
            *(sbom.subject_digests for sbom in found.sboms),
        ]
        for digest in digests
    }
    algorithms = sorted(named & {"sha384", "sha512"})
    if not algorithms:
        return {}
    other: dict[str, list[str]] = {}
    for name, path in sorted(found.paths.items()):
        sha256, *digests = _file_digests(path, name, ["sha256", *algorithms])
        if sha256 != found.artifacts[name]:  # read twice: the bytes must be the same
            raise InputError(f"evidence {name}: changed while it was read", hint=_HINT)
        other[name] = digests
    return other


# ---------------------------------------------------------------- attaching
def _index(known: Mapping[str, frozenset[str]]) -> dict[str, list[str]]:
    """Artifact names by each digest they are known by."""
    by_digest: dict[str, list[str]] = {}
    for name, digests in known.items():
        for digest in digests:
            by_digest.setdefault(digest, []).append(name)
    return by_digest


def _digest_sets(statement: attestations.Statement) -> tuple[frozenset[str], ...]:
    if statement.digest_sets:
        return statement.digest_sets
    return tuple(frozenset({d}) for _, d in statement.subjects)


def _algorithms(digests: frozenset[str]) -> dict[str, str]:
    return dict(d.split(":", 1) for d in digests)


def _subject_matches(
    subject: frozenset[str],
    known: Mapping[str, frozenset[str]],
    index: Mapping[str, list[str]],
) -> dict[str, bool]:
    """Artifacts a subject names: True when every algorithm both know agrees, False
    when one agrees and another does not (a conflicting subject never attaches)."""
    found: dict[str, bool] = {}
    claimed = _algorithms(subject)
    for name in {n for digest in subject for n in index.get(digest, ())}:
        have = _algorithms(known[name])
        found[name] = all(claimed[a] == have[a] for a in claimed.keys() & have.keys())
    return found


def _parts(
    found: _Sorted,
    trust: EvidenceTrust,
    names: Mapping[str, str],
    known: Mapping[str, frozenset[str]],
) -> dict[str, dict[str, Any]]:
    by_digest = _index(known)
    parts: dict[str, dict[str, Any]] = {name: {} for name in names}
    for verified in found.statements:
        _attach_statement(verified, known, by_digest, parts)
    signed = _blob_signatures(found, trust)
    for sbom in found.sboms:
        _attach_sbom(sbom, signed.get(sbom.path), (known, by_digest), names, parts)
    _attach_failures(found.statements, parts, known, by_digest)
    return parts


def _attach_statement(
    verified: attestations.Verified,
    known: Mapping[str, frozenset[str]],
    by_digest: Mapping[str, list[str]],
    parts: dict[str, dict[str, Any]],
) -> None:
    statement = verified.statement
    if statement is None:
        return
    part = _part_name(verified)
    if part is None:
        return
    value = _statement_part(verified, part)
    for subject in _digest_sets(statement):
        for name, agrees in sorted(_subject_matches(subject, known, by_digest).items()):
            found = value
            if not agrees:
                shown = ", ".join(sorted(subject))
                problem = f"{verified.path}: subject {shown} disagrees with {name}'s digests"
                found = {**value, "signed": False, "signer": None, "error": problem}
            current = parts[name].get(part)
            # A verified part is never replaced by a failed one.
            if current is None or (current.get("signed") is not True and found["signed"]):
                parts[name][part] = found


def _part_name(verified: attestations.Verified) -> str | None:
    if verified.kind == "provenance":
        return "provenance"
    if verified.kind == "sbom":
        return "sbom"
    return None


def _statement_part(verified: attestations.Verified, part: str) -> dict[str, Any]:
    statement = verified.statement
    assert statement is not None  # noqa: S101 - checked by the caller
    value: dict[str, Any] = {
        "signed": verified.error is None,
        "source": verified.path,
        "signer": verified.signer,
        "error": verified.error,  # names the file already
    }
    if part == "provenance":
        value["format"] = SLSA_FORMATS.get(statement.predicate_type, statement.predicate_type)
        value["builder_id"] = verified.builder_id
        return value
    predicate = statement.predicate
    if isinstance(predicate, dict) and sboms.sniff_sbom(predicate):
        sbom = sboms.parse_sbom(predicate, f"{verified.path} (predicate)")
        value.update(_sbom_fields(sbom))
    else:
        value["format"] = statement.predicate_type
    return value


def _sbom_fields(sbom: sboms.Sbom) -> dict[str, Any]:
    return {
        "format": sbom.format,
        "spec_version": sbom.spec_version,
        "components": len(sbom.components),
        "tools": list(sbom.tools),
    }


def _blob_signatures(found: _Sorted, trust: EvidenceTrust) -> dict[str, attestations.Verified]:
    """Verified (or failed) signatures by the name of the file they sign."""
    results: dict[str, attestations.Verified] = {}
    for relative, signature in found.signatures:
        target = _signed_name(relative)
        blob = found.blobs.get(target)
        if blob is None:
            if target not in found.artifacts:
                raise InputError(
                    f"evidence {relative}: signs {target}, which is not in the evidence directory",
                    hint="keep each signature next to the file it signs",
                )
            continue  # a signature over an artifact: sign-blob of a release file
        verified = attestations.verify_blob_signature(signature, relative, blob, trust)
        previous = results.get(target)
        if previous is None or previous.error is not None:
            results[target] = verified
    return results


def _signed_name(relative: str) -> str:
    for suffix in SIGNATURE_SUFFIXES:
        if relative.endswith(suffix):
            return relative[: -len(suffix)]
    return relative


def _attach_sbom(
    sbom: sboms.Sbom,
    signature: attestations.Verified | None,
    digests: tuple[Mapping[str, frozenset[str]], Mapping[str, list[str]]],
    names: Mapping[str, str],
    parts: dict[str, dict[str, Any]],
) -> None:
    """Attach an SBOM file to the artifacts it names by digest.

    A signature over the SBOM's bytes proves who made the SBOM, not which artifact it
    describes: only an SBOM that names the artifact's digest is signed *for* it. One
    that names no subject digest is shown on ``A`` when it is ``A.cdx.json`` (or
    ``.spdx.json``, ``.sbom.json``, ``.json``), unsigned, saying it is not bound.
    """
    known, by_digest = digests
    targets = {name for digest in sbom.subject_digests for name in by_digest.get(digest, ())}
    if sbom.format == "cyclonedx":  # one subject component: all its hashes must agree
        matches = _subject_matches(sbom.subject_digests, known, by_digest)
        targets = {name for name, agrees in matches.items() if agrees}
    stem = _sbom_stem(sbom.path)
    error = _sbom_signature_problem(sbom, signature)
    value = {
        **_sbom_fields(sbom),
        "signed": error is None,
        "source": sbom.path,
        "signer": signature.signer if signature is not None and error is None else None,
        "error": error,
    }
    for name in targets:
        current = parts[name].get("sbom")
        if current is None or (current.get("signed") is not True and value["signed"]):
            parts[name]["sbom"] = value
    if stem not in names or stem in targets or parts[stem].get("sbom") is not None:
        return
    if sbom.subject_digests:
        described = ", ".join(sorted(sbom.subject_digests))
        problem = f"{sbom.path}: describes {described}, not {stem} ({names[stem]})"
    else:
        problem = error or (
            f"{sbom.path}: names no subject digest, so its signature does not bind it to "
            f"{stem} ({names[stem]}); name the digest in the SBOM (CycloneDX "
            "metadata.component.hashes, SPDX package checksums) or attest it for the artifact"
        )
    parts[stem]["sbom"] = {**value, "signed": False, "signer": None, "error": problem}


def _sbom_stem(path: str) -> str:
    for marker in (".cdx.json", ".spdx.json", ".sbom.json", ".json"):
        if path.endswith(marker):
            return path[: -len(marker)]
    return path


def _sbom_signature_problem(
    sbom: sboms.Sbom, signature: attestations.Verified | None
) -> str | None:
    if signature is None:
        return f"{sbom.path}: no signature (expected {sbom.path}.sig or {sbom.path}.sigstore.json)"
    return signature.error


def _attach_failures(
    statements: Iterable[attestations.Verified],
    parts: dict[str, dict[str, Any]],
    known: Mapping[str, frozenset[str]],
    digests: Mapping[str, list[str]],
) -> None:
    """A failed attestation that names no artifact still explains every unsigned part.

    Tampering usually changes the subject too (or leaves no readable statement at
    all), so a failure that matches no artifact is shown wherever that part is missing.
    """
    for verified in statements:
        if verified.error is None:
            continue
        statement = verified.statement
        if statement is not None and any(
            _subject_matches(s, known, digests) for s in _digest_sets(statement)
        ):
            continue  # attached to its subject by _attach_statement
        part = _part_name(verified) if statement is not None else None
        if part is None:
            named_sbom = any(m in verified.path for m in ("cdx", "spdx", "sbom"))
            part = "sbom" if named_sbom else "provenance"
        error = verified.error
        for artifact in parts.values():
            if artifact.get(part) is None:
                artifact[part] = {"signed": False, "source": verified.path, "error": error}


def _merged_scan(found: list[scans.Scan]) -> dict[str, Any] | None:
    """Every scan merged; ``reports`` keeps what each is about for
    :func:`charter.facts.scan_coverage.judge` (reconciling removes it)."""
    if not found:
        return None
    documents = [scans.scan_to_json(s) for s in found]
    return {
        **scan_coverage.merge(documents),
        "reports": [
            {"scan": d, "about": scans.about_to_json(s)}
            for d, s in zip(documents, found, strict=True)
        ],
    }
