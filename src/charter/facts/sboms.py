"""SBOMs read from the files CI produced: CycloneDX JSON 1.4–1.6 and SPDX 2.3 JSON.

Pure functions over an already parsed document (:func:`charter.core.jsonio.loads`):
:func:`sniff_sbom` says cheaply whether a document is an SBOM, :func:`parse_sbom`
reads what it describes (name and ``sha256:``-style digests, when the SBOM states
them), the tools that generated it and its components. Every text taken from the
document has its control characters escaped as ``\\xNN`` (:func:`escape_controls`),
so no control byte reaches rules, messages or terminals. A malformed document —
wrong types, missing required keys, an unsupported format or version — is an
:class:`~charter.core.errors.InputError` naming the file and the field, never a
smaller result.

:class:`Reader` and :func:`escape_controls` are shared with
:mod:`charter.facts.scans`, which reads the ``vulnerabilities`` of a CycloneDX
document with :func:`cyclonedx_tools` and :func:`cyclonedx_components`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from charter.core.errors import InputError

CYCLONEDX_VERSIONS = ("1.4", "1.5", "1.6")
SPDX_VERSIONS = ("SPDX-2.3",)

_HINT = (
    "pass the unmodified JSON a generator wrote (CycloneDX 1.4-1.6 or SPDX 2.3); "
    "see docs/design.md, 'Facts: evidence — SBOMs and scans'"
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
#: Characters that reorder or break displayed text (Trojan Source, CVE-2021-42574).
_DISPLAY = re.compile("[\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
#: Digest algorithms kept for matching an SBOM to an artifact (name -> hex length).
_DIGESTS = {"sha256": 64, "sha384": 96, "sha512": 128}
_HEX = re.compile(r"[0-9a-f]+")
#: syft's file source writes the file's digest as ``metadata.component.version``.
_VERSION_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
#: purl types whose ecosystem Charter names differently (as charter.facts.lockfiles does).
_ECOSYSTEMS = {"golang": "go", "gem": "rubygems"}


def escape_controls(text: str) -> str:
    r"""``text`` with every C0/C1 control character and DEL written as ``\xNN``, and
    the bidirectional controls and line/paragraph separators as ``\uNNNN``."""
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    return _DISPLAY.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


class Reader:
    """Typed access to a parsed document; a wrong shape is an InputError naming the field."""

    def __init__(self, path: str, hint: str = _HINT) -> None:
        self.path = path  # as given: results carry it unchanged for the caller to match
        self.shown = escape_controls(path)  # in messages
        self.hint = hint

    def fail(self, where: str, problem: str) -> NoReturn:
        prefix = f"{self.shown}: {where}" if where else self.shown
        raise InputError(f"{prefix}: {problem}", hint=self.hint)

    def obj(self, value: object, where: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            self.fail(where, f"must be an object, not {_kind(value)}")
        return value

    def opt_obj(self, parent: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
        """An optional object ``parent[key]`` (absent or null: empty)."""
        value = parent.get(key)
        return {} if value is None else self.obj(value, where)

    def arr(self, value: object, where: str) -> list[Any]:
        if not isinstance(value, list):
            self.fail(where, f"must be an array, not {_kind(value)}")
        return value

    def objects(
        self, parent: Mapping[str, Any], key: str, where: str
    ) -> Iterator[tuple[str, Mapping[str, Any]]]:
        """The objects of an optional array ``parent[key]`` (absent or null: none)."""
        value = parent.get(key)
        if value is None:
            return
        for index, item in enumerate(self.arr(value, f"{where}{key}")):
            at = f"{where}{key}[{index}]"
            yield at, self.obj(item, at)

    def text(self, parent: Mapping[str, Any], key: str, where: str) -> str:
        """A required, non-empty string (control characters escaped)."""
        value = parent.get(key)
        if not isinstance(value, str) or not value:
            self.fail(f"{where}{key}", f"must be a non-empty string, not {_kind(value)}")
        return escape_controls(value)

    def opt(self, parent: Mapping[str, Any], key: str, where: str) -> str | None:
        """An optional string; absent, null and empty are ``None``."""
        value = parent.get(key)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            self.fail(f"{where}{key}", f"must be a string, not {_kind(value)}")
        return escape_controls(value)

    def strings(self, parent: Mapping[str, Any], key: str, where: str) -> list[str]:
        """An optional array of strings (absent or null: empty)."""
        value = parent.get(key)
        if value is None:
            return []
        out = []
        for index, item in enumerate(self.arr(value, f"{where}{key}")):
            if not isinstance(item, str):
                self.fail(f"{where}{key}[{index}]", f"must be a string, not {_kind(item)}")
            out.append(escape_controls(item))
        return out


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "an empty string" if not value else "a string"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


@dataclass(frozen=True)
class Component:
    name: str
    version: str | None
    purl: str | None
    ecosystem: str | None


@dataclass(frozen=True)
class Sbom:
    path: str
    format: str
    spec_version: str
    tools: tuple[str, ...]
    subject_name: str | None
    subject_digests: frozenset[str]
    components: tuple[Component, ...]


def sniff_sbom(document: object) -> bool:
    """Whether ``document`` says it is CycloneDX (``bomFormat``) or SPDX (``spdxVersion``)."""
    return isinstance(document, Mapping) and ("bomFormat" in document or "spdxVersion" in document)


def parse_sbom(document: Mapping[str, Any], path: str) -> Sbom:
    """The SBOM in ``document`` (read from ``path``); InputError when it is malformed."""
    reader = Reader(path)
    doc = reader.obj(document, "")
    if "bomFormat" in doc:
        return _cyclonedx(reader, doc)
    if "spdxVersion" in doc:
        return _spdx(reader, doc)
    reader.fail("", "not an SBOM: neither a CycloneDX 'bomFormat' nor an SPDX 'spdxVersion' key")


def ecosystem_of(purl: str | None) -> str | None:
    """The ecosystem a package URL names (``pkg:pypi/...`` -> ``pypi``), if any."""
    if purl is None or not purl.startswith("pkg:"):
        return None
    kind = purl[4:].lstrip("/").split("/", 1)[0].lower()
    if not kind or not re.fullmatch(r"[a-z0-9.+-]+", kind):
        return None
    return _ECOSYSTEMS.get(kind, kind)


def _digest(reader: Reader, algorithm: str, value: object, where: str) -> str | None:
    """``algo:hex`` for a SHA-2 hash; other algorithms are not used for matching."""
    name = algorithm.lower().replace("-", "")
    if name not in _DIGESTS:
        return None
    if not isinstance(value, str):
        reader.fail(where, f"must be a string, not {_kind(value)}")
    hexdigest = value.lower()
    if len(hexdigest) != _DIGESTS[name] or not _HEX.fullmatch(hexdigest):
        reader.fail(where, f"is not a {algorithm} hex digest: {escape_controls(value[:80])!r}")
    return f"{name}:{hexdigest}"


# CycloneDX ----------------------------------------------------------------------


def cyclonedx_spec_version(reader: Reader, doc: Mapping[str, Any]) -> str:
    """The checked ``specVersion`` of a CycloneDX document."""
    if doc.get("bomFormat") != "CycloneDX":
        reader.fail("bomFormat", f"must be 'CycloneDX', not {_shown(doc.get('bomFormat'))}")
    version = doc.get("specVersion")
    if version not in CYCLONEDX_VERSIONS:
        reader.fail(
            "specVersion",
            f"CycloneDX {_shown(version)} is not supported "
            f"(supported: {', '.join(CYCLONEDX_VERSIONS)})",
        )
    return str(version)


def _shown(value: object) -> str:
    if isinstance(value, str):
        return repr(escape_controls(value[:60]))
    return f"{escape_controls(repr(value)[:60])} ({_kind(value)})"


def cyclonedx_tools(reader: Reader, doc: Mapping[str, Any]) -> list[tuple[str, str | None]]:
    """(name, version) of each tool in ``metadata.tools`` (1.4 array or 1.5+ object)."""
    metadata = doc.get("metadata")
    if metadata is None:
        return []
    metadata = reader.obj(metadata, "metadata")
    tools = metadata.get("tools")
    if tools is None:
        return []
    if isinstance(tools, list):
        entries = list(reader.objects(metadata, "tools", "metadata."))
    else:
        tools = reader.obj(tools, "metadata.tools")
        entries = [
            *reader.objects(tools, "components", "metadata.tools."),
            *reader.objects(tools, "services", "metadata.tools."),
        ]
    out = []
    for at, tool in entries:
        name = reader.opt(tool, "name", f"{at}.")
        if name is not None:
            out.append((name, reader.opt(tool, "version", f"{at}.")))
    return out


def _tool_line(name: str, version: str | None) -> str:
    """``name version``; syft's dev builds write ``[not provided]`` for a version."""
    return name if version in (None, "[not provided]") else f"{name} {version}"


def cyclonedx_components(
    reader: Reader, doc: Mapping[str, Any]
) -> tuple[list[Component], dict[str, Component]]:
    """Every component, nested ones included, in document order; and those with a
    ``bom-ref`` by that reference (what a vulnerability's ``affects`` points at)."""
    found: list[Component] = []
    refs: dict[str, Component] = {}
    stack: list[tuple[str, Mapping[str, Any]]] = list(
        reversed(list(reader.objects(doc, "components", "")))
    )
    while stack:
        at, item = stack.pop()
        purl = reader.opt(item, "purl", f"{at}.")
        component = Component(
            name=reader.text(item, "name", f"{at}."),
            version=reader.opt(item, "version", f"{at}."),
            purl=purl,
            ecosystem=ecosystem_of(purl),
        )
        found.append(component)
        ref = reader.opt(item, "bom-ref", f"{at}.")
        if ref is not None:
            refs.setdefault(ref, component)
        stack.extend(reversed(list(reader.objects(item, "components", f"{at}."))))
    return found, refs


def _cyclonedx_subject(reader: Reader, doc: Mapping[str, Any]) -> tuple[str | None, frozenset[str]]:
    metadata = doc.get("metadata")
    if metadata is None:
        return None, frozenset()
    metadata = reader.obj(metadata, "metadata")
    if metadata.get("component") is None:
        return None, frozenset()
    subject = reader.obj(metadata["component"], "metadata.component")
    name = reader.text(subject, "name", "metadata.component.")
    digests = set()
    for at, entry in reader.objects(subject, "hashes", "metadata.component."):
        algorithm = reader.text(entry, "alg", f"{at}.")
        digest = _digest(reader, algorithm, entry.get("content"), f"{at}.content")
        if digest is not None:
            digests.add(digest)
    version = subject.get("version")
    if isinstance(version, str) and _VERSION_DIGEST.fullmatch(version):
        digests.add(version)  # exactly sha256:<hex>, never syft's sha256:sha256:<hex>
    return name, frozenset(digests)


def _cyclonedx(reader: Reader, doc: Mapping[str, Any]) -> Sbom:
    spec_version = cyclonedx_spec_version(reader, doc)
    subject_name, digests = _cyclonedx_subject(reader, doc)
    components, _ = cyclonedx_components(reader, doc)
    return Sbom(
        path=reader.path,
        format="cyclonedx",
        spec_version=spec_version,
        tools=tuple(_tool_line(n, v) for n, v in cyclonedx_tools(reader, doc)),
        subject_name=subject_name,
        subject_digests=digests,
        components=tuple(components),
    )


# SPDX ---------------------------------------------------------------------------


def _spdx_described(reader: Reader, doc: Mapping[str, Any], document_id: str) -> list[str]:
    """SPDX ids the document describes: ``documentDescribes`` and DESCRIBES relationships."""
    described = reader.strings(doc, "documentDescribes", "")
    for at, rel in reader.objects(doc, "relationships", ""):
        kind = reader.text(rel, "relationshipType", f"{at}.")
        element = reader.text(rel, "spdxElementId", f"{at}.")
        related = reader.text(rel, "relatedSpdxElement", f"{at}.")
        if kind == "DESCRIBES" and element == document_id:
            described.append(related)
        elif kind == "DESCRIBED_BY" and related == document_id:
            described.append(element)
    return list(dict.fromkeys(described))


def _spdx_checksums(reader: Reader, item: Mapping[str, Any], where: str) -> set[str]:
    out = set()
    for at, entry in reader.objects(item, "checksums", where):
        algorithm = reader.text(entry, "algorithm", f"{at}.")
        digest = _digest(reader, algorithm, entry.get("checksumValue"), f"{at}.checksumValue")
        if digest is not None:
            out.add(digest)
    return out


def _spdx_purl(reader: Reader, package: Mapping[str, Any], where: str) -> str | None:
    for at, ref in reader.objects(package, "externalRefs", where):
        if reader.opt(ref, "referenceType", f"{at}.") == "purl":
            return reader.text(ref, "referenceLocator", f"{at}.")
    return None


def _spdx(reader: Reader, doc: Mapping[str, Any]) -> Sbom:
    spdx_version = doc.get("spdxVersion")
    if spdx_version not in SPDX_VERSIONS:
        reader.fail(
            "spdxVersion",
            f"{_shown(spdx_version)} is not supported (supported: {', '.join(SPDX_VERSIONS)} JSON)",
        )
    document_id = reader.text(doc, "SPDXID", "")
    info = reader.obj(doc.get("creationInfo"), "creationInfo")
    creators = reader.strings(info, "creators", "creationInfo.")
    tools = tuple(c.removeprefix("Tool:").strip() for c in creators if c.startswith("Tool:"))
    described = _spdx_described(reader, doc, document_id)
    subjects: dict[str, tuple[str, set[str]]] = {}
    components = []
    for at, package in reader.objects(doc, "packages", ""):
        spdx_id = reader.text(package, "SPDXID", f"{at}.")
        name = reader.text(package, "name", f"{at}.")
        if spdx_id in described:
            subjects[spdx_id] = (name, _spdx_checksums(reader, package, f"{at}."))
            continue
        purl = _spdx_purl(reader, package, f"{at}.")
        version = reader.opt(package, "versionInfo", f"{at}.")
        components.append(Component(name, version, purl, ecosystem_of(purl)))
    for at, file in reader.objects(doc, "files", ""):
        spdx_id = reader.text(file, "SPDXID", f"{at}.")
        if spdx_id in described:
            name = reader.text(file, "fileName", f"{at}.")
            subjects[spdx_id] = (name, _spdx_checksums(reader, file, f"{at}."))
    first = next((subjects[i][0] for i in described if i in subjects), None)
    digests = frozenset(d for _, found in subjects.values() for d in found)
    return Sbom(
        path=reader.path,
        format="spdx",
        spec_version=str(spdx_version).removeprefix("SPDX-"),
        tools=tools,
        subject_name=first,
        subject_digests=digests,
        components=tuple(components),
    )
