"""Building signed bundles: validate a bundle directory, then sign and pack it.

This is the authoring side of :mod:`charter.policy.bundle` (which only reads
and verifies the format). A build composes the layer under the layers above it,
runs the validators (the bundle's own Rego tests by default; the ratchet linter
plugs in as another validator), and signs only when every one passes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from charter.core.errors import PolicyError
from charter.policy.bundle import (
    SIGNATURES,
    Layer,
    Manifest,
    build_tarball,
    layer_from_files,
    load_directory,
    read_directory_files,
    tarball_digest,
)
from charter.policy.stack import Stack, shipped_constitution_path
from charter.policy.testing import run_tests
from charter.trust import keys, signing


@dataclass(frozen=True)
class BuildContext:
    """What a build validator sees: the parsed layer, its files and the layers above."""

    directory: Path
    files: Mapping[str, bytes]
    layer: Layer
    upper: tuple[Layer, ...]


#: A check run before a bundle is signed; it raises a CharterError to stop the build.
#: The ratchet linter plugs in here (``build_bundle(..., validators=[lint])``).
Validator = Callable[[BuildContext], None]


def validate_tests(context: BuildContext) -> None:
    """The bundle's own Rego tests must exist (when it has rules) and pass."""
    stack = Stack.compose([*context.upper, context.layer])
    report = run_tests(stack, [context.layer])
    if context.layer.rules and not report.results:
        raise PolicyError(
            f"{context.directory}: the bundle has rules but no tests",
            hint="add *_test.rego files with test_* rules",
        )
    if not report.ok and report.results:
        failed = [r.qualified for r in report.results if not r.passed]
        raise PolicyError(
            f"{context.directory}: {len(failed)} test(s) failed: {', '.join(failed[:5])}",
            hint="run `charter rule test DIR` for details",
        )


DEFAULT_VALIDATORS: tuple[Validator, ...] = (validate_tests,)


@dataclass(frozen=True)
class BuiltBundle:
    data: bytes
    digest: str
    key_id: str
    manifest: Manifest
    files: tuple[str, ...]


def build_bundle(
    directory: str | Path,
    key: keys.PrivateKey,
    *,
    validators: Sequence[Validator] = DEFAULT_VALIDATORS,
    upper: Sequence[Layer] | None = None,
) -> BuiltBundle:
    """Validate a bundle directory, sign every file and return the tarball bytes.

    ``upper`` are the layers above this one (default: the shipped constitution
    for a pack or overlay, nothing for a constitution); validators run with the
    layer composed under them. Nothing is signed unless every validator passes.
    """
    path = Path(directory)
    files = {n: d for n, d in read_directory_files(path).items() if n != SIGNATURES}
    layer = layer_from_files(files, source=str(path))
    if upper is None:
        upper = (
            ()
            if layer.kind == "constitution"
            else (load_directory(shipped_constitution_path(), label="shipped:constitution"),)
        )
    context = BuildContext(path, files, layer, tuple(upper))
    for validator in validators:
        validator(context)
    signed = dict(files)
    signed[SIGNATURES] = signing.sign_files(files, key, scope=layer.kind)
    data = build_tarball(signed)
    return BuiltBundle(
        data=data,
        digest=tarball_digest(data),
        key_id=keys.key_id(key.public_key()),
        manifest=layer.manifest,
        files=tuple(sorted(signed)),
    )
