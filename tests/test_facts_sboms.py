"""SBOMs read from real generator output, and from documents made hostile.

Every file under tests/assets/evidence/sbom/ is real tool output (provenance in
tests/assets/evidence/README.md); the expected values below were read from the
files themselves. Mutated documents are built in the tests from those files.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from charter.core import jsonio
from charter.core.errors import InputError
from charter.facts.sboms import (
    Component,
    Sbom,
    ecosystem_of,
    escape_controls,
    parse_sbom,
    sniff_sbom,
)

ASSETS = Path(__file__).parent / "assets" / "evidence"

SYFT_DIGEST = "sha256:dc333f342905248a52e424d8dfd061251d01867d01a4f9d7397144a775ff9ebd"
HELLO_SERVER = (
    "sha256:bd2195f2551328fa3ad870726f5591fd82fdc5dd33a359be79d356dbecd5868b",
    "sha512:c61eeb0b489bb219b898c6d3044fc431dec58ad999dae2cf0a8067dd1b3e4eef2b186d0f8af63b4d8073"
    "2aa5146f7b13b1feb7a454227cf26d4525874231a281",
)
SYFT_LOCAL = [
    ("click", "8.0.0"),
    ("click", "8.1.3"),
    ("colorama", "0.4.6"),
    ("flask", "2.0.0"),
    ("itsdangerous", "2.0.0"),
    ("jinja2", "3.0.0"),
    ("oauth2-client", "4.0.0"),
    ("python-gitlab", "2.0.0"),
    ("werkzeug", "0.11"),
    ("werkzeug", "0.14"),
]

# file -> (format, spec, tools, subject name, subject digests, [(name, version)] or count,
#          one component that must be there)
REAL: dict[str, tuple[Any, ...]] = {
    "sbom/anchore-syft/1.5.json": (
        "cyclonedx", "1.5", ("syft",), "go.mod", (), 1,
        Component(
            "github.com/wagoodman/go-partybus",
            "v0.0.0-20230516145632-8ccac152c651",
            "pkg:golang/github.com/wagoodman/go-partybus@v0.0.0-20230516145632-8ccac152c651",
            "go",
        ),
    ),
    "sbom/anchore-syft/2.3.json": (
        "spdx", "2.3", ("syft-0.91.0",), "go.mod", (SYFT_DIGEST,), 1,
        Component(
            "github.com/wagoodman/go-partybus",
            "v0.0.0-20230516145632-8ccac152c651",
            "pkg:golang/github.com/wagoodman/go-partybus@v0.0.0-20230516145632-8ccac152c651",
            "go",
        ),
    ),
    "sbom/aquasecurity-trivy/conda-spdx.json.golden": (
        "spdx", "2.3", ("trivy-dev",), "testdata/fixtures/repo/conda", (),
        [("openssl", "1.1.1q"), ("pip", "22.2.2")],
        Component("openssl", "1.1.1q", "pkg:conda/openssl@1.1.1q", "conda"),
    ),
    "sbom/aquasecurity-trivy/pom-cyclonedx.json.golden": (
        "cyclonedx", "1.6", ("trivy dev",), "testdata/fixtures/repo/pom", (),
        [("pom.xml", None), ("log4shell", "1.0-SNAPSHOT"), ("jackson-databind", "2.9.1")],
        Component(
            "jackson-databind",
            "2.9.1",
            "pkg:maven/com.fasterxml.jackson.core/jackson-databind@2.9.1",
            "maven",
        ),
    ),
    "sbom/local-generated/cdxgen-12.8.4.yarn.cdx-1.6.json": (
        "cyclonedx", "1.6", ("cdxgen 12.8.4",), "integration", (),
        [("asap", "2.0.6"), ("jquery", "3.2.1"), ("promise", "8.0.3")],
        Component("jquery", "3.2.1", "pkg:npm/jquery@3.2.1", "npm"),
    ),
    "sbom/local-generated/cyclonedx-py-7.5.0.poetry.cdx-1.5.json": (
        "cyclonedx", "1.5", ("cyclonedx-py 7.5.0", "cyclonedx-python-lib 11.12.0"), "test", (),
        [("click", "8.1.3"), ("colorama", "0.4.6"), ("werkzeug", "0.14")],
        Component("werkzeug", "0.14", "pkg:pypi/werkzeug@0.14", "pypi"),
    ),
    "sbom/local-generated/cyclonedx-py-7.5.0.requirements.cdx-1.6.json": (
        "cyclonedx", "1.6", ("cyclonedx-py 7.5.0", "cyclonedx-python-lib 11.12.0"), None, (),
        [
            ("Flask", "2.0.0"),
            ("Jinja2", "3.0.0"),
            ("MarkupSafe", None),
            ("Werkzeug", "0.11"),
            ("click", "8.0.0"),
            ("itsdangerous", "2.0.0"),
            ("oauth2-client", "4.0.0"),
            ("python-gitlab", "2.0.0"),
        ],
        # The unpinned requirement: no version, and a purl without one.
        Component("MarkupSafe", None, "pkg:pypi/markupsafe", "pypi"),
    ),
    "sbom/local-generated/syft-1.18.1.cdx-1.5.json": (
        "cyclonedx", "1.5", ("syft 1.18.1",), "demo-input", (), SYFT_LOCAL,
        Component("werkzeug", "0.11", "pkg:pypi/werkzeug@0.11", "pypi"),
    ),
    "sbom/local-generated/syft-1.18.1.cdx-1.6.json": (
        "cyclonedx", "1.6", ("syft 1.18.1",), "demo-input", (), SYFT_LOCAL,
        Component("werkzeug", "0.11", "pkg:pypi/werkzeug@0.11", "pypi"),
    ),
    # The same scan as SPDX: 11 packages, one of them the described directory.
    "sbom/local-generated/syft-1.18.1.spdx-2.3.json": (
        "spdx", "2.3", ("syft-1.18.1",), "demo-input", (), SYFT_LOCAL,
        Component("werkzeug", "0.11", "pkg:pypi/werkzeug@0.11", "pypi"),
    ),
    "sbom/spdx-spdx-examples/example11/sbom.spdx.json": (
        "spdx", "2.3", ("sigs.k8s.io/bom/pkg/spdx",), "hello-server-src", HELLO_SERVER,
        [("hyper", "0.14"), ("tokio", "1.19.2"), ("pretty_env_logger", "0.4.0")],
        Component("tokio", "1.19.2", "pkg:cargo/tokio@1.19.2", "cargo"),
    ),
    "sbom/spdx-spdx-examples/example14/examplemaven-0.0.1.spdx.json": (
        "spdx", "2.3", ("spdx-maven-plugin",), "examplemaven", (),
        [
            ("JUnit", "3.8.1"),
            ("Apache Log4j SLF4J Binding", None),
            ("SLF4J API Module", None),
            ("Apache Log4j API", None),
            ("Apache Log4j Core", None),
        ],
        Component("JUnit", "3.8.1", None, None),
    ),
    # Vulnerability reports in CycloneDX are SBOMs too.
    "vuln/grype/defectdojo/log4j.json": (
        "cyclonedx", "1.4", ("grype 0.41.0",),
        "./configuration/.m2/repository/org/apache/logging/log4j/log4j-core/2.13.2", (),
        [("log4j-core", "2.13.2")],
        Component(
            "log4j-core",
            "2.13.2",
            "pkg:maven/org.apache.logging.log4j/log4j-core@2.13.2",
            "maven",
        ),
    ),
}  # fmt: skip

EMPTY_PIP_AUDIT_BOM = "vuln/pip-audit/local-offline/pip-audit-2.10.1.offline.cdx.json"
SYFT_NATIVE = "sbom/local-generated/syft-1.18.1.syft.json"
SYFT_CDX = "sbom/local-generated/syft-1.18.1.cdx-1.6.json"
SYFT_SPDX = "sbom/local-generated/syft-1.18.1.spdx-2.3.json"


def load(name: str) -> Any:
    return jsonio.loads((ASSETS / name).read_bytes(), what=name)


def test_every_sbom_asset_is_covered() -> None:
    """No SBOM file in the assets is left out of the table (the native one is refused)."""
    on_disk = {str(p.relative_to(ASSETS)) for p in (ASSETS / "sbom").rglob("*") if p.is_file()}
    assert on_disk == {n for n in REAL if n.startswith("sbom/")} | {SYFT_NATIVE}


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_sbom(name: str) -> None:
    fmt, spec, tools, subject, digests, components, one = REAL[name]
    document = load(name)
    assert sniff_sbom(document)
    sbom = parse_sbom(document, name)
    assert (sbom.path, sbom.format, sbom.spec_version) == (name, fmt, spec)
    assert sbom.tools == tools
    assert sbom.subject_name == subject
    assert sbom.subject_digests == frozenset(digests)
    if isinstance(components, int):
        assert len(sbom.components) == components
    else:
        assert [(c.name, c.version) for c in sbom.components] == components
    assert one in sbom.components


def test_same_scan_reads_alike_in_every_format() -> None:
    """syft wrote one scan as CycloneDX 1.5, 1.6 and SPDX 2.3: the same components."""
    seen = {
        frozenset(parse_sbom(load(n), n).components)
        for n in (SYFT_CDX, SYFT_SPDX, "sbom/local-generated/syft-1.18.1.cdx-1.5.json")
    }
    assert len(seen) == 1


def test_empty_bom_has_no_components() -> None:
    sbom = parse_sbom(load(EMPTY_PIP_AUDIT_BOM), EMPTY_PIP_AUDIT_BOM)
    assert (sbom.format, sbom.spec_version, sbom.tools, sbom.components) == (
        "cyclonedx",
        "1.4",
        (),
        (),
    )
    assert sbom.subject_name is None and sbom.subject_digests == frozenset()


def test_syft_native_json_is_not_an_sbom() -> None:
    document = load(SYFT_NATIVE)
    assert not sniff_sbom(document)
    with pytest.raises(InputError, match=r"syft\.json: not an SBOM"):
        parse_sbom(document, SYFT_NATIVE)


@pytest.mark.parametrize(
    "name",
    [
        "vuln/trivy/aquasecurity-trivy/pip.json.golden",
        "vuln/grype/defectdojo/no_vuln.json",
        "vuln/pip-audit/defectdojo/many_vulns.json",
    ],
)
def test_scans_are_not_sboms(name: str) -> None:
    assert not sniff_sbom(load(name))


@pytest.mark.parametrize("document", [None, [], "CycloneDX", 3, {"bom": 1}, [{"bomFormat": 1}]])
def test_sniff_refuses_what_is_not_an_sbom(document: object) -> None:
    assert not sniff_sbom(document)


def test_cyclonedx_subject_digests_come_from_hashes() -> None:
    document = load(SYFT_CDX)
    hexdigest = "AB" * 32
    document["metadata"]["component"]["hashes"] = [
        {"alg": "SHA-256", "content": hexdigest},
        {"alg": "SHA-1", "content": "00" * 20},  # not used for matching
        {"alg": "SHA-512", "content": "cd" * 64},
    ]
    sbom = parse_sbom(document, "x.cdx.json")
    assert sbom.subject_digests == {"sha256:" + "ab" * 32, "sha512:" + "cd" * 64}


def test_a_version_that_looks_like_a_digest_is_not_one() -> None:
    """syft writes 'sha256:sha256:<hex>' as metadata.component.version; only hashes count."""
    sbom = parse_sbom(load("sbom/anchore-syft/1.5.json"), "1.5.json")
    assert sbom.subject_digests == frozenset()


def test_nested_components_are_read_in_document_order() -> None:
    document = load(SYFT_CDX)
    first = document["components"][0]
    first["components"] = [{"type": "library", "name": "inner", "version": "1"}]
    names = [c.name for c in parse_sbom(document, "x").components]
    assert names[:3] == ["click", "inner", "click"]
    assert len(names) == 11


def test_control_characters_are_escaped_not_dropped() -> None:
    document = load(SYFT_CDX)
    document["components"][0]["name"] = "evil\x00name\x1b[31m"
    document["components"][0]["version"] = "1\x9b2"
    sbom = parse_sbom(document, "x")
    assert sbom.components[0].name == "evil\\x00name\\x1b[31m"
    assert sbom.components[0].version == "1\\x9b2"


@pytest.mark.parametrize(
    ("name", "change", "message"),
    [
        (SYFT_CDX, {"specVersion": "1.3"}, r"x: specVersion: CycloneDX '1\.3' is not supported"),
        (SYFT_CDX, {"specVersion": "1.7"}, r"specVersion: CycloneDX '1\.7' is not supported"),
        (SYFT_CDX, {"specVersion": 1.6}, r"specVersion: CycloneDX 1\.6 \(a number\) is not"),
        (SYFT_CDX, {"bomFormat": "SPDX"}, r"bomFormat: must be 'CycloneDX'"),
        (SYFT_CDX, {"components": {"a": 1}}, r"components: must be an array, not an object"),
        (SYFT_CDX, {"components": [{"version": "1"}]}, r"components\[0\]\.name: must be a non-"),
        (SYFT_CDX, {"components": [{"name": 7}]}, r"components\[0\]\.name: must be a non-empty"),
        (SYFT_CDX, {"components": ["click"]}, r"components\[0\]: must be an object"),
        (SYFT_CDX, {"metadata": []}, r"metadata: must be an object, not an array"),
        (SYFT_CDX, {"metadata": {"tools": "syft"}}, r"metadata\.tools: must be an object"),
        (SYFT_SPDX, {"spdxVersion": "SPDX-2.2"}, r"spdxVersion: 'SPDX-2\.2' is not supported"),
        (SYFT_SPDX, {"creationInfo": None}, r"creationInfo: must be an object, not null"),
        (SYFT_SPDX, {"packages": [{"name": "a"}]}, r"packages\[0\]\.SPDXID: must be"),
        (SYFT_SPDX, {"SPDXID": ""}, r"x: SPDXID: must be a non-empty string, not an empty str"),
        (SYFT_SPDX, {"relationships": [{}]}, r"relationships\[0\]\.relationshipType"),
        (SYFT_SPDX, {"documentDescribes": [1]}, r"documentDescribes\[0\]: must be a string"),
    ],
)
def test_malformed_sbom_is_an_input_error(name: str, change: dict[str, Any], message: str) -> None:
    document = load(name)
    document.update(change)
    with pytest.raises(InputError, match=message) as caught:
        parse_sbom(document, "x")
    assert caught.value.hint and "CycloneDX 1.4-1.6 or SPDX 2.3" in caught.value.hint


def test_a_bad_digest_is_an_input_error() -> None:
    document = load("sbom/anchore-syft/2.3.json")
    root = next(p for p in document["packages"] if p["SPDXID"].startswith("SPDXRef-DocumentRoot"))
    root["checksums"][0]["checksumValue"] = "dc33"
    with pytest.raises(InputError, match=r"packages\[1\]\.checksums\[0\]\.checksumValue: is not"):
        parse_sbom(document, "2.3.json")


def test_input_error_names_the_path_with_controls_escaped() -> None:
    with pytest.raises(InputError, match=r"^dir/a\\x0ab\.json: not an SBOM"):
        parse_sbom({}, "dir/a\nb.json")
    # The result carries the path as given, for the caller to match file names.
    assert parse_sbom(load(SYFT_CDX), "dir/a\nb.json").path == "dir/a\nb.json"


@pytest.mark.parametrize(
    ("purl", "ecosystem"),
    [
        ("pkg:pypi/flask@2.0.0", "pypi"),
        ("pkg:golang/github.com/a/b@v1", "go"),
        ("pkg:gem/rails@7", "rubygems"),
        ("pkg:NPM/%40cyclonedx/cdxgen@12.8.4", "npm"),
        ("pkg:/maven/a/b@1", "maven"),
        ("pkg:", None),
        ("pkg:bad type/x", None),
        ("cpe:2.3:a:x:y:1", None),
        (None, None),
    ],
)
def test_ecosystem_of(purl: str | None, ecosystem: str | None) -> None:
    assert ecosystem_of(purl) == ecosystem


def test_escape_controls() -> None:
    assert escape_controls("a\x00b\x7f\x85\tc") == "a\\x00b\\x7f\\x85\\x09c"
    assert escape_controls("ünïcode ok") == "ünïcode ok"
    assert escape_controls("a\u202eb\u2066c\u2028") == "a\\u202eb\\u2066c\\u2028"


# Adversarial documents: real files with one part deleted, retyped or truncated. ----

_CONTROL = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


def _nodes(document: Any) -> list[tuple[Any, Any]]:
    """(container, key) of every value in ``document``, iteratively."""
    out: list[tuple[Any, Any]] = []
    stack = [document]
    while stack:
        node = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in items:
            out.append((node, key))
            if isinstance(value, dict | list):
                stack.append(value)
    return out


@st.composite
def mutated(draw: st.DrawFn, names: list[str]) -> tuple[str, Any]:
    """A real document with one value deleted, replaced by other JSON, or a list cut."""
    name = draw(st.sampled_from(names))
    document = copy.deepcopy(load(name))
    for _ in range(draw(st.integers(1, 3))):
        nodes = _nodes(document)
        if not nodes:
            break
        container, key = draw(st.sampled_from(nodes))
        action = draw(st.sampled_from(["delete", "replace", "truncate"]))
        value = container[key]
        if action == "delete":
            del container[key]
        elif action == "truncate" and isinstance(value, list | str):
            container[key] = value[: draw(st.integers(0, max(len(value) - 1, 0)))]
        else:
            container[key] = draw(JSON_VALUES)
    return name, document


def strings_in(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, tuple | list | frozenset):
        return [s for item in value for s in strings_in(item)]
    if hasattr(value, "__dataclass_fields__"):
        return [s for f in value.__dataclass_fields__ for s in strings_in(getattr(value, f))]
    return []


@given(mutated(sorted(n for n in REAL if "many" not in n) + [EMPTY_PIP_AUDIT_BOM]))
def test_mutated_sbom_is_an_input_error_or_a_result(case: tuple[str, Any]) -> None:
    name, document = case
    try:
        sbom = parse_sbom(document, name)
    except InputError as error:
        event("input error")
        assert str(error).startswith(f"{name}: ")
        return
    event("result")
    assert isinstance(sbom, Sbom)
    assert sbom.format in ("cyclonedx", "spdx")
    assert not any(_CONTROL.search(s) for s in strings_in(sbom))


@given(JSON_VALUES)
def test_arbitrary_json_is_an_input_error_or_a_result(document: Any) -> None:
    assert sniff_sbom(document) in (True, False)
    try:
        parse_sbom(document, "any.json")
    except InputError:
        pass


def test_syft_file_source_names_the_files_digest_as_its_version() -> None:
    """syft `scan file:X` writes exactly 'sha256:<hex>' of X as metadata.component.version."""
    path = Path(__file__).resolve().parents[1] / "examples" / "release-with-evidence" / "dist"
    document = json.loads((path / "billing-cli-2.4.0.tar.gz.cdx.json").read_text())
    sbom = parse_sbom(document, "billing-cli-2.4.0.tar.gz.cdx.json")
    digest = (
        "sha256:" + hashlib.sha256((path / "billing-cli-2.4.0.tar.gz").read_bytes()).hexdigest()
    )
    assert sbom.subject_digests == {digest}
    # An upper-case or doubled prefix is not a digest the SBOM states.
    for version in (digest.upper(), "sha256:" + digest, digest + " "):
        document["metadata"]["component"]["version"] = version
        assert parse_sbom(document, "x.cdx.json").subject_digests == frozenset()
