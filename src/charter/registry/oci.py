"""OCI distribution of signed bundles: push to and pull from a registry.

A Charter bundle travels as an OCI image manifest with one layer, the signed
``.tar.gz`` itself, under the media type OPA uses for bundles
(``application/vnd.oci.image.layer.v1.tar+gzip``), and a small JSON config
(``application/vnd.charter.config.v1+json``) naming the layer, its name and
version. The registry is untrusted transport: every byte received is checked
against a digest before it is returned, the manifest against the digest the
reference pins (or, for a tag, the digest it resolved to, which is what gets
recorded), and the blob against the manifest's descriptor (size and SHA-256).
The signature check proper happens afterwards, in :mod:`charter.trust.policy`.

The client speaks the OCI distribution API directly over ``httpx`` (a core
dependency), with the spec's Basic and Bearer-token challenges and the
credentials ``docker login`` saved (``$REGISTRY_AUTH_FILE`` first), or those a
:class:`Connection` carries (``--username``/``--password-stdin``), and TLS
trusting a custom CA (``--ca-file``). A push uploads the blobs once and PUTs the
manifest once per tag. Signatures stored next to a bundle are
:mod:`charter.registry.cosign`'s business; version ranges are
:mod:`charter.registry.channels`'. ``oras`` is not used: its pull unpacks this
media type without checking digests, its request wrapper retries for minutes
(a registry that is down must fail fast), and what Charter needed from it was
private API.

Plain HTTP is used only for loopback registries (without a CA file) or with
``insecure=True``.
"""

from __future__ import annotations

import base64
import os
import re
import ssl
import subprocess
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from charter.core import jsonio
from charter.core.digests import sha256_bytes
from charter.core.errors import CharterError, InputError, RegistryError, VerificationError
from charter.core.hosts import is_loopback
from charter.policy.bundle import MANIFEST, ArchiveLimits, parse_manifest, read_archive

SCHEME = "oci://"
MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"
LAYER_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
CONFIG_MEDIA_TYPE = "application/vnd.charter.config.v1+json"
#: Config media types accepted on pull (OPA-style tooling may push these).
ACCEPTED_CONFIG_TYPES = frozenset(
    {
        CONFIG_MEDIA_TYPE,
        "application/vnd.oci.image.config.v1+json",
        "application/vnd.oci.empty.v1+json",
        "application/vnd.unknown.config.v1+json",
        "application/vnd.openpolicyagent.config.v1+json",
    }
)
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
DEFAULT_TIMEOUT = 15.0

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_REPO = re.compile(
    r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$"
)
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")
#: cosign's ``sha256-<hex>.sig`` / ``.att`` tags and the referrers-tag fallback.
_SIGNATURE_TAG = re.compile(r"^sha256-[0-9a-f]{64}(\.[a-z]+)?$")
_LINK = re.compile(r"<([^>]+)>\s*;\s*rel=\"?next\"?")


@dataclass(frozen=True)
class Reference:
    """``oci://HOST[:PORT]/REPO[:TAG][@sha256:…]``."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @classmethod
    def parse(cls, text: str) -> Reference:
        raw = text.strip()
        if not raw.startswith(SCHEME):
            raise RegistryError(
                f"{text!r} is not an OCI reference",
                hint="write oci://HOST[:PORT]/REPO:TAG or oci://HOST/REPO@sha256:…",
            )
        rest = raw[len(SCHEME) :]
        digest: str | None = None
        if "@" in rest:
            rest, digest = rest.split("@", 1)
            if not _DIGEST.match(digest):
                raise RegistryError(
                    f"{text!r}: the pinned digest must be sha256: and 64 lowercase hex digits"
                )
        if "/" not in rest:
            raise RegistryError(f"{text!r}: missing repository after the registry host")
        registry, path = rest.split("/", 1)
        tag: str | None = None
        last = path.rsplit("/", 1)[-1]
        if ":" in last:
            path, tag = path.rsplit(":", 1)
            if not _TAG.match(tag):
                raise RegistryError(f"{text!r}: {tag!r} is not a valid tag")
        if not registry or not _REPO.match(path):
            raise RegistryError(
                f"{text!r}: {path!r} is not a valid repository name",
                hint="lowercase letters, digits and . _ - separated by /",
            )
        if tag is None and digest is None:
            tag = "latest"
        return cls(registry, path, tag, digest)

    @property
    def host(self) -> str:
        host = self.registry
        if host.startswith("["):
            return host[1 : host.index("]")]
        return host.rsplit(":", 1)[0] if host.count(":") == 1 else host

    @property
    def is_loopback(self) -> bool:
        return is_loopback(self.host)

    @property
    def target(self) -> str:
        """The tag or digest a manifest is addressed by (the digest wins)."""
        return self.digest or self.tag or "latest"

    def with_digest(self, digest: str) -> Reference:
        return Reference(self.registry, self.repository, self.tag, digest)

    def __str__(self) -> str:
        text = f"{SCHEME}{self.registry}/{self.repository}"
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def is_oci_reference(text: str) -> bool:
    return text.strip().startswith(SCHEME)


@dataclass(frozen=True)
class PushResult:
    reference: Reference
    manifest_digest: str
    blob_digest: str
    size: int
    tags: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "reference": str(self.reference.with_digest(self.manifest_digest)),
            "manifest_digest": self.manifest_digest,
            "blob_digest": self.blob_digest,
            "size": self.size,
            "tags": list(self.tags),
        }


def _push_tags(reference: Reference, extra: Sequence[str]) -> list[str]:
    """The reference's tag, then each extra tag once, all validated."""
    if reference.tag is None and not extra:
        raise RegistryError(
            f"{reference}: push needs a tag, not only a digest",
            hint="push to oci://HOST/REPO:TAG (or pass --tag); the digest is printed afterwards",
        )
    tags: list[str] = [reference.tag] if reference.tag else []
    for tag in extra:
        if not _TAG.match(tag) or _SIGNATURE_TAG.match(tag):
            raise RegistryError(
                f"{tag!r} is not a tag a bundle may be pushed under",
                hint="letters, digits, . _ -; sha256-… tags are reserved for signatures",
            )
        if tag not in tags:
            tags.append(tag)
    return tags


@dataclass(frozen=True)
class PulledBundle:
    """Bundle bytes whose manifest and blob digests have been checked."""

    data: bytes
    reference: Reference
    manifest_digest: str
    blob_digest: str
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def resolved(self) -> Reference:
        """The reference pinned to the manifest digest actually received."""
        return self.reference.with_digest(self.manifest_digest)

    def to_dict(self) -> dict[str, Any]:
        return {
            "reference": str(self.reference),
            "resolved": str(self.resolved),
            "manifest_digest": self.manifest_digest,
            "blob_digest": self.blob_digest,
            "size": len(self.data),
            "config": self.config,
        }


_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')
MAX_ERROR_BYTES = 64 * 1024


AUTH_FILE_ENV = "REGISTRY_AUTH_FILE"


def _docker_config() -> dict[str, Any]:
    """The saved registry logins, or nothing.

    ``$REGISTRY_AUTH_FILE`` (podman/skopeo's auth file, same ``auths`` format)
    when set, else ``$DOCKER_CONFIG/config.json`` (default ``~/.docker``).
    """
    auth_file = os.environ.get(AUTH_FILE_ENV)
    if auth_file:
        path = Path(auth_file).expanduser()
    else:
        directory = os.environ.get("DOCKER_CONFIG") or os.path.join("~", ".docker")
        path = Path(directory).expanduser() / "config.json"
    try:
        return jsonio.loads_object(path.read_bytes(), what=str(path))
    except (OSError, InputError):
        return {}  # no usable credentials: registries are tried anonymously


def _helper_credentials(helper: str, registry: str) -> str | None:
    """``docker-credential-HELPER get`` for ``registry``: base64 ``user:secret``."""
    try:
        done = subprocess.run(
            [f"docker-credential-{helper}", "get"],
            input=registry.encode(),
            capture_output=True,
            timeout=30,
            check=True,
        )
        answer = jsonio.loads_object(done.stdout, what=f"docker-credential-{helper}")
    except (OSError, subprocess.SubprocessError, InputError):
        return None
    user, secret = answer.get("Username"), answer.get("Secret")
    if not isinstance(user, str) or not isinstance(secret, str):
        return None
    return base64.b64encode(f"{user}:{secret}".encode()).decode("ascii")


def registry_credentials(registry: str, config: Mapping[str, Any] | None = None) -> str | None:
    """Basic credentials (base64 ``user:secret``) for ``registry``, as ``docker login`` saved.

    Reads the Docker config: an inline ``auths`` entry, else the registry's
    ``credHelpers`` entry, else the ``credsStore`` helper. None means anonymous.
    """
    found = _docker_config() if config is None else config
    names = [registry, f"https://{registry}", f"http://{registry}", f"https://{registry}/v1/"]
    auths = found.get("auths")
    for name in names:
        entry = auths.get(name) if isinstance(auths, dict) else None
        if isinstance(entry, dict) and isinstance(entry.get("auth"), str) and entry["auth"]:
            return str(entry["auth"])
    helpers = found.get("credHelpers")
    helper = helpers.get(registry) if isinstance(helpers, dict) else None
    if not isinstance(helper, str):
        helper = found.get("credsStore") if isinstance(found.get("credsStore"), str) else None
    return _helper_credentials(helper, registry) if helper else None


@dataclass(frozen=True)
class Connection:
    """How to reach a registry: explicit credentials, TLS trust and plain-HTTP consent.

    ``username``/``password`` win over saved logins; ``ca_file`` is a PEM bundle
    of the CAs that may sign the registry's certificate (it also means HTTPS,
    even on loopback).
    """

    username: str | None = None
    password: str | None = None
    ca_file: Path | None = None
    insecure: bool = False
    timeout: float = DEFAULT_TIMEOUT

    def basic(self) -> str | None:
        if self.username is None:
            return None
        return base64.b64encode(f"{self.username}:{self.password or ''}".encode()).decode()


def _tls(ca_file: Path | None) -> ssl.SSLContext | bool:
    if ca_file is None:
        return True
    try:
        return ssl.create_default_context(cafile=str(ca_file))
    except (OSError, ssl.SSLError) as exc:
        raise RegistryError(
            f"{ca_file}: cannot read the CA certificates ({type(exc).__name__})",
            hint="--ca-file takes a PEM file of CA certificates",
        ) from exc


def _challenge(header: str) -> tuple[str, dict[str, str]]:
    """``Bearer realm="…",service="…"`` → ``("bearer", {"realm": …, "service": …})``."""
    scheme, _, rest = header.strip().partition(" ")
    return scheme.lower(), {k.lower(): v for k, v in _CHALLENGE_PARAM.findall(rest)}


class OciClient:
    """Push and pull Charter bundles to one registry (OCI distribution API over httpx).

    Authentication follows the distribution spec: a request answered 401 is
    retried once, with Basic credentials (``Basic`` challenge) or with a token
    from the challenge's realm (``Bearer``), using ``docker login`` credentials
    when there are any. There are no retries beyond that: a registry that is
    down fails fast.
    """

    def __init__(
        self,
        reference: Reference,
        *,
        insecure: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
        connection: Connection | None = None,
    ) -> None:
        conn = connection or Connection(insecure=insecure, timeout=timeout)
        self.reference = reference
        self.connection = conn
        self.insecure = conn.insecure
        plain = (reference.is_loopback or conn.insecure) and conn.ca_file is None
        self.scheme = "http" if plain else "https"
        self.timeout = conn.timeout
        self._verify = _tls(conn.ca_file)
        self._authorization: str | None = None
        self._credentials: str | None = conn.basic()
        self._credentials_read = self._credentials is not None

    def _url(self, path: str) -> str:
        return f"{self.scheme}://{self.reference.registry}/v2/{self.reference.repository}/{path}"

    def _client(self) -> httpx.Client:
        # trust_env: HTTPS_PROXY/NO_PROXY and SSL_CERT_FILE apply, as they did with requests.
        return httpx.Client(
            timeout=self.timeout, follow_redirects=True, trust_env=True, verify=self._verify
        )

    def _basic(self) -> str | None:
        if not self._credentials_read:
            self._credentials = registry_credentials(self.reference.registry)
            self._credentials_read = True
        return self._credentials

    def _token(self, client: httpx.Client, params: Mapping[str, str]) -> str | None:
        realm = params.get("realm")
        if not realm:
            return None
        self._check_realm(realm)
        query = {k: params[k] for k in ("service", "scope") if params.get(k)}
        basic = self._basic()
        headers = {"Authorization": f"Basic {basic}"} if basic else {}
        answer = client.get(realm, params=query, headers=headers)
        if answer.status_code != 200:
            raise RegistryError(
                f"{self.reference.registry}: the token service refused access "
                f"(HTTP {answer.status_code})",
                hint="log in with `docker login` (Charter reads ~/.docker/config.json)",
            )
        document = jsonio.loads_object(answer.content, what="the token service's answer")
        token = document.get("token") or document.get("access_token")
        return token if isinstance(token, str) and token else None

    def _check_realm(self, realm: str) -> None:
        """Credentials go to a token realm over HTTPS only (plain HTTP: loopback, --insecure)."""
        url = urllib.parse.urlsplit(realm)
        plain_ok = is_loopback(url.hostname or "") or self.insecure
        if url.scheme == "https" or (url.scheme == "http" and plain_ok):
            return
        raise RegistryError(
            f"{self.reference.registry}: refusing the token realm {realm!r} "
            "(credentials are sent to a realm only over HTTPS)",
            hint="the registry's Bearer challenge must name an https:// token service",
        )

    def _authenticate(self, client: httpx.Client, response: httpx.Response) -> bool:
        """Set an Authorization for the challenge in ``response``; False if there is none."""
        scheme, params = _challenge(response.headers.get("WWW-Authenticate", ""))
        if scheme == "bearer":
            token = self._token(client, params)
            self._authorization = f"Bearer {token}" if token else None
        elif scheme == "basic":
            basic = self._basic()
            self._authorization = f"Basic {basic}" if basic else None
        else:
            return False
        return self._authorization is not None

    def _send(
        self,
        client: httpx.Client,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        stream: bool = False,
    ) -> httpx.Response:
        def once() -> httpx.Response:
            sent = dict(headers or {})
            if self._authorization:
                sent["Authorization"] = self._authorization
            request = client.build_request(method, url, headers=sent, content=content)
            return client.send(request, stream=stream)

        try:
            response = once()
            if response.status_code == 401 and self._authenticate(client, response):
                response.close()
                response = once()
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc
        return response

    def _unreachable(self, exc: httpx.TransportError) -> RegistryError:
        if isinstance(exc.__context__, ssl.SSLError) or "SSL" in str(exc):
            return RegistryError(
                f"{self.reference.registry}: TLS failed ({type(exc).__name__})",
                hint="trust the registry's CA with --ca-file (--insecure only for plain HTTP)",
            )
        return RegistryError(
            f"{self.reference.registry}: registry unreachable ({type(exc).__name__})",
            hint="check the address and that the registry is running",
        )

    def _fail(self, what: str, response: httpx.Response) -> RegistryError:
        detail = ""
        try:
            body = self._read_limited(response, MAX_ERROR_BYTES, "error")
            errors = jsonio.loads_object(body, what="error").get("errors") or []
            if isinstance(errors, list) and errors and isinstance(errors[0], dict):
                detail = f": {errors[0].get('code', '')} {errors[0].get('message', '')}".rstrip()
        except (CharterError, httpx.HTTPError):
            pass  # the status alone is the report
        return RegistryError(
            f"{self.reference}: {what} failed with HTTP {response.status_code}{detail}"
        )

    def _read_limited(self, response: httpx.Response, limit: int, what: str) -> bytes:
        chunks: list[bytes] = []
        total = 0
        try:
            for chunk in response.iter_bytes(chunk_size=1 << 16):
                total += len(chunk)
                if total > limit:
                    raise RegistryError(
                        f"{self.reference}: the {what} is larger than {limit} bytes"
                    )
                chunks.append(chunk)
        except httpx.HTTPError as exc:
            raise RegistryError(
                f"{self.reference}: reading the {what} failed ({type(exc).__name__})"
            ) from exc
        finally:
            response.close()
        return b"".join(chunks)

    # ------------------------------------------------------------------ push
    def _upload_blob(self, client: httpx.Client, data: bytes, digest: str) -> None:
        head = self._send(client, "HEAD", self._url(f"blobs/{digest}"))
        if head.status_code == 200:
            return
        start = self._send(
            client,
            "POST",
            self._url("blobs/uploads/"),
            headers={"Content-Type": "application/octet-stream", "Content-Length": "0"},
        )
        if start.status_code not in (200, 201, 202):
            raise self._fail("starting a blob upload", start)
        location = start.headers.get("Location")
        if not location:
            raise RegistryError(f"{self.reference}: the registry gave no upload location")
        url = httpx.URL(urllib.parse.urljoin(str(start.url), location))
        url = url.copy_merge_params({"digest": digest})
        done = self._send(
            client,
            "PUT",
            str(url),
            headers={"Content-Type": "application/octet-stream"},
            content=data,
        )
        if done.status_code not in (200, 201, 202):
            raise self._fail("uploading a blob", done)

    def open(self) -> httpx.Client:
        """An HTTP session for several calls (close it, or use it in ``with``)."""
        return self._client()

    def upload_blob(self, client: httpx.Client, data: bytes) -> dict[str, Any]:
        """Upload ``data`` unless the registry has it; its descriptor (digest, size)."""
        digest = sha256_bytes(data)
        self._upload_blob(client, data, digest)
        return {"digest": digest, "size": len(data)}

    def put_manifest(self, client: httpx.Client, target: str, body: bytes, media_type: str) -> str:
        """PUT manifest ``body`` under ``target`` (a tag or its digest); its digest."""
        digest = sha256_bytes(body)
        put = self._send(
            client,
            "PUT",
            self._url(f"manifests/{target}"),
            headers={"Content-Type": media_type},
            content=body,
        )
        if put.status_code not in (200, 201, 202):
            raise self._fail(f"uploading the manifest {target}", put)
        echoed = put.headers.get("Docker-Content-Digest")
        if echoed and echoed != digest:
            raise RegistryError(
                f"{self.reference}: the registry stored manifest {echoed}, not the {digest} sent"
            )
        return digest

    def push(
        self,
        data: bytes,
        *,
        annotations: Mapping[str, str] | None = None,
        tags: Sequence[str] = (),
    ) -> PushResult:
        """Upload ``data`` (a signed bundle archive) once and tag it; return the digests.

        The blobs are uploaded once; the manifest is PUT once per tag (the
        reference's own tag first, then ``tags``), so ``1.0.1``, ``1.0`` and ``1``
        name the same digest.
        """
        all_tags = _push_tags(self.reference, tags)
        config, body = image_manifest(data, annotations)
        with self._client() as client:
            self.upload_blob(client, config)
            self.upload_blob(client, data)
            for tag in all_tags:
                manifest_digest = self.put_manifest(client, tag, body, MANIFEST_MEDIA_TYPE)
        return PushResult(
            self.reference, manifest_digest, sha256_bytes(data), len(data), tuple(all_tags)
        )

    def list_tags(self, client: httpx.Client, *, limit: int = 10_000) -> list[str]:
        """Every tag of the repository (following ``Link`` pages, at most ``limit``)."""
        url: str | None = self._url("tags/list?n=1000")
        found: list[str] = []
        while url is not None and len(found) < limit:
            response = self._send(client, "GET", url, stream=True)
            if response.status_code == 404:
                response.close()
                return []
            if response.status_code != 200:
                raise self._fail("listing tags", response)
            link = response.headers.get("Link", "")
            body = self._read_limited(response, MAX_MANIFEST_BYTES, "tag list")
            tags = jsonio.loads_object(body, what="tag list").get("tags") or []
            if not isinstance(tags, list):
                raise RegistryError(f"{self.reference}: the tag list is malformed")
            found += [t for t in tags if isinstance(t, str) and _TAG.match(t)]
            next_page = _LINK.search(link)
            url = urllib.parse.urljoin(str(response.url), next_page.group(1)) if next_page else None
        return found

    def get_manifest(
        self, client: httpx.Client, target: str, accept: Sequence[str]
    ) -> tuple[bytes, str] | None:
        """Manifest bytes at ``target`` and their digest (checked); None if absent."""
        response = self._send(
            client,
            "GET",
            self._url(f"manifests/{target}"),
            headers={"Accept": ", ".join(accept)},
            stream=True,
        )
        if response.status_code == 404:
            response.close()
            return None
        if response.status_code != 200:
            raise self._fail(f"fetching the manifest {target}", response)
        body = self._read_limited(response, MAX_MANIFEST_BYTES, "manifest")
        digest = sha256_bytes(body)
        if _DIGEST.match(target) and digest != target:
            raise VerificationError(
                f"{self.reference}: manifest digest mismatch: asked for {target}, received {digest}"
            )
        return body, digest

    def get_referrers(self, client: httpx.Client, digest: str) -> bytes | None:
        """The OCI 1.1 referrers index of ``digest``; None if the registry has no such API."""
        response = self._send(
            client,
            "GET",
            self._url(f"referrers/{digest}"),
            headers={"Accept": "application/vnd.oci.image.index.v1+json"},
            stream=True,
        )
        if response.status_code in (400, 404, 405):
            response.close()
            return None
        if response.status_code != 200:
            raise self._fail(f"listing the referrers of {digest}", response)
        return self._read_limited(response, MAX_MANIFEST_BYTES, "referrers index")

    def get_blob(self, client: httpx.Client, descriptor: Mapping[str, Any], cap: int) -> bytes:
        """The blob a descriptor names, checked against its digest and size."""
        digest, size = descriptor.get("digest"), descriptor.get("size")
        if not isinstance(digest, str) or not _DIGEST.match(digest):
            raise RegistryError(f"{self.reference}: a descriptor digest {digest!r} is not sha256")
        if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= cap:
            raise RegistryError(f"{self.reference}: blob {digest} size {size!r} is not allowed")
        response = self._send(client, "GET", self._url(f"blobs/{digest}"), stream=True)
        if response.status_code != 200:
            raise self._fail(f"fetching blob {digest}", response)
        data = self._read_limited(response, cap, "blob")
        if len(data) != size or sha256_bytes(data) != digest:
            raise VerificationError(
                f"{self.reference}: blob digest mismatch for {digest}",
                hint="the registry served tampered or corrupt content",
            )
        return data

    # ------------------------------------------------------------------ pull
    def _fetch_manifest(self, client: httpx.Client) -> tuple[bytes, str]:
        ref = self.reference
        response = self._send(
            client,
            "GET",
            self._url(f"manifests/{ref.target}"),
            headers={"Accept": MANIFEST_MEDIA_TYPE},
            stream=True,
        )
        if response.status_code == 404:
            response.close()
            raise RegistryError(f"{ref}: no such manifest in the registry")
        if response.status_code != 200:
            raise self._fail("fetching the manifest", response)
        body = self._read_limited(response, MAX_MANIFEST_BYTES, "manifest")
        digest = sha256_bytes(body)
        if ref.digest is not None and digest != ref.digest:
            raise VerificationError(
                f"{ref}: manifest digest mismatch: pinned {ref.digest}, received {digest}",
                hint="the registry served different content than the reference pins",
            )
        echoed = response.headers.get("Docker-Content-Digest")
        if echoed and echoed.startswith("sha256:") and echoed != digest:
            raise VerificationError(
                f"{ref}: manifest digest mismatch: registry says {echoed}, received {digest}"
            )
        return body, digest

    def fetch_manifest(self) -> tuple[bytes, str]:
        """The manifest bytes and their digest, checked against any pinned digest."""
        with self._client() as client:
            return self._fetch_manifest(client)

    def pull(self, *, limits: ArchiveLimits | None = None) -> PulledBundle:
        """Fetch and digest-check the bundle; nothing in it is parsed here."""
        ref = self.reference
        cap = (limits or ArchiveLimits()).max_archive_bytes
        with self._client() as client:
            body, manifest_digest = self._fetch_manifest(client)
            try:
                manifest = jsonio.loads(body, what="manifest")
            except InputError as exc:
                raise RegistryError(f"{ref}: the manifest is not JSON ({exc.message})") from None
            layer = _bundle_layer(manifest, str(ref))
            config_desc = manifest.get("config")
            config_type = config_desc.get("mediaType") if isinstance(config_desc, dict) else None
            if config_type not in ACCEPTED_CONFIG_TYPES:
                raise RegistryError(
                    f"{ref}: config media type {config_type!r} is not a bundle config",
                    hint=f"Charter pushes {CONFIG_MEDIA_TYPE}",
                )
            blob_digest, size = layer["digest"], layer["size"]
            if size > cap:
                raise RegistryError(f"{ref}: the bundle layer is larger than {cap} bytes")
            response = self._send(client, "GET", self._url(f"blobs/{blob_digest}"), stream=True)
            if response.status_code != 200:
                raise self._fail(f"fetching blob {blob_digest}", response)
            data = self._read_limited(response, cap, "bundle layer")
            actual = sha256_bytes(data)
            if len(data) != size or actual != blob_digest:
                raise VerificationError(
                    f"{ref}: blob digest mismatch: manifest says {blob_digest} ({size} bytes), "
                    f"received {actual} ({len(data)} bytes)",
                    hint="the registry served tampered or corrupt content",
                )
            config: dict[str, Any] = {}
            if config_type == CONFIG_MEDIA_TYPE and isinstance(config_desc, dict):
                config = self._config(client, config_desc)
        return PulledBundle(data, ref, manifest_digest, blob_digest, config)

    def _config(self, client: httpx.Client, descriptor: Mapping[str, Any]) -> dict[str, Any]:
        digest = descriptor.get("digest")
        if not isinstance(digest, str) or not _DIGEST.match(digest):
            return {}
        response = self._send(client, "GET", self._url(f"blobs/{digest}"), stream=True)
        if response.status_code != 200:
            response.close()
            return {}
        data = self._read_limited(response, 64 * 1024, "config")
        if sha256_bytes(data) != digest:
            raise VerificationError(f"{self.reference}: config blob digest mismatch")
        try:
            return jsonio.loads_object(data, what="config")
        except InputError:
            return {}  # informational only (see bundle_metadata)


def image_manifest(
    data: bytes, annotations: Mapping[str, str] | None = None
) -> tuple[bytes, bytes]:
    """The config blob and the image manifest that carry bundle ``data`` (exact bytes).

    Both are canonical JSON (sorted keys, UTF-8): for ASCII names and
    annotations these are the bytes Charter always pushed, so a re-pushed
    bundle keeps its manifest digest.
    """
    meta = bundle_metadata(data)
    config = jsonio.canonical_bytes({"charter": meta})
    notes = {
        "org.opencontainers.image.title": f"{meta['name']}-{meta['version']}.tar.gz",
        "org.opencontainers.image.version": str(meta["version"]),
        "dev.charter.layer": str(meta["layer"]),
    }
    notes.update(annotations or {})
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": {
            "mediaType": CONFIG_MEDIA_TYPE,
            "digest": sha256_bytes(config),
            "size": len(config),
        },
        "layers": [
            {
                "mediaType": LAYER_MEDIA_TYPE,
                "digest": sha256_bytes(data),
                "size": len(data),
                "annotations": {"org.opencontainers.image.title": "bundle.tar.gz"},
            }
        ],
        "annotations": notes,
    }
    return config, jsonio.canonical_bytes(manifest)


def _bundle_layer(manifest: Any, where: str) -> dict[str, Any]:
    if not isinstance(manifest, dict) or manifest.get("schemaVersion") != 2:
        raise RegistryError(f"{where}: not an OCI image manifest (schemaVersion 2)")
    media = manifest.get("mediaType")
    if media not in (None, MANIFEST_MEDIA_TYPE):
        raise RegistryError(
            f"{where}: manifest media type {media!r} is not {MANIFEST_MEDIA_TYPE}",
            hint="an image index or Docker manifest is not a Charter bundle",
        )
    layers = manifest.get("layers")
    if not isinstance(layers, list):
        raise RegistryError(f"{where}: the manifest has no layers list")
    bundles = [x for x in layers if isinstance(x, dict) and x.get("mediaType") == LAYER_MEDIA_TYPE]
    if len(bundles) != 1:
        raise RegistryError(
            f"{where}: expected exactly one {LAYER_MEDIA_TYPE} layer, found {len(bundles)}"
        )
    layer = bundles[0]
    digest, size = layer.get("digest"), layer.get("size")
    if not isinstance(digest, str) or not _DIGEST.match(digest):
        raise RegistryError(f"{where}: the bundle layer digest {digest!r} is not sha256")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise RegistryError(f"{where}: the bundle layer size {size!r} is invalid")
    return layer


def bundle_metadata(data: bytes) -> dict[str, str]:
    """Layer, name and version from an archive's ``.manifest`` (for the OCI config).

    This is informational only: pulled bundles are verified by signature, never
    by what the config says.
    """
    files = read_archive(data, source="<bundle to push>")
    if MANIFEST not in files:
        raise RegistryError("the file to push is not a bundle: it has no .manifest")
    m = parse_manifest(files[MANIFEST], ".manifest")
    return {"layer": m.layer, "name": m.name, "version": m.version}


def push_bundle(
    data: bytes,
    reference: str | Reference,
    *,
    insecure: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
    tags: Sequence[str] = (),
    connection: Connection | None = None,
) -> PushResult:
    ref = reference if isinstance(reference, Reference) else Reference.parse(reference)
    client = OciClient(ref, insecure=insecure, timeout=timeout, connection=connection)
    return client.push(data, tags=tags)


def pull_bundle(
    reference: str | Reference,
    *,
    insecure: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
    limits: ArchiveLimits | None = None,
    connection: Connection | None = None,
) -> PulledBundle:
    ref = reference if isinstance(reference, Reference) else Reference.parse(reference)
    try:
        client = OciClient(ref, insecure=insecure, timeout=timeout, connection=connection)
        return client.pull(limits=limits)
    except CharterError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise RegistryError(f"{ref}: unexpected registry answer ({exc})") from exc


def registry_url(reference: Reference, *, insecure: bool = False) -> str:
    scheme = "http" if reference.is_loopback or insecure else "https"
    return urllib.parse.urlunsplit((scheme, reference.registry, "/v2/", "", ""))
