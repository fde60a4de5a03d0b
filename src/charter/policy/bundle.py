"""OPA-format bundles: the ``.manifest``, Rego modules and data of one layer.

A layer is an OPA bundle directory::

    .manifest        {"revision", "roots", "rego_version": 1,
                      "metadata": {"charter": {"layer", "name", "version"}}}
    **/*.rego        Rego v1 modules (``*_test.rego`` are tests)
    **/data.json     data, placed at the directory's path (OPA convention)

This module reads a bundle from files already on disk or already verified in
memory (see ``charter.trust.signing`` for signatures); it never evaluates anything.

Signed bundles travel as gzipped tarballs. :func:`read_archive` reads their
members into memory under :class:`ArchiveLimits` and refuses anything but plain
files with clean relative names; :func:`verify_tarball` then checks
``.signatures.json`` and every file hash, and only the verified files ever reach
:func:`layer_from_files` (which is where Rego and data are first parsed).
:func:`build_tarball` is deterministic: sorted entries, zero mtimes and owners.
Building and signing a bundle from a directory is :mod:`charter.policy.build`;
loading one under a trust policy is :mod:`charter.policy.loading`.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import semver

from charter.core import jsonio
from charter.core.digests import sha256_bytes
from charter.core.errors import (
    ArchiveError,
    InputError,
    LoadError,
    PolicyError,
    VerificationError,
)
from charter.core.walk import entries_under
from charter.policy.engine import ModuleInfo, parse_module
from charter.policy.rules import Rule, rules_from_module
from charter.trust import keys, signing
from charter.trust.policy import LAYER_KINDS

MANIFEST = ".manifest"
SIGNATURES = ".signatures.json"


@dataclass(frozen=True)
class Manifest:
    revision: str
    roots: tuple[str, ...]
    layer: str
    name: str
    version: str
    raw: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def charter_metadata(self) -> dict[str, Any]:
        meta = self.raw.get("metadata", {}).get("charter", {})
        return meta if isinstance(meta, dict) else {}


@dataclass(frozen=True)
class Module:
    path: str
    source: str
    info: ModuleInfo
    is_test: bool


@dataclass(frozen=True)
class Layer:
    """One verified, parsed layer of the stack."""

    manifest: Manifest
    modules: tuple[Module, ...]
    data: dict[str, Any]
    rules: tuple[Rule, ...]
    digest: str
    source: str
    signer: str | None = None

    @property
    def kind(self) -> str:
        return self.manifest.layer

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def version(self) -> str:
        return self.manifest.version

    @property
    def policy_modules(self) -> tuple[Module, ...]:
        return tuple(m for m in self.modules if not m.is_test)

    @property
    def test_modules(self) -> tuple[Module, ...]:
        return tuple(m for m in self.modules if m.is_test)

    def root_data(self, key: str) -> list[tuple[str, Any]]:
        """``(root, value)`` for each of the layer's roots whose data holds ``key``."""
        found: list[tuple[str, Any]] = []
        for root in self.manifest.roots:
            node: Any = self.data
            for part in root.split("/"):
                node = node.get(part) if isinstance(node, dict) else None
            if isinstance(node, dict) and key in node:
                found.append((root, node[key]))
        return found

    def describe(self) -> dict[str, Any]:
        return {
            "layer": self.kind,
            "name": self.name,
            "version": self.version,
            "digest": self.digest,
        }


def _detail(error: InputError, where: str) -> str:
    """The strict reader's reason, without the location it repeats."""
    return error.message.removeprefix(where).lstrip(":").strip()


def parse_manifest(raw_bytes: bytes, where: str) -> Manifest:
    """Validate a ``.manifest`` document."""
    try:
        raw = jsonio.loads(raw_bytes, what=where)
    except InputError as exc:
        raise PolicyError(f"{where}: .manifest is not valid JSON ({_detail(exc, where)})") from None
    if not isinstance(raw, dict):
        raise PolicyError(f"{where}: .manifest must be a JSON object")
    roots = raw.get("roots")
    if not isinstance(roots, list) or not roots or not all(isinstance(r, str) for r in roots):
        raise PolicyError(
            f"{where}: .manifest needs a non-empty 'roots' list",
            hint='e.g. "roots": ["charter/overlay"]',
        )
    if raw.get("rego_version", 1) != 1:
        raise PolicyError(f"{where}: .manifest rego_version must be 1 (Rego v1)")
    meta = raw.get("metadata", {})
    charter_meta = meta.get("charter") if isinstance(meta, dict) else None
    if not isinstance(charter_meta, dict):
        raise PolicyError(
            f"{where}: .manifest lacks metadata.charter",
            hint='add "metadata": {"charter": '
            '{"layer": "overlay", "name": "…", "version": "1.0.0"}}',
        )
    layer = charter_meta.get("layer")
    if layer not in LAYER_KINDS:
        raise PolicyError(
            f"{where}: metadata.charter.layer is {layer!r}",
            hint=f"use one of {', '.join(LAYER_KINDS)}",
        )
    name = charter_meta.get("name")
    if not isinstance(name, str) or not name:
        raise PolicyError(f"{where}: metadata.charter.name must be a non-empty string")
    version = charter_meta.get("version")
    if not isinstance(version, str) or not semver.Version.is_valid(version):
        raise PolicyError(
            f"{where}: metadata.charter.version {version!r} is not a semantic version",
            hint="use MAJOR.MINOR.PATCH, e.g. 1.4.0",
        )
    clean_roots = tuple(r.strip("/") for r in roots)
    if any(not r for r in clean_roots):
        raise PolicyError(f"{where}: .manifest roots must not be empty strings")
    return Manifest(
        revision=str(raw.get("revision", "")),
        roots=clean_roots,
        layer=layer,
        name=name,
        version=version,
        raw=raw,
    )


def path_under_roots(path: str, roots: tuple[str, ...]) -> bool:
    """Whether a slash-separated data/package path lies under one of ``roots``."""
    clean = path.strip("/")
    return any(clean == r or clean.startswith(r + "/") for r in roots)


def package_path(package: str) -> str:
    return package.replace(".", "/")


def _merge(target: dict[str, Any], path: list[str], value: Any, where: str) -> None:
    node = target
    for part in path[:-1] if path else []:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise PolicyError(f"{where}: data conflicts with another data file at {part}")
    if not path:
        if not isinstance(value, dict):
            raise PolicyError(f"{where}: a bundle-root data.json must hold an object")
        for key, item in value.items():
            _merge(target, [key], item, where)
        return
    last = path[-1]
    if last in node and isinstance(node[last], dict) and isinstance(value, dict):
        for key, item in value.items():
            _merge(node[last], [key], item, where)
    elif last in node:
        raise PolicyError(f"{where}: data key {'/'.join(path)} is defined twice")
    else:
        node[last] = value


def data_paths(value: Any, prefix: list[str]) -> list[str]:
    """Leaf-ish paths of a data document, to check them against the roots."""
    if isinstance(value, dict) and value:
        out: list[str] = []
        for key, item in value.items():
            out.extend(data_paths(item, [*prefix, str(key)]))
        return out
    return ["/".join(prefix)]


def files_digest(files: Mapping[str, bytes]) -> str:
    """A stable digest of a set of files: sha256 over sorted (name, sha256) pairs."""
    outer = hashlib.sha256()
    for name in sorted(files):
        outer.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    return "sha256:" + outer.hexdigest()


def read_directory_files(directory: Path) -> dict[str, bytes]:
    """Every regular file of a bundle directory, by its slash-separated path."""
    if not directory.is_dir():
        raise LoadError(
            f"{directory}: not a bundle directory",
            hint="pass a directory holding a .manifest and Rego modules",
        )
    files: dict[str, bytes] = {}
    for item in sorted(Path(entry.path) for entry in entries_under(directory)):
        rel = item.relative_to(directory).as_posix()
        if any(
            part.startswith(".") and part not in (MANIFEST, SIGNATURES) for part in rel.split("/")
        ):
            continue
        if item.is_symlink():
            raise LoadError(f"{item}: bundles may not contain symbolic links")
        if item.is_file():
            files[rel] = item.read_bytes()
    return files


def layer_from_files(
    files: Mapping[str, bytes], *, source: str, digest: str | None = None, signer: str | None = None
) -> Layer:
    """Build a :class:`Layer` from a bundle's files (already verified, if signed)."""
    if MANIFEST not in files:
        raise LoadError(
            f"{source}: no .manifest",
            hint="every layer is an OPA bundle whose .manifest names its roots and layer",
        )
    manifest = parse_manifest(files[MANIFEST], f"{source}/{MANIFEST}")
    modules: list[Module] = []
    rules: list[Rule] = []
    data: dict[str, Any] = {}
    for name in sorted(files):
        where = f"{source}/{name}"
        if name.endswith(".rego"):
            try:
                text = files[name].decode("utf-8")
            except UnicodeDecodeError as exc:
                raise PolicyError(f"{where}: Rego modules must be UTF-8") from exc
            info = parse_module(where, text)
            if not path_under_roots(package_path(info.package), manifest.roots):
                raise LoadError(
                    f"{where}: package {info.package} is outside this bundle's roots "
                    f"({', '.join(manifest.roots)})",
                    hint="a layer may only define packages under its own manifest roots",
                )
            is_test = name.endswith("_test.rego")
            modules.append(Module(path=where, source=text, info=info, is_test=is_test))
            if not is_test:
                rules.extend(
                    rules_from_module(
                        where,
                        text,
                        package=info.package,
                        layer=manifest.layer,
                        layer_name=manifest.name,
                    )
                )
        elif name.rsplit("/", 1)[-1] == "data.json":
            try:
                value = jsonio.loads(files[name], what=where)
            except InputError as exc:
                raise PolicyError(f"{where}: not valid JSON ({_detail(exc, where)})") from None
            prefix = [p for p in name.split("/")[:-1] if p]
            for dpath in data_paths(value, prefix):
                if not path_under_roots(dpath, manifest.roots):
                    raise LoadError(
                        f"{where}: data path {dpath} is outside this bundle's roots "
                        f"({', '.join(manifest.roots)})",
                        hint="a layer may only write data under its own manifest roots",
                    )
            _merge(data, prefix, value, where)
    seen: dict[str, Rule] = {}
    for rule in rules:
        if rule.id in seen:
            raise LoadError(
                f"duplicate rule id {rule.id}: {seen[rule.id].file}:{seen[rule.id].line} "
                f"and {rule.file}:{rule.line}",
                hint="rule ids must be unique across the whole stack",
            )
        seen[rule.id] = rule
    return Layer(
        manifest=manifest,
        modules=tuple(modules),
        data=data,
        rules=tuple(rules),
        digest=digest or files_digest(files),
        source=source,
        signer=signer,
    )


def load_directory(directory: str | Path, *, label: str | None = None) -> Layer:
    """Load an unsigned bundle directory (authoring, tests, ``--overlay DIR``).

    ``label`` replaces the directory in reported locations (e.g. for the
    constitution shipped inside the package).
    """
    path = Path(directory)
    return layer_from_files(read_directory_files(path), source=label or str(path))


# --------------------------------------------------------------------------
# Signed tarballs
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class ArchiveLimits:
    """Bounds on an untrusted archive, checked while reading it (tar/gzip bombs)."""

    max_archive_bytes: int = 64 * 1024 * 1024
    max_total_bytes: int = 128 * 1024 * 1024
    max_file_bytes: int = 16 * 1024 * 1024
    max_files: int = 10_000
    max_name_bytes: int = 1024


def build_tarball(files: Mapping[str, bytes]) -> bytes:
    """A gzipped tar of ``files`` whose bytes depend on nothing but the files."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(files):
            info = tarfile.TarInfo(name)
            info.size = len(files[name])
            info.mtime = 0
            info.mode = 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(files[name]))
    out = io.BytesIO()
    # mtime=0 and an empty file name keep the gzip header reproducible too.
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=9) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def _gunzip(data: bytes, limits: ArchiveLimits, source: str) -> bytes:
    # Tar adds a 512-byte header (plus padding) per member; allow for it.
    cap = limits.max_total_bytes + (limits.max_files + 4) * 2048
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        raw = inflater.decompress(data, cap + 1)
    except zlib.error as exc:
        raise ArchiveError(
            f"{source}: not a gzip archive, or its compressed data is corrupt ({exc})",
            hint="fetch the bundle again; a signed bundle is a .tar.gz",
        ) from exc
    if len(raw) > cap:
        raise ArchiveError(
            f"{source}: the archive expands beyond {limits.max_total_bytes} bytes",
            hint="refusing a possible decompression bomb; raise ArchiveLimits if genuine",
        )
    if not inflater.eof:
        raise ArchiveError(f"{source}: the archive is truncated (gzip stream ends early)")
    if inflater.unused_data:
        raise ArchiveError(f"{source}: unexpected data after the end of the gzip stream")
    return raw


@dataclass(frozen=True, slots=True)
class _Entry:
    """One tar member as read: a regular file, a directory, or something refused."""

    name: str
    is_dir: bool
    #: None for a regular file or a directory; otherwise what it is (refused).
    refused_kind: str | None
    size: int
    data: bytes


_BLOCK = 512
_ZERO_BLOCK = bytes(_BLOCK)
_POSIX_MAGIC = b"ustar\x0000"


def _ustar_entries(raw: bytes) -> list[_Entry] | None:
    """The members of a plain POSIX ustar archive, or None to let tarfile read it.

    ``tarfile`` spends ~30 µs per header in Python; bundles are written as
    plain ustar (:func:`build_tarball`), so those are read here directly. Any
    header outside that strict form (PAX or GNU extensions, links, a base-256
    or malformed number, a checksum that only matches signed, a truncated
    archive or one without an end-of-archive block) returns None and the whole
    archive goes through ``tarfile`` instead, so both readers agree on every
    archive this one accepts (tests/test_bundle_tamper.py checks it).
    """
    entries: list[_Entry] = []
    pos, end = 0, len(raw)
    while True:
        if pos + _BLOCK > end:
            return None
        header = raw[pos : pos + _BLOCK]
        if header == _ZERO_BLOCK:
            return entries if entries else None
        if header[257:265] != _POSIX_MAGIC:
            return None
        flag = header[156:157]
        if flag not in (b"0", b"5"):
            return None
        size, checksum = _octal(header[124:136]), _octal(header[148:156])
        if size is None or checksum is None:
            return None
        if checksum != sum(header[:148]) + 256 + sum(header[156:]):
            return None
        try:
            name = _nts(header[0:100]).decode("utf-8")
            prefix = _nts(header[345:500]).decode("utf-8")
        except UnicodeDecodeError:
            return None
        is_dir = flag == b"5"
        if is_dir:
            if size:
                return None
            name = name.rstrip("/")
        if prefix:
            name = prefix + "/" + name
        data_start = pos + _BLOCK
        if data_start + size > end:
            return None
        entries.append(_Entry(name, is_dir, None, size, raw[data_start : data_start + size]))
        pos = data_start + -(-size // _BLOCK) * _BLOCK


def _nts(field: bytes) -> bytes:
    nul = field.find(b"\0")
    return field if nul < 0 else field[:nul]


def _octal(field: bytes) -> int | None:
    text = _nts(field).strip(b" ")
    if not text or any(c not in b"01234567" for c in text):
        return None
    return int(text, 8)


def _tarfile_entries(raw: bytes) -> Iterator[_Entry]:
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tar:
        for member in tar:
            refused = None
            if not member.isdir() and member.type not in (tarfile.REGTYPE, tarfile.AREGTYPE):
                refused = (
                    "symbolic link" if member.issym()
                    else "hard link" if member.islnk()
                    else "FIFO" if member.isfifo()
                    else "device" if member.isdev()
                    else f"entry of type {member.type!r}"
                )  # fmt: skip
            data = b""
            if refused is None and not member.isdir():
                handle = tar.extractfile(member)
                data = handle.read() if handle is not None else b""
            yield _Entry(member.name, member.isdir(), refused, member.size, data)


def _member_name(entry: _Entry, limits: ArchiveLimits, source: str) -> str:
    name = entry.name
    where = f"{source}: entry {name!r}"
    if len(name.encode("utf-8", "surrogateescape")) > limits.max_name_bytes:
        raise ArchiveError(f"{where}: name is too long")
    if "\0" in name or "\\" in name:
        raise ArchiveError(f"{where}: names may not contain NUL or backslash")
    if name.startswith("/"):
        raise ArchiveError(f"{where}: absolute paths are not allowed in a bundle")
    while name.startswith("./"):
        name = name[2:]
    if entry.is_dir:
        name = name.rstrip("/")
    parts = name.split("/")
    if ".." in parts:
        raise ArchiveError(f"{where}: '..' path components are not allowed (path traversal)")
    if any(part in ("", ".") for part in parts):
        raise ArchiveError(f"{where}: empty or '.' path components are not allowed")
    return name


def read_archive(
    data: bytes, *, limits: ArchiveLimits | None = None, source: str = "<bundle>"
) -> dict[str, bytes]:
    """Read every file of a ``.tar.gz`` into memory, refusing anything unsafe.

    Only regular files (and directory entries, which are skipped) are allowed;
    links, devices, FIFOs and sparse files are refused, as are absolute names,
    ``..``, duplicates, and archives beyond ``limits``. Nothing touches disk.
    """
    limits = limits or ArchiveLimits()
    if len(data) > limits.max_archive_bytes:
        raise ArchiveError(f"{source}: the archive is larger than {limits.max_archive_bytes} bytes")
    raw = _gunzip(data, limits, source)
    files: dict[str, bytes] = {}
    total = 0
    count = 0
    try:
        entries: Iterable[_Entry] | None = _ustar_entries(raw)
        if entries is None:
            entries = _tarfile_entries(raw)
        for entry in entries:
            count += 1
            if count > limits.max_files:
                raise ArchiveError(f"{source}: more than {limits.max_files} entries")
            name = _member_name(entry, limits, source)
            if entry.is_dir:
                continue
            if entry.refused_kind is not None:
                raise ArchiveError(
                    f"{source}: entry {name!r} is a {entry.refused_kind}; "
                    "bundles hold regular files only"
                )
            if name in files:
                raise ArchiveError(f"{source}: entry {name!r} appears twice")
            if entry.size > limits.max_file_bytes:
                raise ArchiveError(
                    f"{source}: entry {name!r} is larger than {limits.max_file_bytes} bytes"
                )
            total += entry.size
            if total > limits.max_total_bytes:
                raise ArchiveError(
                    f"{source}: the files add up to more than {limits.max_total_bytes} bytes"
                )
            if len(entry.data) != entry.size:
                raise ArchiveError(f"{source}: entry {name!r} is truncated")
            files[name] = entry.data
    except (tarfile.TarError, EOFError, OSError, UnicodeError) as exc:
        raise ArchiveError(f"{source}: the tar archive is truncated or corrupt ({exc})") from exc
    if not files:
        raise ArchiveError(f"{source}: the archive holds no files")
    return files


@dataclass(frozen=True)
class VerifiedBundle:
    """The files of a bundle whose signature and hashes have been checked."""

    files: dict[str, bytes]
    manifest: Manifest
    digest: str
    signer: str
    source: str

    def to_layer(self) -> Layer:
        """Parse the verified files (the first time any Rego or data is parsed)."""
        return layer_from_files(
            self.files, source=self.source, digest=self.digest, signer=self.signer
        )


def accept_files(
    files: Mapping[str, bytes], *, layer: str, digest: str, signer: str, source: str
) -> VerifiedBundle:
    """Wrap files already authenticated by a signature, checking the manifest's layer."""
    if MANIFEST not in files:
        raise VerificationError(f"{source}: the signed bundle has no .manifest")
    manifest = parse_manifest(files[MANIFEST], f"{source}/{MANIFEST}")
    if manifest.layer != layer:
        raise VerificationError(
            f"{source}: the bundle is a {manifest.layer} layer but was loaded as the {layer}",
            hint="check metadata.charter.layer in its .manifest and which option loads it",
        )
    content = {name: data for name, data in files.items() if name != SIGNATURES}
    return VerifiedBundle(content, manifest, digest, signer, source)


def verify_tarball(
    data: bytes,
    trusted: Sequence[keys.PublicKey],
    *,
    layer: str,
    source: str = "<bundle>",
    limits: ArchiveLimits | None = None,
) -> VerifiedBundle:
    """Verify a signed ``.tar.gz`` held in memory; nothing is parsed before this passes."""
    if layer not in LAYER_KINDS:
        raise VerificationError(
            f"unknown layer {layer!r}", hint=f"use one of {', '.join(LAYER_KINDS)}"
        )
    files = read_archive(data, limits=limits, source=source)
    try:
        info = signing.verify_files(files, trusted, scope=layer)
    except VerificationError as exc:
        raise VerificationError(f"{source}: {exc.message}", hint=exc.hint) from exc
    return accept_files(
        files, layer=layer, digest=sha256_bytes(data), signer=info.key_id, source=source
    )


def read_tarball_file(path: str | Path, limits: ArchiveLimits | None = None) -> bytes:
    p = Path(path)
    cap = (limits or ArchiveLimits()).max_archive_bytes
    try:
        with p.open("rb") as handle:
            data = handle.read(cap + 1)
    except OSError as exc:
        raise LoadError(f"{p}: cannot read bundle ({exc.strerror})") from exc
    if len(data) > cap:
        raise ArchiveError(f"{p}: the archive is larger than {cap} bytes")
    return data


def load_tarball(
    path: str | Path,
    trusted: Sequence[keys.PublicKey],
    *,
    layer: str,
    limits: ArchiveLimits | None = None,
) -> Layer:
    """Verify then load a signed bundle file signed with one of ``trusted`` keys."""
    data = read_tarball_file(path, limits)
    return verify_tarball(data, trusted, layer=layer, source=str(path), limits=limits).to_layer()
