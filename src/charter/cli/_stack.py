"""Options shared by the commands that load a stack.

Layers come from bundle directories (unsigned, for authoring) or, when a trust
policy is given (``--trust POLICY.toml`` or ``$CHARTER_TRUST_POLICY``), from
signed ``.tar.gz`` bundles verified before anything in them is parsed.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import typer

from charter.core.decision import WaiverHook
from charter.core.errors import TrustError, VerificationError
from charter.facts.at_base import BaseView
from charter.policy.loading import SIDE_COSIGN, SIDE_SIGSTORE, load_trusted_stack
from charter.policy.stack import Stack
from charter.policy.waivers import WaiverSet, parse_trust
from charter.trust.policy import TrustPolicy, load_policy, referenced_files
from charter.trust.versions import VersionState

TRUST_ENV = "CHARTER_TRUST_POLICY"

OVERLAY_OPTION = typer.Option(
    None, "--overlay", help="overlay bundle directory, or signed .tar.gz with --trust"
)
PACK_OPTION = typer.Option(
    None, "--pack", help="pack bundle directory or signed .tar.gz (repeatable)"
)
CONSTITUTION_OPTION = typer.Option(
    None,
    "--constitution-bundle",
    help="constitution bundle directory or signed .tar.gz (default: the shipped one)",
)
TRUST_OPTION = typer.Option(
    None,
    "--trust",
    help=f"trust policy TOML: the signers of each layer and of [evidence] (default ${TRUST_ENV})",
)
ALLOW_MAJOR_OPTION = typer.Option(
    False, "--allow-major", help="accept a new major version of a signed layer"
)
STATE_DIR_OPTION = typer.Option(
    None,
    "--state-dir",
    help="accepted-version state (default $CHARTER_STATE_DIR, ~/.charter/state)",
)


def trust_policy_path(trust: Path | None) -> Path | None:
    """The trust policy of ``--trust``, else ``$CHARTER_TRUST_POLICY``, else none."""
    if trust is not None:
        return trust
    from_env = os.environ.get(TRUST_ENV)
    return Path(from_env) if from_env else None


def trust_policy(trust: Path | None) -> TrustPolicy | None:
    """The trust policy :func:`trust_policy_path` names, loaded once per command."""
    path = trust_policy_path(trust)
    return load_policy(path) if path is not None else None


def trust_policy_at(trust: Path | None, view: BaseView) -> TrustPolicy | None:
    """:func:`trust_policy` as of the change's base when the change touches the policy
    file or a key file it names (docs/design.md, 'Configuration read at the base')."""
    path = trust_policy_path(trust)
    if path is None:
        return None
    chosen = view.path(path, "trust policy", reaches=referenced_files(path))
    if chosen == path:
        return load_policy(path)
    view.copy_named(referenced_files(chosen), "trust policy")
    policy = load_policy(chosen)
    state = policy.state_dir
    if state is not None and state.is_relative_to(chosen.parent):
        # The base's accepted-version record, where the base says, not in the private copy.
        policy = replace(policy, state_dir=path.parent / state.relative_to(chosen.parent))
    return policy


#: Files read with a signed bundle: its signature.
_SIDECARS = (*SIDE_SIGSTORE, SIDE_COSIGN)


def layers_at(
    view: BaseView, constitution: Path | None, packs: list[Path] | None, overlay: Path | None
) -> tuple[Path | None, list[Path], Path | None]:
    """The bundles to load, each as of the change's base when the change touches it."""

    def at(path: Path, what: str) -> Path:
        return view.path(path, what, companions=_SIDECARS)

    return (
        at(constitution, "constitution bundle") if constitution is not None else None,
        [at(pack, "pack bundle") for pack in packs or []],
        at(overlay, "overlay bundle") if overlay is not None else None,
    )


def waivers_at(
    view: BaseView, waivers_dir: Path | None, waiver_keys: list[str] | None
) -> tuple[Path | None, list[str]]:
    """The waiver folder and ``LAYER=PUB`` keys as of the change's base when it touches
    them; a waiver folder the change adds counts as none."""
    folder = view.optional_path(waivers_dir, "waiver folder") if waivers_dir else None
    keys = []
    for item in waiver_keys or []:
        layer, eq, path = item.partition("=")
        keys.append(f"{layer}={view.path(Path(path), 'waiver key')}" if eq and path else item)
    return folder, keys


def stack_from_options(
    constitution: Path | None,
    packs: list[Path] | None,
    overlay: Path | None,
    policy: TrustPolicy | None = None,
    *,
    allow_major: bool = False,
    state_dir: Path | None = None,
    record: bool = True,
) -> Stack:
    """Load the stack the options describe, verifying signed bundles under ``trust``.

    ``record=False`` is for commands that only look (``rule list/show/test``):
    they verify and refuse rollbacks like ``check`` does, but inspecting a
    version must not count as accepting it.
    """
    state = None
    if state_dir is not None:
        state = VersionState(state_dir)
    elif policy is not None and policy.state_dir is not None:
        state = VersionState(policy.state_dir)
    return load_trusted_stack(
        policy,
        constitution=constitution,
        packs=packs or [],
        overlay=overlay,
        state=state,
        allow_major=allow_major,
        record=record,
    )


def verified_stack(
    constitution: Path | None,
    packs: list[Path] | None,
    overlay: Path | None,
    policy: TrustPolicy | None = None,
    *,
    allow_major: bool = False,
    state_dir: Path | None = None,
    record: bool = True,
) -> Stack:
    """:func:`stack_from_options` for commands that decide or inspect: a stack that does
    not verify is exit 2 (no result) — `bundle verify` reports a failed check as 1
    ("fail"), but here 1 would read as a deny verdict or failed tests."""
    try:
        return stack_from_options(
            constitution,
            packs,
            overlay,
            policy,
            allow_major=allow_major,
            state_dir=state_dir,
            record=record,
        )
    except VerificationError as exc:
        raise TrustError(exc.message, hint=exc.hint) from exc


def waiver_hook(
    waivers_dir: Path | None, stack: Stack, waiver_keys: list[str] | None
) -> WaiverHook | None:
    """The waivers of ``--waivers DIR`` that ``--waiver-key LAYER=PUB`` keys may grant."""
    if waivers_dir is None:
        return None
    return WaiverSet.from_directory(waivers_dir, stack, parse_trust(waiver_keys or []))
