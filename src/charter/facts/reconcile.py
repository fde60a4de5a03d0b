"""Declared facts against derived ones: the derived fact wins, a contradiction is reported.

A proposal document is written by the agent Charter governs. Whatever Charter can
derive itself — from the document's own file list, from the repository or GitHub
(a document built by :mod:`charter.facts.proposal` / :mod:`charter.facts.github`),
from the identity map and from verified evidence — replaces what the document
declares. Where the declaration said something *else*, the difference is kept as a
contradiction and handed to the rules in ``input.context.facts``
(``PROC-DECLARED-FACTS-MATCH-001`` denies it), so a false claim is never silently
corrected either.

``input.context.facts`` is built here and only here::

    {"derived": ["author.type", "dependencies.changed", ...],
     "contradictions": [{"field": ..., "declared": ..., "derived": ..., "source": ...}]}

Derivation never loosens: from a document alone Charter can only *add* facts
(a listed lockfile means dependencies changed; an unverified signature means not
signed), and a document built from git or GitHub is the change as it happened.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from charter.facts import scan_coverage
from charter.facts.at_base import touched_paths
from charter.facts.dependencies import is_dependency_file
from charter.facts.identities import IdentityMap
from charter.policy.proposal import CARRIERS

#: Fields a built document (git, GitHub) defines; a declared value is replaced.
BUILT_FIELDS = (
    "repository",
    "base",
    "head",
    "base_sha",
    "head_sha",
    "files",
    "commits",
    "dependencies",
    "approvals",
    "labels",
)


@dataclass(frozen=True)
class Contradiction:
    """One declared fact that differs from what Charter derived."""

    field: str
    declared: Any
    derived: Any
    source: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "declared": self.declared,
            "derived": self.derived,
            "source": self.source,
        }


@dataclass(frozen=True)
class Facts:
    """What Charter derived for one proposal, beyond the document itself.

    ``built`` is a document built from the repository or GitHub (it wins over the
    declared one field by field); ``identities`` classifies authors and approvers;
    ``artifacts`` and ``scan`` come from verified evidence
    (:func:`charter.facts.evidence.collect`) and replace the declared ones; ``root`` is
    the resolved top of the judged repository's work tree when there is one, where a
    scan naming absolute paths ran (:func:`charter.facts.scan_coverage.judge`).
    """

    built: Mapping[str, Any] | None = None
    identities: IdentityMap | None = None
    artifacts: tuple[Mapping[str, Any], ...] | None = None
    scan: Mapping[str, Any] | None = None
    root: str | None = None


@dataclass
class _Ledger:
    derived: list[str] = field(default_factory=list)
    contradictions: list[Contradiction] = field(default_factory=list)
    #: Whether the approvals are facts (GitHub's reviews of a built document), not the
    #: document's word.
    approvals_verified: bool = False

    def note(self, name: str) -> None:
        if name not in self.derived:
            self.derived.append(name)

    def differ(self, name: str, declared: Any, derived: Any, source: str) -> None:
        self.contradictions.append(Contradiction(name, declared, derived, source))

    def context(self) -> dict[str, Any]:
        return {
            "derived": sorted(self.derived),
            "contradictions": [c.to_dict() for c in self.contradictions],
            "approvals_verified": self.approvals_verified,
        }


@dataclass(frozen=True)
class Reconciled:
    """The document rules see and its ``input.context.facts``."""

    document: dict[str, Any]
    context: dict[str, Any]

    @property
    def contradictions(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.context["contradictions"]
        return found


def reconcile(declared: Mapping[str, Any] | None, facts: Facts | None = None) -> Reconciled:
    """The document to decide: ``declared`` with every derivable fact replaced.

    ``declared`` is ``None`` when the proposal was only built (``check --git``);
    then the built document is the proposal and nothing can contradict it.
    """
    facts = facts or Facts()
    ledger = _Ledger()
    if declared is None:
        if facts.built is None:
            raise ValueError("reconcile needs a declared or a built document")
        document = {k: v for k, v in facts.built.items() if k not in CARRIERS}
        ledger.note("document")
    else:
        # Shallow: every change below builds new dicts and lists, nothing is mutated.
        document = {k: v for k, v in declared.items() if k not in CARRIERS}
        _canonical_base(document, ledger)
        if facts.built is not None:
            _apply_built(document, facts.built, ledger)
    _derive_dependencies(document, ledger, certain=facts.built is not None)
    # Who is an agent comes from configuration; without a map every identity is
    # unknown, so an agent (stricter), and a declared "human" is not believed. What a
    # built document already classified (its author from names, emails and trailers;
    # GitHub's approvals) is kept: the map already decided it, with more to go on.
    built = facts.built
    # Approvals are facts only when the built document read them (GitHub's reviews); a
    # declared list is the document's word (PROC-MERGE-HUMAN-APPROVALS-001 asks).
    ledger.approvals_verified = built is not None and "approvals" in built
    _classify(
        document,
        facts.identities,
        ledger,
        author=built is None,
        approvals=not ledger.approvals_verified,
    )
    _self_approvals(document, ledger)
    _one_approval_per_identity(document, ledger)
    _apply_artifacts(document, facts.artifacts, ledger)
    if facts.scan is not None:
        _apply_scan(document, facts.scan, ledger, facts.root)
    else:
        _unverified_scan(document, ledger)
    return Reconciled(document, ledger.context())


# ---------------------------------------------------------------- built documents
def _apply_built(document: dict[str, Any], built: Mapping[str, Any], ledger: _Ledger) -> None:
    source = _built_source(built)
    _compare_kind(document, built, ledger, source)
    _compare_author(document, built, ledger, source)
    _compare_files(document, built, ledger, source)
    _compare_labels(document, built, ledger, source)
    declared_deps = document.get("dependencies")
    built_deps = built.get("dependencies")
    if isinstance(declared_deps, dict) and isinstance(built_deps, dict):
        if declared_deps.get("changed") is False and built_deps.get("changed") is True:
            ledger.differ("dependencies.changed", False, True, _dependency_source(built_deps))
        if "scan" in declared_deps and "scan" not in built_deps:
            # A scan is evidence, not something git derives: keep the declared one
            # (SC-* rules judge it) unless evidence replaces it below.
            built_deps = {**built_deps, "scan": declared_deps["scan"]}
    for name in BUILT_FIELDS:
        if name in built:
            document[name] = built_deps if name == "dependencies" else built[name]
            ledger.note(name)
    document["author"] = built["author"]
    ledger.note("author")


def _built_source(built: Mapping[str, Any]) -> str:
    base, head = (
        built.get("base_sha") or built.get("base"),
        built.get("head_sha") or built.get("head"),
    )
    return f"the change {base}..{head}" if base and head else "the change itself"


def _compare_kind(
    document: dict[str, Any], built: Mapping[str, Any], ledger: _Ledger, source: str
) -> None:
    """What the change is (a merge, a push …) is the caller's fact, not the agent's.

    A pull request's document decided when it is merged is the same change one
    step later, not a false claim: it is judged as the merge without a contradiction.
    """
    if "kind" not in built:
        return
    declared = document.get("kind")
    if declared != built["kind"] and (declared, built["kind"]) != ("pull_request", "merge"):
        ledger.differ("kind", declared, built["kind"], source)
    document["kind"] = built["kind"]
    ledger.note("kind")


def _compare_author(
    document: Mapping[str, Any], built: Mapping[str, Any], ledger: _Ledger, source: str
) -> None:
    declared = _get(document, "author", "type")
    derived = _get(built, "author", "type")
    if declared == "human" and derived == "agent":
        ledger.differ("author.type", declared, derived, f"commit authors of {source}")


def _compare_files(
    document: Mapping[str, Any], built: Mapping[str, Any], ledger: _Ledger, source: str
) -> None:
    declared = document.get("files")
    if not isinstance(declared, list):
        return
    derived_paths = _paths(built.get("files"))
    hidden = sorted(derived_paths - _paths(declared))
    if hidden:
        shown = ", ".join(hidden[:5]) + (f" and {len(hidden) - 5} more" if len(hidden) > 5 else "")
        ledger.differ(
            "files",
            f"{len(declared)} files",
            f"{len(derived_paths)} files",
            f"{source} also changes {shown}",
        )


def _compare_labels(
    document: Mapping[str, Any], built: Mapping[str, Any], ledger: _Ledger, source: str
) -> None:
    """A label the pull request does not carry (GitHub's labels are facts) is a false claim."""
    declared, derived = document.get("labels"), built.get("labels")
    if not isinstance(declared, list) or not isinstance(derived, list):
        return
    added = [label for label in declared if label not in derived]
    if added:
        ledger.differ("labels", declared, derived, f"{source} carries no label {added[0]!r}")


def _paths(files: Any) -> set[str]:
    if not isinstance(files, list):
        return set()
    return {f["path"] for f in files if isinstance(f, dict) and isinstance(f.get("path"), str)}


def _dependency_source(deps: Mapping[str, Any]) -> str:
    entries = [*(deps.get("changes") or []), *(deps.get("unparsed") or [])]
    files = sorted(
        {str(e.get("file") or e.get("path")) for e in entries if isinstance(e, dict)} - {"None"}
    )
    return (
        ("changed " + ", ".join(str(f) for f in files[:5])) if files else "dependency files changed"
    )


# ---------------------------------------------------------------- the document alone
#: Ways to spell a branch that git reads as the branch itself (``refs/heads/main``,
#: ``heads/main``, a remote's ``refs/remotes/origin/main``): a built document says ``main``.
_BRANCH_PREFIX = re.compile(r"^(?:refs/heads/|heads/|refs/remotes/[^/]+/)")
#: What no branch name holds (git check-ref-format): a control character, a space or one of
#: ``~^:?*[\``, ``..``, ``@{``, ``//``, a part starting with ``.``, an end in ``/``, ``.``
#: or ``.lock``, or the name ``@``. A base like ``main\0`` names no branch: ``null``.
_NOT_A_BRANCH = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//|(?:^|/)\.|[/.]$|\.lock$|^@$")


def _canonical_base(document: dict[str, Any], ledger: _Ledger) -> None:
    """The declared target branch as the rules compare it (``main``), as a document built
    from git names it: ``refs/heads/main`` or ``" main"`` is ``main`` too (a ref name
    holds no whitespace), so another spelling of a protected branch is that branch; one
    that names no branch (blank, or what git refuses in a ref name) is ``null``, which the
    rules ask about."""
    base = document.get("base")
    if not isinstance(base, str):
        return
    name: str | None = _BRANCH_PREFIX.sub("", base.strip(), count=1)
    if not name or _NOT_A_BRANCH.search(name):
        name = None
    if name != base:
        document["base"] = name
        ledger.note("base")


def _derive_dependencies(document: dict[str, Any], ledger: _Ledger, *, certain: bool) -> None:
    """A listed lockfile or manifest means dependencies changed, whatever is declared."""
    if certain:
        return
    listed = sorted(
        path for path in touched_paths(document.get("files")) if is_dependency_file(path)
    )
    if not listed:
        return
    deps = document.get("dependencies")
    if not isinstance(deps, dict):
        deps = {}
    ledger.note("dependencies.changed")
    source = "the proposal lists " + ", ".join(listed[:5]) + (" …" if len(listed) > 5 else "")
    if deps.get("changed") is False:
        ledger.differ("dependencies.changed", False, True, source)
    document["dependencies"] = {**deps, "changed": True}


# ---------------------------------------------------------------- identities
def _classify(
    document: dict[str, Any],
    configured: IdentityMap | None,
    ledger: _Ledger,
    *,
    author: bool,
    approvals: bool,
) -> None:
    """Types of the author and approvers from the identity map (unknown = agent).

    A declared ``human`` the configured map says is an agent is a contradiction;
    without a map it is only unverified: it becomes ``agent`` without one.
    """
    identities = configured or IdentityMap()
    source = "identity map" if configured is not None else "no identity map configured"
    person = document.get("author")
    if author and isinstance(person, dict) and isinstance(person.get("id"), str):
        derived = _identity_type(identities, person["id"])
        ledger.note("author.type")
        if person.get("type") == "human" and derived == "agent" and configured is not None:
            ledger.differ("author.type", "human", "agent", f"{source}: {person['id']}")
        if derived == "agent":
            document["author"] = {**person, "type": "agent"}
    listed = document.get("approvals")
    if not approvals or not isinstance(listed, list):
        return
    ledger.note("approvals[].type")
    listed = list(listed)
    document["approvals"] = listed
    for index, approval in enumerate(listed):
        if not isinstance(approval, dict) or not isinstance(approval.get("by"), str):
            continue
        derived = _identity_type(identities, approval["by"])
        if approval.get("type") == "human" and derived == "agent" and configured is not None:
            ledger.differ(
                f"approvals[{index}].type", "human", "agent", f"{source}: {approval['by']}"
            )
        if derived == "agent":
            listed[index] = {**approval, "type": "agent"}


def _self_approvals(document: dict[str, Any], ledger: _Ledger) -> None:
    """An approval by the author under another spelling (``Ada`` for ``ada``; GitHub
    logins and email addresses ignore case) is the author's own approval."""
    author = _get(document, "author", "id")
    approvals = document.get("approvals")
    if not isinstance(author, str) or not isinstance(approvals, list):
        return
    mine = _same_identity(author)
    for index, approval in enumerate(approvals):
        by = approval.get("by") if isinstance(approval, dict) else None
        if isinstance(by, str) and by != author and _same_identity(by) == mine:
            ledger.differ(f"approvals[{index}].by", by, author, "the author's own identity")
            approvals = document["approvals"] = list(approvals)
            approvals[index] = {**approval, "by": author}


def _one_approval_per_identity(document: dict[str, Any], ledger: _Ledger) -> None:
    """Approvals by one identity under two spellings (``alice@acme.test`` and
    ``ALICE@acme.test``) are one approver's: each later one is written as the first
    spelling, so rules that count distinct approvers count one (two were counted: a
    merge needing two approvals had them by its own account)."""
    approvals = document.get("approvals")
    if not isinstance(approvals, list):
        return
    first: dict[str, str] = {}
    for index, approval in enumerate(approvals):
        by = approval.get("by") if isinstance(approval, dict) else None
        if not isinstance(by, str):
            continue
        spelled = first.setdefault(_same_identity(by), by)
        if spelled != by:
            approvals = document["approvals"] = list(approvals)
            approvals[index] = {**approval, "by": spelled}
            ledger.note("approvals[].by")


def _same_identity(identity: str) -> str:
    return unicodedata.normalize("NFKC", identity).casefold().strip()


def _identity_type(identities: IdentityMap, identity: str) -> str:
    email = identity if "@" in identity else ""
    return identities.classify(identity, email)


# ---------------------------------------------------------------- evidence
SIGNED_FIELDS = ("sbom", "provenance")


def _apply_artifacts(
    document: dict[str, Any],
    artifacts: tuple[Mapping[str, Any], ...] | None,
    ledger: _Ledger,
) -> None:
    """Signatures are never believed: only verified evidence makes ``signed`` true."""
    declared = [a for a in document.get("artifacts") or [] if isinstance(a, dict)]
    if artifacts is None and not declared:
        return
    derived = {a["name"]: a for a in artifacts or ()}
    by_digest = {a.get("digest"): a for a in artifacts or () if a.get("digest")}
    result: list[dict[str, Any]] = []
    seen: set[str] = set()
    for artifact in declared:
        match = by_digest.get(artifact.get("digest")) or derived.get(str(artifact.get("name")))
        merged = _merge_artifact(artifact, match, ledger)
        if match is not None:
            seen.add(match["name"])
        result.append(merged)
    result.extend(dict(a) for a in artifacts or () if a["name"] not in seen)
    for part in SIGNED_FIELDS:
        ledger.note(f"artifacts[].{part}.signed")
    document["artifacts"] = result
    _compare_sbom_tool(document, result, ledger)


def _compare_sbom_tool(
    document: dict[str, Any], artifacts: list[dict[str, Any]], ledger: _Ledger
) -> None:
    """``tools.sbom`` is the generator a signed SBOM names, not the one declared."""
    made_by = sorted(
        {
            _tool_name(tool)
            for artifact in artifacts
            if isinstance(artifact.get("sbom"), dict) and artifact["sbom"].get("signed") is True
            for tool in artifact["sbom"].get("tools") or []
            if isinstance(tool, str) and _tool_name(tool)
        }
    )
    tools = document.get("tools")
    if not made_by or not isinstance(tools, dict):
        return
    declared = tools.get("sbom")
    if not isinstance(declared, str) or _tool_name(declared) in made_by:
        return
    ledger.differ("tools.sbom", declared, made_by[0], "the signed SBOMs' generator tools")
    document["tools"] = {**tools, "sbom": made_by[0]}
    ledger.note("tools.sbom")


def _tool_name(tool: str) -> str:
    """``syft`` of ``syft 1.18.1``, ``syft-0.91.0`` or ``Syft``."""
    return re.sub(r"[\s-]v?\d[\w.+-]*$", "", tool.strip()).casefold()


def _merge_artifact(
    declared: Mapping[str, Any], derived: Mapping[str, Any] | None, ledger: _Ledger
) -> dict[str, Any]:
    merged = dict(declared)
    label = f"artifacts[{declared.get('name')}]"
    if derived is not None:
        if declared.get("digest") not in (None, derived.get("digest")):
            ledger.differ(
                f"{label}.digest", declared.get("digest"), derived.get("digest"), "evidence file"
            )
        merged["digest"] = derived.get("digest")
    for part in SIGNED_FIELDS:
        claimed = declared.get(part)
        found = derived.get(part) if derived is not None else None
        if isinstance(found, dict):
            merged[part] = found
        elif isinstance(claimed, dict):
            merged[part] = {
                **claimed,
                "signed": False,
                "error": "no verified signature in the evidence (declared flags are not believed)",
            }
        signed_now = isinstance(merged.get(part), dict) and merged[part].get("signed") is True
        if isinstance(claimed, dict) and claimed.get("signed") is True and not signed_now:
            error = merged[part].get("error") if isinstance(merged.get(part), dict) else None
            ledger.differ(
                f"{label}.{part}.signed", True, False, str(error or "evidence did not verify")
            )
    return merged


def _apply_scan(
    document: dict[str, Any], scan: Mapping[str, Any], ledger: _Ledger, root: str | None
) -> None:
    """The evidence's scans replace the declared one; for a dependency change only the
    scans about it count (:mod:`charter.facts.scan_coverage`)."""
    deps = document.get("dependencies")
    deps = dict(deps) if isinstance(deps, dict) else {}
    reports = scan.get("reports")
    scan = {k: v for k, v in scan.items() if k != "reports"}
    if isinstance(reports, list) and reports and _dependencies_changed(deps):
        scan = scan_coverage.judge(reports, document, root)
    claimed = deps.get("scan")
    if isinstance(claimed, dict):
        missing = sorted(_finding_ids(scan.get("findings")) - _finding_ids(claimed.get("findings")))
        if missing:
            ledger.differ(
                "dependencies.scan.findings",
                f"{len(claimed.get('findings') or [])} findings",
                f"{len(scan.get('findings') or [])} findings",
                "evidence scan also reports " + ", ".join(missing[:5]),
            )
    deps["scan"] = dict(scan)
    document["dependencies"] = deps
    ledger.note("dependencies.scan")


#: Why a scan the document declares audited nothing Charter can use.
DECLARED_SCAN = (
    "the scan is declared in the proposal, not read from the scanner's output "
    "(declared scans are not believed: pass the scanner's JSON with --evidence)"
)


def _unverified_scan(document: dict[str, Any], ledger: _Ledger) -> None:
    """A scan the document declares, with no evidence: its findings still count (they
    only ever make a verdict stricter), but it audited nothing Charter read, so a
    dependency change it would cover is judged as unscanned (SC-DEPENDENCY-SCAN-001)."""
    deps = document.get("dependencies")
    if not isinstance(deps, dict) or not isinstance(deps.get("scan"), dict):
        return
    claimed = deps["scan"]
    given = claimed.get("not_audited")
    reasons = [DECLARED_SCAN, *(given if isinstance(given, list) else [])]
    deps = {**deps, "scan": {**claimed, "audited": False, "not_audited": reasons}}
    document["dependencies"] = deps
    ledger.note("dependencies.scan")


def _dependencies_changed(deps: Mapping[str, Any]) -> bool:
    changes = deps.get("changes")
    return deps.get("changed") is True or (isinstance(changes, list) and bool(changes))


def _finding_ids(findings: Any) -> set[str]:
    if not isinstance(findings, list):
        return set()
    return {f["id"] for f in findings if isinstance(f, dict) and isinstance(f.get("id"), str)}


def _get(document: Mapping[str, Any], *keys: str) -> Any:
    value: Any = document
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value
