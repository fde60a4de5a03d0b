"""Dependency changes derived from real lockfile bumps, and from hostile files.

The before/after pairs under tests/assets/lockfiles/ are real bot-made bumps
(provenance in tests/assets/lockfiles/README.md); the expected changes are the
"resolved changes" recorded for them. Inline documents below are hand-written
format examples, not tool output.
"""

from __future__ import annotations

import gc
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from charter.core import heap
from charter.facts import (
    MAX_FILE_BYTES,
    DependencyChange,
    DependencyFacts,
    UnparsedFile,
    dependencies,
    derive_dependency_changes,
    is_dependency_file,
    lockfiles,
)
from charter.facts.lockfiles import (
    Inventory,
    Unreadable,
    _npm_origin,
    _NpmStream,
    _origin_digest,
    _package_lock_streamed,
    _package_lock_whole,
    package_lock,
)

ASSETS = Path(__file__).parent / "assets" / "lockfiles"

Resolved = set[tuple[str, str, str | None, str | None, str]]


def _pair(folder: str) -> dict[str, tuple[bytes | None, bytes | None]]:
    before, after = ASSETS / folder / "before", ASSETS / folder / "after"
    return {
        f.name: (f.read_bytes(), (after / f.name).read_bytes()) for f in sorted(before.iterdir())
    }


def _resolved(facts: DependencyFacts) -> Resolved:
    return {(c.ecosystem, c.name, c.old, c.new, c.file) for c in facts.changes}


REAL_PAIRS: dict[str, Resolved] = {
    "npm-package-lock-v3": {
        ("npm", "@types/node", "20.17.16", "20.17.19", "package-lock.json"),
        ("npm", "prettier", "3.4.2", "3.5.1", "package-lock.json"),
    },
    "npm-package-lock-v2": {
        ("npm", "markdownlint-cli", "0.49.0", "0.49.1", "package-lock.json"),
        ("npm", "ignore", "7.0.5", "7.0.6", "package-lock.json"),
        ("npm", "ini", "4.1.1", "7.0.0", "package-lock.json"),
        ("npm", "js-yaml", "4.2.0", "5.2.1", "package-lock.json"),
        ("npm", "linkify-it", "5.0.1", "5.0.2", "package-lock.json"),
        ("npm", "markdown-it", "14.2.0", "14.3.0", "package-lock.json"),
        ("npm", "markdownlint", "0.41.0", "0.41.1", "package-lock.json"),
        ("npm", "run-con", "1.3.2", "1.3.3", "package-lock.json"),
        ("npm", "smol-toml", "1.6.1", "1.7.0", "package-lock.json"),
    },
    "yarn-v1": {
        ("npm", "pdfmake", "0.3.10", "0.3.11", "yarn.lock"),
        ("npm", "pdfkit", "0.19.0", "0.19.1", "yarn.lock"),
    },
    "pnpm": {("npm", "type-fest", "5.3.0", "5.3.1", "pnpm-lock.yaml")},
    "poetry": {("pypi", "flake8-bugbear", "22.8.23", "22.9.23", "poetry.lock")},
    "uv": {("pypi", "pytest", "9.0.2", "9.0.3", "uv.lock")},
    "pip-requirements": {("pypi", "protobuf", "4.25.8", "5.29.6", "requirements.txt")},
    "go-modules": {("go", "google.golang.org/protobuf", "v1.36.11", "v1.36.12", "go.mod")},
    # The PR title says 0.49.1; the lockfile resolves 0.49.3 — the lockfile is the fact.
    "cargo": {
        ("cargo", name, "0.48.5", "0.49.3", "Cargo.lock")
        for name in ("jsonschema", "jsonschema-regex", "jsonschema-value", "referencing")
    },
}


#: The same bumps as the manifests declare them (package.json, pyproject.toml, Cargo.toml
#: are read too: an unlocked install resolves what they ask for).
MANIFEST_CHANGES: dict[str, Resolved] = {
    "cargo": {("cargo", "jsonschema", "0.48.1", "0.49.1", "Cargo.toml")},
    "npm-package-lock-v2": {("npm", "markdownlint-cli", "^0.49.0", "^0.49.1", "package.json")},
    "npm-package-lock-v3": {
        ("npm", "@types/node", "20.17.16", "20.17.19", "package.json"),
        ("npm", "prettier", "3.4.2", "3.5.1", "package.json"),
    },
    "pnpm": {
        ("npm", "overrides:type-fest", "5.3.0", "5.3.1", "package.json"),
        ("npm", "pnpm.overrides:type-fest", "5.3.0", "5.3.1", "package.json"),
    },
    "poetry": {("pypi", "flake8-bugbear", "^22.8.23", "^22.9.23", "pyproject.toml")},
    "uv": {("pypi", "pytest", ">=9.0.2", ">=9.0.3", "pyproject.toml")},
    "yarn-v1": {("npm", "pdfmake", "^0.3.10", "^0.3.11", "package.json")},
}


@pytest.mark.parametrize("folder", sorted(REAL_PAIRS))
def test_real_bump_resolves_exactly_the_recorded_changes(folder: str) -> None:
    facts = derive_dependency_changes(_pair(folder))
    assert facts.unparsed == ()
    expected = REAL_PAIRS[folder] | MANIFEST_CHANGES.get(folder, set())
    assert _resolved(facts) == expected
    assert len(facts.changes) == len(expected)


@pytest.mark.parametrize("folder", sorted(REAL_PAIRS))
def test_real_bump_swapped_inverts_and_self_diff_is_empty(folder: str) -> None:
    pair = _pair(folder)
    forward = derive_dependency_changes(pair)
    backward = derive_dependency_changes({p: (a, b) for p, (b, a) in pair.items()})
    assert _resolved(backward) == {(e, n, new, old, f) for e, n, old, new, f in _resolved(forward)}
    same = derive_dependency_changes({p: (a, a) for p, (_, a) in pair.items()})
    assert same == DependencyFacts((), ())


def test_direct_flags_come_from_the_lockfile_or_are_unknown() -> None:
    def flags(folder: str) -> dict[str, bool | None]:
        return {c.name: c.direct for c in derive_dependency_changes(_pair(folder)).changes}

    assert flags("npm-package-lock-v2")["markdownlint-cli"] is True
    assert flags("npm-package-lock-v2")["smol-toml"] is False
    assert flags("npm-package-lock-v3") == {"@types/node": True, "prettier": True}
    assert flags("cargo") == {
        "jsonschema": True,
        "jsonschema-regex": False,
        "jsonschema-value": False,
        "referencing": False,
    }
    assert flags("go-modules") == {"google.golang.org/protobuf": True}
    assert flags("uv") == {"pytest": True}
    assert flags("yarn-v1") == {"pdfmake": None, "pdfkit": None}  # yarn v1 does not say


def test_output_is_sorted_and_typed() -> None:
    facts = derive_dependency_changes(_pair("npm-package-lock-v2") | _pair("cargo"))
    files = [c.file for c in facts.changes]
    assert files == sorted(files)
    names = [c.name for c in facts.changes if c.file == "package-lock.json"]
    assert names == sorted(names)
    assert all(isinstance(c, DependencyChange) for c in facts.changes)


def test_added_and_removed_files_list_every_package() -> None:
    lock = (ASSETS / "trivy-poetry" / "poetry.lock").read_bytes()
    added = derive_dependency_changes({"app/poetry.lock": (None, lock)})
    assert _resolved(added) == {
        ("pypi", "click", None, "8.1.3", "app/poetry.lock"),
        ("pypi", "colorama", None, "0.4.6", "app/poetry.lock"),
        ("pypi", "werkzeug", None, "0.14", "app/poetry.lock"),
    }
    removed = derive_dependency_changes({"app/poetry.lock": (lock, None)})
    assert {(c.name, c.old, c.new) for c in removed.changes} == {
        ("click", "8.1.3", None),
        ("colorama", "0.4.6", None),
        ("werkzeug", "0.14", None),
    }


def test_requirements_unpinned_is_none_and_names_are_normalised() -> None:
    reqs = (ASSETS / "trivy-pip" / "requirements.txt").read_bytes()
    facts = derive_dependency_changes({"requirements-dev.txt": (None, reqs)})
    versions = {c.name: c.new for c in facts.changes}
    assert versions["markupsafe"] is None  # `MarkupSafe>2.0.0` is not a pin
    assert versions["werkzeug"] == "0.11"
    assert versions["jinja2"] == "3.0.0"
    assert len(versions) == 8
    text = b"# c\n-r base.txt\n--index-url https://x\nFoo_Bar[x] == 1.0 ; python_version>'3'\n"
    more = derive_dependency_changes({"requirements.txt": (None, text)})
    assert _resolved(more) == {
        ("pypi", "foo-bar", None, "1.0", "requirements.txt"),
        ("pypi", "--index-url", None, "https://x", "requirements.txt"),
        # pip reads the included file too: including another one is a change.
        ("pypi", "--requirement", None, "base.txt", "requirements.txt"),
    }


def test_is_dependency_file() -> None:
    for yes in ("package-lock.json", "a/b/yarn.lock", "requirements-dev.txt", "go.mod", "x/go.sum"):
        assert is_dependency_file(yes), yes
    for no in ("README.md", "requirements.md", "src/yarn.lock.bak", "Cargo.toml.orig"):
        assert not is_dependency_file(no), no
    assert derive_dependency_changes({"README.md": (b"a", b"b")}) == DependencyFacts((), ())


def test_dependency_file_names_every_way_they_are_spelled() -> None:
    pip = (
        "a\\Requirements\\Dev.IN", "requirements/x.txt", "CONSTRAINTS-prod.txt",
        "ci/dev-requirements.in", "x/requirements/requirements/base.txt",
    )  # fmt: skip
    unread = (
        "x/buildscript-GRADLE.lockfile", "conda-linux-64.lock", "env.conda-lock.yml",
        "pylock.dev.toml", "Manifest.toml", "a/Package.resolved", "x.gemspec",
    )  # fmt: skip
    for yes in (*pip, *unread):
        assert is_dependency_file(yes), yes
    for path in pip:
        assert lockfiles.reader_for(path) is lockfiles.requirements_txt, path
    for no in ("requirements", "requirements.txt/x", "notes.txt", "requirements.md", "lock.in"):
        assert not is_dependency_file(no), no
    # reader_for tries the patterns only on a name holding "lock": each must need it.
    for pattern, _ in lockfiles.UNREAD_LOCKFILE_PATTERNS:
        assert all("lock" in alternative for alternative in pattern.pattern.split("|")), pattern


def test_nested_npm_versions_pair_in_version_order() -> None:
    def lock(packages: dict[str, str]) -> bytes:
        body: dict[str, object] = {"": {"dependencies": {"a": "*"}}}
        body.update({k: {"version": v} for k, v in packages.items()})
        return json.dumps({"lockfileVersion": 3, "packages": body}).encode()

    before = lock({"node_modules/a": "1.0.0", "node_modules/b/node_modules/a": "2.0.0"})
    after = lock({"node_modules/a": "1.0.0", "node_modules/c/node_modules/a": "2.10.0"})
    facts = derive_dependency_changes({"package-lock.json": (before, after)})
    assert [(c.name, c.old, c.new, c.direct) for c in facts.changes] == [
        ("a", "2.0.0", "2.10.0", True)
    ]


def test_go_mod_replace_and_indirect() -> None:
    before = b"module m\n\nrequire (\n\tx.io/a v1.0.0\n\tx.io/b v1.0.0 // indirect\n)\n"
    after = before + b"replace x.io/a => ../fork\n"
    facts = derive_dependency_changes({"go.mod": (before, after)})
    assert [(c.name, c.old, c.new, c.direct) for c in facts.changes] == [
        ("x.io/a", "v1.0.0", "v1.0.0 => ../fork", True)
    ]
    added = derive_dependency_changes({"go.mod": (None, before)})
    assert {c.name: c.direct for c in added.changes} == {"x.io/a": True, "x.io/b": False}


def test_gemfile_and_pipfile_and_berry_formats() -> None:
    gem = (
        b"GEM\n  remote: https://rubygems.org/\n  specs:\n    rack (2.2.8)\n"
        b"    rails (7.1.0)\n      rack (>= 2.2.4)\n\nPLATFORMS\n  ruby\n\n"
        b"DEPENDENCIES\n  rails\n\nBUNDLED WITH\n   2.4.10\n"
    )
    facts = derive_dependency_changes({"Gemfile.lock": (gem, gem.replace(b"2.2.8", b"2.2.9"))})
    assert [(c.ecosystem, c.name, c.old, c.new, c.direct) for c in facts.changes] == [
        ("rubygems", "rack", "2.2.8", "2.2.9", False)
    ]
    pip = {"_meta": {}, "default": {"requests": {"version": "==2.31.0"}}, "develop": {}}
    after = json.loads(json.dumps(pip))
    after["develop"]["pytest"] = {"version": "==8.0.0"}
    facts = derive_dependency_changes(
        {"Pipfile.lock": (json.dumps(pip).encode(), json.dumps(after).encode())}
    )
    assert _resolved(facts) == {("pypi", "pytest", None, "8.0.0", "Pipfile.lock")}
    berry = (
        b'__metadata:\n  version: 8\n\n"lodash@npm:^4.17.0":\n  version: 4.17.21\n'
        b'  resolution: "lodash@npm:4.17.21"\n\n"app@workspace:.":\n  version: 0.0.0-use.local\n'
        b'  resolution: "app@workspace:."\n'
    )
    facts = derive_dependency_changes({"yarn.lock": (None, berry)})
    assert _resolved(facts) == {("npm", "lodash", None, "4.17.21", "yarn.lock")}


# --- hostile input ------------------------------------------------------------


def _only_unparsed(path: str, before: bytes | None, after: bytes | None) -> UnparsedFile:
    facts = derive_dependency_changes({path: (before, after)})
    assert facts.changes == ()
    assert len(facts.unparsed) == 1
    assert facts.unparsed[0].path == path
    return facts.unparsed[0]


GARBAGE = [
    b"{",
    b"\xff\xfe\x00garbage",
    b"[1, 2, 3]",
    b'{"lockfileVersion": 3, "packages": []}',
    b"package = 5\n[[[",
    b"key: [unclosed",
    b"- a\n- b\n",
    b"\x00" * 64,
]
LOCK_NAMES = [
    "package-lock.json",
    "npm-shrinkwrap.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "poetry.lock",
    "uv.lock",
    "Pipfile.lock",
    "Cargo.lock",
    "go.mod",
    "requirements.txt",
    "Gemfile.lock",
]


@pytest.mark.parametrize("name", LOCK_NAMES)
def test_malformed_files_are_reported_never_raised(name: str) -> None:
    reported = 0
    for junk in GARBAGE:
        facts = derive_dependency_changes({f"svc/{name}": (None, junk)})
        assert all(
            u.path == f"svc/{name}" and u.reason.startswith("after: ") for u in facts.unparsed
        )
        reported += len(facts.unparsed)
    assert reported >= 2  # every reader refuses at least the non-UTF-8 and NUL inputs


def test_nul_byte_inside_a_version_is_refused() -> None:
    lock = {
        "lockfileVersion": 3,
        "packages": {"": {}, "node_modules/java": {"version": "17.0.10+7\u0000-J-ms8m"}},
    }
    bad = _only_unparsed("package-lock.json", None, json.dumps(lock).encode())
    assert "control character" in bad.reason and "java" in bad.reason
    yarn = b'a@^1:\n  version "1.0.0\x00-x"\n'
    assert "control character" in _only_unparsed("yarn.lock", None, yarn).reason
    cargo = b'version = 4\n[[package]]\nname = "x"\nversion = "1.0\\u0000"\nsource = "r"\n'
    assert "control character" in _only_unparsed("Cargo.lock", None, cargo).reason


def test_duplicate_keys_are_refused() -> None:
    dup = (
        b'{"lockfileVersion": 3, "packages": {"node_modules/a": {"version": "1.0.0"},'
        b' "node_modules/a": {"version": "6.6.6"}}}'
    )
    assert "duplicate key" in _only_unparsed("package-lock.json", None, dup).reason
    pnpm = b"lockfileVersion: '9.0'\npackages:\n  a@1.0.0: {}\n  a@1.0.0: {}\n"
    assert "duplicate key" in _only_unparsed("pnpm-lock.yaml", None, pnpm).reason
    yarn = b'a@^1:\n  version "1.0.0"\n\na@^1:\n  version "6.6.6"\n'
    assert "listed twice" in _only_unparsed("yarn.lock", None, yarn).reason
    pipfile = b'{"default": {"x": {"version": "==1"}, "x": {"version": "==2"}}}'
    assert "duplicate key" in _only_unparsed("Pipfile.lock", None, pipfile).reason


def test_yarn_resolved_url_disagreeing_with_version_makes_the_file_unparsed() -> None:
    # trivy's real fixture: jquery says 3.2.1 but downloads jquery-3.4.1.tgz.
    lock = (ASSETS / "trivy-yarn" / "yarn.lock").read_bytes()
    bad = _only_unparsed("yarn.lock", None, lock)
    assert "jquery" in bad.reason and "'3.2.1'" in bad.reason and "'3.4.1'" in bad.reason
    fixed = lock.replace(b"jquery-3.4.1.tgz", b"jquery-3.2.1.tgz")
    facts = derive_dependency_changes({"yarn.lock": (None, fixed)})
    assert facts.unparsed == ()
    assert ("jquery", "3.2.1") in {(c.name, c.new) for c in facts.changes}


def test_unparsed_side_is_named_and_the_other_side_does_not_leak_changes() -> None:
    good = (ASSETS / "uv" / "before" / "uv.lock").read_bytes()
    bad = _only_unparsed("uv.lock", good, good[: len(good) // 2])
    assert bad.reason.startswith("after: malformed TOML")


def test_huge_files_are_refused_before_parsing() -> None:
    lock = (ASSETS / "cargo" / "after" / "Cargo.lock").read_bytes()
    facts = derive_dependency_changes({"Cargo.lock": (None, lock)}, max_bytes=len(lock) - 1)
    assert facts.changes == ()
    assert facts.unparsed == (
        UnparsedFile("Cargo.lock", f"after: {len(lock)} bytes, more than the {len(lock) - 1} read"),
    )


def test_default_bound_refuses_a_file_just_over_it() -> None:
    huge = b"#" * (MAX_FILE_BYTES + 1)
    bad = _only_unparsed("requirements.txt", None, huge)
    assert bad.reason == f"after: {MAX_FILE_BYTES + 1} bytes, more than the {MAX_FILE_BYTES} read"


def test_many_packages_are_all_read() -> None:
    lines = "".join(f"pkg{i}=={i}.0.0\n" for i in range(100_000)).encode()
    facts = derive_dependency_changes({"requirements.txt": (None, lines)})
    assert len(facts.changes) == 100_000 and facts.unparsed == ()


def test_deeply_nested_json_is_unparsed_not_a_crash() -> None:
    deep = b'{"lockfileVersion": 3, "packages": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert _only_unparsed("package-lock.json", None, deep).reason.startswith("after: ")


# --- properties ---------------------------------------------------------------

_names = st.from_regex(r"[a-z][a-z0-9]{0,6}", fullmatch=True)
_versions = st.from_regex(r"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}", fullmatch=True)


def _npm(packages: dict[tuple[tuple[str, ...], str], str]) -> bytes:
    body: dict[str, object] = {"": {"dependencies": {}}}
    for (parents, name), version in packages.items():
        key = "/".join(f"node_modules/{p}" for p in [*parents, name])
        body[key] = {"version": version}
    return json.dumps({"lockfileVersion": 3, "packages": body}).encode()


_npm_locks = st.dictionaries(
    st.tuples(st.lists(_names, max_size=2).map(tuple), _names), _versions, max_size=12
).map(_npm)
_reqs = st.dictionaries(_names, st.one_of(st.none(), _versions), max_size=12).map(
    lambda d: "".join(f"{n}=={v}\n" if v else f"{n}>=1\n" for n, v in d.items()).encode()
)


@settings(max_examples=60, deadline=None)
@given(
    st.one_of(
        _npm_locks.map(lambda b: ("package-lock.json", b)),
        _reqs.map(lambda b: ("requirements.txt", b)),
    ),
    st.data(),
)
def test_property_self_diff_empty_and_swap_inverts(
    named: tuple[str, bytes], data: st.DataObject
) -> None:
    path, before = named
    after = data.draw(_npm_locks if path == "package-lock.json" else _reqs)
    assert derive_dependency_changes({path: (before, before)}) == DependencyFacts((), ())
    forward = derive_dependency_changes({path: (before, after)})
    backward = derive_dependency_changes({path: (after, before)})
    assert forward.unparsed == backward.unparsed == ()
    assert _resolved(backward) == {(e, n, new, old, f) for e, n, old, new, f in _resolved(forward)}
    assert len(backward.changes) == len(forward.changes)


# --- same version, other artifact; sources in requirements -----------------------


def test_same_version_from_another_source_is_a_change_with_old_equal_new() -> None:
    lock = (ASSETS / "npm-package-lock-v2" / "after" / "package-lock.json").read_bytes()
    evil = lock.replace(
        b"https://registry.npmjs.org/ini/-/ini-7.0.0.tgz",
        b"https://evil.example/ini/-/ini-7.0.0.tgz",
    )
    assert evil != lock
    facts = derive_dependency_changes({"package-lock.json": (lock, evil)})
    assert [(c.name, c.old, c.new) for c in facts.changes] == [("ini", "7.0.0", "7.0.0")]
    cargo = (ASSETS / "cargo" / "after" / "Cargo.lock").read_bytes()
    checksum = b'checksum = "1b5d307320b3181d6d7954e663bd7c774a838b8220fe0593c86d9fb09f498b4b"'
    assert cargo.count(checksum) == 1
    tampered = cargo.replace(checksum, checksum.replace(b"1b5d", b"0000"))
    facts = derive_dependency_changes({"Cargo.lock": (cargo, tampered)})
    assert len(facts.changes) == 1
    assert facts.changes[0].old == facts.changes[0].new is not None


def test_npm_resolved_url_of_another_package_or_version_is_refused() -> None:
    def lock(resolved: str) -> bytes:
        entry = {"version": "1.0.0", "resolved": resolved}
        return json.dumps(
            {"lockfileVersion": 3, "packages": {"": {}, "node_modules/left-pad": entry}}
        ).encode()

    ok = lock("https://registry.npmjs.org/left-pad/-/left-pad-1.0.0.tgz")
    assert derive_dependency_changes({"package-lock.json": (None, ok)}).unparsed == ()
    other = lock("https://registry.npmjs.org/evil/-/evil-1.0.0.tgz")
    assert "another package" in _only_unparsed("package-lock.json", None, other).reason
    newer = lock("https://registry.npmjs.org/left-pad/-/left-pad-6.6.6.tgz")
    assert "'6.6.6'" in _only_unparsed("package-lock.json", None, newer).reason
    git = lock("git+ssh://git@github.com/x/left-pad.git#abc")  # names no version: passes
    assert derive_dependency_changes({"package-lock.json": (None, git)}).unparsed == ()


def test_yarn_alias_is_checked_against_the_real_package() -> None:
    alias = (
        b'"string-width-cjs@npm:string-width@^4.2.0":\n  version "4.2.3"\n'
        b'  resolved "https://registry.yarnpkg.com/string-width/-/string-width-4.2.3.tgz#ab"\n'
    )
    facts = derive_dependency_changes({"yarn.lock": (None, alias)})
    assert facts.unparsed == ()
    assert _resolved(facts) == {("npm", "string-width-cjs", None, "4.2.3", "yarn.lock")}


def test_requirements_sources_and_direct_references_are_entries() -> None:
    before = b"requests==2.31.0 --hash=sha256:aa\n"
    after = (
        b"--extra-index-url=https://evil.example/simple\n"
        b"requests==2.31.0 \\\n    --hash=sha256:bb\n"
        b"bar @ https://h.example/bar-1.0.whl\n"
    )
    facts = derive_dependency_changes({"requirements/prod.txt": (before, after)})
    assert facts.unparsed == ()
    assert _resolved(facts) == {
        ("pypi", "--extra-index-url", None, "https://evil.example/simple", "requirements/prod.txt"),
        ("pypi", "bar", None, "@ https://h.example/bar-1.0.whl", "requirements/prod.txt"),
        ("pypi", "requests", "2.31.0", "2.31.0", "requirements/prod.txt"),  # other hash
    }
    assert is_dependency_file("requirements/prod.txt")
    assert not is_dependency_file("docs/notes.txt")


def test_yaml_alias_bomb_and_deep_nesting_are_bounded() -> None:
    levels = "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
    )
    bomb = (
        "lockfileVersion: '9.0'\na: &a [x, x, x, x, x, x, x, x, x]\n"
        + levels
        + "packages:\n  x@1.0.0:\n    resolution: {integrity: *i}\n"
    ).encode()
    bad = _only_unparsed("pnpm-lock.yaml", None, bomb)  # 9**9 strings if expanded
    assert "not a flat mapping" in bad.reason
    deep = b"lockfileVersion: '9.0'\npackages: " + b"[" * 50_000 + b"]" * 50_000 + b"\n"
    assert "malformed YAML" in _only_unparsed("pnpm-lock.yaml", None, deep).reason


_fragments = st.sampled_from(
    [
        "{",
        "}",
        "[",
        "]",
        '"',
        ":",
        ",",
        "\n",
        "  ",
        "    ",
        "@",
        "=",
        "==",
        "#",
        "-",
        "/",
        "node_modules/",
        "packages",
        "version",
        "lockfileVersion",
        "3",
        "9.0",
        "[[package]]",
        'name = "a"',
        'version = "1"',
        "require",
        "(",
        ")",
        "GEM",
        "specs:",
        "a (1.0)",
        "resolved",
        "https://r/a/-/a-2.tgz",
        "\x00",
        "\\",
        "'",
        "a@^1:",
        '  version "1.0"',
    ]
)


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(LOCK_NAMES),
    st.one_of(st.binary(max_size=200), st.lists(_fragments, max_size=40).map("".join)),
)
def test_property_any_bytes_give_facts_never_an_exception(name: str, junk: bytes | str) -> None:
    data = junk.encode() if isinstance(junk, str) else junk
    facts = derive_dependency_changes({name: (None, data)})
    assert all(u.path == name and u.reason.startswith("after: ") for u in facts.unparsed)
    assert not (facts.unparsed and facts.changes)
    assert all(c.old is None and c.file == name for c in facts.changes)


# ---------------------------------------------------------------- package-lock read entry by entry
# A v2/v3 package-lock.json is walked one `packages` entry at a time; whenever that
# walk is not sure, the whole reading decides. Either way the answer must be the
# whole reading's: the same inventory, or the same reason it is unreadable.
def _outcome(read: Callable[[], Inventory]) -> object:
    try:
        inv = read()
    except Unreadable as exc:
        return f"unreadable: {exc}"
    return (inv.ecosystem, inv.direct, inv.locked, inv.origins)


def _same_as_whole(data: bytes) -> object:
    whole = _outcome(lambda: _package_lock_whole(data, "package-lock.json"))
    assert _outcome(lambda: package_lock(data, "package-lock.json")) == whole
    # In runs of entries parsed in one call, cut at every place npm's layout allows.
    for chunk in (1, 200):
        streamed = _package_lock_streamed(data, chunk)
        if streamed is not None:
            assert _outcome(lambda: streamed) == whole, chunk  # noqa: B023 - used at once
    return whole


class _CountedRuns(_NpmStream):
    """The walk, counting the runs of entries it parsed in one call."""

    runs = 0

    def _chunk(self, members: str) -> dict[str, Any] | None:
        run = super()._chunk(members)
        self.runs += run is not None
        return run


def _v3(packages: dict[str, object], **top: object) -> dict[str, object]:
    return {"name": "app", "lockfileVersion": 3, **top, "packages": packages}


def test_real_package_locks_are_walked_entry_by_entry_to_the_same_inventory() -> None:
    for folder in ("npm-package-lock-v2", "npm-package-lock-v3"):
        for side in ("before", "after"):
            data = (ASSETS / folder / side / "package-lock.json").read_bytes()
            assert _package_lock_streamed(data) is not None, (folder, side)
            assert not isinstance(_same_as_whole(data), str)


def test_real_package_locks_read_in_runs_of_entries_give_the_same_inventory() -> None:
    for folder in ("npm-package-lock-v2", "npm-package-lock-v3"):
        for side in ("before", "after"):
            data = (ASSETS / folder / side / "package-lock.json").read_bytes()
            whole = _package_lock_whole(data, "package-lock.json")
            walk = _CountedRuns(data.decode(), chunk=1)
            assert walk.read() == whole, (folder, side)
            assert walk.runs > 0, (folder, side)  # the runs were parsed, not only the walk


def test_a_large_package_lock_read_after_its_bytes_are_let_go_gives_the_same_inventory() -> None:
    # Over heap.LARGE: package_lock drops the bytes once decoded and trims the heap.
    entries = {
        f"node_modules/p{n}": {
            "version": f"1.0.{n % 7}",
            "resolved": f"https://registry.npmjs.org/p{n}/-/p{n}-1.0.{n % 7}.tgz",
            "integrity": "sha512-" + "A" * 86 + f"{n}==",
        }
        for n in range(heap.LARGE // 180)
    }
    data = json.dumps(_v3({"": {"dependencies": {"p1": "^1"}}, **entries}), indent=2).encode()
    assert len(data) >= heap.LARGE
    inv = package_lock(data, "package-lock.json")
    assert inv == _package_lock_whole(data, "package-lock.json")
    assert len(inv.locked) == len(entries) and inv.direct == {"p1"}


def _laid_out(entries: list[str]) -> bytes:
    """A v3 lockfile whose ``packages`` members are ``entries`` as written, npm's layout."""
    members = ",\n    ".join(entries)
    return ('{\n  "lockfileVersion": 3,\n  "packages": {\n    ' + members + "\n  }\n}\n").encode()


def test_a_run_cut_where_no_entry_ends_is_never_read_as_one() -> None:
    a = '"node_modules/a": {\n      "version": "1.0.0"\n    }'
    b = '"node_modules/b": {\n      "version": "2.0.0"\n    }'
    c = '"node_modules/c": {\n      "version": "3.0.0"\n    }'
    # Laid out so that the cut mark falls inside entries, before keys, after bad JSON.
    tricky = {
        "inside an entry": '"node_modules/c": {\n      "dependencies": {"x": "1"\n    },\n    '
        '"version": "3.0.0"\n    }',
        "inside a nested value": '"node_modules/c": {"version": "3.0.0", "x": [{\n    },\n    '
        '"y"]\n    }',
        "duplicate across runs": a,
        "duplicate by escape": a.replace("node_modules/a", "node_modules/\\u0061"),
        "bad JSON after": c + ", NaN",
        "lone surrogate": c.replace("3.0.0", "3.0.0\\udc00"),
        "too deep": c.replace('"3.0.0"', '"3.0.0", "x": ' + "[" * 127 + "]" * 127),
    }
    for name, entry in tricky.items():
        data = _laid_out([a, b, entry, b.replace("/b", "/d")])
        outcome = _same_as_whole(data)
        if name.startswith(("duplicate", "bad", "lone", "too")):
            assert str(outcome).startswith("unreadable: "), name
        else:
            assert not isinstance(outcome, str), name
    # packages ends inside a run: the legacy tree after it is laid out as entries are.
    legacy = '"dependencies": {\n    "x": {\n      "version": "9.0.0"\n    },\n    "y": {}\n  }'
    data = _laid_out([a, b]).replace(b"\n  }\n}", b"\n  },\n  " + legacy.encode() + b"\n}")
    assert _same_as_whole(data) == ("npm", set(), {"a": "1.0.0", "b": "2.0.0", "x": "9.0.0",
                                                  "y": None}, {})  # fmt: skip


# Mostly entries npm would write (so the walk is the one that answers), some hostile.
_ENTRY = st.fixed_dictionaries(
    {"version": st.sampled_from(["1.0.0", "2.0.0", "1.0.0-rc.1", "1.0.0", "", "\x00", 7])},
    optional={
        "resolved": st.sampled_from(
            ["git+https://x/y", "git+https://x/y", "https://registry.npmjs.org/b/-/b-9.tgz", 5]
        ),
        "integrity": st.sampled_from(["sha512-AAAA", 'sha1-\\"q', "sha512-\u00e9", ""]),
        "link": st.sampled_from([False, False, True]),
        "license": st.just("MIT"),
        "dependencies": st.dictionaries(st.sampled_from(["a", "b"]), st.just("^1")),
    },
)
_KEYS = st.sampled_from(
    ["", "node_modules/a", "node_modules/b/node_modules/a", "node_modules/@s/c", "packages/w",
     "node_modules/\u00e9", "node_modules/c", "node_modules/q\"x", "node_modules/t\tab"]
)  # fmt: skip


@st.composite
def lock_texts(draw: st.DrawFn) -> bytes:
    packages = draw(st.dictionaries(_KEYS, _ENTRY | st.just({"dependencies": {"a": "*"}})))
    doc = _v3(packages, lockfileVersion=draw(st.sampled_from([3, 2, 3, 2.0, 1, "3", None])))
    if draw(st.booleans()):
        doc["dependencies"] = {"a": {"version": draw(st.sampled_from(["1.0.0", "9.9.9"]))}}
    text = json.dumps(
        doc, indent=draw(st.sampled_from([None, 2])), ensure_ascii=draw(st.booleans())
    )
    # Raw edits JSON cannot express through json.dumps.
    edit = draw(st.sampled_from(["none", "dup-key", "dup-top", "trailing", "nan", "surrogate",
                                 "deep", "bom", "truncate", "late-version", "comma"]))  # fmt: skip
    if edit == "dup-key" and '"node_modules/a": {' in text:
        text = text.replace('"node_modules/a": {', '"node_modules/a": {}, "node_modules/a": {', 1)
    elif edit == "dup-top":
        text = text.replace('"name": "app"', '"name": "app", "name": "app"', 1)
    elif edit == "trailing":
        text += draw(st.sampled_from([" ", "\n", "x", "{}", "\x00"]))
    elif edit == "nan":
        text = text.replace('"MIT"', "NaN", 1)
    elif edit == "surrogate":
        text = text.replace('"MIT"', '"\\ud800"', 1)
    elif edit == "deep":
        text = text.replace('"MIT"', "[" * 130 + "]" * 130, 1)
    elif edit == "bom":
        text = "\ufeff" + text
    elif edit == "truncate":
        text = text[: draw(st.integers(0, len(text)))]
    elif edit == "late-version":
        doc.pop("lockfileVersion")
        text = json.dumps({**doc, "lockfileVersion": 3})
    elif edit == "comma":
        text = text.replace("}", ",}", 1)
    return text.encode("utf-8", "surrogatepass")


@given(lock_texts())
def test_a_package_lock_walked_entry_by_entry_reads_as_the_whole_of_it(data: bytes) -> None:
    _same_as_whole(data)


def test_hostile_package_locks_get_the_whole_readings_answer() -> None:
    good = {"": {"dependencies": {"a": "*"}}, "node_modules/a": {"version": "1.0.0"}}
    plain = json.dumps(_v3(good))
    cases = {
        "escaped key": plain.replace("node_modules/a", "node_modules/\\u0061"),
        "duplicate entry": plain.replace(
            '"node_modules/a"', '"node_modules/a": {}, "node_modules/a"'
        ),
        "lone surrogate": plain.replace('"1.0.0"', '"1.0.0\\udc00"'),
        "too deep": plain.replace('"1.0.0"}', '"1.0.0", "x": ' + "[" * 127 + "]" * 127 + "}"),
        "huge number": plain.replace('"lockfileVersion": 3', '"lockfileVersion": 3, "n": 1e999'),
        "raw control character": plain.replace('"1.0.0"', '"1.0\x01"'),
        # A bad entry, then bad JSON: the JSON error is what the file is refused for.
        "bad entry then bad JSON": plain.replace('"1.0.0"', '"\\u0000"')[:-1],
        "version after packages": json.dumps({"packages": good, "lockfileVersion": 3}),
        "packages not an object": json.dumps({"lockfileVersion": 3, "packages": []}),
        "extra data": plain + " x",
        "version 1 with packages": plain.replace('"lockfileVersion": 3', '"lockfileVersion": 1'),
        "no packages": json.dumps({"lockfileVersion": 3}),
    }
    outcomes = {name: _same_as_whole(text.encode()) for name, text in cases.items()}
    assert outcomes["escaped key"] == _same_as_whole(plain.encode())
    assert outcomes["version after packages"] == _same_as_whole(plain.encode())
    for refused in ("duplicate entry", "lone surrogate", "too deep", "huge number",
                    "raw control character", "packages not an object", "extra data",
                    "no packages"):  # fmt: skip
        assert str(outcomes[refused]).startswith("unreadable: "), refused
    assert "malformed JSON" in str(outcomes["bad entry then bad JSON"])
    assert outcomes["version 1 with packages"] == ("npm", set(), {}, {})  # v1 reads the tree
    assert _package_lock_streamed(plain.encode()) is not None


@given(
    st.dictionaries(st.text(max_size=8), st.text(max_size=12), max_size=4)
    | st.dictionaries(st.text(max_size=4), st.integers() | st.none() | st.lists(st.text()))
    | st.text()
)
def test_an_origin_is_stored_as_the_digest_of_its_compared_text(origin: object) -> None:
    text = json.dumps(origin, sort_keys=True, default=str, ensure_ascii=False)
    assert _origin_digest(origin) == hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


def _oracle(doc: dict[str, Any]) -> tuple[dict[str, set[str | None]], dict[Any, set[str]]]:
    """A v3 lockfile's versions and origins as the former reader kept them (sets of text)."""
    versions: dict[str, set[str | None]] = {}
    origins: dict[Any, set[str]] = {}
    for key, body in doc["packages"].items():
        if "node_modules/" not in f"/{key}":
            continue
        name = key.rsplit("node_modules/", 1)[1]
        versions.setdefault(name, set()).add(body["version"])
        picked = {k: body[k] for k in ("resolved", "integrity") if k in body}
        if picked:
            origins.setdefault((name, body["version"]), set()).add(
                json.dumps(picked, sort_keys=True, ensure_ascii=False)
            )
    return versions, origins


_PACKAGE = st.fixed_dictionaries(
    {"version": st.sampled_from(["1.0.0", "1.0.1", "2.0.0", "10.0.0"])},
    optional={"integrity": st.sampled_from(["sha512-A", "sha512-B"])},
)


@given(
    before=st.dictionaries(st.sampled_from([f"node_modules/{n}" for n in "abcd"] +
                                           ["node_modules/x/node_modules/a"]), _PACKAGE),
    after=st.dictionaries(st.sampled_from([f"node_modules/{n}" for n in "abce"] +
                                          ["node_modules/y/node_modules/a"]), _PACKAGE),
)  # fmt: skip
def test_npm_changes_match_the_former_whole_text_comparison(
    before: dict[str, Any], after: dict[str, Any]
) -> None:
    old, new = _v3({"": {}, **before}), _v3({"": {}, **after})
    facts = derive_dependency_changes(
        {"package-lock.json": (json.dumps(old).encode(), json.dumps(new).encode())}
    )
    assert facts.unparsed == ()
    (olds, old_origins), (news, new_origins) = _oracle(old), _oracle(new)
    expected: dict[str, tuple[list[str | None], list[str | None]]] = {}
    for name in olds.keys() | news.keys():
        a, b = olds.get(name, set()), news.get(name, set())
        key = lambda v: [int(p) for p in str(v).split(".")]  # noqa: E731 - plain x.y.z here
        gone, came = sorted(a - b, key=key), sorted(b - a, key=key)
        kept = [v for v in a & b if old_origins.get((name, v)) != new_origins.get((name, v))]
        expected[name] = (gone + kept, came + kept)
    got: dict[str, tuple[list[str | None], list[str | None]]] = {}
    for c in facts.changes:
        olds_got, news_got = got.setdefault(c.name, ([], []))
        if c.old is not None:
            olds_got.append(c.old)
        if c.new is not None:
            news_got.append(c.new)
    assert {n: (sorted(map(str, o)), sorted(map(str, w))) for n, (o, w) in got.items()} == {
        n: (sorted(map(str, o)), sorted(map(str, w))) for n, (o, w) in expected.items() if o or w
    }


_SIDE = st.none() | st.dictionaries(
    st.sampled_from([f"node_modules/{n}" for n in "abcd"] + ["node_modules/x/node_modules/a"]),
    _PACKAGE,
)


@given(before=_SIDE, after=_SIDE, legacy=st.booleans())
def test_origins_kept_only_where_both_sides_lock_the_version_change_nothing(
    before: dict[str, Any] | None, after: dict[str, Any] | None, legacy: bool
) -> None:
    """derive keeps an npm side's origins only where the other side locks that version
    (none without another side): the changes are those of both sides read whole."""

    def lock(packages: dict[str, Any] | None) -> bytes | None:
        if packages is None:
            return None
        top: dict[str, object] = {}
        if legacy:  # npm 6's tree beside `packages`, whose origins are always kept
            top["dependencies"] = {k.rsplit("/", 1)[1]: v for k, v in packages.items()}
        return json.dumps(_v3({"": {}, **packages}, **top)).encode()

    old, new = lock(before), lock(after)
    path = "package-lock.json"
    whole = [package_lock(side, path) if side is not None else None for side in (old, new)]
    facts = derive_dependency_changes({path: (old, new)})
    assert facts.unparsed == ()
    assert facts.changes == tuple(
        sorted(dependencies._diff(path, "npm", *whole), key=dependencies._change_key)
    )


def test_an_added_or_removed_lockfile_keeps_no_origins() -> None:
    data = (ASSETS / "npm-package-lock-v3" / "after" / "package-lock.json").read_bytes()
    kept = package_lock(data, "package-lock.json", origins=dependencies._none)
    whole = package_lock(data, "package-lock.json")
    assert whole.origins and not kept.origins
    assert kept.locked == whole.locked and kept.direct == whole.direct
    same = package_lock(data, "package-lock.json", origins=whole.locks)
    assert same.origins == whole.origins


@given(
    st.fixed_dictionaries(
        {},
        optional={
            "resolved": st.text(max_size=12) | st.none() | st.integers(),
            "integrity": st.text(max_size=12) | st.none() | st.lists(st.text(max_size=3)),
            "version": st.text(max_size=5),
        },
    )
)
def test_an_npm_entrys_origin_digest_is_that_of_its_resolved_and_integrity(
    body: dict[str, Any],
) -> None:
    picked = {k: body[k] for k in ("resolved", "integrity") if k in body}
    assert _npm_origin(body) == (_origin_digest(picked) if picked else None)


def test_direct_is_the_after_sides_word_unless_the_package_left() -> None:
    def lock(direct: list[str], packages: dict[str, str]) -> bytes:
        body: dict[str, object] = {"": {"dependencies": dict.fromkeys(direct, "*")}}
        body.update({f"node_modules/{k}": {"version": v} for k, v in packages.items()})
        return json.dumps({"lockfileVersion": 3, "packages": body}).encode()

    before = lock(["gone"], {"a": "1.0.0", "gone": "1.0.0", "b": "1.0.0"})
    after = lock(["a"], {"a": "2.0.0", "b": "1.0.1"})
    facts = derive_dependency_changes({"package-lock.json": (before, after)})
    assert [(c.name, c.old, c.new, c.direct) for c in facts.changes] == [
        ("a", "1.0.0", "2.0.0", True),  # became direct: the after side says so
        ("b", "1.0.0", "1.0.1", False),
        ("gone", "1.0.0", None, True),  # left: the before side is all there is
    ]


def test_the_cycle_collector_is_paused_only_while_dependency_files_are_read() -> None:
    seen: list[bool] = []

    def side() -> bytes:  # read lazily, while the files are compared
        seen.append(gc.isenabled())
        return b"requests==2.0.0\n"

    def failing() -> bytes:
        raise RuntimeError("a side that cannot be read")

    assert gc.isenabled()
    facts = derive_dependency_changes({"requirements.txt": (side, b"requests==2.1.0\n")})
    assert seen == [False] and gc.isenabled()
    assert [(c.name, c.old, c.new) for c in facts.changes] == [("requests", "2.0.0", "2.1.0")]
    with pytest.raises(RuntimeError):
        derive_dependency_changes({"requirements.txt": (failing, None)})
    assert gc.isenabled()
    gc.disable()  # paused by someone else: left paused
    try:
        derive_dependency_changes({"requirements.txt": (side, None)})
        assert not gc.isenabled()
    finally:
        gc.enable()
