"""Which vulnerability scans are about the change: the rest never stand in for it.

A scan judges a dependency change only when it is *about* that change:

* an image scan (grype ``source.target``, trivy ``Metadata.ImageID``/``RepoDigests``)
  about an artifact of the document whose provenance verified covers the whole change
  (a merely declared digest could be any image's);
* a dependency scan covers each changed dependency file it names — trivy's
  ``lang-pkgs`` targets (under ``ArtifactName``), OSV-Scanner's lockfile sources,
  grype's file source — when the scanned path is the file or ends with ``/`` + the
  file's repository path; a directory scan (grype ``dir:``, an OSV git source)
  covers the files under it when its path is relative (``.`` covers everything).
  When the judged repository's work tree is known (``root``: ``charter check
  --repo``, the Action's checkout), an absolute path under it is read as that
  repository path (``grype dir:$GITHUB_WORKSPACE`` covers everything; a file is then
  matched exactly); one outside it is judged as without a root;
* pip-audit names no file, but lists every package it audited: it covers a file
  whose every added or changed package is a PyPI package it audited at that version.

The files that must be covered are the changed lockfiles (``dependencies.changes``,
``dependencies.unparsed``, dependency files in ``files`` that were not removed); a
manifest (``package.json``, ``pyproject.toml``, ``Pipfile``, ``Cargo.toml``, and those
Charter does not read: ``pom.xml``, ``build.gradle``, ``composer.json``, …) or
``go.sum`` only when no other dependency file changed. Findings of a scan that covers
nothing are not used; when a changed file is covered by no scan, or what changed is
unknown, the scan is ``audited: false`` with a ``not_audited`` line per reason, so
``SC-DEPENDENCY-SCAN-001`` denies instead of a stale or unrelated scan passing.
Scans are unsigned tool output: this catches a scan of something else, not a forged one.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from charter.facts.dependencies import is_dependency_file
from charter.facts.lockfiles import unread_manifest

#: Dependency files scanners read through their lockfile; required only alone.
COMPANIONS = frozenset({"package.json", "pyproject.toml", "pipfile", "cargo.toml", "go.sum"})


def merge(documents: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One ``dependencies.scan`` of several ``scan_to_json`` documents."""
    return {
        "tool": documents[0]["tool"],
        "tools": [tool for d in documents for tool in d["tools"]],
        "findings": [f for d in documents for f in d["findings"]],
        "audited": all(d["audited"] for d in documents),
        "not_audited": [line for d in documents for line in d["not_audited"]],
    }


def judge(
    reports: list[Mapping[str, Any]], document: Mapping[str, Any], root: str | None = None
) -> dict[str, Any]:
    """The ``dependencies.scan`` of a dependency change from the evidence's reports.

    Each report is ``{"scan": scan_to_json(...), "about": about_to_json(...)}``;
    ``root`` is the resolved top of the judged work tree, when known.
    """
    required = required_files(document)
    digests = _artifact_digests(document)
    changes = _changes(document)
    uncovered = set(required)
    covering: list[Mapping[str, Any]] = []
    reasons: list[str] = []
    for report in reports:
        covered = _covered(_rooted(report["about"], root), required, digests, changes)
        if covered:
            covering.append(report["scan"])
            uncovered -= covered
        elif report["scan"]["audited"] is not True:
            reasons.extend(report["scan"]["not_audited"])  # it audited nothing at all
        else:
            reasons.append(_not_about(report, required))
    if not required and not covering:
        reasons.append("the change names no dependency file, so no scan can be shown to cover it")
    reasons.extend(f"no scan covers {path}" for path in sorted(uncovered))
    merged = merge(covering) if covering else _empty(reports)
    if uncovered or not covering:
        merged["audited"] = False
        merged["not_audited"] = [*reasons, *merged["not_audited"]]
    return merged


def required_files(document: Mapping[str, Any]) -> list[str]:
    """The changed dependency files a scan must be about (lockfiles first, see above)."""
    deps = document.get("dependencies")
    deps = deps if isinstance(deps, Mapping) else {}
    found = [*_field(deps.get("changes"), "file"), *_field(deps.get("unparsed"), "path")]
    files = document.get("files")
    for entry in files if isinstance(files, list) else []:
        if isinstance(entry, Mapping) and entry.get("status") != "removed":
            path = entry.get("path")
            if isinstance(path, str) and is_dependency_file(path):
                found.append(path)
    paths = sorted({posixpath.normpath(p) for p in found})
    locks = [p for p in paths if not _companion(posixpath.basename(p))]
    return locks or paths


def _companion(name: str) -> bool:
    """A manifest (or go.sum), read by scanners through its lockfile when there is one."""
    return name.lower() in COMPANIONS or unread_manifest(name.casefold()) is not None


def _field(entries: Any, key: str) -> list[str]:
    if not isinstance(entries, list):
        return []
    return [e[key] for e in entries if isinstance(e, Mapping) and isinstance(e.get(key), str)]


def _artifact_digests(document: Mapping[str, Any]) -> set[str]:
    """Digests of the artifacts whose provenance verified: a digest the document merely
    declares could be any image's, so its scan would prove nothing about the change."""
    artifacts = document.get("artifacts")
    return {
        a["digest"]
        for a in (artifacts if isinstance(artifacts, list) else [])
        if isinstance(a, Mapping)
        and isinstance(a.get("digest"), str)
        and isinstance(a.get("provenance"), Mapping)
        and a["provenance"].get("signed") is True
    }


def _changes(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    deps = document.get("dependencies")
    changes = deps.get("changes") if isinstance(deps, Mapping) else None
    return [c for c in changes if isinstance(c, Mapping)] if isinstance(changes, list) else []


def _covered(
    about: Mapping[str, Any],
    required: list[str],
    digests: set[str],
    changes: list[Mapping[str, Any]],
) -> set[str]:
    if set(about["digests"]) & digests:
        return set(required) or {"(image)"}
    covered = {f for f in required if _file_scanned(f, about["files"], about["directories"])}
    if about["packages"]:
        audited = {(_pypi_name(n), v) for n, v in about["packages"]}
        covered |= {f for f in required if _audited(f, changes, audited)}
    return covered


def _rooted(about: Mapping[str, Any], root: str | None) -> Mapping[str, Any]:
    """``about`` with its absolute paths under ``root`` made repository paths (``.`` for
    the root itself); the others are kept as they are (a file still matches by its
    suffix, a folder covers nothing): a scan run where the checkout had another path."""
    if root is None:
        return about
    top = posixpath.normpath(root)

    def relative(path: str) -> str:
        if path == top or path.startswith(top.rstrip("/") + "/"):
            return posixpath.relpath(path, top)
        return path

    return {
        **about,
        "files": [relative(p) for p in about["files"]],
        "directories": [relative(p) for p in about["directories"]],
    }


def _file_scanned(path: str, files: Iterable[str], directories: Iterable[str]) -> bool:
    if any(p == path or p.endswith("/" + path) for p in files):
        return True
    for directory in directories:
        if directory == "." or (
            not directory.startswith("/") and path.startswith(directory.rstrip("/") + "/")
        ):
            return True
    return False


def _pypi_name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _audited(
    path: str, changes: list[Mapping[str, Any]], audited: set[tuple[str, str | None]]
) -> bool:
    arrived = [c for c in changes if c.get("file") == path and c.get("new") is not None]
    return bool(arrived) and all(
        c.get("ecosystem") == "pypi"
        and isinstance(c.get("name"), str)
        and (_pypi_name(c["name"]), c["new"]) in audited
        for c in arrived
    )


def _not_about(report: Mapping[str, Any], required: list[str]) -> str:
    scan, about = report["scan"], report["about"]
    what = about["target"] or ", ".join(about["files"] + about["directories"] + about["digests"])
    shown = f"scanned {what[:120]}" if what else "does not say what it scanned"
    wanted = ", ".join(required[:5]) or "the change"
    count = len(scan["findings"])
    return (
        f"{about['source']}: {scan['tool']} {shown}, not {wanted} "
        f"(its {count} findings are not used)"
    )


def _empty(reports: list[Mapping[str, Any]]) -> dict[str, Any]:
    scans = [r["scan"] for r in reports]
    return {
        "tool": scans[0]["tool"],
        "tools": [tool for s in scans for tool in s["tools"]],
        "findings": [],
        "audited": False,
        "not_audited": [],
    }
