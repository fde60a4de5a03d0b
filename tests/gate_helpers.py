"""Helpers for the action-gate tests: signed constitutions in temporary directories."""

from __future__ import annotations

from pathlib import Path

from charter.actions.constitution import parse_text, sign_text
from charter.actions.gate import Gate
from charter.trust import keys

BASE = """
[identity]
version = "1.0.0"

[boundaries]
forbidden = [
    "rm -rf /",
    "rm -rf ~",
    "sudo rm *",
    "curl * | sh",
    "curl * | bash",
    "wget * | sh",
    "dd * of=/dev/*",
    "mkfs*",
    "git push --force * main",
    "chmod -R 777 /",
    "DROP DATABASE",
    "shutdown *",
    ":(){ :|:& };:",
]
requires_approval = ["git push *", "rm -rf *", "sudo *", "npm publish *", "pip install *"]
auto_allowed = [
    "git status", "git diff *", "git log *", "ls *", "grep *", "echo *", "cat *", "pwd",
    "pytest *", "head *", "wc *", "true", "printf *", "find * -name *",
]
"""


def constitution_text(extra: str = "") -> str:
    return BASE + extra


def make_gate(extra: str = "") -> Gate:
    return Gate(parse_text(constitution_text(extra)))


def write_signed(directory: Path, text: str | None = None) -> tuple[Path, Path]:
    """A signed constitution and its public key in ``directory``."""
    key = keys.generate()
    directory.mkdir(parents=True, exist_ok=True)
    pub = directory / "signing.pub"
    pub.write_bytes(keys.public_pem(key.public_key()))
    path = directory / "constitution.toml"
    path.write_text(sign_text(text or constitution_text(), key))
    return path, pub
