"""The Environment Profile file of a change, read from git (docs/design.md, 'Environment Profile').

A change is decided under the profile it starts from — the base of a range (the
merge base for a pull request), ``HEAD`` for the staged change — never under the
profile it proposes: a change cannot allow its own tools. When the change edits
the file, the profile it proposes is read too, so the rules can judge it
(``ENV-PROFILE-REQUIREMENTS-001``) and reports can show the difference.
"""

from __future__ import annotations

from pathlib import Path

from charter.core.errors import InputError
from charter.facts.git import Repository, canonical_path
from charter.policy.profile import MAX_BYTES, Profile, ProfileContext, parse_profile, read_profile

_REGULAR = ("100644", "100755")
_LINK = "120000"


def _text(data: bytes, source: str) -> str:
    if len(data) > MAX_BYTES:
        raise InputError(f"{source}: larger than {MAX_BYTES} bytes; not a profile")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{source}: not UTF-8 text") from None


def blob_at(repo: Repository, rev: str, path: str) -> bytes | None:
    """The bytes of ``path`` at ``rev`` (``""``: the index), or None when it has none.

    Symbolic links on the way (the file, a folder, every link of a chain) are followed
    as ``rev`` has them, never as the work tree does: a change that retargets a link
    does not choose the profile its base reads."""
    spec = f"{rev}:{path}"
    entry = _entry(repo, rev, path)
    if entry is None and not any(_is_link(repo, rev, p) for p in _folders(path)):
        return None
    if entry is not None and entry[0] in _REGULAR:
        return repo.read_blob(entry[1])
    if entry is not None and entry[0] != _LINK:
        raise InputError(f"{spec}: the Environment Profile must be a file")
    entries = repo.entries(rev or None)
    name = canonical_path(repo, entries, path)
    if name is None:
        raise InputError(
            f"{spec}: the Environment Profile is a symbolic link that leads out of the "
            "repository or loops",
            hint="link it to a file inside the repository",
        )
    mode, sha = entries.get(name, ("", ""))
    if not mode and any(p == name or p.startswith(name + "/") for p in entries):
        raise InputError(f"{spec}: the Environment Profile must be a file")
    return repo.read_blob(sha) if mode in _REGULAR else None


def _entry(repo: Repository, rev: str, name: str) -> tuple[str, str] | None:
    """The mode and object of the entry ``name`` at ``rev`` (``""``: the index), links
    not followed; None when there is none."""
    if rev:  # mode SP type SP object TAB name
        listing = repo.output_or_none("ls-tree", "-z", "--full-tree", rev, "--", name)
    else:  # mode SP object SP stage TAB name; git runs where --repo is: reach up to the top
        up = repo.output("rev-parse", "--show-cdup").decode("utf-8", "surrogateescape").strip()
        listing = repo.output_or_none("ls-files", "--stage", "-z", "--full-name", "--", up + name)
    for record in (listing or b"").split(b"\x00"):
        meta, _, found = record.partition(b"\t")
        fields = meta.split(b" ")
        if found.decode("utf-8", "surrogateescape") == name and len(fields) == 3:
            return fields[0].decode("ascii"), fields[2 if rev else 1].decode("ascii")
    return None


def _folders(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:depth]) for depth in range(1, len(parts))]


def _is_link(repo: Repository, rev: str, name: str) -> bool:
    entry = _entry(repo, rev, name)
    return entry is not None and entry[0] == _LINK


def profile_at(repo: Repository, rev: str, path: str) -> Profile | None:
    """The profile file ``path`` at ``rev`` (``""``: the index), or None without one."""
    data = blob_at(repo, rev, path)
    source = f"{rev or 'index'}:{path}"
    return None if data is None else parse_profile(_text(data, source), source)


def for_range(
    repo_path: Path, base: str, head: str, path: str, *, pull_request: bool
) -> ProfileContext:
    """The profile a ``BASE..HEAD`` change is decided under, and the one it proposes."""
    repo = Repository(repo_path)
    head_sha = repo.resolve(head, "head")
    base_sha = repo.resolve(base, "base")
    start = repo.merge_base(base_sha, head_sha) if pull_request else base_sha
    before = blob_at(repo, start, path)
    after = blob_at(repo, head_sha, path)
    current = profile_at(repo, start, path) if before is not None else None
    if before == after:
        return ProfileContext(path=path, current=current)
    proposed = profile_at(repo, head_sha, path) if after is not None else None
    return ProfileContext(path=path, current=current, changes_file=True, proposed=proposed)


def for_staged(repo_path: Path, path: str, index_file: Path | None = None) -> ProfileContext:
    """The profile the staged change is decided under (``HEAD``'s) and the staged one,
    read from ``index_file`` when a commit hook was handed one (as the change itself)."""
    repo = Repository(repo_path, index_file)
    has_head = repo.output_or_none("rev-parse", "--verify", "-q", "HEAD") is not None
    before = blob_at(repo, "HEAD", path) if has_head else None
    after = blob_at(repo, "", path)
    current = profile_at(repo, "HEAD", path) if before is not None else None
    if before == after:
        return ProfileContext(path=path, current=current)
    proposed = profile_at(repo, "", path) if after is not None else None
    return ProfileContext(path=path, current=current, changes_file=True, proposed=proposed)


def for_directory(root: Path, path: str) -> ProfileContext:
    """The profile file under a work tree (or none there)."""
    return ProfileContext(path=path, current=read_profile(root / path))
