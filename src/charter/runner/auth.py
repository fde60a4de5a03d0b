"""API tokens and roles.

Tokens are stored hashed in the runner config, as ``sha256 = "<hex>"`` (for
long random secrets) or ``scrypt = "scrypt$N$r$p$<salt b64>$<hash b64>"``. A
presented token is hashed and compared against *every* entry with
:func:`hmac.compare_digest`, so timing reveals neither which entry matched nor
how much of a hash did. Verified scrypt results are cached by the secret's
SHA-256 so each request does not pay for scrypt again.

:meth:`TokenTable.lookup` is the fast path (SHA-256 entries and the cache of
verified scrypt secrets; microseconds, fine on the event loop); only a secret
it cannot settle needs :meth:`TokenTable.verify_slow`, which runs scrypt and
belongs on a thread (the runner's app runs it on a small pool, after the
client's failure budget is checked). The cache is an LRU of at most
:data:`MAX_VERIFIED` entries of 32-byte digests and a name: bounded in bytes,
and it only ever holds secrets that verified.

Roles: ``agent`` asks for decisions; ``approver`` confirms or rejects an
``ask`` (never one about their own change); ``operator`` runs the service
(status, metrics, refresh).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass

from charter.core.errors import ConfigError

ROLES = ("agent", "approver", "operator")
#: Verified scrypt secrets remembered (by SHA-256), least recently used dropped first.
MAX_VERIFIED = 4096
#: :meth:`TokenTable.lookup`'s answer when only scrypt can tell.
SLOW = "slow"


@dataclass(frozen=True)
class TokenEntry:
    name: str
    role: str
    kind: str  # "sha256" or "scrypt"
    digest: bytes
    salt: bytes = b""
    n: int = 0
    r: int = 0
    p: int = 0


@dataclass(frozen=True)
class Principal:
    name: str
    role: str


def parse_token_hash(name: str, role: str, kind: str, value: str, where: str) -> TokenEntry:
    if kind == "sha256":
        text = value.strip().lower().removeprefix("sha256:")
        try:
            digest = bytes.fromhex(text)
        except ValueError:
            digest = b""
        if len(digest) != 32:
            raise ConfigError(f"{where}: sha256 must be 64 hex digits (the hash of the secret)")
        return TokenEntry(name, role, "sha256", digest)
    parts = value.split("$")
    try:
        if len(parts) != 6 or parts[0] != "scrypt":
            raise ValueError
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt = base64.b64decode(parts[4], validate=True)
        digest = base64.b64decode(parts[5], validate=True)
    except ValueError:
        raise ConfigError(
            f"{where}: scrypt must look like scrypt$N$r$p$SALT_B64$HASH_B64"
        ) from None
    if n < 2 or n & (n - 1) or not 0 < r < 64 or not 0 < p < 64 or len(digest) < 16:
        raise ConfigError(f"{where}: scrypt parameters out of range")
    return TokenEntry(name, role, "scrypt", digest, salt, n, r, p)


def sha256_hex(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def scrypt_hash(secret: str, *, n: int = 2**14, r: int = 8, p: int = 1) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=n, r=r, p=p, dklen=32)
    return "$".join(
        ["scrypt", str(n), str(r), str(p), base64.b64encode(salt).decode(),
         base64.b64encode(digest).decode()]
    )  # fmt: skip


def new_secret() -> str:
    return "chr_" + secrets.token_urlsafe(32)


class TokenTable:
    """Looks presented secrets up in constant time per entry."""

    def __init__(self, entries: tuple[TokenEntry, ...]) -> None:
        self.entries = entries
        self._scrypt = tuple(e for e in entries if e.kind == "scrypt")
        self._scrypt_ok: OrderedDict[bytes, str] = OrderedDict()
        self._lock = threading.Lock()

    def __bool__(self) -> bool:
        return bool(self.entries)

    @property
    def cached(self) -> int:
        """How many verified scrypt secrets are remembered."""
        with self._lock:
            return len(self._scrypt_ok)

    def authenticate(self, secret: str) -> Principal | None:
        """:meth:`lookup`, then :meth:`verify_slow` if needed (blocks for scrypt)."""
        found = self.lookup(secret)
        if isinstance(found, str):
            return self.verify_slow(secret)
        return found

    def lookup(self, secret: str) -> Principal | None | str:
        """The caller without running scrypt: a principal, None (not a token), or
        :data:`SLOW` when only scrypt can tell."""
        if not secret or len(secret) > 4096:
            return None
        presented = _digest(secret)
        match: TokenEntry | None = None
        for entry in self.entries:
            if entry.kind == "sha256":
                if hmac.compare_digest(presented, entry.digest) and match is None:
                    match = entry
        if match is not None:
            return Principal(match.name, match.role)
        if not self._scrypt:
            return None
        with self._lock:
            cached = self._scrypt_ok.get(presented)
            if cached is not None:
                self._scrypt_ok.move_to_end(presented)
        if cached is None:
            return SLOW
        for entry in self._scrypt:
            if hmac.compare_digest(cached, entry.name) and match is None:
                match = entry
        return Principal(match.name, match.role) if match is not None else None

    def verify_slow(self, secret: str) -> Principal | None:
        """Run scrypt against every scrypt entry; remember a secret that verified."""
        if not secret or len(secret) > 4096:
            return None
        raw = secret.encode("utf-8", "surrogatepass")
        match: TokenEntry | None = None
        for entry in self._scrypt:
            derived = hashlib.scrypt(
                raw, salt=entry.salt, n=entry.n, r=entry.r, p=entry.p,
                dklen=len(entry.digest), maxmem=256 * 1024 * 1024,
            )  # fmt: skip
            if hmac.compare_digest(derived, entry.digest) and match is None:
                match = entry
        if match is None:
            return None
        with self._lock:
            self._scrypt_ok[_digest(secret)] = match.name
            while len(self._scrypt_ok) > MAX_VERIFIED:
                self._scrypt_ok.popitem(last=False)
        return Principal(match.name, match.role)


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()
