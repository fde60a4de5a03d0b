"""The fast ustar reader agrees with ``tarfile`` on every archive it accepts.

``read_archive`` reads plain POSIX ustar archives itself and hands anything
else to ``tarfile``. Two parsers of one format are a classic source of
confusion attacks (one sees a file the other does not), so these tests hold
the fast reader to "``tarfile``'s answer, or decline".
"""

from __future__ import annotations

import gzip
import io
import tarfile
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from charter.core.errors import ArchiveError
from charter.policy.bundle import (
    ArchiveLimits,
    _tarfile_entries,
    _ustar_entries,
    build_tarball,
    read_archive,
)

_segment = st.text(alphabet="abcxyz019_-.é", min_size=1, max_size=40).filter(
    lambda s: s not in {".", ".."}
)
_names = st.lists(_segment, min_size=1, max_size=4).map("/".join)
_sizes = st.sampled_from([0, 1, 511, 512, 513, 1024, 1500])


def _tarball(entries: list[tuple[str, str, bytes]], fmt: int) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=fmt) as tar:
        for name, kind, data in entries:
            info = tarfile.TarInfo(name)
            if kind == "dir":
                info.type = tarfile.DIRTYPE
            elif kind == "link":
                info.type = tarfile.SYMTYPE
                info.linkname = "elsewhere"
            else:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if kind == "file" else None)
    return raw.getvalue()


def _tarfile_view(raw: bytes) -> list[Any] | Exception:
    try:
        return list(_tarfile_entries(raw))
    except Exception as exc:  # noqa: BLE001 - the reference's answer, whatever it is
        return exc


_entries = st.lists(
    st.tuples(
        _names,
        st.sampled_from(["file", "file", "file", "dir", "link"]),
        _sizes.flatmap(lambda n: st.binary(min_size=n, max_size=n)),
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    entries=_entries,
    fmt=st.sampled_from([tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT]),
)
def test_fast_reader_matches_tarfile_or_declines(
    entries: list[tuple[str, str, bytes]], fmt: int
) -> None:
    try:
        raw = _tarball(entries, fmt)
    except ValueError:
        return  # a name this format cannot hold
    fast = _ustar_entries(raw)
    if fast is not None:
        assert fast == _tarfile_view(raw)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    entries=_entries,
    edits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=4),
    cut=st.none() | st.integers(0, 10**6),
)
def test_corrupted_archives_never_split_the_readers(
    entries: list[tuple[str, str, bytes]], edits: list[tuple[int, int]], cut: int | None
) -> None:
    raw = bytearray(_tarball(entries, tarfile.USTAR_FORMAT))
    for offset, value in edits:
        raw[offset % len(raw)] = value
    data = bytes(raw if cut is None else raw[: cut % (len(raw) + 1)])
    fast = _ustar_entries(data)
    if fast is not None:
        assert fast == _tarfile_view(data)


def test_bundles_as_built_take_the_fast_path() -> None:
    files = {f"charter/overlay/r{i}.rego": b"package x\n" * i for i in range(50)}
    files[".manifest"] = b"{}"
    gz = build_tarball(files)
    fast = _ustar_entries(gzip.decompress(gz))
    assert fast is not None and {e.name: e.data for e in fast} == files
    assert read_archive(gz) == files


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("../escape", "path traversal"),
        ("/abs", "absolute"),
        ("a//b", "empty or '.'"),
        ("a/./b", "empty or '.'"),
    ],
)
def test_fast_path_names_are_checked_like_any_other(name: str, why: str) -> None:
    raw = _tarball([(name, "file", b"x")], tarfile.USTAR_FORMAT)
    assert _ustar_entries(raw) is not None  # the fast reader took it …
    with pytest.raises(ArchiveError, match=why):  # … and the checks still refuse it
        read_archive(gzip.compress(raw))


def test_fast_path_honours_limits() -> None:
    raw = _tarball([(f"f{i}", "file", b"x" * 600) for i in range(5)], tarfile.USTAR_FORMAT)
    assert _ustar_entries(raw) is not None
    with pytest.raises(ArchiveError, match="more than 4 entries"):
        read_archive(gzip.compress(raw), limits=ArchiveLimits(max_files=4))
    with pytest.raises(ArchiveError, match="larger than 100 bytes"):
        read_archive(gzip.compress(raw), limits=ArchiveLimits(max_file_bytes=100))
    dup = _tarball([("a", "file", b"1"), ("a", "file", b"2")], tarfile.USTAR_FORMAT)
    with pytest.raises(ArchiveError, match="appears twice"):
        read_archive(gzip.compress(dup))


def test_a_link_is_refused_whichever_reader_sees_it() -> None:
    raw = _tarball([("a", "file", b"1"), ("b", "link", b"")], tarfile.USTAR_FORMAT)
    assert _ustar_entries(raw) is None  # declined: tarfile reads it, and it is refused
    with pytest.raises(ArchiveError, match="symbolic link"):
        read_archive(gzip.compress(raw))
