"""Vulnerability scan results read from the files CI produced.

Pure functions over an already parsed document (:func:`charter.core.jsonio.loads`).
Supported: grype JSON (old and new schema), trivy JSON (``SchemaVersion`` 2; only
``Results[].Vulnerabilities`` are findings, misconfigurations and secrets are not
read), OSV-Scanner JSON (one finding per alias group), pip-audit JSON (the old
top-level array and the ``{"dependencies": [...]}`` object) and CycloneDX
documents carrying ``vulnerabilities`` (``grype``/``trivy -o cyclonedx-json``).

Defined answers:

* severities are normalised case-insensitively to :data:`SEVERITIES`; a CVSS score
  maps to critical (>= 9), high (>= 7), medium (>= 4), low (> 0), and a CVSS v3
  vector given without a score (OSV) is scored with the v3.1 base formula
  (:func:`cvss3_base_score`); anything else — pip-audit, which states none,
  included — is ``unknown``: never dropped, never lowered. Where a tool gives
  several ratings (CycloneDX ratings, the advisories of an OSV group), the worst counts;
* a run that audited nothing (pip-audit skipping every dependency or listing none, a
  CycloneDX BOM with no components or with no ``vulnerabilities`` section — an SBOM is
  not a scan —, a trivy report without a single package result, a grype run whose
  database was not valid) is ``audited=False`` with the reasons in
  ``not_audited``: not audited is never clean. A partly skipped pip-audit run is
  audited, and lists what it skipped;
* every finding is kept, whatever its status (trivy's ``Status``, grype's
  ``fix.state``, CycloneDX ``analysis.state``);
* control characters in any text (a NUL inside a version) are escaped as ``\\xNN``;
* a malformed document is an :class:`~charter.core.errors.InputError` naming the
  file and the field.
"""

from __future__ import annotations

import math
import posixpath
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from charter.facts.sboms import (
    Component,
    Reader,
    cyclonedx_components,
    cyclonedx_spec_version,
    cyclonedx_tools,
    escape_controls,
)

#: The proposal schema's severity enum, from least to most severe ("unknown" ranks
#: above "negligible": a finding nobody rated is not taken as harmless).
SEVERITIES = ("negligible", "unknown", "low", "medium", "high", "critical")

_HINT = (
    "pass the unmodified JSON report of grype, trivy, osv-scanner or pip-audit "
    "(or a CycloneDX BOM with vulnerabilities); see docs/design.md, "
    "'Facts: evidence — SBOMs and scans'"
)
_WORDS = {
    "negligible": "negligible",
    "none": "negligible",
    "info": "negligible",
    "informational": "negligible",
    "unknown": "unknown",
    "low": "low",
    "medium": "medium",
    "moderate": "medium",
    "high": "high",
    "important": "high",
    "critical": "critical",
}
_NOTHING_SCANNED = "the report has no package results, so nothing was scanned for vulnerabilities"
#: Versions tools write when they do not know their own.
_NO_VERSION = {"[not provided]"}


@dataclass(frozen=True)
class Finding:
    id: str
    severity: str
    package: str | None
    version: str | None
    fixed_in: str | None
    status: str | None


@dataclass(frozen=True)
class About:
    """What a report says it scanned (``charter.facts.scan_coverage`` judges it)."""

    #: The tool's own name for it (an image reference, a directory), for messages.
    target: str | None = None
    #: Dependency files scanned (trivy lang-pkgs targets, OSV lockfile sources).
    files: tuple[str, ...] = ()
    #: Directories scanned as a whole (grype ``dir:``, an OSV git source).
    directories: tuple[str, ...] = ()
    #: ``sha256:…`` of a scanned image: grype/trivy image ID, manifest and repo digests.
    digests: tuple[str, ...] = ()
    #: ``(name, version)`` of every package audited (pip-audit lists them all).
    packages: tuple[tuple[str, str | None], ...] = ()


@dataclass(frozen=True)
class Scan:
    path: str
    tool: str
    tool_version: str | None
    findings: tuple[Finding, ...]
    audited: bool
    not_audited: tuple[str, ...]
    about: About = About()


def normalise_severity(value: object) -> str:
    """One of :data:`SEVERITIES` for a tool's severity word or CVSS score."""
    if isinstance(value, bool):
        return "unknown"
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _WORDS:
            return _WORDS[word]
        try:
            value = float(word)
        except ValueError:
            return "unknown"
    if isinstance(value, int | float):
        return _from_score(float(value))
    return "unknown"


def _from_score(score: float) -> str:
    if not math.isfinite(score) or score <= 0 or score > 10:
        return "unknown"
    if score >= 9:
        return "critical"
    if score >= 7:
        return "high"
    if score >= 4:
        return "medium"
    return "low"


def worst(severities: Iterable[str]) -> str:
    """The most severe of ``severities``, each normalised (``unknown`` when there are none)."""
    normalised = (normalise_severity(s) for s in severities)
    return max(normalised, key=SEVERITIES.index, default="unknown")


def sniff_scan(document: object) -> bool:
    """Whether ``document`` looks like a scan result this module reads.

    A CycloneDX document counts only when it carries ``vulnerabilities``.
    """
    if isinstance(document, list):
        first = document[0] if document else None
        return isinstance(first, Mapping) and "name" in first and _pip_entry(first)
    if not isinstance(document, Mapping):
        return False
    kind = _kind(document)
    if kind == "cyclonedx":
        return "vulnerabilities" in document
    if kind == "pip-audit":
        return isinstance(document.get("dependencies"), list)
    return kind is not None


def _pip_entry(entry: Mapping[str, Any]) -> bool:
    return "vulns" in entry or "skip_reason" in entry


def _kind(document: object) -> str | None:
    if isinstance(document, list):
        return "pip-audit"
    if not isinstance(document, Mapping):
        return None
    if "bomFormat" in document:
        return "cyclonedx"
    if "matches" in document:
        return "grype"
    if "SchemaVersion" in document:
        return "trivy"
    if "results" in document:
        return "osv-scanner"
    if "dependencies" in document and set(document) <= {"dependencies", "fixes"}:
        return "pip-audit"
    return None


def parse_scan(document: Any, path: str) -> Scan:
    """The scan in ``document`` (read from ``path``); InputError when it is malformed."""
    reader = Reader(path, _HINT)
    kind = _kind(document)
    if kind == "pip-audit":
        return _pip_audit(reader, document)
    if kind is None:
        reader.fail(
            "",
            "not a vulnerability scan this version reads (grype, trivy, osv-scanner or "
            "pip-audit JSON, or a CycloneDX BOM with vulnerabilities)",
        )
    doc = reader.obj(document, "")
    if kind == "cyclonedx":
        return _cyclonedx(reader, doc)
    if kind == "grype":
        return _grype(reader, doc)
    if kind == "trivy":
        return _trivy(reader, doc)
    return _osv(reader, doc)


def scan_to_json(scan: Scan) -> dict[str, Any]:
    """The proposal's ``dependencies.scan`` object for one scan."""
    tool = scan.tool if scan.tool_version is None else f"{scan.tool} {scan.tool_version}"
    source = escape_controls(scan.path)
    return {
        "tool": scan.tool,
        "tools": [tool],
        "audited": scan.audited,
        "not_audited": list(scan.not_audited),
        "findings": [
            {
                "id": f.id,
                "severity": f.severity,
                "package": f.package,
                "version": f.version,
                "fixed_in": f.fixed_in,
                "status": f.status,
                "source": source,
            }
            for f in scan.findings
        ],
    }


def about_to_json(scan: Scan) -> dict[str, Any]:
    """What ``scan`` is about, as JSON (the evidence keeps it beside the merged scan)."""
    about = scan.about
    return {
        "source": escape_controls(scan.path),
        "target": about.target,
        "files": list(about.files),
        "directories": list(about.directories),
        "digests": list(about.digests),
        "packages": [list(p) for p in about.packages],
    }


_IMAGE_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def _image_digests(values: Iterable[str | None]) -> tuple[str, ...]:
    """The ``sha256:<hex>`` digests among image IDs and ``name@sha256:…`` references."""
    found = (v.rsplit("@", 1)[-1] for v in values if v)
    return tuple(dict.fromkeys(d for d in found if _IMAGE_DIGEST.fullmatch(d)))


def _joined_path(base: str | None, target: str) -> str:
    if base is None or target.startswith("/"):
        return posixpath.normpath(target)
    return posixpath.normpath(posixpath.join(base, target))


def _tool_version(version: str | None) -> str | None:
    return None if version in _NO_VERSION else version


def _joined(values: Iterable[str]) -> str | None:
    return ", ".join(dict.fromkeys(values)) or None


# grype --------------------------------------------------------------------------


def _grype(reader: Reader, doc: Mapping[str, Any]) -> Scan:
    reader.arr(doc.get("matches"), "matches")
    descriptor = reader.opt_obj(doc, "descriptor", "descriptor")
    findings = []
    for at, match in reader.objects(doc, "matches", ""):
        vuln = reader.obj(match.get("vulnerability"), f"{at}.vulnerability")
        artifact = reader.obj(match.get("artifact"), f"{at}.artifact")
        fix = reader.opt_obj(vuln, "fix", f"{at}.vulnerability.fix")
        versions = reader.strings(fix, "versions", f"{at}.vulnerability.fix.")
        findings.append(
            Finding(
                id=reader.text(vuln, "id", f"{at}.vulnerability."),
                severity=normalise_severity(vuln.get("severity")),
                package=reader.text(artifact, "name", f"{at}.artifact."),
                version=reader.opt(artifact, "version", f"{at}.artifact."),
                fixed_in=_joined(versions)
                or reader.opt(vuln, "fixedInVersion", f"{at}.vulnerability."),
                status=reader.opt(fix, "state", f"{at}.vulnerability.fix."),
            )
        )
    not_audited = _grype_database(reader, descriptor)
    return Scan(
        path=reader.path,
        tool=reader.opt(descriptor, "name", "descriptor.") or "grype",
        tool_version=_tool_version(reader.opt(descriptor, "version", "descriptor.")),
        findings=tuple(findings),
        audited=not not_audited,
        not_audited=tuple(not_audited),
        about=_grype_about(reader, reader.opt_obj(doc, "source", "source")),
    )


def _grype_about(reader: Reader, source: Mapping[str, Any]) -> About:
    """grype's ``source``: an image (its IDs and digests), a directory or a file."""
    kind = reader.opt(source, "type", "source.")
    target = source.get("target")
    if isinstance(target, str):
        path = posixpath.normpath(escape_controls(target))
        if kind == "directory":
            return About(target=path, directories=(path,))
        return About(target=path, files=(path,) if kind == "file" else ())
    if kind != "image" or target is None:
        return About()
    image = reader.obj(target, "source.target")
    ids = [
        reader.opt(image, "imageID", "source.target."),
        reader.opt(image, "manifestDigest", "source.target."),
        *reader.strings(image, "repoDigests", "source.target."),
    ]
    return About(
        target=reader.opt(image, "userInput", "source.target."), digests=_image_digests(ids)
    )


def _grype_database(reader: Reader, descriptor: Mapping[str, Any]) -> list[str]:
    """Why the vulnerability database grype used cannot be trusted, if it says so."""
    db = reader.opt_obj(descriptor, "db", "descriptor.db")
    problems = []
    error = reader.opt(db, "error", "descriptor.db.")
    if error is not None:
        problems.append(f"grype vulnerability database: {error}")
    status = reader.opt_obj(db, "status", "descriptor.db.status")
    detail = reader.opt(status, "error", "descriptor.db.status.")
    if detail is not None or status.get("valid") is False:
        problems.append(f"grype vulnerability database: {detail or 'not valid'}")
    return problems


# trivy --------------------------------------------------------------------------


def _trivy(reader: Reader, doc: Mapping[str, Any]) -> Scan:
    if doc.get("SchemaVersion") != 2 or isinstance(doc.get("SchemaVersion"), bool):
        shown = repr(doc.get("SchemaVersion"))[:40]
        reader.fail("SchemaVersion", f"trivy report schema {shown} is not supported (2 is)")
    trivy = reader.opt_obj(doc, "Trivy", "Trivy")
    findings = []
    scanned = False
    name = reader.opt(doc, "ArtifactName", "")
    files: list[str] = []
    for at, result in reader.objects(doc, "Results", ""):
        kind = reader.opt(result, "Class", f"{at}.")
        if kind in ("os-pkgs", "lang-pkgs") or "Vulnerabilities" in result or "Packages" in result:
            scanned = True
        target = reader.opt(result, "Target", f"{at}.")
        if kind == "lang-pkgs" and target is not None:
            files.append(_joined_path(name, target))
        for where, vuln in reader.objects(result, "Vulnerabilities", f"{at}."):
            findings.append(
                Finding(
                    id=reader.text(vuln, "VulnerabilityID", f"{where}."),
                    severity=normalise_severity(vuln.get("Severity")),
                    package=reader.opt(vuln, "PkgName", f"{where}."),
                    version=reader.opt(vuln, "InstalledVersion", f"{where}."),
                    fixed_in=reader.opt(vuln, "FixedVersion", f"{where}."),
                    status=reader.opt(vuln, "Status", f"{where}."),
                )
            )
    target = name or reader.shown
    not_audited = () if scanned else (f"{target}: {_NOTHING_SCANNED}",)
    image = reader.opt(doc, "ArtifactType", "") == "container_image"
    metadata = reader.opt_obj(doc, "Metadata", "Metadata")
    ids = [
        reader.opt(metadata, "ImageID", "Metadata."),
        *reader.strings(metadata, "RepoDigests", "Metadata."),
    ]
    return Scan(
        path=reader.path,
        tool="trivy",
        tool_version=_tool_version(reader.opt(trivy, "Version", "Trivy.")),
        findings=tuple(findings),
        audited=scanned,
        not_audited=not_audited,
        about=About(
            target=name,
            files=() if image else tuple(dict.fromkeys(files)),
            digests=_image_digests(ids) if image else (),
        ),
    )


# OSV-Scanner --------------------------------------------------------------------


def _osv(reader: Reader, doc: Mapping[str, Any]) -> Scan:
    reader.arr(doc.get("results"), "results")
    findings = []
    files: list[str] = []
    directories: list[str] = []
    for at, result in reader.objects(doc, "results", ""):
        source = reader.opt_obj(result, "source", f"{at}.source")
        path = reader.opt(source, "path", f"{at}.source.")
        if path is not None:
            kind = reader.opt(source, "type", f"{at}.source.")
            (directories if kind == "git" else files).append(posixpath.normpath(path))
        for where, package in reader.objects(result, "packages", f"{at}."):
            findings.extend(_osv_package(reader, package, where))
    return Scan(
        path=reader.path,
        tool="osv-scanner",
        tool_version=None,
        findings=tuple(findings),
        audited=True,
        not_audited=(),
        about=About(
            target=next(iter(files + directories), None),
            files=tuple(files),
            directories=tuple(directories),
        ),
    )


def _osv_package(reader: Reader, package: Mapping[str, Any], at: str) -> list[Finding]:
    info = reader.obj(package.get("package"), f"{at}.package")
    name = reader.opt(info, "name", f"{at}.package.")
    version = reader.opt(info, "version", f"{at}.package.") or reader.opt(
        info, "commit", f"{at}.package."
    )
    vulns: dict[str, tuple[str, str | None]] = {}
    for where, vuln in reader.objects(package, "vulnerabilities", f"{at}."):
        ident = reader.text(vuln, "id", f"{where}.")
        vulns[ident] = (_osv_severity(reader, vuln, where), _osv_fixed(reader, vuln, where, name))
    findings = []
    grouped: set[str] = set()
    for where, group in reader.objects(package, "groups", f"{at}."):
        ids = reader.strings(group, "ids", f"{where}.")
        if not ids:
            reader.fail(f"{where}.ids", "must name at least one vulnerability")
        grouped.update(ids)
        known = [vulns[i] for i in ids if i in vulns]
        severity = normalise_severity(group.get("max_severity"))
        if severity == "unknown":
            severity = worst(s for s, _ in known)
        fixed = _joined(f for _, fixed in known if fixed for f in fixed.split(", "))
        findings.append(Finding(ids[0], severity, name, version, fixed, None))
    for ident, (severity, fixed) in vulns.items():
        if ident not in grouped:
            findings.append(Finding(ident, severity, name, version, fixed, None))
    return findings


def _osv_severity(reader: Reader, vuln: Mapping[str, Any], at: str) -> str:
    """The worst of the advisory's own severity and its CVSS v3 vectors' base scores."""
    specific = reader.opt_obj(vuln, "database_specific", f"{at}.database_specific")
    rated = [normalise_severity(specific.get("severity"))]
    for where, entry in reader.objects(vuln, "severity", f"{at}."):
        vector = reader.opt(entry, "score", f"{where}.")
        if reader.opt(entry, "type", f"{where}.") == "CVSS_V3" and vector is not None:
            rated.append(normalise_severity(cvss3_base_score(vector)))
    return worst(rated)


def _osv_fixed(reader: Reader, vuln: Mapping[str, Any], at: str, name: str | None) -> str | None:
    fixed = []
    for where, affected in reader.objects(vuln, "affected", f"{at}."):
        subject = reader.opt_obj(affected, "package", f"{where}.package")
        if name is not None and reader.opt(subject, "name", f"{where}.package.") not in (
            None,
            name,
        ):
            continue
        for ranges_at, ranges in reader.objects(affected, "ranges", f"{where}."):
            # A GIT range's fix is a commit: the fix for a package known by its commit only.
            if name is not None and reader.opt(ranges, "type", f"{ranges_at}.") == "GIT":
                continue
            for event_at, event in reader.objects(ranges, "events", f"{ranges_at}."):
                version = reader.opt(event, "fixed", f"{event_at}.")
                if version is not None:
                    fixed.append(version)
    return _joined(fixed)


# pip-audit ----------------------------------------------------------------------


def _pip_audit(reader: Reader, document: Any) -> Scan:
    if isinstance(document, list):
        entries, where = document, ""
    else:
        entries = reader.arr(reader.obj(document, "").get("dependencies"), "dependencies")
        where = "dependencies"
    findings = []
    skipped = []
    packages: list[tuple[str, str | None]] = []
    audited = False
    for index, item in enumerate(entries):
        at = f"{where}[{index}]"
        dependency = reader.obj(item, at)
        name = reader.text(dependency, "name", f"{at}.")
        reason = reader.opt(dependency, "skip_reason", f"{at}.")
        if reason is not None:
            skipped.append(f"{name}: {reason}")
            continue
        if "vulns" not in dependency:
            reader.fail(at, "has neither 'vulns' nor 'skip_reason'")
        audited = True
        version = reader.opt(dependency, "version", f"{at}.")
        packages.append((name, version))
        for vuln_at, vuln in reader.objects(dependency, "vulns", f"{at}."):
            fixes = reader.strings(vuln, "fix_versions", f"{vuln_at}.")
            ident = reader.text(vuln, "id", f"{vuln_at}.")
            findings.append(Finding(ident, "unknown", name, version, _joined(fixes), None))
    if not entries:
        skipped.append("pip-audit listed no dependencies, so nothing was audited")
    return Scan(
        path=reader.path,
        tool="pip-audit",
        tool_version=None,
        findings=tuple(findings),
        audited=audited,
        not_audited=tuple(skipped),
        about=About(packages=tuple(packages)),
    )


# CycloneDX ----------------------------------------------------------------------


def _cyclonedx(reader: Reader, doc: Mapping[str, Any]) -> Scan:
    cyclonedx_spec_version(reader, doc)
    tools = cyclonedx_tools(reader, doc)
    components, refs = cyclonedx_components(reader, doc)
    findings = []
    for at, vuln in reader.objects(doc, "vulnerabilities", ""):
        ident = reader.text(vuln, "id", f"{at}.")
        severity = _cyclonedx_severity(reader, vuln, at)
        analysis = reader.opt_obj(vuln, "analysis", f"{at}.analysis")
        status = reader.opt(analysis, "state", f"{at}.analysis.")
        affects = list(reader.objects(vuln, "affects", f"{at}."))
        if not affects:
            findings.append(Finding(ident, severity, None, None, None, status))
        for where, affected in affects:
            ref = reader.text(affected, "ref", f"{where}.")
            component = refs.get(ref)
            package, version = (
                (ref, None) if component is None else (component.name, component.version)
            )
            findings.append(Finding(ident, severity, package, version, None, status))
    reasons = _cyclonedx_unaudited(components, findings, "vulnerabilities" in doc)
    name, version = tools[0] if tools else ("unknown", None)
    return Scan(
        path=reader.path,
        tool=name,
        tool_version=_tool_version(version),
        findings=tuple(findings),
        audited=not reasons,
        not_audited=reasons,
    )


def _cyclonedx_unaudited(
    components: list[Component], findings: list[Finding], has_section: bool
) -> tuple[str, ...]:
    """Why a CycloneDX document does not show an audit: no components, or no
    ``vulnerabilities`` section at all (an SBOM is not a scan)."""
    if findings:
        return ()
    if not components:
        return ("the CycloneDX BOM lists no components, so nothing was audited",)
    if not has_section:
        return ("the CycloneDX BOM has no 'vulnerabilities' section, so it records no scan",)
    return ()


def _cyclonedx_severity(reader: Reader, vuln: Mapping[str, Any], at: str) -> str:
    rated: list[str] = []
    for where, rating in reader.objects(vuln, "ratings", f"{at}."):
        rated.extend(
            normalise_severity(rating[key])
            for key in ("severity", "score")
            if rating.get(key) is not None
        )
        vector = reader.opt(rating, "vector", f"{where}.")
        if vector is not None and rating.get("score") is None:
            rated.append(normalise_severity(cvss3_base_score(vector)))
    return worst(rated)


# CVSS v3 ------------------------------------------------------------------------

_CVSS3 = {
    "AV": {"N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2},
    "AC": {"L": 0.77, "H": 0.44},
    "PR": {"N": 0.85, "L": 0.62, "H": 0.27},
    "UI": {"N": 0.85, "R": 0.62},
    "S": {"U": 0.0, "C": 0.0},
    "C": {"H": 0.56, "L": 0.22, "N": 0.0},
    "I": {"H": 0.56, "L": 0.22, "N": 0.0},
    "A": {"H": 0.56, "L": 0.22, "N": 0.0},
}
#: Privileges Required weighs more when the scope changes.
_PR_CHANGED = {"L": 0.68, "H": 0.5}


def cvss3_base_score(vector: str) -> float | None:
    """The CVSS v3.0/v3.1 base score of ``vector`` (``CVSS:3.1/AV:N/...``), or ``None``
    when it is not a complete v3 vector. Temporal and environmental metrics are ignored."""
    parts = vector.strip().split("/")
    if parts[0] not in ("CVSS:3.0", "CVSS:3.1"):
        return None
    metrics: dict[str, str] = {}
    for part in parts[1:]:
        key, _, value = part.partition(":")
        if key in metrics:
            return None
        metrics[key] = value
    if any(metrics.get(k) not in weights for k, weights in _CVSS3.items()):
        return None
    changed = metrics["S"] == "C"
    weight = {k: _CVSS3[k][metrics[k]] for k in _CVSS3}
    if changed and metrics["PR"] in _PR_CHANGED:
        weight["PR"] = _PR_CHANGED[metrics["PR"]]
    iss = 1 - (1 - weight["C"]) * (1 - weight["I"]) * (1 - weight["A"])
    if changed:
        impact = 7.52 * (iss - 0.029) - 3.25 * (iss - 0.02) ** 15
    else:
        impact = 6.42 * iss
    if impact <= 0:
        return 0.0
    exploitability = 8.22 * weight["AV"] * weight["AC"] * weight["PR"] * weight["UI"]
    total = (impact + exploitability) * (1.08 if changed else 1.0)
    return _round_up(min(total, 10.0))


def _round_up(value: float) -> float:
    """CVSS v3.1's Roundup: the smallest one-decimal number >= value, float-safe."""
    scaled = round(value * 100000)
    if scaled % 10000 == 0:
        return scaled / 100000.0
    return (scaled // 10000 + 1) / 10.0
