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
from charter.facts.git import Repository
from charter.policy.profile import MAX_BYTES, Profile, ProfileContext, parse_profile, read_profile


def _text(data: bytes, source: str) -> str:
    if len(data) > MAX_BYTES:
        raise InputError(f"{source}: larger than {MAX_BYTES} bytes; not a profile")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{source}: not UTF-8 text") from None


def blob_at(repo: Repository, rev: str, path: str) -> bytes | None:
    """The bytes of ``path`` at ``rev`` (``""``: the index), or None when it has none."""
    spec = f"{rev}:{path}"
    kind = repo.output_or_none("cat-file", "-t", spec)
    if kind is None:
        return None
    if kind.strip() != b"blob":
        raise InputError(f"{spec}: the Environment Profile must be a file")
    return repo.output("cat-file", "blob", spec)


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


def for_staged(repo_path: Path, path: str) -> ProfileContext:
    """The profile the staged change is decided under (``HEAD``'s) and the staged one."""
    repo = Repository(repo_path)
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
