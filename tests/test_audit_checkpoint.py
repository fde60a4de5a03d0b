"""Signed checkpoints of the audit chain: the head anchored outside the store it protects.

Adversarial: the tail truncated and the anchor rewritten (which plain ``audit
verify`` cannot see), the tail replaced by other records, every byte of a
checkpoint altered, another log's checkpoint, another key, an older checkpoint.
SQLite and the real PostgreSQL.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
from pathlib import Path

import psycopg
import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import given
from hypothesis import strategies as st
from psycopg import sql

from charter.audit import chain, stores
from charter.audit import checkpoint as cp
from charter.audit.postgres import PostgresStore, split_url
from charter.cli import main
from charter.core.errors import AuditError, InputError, VerificationError
from charter.trust import keys
from tests.fixtures_pg import pg_url
from tests.test_audit_store import decision, fill

__all__ = ["pg_url"]


@pytest.fixture(scope="module")
def keypair(tmp_path_factory: pytest.TempPathFactory) -> keys.GeneratedKey:
    return keys.generate_to_dir(tmp_path_factory.mktemp("keys"), "ed25519", None)


def _store(path: Path, n: int) -> chain.AuditStore:
    store = stores.open_store(path)
    fill(store, n)
    return store


def _truncate_and_rewrite_anchor(path: Path, keep: int) -> None:
    db = sqlite3.connect(path)
    db.execute("DELETE FROM audit WHERE seq > ?", (keep,))
    db.execute(
        "UPDATE head SET seq = ?, hash = (SELECT hash FROM audit WHERE seq = ?)", (keep, keep)
    )
    db.commit()
    db.close()


def _sqlite_exec(path: Path, statement: str) -> None:
    db = sqlite3.connect(path)
    db.execute(statement)
    db.commit()
    db.close()


def _verify_cli(path: str, note: Path, pub: Path, *extra: str) -> int:
    return main(
        ["audit", "verify", "--store", path, "--checkpoint", str(note), "--key", str(pub), *extra]
    )


# ------------------------------------------------------------------ format


def test_checkpoint_is_a_signed_note_in_tlog_checkpoint_form(
    tmp_path: Path, keypair: keys.GeneratedKey
) -> None:
    store = _store(tmp_path / "a.db", 4)
    private = keys.load_private(keypair.private_path)
    note = cp.make(store, private)
    head = store.head()
    first = next(iter(store.records()))
    store.close()
    assert head is not None
    text, blank, signature_line = note.partition("\n\n")
    origin, size, b64hash = text.split("\n")
    assert origin == "charter.audit/" + first["hash"][:16]
    assert size == "4"
    assert base64.b64decode(b64hash).hex() == head[1]
    assert blank and signature_line.startswith("\u2014 " + origin + " ")
    assert signature_line.endswith("\n") and signature_line.count("\n") == 1
    # The key id is the signed-note one for Ed25519, computed here independently.
    raw_pub = keypair.public_path.read_bytes()
    public = serialization.load_pem_public_key(raw_pub)
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    blob = base64.b64decode(signature_line.split(" ")[2])
    assert blob[:4] == hashlib.sha256(origin.encode() + b"\n\x01" + raw).digest()[:4]
    assert len(blob) == 4 + 64
    # ... and the signature is Ed25519 over the note text, final newline included.
    public.verify(blob[4:], (text + "\n").encode())  # type: ignore[union-attr]


def test_p256_keys_sign_checkpoints_too(tmp_path: Path) -> None:
    made = keys.generate_to_dir(tmp_path / "k", "p256", None)
    store = _store(tmp_path / "a.db", 2)
    note = cp.make(store, keys.load_private(made.private_path))
    assert cp.verify_checkpoint(store, note.encode(), keys.load_public(made.public_path)).ok
    store.close()


# ------------------------------------------------------------- the attack


def test_truncation_with_rewritten_anchor_fails_against_a_checkpoint(
    tmp_path: Path, keypair: keys.GeneratedKey, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "audit.db"
    _store(path, 6).close()
    note = tmp_path / "head.checkpoint"
    assert (
        main(
            [
                "audit",
                "checkpoint",
                "--store",
                str(path),
                "--key",
                str(keypair.private_path),
                "-o",
                str(note),
            ]
        )
        == 0
    )
    assert _verify_cli(str(path), note, keypair.public_path) == 0
    assert "consistent with the signed checkpoint" in capsys.readouterr().out
    _truncate_and_rewrite_anchor(path, 4)
    # The attack in issue 13: the chain and its (rewritten) anchor agree ...
    assert main(["audit", "verify", "--store", str(path)]) == 0
    capsys.readouterr()
    # ... but not with the signed checkpoint kept elsewhere.
    assert _verify_cli(str(path), note, keypair.public_path) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "ends at record 4, before record 6 named by the signed checkpoint" in err


def test_a_replaced_tail_fails_at_the_checkpointed_record(
    tmp_path: Path, keypair: keys.GeneratedKey
) -> None:
    path = tmp_path / "audit.db"
    store = _store(path, 5)
    note = cp.make(store, keys.load_private(keypair.private_path)).encode()
    store.close()
    _truncate_and_rewrite_anchor(path, 3)
    store = stores.open_store(path)
    for i in range(10, 14):  # a consistent chain again, longer than before
        store.append(decision(i, verdict="deny"), source="forger")
    assert chain.verify(store).ok
    report = cp.verify_checkpoint(store, note, keys.load_public(keypair.public_path))
    store.close()
    assert not report.ok and report.first_bad_seq == 5
    assert report.problem == "record 5: does not match the signed checkpoint (5 records)"


def test_pg_truncation_with_rewritten_anchor_fails_against_a_checkpoint(
    pg_url: str, tmp_path: Path, keypair: keys.GeneratedKey, capsys: pytest.CaptureFixture[str]
) -> None:
    store = stores.open_store(pg_url)
    assert isinstance(store, PostgresStore)
    fill(store, 5)
    note = tmp_path / "pg.checkpoint"
    assert (
        main(
            [
                "audit",
                "checkpoint",
                "--store",
                pg_url,
                "--key",
                str(keypair.private_path),
                "-o",
                str(note),
            ]
        )
        == 0
    )
    assert _verify_cli(pg_url, note, keypair.public_path) == 0
    with psycopg.connect(split_url(pg_url)[0], autocommit=True) as conn:
        log = sql.Identifier(store.schema, "audit_log")
        head = sql.Identifier(store.schema, "audit_head")
        conn.execute(sql.SQL("DELETE FROM {} WHERE seq > 3").format(log))
        conn.execute(
            sql.SQL("UPDATE {} SET seq = 3, hash = (SELECT hash FROM {} WHERE seq = 3)").format(
                head, log
            )
        )
    store.close()
    capsys.readouterr()
    assert main(["audit", "verify", "--store", pg_url]) == 0
    assert _verify_cli(pg_url, note, keypair.public_path) == 1
    assert "before record 5 named by the signed checkpoint" in capsys.readouterr().err


# ------------------------------------------------------- the checkpoint itself


def test_every_altered_byte_of_a_checkpoint_is_refused(
    tmp_path: Path, keypair: keys.GeneratedKey
) -> None:
    store = _store(tmp_path / "a.db", 3)
    good = cp.make(store, keys.load_private(keypair.private_path)).encode()
    store.close()
    public = keys.load_public(keypair.public_path)
    assert cp.open_note(good, public).size == 3
    tried = 0
    for index in range(len(good)):
        for mask in (0x01, 0x02, 0x20, 0x80):
            altered = bytearray(good)
            altered[index] ^= mask
            with pytest.raises(VerificationError):
                cp.open_note(bytes(altered), public)
            tried += 1
    assert tried == 4 * len(good)
    # Removed or added bytes, too.
    for index in range(len(good)):
        with pytest.raises(VerificationError):
            cp.open_note(good[:index] + good[index + 1 :], public)
    for extra in (b"\n", b" ", b"5"):
        with pytest.raises(VerificationError):
            cp.open_note(good + extra, public)


def test_non_canonical_base64_cannot_alter_a_checkpoint(
    tmp_path: Path, keypair: keys.GeneratedKey
) -> None:
    """The last base64 digit before '=' has spare bits: they must not be free to change."""
    store = _store(tmp_path / "a.db", 3)
    good = cp.make(store, keys.load_private(keypair.private_path))
    store.close()
    signature = good.rstrip("\n").rsplit(" ", 1)[1]
    assert signature.endswith("=")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = signature.rstrip("=")[-1]
    same_bytes = [
        c for c in alphabet
        if c != last and base64.b64decode(signature[:-2] + c + "=") == base64.b64decode(signature)
    ]  # fmt: skip
    assert same_bytes  # such variants exist ...
    public = keys.load_public(keypair.public_path)
    for c in same_bytes:
        variant = good.replace(signature, signature[:-2] + c + "=")
        with pytest.raises(VerificationError, match="canonical"):  # ... and are refused
            cp.open_note(variant.encode(), public)


def test_wrong_key_and_bad_signature_fail_with_one_line(
    tmp_path: Path, keypair: keys.GeneratedKey, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "a.db"
    _store(path, 3).close()
    note = tmp_path / "c"
    assert (
        main(
            [
                "audit",
                "checkpoint",
                "--store",
                str(path),
                "--key",
                str(keypair.private_path),
                "-o",
                str(note),
            ]
        )
        == 0
    )
    other = keys.generate_to_dir(tmp_path / "other", "ed25519", None)
    capsys.readouterr()
    assert _verify_cli(str(path), note, other.public_path) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not signed by the given key" in err
    # Same key id, altered text: a bad signature, not an unknown key.
    text = note.read_text(encoding="utf-8")
    note.write_text(text.replace("\n3\n", "\n2\n"), encoding="utf-8")
    assert _verify_cli(str(path), note, keypair.public_path) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "bad signature" in err


def test_a_checkpoint_from_another_log_is_refused(
    tmp_path: Path, keypair: keys.GeneratedKey, capsys: pytest.CaptureFixture[str]
) -> None:
    private = keys.load_private(keypair.private_path)
    a, b = _store(tmp_path / "a.db", 3), stores.open_store(tmp_path / "b.db")
    for i in range(1, 4):
        b.append(decision(i, verdict="deny"), source="other")
    note_b = tmp_path / "b.checkpoint"
    note_b.write_text(cp.make(b, private), encoding="utf-8")
    a.close()
    b.close()
    capsys.readouterr()
    assert _verify_cli(str(tmp_path / "a.db"), note_b, keypair.public_path) == 1
    err = capsys.readouterr().err
    assert "the checkpoint is for log 'charter.audit/" in err and "not this log" in err
    # Named logs: the verifier names the log it expects.
    named = tmp_path / "named.checkpoint"
    a = stores.open_store(tmp_path / "a.db")
    named.write_text(cp.make(a, private, origin="audit.example.com/prod"), encoding="utf-8")
    a.close()
    assert (
        _verify_cli(
            str(tmp_path / "a.db"), named, keypair.public_path, "--origin", "audit.example.com/prod"
        )
        == 0
    )
    assert (
        _verify_cli(
            str(tmp_path / "a.db"),
            named,
            keypair.public_path,
            "--origin",
            "audit.example.com/staging",
        )
        == 1
    )
    assert _verify_cli(str(tmp_path / "a.db"), named, keypair.public_path) == 1


def test_an_older_checkpoint_still_verifies_it_covers_a_prefix(
    tmp_path: Path, keypair: keys.GeneratedKey
) -> None:
    """Replay is not detectable from the checkpoint alone: keep the newest one."""
    private, public = keys.load_private(keypair.private_path), keys.load_public(keypair.public_path)
    store = _store(tmp_path / "a.db", 2)
    old = cp.make(store, private).encode()
    for i in range(3, 7):
        store.append(decision(i), source="test")
    new = cp.make(store, private).encode()
    assert cp.verify_checkpoint(store, old, public).ok
    assert cp.verify_checkpoint(store, new, public).ok
    store.close()
    # Truncating to 4 records passes the old checkpoint but not the newest.
    _truncate_and_rewrite_anchor(tmp_path / "a.db", 4)
    store = stores.open_store(tmp_path / "a.db")
    assert cp.verify_checkpoint(store, old, public).ok
    assert not cp.verify_checkpoint(store, new, public).ok
    store.close()


def test_bad_input_exits_2(tmp_path: Path, keypair: keys.GeneratedKey) -> None:
    path = tmp_path / "a.db"
    _store(path, 2).close()
    note = tmp_path / "c"
    note.write_text("x", encoding="utf-8")
    assert main(["audit", "verify", "--store", str(path), "--checkpoint", str(note)]) == 2
    assert _verify_cli(str(path), tmp_path / "missing", keypair.public_path) == 2
    assert _verify_cli(str(path), note, tmp_path / "missing.pub") == 2
    assert _verify_cli(str(path), note, keypair.public_path, "--origin", "has space") == 2
    big = tmp_path / "big"
    big.write_bytes(b"a" * (cp.MAX_NOTE_BYTES + 1))
    assert _verify_cli(str(path), big, keypair.public_path) == 2
    # A note that is no checkpoint is a failed verification, as any altered one is.
    assert _verify_cli(str(path), note, keypair.public_path) == 1
    # Nothing to checkpoint in an empty log.
    empty = tmp_path / "empty.db"
    stores.open_store(empty).close()
    assert (
        main(["audit", "checkpoint", "--store", str(empty), "--key", str(keypair.private_path)])
        == 2
    )
    assert (
        main(["audit", "checkpoint", "--store", str(path), "--key", str(keypair.public_path)]) == 2
    )


def test_a_broken_log_is_never_checkpointed(tmp_path: Path, keypair: keys.GeneratedKey) -> None:
    path = tmp_path / "a.db"
    _store(path, 3).close()
    db = sqlite3.connect(path)
    db.execute("DELETE FROM audit WHERE seq = 2")
    db.commit()
    db.close()
    out = tmp_path / "c"
    assert (
        main(
            [
                "audit",
                "checkpoint",
                "--store",
                str(path),
                "--key",
                str(keypair.private_path),
                "-o",
                str(out),
            ]
        )
        == 1
    )
    assert not out.exists()


# ------------------------------------------------------------- the runner's


def test_checkpointer_checks_only_new_records_and_keeps_the_last_good_file(
    tmp_path: Path, keypair: keys.GeneratedKey
) -> None:
    store = stores.open_store(tmp_path / "a.db")
    target = tmp_path / "out" / "audit.checkpoint"
    writer = cp.Checkpointer(store, keys.load_private(keypair.private_path), target)
    assert writer.write() is None and not target.exists()  # empty: nothing to sign
    fill(store, 3)
    first = writer.write()
    assert first is not None and first.size == 3
    public = keys.load_public(keypair.public_path)
    assert cp.open_note(target.read_bytes(), public) == first
    for i in range(4, 6):
        store.append(decision(i), source="test")
    second = writer.write()
    assert second is not None and second.size == 5 and second.origin == first.origin
    assert cp.verify_checkpoint(store, target.read_bytes(), public).ok
    # A record changed after the last checkpoint: refused, the file is kept.
    store.append(decision(6), source="test")
    db = sqlite3.connect(tmp_path / "a.db")
    db.execute("UPDATE audit SET record = replace(record, '\"allow\"', '\"deny\"') WHERE seq = 6")
    db.commit()
    db.close()
    with pytest.raises(AuditError, match="not intact"):
        writer.write()
    assert cp.open_note(target.read_bytes(), public) == second
    store.close()


def test_checkpointer_refuses_a_log_cut_back_below_its_last_checkpoint(
    tmp_path: Path, keypair: keys.GeneratedKey
) -> None:
    path = tmp_path / "a.db"
    store = _store(path, 5)
    target = tmp_path / "cp"
    writer = cp.Checkpointer(store, keys.load_private(keypair.private_path), target)
    first = writer.write()
    assert first is not None and first.size == 5
    _truncate_and_rewrite_anchor(path, 3)  # nothing after record 5 to walk: the anchor tells
    with pytest.raises(AuditError, match="ends at record 3, before record 5"):
        writer.write()
    assert cp.open_note(target.read_bytes(), keys.load_public(keypair.public_path)) == first
    store.close()


def test_origin_names_are_checked() -> None:
    for bad in ("", "a b", "a+b", "a\nb", "é"):
        with pytest.raises(InputError):
            cp.check_origin(bad)
    assert cp.check_origin("audit.example.com/prod") == "audit.example.com/prod"


def test_records_are_read_in_pages_and_after_a_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keypair: keys.GeneratedKey
) -> None:
    monkeypatch.setattr(chain, "PAGE", 2)  # every store pages through chain.paged_records
    path = tmp_path / "a.db"
    store = _store(path, 7)
    assert [r["seq"] for r in store.records()] == list(range(1, 8))
    assert [r["seq"] for r in store.records(after=3)] == [4, 5, 6, 7]
    assert chain.verify(store).ok
    note = cp.make(store, keys.load_private(keypair.private_path)).encode()
    store.close()
    _sqlite_exec(path, "DELETE FROM audit WHERE seq = 4")  # at a page boundary
    store = stores.open_store(path)
    report = chain.verify_after(
        store, (3, next(r for r in store.records() if r["seq"] == 3)["hash"])
    )
    assert not report.ok and report.first_bad_seq == 4
    assert not cp.verify_checkpoint(store, note, keys.load_public(keypair.public_path)).ok
    store.close()


def test_pg_checkpointer_is_incremental_and_catches_a_rewrite(
    pg_url: str, tmp_path: Path, keypair: keys.GeneratedKey
) -> None:
    store = stores.open_store(pg_url)
    assert isinstance(store, PostgresStore)
    fill(store, 3)
    target = tmp_path / "pg.checkpoint"
    writer = cp.Checkpointer(store, keys.load_private(keypair.private_path), target)
    assert writer.write() is not None
    for i in range(4, 7):
        store.append(decision(i), source="test")
    written = writer.write()
    assert written is not None and written.size == 6
    store.append(decision(7), source="test")
    with psycopg.connect(split_url(pg_url)[0], autocommit=True) as conn:
        log = sql.Identifier(store.schema, "audit_log")
        conn.execute(
            sql.SQL("UPDATE {} SET record = replace(record, 'allow', 'deny') WHERE seq = 7").format(
                log
            )
        )
    with pytest.raises(AuditError, match="record 7: content was modified"):
        writer.write()
    assert cp.open_note(target.read_bytes(), keys.load_public(keypair.public_path)) == written
    store.close()


@given(st.binary(max_size=400))
def test_any_bytes_are_refused_with_a_charter_error(data: bytes) -> None:
    public = keys.generate().public_key()
    with pytest.raises((VerificationError, InputError)):
        cp.open_note(data, public)


def test_json_output_names_the_checkpoint(
    tmp_path: Path, keypair: keys.GeneratedKey, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "a.db"
    _store(path, 2).close()
    note = tmp_path / "c"
    assert (
        main(
            [
                "audit",
                "checkpoint",
                "--store",
                str(path),
                "--key",
                str(keypair.private_path),
                "-o",
                str(note),
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert _verify_cli(str(path), note, keypair.public_path, "--format", "json") == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is True and doc["records"] == 2 and doc["checkpoint"] == str(note)
