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

The HTTP plumbing and registry authentication come from ``oras``; Charter does
not use its ``pull`` (it unpacks this media type and checks no digests) nor its
retrying request wrapper (a registry that is down must fail fast).

Plain HTTP is used only for loopback registries or with ``insecure=True``.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import oras.auth
import oras.container
import oras.provider
import oras.utils
import requests

from charter.core import jsonio
from charter.core.errors import CharterError, InputError, RegistryError, VerificationError
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


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


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
        host = self.host
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False

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

    def to_dict(self) -> dict[str, Any]:
        return {
            "reference": str(self.reference.with_digest(self.manifest_digest)),
            "manifest_digest": self.manifest_digest,
            "blob_digest": self.blob_digest,
            "size": self.size,
        }


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


class _Registry(oras.provider.Registry):  # type: ignore[misc]
    """oras' registry client without its multi-minute retry loop, with timeouts."""

    def __init__(self, hostname: str, *, insecure: bool, timeout: float) -> None:
        super().__init__(hostname=hostname, insecure=insecure)
        self.timeout = timeout

    def do_request(
        self,
        url: str,
        method: str = "GET",
        data: dict[str, Any] | bytes | None = None,
        headers: dict[str, str] | None = None,
        json: dict[str, Any] | None = None,
        stream: bool = False,
    ) -> requests.Response:
        headers = dict(headers or {})
        if isinstance(self.auth, oras.auth.TokenAuth) and self.auth.token is not None:
            headers.update(self.auth.get_auth_header())

        def send() -> requests.Response:
            answer: requests.Response = self.session.request(
                method,
                url,
                data=data,
                json=json,
                headers=headers,
                stream=stream,
                verify=self._tls_verify,
                timeout=self.timeout,
                allow_redirects=True,
            )
            return answer

        response = send()
        if response.status_code in (401, 403):
            headers, changed = self.auth.authenticate_request(response, headers)
            if changed:
                response = send()
        return response


class OciClient:
    """Push and pull Charter bundles to one registry."""

    def __init__(
        self,
        reference: Reference,
        *,
        insecure: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.reference = reference
        self.insecure = insecure
        plain = reference.is_loopback or insecure
        self.scheme = "http" if plain else "https"
        self._registry = _Registry(reference.registry, insecure=plain, timeout=timeout)
        name = f"{reference.registry}/{reference.repository}"
        self._container = oras.container.Container(name, registry=reference.registry)

    def _url(self, path: str) -> str:
        return f"{self.scheme}://{path}"

    def _request(self, url: str, method: str = "GET", **kwargs: Any) -> requests.Response:
        try:
            self._registry.auth.load_configs(self._container)
        except Exception:  # noqa: BLE001, S110 - no credentials configured is fine
            pass
        try:
            return self._registry.do_request(url, method, **kwargs)
        except requests.exceptions.SSLError as exc:
            raise RegistryError(
                f"{self.reference.registry}: TLS failed ({exc.__class__.__name__})",
                hint="use --insecure only for a plain-HTTP registry you control",
            ) from exc
        except requests.exceptions.RequestException as exc:
            raise RegistryError(
                f"{self.reference.registry}: registry unreachable ({type(exc).__name__})",
                hint="check the address and that the registry is running",
            ) from exc
        except (ValueError, oras.auth.AuthenticationException) as exc:
            raise RegistryError(f"{self.reference.registry}: {exc}") from exc

    def _fail(self, what: str, response: requests.Response) -> RegistryError:
        detail = ""
        try:
            errors = response.json().get("errors") or []
            if errors and isinstance(errors[0], dict):
                detail = f": {errors[0].get('code', '')} {errors[0].get('message', '')}".rstrip()
        except ValueError:
            pass
        return RegistryError(
            f"{self.reference}: {what} failed with HTTP {response.status_code}{detail}"
        )

    # ------------------------------------------------------------------ push
    def _upload_blob(self, data: bytes, digest: str) -> None:
        head = self._request(self._url(self._container.get_blob_url(digest)), "HEAD")
        if head.status_code == 200:
            return
        start = self._request(
            self._url(self._container.upload_blob_url()),
            "POST",
            headers={"Content-Type": "application/octet-stream"},
        )
        if start.status_code not in (200, 201, 202):
            raise self._fail("starting a blob upload", start)
        location = self._registry._get_location(start, self._container)
        if not location:
            raise RegistryError(f"{self.reference}: the registry gave no upload location")
        url = oras.utils.append_url_params(location, {"digest": digest})
        done = self._request(
            url,
            "PUT",
            data=data,
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(len(data))},
        )
        if done.status_code not in (200, 201, 202):
            raise self._fail("uploading a blob", done)

    def push(self, data: bytes, *, annotations: Mapping[str, str] | None = None) -> PushResult:
        """Upload ``data`` (a signed bundle archive) and tag it; return the digests."""
        if self.reference.digest is not None and self.reference.tag is None:
            raise RegistryError(
                f"{self.reference}: push needs a tag, not only a digest",
                hint="push to oci://HOST/REPO:TAG; the digest is printed afterwards",
            )
        meta = bundle_metadata(data)
        # Canonical JSON (UTF-8, not \u-escaped): for ASCII names these are the
        # bytes Charter always pushed, so the digests of re-pushed bundles hold.
        config = jsonio.canonical_bytes({"charter": meta})
        blob_digest = sha256_digest(data)
        config_digest = sha256_digest(config)
        self._upload_blob(config, config_digest)
        self._upload_blob(data, blob_digest)
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
                "digest": config_digest,
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": LAYER_MEDIA_TYPE,
                    "digest": blob_digest,
                    "size": len(data),
                    "annotations": {"org.opencontainers.image.title": "bundle.tar.gz"},
                }
            ],
            "annotations": notes,
        }
        body = jsonio.canonical_bytes(manifest)
        manifest_digest = sha256_digest(body)
        tag = self.reference.tag or "latest"
        put = self._request(
            self._url(self._container.manifest_url(tag)),
            "PUT",
            data=body,
            headers={"Content-Type": MANIFEST_MEDIA_TYPE},
        )
        if put.status_code not in (200, 201, 202):
            raise self._fail("uploading the manifest", put)
        echoed = put.headers.get("Docker-Content-Digest")
        if echoed and echoed != manifest_digest:
            raise RegistryError(
                f"{self.reference}: the registry stored manifest {echoed}, "
                f"not the {manifest_digest} sent"
            )
        return PushResult(self.reference, manifest_digest, blob_digest, len(data))

    # ------------------------------------------------------------------ pull
    def _read_limited(self, response: requests.Response, limit: int, what: str) -> bytes:
        chunks: list[bytes] = []
        total = 0
        try:
            for chunk in response.iter_content(chunk_size=1 << 16):
                total += len(chunk)
                if total > limit:
                    raise RegistryError(
                        f"{self.reference}: the {what} is larger than {limit} bytes"
                    )
                chunks.append(chunk)
        except requests.exceptions.RequestException as exc:
            raise RegistryError(f"{self.reference}: reading the {what} failed ({exc})") from exc
        finally:
            response.close()
        return b"".join(chunks)

    def fetch_manifest(self) -> tuple[bytes, str]:
        """The manifest bytes and their digest, checked against any pinned digest."""
        ref = self.reference
        response = self._request(
            self._url(self._container.manifest_url(ref.target)),
            "GET",
            headers={"Accept": MANIFEST_MEDIA_TYPE},
            stream=True,
        )
        if response.status_code == 404:
            response.close()
            raise RegistryError(f"{ref}: no such manifest in the registry")
        if response.status_code != 200:
            response.close()
            raise self._fail("fetching the manifest", response)
        body = self._read_limited(response, MAX_MANIFEST_BYTES, "manifest")
        digest = sha256_digest(body)
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

    def pull(self, *, limits: ArchiveLimits | None = None) -> PulledBundle:
        """Fetch and digest-check the bundle; nothing in it is parsed here."""
        ref = self.reference
        cap = (limits or ArchiveLimits()).max_archive_bytes
        body, manifest_digest = self.fetch_manifest()
        try:
            manifest = jsonio.loads(body, what="manifest")
        except InputError as exc:
            raise RegistryError(f"{ref}: the manifest is not JSON ({exc.message})") from None
        layer = _bundle_layer(manifest, str(ref))
        config_desc = manifest.get("config") if isinstance(manifest, dict) else None
        config_type = config_desc.get("mediaType") if isinstance(config_desc, dict) else None
        if config_type not in ACCEPTED_CONFIG_TYPES:
            raise RegistryError(
                f"{ref}: config media type {config_type!r} is not a bundle config",
                hint=f"Charter pushes {CONFIG_MEDIA_TYPE}",
            )
        blob_digest, size = layer["digest"], layer["size"]
        if size > cap:
            raise RegistryError(f"{ref}: the bundle layer is larger than {cap} bytes")
        response = self._request(
            self._url(self._container.get_blob_url(blob_digest)), "GET", stream=True
        )
        if response.status_code != 200:
            response.close()
            raise self._fail(f"fetching blob {blob_digest}", response)
        data = self._read_limited(response, cap, "bundle layer")
        actual = sha256_digest(data)
        if len(data) != size or actual != blob_digest:
            raise VerificationError(
                f"{ref}: blob digest mismatch: manifest says {blob_digest} ({size} bytes), "
                f"received {actual} ({len(data)} bytes)",
                hint="the registry served tampered or corrupt content",
            )
        config: dict[str, Any] = {}
        if config_type == CONFIG_MEDIA_TYPE and isinstance(config_desc, dict):
            config = self._config(config_desc)
        return PulledBundle(data, ref, manifest_digest, blob_digest, config)

    def _config(self, descriptor: Mapping[str, Any]) -> dict[str, Any]:
        digest = descriptor.get("digest")
        if not isinstance(digest, str) or not _DIGEST.match(digest):
            return {}
        response = self._request(
            self._url(self._container.get_blob_url(digest)), "GET", stream=True
        )
        if response.status_code != 200:
            response.close()
            return {}
        data = self._read_limited(response, 64 * 1024, "config")
        if sha256_digest(data) != digest:
            raise VerificationError(f"{self.reference}: config blob digest mismatch")
        try:
            return jsonio.loads_object(data, what="config")
        except InputError:
            return {}  # informational only (see bundle_metadata)


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
) -> PushResult:
    ref = reference if isinstance(reference, Reference) else Reference.parse(reference)
    return OciClient(ref, insecure=insecure, timeout=timeout).push(data)


def pull_bundle(
    reference: str | Reference,
    *,
    insecure: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
    limits: ArchiveLimits | None = None,
) -> PulledBundle:
    ref = reference if isinstance(reference, Reference) else Reference.parse(reference)
    try:
        return OciClient(ref, insecure=insecure, timeout=timeout).pull(limits=limits)
    except CharterError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise RegistryError(f"{ref}: unexpected registry answer ({exc})") from exc


def registry_url(reference: Reference, *, insecure: bool = False) -> str:
    scheme = "http" if reference.is_loopback or insecure else "https"
    return urllib.parse.urlunsplit((scheme, reference.registry, "/v2/", "", ""))
