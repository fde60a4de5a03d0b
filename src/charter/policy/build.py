"""Building signed bundles: validate a bundle directory, then sign and pack it.

This is the authoring side of :mod:`charter.policy.bundle` (which only reads
and verifies the format). A build composes the layer under the layers above it,
runs the validators (the bundle's own Rego tests and the version judged by
content against the previous release by default; the ratchet linter plugs in as
another validator), and signs only when every one passes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from charter.core.digests import sha256_bytes
from charter.core.errors import PolicyError
from charter.policy import dataflow
from charter.policy.bundle import (
    MANIFEST,
    SIGNATURES,
    Layer,
    Manifest,
    build_tarball,
    layer_from_files,
    load_directory,
    read_directory_files,
)
from charter.policy.compat import check_version
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
        failed = [r.qualified for r in report.results if r.failed]
        raise PolicyError(
            f"{context.directory}: {len(failed)} test(s) failed: {', '.join(failed[:5])}",
            hint="run `charter rule test DIR` for details",
        )


def _baseline(layer: Layer) -> Layer | None:
    """The release a build is judged against by default: the shipped constitution, for
    a constitution of the same name (nothing for packs and overlays)."""
    if layer.kind != "constitution":
        return None
    shipped = load_directory(shipped_constitution_path(), label="shipped:constitution")
    return shipped if shipped.name == layer.name else None


def validate_version(since: Layer | None = None) -> Validator:
    """A validator: the version must move as far as the content did since ``since``
    (default: the shipped constitution, for a constitution); see :mod:`.compat`."""

    def check(context: BuildContext) -> None:
        baseline = since if since is not None else _baseline(context.layer)
        if baseline is None:
            return
        if (baseline.kind, baseline.name) != (context.layer.kind, context.layer.name):
            raise PolicyError(
                f"{context.directory}: --since is the {baseline.kind} {baseline.name}, "
                f"not the {context.layer.kind} {context.layer.name}",
                hint="pass the previous release of the same bundle",
            )
        check_version(baseline, context.layer, context.upper)

    return check


DEFAULT_VALIDATORS: tuple[Validator, ...] = (validate_tests, validate_version())


@dataclass(frozen=True)
class BuiltBundle:
    data: bytes
    digest: str
    key_id: str
    manifest: Manifest
    files: tuple[str, ...]


def _upper(layer: Layer, upper: Sequence[Layer] | None) -> tuple[Layer, ...]:
    """``upper``, or by default the shipped constitution (nothing above a constitution)."""
    if upper is not None:
        return tuple(upper)
    if layer.kind == "constitution":
        return ()
    return (load_directory(shipped_constitution_path(), label="shipped:constitution"),)


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
    context = BuildContext(path, files, layer, _upper(layer, upper))
    for validator in validators:
        validator(context)
    signed = dict(files)
    signed[SIGNATURES] = signing.sign_files(files, key, scope=layer.kind)
    data = build_tarball(signed)
    return BuiltBundle(
        data=data,
        digest=sha256_bytes(data),
        key_id=keys.key_id(key.public_key()),
        manifest=layer.manifest,
        files=tuple(sorted(signed)),
    )


# ------------------------------------------------------------------ rule signing


def bundle_root(path: Path) -> Path | None:
    """The bundle directory holding ``path`` (the nearest parent with a .manifest)."""
    current = path if path.is_dir() else path.parent
    for candidate in (current, *current.parents):
        if (candidate / MANIFEST).is_file():
            return candidate
    return None


def _rule_file(file: str | Path) -> tuple[Path, Path]:
    path = Path(file)
    if not path.is_file() or path.suffix != ".rego" or path.name.endswith("_test.rego"):
        raise PolicyError(
            f"{path}: not a rule file", hint="pass the rule's .rego file (not its test)"
        )
    root = bundle_root(path)
    if root is None:
        raise PolicyError(f"{path}: not inside a bundle directory (no .manifest above it)")
    return path, root


def _dependencies(
    rel: str, root: Path, files: Mapping[str, bytes], layer: Layer
) -> dataflow.Dependencies:
    prefix = f"{layer.source}/"
    modules = {m.path.removeprefix(prefix): m for m in layer.modules}
    return dataflow.dependencies(rel, modules, files, layer.manifest.roots)


def rule_dependencies(file: str | Path) -> tuple[Path, dataflow.Dependencies]:
    """The bundle root of the rule ``file`` and what the rule reads (see
    :func:`charter.policy.dataflow.dependencies`): what :func:`sign_rule` signs
    with it, and the references it cannot sign (other layers')."""
    path, root = _rule_file(file)
    files = {n: d for n, d in read_directory_files(root).items() if n != SIGNATURES}
    layer = layer_from_files(files, source=str(root))
    rel = path.resolve().relative_to(root.resolve()).as_posix()
    return root, _dependencies(rel, root, files, layer)


def sign_rule(
    file: str | Path,
    key: keys.PrivateKey,
    *,
    upper: Sequence[Layer] | None = None,
    validators: Sequence[Validator] = DEFAULT_VALIDATORS,
) -> tuple[Path, tuple[str, ...]]:
    """Sign one rule file into its bundle's ``.signatures.json`` (OPA format).

    The bundle must pass ``validators`` first (its tests by default; the CLI adds
    the policy linter), exactly as for :func:`build_bundle`. The rule file, its
    ``*_test.rego`` sibling, the ``.manifest`` and everything of the bundle the
    rule reads (:func:`rule_dependencies`: imported and referenced modules with
    their tests, ``data.json`` files) are (re)hashed; entries for
    other files are kept only from a previous signature that verifies with the
    same key, so a file changed since it was signed is never blessed by signing
    another one. Returns the signatures path and the files covered.
    """
    path, root = _rule_file(file)
    files = read_directory_files(root)
    unsigned = {n: d for n, d in files.items() if n != SIGNATURES}
    layer = layer_from_files(unsigned, source=str(root))
    context = BuildContext(root, unsigned, layer, _upper(layer, upper))
    for validator in validators:
        validator(context)
    scope = layer.manifest.layer
    rel = path.resolve().relative_to(root.resolve()).as_posix()
    wanted = [MANIFEST]
    for name in _dependencies(rel, root, unsigned, layer).files:
        wanted.append(name)
        test_rel = name[: -len(".rego")] + "_test.rego"
        if name.endswith(".rego") and test_rel in files and test_rel not in wanted:
            wanted.append(test_rel)
    # Keep entries only from a previous signature this key made for this layer.
    old = files.get(SIGNATURES)
    previous = signing.signed_entries(old, key.public_key(), scope=scope) if old else None
    entries = {name: digest for name, digest in (previous or {}).items() if name in files}
    for name in wanted:
        entries[name] = signing.file_hash(name, files[name])
    target = root / SIGNATURES
    target.write_bytes(signing.sign_entries(entries, key, scope=scope))
    return target, tuple(sorted(entries))
