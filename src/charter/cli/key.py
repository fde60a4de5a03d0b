"""``charter key``: generate signing keys and show key ids."""

from __future__ import annotations

from pathlib import Path

import typer

from charter.cli._app import FORMAT_OPTION, OutputFormat, app
from charter.core.errors import InputError
from charter.render import json as render_json
from charter.render import text as render_text
from charter.trust import keys

key_app = typer.Typer(help="Generate and inspect signing keys.", no_args_is_help=True)
app.add_typer(key_app, name="key")


@key_app.command("generate")
def generate(
    out: Path = typer.Option(..., "--out", help="directory for signing.key and signing.pub"),
    kind: str = typer.Option("ed25519", "--type", help="ed25519 (default) or p256 (cosign)"),
    passphrase_env: str | None = typer.Option(
        None,
        "--passphrase-env",
        help="encrypt the private key with the passphrase in this variable",
    ),
    force: bool = typer.Option(False, "--force", help="overwrite an existing key pair"),
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Write DIR/signing.key (PKCS#8, mode 0600) and DIR/signing.pub (SPKI)."""
    if kind not in ("ed25519", "p256"):
        raise InputError(f"--type {kind!r} is not a key type", hint="use ed25519 or p256")
    key_type: keys.KeyType = "p256" if kind == "p256" else "ed25519"
    passphrase = keys.passphrase_from_env(passphrase_env)
    made = keys.generate_to_dir(out, key_type, passphrase, overwrite=force)
    if fmt is OutputFormat.json:
        render_json.show(
            {
                "private_key": str(made.private_path),
                "public_key": str(made.public_path),
                "key_id": made.key_id,
                "type": made.kind,
                "encrypted": passphrase is not None,
            }
        )
        return
    render_text.show(
        f"Private key: {made.private_path} (mode 0600)",
        f"Public key:  {made.public_path}",
        f"Key id:      {made.key_id} ({made.kind})",
    )


@key_app.command("id")
def key_id(public: Path = typer.Argument(..., metavar="PUB")) -> None:
    """Print the key id (sha256 of the SPKI DER) of a public key, e.g. cosign.pub."""
    render_text.show(keys.key_id(keys.load_public(public)))
