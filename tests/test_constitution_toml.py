"""The constitution TOML: signing, tamper detection and the ``charter constitution`` CLI."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import tomlkit
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from charter.actions import constitution as model
from charter.cli import main
from charter.core.errors import InputError, VerificationError
from charter.trust import keys

DEFAULT = resources.files("charter").joinpath("defaults/constitution.toml").read_text("utf-8")
KEY = keys.generate()
OTHER = keys.generate()
SIGNED = model.sign_text(DEFAULT, KEY)


def verify_text(text: str, public: keys.PublicKey | None = None) -> model.VerifyResult:
    return model.verify_constitution(model.parse_text(text), public or KEY.public_key())


def leaves(doc: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for key, value in doc.items():
        if not prefix and key == "identity":
            continue
        path = (*prefix, key)
        if isinstance(value, dict):
            out.extend(leaves(value, path))
        else:
            out.append(path)
    return out


LEAVES = leaves(tomlkit.parse(SIGNED).unwrap())


def test_default_template_is_valid_and_unsigned() -> None:
    parsed = model.parse_text(DEFAULT)
    assert parsed.identity.signature is None
    assert parsed.forbidden and parsed.requires_approval and parsed.auto_allowed
    assert parsed.model_permissions["coding_model"].can_execute
    assert parsed.limits.max_file_write_size == 10_000_000
    assert verify_text(SIGNED).checksum == parsed.checksum


def _changed(value: Any, data: st.DataObject) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + data.draw(st.integers(1, 10_000))
    if isinstance(value, float):
        return value + data.draw(st.floats(0.01, 1000.0, allow_nan=False))
    if isinstance(value, str):
        return value + data.draw(st.text(alphabet="abcXYZ019", min_size=1, max_size=5))
    if isinstance(value, list):
        extra = data.draw(st.text(alphabet="abc*/ ", min_size=1, max_size=8).filter(str.strip))
        choice = data.draw(st.sampled_from(["append", "drop", "edit"]))
        if choice == "append" or not value:
            return [*value, extra]
        index = data.draw(st.integers(0, len(value) - 1))
        if choice == "drop":
            return value[:index] + value[index + 1 :]
        return [*value[:index], value[index] + extra, *value[index + 1 :]]
    raise AssertionError(f"unexpected value {value!r}")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(LEAVES), data=st.data())
def test_every_value_change_is_detected_with_both_checksums(
    path: tuple[str, ...], data: st.DataObject
) -> None:
    doc = tomlkit.parse(SIGNED)
    node: Any = doc
    for part in path[:-1]:
        node = node[part]
    old = node[path[-1]]
    old = old.unwrap() if hasattr(old, "unwrap") else old
    if path[-1] == "max_file_write_size":
        # Sizes must stay valid sizes; any different spelling is a different value.
        node[path[-1]] = f"{data.draw(st.integers(1, 999))}KiB"
    else:
        node[path[-1]] = _changed(old, data)
    tampered = tomlkit.dumps(doc)
    with pytest.raises(model.ChecksumMismatch) as caught:
        verify_text(tampered)
    assert caught.value.expected == model.parse_text(SIGNED).identity.checksum
    assert caught.value.actual == model.parse_text(tampered).checksum != caught.value.expected


@pytest.mark.parametrize(
    "reformat",
    [
        lambda t: t.replace(" = ", "="),
        lambda t: t.replace("\n[", "\n\n\n# a new comment\n["),
        lambda t: re.sub(r"(?m)^(max_\w+\s*=\s*[^#\n]+)$", r"\1   # trailing comment", t),
        lambda t: t.replace("    ", "\t"),
        lambda t: "# header comment\n\n" + t + "\n\n# footer\n",
        lambda t: t.replace("\n", "\r\n"),
    ],
)
def test_whitespace_and_comments_are_not_changes(reformat: Any) -> None:
    text = reformat(SIGNED)
    assert text != SIGNED
    assert verify_text(text).checksum == model.parse_text(SIGNED).identity.checksum


def test_signature_by_another_key_fails() -> None:
    with pytest.raises(VerificationError, match="signed by .* not by the given key"):
        verify_text(SIGNED, OTHER.public_key())
    # Even with signed_by rewritten to the other key's id, the signature itself fails.
    forged = SIGNED.replace(keys.key_id(KEY.public_key()), keys.key_id(OTHER.public_key()))
    with pytest.raises(VerificationError, match="bad signature"):
        verify_text(forged, OTHER.public_key())


# --------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_cli_sign_generates_keys_in_home_and_verifies(
    tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "c.toml"
    file.write_text(DEFAULT)
    assert main(["constitution", "sign", str(file)]) == 0
    out = capsys.readouterr().out
    assert f"Generated key pair in {home / '.charter' / 'keys'}" in out
    assert (home / ".charter" / "keys" / "signing.key").stat().st_mode & 0o777 == 0o600
    text = file.read_text()
    assert "# Charter default agent-runtime constitution" in text  # comments kept
    public = str(home / ".charter" / "keys" / "signing.pub")
    assert main(["constitution", "verify", str(file), "--key", public]) == 0
    assert capsys.readouterr().out == "Constitution verified\n"
    # Signing again reuses the key.
    assert main(["constitution", "sign", str(file)]) == 0
    assert "Generated" not in capsys.readouterr().out


def test_cli_verify_reports_modification_exactly(
    tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "c.toml"
    file.write_text(DEFAULT)
    assert main(["constitution", "sign", str(file), "--key-dir", str(tmp_path / "k")]) == 0
    expected = model.parse_text(file.read_text()).identity.checksum
    capsys.readouterr()
    file.write_text(
        file.read_text().replace("max_concurrent_workflows = 3", "max_concurrent_workflows = 30")
    )
    actual = model.parse_text(file.read_text()).checksum
    code = main(["constitution", "verify", str(file), "--key", str(tmp_path / "k" / "signing.pub")])
    assert code == 1
    assert capsys.readouterr().out.splitlines() == [
        "VERIFICATION FAILED: Constitution has been modified!",
        f"Expected checksum: {expected}",
        f"Actual checksum: {actual}",
    ]


def test_cli_verify_wrong_key_and_unsigned(
    tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "c.toml"
    file.write_text(SIGNED)
    (tmp_path / "other.pub").write_bytes(keys.public_pem(OTHER.public_key()))
    assert main(["constitution", "verify", str(file), "--key", str(tmp_path / "other.pub")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("charter: error:") and "not by the given key" in err
    file.write_text(DEFAULT)
    assert main(["constitution", "verify", str(file), "--key", str(tmp_path / "other.pub")]) == 1
    assert "not signed" in capsys.readouterr().err
    assert (
        main(
            [
                "constitution",
                "verify",
                str(tmp_path / "missing.toml"),
                "--key",
                str(tmp_path / "other.pub"),
            ]
        )
        == 2
    )


def test_cli_show_renders_tables(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = tmp_path / "c.toml"
    file.write_text(SIGNED)
    assert main(["constitution", "show", str(file)]) == 0
    out = capsys.readouterr().out
    for heading in (
        "Boundaries",
        "Resource limits",
        "Model permissions",
        "coding_model",
        "rm -rf /",
    ):
        assert heading in out
    assert main(["constitution", "show", str(file), "--format", "json"]) == 0
    assert '"max_file_write_size":10000000' in capsys.readouterr().out.replace(" ", "")


def watch_process(file: Path, public: Path) -> subprocess.Popen[str]:
    code = "import sys; from charter.cli import main; sys.exit(main())"
    args = ["constitution", "watch", str(file), "--key", str(public), "--interval", "0.05"]
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_cli_watch_exits_1_when_the_file_changes(tmp_path: Path) -> None:
    file = tmp_path / "c.toml"
    file.write_text(SIGNED)
    (tmp_path / "k.pub").write_bytes(keys.public_pem(KEY.public_key()))
    proc = watch_process(file, tmp_path / "k.pub")
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("Constitution verified:")
        file.write_text(SIGNED.replace("max_execution_time = 3600", "max_execution_time = 9999"))
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, err
    assert f"INTEGRITY LOST: constitution integrity lost: {file.resolve()} changed" in out


def test_cli_watch_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    file = tmp_path / "c.toml"
    file.write_text(SIGNED)
    (tmp_path / "k.pub").write_bytes(keys.public_pem(KEY.public_key()))
    proc = watch_process(file, tmp_path / "k.pub")
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("Constitution verified:")
        assert proc.stdout.readline().startswith("Watching every")
        time.sleep(0.1)  # let the watch loop start; correctness does not depend on it
        proc.terminate()
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert "Stopped; constitution unchanged" in out


# ------------------------------------------------------------ defect 6 (actions)

PINNED = """
[identity]
version = "1.2.3"

[boundaries]
forbidden = ["rm -rf /", "git push --force *"]
requires_approval = ["npm publish*"]
auto_allowed = ["git status", "ls *"]

[resource_limits]
max_api_cost_per_day = 12.5
max_execution_time = 600
max_file_write_size = "10MB"
allowed_directories = ["/work/ünïcode"]

[model_permissions]
coding_model = { can_execute = true, can_write = false }

[metadata]
owner = "Équipe « sécurité »"
reviewed = 2025-03-01T09:30:00Z
local = 2025-03-01T09:30:00.250
day = 2025-03-01
at = 07:32:00
ratio = 0.1
big = 12345678901234567890
nested = { list = [1, 2.5, "x", true], empty = {} }
"""


def test_checksum_is_unchanged_by_the_canonical_writer() -> None:
    """Pinned with the old json.dumps(default=str) code: existing signatures still verify."""
    checksum = model.parse_text(PINNED).checksum
    assert checksum == "34f136a364aa4520119e3442e40e9d5af732d5bda85f1440c2876c12c7800649"


def test_non_finite_numbers_have_no_checksum() -> None:
    text = PINNED.replace("ratio = 0.1", "ratio = nan")
    with pytest.raises(InputError, match=r"metadata\.ratio = nan is not a finite number"):
        _ = model.parse_text(text).checksum


def test_upper_case_checksum_still_verifies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    checksum = model.parse_text(SIGNED).identity.checksum
    assert checksum is not None and checksum != checksum.upper()
    shouting = SIGNED.replace(checksum, checksum.upper())
    assert verify_text(shouting).checksum == checksum
    file = tmp_path / "c.toml"
    file.write_text(shouting)
    (tmp_path / "k.pub").write_bytes(keys.public_pem(KEY.public_key()))
    assert main(["constitution", "verify", str(file), "--key", str(tmp_path / "k.pub")]) == 0
    assert capsys.readouterr().out == "Constitution verified\n"


def test_a_byte_order_mark_is_not_malformed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert verify_text("\ufeff" + SIGNED).checksum == model.parse_text(SIGNED).checksum
    file = tmp_path / "c.toml"
    file.write_bytes(b"\xef\xbb\xbf" + SIGNED.encode("utf-8"))
    (tmp_path / "k.pub").write_bytes(keys.public_pem(KEY.public_key()))
    assert main(["constitution", "verify", str(file), "--key", str(tmp_path / "k.pub")]) == 0
    assert capsys.readouterr().out == "Constitution verified\n"


def test_a_constitution_without_identity_says_it_is_not_signed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = re.sub(r"(?ms)^\[identity\].*?(?=^\[)", "", DEFAULT)
    assert "\n[identity]" not in text
    with pytest.raises(InputError, match="not signed") as info:
        model.parse_text(text, "c.toml")
    assert "semantic version" not in info.value.message
    assert "charter constitution sign" in (info.value.hint or "")
    file = tmp_path / "c.toml"
    file.write_text(text)
    (tmp_path / "k.pub").write_bytes(keys.public_pem(KEY.public_key()))
    assert main(["constitution", "verify", str(file), "--key", str(tmp_path / "k.pub")]) == 2
    err = capsys.readouterr().err
    assert "not signed" in err and "charter constitution sign" in err
    assert "Traceback" not in err and "None" not in err


def test_signing_a_file_with_a_byte_order_mark() -> None:
    signed = model.sign_text("\ufeff" + DEFAULT, KEY)
    assert not signed.startswith("\ufeff")
    assert verify_text(signed).checksum == model.parse_text(DEFAULT).checksum
