"""Signed checkpoints of the audit chain, as transparency logs publish them.

The head anchor lives in the store it protects, so whoever can write the store
can delete its newest records and rewrite the anchor. A *checkpoint* is the
head signed by a key the store's writer does not hold, kept somewhere the
store's writer cannot reach: verifying the log against it detects that
truncation, and any rewriting of the records it covers.

Format: a signed note (c2sp.org/signed-note) whose text follows
c2sp.org/tlog-checkpoint::

    charter.audit/3f2a9c0b51d4e7a8      <- origin: the log's name
    1042                                <- tree size: the number of records
    q9y5Wf4W...=                        <- base64 of the hash of record 1042
                                        <- blank line
    — charter.audit/3f2a9c0b51d4e7a8 AbCd...   <- key name, base64(key id || signature)

The third line is the head of Charter's hash chain (the SHA-256 hash of the
newest record, which covers every record before it through ``prev_hash``),
not an RFC 6962 Merkle root: the note parses with any signed-note tool, but
only Charter checks it against a log. The key name is the origin. The key id
is the first four bytes of SHA-256(name || 0x0A || 0x01 || 32-byte public key)
for Ed25519 (signature type 0x01) and of the SPKI DER for ECDSA P-256 (0x02),
as the signed-note specification assigns them.

The default origin is ``charter.audit/`` + the first 16 hex digits of record
1's hash: unique to each log without configuration, and a rewritten first
record changes it. A log may be given a name instead (``--origin``); its
verifier must then be given the same name.

An older checkpoint still verifies: it names a prefix of the log, and the log
has only grown since. It proves nothing about records written after it, so the
verifier must keep the newest checkpoint it has seen and check against that.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from charter.audit.chain import GENESIS, AuditStore, VerifyReport, verify, verify_after
from charter.core.errors import AuditError, InputError, TrustError, VerificationError
from charter.trust import keys

ORIGIN_PREFIX = "charter.audit/"
#: A checkpoint is a few hundred bytes; anything much larger is not one.
MAX_NOTE_BYTES = 64 * 1024
MAX_SIGNATURES = 16
_DASH = "\u2014 "
#: Key names (and so origins): printable, no whitespace, no "+" (signed-note).
_NAME = re.compile(r"^[!-*,-~]{1,255}$")
_SIZE = re.compile(r"^(?:0|[1-9][0-9]{0,18})$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_ED25519 = b"\x01"
_ECDSA = b"\x02"


@dataclass(frozen=True)
class Checkpoint:
    """What a checkpoint says: the log (origin), its record count and head hash (hex)."""

    origin: str
    size: int
    head: str

    def text(self) -> str:
        """The note text (three lines, each ending in a newline)."""
        check_origin(self.origin)
        raw = bytes.fromhex(self.head)
        return f"{self.origin}\n{self.size}\n{base64.b64encode(raw).decode()}\n"


def check_origin(origin: str) -> str:
    if not _NAME.match(origin):
        raise InputError(
            f"checkpoint origin {origin!r} is not a valid log name",
            hint="printable ASCII without spaces or '+', e.g. audit.example.com/prod",
        )
    return origin


def default_origin(first_record_hash: str) -> str:
    """The origin of a log whose record 1 has this hash."""
    return ORIGIN_PREFIX + first_record_hash[:16]


def log_origin(store: AuditStore) -> str | None:
    """The default origin of ``store``'s log, or None while it is empty."""
    for record in store.records():
        value = record.get("hash")
        return default_origin(value) if isinstance(value, str) else None
    return None


def key_id(name: str, public: keys.PublicKey) -> bytes:
    """The signed-note key id of ``public`` under key name ``name``."""
    if isinstance(public, ed25519.Ed25519PublicKey):
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return hashlib.sha256(name.encode() + b"\n" + _ED25519 + raw).digest()[:4]
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).digest()[:4]


def sign(checkpoint: Checkpoint, key: keys.PrivateKey) -> str:
    """The signed note of ``checkpoint``, signed by ``key`` under the origin's name."""
    text = checkpoint.text()
    signature = keys.sign(key, text.encode())
    blob = key_id(checkpoint.origin, key.public_key()) + signature
    return f"{text}\n{_DASH}{checkpoint.origin} {base64.b64encode(blob).decode()}\n"


# ---------------------------------------------------------------- reading
def _b64(text: str, what: str) -> bytes:
    """Strict, canonical standard base64: one encoding per value, so no byte can change."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise VerificationError(f"checkpoint: {what} is not base64") from exc
    if base64.b64encode(raw).decode("ascii") != text:
        raise VerificationError(f"checkpoint: {what} is not canonical base64")
    return raw


def _split(note: bytes) -> tuple[str, list[tuple[str, bytes]]]:
    """The note text and its (key name, key id || signature) lines; strict."""
    if len(note) > MAX_NOTE_BYTES:
        raise InputError(f"checkpoint is {len(note)} bytes; a checkpoint is at most 64 KiB")
    try:
        decoded = note.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise VerificationError("checkpoint: not UTF-8 text") from exc
    if any(ord(c) < 0x20 and c != "\n" for c in decoded) or "\x7f" in decoded:
        raise VerificationError("checkpoint: holds control characters")
    text, sep, sigs = decoded.rpartition("\n\n")
    if not sep or not text or not sigs.endswith("\n"):
        raise VerificationError("checkpoint: not a signed note (text, blank line, signatures)")
    lines = sigs[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise VerificationError(f"checkpoint: more than {MAX_SIGNATURES} signatures")
    signatures: list[tuple[str, bytes]] = []
    for line in lines:
        if not line.startswith(_DASH):
            raise VerificationError("checkpoint: a signature line does not start with an em dash")
        name, space, blob = line[len(_DASH) :].partition(" ")
        if not space or not _NAME.match(name):
            raise VerificationError("checkpoint: a signature line has no valid key name")
        raw = _b64(blob, "a signature")
        if len(raw) < 5:
            raise VerificationError("checkpoint: a signature is too short")
        signatures.append((name, raw))
    return text + "\n", signatures


def _parse_text(text: str) -> Checkpoint:
    lines = text[:-1].split("\n")
    if len(lines) < 3 or any(not line for line in lines):
        raise VerificationError("checkpoint: the text is not origin, size and hash lines")
    origin, size, head = lines[:3]
    if not _NAME.match(origin):
        raise VerificationError("checkpoint: the origin line is not a log name")
    if not _SIZE.match(size):
        raise VerificationError("checkpoint: the size line is not a decimal count")
    raw = _b64(head, "the hash line")
    if len(raw) != 32:
        raise VerificationError("checkpoint: the hash line is not a SHA-256 hash")
    return Checkpoint(origin, int(size), raw.hex())


def open_note(note: bytes, public: keys.PublicKey) -> Checkpoint:
    """The checkpoint in ``note``, once a signature by ``public`` verifies.

    Signature lines from other keys are ignored (others may cosign), but one
    that names this key and does not verify rejects the note. The signer's key
    name must be the checkpoint's origin. Raises :class:`VerificationError`
    (a failed verification, exit 1) with a one-line reason.
    """
    text, signatures = _split(note)
    ours = [
        (name, raw[4:]) for name, raw in signatures if raw[:4] == key_id(name, public)
    ]  # fmt: skip
    if not ours:
        raise VerificationError(
            "checkpoint is not signed by the given key",
            hint=f"its signers' key ids do not match key {keys.key_id(public)}",
        )
    for _, signature in ours:
        try:
            keys.verify(public, signature, text.encode())
        except TrustError as exc:
            raise VerificationError("checkpoint: bad signature (the note was altered)") from exc
    checkpoint = _parse_text(text)
    if any(name != checkpoint.origin for name, _ in ours):
        raise VerificationError(
            "checkpoint: signed under a key name other than its origin "
            f"({ours[0][0]!r} vs {checkpoint.origin!r})"
        )
    return checkpoint


# ---------------------------------------------------------- log operations
def make(store: AuditStore, key: keys.PrivateKey, *, origin: str | None = None) -> str:
    """A signed checkpoint of ``store``'s head, after verifying the whole chain.

    Raises :class:`VerificationError` if the chain does not verify (a broken
    log is never vouched for) and :class:`InputError` for an empty log
    without an ``origin`` (there is nothing to name it by).
    """
    report = verify(store)
    if not report.ok:
        raise VerificationError(f"audit log {store.location} is not intact: {report.problem}")
    return sign(_checkpoint_of(store, report, origin), key)


def _checkpoint_of(store: AuditStore, report: VerifyReport, origin: str | None) -> Checkpoint:
    name = origin if origin is not None else log_origin(store)
    if name is None:
        raise InputError(
            f"audit log {store.location} is empty: nothing to checkpoint",
            hint="record a decision first, or name the log with --origin",
        )
    return Checkpoint(check_origin(name), report.count, report.head_hash or GENESIS)


def verify_checkpoint(
    store: AuditStore,
    note: bytes,
    public: keys.PublicKey,
    *,
    origin: str | None = None,
) -> VerifyReport:
    """Verify ``store``'s chain and that it extends the signed checkpoint ``note``.

    A bad or foreign signature raises :class:`VerificationError`; a log that
    is not the checkpoint's (origin), holds fewer records than it names, or a
    different hash at that record gives a failed report with its reason.
    """
    checkpoint = open_note(note, public)
    expected = origin if origin is not None else log_origin(store)
    if expected is not None and checkpoint.origin != expected:
        return VerifyReport(
            False, 0, None,
            f"the checkpoint is for log {checkpoint.origin!r}, not this log ({expected!r}): "
            "another log's checkpoint, or this log's first record was rewritten",
        )  # fmt: skip
    label = f"the signed checkpoint ({checkpoint.size} records)"
    if checkpoint.size == 0:
        return verify(store, label=label)
    return verify(store, expected_head=(checkpoint.size, checkpoint.head), label=label)


class Checkpointer:
    """Writes a signed checkpoint of a live log to a file, checking only what is new.

    Each :meth:`write` verifies the records added since the last checkpoint
    (the first verifies the whole chain), signs the head and replaces the
    file atomically. A log that no longer verifies raises, and nothing is
    written: the last good checkpoint stays, and shows the damage later.
    """

    def __init__(
        self, store: AuditStore, key: keys.PrivateKey, path: Path, *, origin: str | None = None
    ) -> None:
        self.store = store
        self.key = key
        self.path = path
        self.origin = check_origin(origin) if origin is not None else None
        self._verified: tuple[int, str] = (0, GENESIS)

    def write(self) -> Checkpoint | None:
        """Write a checkpoint of the head; None (nothing written) while the log is empty."""
        report = verify_after(self.store, self._verified)
        if not report.ok:
            raise AuditError(
                f"audit log {self.store.location} is not intact, no checkpoint written: "
                f"{report.problem}"
            )
        head = self.store.head()
        if report.count and (head is None or head[0] < report.count):
            raise AuditError(
                f"audit log {self.store.location} now ends at record {head[0] if head else 0}, "
                f"before record {report.count} of the last checkpoint: records were deleted "
                "(no checkpoint written)"
            )
        if report.count == 0 and self.origin is None:
            return None
        if self.origin is None:
            self.origin = log_origin(self.store)
        checkpoint = _checkpoint_of(self.store, report, self.origin)
        write_atomic(self.path, sign(checkpoint, self.key).encode())
        self._verified = (report.count, checkpoint.head)
        return checkpoint


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``: a reader sees the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_note(path: Path) -> bytes:
    """A checkpoint file's bytes (bad input, exit 2, if it cannot be read)."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_NOTE_BYTES + 1)
    except OSError as exc:
        raise InputError(f"{path}: cannot read the checkpoint ({exc.strerror})") from exc
    if len(data) > MAX_NOTE_BYTES:
        raise InputError(f"{path}: larger than 64 KiB, not a checkpoint")
    return data


__all__ = [
    "ORIGIN_PREFIX",
    "Checkpoint",
    "Checkpointer",
    "check_origin",
    "default_origin",
    "key_id",
    "log_origin",
    "make",
    "open_note",
    "read_note",
    "sign",
    "verify_checkpoint",
    "write_atomic",
]
