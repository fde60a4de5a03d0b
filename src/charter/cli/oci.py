"""``charter bundle push`` / ``bundle pull``: OCI distribution of signed bundles.

Push uploads the bundle once under several tags and can sign it in the
registry in cosign's layout (``--sign-key``: a ``sha256-<hex>.sig`` tag;
``--sigstore-bundle``: a keyless Sigstore bundle as an OCI referrer). Pull
follows a tag, a channel (``--tag 1.0``) or a version range (``--version``),
verifies with pinned keys or keyless identities, and refuses a version older
than the one this machine accepted.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import typer

from charter.cli._app import FORMAT_OPTION, OutputFormat
from charter.cli.bundle import PASSPHRASE_OPTION, bundle_app
from charter.core.errors import InputError
from charter.policy.bundle import files_digest, read_tarball_file
from charter.registry import channels, cosign, install, oci
from charter.render import json as render_json
from charter.render import text as render_text
from charter.trust import keyless, keys
from charter.trust.policy import LAYER_KINDS, LayerTrust, load_policy
from charter.trust.versions import VersionState, layer_key

INSECURE_OPTION = typer.Option(
    False, "--insecure", help="allow plain HTTP to a registry that is not on loopback"
)
USERNAME_OPTION = typer.Option(
    None, "--username", "-u", help="registry user (else the saved docker/podman login)"
)
PASSWORD_STDIN_OPTION = typer.Option(
    False, "--password-stdin", help="read the registry password or token from standard input"
)
CA_FILE_OPTION = typer.Option(
    None, "--ca-file", help="PEM CA certificates that sign the registry's TLS certificate"
)


def connection(
    username: str | None, password_stdin: bool, ca_file: Path | None, insecure: bool
) -> oci.Connection:
    """The registry connection the auth and TLS flags describe."""
    password: str | None = None
    if password_stdin:
        if username is None:
            raise InputError("--password-stdin needs --username")
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise InputError("--password-stdin: standard input held no password")
    elif username is not None:
        raise InputError(
            "--username needs --password-stdin",
            hint='echo "$TOKEN" | charter bundle push … --username USER --password-stdin',
        )
    if ca_file is not None and not ca_file.is_file():
        raise InputError(f"--ca-file {ca_file}: no such file")
    return oci.Connection(username, password, ca_file, insecure)


def _explicit_tag(reference: str) -> bool:
    return ":" in reference.strip()[len(oci.SCHEME) :].split("/", 1)[-1].rsplit("/", 1)[-1]


@bundle_app.command("push")
def push(
    bundle_file: Path = typer.Argument(..., metavar="FILE"),
    reference: str = typer.Argument(..., metavar="oci://HOST[:PORT]/REPO[:TAG]"),
    tag: list[str] | None = typer.Option(
        None, "--tag", "-t", help="also tag it (repeatable: --tag 1.0.1 --tag 1.0 --tag 1)"
    ),
    sign_key: Path | None = typer.Option(
        None, "--sign-key", help="sign it in the registry as cosign does (sha256-….sig tag)"
    ),
    passphrase_env: str | None = PASSPHRASE_OPTION,
    sigstore_bundle: Path | None = typer.Option(
        None, "--sigstore-bundle", help="attach this Sigstore bundle (keyless) as a referrer"
    ),
    username: str | None = USERNAME_OPTION,
    password_stdin: bool = PASSWORD_STDIN_OPTION,
    ca_file: Path | None = CA_FILE_OPTION,
    insecure: bool = INSECURE_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Push a signed bundle once under every tag; print the manifest digest."""
    data = read_tarball_file(bundle_file)
    private = (
        keys.load_private(sign_key, keys.passphrase_from_env(passphrase_env)) if sign_key else None
    )
    attached = sigstore_bundle.read_bytes() if sigstore_bundle else None
    conn = connection(username, password_stdin, ca_file, insecure)
    ref = oci.Reference.parse(reference)
    if tag and ref.digest is None and not _explicit_tag(reference):
        ref = oci.Reference(ref.registry, ref.repository, tag[0])  # not an implicit "latest"
    result = oci.push_bundle(data, ref, tags=tag or (), connection=conn)
    client = oci.OciClient(result.reference, connection=conn)
    document = result.to_dict()
    if private is not None:
        sig_tag, _ = cosign.sign_manifest(client, result.manifest_digest, private)
        document["signature_tag"] = sig_tag
    if attached is not None:
        document["sigstore_referrer"] = cosign.attach_sigstore_bundle(
            client, result.manifest_digest, attached
        )
    if fmt is OutputFormat.json:
        render_json.show(document)
        return
    lines = [
        f"Pushed {bundle_file} to {result.reference.registry}/{result.reference.repository}",
        f"Tags: {', '.join(result.tags)}",
        f"Digest: {result.manifest_digest}",
        f"Pinned: {result.reference.with_digest(result.manifest_digest)}",
    ]
    if "signature_tag" in document:
        lines.append(f"Signature: {document['signature_tag']} (cosign layout)")
    if "sigstore_referrer" in document:
        lines.append(f"Sigstore bundle: referrer {document['sigstore_referrer']}")
    render_text.show(*lines)


def _target(
    reference: str, tag: str | None, version: str | None, conn: oci.Connection
) -> oci.Reference:
    ref = oci.Reference.parse(reference)
    if tag is not None and version is not None:
        raise InputError("--tag and --version are exclusive", hint="a channel tag or a range")
    if tag is not None:
        if ref.digest is not None:
            raise InputError("--tag cannot move a reference pinned by digest")
        ref = oci.Reference.parse(f"{oci.SCHEME}{ref.registry}/{ref.repository}:{tag}")
    if version is not None:
        if ref.digest is not None:
            raise InputError("--version cannot move a reference pinned by digest")
        ref = channels.resolve_range(ref, version, connection=conn)
    return ref


def _trust(
    layer: str,
    key: list[Path] | None,
    identity: str | None,
    issuer: str | None,
    trusted_root: str | None,
    policy: Path | None = None,
) -> LayerTrust | None:
    if layer not in LAYER_KINDS:
        raise InputError(f"--layer {layer!r} is not a layer", hint=", ".join(LAYER_KINDS))
    if policy is not None:
        if key or identity or issuer or trusted_root:
            raise InputError(
                "--trust names the signers: give no --key, --certificate-* or "
                "--trusted-root with it",
                hint=f"pin them in the policy's [layers.{layer}] table",
            )
        return load_policy(policy).for_layer(layer)
    if (identity is None) != (issuer is None):
        raise InputError(
            "--certificate-identity and --certificate-oidc-issuer go together",
            hint="pin both the signer (certificate SAN) and its OIDC issuer",
        )
    identities = (keyless.KeylessIdentity(identity, issuer),) if identity and issuer else ()
    if not key and not identities:
        return None
    root: Path | None = None
    if identities:
        name = trusted_root or "production"
        root = (
            keyless.bundled_trusted_root(name) if name in ("production", "staging") else Path(name)
        )
    return LayerTrust(layer, tuple(keys.load_public(k) for k in key or ()), identities, root)


@bundle_app.command("pull")
def pull(
    reference: str = typer.Argument(..., metavar="oci://HOST[:PORT]/REPO[:TAG][@sha256:…]"),
    output: Path = typer.Option(..., "-o", "--output", help="the .tar.gz to write"),
    tag: str | None = typer.Option(None, "--tag", help="follow this tag or channel (e.g. 1.0)"),
    version: str | None = typer.Option(
        None, "--version", help="newest version tag in this range (1, ~1.2, >=1.2.0,<2)"
    ),
    key: list[Path] | None = typer.Option(
        None, "--key", help="trusted public key (embedded or cosign signature; repeatable)"
    ),
    identity: str | None = typer.Option(
        None, "--certificate-identity", help="keyless signer to trust (certificate SAN)"
    ),
    issuer: str | None = typer.Option(
        None, "--certificate-oidc-issuer", help="OIDC issuer of the keyless signer"
    ),
    trusted_root: str | None = typer.Option(
        None, "--trusted-root", help="Sigstore trusted root: production, staging or a file"
    ),
    trust_policy: Path | None = typer.Option(
        None,
        "--trust",
        help="verify with the signers (and version pin) this trust policy gives --layer, as "
        "the runner does; write nothing unless the archive re-verifies as the runner will",
    ),
    layer: str = typer.Option("constitution", "--layer", help="the layer to verify it as"),
    state_dir: Path | None = typer.Option(
        None, "--state-dir", help="accepted versions to refuse rollback against"
    ),
    username: str | None = USERNAME_OPTION,
    password_stdin: bool = PASSWORD_STDIN_OPTION,
    ca_file: Path | None = CA_FILE_OPTION,
    insecure: bool = INSECURE_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Pull a bundle, check digests and (with signers) signatures, write the archive."""
    conn = connection(username, password_stdin, ca_file, insecure)
    trust = _trust(layer, key, identity, issuer, trusted_root, trust_policy)
    ref = _target(reference, tag, version, conn)
    if trust_policy is not None and trust is not None:
        _install(ref, trust, output, conn, state_dir, fmt)
        return
    pulled = oci.pull_bundle(ref, connection=conn)
    signer = None
    if trust is not None:
        found = cosign.fetch_signatures(ref, pulled.manifest_digest, connection=conn)
        verified = cosign.verify_pulled(pulled, found, trust)
        m = verified.manifest
        # Never hand out a version older than the one this machine accepted.
        VersionState(state_dir).check(
            layer_key(m.layer, m.name), m.version, files_digest(verified.files)
        )
        signer = verified.signer
    output.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.", suffix=".tmp")
    with os.fdopen(fd, "wb") as handle:
        handle.write(pulled.data)
    os.replace(tmp, output)
    document = pulled.to_dict() | {"output": str(output), "signer": signer}
    if fmt is OutputFormat.json:
        render_json.show(document)
        return
    lines = [
        f"Pulled {pulled.resolved} to {output}",
        f"Digest: {pulled.manifest_digest}",
        f"Blob: {pulled.blob_digest} ({len(pulled.data)} bytes, digest checked)",
    ]
    if signer:
        lines.append(f"Signed by: {signer}")
    render_text.show(*lines)


def _install(
    ref: oci.Reference,
    trust: LayerTrust,
    output: Path,
    conn: oci.Connection,
    state_dir: Path | None,
    fmt: OutputFormat,
) -> None:
    """``pull --trust``: verify before writing anything (the init container)."""
    done = install.install(ref, trust, output, connection=conn, state=VersionState(state_dir))
    m = done.checked.verified.manifest
    document = done.pulled.to_dict() | {
        "output": str(done.output),
        "signature": str(done.sidecar) if done.sidecar else None,
        "signer": done.signer,
        "layer": m.layer,
        "name": m.name,
        "version": m.version,
    }
    if fmt is OutputFormat.json:
        render_json.show(document)
        return
    lines = [
        f"Verified {m.layer} {m.name} {m.version} from {done.pulled.resolved}",
        f"Signed by: {done.signer}",
        f"Wrote: {done.output}" + (f" and {done.sidecar}" if done.sidecar else ""),
    ]
    render_text.show(*lines)
