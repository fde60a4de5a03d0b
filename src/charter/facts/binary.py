"""What the new bytes of a binary file hold (design: 'Facts: git', binary files).

A file git calls binary has no patch, so the patch scan of CRED-NO-STATIC-SECRETS-001
never reads it. When a proposal is built its new side is read here, streamed in
:data:`CHUNK`-byte reads within a per-file and a total byte budget, and searched for:

* the token definitions of :mod:`charter.policy.secrets` (private key blocks, AWS
  access key ids, GitHub and GitLab tokens), compiled for bytes
  (:data:`~charter.policy.secrets.BYTE_TOKENS`) — an uncompressed tar, a text file
  after a NUL byte, a core dump hold them as written; in UTF-16 text they are read
  one byte in two;
* private keys that have no text marker: the binary OpenSSH key
  (``openssh-key-v1\\0``, the magic of the key the PEM armour encodes), a DER private
  key at the start of the file (PKCS#8, encrypted PKCS#8, PKCS#1 RSA, SEC1 EC: their
  ASN.1 headers, which certificates and public keys do not share), and PKCS#12 key
  stores (the PFX header at the start, or a key bag's object identifier anywhere);
* compressed containers: zip (also a zip appended to another file), gzip, bzip2, xz,
  zstd, 7z, rar, lz4 and compress, by their magic at the start of the file. Their
  members are not decompressed (no decompression bomb, no archive parser run on an
  agent's bytes): a demanding reviewer looks at an added archive.

No entropy test: images, fonts and compressed data are random-looking by design, and
a heuristic on them would ask about every image. Nothing found is returned, never
the bytes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from charter.policy.secrets import BYTE_TOKENS

#: A binary file's new side larger than this is not scanned (its ``patch_omitted`` says so).
MAX_BINARY_SCAN_BYTES = 8 * 1024 * 1024
#: The bytes of all binary files a proposal scans; files past it are not scanned.
MAX_TOTAL_BINARY_SCAN_BYTES = 64 * 1024 * 1024
#: Bytes per read of a blob.
CHUNK = 64 * 1024
#: How far around a literal its pattern is matched: a private key block's
#: ``-----BEGIN …`` may start this far before ``PRIVATE KEY``.
WINDOW = 512

OPENSSH_KEY = "an OpenSSH private key"
DER_KEY = "a DER private key"
PKCS12 = "a PKCS#12 key store"

_LENGTH = rb"(?:[\x00-\x7f]|\x81[\x80-\xff]|\x82[\x01-\xff].|\x83[\x01-\xff]..)"  # DER length
_RSADSI = rb"\x2a\x86\x48\x86\xf7\x0d\x01"  # 1.2.840.113549.1 (PKCS)
#: Private keys recognized by their ASN.1 header at the start of the file.
_HEADERS: tuple[tuple[str, re.Pattern[bytes]], ...] = tuple(
    (kind, re.compile(rb"\A\x30" + _LENGTH + pattern, re.DOTALL))
    for kind, pattern in (
        # PKCS#12 PFX: version 3, then the authSafe ContentInfo (data or signedData).
        (PKCS12, rb"\x02\x01\x03\x30" + _LENGTH + rb"\x06\x09" + _RSADSI + rb"\x07[\x01\x02]"),
        # PKCS#8 PrivateKeyInfo / OneAsymmetricKey: version 0 or 1, AlgorithmIdentifier.
        (DER_KEY, rb"\x02\x01[\x00\x01]\x30" + _LENGTH + rb"\x06"),
        # PKCS#1 RSAPrivateKey: version 0, then a modulus of 128 bytes or more.
        (DER_KEY, rb"\x02\x01\x00\x02[\x81\x82]"),
        # SEC1 ECPrivateKey: version 1, then the private key octets (24 to 66 bytes).
        (DER_KEY, rb"\x02\x01\x01\x04[\x18-\x42]"),
        # EncryptedPrivateKeyInfo: PBES1/PBES2 (PKCS#5) or PKCS#12 password-based encryption.
        (
            DER_KEY,
            rb"\x30" + _LENGTH + rb"\x06(?:\x09" + _RSADSI + rb"\x05[\x03\x0a\x0d]"
            rb"|\x0a" + _RSADSI + rb"\x0c\x01[\x01-\x06])",
        ),
    )
)
#: Compressed containers, by their magic at the start of the file.
_ARCHIVES: tuple[tuple[str, re.Pattern[bytes]], ...] = tuple(
    (name, re.compile(rb"\A" + magic))
    for name, magic in (
        ("zip", rb"PK(?:\x03\x04|\x05\x06|\x07\x08)"),
        ("gzip", rb"\x1f\x8b\x08"),
        ("bzip2", rb"BZh[1-9](?:1AY&SY|\x17rE8P\x90)"),
        ("xz", rb"\xfd7zXZ\x00"),
        ("zstd", rb"\x28\xb5\x2f\xfd"),
        ("7z", rb"7z\xbc\xaf\x27\x1c"),
        ("rar", rb"Rar!\x1a\x07"),
        ("lz4", rb"\x04\x22\x4d\x18"),
        ("compress", rb"\x1f[\x9d\xa0]"),
    )
)
#: A zip local file header (signature, then a "version needed" up to 6.3) anywhere:
#: a zip appended to an image or an executable is still read by unzip.
_ZIP_MEMBER = re.compile(rb"PK\x03\x04[\x00-\x3f]\x00")
ZIP = "zip"


@dataclass(frozen=True)
class _Needle:
    """A literal searched for, and the pattern that must match around it (None: the
    literal itself is the finding). ``archive``: the kind is an archive format."""

    literal: bytes
    kind: str
    pattern: re.Pattern[bytes] | None
    archive: bool = False


_NEEDLES: tuple[_Needle, ...] = (
    *(
        _Needle(literal, kind, pattern)
        for kind, literals, pattern in BYTE_TOKENS
        for literal in literals
    ),
    _Needle(b"openssh-key-v1\x00", OPENSSH_KEY, None),
    # PKCS#12 keyBag and pkcs8ShroudedKeyBag (1.2.840.113549.1.12.10.1.1 and .2).
    _Needle(b"\x06\x0b" + _RSADSI + b"\x0c\x0a\x01\x01", PKCS12, None),
    _Needle(b"\x06\x0b" + _RSADSI + b"\x0c\x0a\x01\x02", PKCS12, None),
    _Needle(b"PK\x03\x04", ZIP, _ZIP_MEMBER, archive=True),
)
#: Credential kinds in the order a message names them.
_ORDER = (*(kind for kind, _, _ in BYTE_TOKENS), OPENSSH_KEY, DER_KEY, PKCS12)


@dataclass
class Findings:
    """What one file's bytes hold: credential kinds and compressed-archive formats."""

    kinds: set[str] = field(default_factory=set)
    archives: set[str] = field(default_factory=set)

    def credentials(self) -> list[str]:
        """The credential kinds found, in a fixed order."""
        return [kind for kind in _ORDER if kind in self.kinds]


def scan(chunks: Iterable[bytes]) -> Findings:
    """What the bytes read as ``chunks`` (in order) hold.

    Held at a time: one chunk and :data:`WINDOW` bytes either side of it. A literal
    is judged once the window after it has been read (or the bytes end), so a token
    across two reads is found as in one. Bytes that look like UTF-16 text (a byte
    order mark, or NUL in most even or odd positions of the first read) are also
    searched one byte in two: the ASCII of UTF-16LE is the even bytes, of BE the odd.
    """
    found = Findings()
    searches: list[_Search] = []
    for chunk in chunks:
        if not searches:
            _judge_start(chunk, found)
            planes = _utf16_planes(chunk)
            searches = [_Search(found, None), *(_Search(found, plane) for plane in planes)]
        for search in searches:
            search.feed(chunk)
    for search in searches:
        search.end()
    return found


def _utf16_planes(head: bytes) -> tuple[int, ...]:
    """The byte positions (0 even, 1 odd) that hold the ASCII of UTF-16 text, if any."""
    if head.startswith(b"\xff\xfe"):
        return (0,)
    if head.startswith(b"\xfe\xff"):
        return (1,)
    sample = head[:_PREFIX]
    half = len(sample) // 2
    if half < 16:
        return ()
    # A NUL in most odd bytes: little-endian (ASCII in the even ones), and vice versa.
    return tuple(
        plane
        for plane, other in ((0, sample[1::2]), (1, sample[0::2]))
        if other.count(0) * 10 > half * 6
    )


#: git's binary test reads this many bytes: the sample the UTF-16 test looks at.
_PREFIX = 8000


class _Search:
    """The literal search over a stream of reads: all the bytes (``plane`` None), or
    those at even (0) or odd (1) offsets of the stream (no archive magic there)."""

    def __init__(self, found: Findings, plane: int | None) -> None:
        self.found = found
        self.plane = plane
        self.offset = 0
        self.buf = b""
        self.done = 0

    def feed(self, chunk: bytes) -> None:
        if self.plane is not None:
            start = (self.plane - self.offset) % 2
            self.offset += len(chunk)
            chunk = chunk[start::2]
        self.buf += chunk
        ready = max(self.done, len(self.buf) - WINDOW)
        _judge(self.buf, self.done, ready, self.found, archives=self.plane is None)
        cut = max(0, ready - WINDOW)
        self.buf, self.done = self.buf[cut:], ready - cut

    def end(self) -> None:
        _judge(self.buf, self.done, len(self.buf), self.found, archives=self.plane is None)


def _judge_start(head: bytes, found: Findings) -> None:
    for kind, pattern in _HEADERS:
        if pattern.match(head):
            found.kinds.add(kind)
    for name, pattern in _ARCHIVES:
        if pattern.match(head):
            found.archives.add(name)


def _judge(buf: bytes, start: int, stop: int, found: Findings, *, archives: bool) -> None:
    """Judge every needle (but archive magic unless ``archives``) that starts in
    ``buf[start:stop]``."""
    for needle in _NEEDLES:
        if needle.archive and not archives:
            continue
        if needle.kind in (found.archives if needle.archive else found.kinds):
            continue
        at = buf.find(needle.literal, start)
        while 0 <= at < stop:
            if _holds(buf, at, needle):
                (found.archives if needle.archive else found.kinds).add(needle.kind)
                break
            at = buf.find(needle.literal, at + 1)


def _holds(buf: bytes, at: int, needle: _Needle) -> bool:
    """Whether a match of the needle's pattern covers the literal at ``at``."""
    if needle.pattern is None:
        return True
    low, high = max(0, at - WINDOW), min(len(buf), at + WINDOW)
    return any(m.start() <= at < m.end() for m in needle.pattern.finditer(buf, low, high))


def reason(findings: Findings) -> str:
    """``patch_omitted`` for a scanned binary file: ``"binary"`` when nothing was found."""
    parts = []
    kinds = findings.credentials()
    if kinds:
        listed = kinds[0] if len(kinds) == 1 else f"{', '.join(kinds[:-1])} and {kinds[-1]}"
        parts.append(f"holds {listed}")
    parts.extend(
        f"a compressed archive ({name}), its members not scanned for credentials"
        for name in sorted(findings.archives)
    )
    return "; ".join(["binary", *parts])


def too_large(limit: int) -> str:
    """``patch_omitted`` for a binary file larger than the per-file budget."""
    return f"binary; larger than the {limit}-byte scan budget, not scanned for credentials"


def budget_spent(total: int) -> str:
    """``patch_omitted`` for a binary file once the total budget is spent."""
    return (
        f"binary; the {total}-byte total scan budget for binary files is spent,"
        " not scanned for credentials"
    )
