"""Fast paths for large lockfiles give exactly what the general code gives."""

from __future__ import annotations

import itertools
import json
from urllib.parse import unquote, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from charter.core import jsonio
from charter.core.errors import InputError
from charter.facts import dependencies, lockfiles

URL_PARTS = st.sampled_from(
    ["https://", "http://", "HTTPS://", "git+https://", "registry.npmjs.org", "user:pw@",
     "host:8080", "/", "-/", "pkg", "@scope", "%40", "%2F", "?", "#", "[", "]", "::1", " ",
     "\\", "\t", "é", "a.tgz", "1.0.0", ""]
)  # fmt: skip
urls = st.lists(URL_PARTS, max_size=8).map("".join)


@given(urls)
def test_url_path_is_urllibs(url: str) -> None:
    try:
        expected = unquote(urlsplit(url).path)
    except ValueError:
        expected = None
    try:
        got: str | None = lockfiles._url_path(url)
    except ValueError:
        got = None
    assert got == expected


def test_url_path_of_a_registry_tarball() -> None:
    url = "https://registry.npmjs.org/@types/node/-/node-20.17.19.tgz"
    assert lockfiles._url_path(url) == "/@types/node/-/node-20.17.19.tgz"


TARBALL_NAMES = [
    "pkg",
    "@scope/pkg",
    "a/-/b",
    "-",
    "h",
    "x/",
    "",
    "a%2F-%2Fb",
    "q?x",
    "h#x",
    "é",
    "t\tb",
]
TARBALL_VERSIONS = ["1.0.0", "1.0.0.tgz", "1", "-", "1/-/x", "/-/", "2.0.0-rc.1", "1%2F", "é"]


def test_an_own_tarball_passes_the_tarball_check() -> None:
    """The fast test never vouches for a URL the full check refuses: every registry-shaped
    URL of these names and versions, behind every scheme, host and path start below
    (the tail also without its slash, so that it may run into the host)."""
    vouched = 0
    for name, version in itertools.product(TARBALL_NAMES, TARBALL_VERSIONS):
        tail = f"{name}/-/{name.rpartition('/')[2]}-{version}.tgz"
        for scheme, host, middle, slash in itertools.product(
            ["https://", "http://", "HTTPS://", "git+https://", ""],
            [
                "registry.npmjs.org",
                "",
                "h",
                "h?",
                "h#",
                "h%2F",
                "[::1]",
                "h\\",
                "u@h:80",
                "h\uff0f",
            ],
            ["", "/x", "/?", "/#", "/%2F-%2F", "/ ", "/-", "/-/"],
            ["/", ""],
        ):
            url = f"{scheme}{host}{middle}{slash}{tail}"
            if lockfiles._own_tarball(name, version, url):
                vouched += 1
                lockfiles._check_tarball(name, version, url, "node_modules/x")
    assert vouched > 1000  # the usual shapes are vouched for


@given(st.sampled_from(TARBALL_NAMES), st.sampled_from(TARBALL_VERSIONS), urls)
def test_an_odd_url_the_fast_test_vouches_for_passes_the_check(
    name: str, version: str, url: str
) -> None:
    for text in (url, url + f"/{name}/-/{name.rpartition('/')[2]}-{version}.tgz"):
        if lockfiles._own_tarball(name, version, text):
            lockfiles._check_tarball(name, version, text, "node_modules/x")


@pytest.mark.parametrize(
    ("name", "version", "url", "own"),
    [
        ("pkg", "1.0.0", "https://registry.npmjs.org/pkg/-/pkg-1.0.0.tgz", True),
        (
            "@types/node",
            "20.17.19",
            "https://registry.npmjs.org/@types/node/-/node-20.17.19.tgz",
            True,
        ),
        ("pkg", "1.0.0", "http://mirror.example/npm/pkg/-/pkg-1.0.0.tgz", True),
        ("pkg", "1.0.0", "https://registry.npmjs.org/pkg/-/pkg-6.6.6.tgz", False),
        ("pkg", "1.0.0", "https://registry.npmjs.org/evil/-/pkg-1.0.0.tgz", False),
        ("pkg", "1.0.0", "https://registry.npmjs.org/pkg/-/pkg-1.0.0.tgz?x", False),
        ("pkg", "1.0.0", "https://registry.npmjs.org/%70kg/-/pkg-1.0.0.tgz", False),
        ("registry.npmjs.org", "1", "https://registry.npmjs.org/-/registry.npmjs.org-1.tgz", False),
        ("pkg", "1/-/pkg-1", "https://r.example/pkg/-/pkg-1/-/pkg-1.tgz", False),
        ("pkg", "1.0.0", "git+https://github.com/pkg/-/pkg-1.0.0.tgz", False),
    ],
)
def test_own_tarballs(name: str, version: str, url: str, own: bool) -> None:
    assert lockfiles._own_tarball(name, version, url) is own


ORIGINS = st.dictionaries(
    st.sampled_from(["resolved", "integrity", "é", "a"]),
    st.one_of(st.text(max_size=5), st.integers(), st.none(), st.booleans()),
    max_size=3,
)


@given(ORIGINS)
def test_origin_text_is_json_dumps(origin: dict[str, object]) -> None:
    assert lockfiles._ORIGIN_TEXT.encode(origin) == json.dumps(
        origin, sort_keys=True, default=str, ensure_ascii=False
    )


VERSIONS = st.sets(
    st.one_of(st.none(), st.sampled_from(["1.0.0", "1.0.10", "1.0.9", "2.0.0-rc.1", "v1"]))
)


@given(VERSIONS)
def test_versions_in_order_is_the_sort(versions: set[str | None]) -> None:
    assert dependencies._in_order(versions) == sorted(
        versions, key=lambda v: (dependencies._version_key(v), v or "")
    )


# core.jsonio: the nesting test that spares large documents the tree walk.

json_values = st.recursive(
    st.one_of(st.none(), st.integers(), st.sampled_from(['a"[', "{\\", "]}", "\\u", "x"])),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.sampled_from(
                ["k", "[", '"{'],
            ),
            inner,
            max_size=3,
        ),
    ),
    max_leaves=30,
)


def _depth(value: object) -> int:
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    return 0


@given(json_values, st.integers(min_value=0, max_value=6))
def test_deeper_than_is_the_bracket_nesting(value: object, limit: int) -> None:
    text = json.dumps(value, ensure_ascii=False)
    assert jsonio._deeper_than(text, limit) == (_depth(value) > limit)


def test_a_large_shallow_document_skips_the_tree_walk_and_a_deep_one_is_refused() -> None:
    shallow = json.dumps({f"p{i}": {"v": [i, "[{"]} for i in range(1000)})
    assert not jsonio._may_need_tree_check(shallow, 8)
    deep = "[" * 10 + "]" * 10
    with pytest.raises(InputError, match="nested deeper than 8 levels"):
        jsonio.loads(deep, what="deep.json", max_depth=8)
