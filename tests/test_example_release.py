"""examples/release-with-evidence: allowed on verified evidence, denied on any changed byte."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import pytest

from tests.cli_helpers import invoke

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "release-with-evidence"
IDENTITIES = EXAMPLE.parent / "identities.toml"
NOW = "2026-11-20T10:00:00Z"


def _check(dist: Path) -> tuple[int, dict]:
    result = invoke(
        "check", str(EXAMPLE / "proposal.json"), "--evidence", str(dist),
        "--trust", str(EXAMPLE / "trust.toml"), "--identities", str(IDENTITIES),
        "--now", NOW, "--no-audit", "--format", "json",
    )  # fmt: skip
    assert result.returncode in (0, 1, 3), result.stderr
    return result.returncode, json.loads(result.stdout)


def test_the_example_release_is_allowed_on_its_evidence() -> None:
    code, decision = _check(EXAMPLE / "dist")
    assert (code, decision["verdict"], decision["reasons"]) == (0, "allow", [])


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def _flip_payload(path: Path) -> None:
    envelope = json.loads(path.read_text())
    payload = bytearray(base64.b64decode(envelope["payload"]))
    payload[payload.index(b'"sha256"') + 12] ^= 0x01  # a hex digit of the subject digest
    envelope["payload"] = base64.b64encode(bytes(payload)).decode()
    path.write_text(json.dumps(envelope) + "\n")


@pytest.mark.parametrize(
    ("name", "tamper", "rules"),
    [
        ("billing-cli-2.4.0.tar.gz", lambda p: _flip(p, 100), {"PROC-DECLARED-FACTS-MATCH-001"}),
        ("billing-cli-2.4.0.tar.gz.cdx.json", lambda p: _flip(p, 40), {"SC-SIGNED-SBOM-001"}),
        ("billing-cli-2.4.0.tar.gz.intoto.jsonl", _flip_payload, {"SC-SIGNED-PROVENANCE-001"}),
    ],
)
def test_one_changed_byte_denies_naming_the_file(
    tmp_path: Path, name: str, tamper: object, rules: set[str]
) -> None:
    dist = tmp_path / "dist"
    shutil.copytree(EXAMPLE / "dist", dist)
    assert callable(tamper)
    tamper(dist / name)
    code, decision = _check(dist)
    assert code == 1 and decision["verdict"] == "deny"
    found = {r["rule"]: r["msg"] for r in decision["reasons"]}
    assert rules <= set(found)
    assert any(name in msg for msg in found.values()), found
