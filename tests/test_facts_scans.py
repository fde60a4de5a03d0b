"""Vulnerability scans read from real scanner output, and from documents made hostile.

Every file under tests/assets/evidence/vuln/ (and the trivy CycloneDX report under
sbom/) is real tool output (provenance in tests/assets/evidence/README.md); the
expected values below were read from the files themselves. Mutated documents are
built in the tests from those files; inline documents are format examples.
"""

from __future__ import annotations

import copy
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import event, given

from charter.core import jsonio
from charter.core.errors import InputError
from charter.facts.scans import (
    SEVERITIES,
    Finding,
    Scan,
    cvss3_base_score,
    normalise_severity,
    parse_scan,
    scan_to_json,
    sniff_scan,
    worst,
)
from charter.policy.proposal import validate
from tests.test_facts_sboms import JSON_VALUES, load, mutated, strings_in

ASSETS = Path(__file__).parent / "assets" / "evidence"

GRYPE_EPSS = "vuln/grype/defectdojo/many_vulns_with_epss_values.json"
GRYPE_NUL = "vuln/grype/defectdojo/fix_available.json"
GRYPE_LOG4J = "vuln/grype/defectdojo/log4j.json"
TRIVY_STATUSES = "vuln/trivy/defectdojo/all_statuses.json"
TRIVY_MIXED = "vuln/trivy/defectdojo/misconfigurations_and_secrets.json"
TRIVY_PIP = "vuln/trivy/aquasecurity-trivy/pip.json.golden"
TRIVY_POM_CDX = "sbom/aquasecurity-trivy/pom-cyclonedx.json.golden"
OSV_MANY = "vuln/osv-scanner/defectdojo/many_findings.json"
OSV_SOME = "vuln/osv-scanner/defectdojo/some_findings.json"
PIP_NEW = "vuln/pip-audit/defectdojo/many_vulns_new.json"
PIP_OLD = "vuln/pip-audit/defectdojo/many_vulns.json"
PIP_ZERO = "vuln/pip-audit/defectdojo/zero_vulns_new.json"
PIP_OFFLINE = "vuln/pip-audit/local-offline/pip-audit-2.10.1.offline.json"
PIP_OFFLINE_CDX = "vuln/pip-audit/local-offline/pip-audit-2.10.1.offline.cdx.json"
AZURE_SKIPPED = (
    "azure-devops: Dependency not found on PyPI and could not be audited: azure-devops (0.17.0)"
)
PIP_FINDINGS = [
    Finding("PYSEC-2021-76", "unknown", "aiohttp", "3.6.2", "3.7.4", None),
    Finding("PYSEC-2021-439", "unknown", "django", "3.2.9", "2.2.25, 3.1.14, 3.2.10", None),
    Finding("PYSEC-2021-852", "unknown", "lxml", "4.6.4", None, None),
]
GRYPE_SYNTHETIC = [
    Finding("CVE-1999-0001", "low", "package-1", "1.1.1", "1.2.1, 2.1.3, 3.4.0", "fixed"),
    Finding("CVE-1999-0002", "critical", "package-2", "2.2.2", None, None),
]

# file -> (tool, tool version, severity counts, audited, not_audited, findings that must be there)
REAL: dict[str, tuple[Any, ...]] = {
    GRYPE_EPSS: (
        "grype", "0.94.0", {"critical": 1, "high": 10, "medium": 2, "low": 2}, True, (),
        [
            Finding("CVE-2022-48174", "critical", "busybox", "1.32.1", None, None),
            Finding("CVE-2021-42376", "medium", "busybox", "1.32.1", "1.34.0", "fixed"),
            Finding("CVE-2025-46394", "low", "busybox", "1.32.1", None, None),
        ],
    ),
    # The NUL inside the version is kept, escaped.
    GRYPE_NUL: (
        "grype", "0.75.0", {"high": 1}, True, (),
        [Finding("CVE-2009-3882", "high", "java", "17.0.10+7\\x00-J-ms8m", "1.2.3", "fixed")],
    ),
    "vuln/grype/defectdojo/no_vuln.json": ("grype", "0.7.0", {}, True, (), []),
    "vuln/grype/anchore-grype/TestJsonImgsPresenter.golden": (
        "grype", None, {"low": 1, "critical": 1}, True, (), GRYPE_SYNTHETIC,
    ),
    "vuln/grype/anchore-grype/TestJsonDirsPresenter.golden": (
        "grype", None, {"low": 1, "critical": 1}, True, (), GRYPE_SYNTHETIC,
    ),
    GRYPE_LOG4J: (
        "grype", "0.41.0", {"critical": 4, "high": 1, "medium": 3}, True, (),
        [
            Finding("CVE-2021-44228", "critical", "log4j-core", "2.13.2", None, "in_triage"),
            Finding("CVE-2021-45105", "medium", "log4j-core", "2.13.2", None, "in_triage"),
            Finding("GHSA-p6xc-xr62-6r2g", "high", "log4j-core", "2.13.2", None, "in_triage"),
        ],
    ),
    TRIVY_POM_CDX: (
        "trivy", "dev", {"critical": 1, "high": 1}, True, (),
        [
            Finding("CVE-2020-9548", "critical", "jackson-databind", "2.9.1", None, None),
            Finding("CVE-2021-20190", "high", "jackson-databind", "2.9.1", None, None),
        ],
    ),
    TRIVY_PIP: (
        "trivy", "dev", {"high": 1, "medium": 1}, True, (),
        [
            Finding("CVE-2019-14806", "high", "Werkzeug", "0.11", "0.15.3", "fixed"),
            Finding("CVE-2020-28724", "medium", "Werkzeug", "0.11", "0.11.6", "fixed"),
        ],
    ),
    "vuln/trivy/aquasecurity-trivy/poetry.json.golden": (
        "trivy", "dev", {"high": 1}, True, (),
        [Finding("CVE-2019-14806", "high", "werkzeug", "0.14", "0.15.3", "fixed")],
    ),
    "vuln/trivy/aquasecurity-trivy/yarn.json.golden": (
        "trivy", "dev", {"medium": 1}, True, (),
        [Finding("CVE-2019-11358", "medium", "jquery", "3.2.1", "3.4.0", "fixed")],
    ),
    "vuln/trivy/aquasecurity-trivy/alpine-39-high-critical.json.golden": (
        "trivy", "dev", {"critical": 2}, True, (),
        [
            Finding("CVE-2019-14697", "critical", "musl", "1.1.20-r4", "1.1.20-r5", "fixed"),
            Finding("CVE-2019-14697", "critical", "musl-utils", "1.1.20-r4", "1.1.20-r5", "fixed"),
        ],
    ),
    "vuln/trivy/defectdojo/cvssv4_severity_source.json": (
        "trivy", "0.69.1", {"medium": 1, "low": 2}, True, (),
        [
            Finding(
                "CVE-2025-66614", "medium", "org.apache.tomcat:tomcat-catalina", "9.0.109",
                "11.0.14, 10.1.49, 9.0.112", "fixed",
            ),
        ],
    ),
    TRIVY_STATUSES: (
        "trivy", None, {"low": 8}, True, (),
        [
            Finding("CVE-2011-3374", "low", "apt", "1.8.2.3", None, "unknown"),
            Finding("CVE-2019-18276", "low", "bash", "5.0-4", None, "not_affected"),
            Finding("CVE-2018-12698", "low", "binutils", "2.31.1-16", None, "will_not_fix"),
        ],
    ),
    # Misconfigurations and secrets are not findings of a vulnerability scan.
    TRIVY_MIXED: (
        "trivy", None, {"high": 1, "medium": 1}, True, (),
        [
            Finding("CVE-2021-33503", "high", "urllib3", "1.26.3", "1.26.5", None),
            Finding("CVE-2021-28363", "medium", "urllib3", "1.26.3", "1.26.4", None),
        ],
    ),
    # One finding per alias group; its severity is the worst of the group's advisories'
    # database_specific.severity and CVSS v3 vectors.
    OSV_MANY: (
        "osv-scanner", None, {"critical": 5, "high": 20, "medium": 12}, True, (),
        [
            Finding(
                "GHSA-25mq-v84q-4j7r", "high", "guzzlehttp/guzzle", "6.3.3", "6.5.8, 7.4.5", None
            ),
            # A group of two advisories: the fixes of both.
            Finding(
                "GHSA-q7rv-6hp3-vh96", "medium", "guzzlehttp/psr7", "1.6.1",
                "1.8.4, 2.1.1, 1.9.1, 2.4.5", None,
            ),
            Finding(
                "GHSA-2gwj-7jmv-h26r", "critical", "django", "3.2.4", "2.2.28, 3.2.13, 4.0.4", None
            ),
            # GHSA says MODERATE (its vector: 5.7); PYSEC-2023-221 in the same group
            # carries CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H (7.5): the worst counts.
            Finding("GHSA-hrfv-mqp8-q5rw", "high", "werkzeug", "2.2.3", "3.0.1, 2.3.8", None),
            # No advisory severity (PYSEC only): its vector (7.5); the GIT range's fix
            # commit is left out, the release is kept.
            Finding("PYSEC-2023-206", "high", "selenium", "3.141.0", "4.14.0", None),
            # A git source: no package name, the commit stands for the version; 8.8.
            Finding(
                "CVE-2023-50094", "high", None, "f5f3c22f3ed5a6804a2a8d9ee9fa43044cfa24a6", None,
                None,
            ),
        ],
    ),
    OSV_SOME: (
        "osv-scanner", None, {"unknown": 1}, True, (),
        [Finding("MAL-2023-1035", "unknown", "flot-axis", "0.0.0", None, None)],
    ),
    PIP_NEW: ("pip-audit", None, {"unknown": 7}, True, (AZURE_SKIPPED,), PIP_FINDINGS),
    PIP_OLD: ("pip-audit", None, {"unknown": 7}, True, (AZURE_SKIPPED,), PIP_FINDINGS),
    PIP_ZERO: ("pip-audit", None, {}, True, (AZURE_SKIPPED,), []),
    # Every dependency skipped, exit 0, "No known vulnerabilities found": not audited.
    PIP_OFFLINE: (
        "pip-audit", None, {}, False,
        ("protobuf: Dependency not found on PyPI and could not be audited: protobuf (4.25.8)",),
        [],
    ),
}  # fmt: skip

SCAN_FILES = sorted(n for n in REAL if n != PIP_OFFLINE_CDX)


def test_every_scan_asset_is_covered() -> None:
    on_disk = {str(p.relative_to(ASSETS)) for p in (ASSETS / "vuln").rglob("*") if p.is_file()}
    assert on_disk == {n for n in REAL if n.startswith("vuln/")} | {PIP_OFFLINE_CDX}


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_scan(name: str) -> None:
    tool, version, severities, audited, not_audited, expected = REAL[name]
    document = load(name)
    assert sniff_scan(document)
    scan = parse_scan(document, name)
    assert (scan.path, scan.tool, scan.tool_version) == (name, tool, version)
    assert Counter(f.severity for f in scan.findings) == Counter(severities)
    assert (scan.audited, scan.not_audited) == (audited, not_audited)
    for finding in expected:
        assert finding in scan.findings


def test_trivy_keeps_every_status() -> None:
    scan = parse_scan(load(TRIVY_STATUSES), TRIVY_STATUSES)
    assert [f.status for f in scan.findings] == [
        "unknown",
        "not_affected",
        "affected",
        "fixed",
        "under_investigation",
        "will_not_fix",
        "fix_deferred",
        "end_of_life",
    ]


def test_osv_counts_one_finding_per_group() -> None:
    scan = parse_scan(load(OSV_MANY), OSV_MANY)
    assert len(scan.findings) == 37
    assert Counter(f.package for f in scan.findings)["django"] == 20


def test_empty_cyclonedx_bom_is_not_audited() -> None:
    """pip-audit's CycloneDX output of the offline run: an empty BOM is not a clean scan."""
    document = load(PIP_OFFLINE_CDX)
    assert not sniff_scan(document)
    scan = parse_scan(document, PIP_OFFLINE_CDX)
    assert scan == Scan(
        path=PIP_OFFLINE_CDX,
        tool="unknown",
        tool_version=None,
        findings=(),
        audited=False,
        not_audited=("the CycloneDX BOM lists no components, so nothing was audited",),
    )


def test_an_sbom_without_vulnerabilities_records_no_scan() -> None:
    name = "sbom/local-generated/syft-1.18.1.cdx-1.6.json"
    document = load(name)
    assert not sniff_scan(document)
    scan = parse_scan(document, name)
    assert (scan.tool, scan.audited, scan.findings) == ("syft", False, ())
    assert "no 'vulnerabilities' section" in scan.not_audited[0]
    document["vulnerabilities"] = []
    assert sniff_scan(document)
    assert parse_scan(document, name).audited


@pytest.mark.parametrize(
    "name",
    [
        "sbom/anchore-syft/2.3.json",
        "sbom/local-generated/syft-1.18.1.syft.json",
        "sbom/local-generated/cdxgen-12.8.4.yarn.cdx-1.6.json",
    ],
)
def test_sboms_are_not_scans(name: str) -> None:
    assert not sniff_scan(load(name))


@pytest.mark.parametrize(
    "document",
    [None, 1, "x", [], [1], [{"name": "a"}], {}, {"dependencies": {"a": "1"}}, {"packages": []}],
)
def test_sniff_refuses_what_is_not_a_scan(document: object) -> None:
    assert not sniff_scan(document)


def test_sniff_takes_the_old_pip_audit_list() -> None:
    assert sniff_scan([{"name": "a", "version": "1", "vulns": []}])


def test_trivy_without_package_results_is_not_audited() -> None:
    """A report holding only misconfigurations and secrets scanned no packages."""
    document = load(TRIVY_MIXED)
    document["Results"] = [r for r in document["Results"] if r["Class"] != "lang-pkgs"]
    scan = parse_scan(document, TRIVY_MIXED)
    assert (scan.findings, scan.audited) == ((), False)
    assert scan.not_audited == (
        ".: the report has no package results, so nothing was scanned for vulnerabilities",
    )
    del document["Results"]
    assert not parse_scan(document, TRIVY_MIXED).audited


def test_trivy_clean_package_result_is_audited() -> None:
    document = load(TRIVY_PIP)
    del document["Results"][0]["Vulnerabilities"]
    scan = parse_scan(document, TRIVY_PIP)
    assert (scan.findings, scan.audited, scan.not_audited) == ((), True, ())


def test_grype_with_an_invalid_database_is_not_audited() -> None:
    document = load(GRYPE_EPSS)
    document["descriptor"]["db"]["status"]["valid"] = False
    scan = parse_scan(document, GRYPE_EPSS)
    assert not scan.audited
    assert scan.not_audited == ("grype vulnerability database: not valid",)
    assert len(scan.findings) == 15


def test_pip_audit_without_dependencies_audited_nothing() -> None:
    for document in ([], {"dependencies": [], "fixes": []}):
        scan = parse_scan(document, "audit.json")
        assert (scan.audited, scan.findings) == (False, ())
        assert scan.not_audited == ("pip-audit listed no dependencies, so nothing was audited",)


def test_osv_max_severity_wins_and_ungrouped_vulnerabilities_are_kept() -> None:
    document = load(OSV_SOME)
    package = document["results"][0]["packages"][0]
    package["groups"][0]["max_severity"] = "9.8"
    assert parse_scan(document, OSV_SOME).findings[0].severity == "critical"
    package["groups"] = []
    assert [f.id for f in parse_scan(document, OSV_SOME).findings] == ["MAL-2023-1035"]
    del package["groups"]
    assert [f.id for f in parse_scan(document, OSV_SOME).findings] == ["MAL-2023-1035"]


def test_cyclonedx_vulnerability_affecting_two_components_is_two_findings() -> None:
    document = load(TRIVY_POM_CDX)
    vuln = document["vulnerabilities"][0]
    vuln["affects"].append({"ref": "pkg:maven/com.example/log4shell@1.0-SNAPSHOT"})
    vuln["affects"].append({"ref": "not-in-this-bom"})
    vuln["analysis"] = {"state": "not_affected"}
    found = [f for f in parse_scan(document, "x").findings if f.id == "CVE-2020-9548"]
    assert [(f.package, f.version, f.status) for f in found] == [
        ("jackson-databind", "2.9.1", "not_affected"),
        ("log4shell", "1.0-SNAPSHOT", "not_affected"),
        ("not-in-this-bom", None, "not_affected"),
    ]


def test_old_grype_match_with_fixed_in_version() -> None:
    """Format example (hand-written, not tool output): early grype put the fix in
    ``vulnerability.fixedInVersion`` and had no ``fix`` object."""
    document = {
        "matches": [
            {
                "vulnerability": {
                    "id": "CVE-2020-0001",
                    "severity": "High",
                    "fixedInVersion": "1.2",
                },
                "artifact": {"name": "libfoo", "version": "1.0", "type": "deb"},
            }
        ],
        "source": {"type": "image", "target": {"userInput": "foo:1"}},
    }
    assert sniff_scan(document)
    scan = parse_scan(document, "old.json")
    assert (scan.tool, scan.tool_version, scan.audited) == ("grype", None, True)
    assert scan.findings == (Finding("CVE-2020-0001", "high", "libfoo", "1.0", "1.2", None),)


def test_cyclonedx_worst_rating_counts_whatever_its_place() -> None:
    document = load(TRIVY_POM_CDX)
    vuln = document["vulnerabilities"][1]  # CVE-2021-20190, rated high by every source
    vuln["ratings"] = [
        {"source": {"name": "a"}, "severity": "low"},
        {"source": {"name": "b"}, "score": 9.1, "method": "CVSSv31"},
        {"source": {"name": "c"}, "severity": "unknown"},
    ]
    assert parse_scan(document, "x").findings[1].severity == "critical"
    vuln["ratings"] = []
    assert parse_scan(document, "x").findings[1].severity == "unknown"


def test_an_unrecognised_severity_is_unknown_never_dropped() -> None:
    document = load(TRIVY_PIP)
    document["Results"][0]["Vulnerabilities"][0]["Severity"] = "SEVERE"
    document["Results"][0]["Vulnerabilities"][1]["Severity"] = None
    scan = parse_scan(document, TRIVY_PIP)
    assert [f.severity for f in scan.findings] == ["unknown", "unknown"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("CRITICAL", "critical"),
        ("High", "high"),
        ("important", "high"),
        ("MODERATE", "medium"),
        (" medium ", "medium"),
        ("Low", "low"),
        ("Negligible", "negligible"),
        ("none", "negligible"),
        ("info", "negligible"),
        ("Unknown", "unknown"),
        ("", "unknown"),
        ("severe", "unknown"),
        (10, "critical"),
        (9.0, "critical"),
        (8.9, "high"),
        (7, "high"),
        (6.99, "medium"),
        (4.0, "medium"),
        (3.9, "low"),
        (0.1, "low"),
        ("7.5", "high"),
        (0, "unknown"),
        (-1, "unknown"),
        (10.1, "unknown"),
        ("nan", "unknown"),
        ("inf", "unknown"),
        (True, "unknown"),
        (None, "unknown"),
        ([], "unknown"),
        ({"severity": "high"}, "unknown"),
    ],
)
def test_normalise_severity(value: object, expected: str) -> None:
    assert normalise_severity(value) == expected


def _scored_vectors() -> set[tuple[str, float]]:
    """Every (CVSS v3 vector, base score) pair the real scans state side by side."""
    pairs: set[tuple[str, float]] = set()
    stack: list[Any] = [load(name) for name in REAL]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            metrics = node.get("metrics")
            if isinstance(metrics, dict) and "baseScore" in metrics:  # grype
                pairs.add((node["vector"], metrics["baseScore"]))
            if "V3Vector" in node and "V3Score" in node:  # trivy
                pairs.add((node["V3Vector"], node["V3Score"]))
            if isinstance(node.get("vector"), str) and isinstance(node.get("score"), float | int):
                pairs.add((node["vector"], node["score"]))  # CycloneDX ratings
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return {(vector, score) for vector, score in pairs if vector.startswith("CVSS:3")}


def test_cvss3_base_score_matches_every_score_the_tools_computed() -> None:
    pairs = _scored_vectors()
    assert len(pairs) >= 30
    assert {v: cvss3_base_score(v) for v, _ in pairs} == dict(pairs)


@pytest.mark.parametrize(
    "vector",
    [
        "AV:N/AC:M/Au:N/C:C/I:C/A:C",  # CVSS v2
        "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H",  # A missing
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:X",
        "CVSS:3.1/AV:N/AV:L/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",  # AV twice
        "",
    ],
)
def test_cvss3_base_score_refuses_what_is_not_a_v3_vector(vector: str) -> None:
    assert cvss3_base_score(vector) is None


def test_cvss3_base_score_edges() -> None:
    assert cvss3_base_score("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H") == 10.0
    assert cvss3_base_score("CVSS:3.0/AV:P/AC:H/PR:H/UI:R/S:U/C:N/I:N/A:N") == 0.0
    # Temporal metrics do not change the base score.
    assert cvss3_base_score("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:U/RL:O") == 9.8


def test_worst() -> None:
    assert worst([]) == "unknown"
    assert worst(["low", "critical", "unknown"]) == "critical"
    assert worst(["negligible", "unknown"]) == "unknown"
    assert worst(["unknown", "low"]) == "low"
    assert worst(["MODERATE", "weird"]) == "medium"
    assert worst(["weird"]) == "unknown"


def _proposal(scan: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": "pull_request",
        "repository": "acme/app",
        "author": {"id": "a", "type": "agent"},
        "dependencies": {"changed": True, "scan": scan},
    }


@pytest.mark.parametrize("name", sorted(REAL))
def test_scan_json_is_a_valid_proposal_scan(name: str) -> None:
    scan = parse_scan(load(name), name)
    document = scan_to_json(scan)
    validate(_proposal(document))
    assert document["tool"] == scan.tool
    assert document["audited"] is scan.audited
    assert len(document["findings"]) == len(scan.findings)
    assert all(f["source"] == name for f in document["findings"])


def test_scan_json_of_the_nul_finding() -> None:
    document = scan_to_json(parse_scan(load(GRYPE_NUL), GRYPE_NUL))
    assert document == {
        "tool": "grype",
        "tools": ["grype 0.75.0"],
        "audited": True,
        "not_audited": [],
        "findings": [
            {
                "id": "CVE-2009-3882",
                "severity": "high",
                "package": "java",
                "version": "17.0.10+7\\x00-J-ms8m",
                "fixed_in": "1.2.3",
                "status": "fixed",
                "source": GRYPE_NUL,
            }
        ],
    }
    assert "\x00" not in jsonio.canonical(document)


def test_scan_json_escapes_the_source_path() -> None:
    scan = parse_scan(load(TRIVY_PIP), "evil\x1b[2J.json")
    assert scan.path == "evil\x1b[2J.json"
    sources = {f["source"] for f in scan_to_json(scan)["findings"]}
    assert sources == {"evil\\x1b[2J.json"}


@pytest.mark.parametrize(
    "change",
    [
        {"audited": "yes"},
        {"not_audited": "none"},
        {"tools": "grype"},
        {"findings": [{"id": "C", "severity": "high", "package": 1}]},
        {"findings": [{"id": "C", "severity": "high", "source": None}]},
        {"findings": [{"id": "C", "severity": "severe"}]},
    ],
)
def test_schema_refuses_wrong_scan_fields(change: dict[str, Any]) -> None:
    scan = {"tool": "grype", "findings": []} | change
    with pytest.raises(InputError, match=r"proposal\.dependencies\.scan"):
        validate(_proposal(scan))


def test_schema_takes_the_sbom_fields_and_stays_backwards_compatible() -> None:
    base = {"kind": "release", "repository": "acme/app", "author": {"id": "a", "type": "human"}}
    old = {"name": "api", "sbom": {"format": "spdx", "signed": True}}
    new = {
        "name": "api",
        "digest": "sha256:" + "ab" * 32,
        "sbom": {
            "format": "cyclonedx",
            "signed": False,
            "spec_version": "1.6",
            "components": 10,
            "tools": ["syft 1.18.1"],
            "source": "evidence/app.cdx.json",
            "error": None,
            "signer": None,
        },
    }
    validate(base | {"artifacts": [old, new]})
    for field, bad in [("components", "10"), ("components", -1), ("tools", "syft"), ("error", 1)]:
        broken = copy.deepcopy(new)
        broken["sbom"][field] = bad
        with pytest.raises(InputError, match=rf"proposal\.artifacts\[0\]\.sbom\.{field}"):
            validate(base | {"artifacts": [broken]})


@pytest.mark.parametrize(
    ("name", "change", "message"),
    [
        (TRIVY_PIP, {"SchemaVersion": 1}, r"x: SchemaVersion: trivy report schema 1 is not"),
        (TRIVY_PIP, {"SchemaVersion": True}, r"SchemaVersion: trivy report schema True is not"),
        (TRIVY_PIP, {"Results": {}}, r"x: Results: must be an array, not an object"),
        (TRIVY_PIP, {"Trivy": "dev"}, r"x: Trivy: must be an object, not a string"),
        (GRYPE_NUL, {"matches": None}, r"x: matches: must be an array, not null"),
        (GRYPE_NUL, {"descriptor": []}, r"x: descriptor: must be an object, not an array"),
        (GRYPE_NUL, {"descriptor": {"db": {"status": 0}}}, r"descriptor\.db\.status: must be"),
        (GRYPE_NUL,
         {"matches": [{"vulnerability": {"id": "C", "fix": ""}, "artifact": {"name": "a"}}]},
         r"matches\[0\]\.vulnerability\.fix: must be an object, not an empty string"),
        (GRYPE_NUL, {"matches": [{"vulnerability": {}}]}, r"matches\[0\]\.artifact: must be an"),
        (
            GRYPE_NUL,
            {"matches": [{"vulnerability": {"id": 1}, "artifact": {"name": "a"}}]},
            r"matches\[0\]\.vulnerability\.id: must be a non-empty string, not a number",
        ),
        (OSV_SOME, {"results": "none"}, r"x: results: must be an array, not a string"),
        (OSV_SOME, {"results": [{"packages": [{}]}]}, r"results\[0\]\.packages\[0\]\.package"),
        (PIP_NEW, {"dependencies": [{"name": "a"}]}, r"dependencies\[0\]: has neither 'vulns'"),
        (PIP_NEW, {"dependencies": [{"version": "1"}]}, r"dependencies\[0\]\.name: must be"),
        (PIP_NEW, {"dependencies": [{"name": "a", "vulns": [{"id": "P", "fix_versions": [1]}]}]},
         r"dependencies\[0\]\.vulns\[0\]\.fix_versions\[0\]: must be a string"),
        (GRYPE_LOG4J, {"specVersion": "1.2"}, r"x: specVersion: CycloneDX '1\.2' is not"),
        (GRYPE_LOG4J, {"vulnerabilities": [{"id": "C", "affects": [{}]}]},
         r"vulnerabilities\[0\]\.affects\[0\]\.ref: must be a non-empty string"),
        (GRYPE_LOG4J, {"vulnerabilities": {}}, r"x: vulnerabilities: must be an array"),
    ],
)  # fmt: skip
def test_malformed_scan_is_an_input_error(name: str, change: dict[str, Any], message: str) -> None:
    document = load(name)
    document.update(change)
    with pytest.raises(InputError, match=message) as caught:
        parse_scan(document, "x")
    assert caught.value.hint and "grype, trivy, osv-scanner or pip-audit" in caught.value.hint


@pytest.mark.parametrize("document", [{}, {"runs": []}, "text", 3, None])
def test_unknown_format_is_an_input_error(document: object) -> None:
    with pytest.raises(InputError, match=r"^scan\.json: not a vulnerability scan"):
        parse_scan(document, "scan.json")


def test_pip_audit_old_list_entries_must_be_objects() -> None:
    with pytest.raises(InputError, match=r"^x: \[0\]: must be an object, not a string"):
        parse_scan(["aiohttp"], "x")


_CONTROL = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)


@given(mutated([n for n in SCAN_FILES if n != OSV_MANY] + [PIP_OFFLINE_CDX]))
def test_mutated_scan_is_an_input_error_or_a_result(case: tuple[str, Any]) -> None:
    name, document = case
    try:
        scan = parse_scan(document, name)
    except InputError as error:
        event("input error")
        assert str(error).startswith(f"{name}: ")
        return
    event("result")
    assert {f.severity for f in scan.findings} <= set(SEVERITIES)
    assert not any(_CONTROL.search(s) for s in strings_in(scan))
    assert scan.audited or scan.not_audited
    validate(_proposal(scan_to_json(scan)))


@given(JSON_VALUES)
def test_arbitrary_json_is_an_input_error_or_a_scan(document: Any) -> None:
    assert sniff_scan(document) in (True, False)
    try:
        scan = parse_scan(document, "any.json")
    except InputError:
        return
    assert isinstance(scan, Scan)
    validate(_proposal(scan_to_json(scan)))
