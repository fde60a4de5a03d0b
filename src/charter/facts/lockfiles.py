"""Small, strict readers of lockfiles and dependency manifests.

Each reader turns the bytes of one file into an :class:`Inventory`: package
name -> the set of versions the file locks, plus which names the project
declares directly (when the format says so). Anything a reader cannot read
with certainty raises :class:`Unreadable` with a one-line reason; the caller
turns it into an ``UnparsedFile`` (see :mod:`charter.facts.dependencies`).

Parsers used: :mod:`tomllib` (poetry.lock, uv.lock, Cargo.lock),
:func:`charter.core.jsonio.loads` (package-lock.json, Pipfile.lock: duplicate
keys refused), PyYAML's safe loader with duplicate keys refused
(pnpm-lock.yaml, yarn berry). yarn v1, requirements*.txt, go.mod, go.sum and
Gemfile.lock are line formats read here. Manifests (package.json,
pyproject.toml, Pipfile, Cargo.toml) are read as the requirements they declare.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeGuard
from urllib.parse import unquote, urlsplit

import yaml

from charter.core import heap, jsonio
from charter.core.errors import InputError

#: Longest package name or version accepted (a real one is far shorter).
MAX_TOKEN = 512

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class Unreadable(Exception):
    """A dependency file that cannot be read with certainty; the message says why."""


#: json.dumps(origin, sort_keys=True, default=str, ensure_ascii=False), built once
#: (json.dumps builds a new encoder on every call with these options).
_ORIGIN_TEXT = json.JSONEncoder(sort_keys=True, default=str, ensure_ascii=False)

#: A name's versions before its first one is added (``None`` is a version: "not pinned").
_NONE_YET = object()

#: One version, or the set of them when a file locks several of one name (rare).
Locked = str | None | set[str | None]

#: Which packages' origins a reading keeps: every one (None), or those ``(name, version)``
#: the function admits (:func:`package_lock`; the dependency facts compare an origin
#: only where both sides lock that version).
OriginsWanted = Callable[[str, str | None], bool] | None


@dataclass
class Inventory:
    """What one file locks: name -> versions (``None``: present but not pinned).

    Kept small, as a lockfile of tens of thousands of packages is held for both
    sides of a change: a name's one version is stored as itself (a set only when
    there are several), equal version strings are shared, and an origin is
    stored as the SHA-256 of its compared text.
    """

    ecosystem: str
    #: Names the project declares itself; ``None`` when the format does not say.
    direct: set[str] | None = None
    #: name -> its version(s).
    locked: dict[str, Locked] = field(default_factory=dict)
    #: (name, version) -> where it is fetched from and its checksums: SHA-256 digest(s)
    #: of ``json.dumps(origin, sort_keys=True, default=str, ensure_ascii=False)``.
    origins: dict[tuple[str, str | None], bytes | set[bytes]] = field(default_factory=dict)
    _shared: dict[str, str] = field(default_factory=dict, repr=False, compare=False)
    #: Whose origins package_lock keeps (see :data:`OriginsWanted`).
    wanted: OriginsWanted = field(default=None, repr=False, compare=False)

    def add(
        self,
        name: str,
        version: str | None,
        origin: object = None,
        *,
        digest: bytes | None = None,
        checked: bool = False,
    ) -> None:
        """Add one locked package; ``digest``: its origin's :func:`_origin_digest`, if
        known; ``checked``: ``version`` is None or already passed :func:`_token`."""
        if not _plain(name):
            name = _token(name, "package name")
        if version is not None:
            if not checked and not _plain(version):
                version = _token(version, f"version of {name}")
            version = self._shared.setdefault(version, version)
        # _put, its usual case (a name's first version) without the call.
        if self.locked.setdefault(name, version) is not version:
            _put(self.locked, name, version)
        if origin is not None:
            digest = _origin_digest(origin)
        if digest is not None and self.origins.setdefault((name, version), digest) is not digest:
            _put(self.origins, (name, version), digest)

    def names(self) -> set[str]:
        """Every name the file locks."""
        return set(self.locked)

    def versions(self, name: str) -> set[str | None]:
        """The versions of ``name`` (empty when the file does not lock it)."""
        return _as_set(self.locked.get(name, _NONE_YET))

    def origins_of(self, name: str, version: str | None) -> set[bytes]:
        """The digests of where ``name`` ``version`` is fetched from (empty when unsaid)."""
        return _as_set(self.origins.get((name, version), _NONE_YET))

    def is_direct(self, name: str) -> bool | None:
        return None if self.direct is None else name in self.direct

    def locks(self, name: str, version: str | None) -> bool:
        """Whether the file locks ``name`` at ``version``."""
        held = self.locked.get(name, _NONE_YET)
        return (
            version in held if isinstance(held, set) else held is not _NONE_YET and held == version
        )


def _put(table: dict[Any, Any], key: object, value: object) -> None:
    """Add ``value`` to the one value or set of values ``table`` holds at ``key``."""
    held = table.get(key, _NONE_YET)
    if held is _NONE_YET:
        table[key] = value
    elif isinstance(held, set):
        held.add(value)
    elif held != value:
        table[key] = {held, value}


def _as_set(held: Any) -> set[Any]:
    if held is _NONE_YET:
        return set()
    return set(held) if isinstance(held, set) else {held}


def _origin_digest(origin: object) -> bytes:
    """SHA-256 of ``_ORIGIN_TEXT.encode(origin)``: equal digests, equal origins.

    A mapping of text to text (npm's ``resolved``/``integrity``, by far the most
    common) is written here exactly as the encoder writes it, at a tenth of the cost.
    """
    if type(origin) is dict and all(type(k) is str and type(v) is str for k, v in origin.items()):
        pairs = [f"{_json_string(k)}: {_json_string(v)}" for k, v in sorted(origin.items())]
        text = "{" + ", ".join(pairs) + "}"
    else:
        text = _ORIGIN_TEXT.encode(origin)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


def _json_string(text: str) -> str:
    """A JSON string as ``json.dumps(text, ensure_ascii=False)`` writes it."""
    return json.encoder.encode_basestring(text)


def _plain(value: object) -> TypeGuard[str]:
    """Whether :func:`_token` takes ``value`` as it is: text of printable ASCII (0x20-0x7e,
    so no control character), neither empty nor too long. Checked before a caller
    builds the message naming what it is."""
    return (
        type(value) is str
        and 0 < len(value) <= MAX_TOKEN
        and value.isascii()
        and value.isprintable()
    )


def _token(value: object, what: str) -> str:
    if _plain(value):
        return value
    if not isinstance(value, str):
        raise Unreadable(f"{what} is {type(value).__name__}, not text")
    if not value:
        raise Unreadable(f"empty {what}")
    if len(value) > MAX_TOKEN:
        raise Unreadable(f"{what} longer than {MAX_TOKEN} characters")
    if _CONTROL.search(value):
        raise Unreadable(f"{what} {value[:60]!r} contains a control character")
    return value


def _text(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig" if data.startswith(b"\xef\xbb\xbf") else "utf-8")
    except UnicodeDecodeError as exc:
        raise Unreadable(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def _json(data: bytes | str, path: str) -> dict[str, Any]:
    try:
        value = jsonio.loads(data, what=path)
    except InputError as exc:
        raise Unreadable(exc.message.removeprefix(f"{path}:").strip()) from None
    if not isinstance(value, dict):
        raise Unreadable("the document is not a JSON object")
    return value


def _toml(data: bytes) -> dict[str, Any]:
    try:
        return tomllib.loads(_text(data))
    except tomllib.TOMLDecodeError as exc:
        raise Unreadable(f"malformed TOML: {exc}") from None


class _StrictLoader(yaml.CSafeLoader if hasattr(yaml, "CSafeLoader") else yaml.SafeLoader):  # type: ignore[misc]
    """YAML safe loader that refuses duplicate keys (PyYAML keeps the last one)."""


def _mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: set[object] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            duplicate = key in seen
            seen.add(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, "an unhashable mapping key", key_node.start_mark
            ) from None
        if duplicate:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {str(key)[:60]!r}", key_node.start_mark
            )
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def _yaml(data: bytes) -> Any:
    try:
        return yaml.load(_text(data), Loader=_StrictLoader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        detail = " ".join(str(exc).replace(' in "<unicode string>",', " at").split())
        raise Unreadable(f"malformed YAML: {detail[:200]}") from None


def _table(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Unreadable(f"{what} is not a table/object")
    return value


def _list(value: object, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise Unreadable(f"{what} is not a list")
    return value


def _split_at(spec: str) -> tuple[str, str]:
    """``name@rest`` -> (name, rest); a leading ``@`` belongs to a scoped name."""
    at = spec.find("@", 1)
    if at <= 0:
        raise Unreadable(f"{spec[:60]!r} has no name@version form")
    return spec[:at], spec[at + 1 :]


# --- npm -------------------------------------------------------------------


def _npm_direct(root: object) -> set[str]:
    names: set[str] = set()
    if isinstance(root, dict):
        for section in ("dependencies", "devDependencies", "optionalDependencies"):
            names.update(_table(root.get(section, {}), f"root {section}"))
    return names


def package_lock(data: bytes, path: str, *, origins: OriginsWanted = None) -> Inventory:
    """package-lock.json / npm-shrinkwrap.json (lockfileVersion 1-3).

    A v2/v3 file is read a run of entries at a time (:func:`_package_lock_streamed`):
    its tens of thousands of ``packages`` are never all held as parsed JSON. Anything
    that walk is not sure of — bad JSON, a problem in an entry, keys in an unusual
    order — reads the file again whole (:func:`_package_lock_whole`), so what is
    returned or raised is always exactly what the whole reading says. A large
    file's bytes are let go once decoded (the caller hands ``data`` over), so a
    10 MB lockfile is not held twice. ``origins``: which entries' ``resolved`` and
    ``integrity`` are kept (digested); every one's unless told.
    """
    try:
        text = _utf8(data)
    except UnicodeDecodeError:
        return _package_lock_whole(data, path, origins)  # which says why it is not text
    if len(data) >= heap.LARGE:
        del data
        heap.release_freed_memory()  # the bytes' pages, before the entries are read
    streamed = _npm_streamed(text, origins=origins)
    return streamed if streamed is not None else _package_lock_whole(text, path, origins)


def _utf8(data: bytes) -> str:
    """``data`` decoded as :func:`charter.core.jsonio.loads` decodes it (a BOM dropped)."""
    return data.decode("utf-8-sig" if data.startswith(b"\xef\xbb\xbf") else "utf-8")


def _package_lock_whole(data: bytes | str, path: str, origins: OriginsWanted = None) -> Inventory:
    doc = _json(data, path)
    version = doc.get("lockfileVersion")
    inv = Inventory("npm", wanted=origins)
    if version in (2, 3):
        packages = _table(doc.get("packages"), "packages")
        inv.direct = _npm_direct(packages.get(""))
        for key, entry in packages.items():
            _npm_package(inv, key, entry)
        # The legacy "dependencies" tree is what npm 6 installs from: a change made
        # only there must show too (an honest file lists the same in both).
        if "dependencies" in doc:
            _npm_v1_tree(doc, inv)
        return inv
    if version == 1:
        inv.direct = set(_npm_v1_tree(doc, inv))
        return inv
    raise Unreadable(f"lockfileVersion {str(version)[:20]} is not 1, 2 or 3")


def _npm_package(inv: Inventory, key: str, entry: object) -> None:
    """Add one entry of a v2/v3 ``packages`` table."""
    cut = key.rfind("node_modules/")  # the last one: what follows it is the name
    if cut < 0:
        return  # the root project or a workspace folder, not an installed package
    body = entry if type(entry) is dict else _table(entry, f"packages[{key[:60]!r}]")
    if body.get("link") is True:
        return  # a symlink to a workspace folder; its target is listed itself
    name = key[cut + len("node_modules/") :]
    raw = body.get("version")
    version = raw if raw is None or _plain(raw) else _token(raw, f"version of {name}")
    stated, resolved = body.get("name", name), body.get("resolved")
    if not (
        stated == name
        and type(resolved) is str
        and version is not None
        and _own_tarball(name, version, resolved)
    ):
        _check_tarball(str(stated), version, resolved, key)
    wanted = inv.wanted is None or inv.wanted(name, version)
    inv.add(name, version, digest=_npm_origin(body) if wanted else None, checked=True)


def _own_tarball(name: str, version: str, url: str) -> bool:
    """Whether ``url`` is plainly ``name``'s registry tarball of ``version``
    (``scheme://host/…/<name>/-/<base>-<version>.tgz``, the usual entry): then
    :func:`_check_tarball` of them surely passes.

    Sure because: the URL is plain as :func:`_url_path` says (its path is what
    follows the host), the tail lies within that path, and neither ``base`` nor
    ``version`` holds a ``/``, so the tail's ``/-/`` is the path's last one. Any
    other URL is left to :func:`_check_tarball`, which decides (a test checks it).
    """
    if "/" in version:
        return False
    tail = f"/{name}/-/{name.rpartition('/')[2]}-{version}.tgz"
    if not url.endswith(tail):
        return False
    scheme = 8 if url.startswith("https://") else 7 if url.startswith("http://") else 0
    host_end = url.find("/", scheme) if scheme else -1
    return (
        0 <= host_end <= len(url) - len(tail)
        and url.isascii()
        and url.isprintable()
        and not _NOT_PLAIN_URL.search(url)
    )


def _npm_origin(body: dict[str, Any]) -> bytes | None:
    """``_origin_digest(_pick(body, "resolved", "integrity"))``, the usual entry's faster."""
    resolved, integrity = body.get("resolved"), body.get("integrity")
    if type(resolved) is str and type(integrity) is str:
        text = f'{{"integrity": {_encode(integrity)}, "resolved": {_encode(resolved)}}}'
        return _sha256(text.encode("utf-8", "surrogatepass")).digest()
    picked = _pick(body, "resolved", "integrity")
    return None if picked is None else _origin_digest(picked)


#: A JSON string as ``json.dumps(text, ensure_ascii=False)`` writes it (:func:`_json_string`).
_encode = json.encoder.encode_basestring
_sha256 = hashlib.sha256


_WHITESPACE = re.compile(r"[ \t\n\r]*")  # what the json module skips between tokens
#: An object's key written without escapes (JSON text but for quote, backslash and
#: control characters), its colon, and the whitespace up to its value.
_PLAIN_KEY = re.compile(r'[ \t\n\r]*"([^"\\\x00-\x1f]*)"[ \t\n\r]*:[ \t\n\r]*')
#: What follows a member's value: another member or the object's end.
_NEXT_MEMBER = re.compile(r"[ \t\n\r]*([,}])")
#: Where npm's layout (two-space indents) ends one entry of ``packages`` and opens
#: the next: the entry's closing brace, a comma, the next key's quote. Only a place
#: to try a cut; the parser decides (:meth:`_NpmStream._chunk`).
_ENTRY_END = '\n    },\n    "'
#: Characters of ``_ENTRY_END`` up to and including the closing brace.
_ENTRY_CLOSE = len("\n    }")
#: Characters of ``packages`` parsed in one call, about (a few hundred entries).
_CHUNK = 64 * 1024


class _NotSure(Exception):
    """The streamed reading cannot vouch for its answer: read the file whole."""


def _package_lock_streamed(data: bytes, chunk: int = _CHUNK) -> Inventory | None:
    """The inventory of a v2/v3 lockfile read a few hundred ``packages`` entries at a
    time (one at a time where npm's layout does not show where they end), or None
    when only the whole reading can say (any error, or ``lockfileVersion`` not 2 or
    3, or not before ``packages``).

    It accepts exactly what :func:`charter.core.jsonio.loads` accepts (the same
    decoder for every value, duplicate keys refused at the two levels walked here,
    :func:`~charter.core.jsonio.check_tree` wherever a value could be too deep or
    hold a lone surrogate) and adds the same entries, whose order does not matter.
    ``chunk``: see :meth:`_NpmStream._packages`.
    """
    try:
        text = _utf8(data)
    except UnicodeDecodeError:
        return None
    return _npm_streamed(text, chunk)


def _npm_streamed(
    text: str, chunk: int = _CHUNK, *, origins: OriginsWanted = None
) -> Inventory | None:
    """:func:`_package_lock_streamed` of the decoded text."""
    try:
        return _NpmStream(text, chunk, origins).read()
    except Exception:  # noqa: BLE001 - whatever it is, the whole reading decides
        return None


class _NpmStream:
    """One walk over a package-lock.json text (see :func:`_package_lock_streamed`)."""

    def __init__(self, text: str, chunk: int = _CHUNK, origins: OriginsWanted = None) -> None:
        self.text = text
        self.pos = 0
        self.chunk = chunk
        self.decoder = jsonio.strict_decoder()
        self.inv = Inventory("npm", wanted=origins)

    def _skip(self) -> str:
        """Skip whitespace; the next character ("" at the end)."""
        match = _WHITESPACE.match(self.text, self.pos)
        self.pos = match.end() if match else self.pos
        return self.text[self.pos : self.pos + 1]

    def _expect(self, char: str) -> None:
        if self._skip() != char:
            raise _NotSure
        self.pos += 1

    def _value(self, depth: int) -> Any:
        """The JSON value at the position, ``depth`` levels below the document."""
        start = self.pos
        value, self.pos = self.decoder.raw_decode(self.text, start)
        brackets = self.text.count("{", start, self.pos) + self.text.count("[", start, self.pos)
        if brackets + depth > jsonio.MAX_DEPTH - 2 or self.text.find("\\u", start, self.pos) >= 0:
            jsonio.check_tree(value, max_depth=jsonio.MAX_DEPTH - depth)
        return value

    def _members(self) -> Iterator[str]:
        """The keys of the object at the position, each once (the caller reads its value).

        A key is matched without escapes (a key with one is left to the whole reading).
        """
        self._expect("{")
        if self._skip() == "}":
            self.pos += 1
            return
        yield from self._member_list(set())

    def _member_list(self, seen: set[str]) -> Iterator[str]:
        """:meth:`_members` from a member's start to the object's end; ``seen``: the
        keys read before it in the same object."""
        text = self.text
        while True:
            match = _PLAIN_KEY.match(text, self.pos)
            if match is None or match.group(1) in seen:
                raise _NotSure
            seen.add(match.group(1))
            self.pos = match.end()
            yield match.group(1)
            follows = _NEXT_MEMBER.match(text, self.pos)
            if follows is None:
                raise _NotSure
            self.pos = follows.end()
            if follows.group(1) == "}":
                return

    def _packages(self) -> Iterator[tuple[str, Any]]:
        """The entries of the ``packages`` object at the position, in order, each once.

        Where npm's layout shows where an entry ends (:data:`_ENTRY_END`), a run of
        entries of about :attr:`chunk` characters is parsed in one call (see
        :meth:`_chunk`); the rest, and everything after a run that does not parse
        alone, entry by entry.
        """
        self._expect("{")
        if self._skip() == "}":
            self.pos += 1
            return
        seen: set[str] = set()
        text = self.text
        while (cut := text.find(_ENTRY_END, self.pos + self.chunk)) >= 0:
            # The run ends with its last entry's closing brace; the comma after it is skipped.
            run = self._chunk(text[self.pos : cut + _ENTRY_CLOSE])
            if run is None:
                break
            for key, body in run.items():
                if key in seen:
                    raise _NotSure
                seen.add(key)
                yield key, body
            self.pos = cut + _ENTRY_CLOSE + 1
        for key in self._member_list(seen):
            yield key, self._value(2)

    def _chunk(self, members: str) -> dict[str, Any] | None:
        """The entries of ``members`` (a run of ``"key": value`` members of ``packages``,
        the commas between them included), or None when the run is not exactly that.

        The strict decoder parses the run as one object, ``{`` + run + ``}``: when it
        does, the run is a complete list of members, so ``packages`` is these runs
        joined by their commas and reads as each run read in turn (duplicate keys
        across runs are the caller's to refuse). Any error is left to the entry by
        entry walk, which meets it again and answers as the whole reading would.
        """
        try:
            run = self.decoder.decode("{" + members + "}")
        except Exception:  # noqa: BLE001 - the walk meets the error and decides
            return None
        if not isinstance(run, dict):
            return None
        # A dict entry's brackets are its own ``{`` plus those nested below it (here
        # ``nested``, an upper bound); the check is the one :meth:`_value` makes at depth 2.
        dicts = sum(type(body) is dict for body in run.values())
        nested = members.count("{") + members.count("[") - dicts
        if nested + 1 + 2 > jsonio.MAX_DEPTH - 2 or members.find("\\u") >= 0:
            jsonio.check_tree(run, max_depth=jsonio.MAX_DEPTH - 1)
        return run

    def read(self) -> Inventory:
        top: dict[str, Any] = {}
        root: object = None
        for key in self._members():
            if key != "packages":
                top[key] = self._value(1)
                continue
            if top.get("lockfileVersion") not in (2, 3) or self._skip() != "{":
                raise _NotSure
            for entry, body in self._packages():
                root = body if entry == "" else root
                _npm_package(self.inv, entry, body)
            top["packages"] = {}
        if self._skip() != "" or "packages" not in top:
            raise _NotSure  # extra data after the document, or no table to read
        self.inv.direct = _npm_direct(root)
        if "dependencies" in top:
            _npm_v1_tree(top, self.inv)
        return self.inv


def _npm_v1_tree(doc: dict[str, Any], inv: Inventory) -> dict[str, Any]:
    """Add lockfileVersion 1's nested ``dependencies`` tree; return its top level."""
    top = _table(doc.get("dependencies", {}), "dependencies")
    stack = [top]
    while stack:
        for name, entry in stack.pop().items():
            body = _table(entry, f"dependencies[{name[:60]!r}]")
            inv.add(name, body.get("version"), _pick(body, "resolved", "integrity"))
            if "dependencies" in body:
                stack.append(_table(body["dependencies"], f"{name} dependencies"))
    return top


# --- yarn ------------------------------------------------------------------


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1]
    return text


def _pick(body: dict[str, Any], *keys: str) -> dict[str, Any] | None:
    picked = {key: body[key] for key in keys if key in body}
    return picked or None


def _flat(value: dict[str, Any] | None, where: str) -> dict[str, Any] | None:
    """``value`` if it holds only scalars or mappings of scalars (YAML aliases cannot blow up)."""
    for item in (value or {}).values():
        inner = item.values() if isinstance(item, dict) else [item]
        if not all(isinstance(v, str | int | float | bool) or v is None for v in inner):
            raise Unreadable(f"{where[:60]}: resolution is not a flat mapping of text")
    return value


def _check_tarball(name: str, version: str | None, url: object, where: str) -> None:
    """Refuse an entry whose registry tarball URL (``…/<name>/-/<base>-<v>.tgz``) is another.

    Only npm-registry-shaped URLs (with ``/-/``) are checked; git, file and
    codeload URLs name no version and pass.
    """
    if not isinstance(url, str):
        return
    path = _url_path(url)
    if "/-/" not in path:
        return
    owner, _, last = path.rpartition("/-/")
    base = name.rsplit("/", 1)[-1]
    if not owner.endswith(f"/{name}") or not last.startswith(f"{base}-"):
        raise Unreadable(
            f"{where[:60]}: {name} is resolved from another package's URL {url[:120]!r}"
        )
    claimed = last[len(base) + 1 :].removesuffix(".tgz")
    if version is not None and claimed != version:
        raise Unreadable(
            f"{where[:60]}: {name} has version {version[:40]!r} but its resolved URL "
            f"downloads {claimed[:40]!r}"
        )


_NOT_PLAIN_URL = re.compile(r"[ %?#\[\]\\]")


def _url_path(url: str) -> str:
    """``unquote(urlsplit(url).path)``, without urllib for a plain https/http URL.

    Plain: printable ASCII with no space, ``%``, ``?``, ``#``, ``[``, ``]`` or ``\\`` (a lockfile
    lists tens of thousands; urllib costs most of reading them). Anything else
    goes through urllib.
    """
    scheme = "https://" if url.startswith("https://") else "http://"
    plain = url.startswith(scheme) and url.isascii() and url.isprintable()
    if not plain or _NOT_PLAIN_URL.search(url):
        return unquote(urlsplit(url).path)
    _, slash, path = url[len(scheme) :].partition("/")
    return slash + path


def _yarn_v1_entries(text: str) -> Iterator[tuple[int, list[str], dict[str, str]]]:
    header: tuple[int, list[str]] | None = None
    fields: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line[0].isspace():
            if header is not None:
                yield header[0], header[1], fields
            if not line.endswith(":"):
                raise Unreadable(f"line {number}: an entry header must end with ':'")
            header = (number, [_unquote(s) for s in line[:-1].split(",")])
            fields = {}
        elif header is None:
            raise Unreadable(f"line {number}: indented line before any entry")
        elif line.startswith("  ") and not line.startswith("   "):
            key, _, value = line.strip().partition(" ")
            if key in fields:
                raise Unreadable(f"line {number}: duplicate field {key!r}")
            fields[key] = _unquote(value)
    if header is not None:
        yield header[0], header[1], fields


def yarn_lock(data: bytes, path: str) -> Inventory:
    text = _text(data)
    if "__metadata:" in text:
        return _yarn_berry(data)
    inv = Inventory("npm")
    seen: set[str] = set()
    for number, specs, fields in _yarn_v1_entries(text):
        version = fields.get("version")
        if version is None:
            raise Unreadable(f"line {number}: entry without a version")
        names = set()
        for spec in specs:
            if spec in seen:
                raise Unreadable(f"line {number}: {spec[:60]!r} is listed twice")
            seen.add(spec)
            name, rest = _split_at(spec)
            # An alias (`alias@npm:real@^1`) installs `real` under the name `alias`.
            real = _split_at(f"{rest[4:]}@")[0] if rest.startswith("npm:") else name
            names.add((name, real))
        if len(names) != 1:
            raise Unreadable(f"line {number}: one entry names several packages")
        name, real = names.pop()
        _check_tarball(real, version, fields.get("resolved"), f"line {number}")
        inv.add(name, version, _pick(fields, "resolved", "integrity"))
    return inv


def _yarn_berry(data: bytes) -> Inventory:
    doc = _table(_yaml(data), "yarn.lock")
    inv = Inventory("npm")
    for key, entry in doc.items():
        if key == "__metadata":
            continue
        body = _table(entry, f"entry {str(key)[:60]!r}")
        resolution = _token(body.get("resolution"), f"resolution of {str(key)[:60]!r}")
        name, how = _split_at(resolution)
        if how.startswith("workspace:"):
            continue  # the project itself or one of its workspaces
        version = body.get("version")
        inv.add(
            name,
            _token(str(version), f"version of {name}") if version is not None else None,
            _flat(_pick(body, "resolution", "checksum"), str(key)),
        )
    return inv


# --- pnpm ------------------------------------------------------------------


def pnpm_lock(data: bytes, path: str) -> Inventory:
    doc = _table(_yaml(data), "pnpm-lock.yaml")
    version = str(doc.get("lockfileVersion", ""))
    if not re.fullmatch(r"[5-9](\.\d+)?", version):
        raise Unreadable(f"lockfileVersion {version[:20]!r} is not one this reader knows (5-9)")
    direct: set[str] = set()
    inv = Inventory("npm", direct=direct)
    for folder, importer in _table(doc.get("importers", {}), "importers").items():
        body = _table(importer, f"importers[{str(folder)[:60]!r}]")
        for section in ("dependencies", "devDependencies", "optionalDependencies"):
            direct.update(_table(body.get(section, {}), f"{folder} {section}"))
    for key, entry in _table(doc.get("packages", {}) or {}, "packages").items():
        spec = _token(key, "packages key").lstrip("/").split("(", 1)[0]
        if version.startswith("5"):
            name, _, ver = spec.rpartition("/")  # v5: /name/1.2.3
        else:
            name, ver = _split_at(spec)
        origin = _pick(entry, "resolution") if isinstance(entry, dict) else None
        inv.add(name, ver, _flat(origin, key))
    return inv


# --- Python ----------------------------------------------------------------

_REQ = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*)")
_PIN = re.compile(r"===?\s*([^\s,;]+)")
#: How a requirement's version part starts: a PEP 440 specifier, ``@ url`` or ``(…)``.
_SPECIFIER = re.compile(r"\(|@|===?|[<>!~]=|[<>]")
#: A requirement line that is a URL (``https://…/x.whl``, ``git+https://…``, ``file:…``).
_DIRECT_URL = re.compile(r"[A-Za-z][\w.+-]*:")
#: The long options pip reads in a requirements file (pip/_internal/req/req_file.py);
#: pip's option parser also takes any unambiguous prefix of one (``--extra-index``).
_PIP_LONG_OPTIONS = (
    "--index-url",
    "--extra-index-url",
    "--no-index",
    "--find-links",
    "--constraint",
    "--requirement",
    "--editable",
    "--trusted-host",
    "--pre",
    "--prefer-binary",
    "--require-hashes",
    "--only-binary",
    "--no-binary",
    "--use-feature",
    "--hash",
    "--config-settings",
    "--global-option",
)
_PIP_SHORT_OPTIONS = {
    "-i": "--index-url",
    "-f": "--find-links",
    "-c": "--constraint",
    "-r": "--requirement",
    "-e": "--editable",
}


def _pip_option(line: str) -> tuple[str, str]:
    """An option line of a requirements file as (long option, value).

    Every option line is an entry, so adding or changing any of them shows: the
    source options (``--index-url`` …), includes (``-r``/``-c``, whose files are
    read by pip too) and install switches alike. Short options may carry their
    value attached (``-ihttps://…``), long ones after ``=`` or a space.
    """
    if line.startswith("--"):
        option, _, value = re.sub(r"^(--[^\s=]+)=", r"\1 ", line).partition(" ")
        matches = [o for o in _PIP_LONG_OPTIONS if o.startswith(option)]
        option = option if option in matches or len(matches) != 1 else matches[0]
    else:
        option, value = line[:2], line[2:].removeprefix("=")
        option = _PIP_SHORT_OPTIONS.get(option, option)
    return option, value.strip()


def _pep503(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements_txt(data: bytes, path: str) -> Inventory:
    inv = Inventory("pypi")
    text = _text(data).replace("\\\r\n", " ").replace("\\\n", " ")
    for number, raw in enumerate(text.splitlines(), 1):
        line = re.sub(r"(^|\s)#.*", "", raw).strip()
        if line.startswith("-"):
            option, value = _pip_option(line)
            inv.add(option, _token(value or "(set)", f"line {number} value"))
            continue
        if not line:
            continue
        if _DIRECT_URL.match(line):  # a bare URL or VCS reference: the URL is the version
            inv.add("(direct reference)", _token(line, f"line {number}"))
            continue
        hashes = sorted(re.findall(r"--hash[=\s]+(\S+)", line))
        line = re.sub(r"\s--?[a-z][\w-]*(=\S*)?", "", f" {line}").strip()
        match = _REQ.fullmatch(line)
        if match is None:
            raise Unreadable(f"line {number}: cannot name the requirement {line[:60]!r}")
        spec = match.group(3).split(";", 1)[0].strip()
        if spec and not _SPECIFIER.match(spec):
            # pip refuses it too; and a symbolic link's target path ("deps/real.txt")
            # must not pass for a harmless requirement named "deps".
            raise Unreadable(f"line {number}: {line[:60]!r} is not a requirement")
        pin = _PIN.fullmatch(spec)
        # A direct reference (`name @ url`) is versioned by its URL.
        version = pin.group(1) if pin else (spec if spec.startswith("@") else None)
        inv.add(_pep503(match.group(1)), version, hashes or None)
    return inv


def requirement_includes(data: bytes) -> list[str]:
    """The files a pip requirements file reads too (``-r``/``--requirement``,
    ``-c``/``--constraint``), as written; none when it is not text."""
    try:
        text = _text(data).replace("\\\r\n", " ").replace("\\\n", " ")
    except Unreadable:
        return []
    found = []
    for raw in text.splitlines():
        line = re.sub(r"(^|\s)#.*", "", raw).strip()
        if line.startswith("-"):
            option, value = _pip_option(line)
            if option in ("--requirement", "--constraint") and value:
                found.append(value)
    return found


def _toml_packages(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for i, entry in enumerate(_list(doc.get("package", []), "package")):
        yield _table(entry, f"package[{i}]")


def poetry_lock(data: bytes, path: str) -> Inventory:
    inv = Inventory("pypi")
    for entry in _toml_packages(_toml(data)):
        name = _pep503(_token(entry.get("name"), "package name"))
        inv.add(name, entry.get("version"), _pick(entry, "source", "files"))
    return inv


def uv_lock(data: bytes, path: str) -> Inventory:
    direct: set[str] = set()
    inv = Inventory("pypi", direct=direct)
    for entry in _toml_packages(_toml(data)):
        name = _pep503(_token(entry.get("name"), "package name"))
        source = entry.get("source", {})
        if isinstance(source, dict) and ("editable" in source or "virtual" in source):
            groups = [entry.get("dependencies", [])]
            for table in ("optional-dependencies", "dev-dependencies"):
                groups.extend(_table(entry.get(table, {}), f"{name} {table}").values())
            for group in groups:
                for dep in _list(group, f"{name} dependencies"):
                    direct.add(_pep503(_token(_table(dep, name).get("name"), "name")))
            continue  # the project itself
        inv.add(name, entry.get("version"), _pick(entry, "source", "sdist", "wheels"))
    return inv


def pipfile_lock(data: bytes, path: str) -> Inventory:
    doc = _json(data, path)
    inv = Inventory("pypi")
    for section in ("default", "develop"):
        for name, entry in _table(doc.get(section, {}), section).items():
            body = _table(entry, f"{section}.{name[:60]}")
            version = body.get("version")
            pin = _PIN.fullmatch(_token(version, f"version of {name}")) if version else None
            inv.add(_pep503(name), pin.group(1) if pin else None, _pick(body, "hashes", "index"))
    return inv


# --- Go, Rust, Ruby --------------------------------------------------------


def _go_lines(text: str) -> Iterator[tuple[int, str, str]]:
    """(line number, directive, rest) for each directive, blocks unfolded."""
    block: str | None = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if block is not None:
            if line == ")":
                block = None
            elif line and not line.startswith("//"):
                yield number, block, line
            continue
        if not line or line.startswith("//"):
            continue
        directive, _, rest = line.partition(" ")
        if rest.strip() == "(":
            block = directive
        else:
            yield number, directive, rest.strip()
    if block is not None:
        raise Unreadable(f"the {block} block is not closed")


_GO_DIRECTIVES = frozenset(
    {"module", "go", "toolchain", "godebug", "require", "replace", "exclude", "retract"}
    | {"tool", "ignore"}
)


def go_mod(data: bytes, path: str) -> Inventory:
    direct: set[str] = set()
    inv = Inventory("go", direct=direct)
    required: dict[str, str] = {}
    replaced: dict[str, str] = {}
    for number, directive, rest in _go_lines(_text(data)):
        body, _, comment = rest.partition("//")
        words = body.split()
        if directive not in _GO_DIRECTIVES:
            raise Unreadable(f"line {number}: unknown directive {directive[:40]!r}")
        if directive == "require":
            if len(words) != 2:
                raise Unreadable(f"line {number}: require needs a module and a version")
            required[words[0]] = words[1]
            if comment.strip() != "indirect":
                direct.add(words[0])
        elif directive == "replace":
            if "=>" not in words or words.index("=>") not in (1, 2):
                raise Unreadable(f"line {number}: replace needs 'module [version] => target'")
            arrow = words.index("=>")
            replaced[words[0]] = " ".join(words[arrow + 1 :])
    for module, version in required.items():
        target = replaced.get(module)
        inv.add(module, version if target is None else f"{version} => {target}")
    return inv


def go_sum(data: bytes, path: str) -> Inventory:
    """Checked for form only: go.mod, not go.sum, decides the versions built."""
    for number, line in enumerate(_text(data).splitlines(), 1):
        words = line.split()
        if words and (len(words) != 3 or not words[2].startswith("h1:")):
            raise Unreadable(f"line {number}: not 'module version h1:hash'")
    return Inventory("go")


def cargo_lock(data: bytes, path: str) -> Inventory:
    direct: set[str] = set()
    inv = Inventory("cargo", direct=direct)
    for entry in _toml_packages(_toml(data)):
        name = _token(entry.get("name"), "package name")
        if "source" not in entry:  # a workspace member: the project itself
            for dep in _list(entry.get("dependencies", []), f"{name} dependencies"):
                direct.add(_token(dep, f"{name} dependency").split(" ", 1)[0])
            continue
        inv.add(name, entry.get("version"), _pick(entry, "source", "checksum"))
    return inv


_GEM_SPEC = re.compile(r"    (\S+) \(([^)]+)\)")
_GEM_SECTIONS = frozenset(
    {"GEM", "GIT", "PATH", "PLUGIN SOURCE", "PLATFORMS", "DEPENDENCIES", "RUBY VERSION"}
    | {"BUNDLED WITH", "CHECKSUMS"}
)


def gemfile_lock(data: bytes, path: str) -> Inventory:
    direct: set[str] = set()
    inv = Inventory("rubygems", direct=direct)
    section = ""
    source: dict[str, str] = {}
    for number, line in enumerate(_text(data).splitlines(), 1):
        if line and not line[0].isspace():
            section, source = line.strip(), {}
            if section not in _GEM_SECTIONS:
                raise Unreadable(f"line {number}: unknown section {section[:40]!r}")
        elif section in ("GEM", "GIT", "PATH", "PLUGIN SOURCE") and re.match(r"  \w", line):
            key, _, value = line.strip().partition(":")
            if key != "specs":
                source[f"{section} {key}"] = value.strip()  # remote, revision, branch, ref
        elif section in ("GEM", "GIT", "PATH", "PLUGIN SOURCE") and line.startswith("    "):
            if line.startswith("      "):
                continue  # a dependency of the spec above, with a requirement
            match = _GEM_SPEC.fullmatch(line)
            if match is None:
                raise Unreadable(f"line {number}: not '    name (version)'")
            inv.add(match.group(1), match.group(2), dict(source) or None)
        elif section == "DEPENDENCIES" and line.startswith("  ") and line.strip():
            direct.add(line.split()[0].rstrip("!"))
    return inv


# --- manifests: what the project asks for ------------------------------------
# A manifest is read too: an install that is not locked (``npm install``,
# ``pip install .``, ``cargo build`` without ``--locked``) resolves what the
# manifest asks for, whatever the lockfile says. Its "version" is the declared
# requirement (``^1.2.0``, ``>=2``, None when it states none); tables that
# change where or what is fetched (overrides, sources, patches) are one entry
# each whose origin is the whole table, so any change to them shows.

_SETTINGS = "(settings)"


def _settings(inv: Inventory, name: str, value: object) -> None:
    if value is not None:
        inv.add(name, _SETTINGS, value)


def _spec(inv: Inventory, name: str, spec: object, where: str) -> None:
    """One declared dependency: a requirement string, or a table (Cargo, Pipfile, Poetry)."""
    if isinstance(spec, str):
        inv.add(name, spec.strip() or None)
    elif isinstance(spec, dict):
        version = spec.get("version")
        inv.add(name, version if isinstance(version, str) and version else None, spec)
    elif isinstance(spec, list):  # Poetry's multiple-constraint dependencies
        inv.add(name, None, spec)
    else:
        raise Unreadable(f"{where}: the requirement of {name[:60]} is not text or a table")


def package_json(data: bytes, path: str) -> Inventory:
    doc = _json(data, path)
    direct: set[str] = set()
    inv = Inventory("npm", direct=direct)
    for section in ("dependencies", "devDependencies", "optionalDependencies", "peerDependencies"):
        for name, spec in _table(doc.get(section, {}), section).items():
            direct.add(name)
            if not isinstance(spec, str):
                raise Unreadable(f"{section}.{name[:60]} is not a version range string")
            inv.add(name, spec.strip() or None)
    _overrides(inv, "overrides", doc.get("overrides"))
    _overrides(inv, "resolutions", doc.get("resolutions"))
    for key in ("bundleDependencies", "bundledDependencies", "packageManager"):
        _settings(inv, key, doc.get(key))
    pnpm = doc.get("pnpm")
    if isinstance(pnpm, dict):
        _overrides(inv, "pnpm.overrides", pnpm.get("overrides"))
        _settings(inv, "pnpm", {k: v for k, v in pnpm.items() if k != "overrides"} or None)
    else:
        _settings(inv, "pnpm", pnpm)
    return inv


def _overrides(inv: Inventory, label: str, value: object) -> None:
    """npm ``overrides``, yarn ``resolutions``, pnpm overrides: one entry per key."""
    if not isinstance(value, dict):
        _settings(inv, label, value)
        return
    for key, spec in value.items():
        if isinstance(spec, str):
            inv.add(f"{label}:{key}", spec.strip() or None)
        else:
            _settings(inv, f"{label}:{key}", spec)


def _pep508(inv: Inventory, items: object, where: str, direct: set[str]) -> None:
    for index, item in enumerate(_list(items, where)):
        if isinstance(item, dict):  # a dependency group's {include-group = "…"}
            _settings(inv, f"{where}[{index}]", item)
            continue
        match = _REQ.fullmatch(_token(item, f"{where}[{index}]").strip())
        if match is None:
            raise Unreadable(f"{where}[{index}]: cannot name the requirement {item[:60]!r}")
        name = _pep503(match.group(1))
        direct.add(name)
        spec = f"{match.group(2) or ''}{match.group(3)}".strip()
        inv.add(name, spec or None)


def pyproject_toml(data: bytes, path: str) -> Inventory:
    doc = _toml(data)
    direct: set[str] = set()
    inv = Inventory("pypi", direct=direct)
    project = _table(doc.get("project", {}), "[project]")
    _pep508(inv, project.get("dependencies", []), "project.dependencies", direct)
    extras = _table(project.get("optional-dependencies", {}), "project.optional-dependencies")
    for extra, items in extras.items():
        _pep508(inv, items, f"project.optional-dependencies.{extra[:60]}", direct)
    for group, items in _table(doc.get("dependency-groups", {}), "[dependency-groups]").items():
        _pep508(inv, items, f"dependency-groups.{group[:60]}", direct)
    build = _table(doc.get("build-system", {}), "[build-system]")
    _pep508(inv, build.get("requires", []), "build-system.requires", direct)
    tool = _table(doc.get("tool", {}), "[tool]")
    poetry = _table(tool.get("poetry", {}), "[tool.poetry]")
    groups = _table(poetry.get("group", {}), "[tool.poetry.group]").values()
    tables = [poetry.get("dependencies", {}), poetry.get("dev-dependencies", {})]
    tables += [_table(g, "[tool.poetry.group.*]").get("dependencies", {}) for g in groups]
    for table in tables:
        for name, spec in _table(table, "[tool.poetry.dependencies]").items():
            direct.add(_pep503(name))
            _spec(inv, _pep503(name), spec, "tool.poetry")
    _settings(inv, "[tool.poetry.source]", poetry.get("source"))
    for name in ("uv", "pdm", "hatch"):
        _settings(inv, f"[tool.{name}]", tool.get(name))
    return inv


def pipfile(data: bytes, path: str) -> Inventory:
    doc = _toml(data)
    direct: set[str] = set()
    inv = Inventory("pypi", direct=direct)
    for section, table in doc.items():
        if section in ("source", "requires", "pipenv", "scripts"):
            _settings(inv, f"[{section}]", table if section == "source" else None)
            continue
        for name, spec in _table(table, f"[{section[:60]}]").items():
            direct.add(_pep503(name))
            _spec(inv, _pep503(name), spec, section)
    return inv


def cargo_toml(data: bytes, path: str) -> Inventory:
    doc = _toml(data)
    direct: set[str] = set()
    inv = Inventory("cargo", direct=direct)
    holders = [doc, _table(doc.get("workspace", {}), "[workspace]")]
    holders += [_table(t, "[target.*]") for t in _table(doc.get("target", {}), "[target]").values()]
    for holder in holders:
        for section in ("dependencies", "dev-dependencies", "build-dependencies"):
            for name, spec in _table(holder.get(section, {}), f"[{section}]").items():
                direct.add(name)
                _spec(inv, name, spec, section)
    for section in ("patch", "replace"):
        _settings(inv, f"[{section}]", doc.get(section))
    return inv


def _not_read(what: str) -> Reader:
    """A file that decides what is installed but that Charter does not read."""

    def reader(data: bytes, path: str) -> Inventory:
        raise Unreadable(f"{what} Charter does not read, so its dependency change is unknown")

    return reader


Reader = Callable[[bytes, str], Inventory]

#: A pip requirements file's (case-folded) base name, wherever it lies.
_REQUIREMENTS_NAME = re.compile(r"(.*requirements.*|constraints.*)\.(txt|in)")


def reader_for(path: str) -> Reader | None:
    """The reader of the file at ``path``, by its base name; ``None`` if not a dependency file.

    Names compare case-insensitively (a case-insensitive file system opens
    ``Package-Lock.json`` as ``package-lock.json``). Any ``*requirements*`` or
    ``constraints*`` file ending ``.txt`` or ``.in``, and any ``.txt``/``.in`` in a
    ``requirements`` folder, is read as a pip requirements file: pip reads
    whatever ``-r``/``-c`` names.
    """
    folder, _, base = path.replace("\\", "/").casefold().rpartition("/")
    if base.endswith((".txt", ".in")) and (
        _REQUIREMENTS_NAME.fullmatch(base) or folder.rpartition("/")[2] == "requirements"
    ):
        return requirements_txt
    if base.endswith(".gemspec"):
        return _READERS["gemfile"]
    return _READERS.get(base) or _unread_lockfile(base) or _unread_manifest(base)


#: Lockfiles of ecosystems Charter does not read, by base name: a change to one is an
#: unparsed dependency file (its change unknown), never an invisible one.
UNREAD_LOCKFILES = {
    "composer.lock": "PHP Composer",
    "gradle.lockfile": "Gradle",
    "packages.lock.json": "NuGet",
    "paket.lock": "NuGet Paket",
    "Package.resolved": "SwiftPM",
    "Podfile.lock": "CocoaPods",
    "Cartfile.resolved": "Carthage",
    "pubspec.lock": "Dart pub",
    "mix.lock": "Elixir Mix",
    "rebar.lock": "Erlang rebar3",
    "conda-lock.yml": "conda",
    "conda-lock.yaml": "conda",
    "pixi.lock": "conda, pixi",
    "pdm.lock": "Python PDM",
    "pylock.toml": "Python, PEP 751",
    "deno.lock": "Deno",
    "flake.lock": "Nix",
    "Manifest.toml": "Julia",
    "renv.lock": "R renv",
    "conan.lock": "C/C++ Conan",
    "stack.yaml.lock": "Haskell Stack",
    "cabal.project.freeze": "Haskell Cabal",
    ".terraform.lock.hcl": "Terraform",
    "Gopkg.lock": "Go dep",
}
_UNREAD_BY_NAME = {name.casefold(): ecosystem for name, ecosystem in UNREAD_LOCKFILES.items()}
#: Name patterns of more of them (matched against the case-folded base name).
UNREAD_LOCKFILE_PATTERNS = (
    (re.compile(r".+\.lockfile"), "Gradle"),  # buildscript-gradle.lockfile, per configuration
    (re.compile(r"conda-.+\.lock|.+\.conda-lock\.ya?ml"), "conda"),
    (re.compile(r"pylock\..+\.toml"), "Python, PEP 751"),
)


def _unread_lockfile(base: str) -> Reader | None:
    """The reader of a lockfile Charter recognises but does not read: it says so."""
    ecosystem = _UNREAD_BY_NAME.get(base)
    if ecosystem is None and "lock" in base:  # every pattern's name holds "lock"
        ecosystem = next(
            (name for pattern, name in UNREAD_LOCKFILE_PATTERNS if pattern.fullmatch(base)), None
        )
    return None if ecosystem is None else _unread(ecosystem, "a lockfile")


def _unread(ecosystem: str, what: str) -> Reader:
    """The reader of a file of ``ecosystem`` Charter recognises but does not read (``what``
    it is): it says so, naming the file."""

    def reader(data: bytes, path: str) -> Inventory:
        name = path.replace("\\", "/").rsplit("/", 1)[-1]
        raise Unreadable(
            f"{name} ({ecosystem}) is {what} that Charter does not read, "
            "so its dependency change is unknown"
        )

    return reader


#: Manifests of ecosystems Charter does not read, by base name: they declare what is
#: installed (Maven and Gradle builds, often with no lockfile at all), so a change to one
#: is an unparsed dependency file too. With their lockfile they are its companions
#: (charter.facts.scan_coverage.COMPANIONS).
UNREAD_MANIFESTS = {
    "composer.json": "PHP Composer",
    "pom.xml": "Maven",
    "build.gradle": "Gradle",
    "build.gradle.kts": "Gradle",
    "settings.gradle": "Gradle",
    "settings.gradle.kts": "Gradle",
    "libs.versions.toml": "Gradle version catalog",
    "packages.config": "NuGet",
    "Directory.Packages.props": "NuGet",
    "Directory.Build.props": "NuGet",
    "paket.dependencies": "NuGet Paket",
    "Package.swift": "SwiftPM",
    "Podfile": "CocoaPods",
    "Cartfile": "Carthage",
    "pubspec.yaml": "Dart pub",
    "mix.exs": "Elixir Mix",
    "rebar.config": "Erlang rebar3",
    "environment.yml": "conda",
    "environment.yaml": "conda",
    "pixi.toml": "pixi",
    "deno.json": "Deno",
    "deno.jsonc": "Deno",
    "flake.nix": "Nix",
    "Project.toml": "Julia",
    "conanfile.txt": "C/C++ Conan",
    "conanfile.py": "C/C++ Conan",
    "vcpkg.json": "C/C++ vcpkg",
    "stack.yaml": "Haskell Stack",
    "cabal.project": "Haskell Cabal",
    "Gopkg.toml": "Go dep",
    "build.sbt": "Scala sbt",
    "project.clj": "Clojure Leiningen",
    "deps.edn": "Clojure",
    "MODULE.bazel": "Bazel",
}
_MANIFESTS_BY_NAME = {name.casefold(): ecosystem for name, ecosystem in UNREAD_MANIFESTS.items()}
#: Manifest name endings (an MSBuild project, a Cabal package).
UNREAD_MANIFEST_SUFFIXES = {
    ".csproj": "NuGet",
    ".fsproj": "NuGet",
    ".vbproj": "NuGet",
    ".cabal": "Haskell Cabal",
}


def unread_manifest(base: str) -> str | None:
    """The ecosystem of a manifest Charter recognises but does not read (a case-folded
    base name), or None."""
    ecosystem = _MANIFESTS_BY_NAME.get(base)
    if ecosystem is None and "." in base:
        ecosystem = UNREAD_MANIFEST_SUFFIXES.get(base[base.rindex(".") :])
    return ecosystem


def _unread_manifest(base: str) -> Reader | None:
    """The reader of a manifest Charter recognises but does not read: it says so."""
    ecosystem = unread_manifest(base)
    return None if ecosystem is None else _unread(ecosystem, "a manifest")


_READERS: dict[str, Reader] = {
    "package-lock.json": package_lock,
    "npm-shrinkwrap.json": package_lock,
    "yarn.lock": yarn_lock,
    "pnpm-lock.yaml": pnpm_lock,
    "poetry.lock": poetry_lock,
    "uv.lock": uv_lock,
    "Pipfile.lock": pipfile_lock,
    "go.mod": go_mod,
    "go.sum": go_sum,
    "Cargo.lock": cargo_lock,
    "Gemfile.lock": gemfile_lock,
    "package.json": package_json,
    "pyproject.toml": pyproject_toml,
    "Pipfile": pipfile,
    "Cargo.toml": cargo_toml,
    "Gemfile": _not_read("a Gemfile (or gemspec) is Ruby code that"),
    "gems.rb": _not_read("a Gemfile (or gemspec) is Ruby code that"),
    "setup.py": _not_read("setup.py is Python code that"),
    "setup.cfg": _not_read("setup.cfg's install_requires is a manifest that"),
    "go.work": _not_read("go.work (workspace modules and replacements) is a file that"),
    ".npmrc": _not_read(".npmrc (registries, scopes) is package-manager configuration that"),
    ".yarnrc": _not_read(".yarnrc (registries) is package-manager configuration that"),
    ".yarnrc.yml": _not_read(".yarnrc.yml (registries) is package-manager configuration that"),
    "pnpm-workspace.yaml": _not_read("pnpm-workspace.yaml (catalogs, overrides) is a file that"),
    "pip.conf": _not_read("pip.conf (indexes) is package-manager configuration that"),
    "pip.ini": _not_read("pip.ini (indexes) is package-manager configuration that"),
    "bun.lock": _not_read("bun.lock is a lockfile format that"),
    "bun.lockb": _not_read("bun.lockb is a lockfile format that"),
}
_READERS = {name.casefold(): reader for name, reader in _READERS.items()}
