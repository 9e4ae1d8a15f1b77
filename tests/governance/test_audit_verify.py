"""Verifying the hash chain: an intact trail verifies; records edited, removed or swapped directly in the database
are reported at exactly the first bad seq by the service, ``GET /audit/verify`` and ``modelreg audit verify``."""

from __future__ import annotations

import io
from typing import Any

import orjson
import pytest
from sqlalchemy import delete, select, text, update

from cli_runner import invoke_cli, process_on_sqlite
from conftest import empty
from governance.conftest import Governed
from modelreg.db import audit_chain
from modelreg.db.database import Database
from modelreg.db.tables import audit_log
from modelreg.services import entities as e
from modelreg.services.audit import AuditService, VerifyResult
from modelreg.services.properties import PropValue
from modelreg.services.registry import RegistryService

pytestmark = pytest.mark.usefixtures("as_system")  # the tests call the services directly

_seq = audit_log.c.seq


@pytest.fixture
def chain(gov: Governed) -> Governed:
    """The fixture's bindings and tokens plus registry writes: 25 records, seq 1..25."""
    registry = RegistryService(gov.database)
    props = {"accuracy": PropValue("double", 0.1), "note": PropValue("string", 'héllo ✓ "q"\n')}
    model = registry.create(e.REGISTERED_MODEL, {"name": "fraud", "description": "a"}, props)
    while _count(gov.database) < 25:
        registry.update(e.REGISTERED_MODEL, model.row["id"], {"description": f"d{_count(gov.database)}"}, None)
    return gov


def _count(db: Database) -> int:
    with db.read() as conn:
        return len(conn.execute(select(_seq)).all())


def _row(db: Database, seq: int) -> dict[str, Any]:
    with db.engine.connect() as conn:
        return dict(conn.execute(select(audit_log).where(_seq == seq)).mappings().one())


def _tamper(db: Database, *statements: Any) -> None:
    """Change the trail behind the application's back, as someone with database access could."""
    with db.write() as conn:  # BEGIN IMMEDIATE: the server's bridge thread may be writing too
        for statement in statements:
            conn.execute(statement)


def _assert_broken(gov: Governed, seq: int, problem: str, expected_seq: int | None = None) -> VerifyResult:
    """Service (with several batch sizes), REST and CLI (in this process: tests/cli_runner.py; a real process in
    test_intact_chain_verifies_everywhere) all report ``seq`` as the first bad record."""
    svc = AuditService(gov.database)
    result = svc.verify()
    assert result.first_bad is not None and not result.valid, result
    assert (result.first_bad.seq, result.first_bad.kind) == (seq, problem), result.first_bad
    assert result.first_bad.expected_seq == (seq if expected_seq is None else expected_seq)
    assert result.last_seq == (expected_seq or seq) - 1  # intact up to the record before the break
    for batch in (1, 3, 7, 1000):
        again = svc.verify(batch=batch)
        assert again == result, (batch, again)

    body = gov.governance("viewer").get("/audit/verify").json()
    assert body["valid"] is False
    assert (body["firstBad"]["seq"], body["firstBad"]["problem"]) == (seq, problem), body
    assert body["firstBad"]["record"]["seq"] == seq and body["checked"] == result.checked

    run = invoke_cli("audit", "verify", "--database-url", gov.database.url)
    assert run.returncode == 1, (run.stdout, run.stderr)
    assert f"BROKEN at seq {seq}" in run.stdout and problem in run.stdout, run.stdout
    return result


def test_intact_chain_verifies_everywhere(chain: Governed) -> None:
    result = AuditService(chain.database).verify()
    last = _row(chain.database, 25)
    assert result == VerifyResult(checked=25, last_seq=25, last_hash=last["hash"])
    for batch in (1, 4, 24, 25, 26):
        assert AuditService(chain.database).verify(batch=batch) == result

    body = chain.governance("viewer").get("/audit/verify").json()
    assert body == {"valid": True, "checked": 25, "lastSeq": 25, "lastHash": last["hash"], "firstBad": None}

    cli = process_on_sqlite(chain.database.url)("audit", "verify", "--database-url", chain.database.url)
    assert cli.returncode == 0, (cli.stdout, cli.stderr)
    assert cli.stdout.strip() == f"audit trail intact: 25 records, last seq 25 hash {last['hash']}"


def test_empty_trail_is_valid(database: Database) -> None:
    empty(database)
    assert AuditService(database).verify() == VerifyResult(checked=0, last_seq=0, last_hash=audit_chain.GENESIS)


def test_edited_middle_record(chain: Governed) -> None:
    _tamper(chain.database, text("UPDATE audit_log SET entity_name = 'innocent' WHERE seq = 13"))
    _assert_broken(chain, 13, "hash")


def test_edited_changes_of_a_middle_record(chain: Governed) -> None:
    forged = orjson.dumps({"after": {"description": "x"}, "before": {"description": "y"}}).decode()
    _tamper(chain.database, update(audit_log).where(_seq == 17).values(changes=forged))
    _assert_broken(chain, 17, "hash")


def test_edited_and_rehashed_record_breaks_the_next_link(chain: Governed) -> None:
    row = {**_row(chain.database, 13), "actor": "someone-else"}
    row["hash"] = audit_chain.record_hash(row)
    _tamper(chain.database, update(audit_log).where(_seq == 13).values(actor=row["actor"], hash=row["hash"]))
    _assert_broken(chain, 14, "prev_hash")


def test_deleted_middle_record(chain: Governed) -> None:
    _tamper(chain.database, text("DELETE FROM audit_log WHERE seq = 13"))
    result = _assert_broken(chain, 14, "gap", expected_seq=13)
    assert "record 13 is missing" in result.first_bad.message  # type: ignore[union-attr]


def test_deleted_run_of_records(chain: Governed) -> None:
    _tamper(chain.database, delete(audit_log).where(_seq.between(9, 11)))
    result = _assert_broken(chain, 12, "gap", expected_seq=9)
    assert "records 9..11 are missing" in result.first_bad.message  # type: ignore[union-attr]


def test_deleted_first_record(chain: Governed) -> None:
    _tamper(chain.database, text("DELETE FROM audit_log WHERE seq = 1"))
    _assert_broken(chain, 2, "gap", expected_seq=1)


def test_swapped_records(chain: Governed) -> None:
    db = chain.database
    first, second = _row(db, 8), _row(db, 15)
    columns = [c.name for c in audit_log.c if c.name != "seq"]
    _tamper(
        db,
        update(audit_log).where(_seq == 8).values({c: second[c] for c in columns}),
        update(audit_log).where(_seq == 15).values({c: first[c] for c in columns}),
    )
    _assert_broken(chain, 8, "prev_hash")


def test_renumbered_records(chain: Governed) -> None:
    """Moving a record to another seq (no gap left behind: the last record takes the place of a deleted one)."""
    _tamper(
        chain.database,
        text("DELETE FROM audit_log WHERE seq = 20"),
        text("UPDATE audit_log SET seq = 20 WHERE seq = 25"),
    )
    _assert_broken(chain, 20, "prev_hash")


def test_removing_the_last_record_needs_an_anchor(chain: Governed) -> None:
    """The chain alone cannot show that its tail is gone; the reported last seq and hash (the anchor an operator
    keeps elsewhere) can."""
    anchor = AuditService(chain.database).verify()
    _tamper(chain.database, text("DELETE FROM audit_log WHERE seq = 25"))
    after = AuditService(chain.database).verify()
    assert after.valid and (after.last_seq, after.last_hash) != (anchor.last_seq, anchor.last_hash)
    assert after.last_seq == 24
    noted = f"{anchor.last_seq}:{anchor.last_hash}"
    truncated = AuditService(chain.database).verify(anchor=(anchor.last_seq, anchor.last_hash))
    assert truncated.first_bad is not None and truncated.first_bad.kind == "truncated", truncated
    body = chain.governance("viewer").get("/audit/verify", params={"anchor": noted}).json()
    assert body["valid"] is False and body["firstBad"]["problem"] == "truncated", body
    run = invoke_cli("audit", "verify", "--anchor", noted, "--database-url", chain.database.url)
    assert run.returncode == 1 and "truncated" in run.stdout, (run.stdout, run.stderr)


def test_a_rewritten_and_rehashed_tail_is_caught_by_the_anchor(chain: Governed) -> None:
    """Someone with write access edits record 20 and re-hashes it and everything after: the chain is consistent
    again, but no longer holds the anchored record 22."""
    anchor = AuditService(chain.database).verify()
    assert anchor.valid and anchor.last_seq == 25
    twenty_two = _row(chain.database, 22)["hash"]
    with chain.database.write() as conn:
        prev = conn.execute(select(audit_log.c.hash).where(_seq == 19)).scalar_one()
        for seq in range(20, 26):
            row = dict(conn.execute(select(audit_log).where(_seq == seq)).mappings().one())
            row["actor"] = "someone-else" if seq == 20 else row["actor"]
            row["prev_hash"] = prev
            row["hash"] = prev = audit_chain.record_hash(row)
            conn.execute(
                audit_log.update()
                .where(_seq == seq)
                .values(actor=row["actor"], prev_hash=row["prev_hash"], hash=row["hash"])
            )
    svc = AuditService(chain.database)
    assert svc.verify().valid  # consistent on its own
    assert svc.verify(anchor=(25, anchor.last_hash)).first_bad.kind == "anchor"  # type: ignore[union-attr]
    assert svc.verify(anchor=(22, twenty_two)).first_bad.seq == 22  # type: ignore[union-attr]
    assert svc.verify(anchor=(19, _row(chain.database, 19)["hash"])).valid  # before the rewrite: intact
    bad = chain.governance("viewer").get("/audit/verify", params={"anchor": "22:" + "0" * 64})
    assert bad.json()["firstBad"]["problem"] == "anchor", bad.text
    assert chain.governance("viewer").get("/audit/verify", params={"anchor": "22:xyz"}).status_code == 400


def test_unfiltered_export_verifies_offline(chain: Governed) -> None:
    """Every hashed field is in the export, and re-encoding ``before``/``after`` canonically gives back the
    exact hashed text (floats, non-ASCII and escapes included)."""
    stream = io.BytesIO()
    assert AuditService(chain.database).export(stream) == 25
    lines = stream.getvalue().splitlines()
    assert len(lines) == 25
    prev = audit_chain.GENESIS
    for number, line in enumerate(lines, start=1):
        item = orjson.loads(line)
        record = {
            "seq": item["seq"],
            "time_ms": item["timeMs"],
            "actor": item["actor"],
            "via": item["via"],
            "action": item["action"],
            "entity_kind": item["entityKind"],
            "entity_id": None if item["entityId"] is None else int(item["entityId"]),
            "entity_name": item["entityName"],
            "changes": orjson.dumps(
                {"before": item["before"], "after": item["after"]}, option=orjson.OPT_SORT_KEYS
            ).decode(),
            "request_id": item["requestId"],
            "client": item["client"],
            "prev_hash": item["prevHash"],
        }
        assert item["seq"] == number and item["prevHash"] == prev
        assert audit_chain.record_hash(record) == item["hash"], item
        prev = item["hash"]
    created = orjson.loads(next(line for line in lines if b'"registered_model"' in line))
    assert created["after"]["customProperties"] == {"accuracy": 0.1, "note": 'héllo ✓ "q"\n'}


def test_garbage_in_a_record_is_reported_not_a_crash(chain: Governed) -> None:
    """Unparseable ``changes`` and an absurd time still give a 200 that points at the record."""
    _tamper(chain.database, update(audit_log).where(_seq == 5).values(changes="{not json", time_ms=10**17))
    _assert_broken(chain, 5, "hash")
    record = chain.governance("viewer").get("/audit/verify").json()["firstBad"]["record"]
    assert (record["changesText"], record["time"], record["timeMs"]) == ("{not json", None, 10**17)
    listed = chain.governance("viewer").get("/audit/records", params={"pageSize": "5"})
    assert listed.status_code == 200 and listed.json()["items"][-1]["changesText"] == "{not json"
