"""The audit trail as written by REST calls, and read back through ``GET /audit/records``.

Every write appends exactly one record per changed entity (stamped with the token's user, the request id and the
client address), nothing else appends, and the query endpoint filters and pages them by seq.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from governance.conftest import Governed
from modelreg.db.database import Database
from modelreg.services.audit import AuditService

pytestmark = pytest.mark.usefixtures("as_system")  # the tests call the services directly


def _created(response: httpx.Response, status: int = 201) -> dict[str, Any]:
    assert response.status_code == status, (response.request.method, str(response.request.url), response.text)
    return response.json()


def _bad_request(response: httpx.Response, *fragments: str) -> None:
    assert response.status_code == 400, (str(response.request.url), response.text)
    body = response.json()
    assert body["code"] == "Bad Request" and set(body) == {"code", "message"}, body
    for fragment in fragments:
        assert fragment in body["message"], (fragment, body)


def _last_seq(db: Database) -> int:
    records, _ = AuditService(db).query(page_size=1, newest_first=True)
    return records[0]["seq"] if records else 0


def _since(db: Database, seq: int) -> list[dict[str, Any]]:
    """Every record after ``seq``, read from the database (not through the endpoint under test)."""
    out, token = [], None
    while True:
        page, token = AuditService(db).query(page_size=1000, page_token=token)
        out.extend(r for r in page if r["seq"] > seq)
        if not token:
            return out


def _changes(record: dict[str, Any]) -> tuple[Any, Any]:
    parsed = orjson.loads(record["changes"])
    return parsed["before"], parsed["after"]


def test_create_and_update_append_one_record_each_with_who_and_what(gov: Governed) -> None:
    dev, db = gov.registry("developer"), gov.database
    start = _last_seq(db)
    body = {"name": "fraud", "description": "a", "owner": "alice", "customProperties": _props(team="risk")}
    model = _created(dev.post("/registered_models", json=body, headers={"X-Request-Id": "req-create-1"}))
    (created,) = _since(db, start)
    assert created["seq"] == start + 1
    assert (created["action"], created["entity_kind"], created["entity_id"], created["entity_name"]) == (
        "create",
        "registered_model",
        int(model["id"]),
        "fraud",
    )
    assert (created["actor"], created["via"], created["request_id"], created["client"]) == (
        "ai-developer",
        "token",
        "req-create-1",
        "127.0.0.1",
    )
    before, after = _changes(created)
    assert before is None
    assert after["name"] == "fraud" and after["description"] == "a" and after["owner"] == "alice"
    assert after["customProperties"] == {"team": "risk"}

    # owner is sent unchanged: only description and the changed custom property are recorded
    patch = {"description": "b", "owner": "alice", "customProperties": _props(team="fraud-ops")}
    _created(dev.patch(f"/registered_models/{model['id']}", json=patch, headers={"X-Request-Id": "req-upd"}), 200)
    (updated,) = _since(db, start + 1)
    assert updated["seq"] == start + 2
    assert (updated["action"], updated["entity_id"], updated["request_id"], updated["actor"]) == (
        "update",
        int(model["id"]),
        "req-upd",
        "ai-developer",
    )
    assert _changes(updated) == (
        {"description": "a", "customProperties": {"team": "risk"}},
        {"description": "b", "customProperties": {"team": "fraud-ops"}},
    )


def test_archive_restore_delete_record_the_cascade(gov: Governed) -> None:
    dev, admin, db = gov.registry("developer"), gov.governance("admin"), gov.database
    model = _created(dev.post("/registered_models", json={"name": "m"}))
    versions = [
        _created(dev.post("/model_versions", json={"name": f"v{i}", "registeredModelId": model["id"]})) for i in (1, 2)
    ]
    version_ids = sorted(int(v["id"]) for v in versions)

    start = _last_seq(db)
    _created(admin.post(f"/registered_models/{model['id']}/archive", headers={"X-Request-Id": "arch-1"}), 200)
    archived = _since(db, start)
    assert [r["seq"] for r in archived] == [start + 1, start + 2, start + 3]
    assert {(r["actor"], r["via"], r["request_id"], r["action"]) for r in archived} == {
        ("ai-admin", "token", "arch-1", "archive")
    }
    assert (archived[0]["entity_kind"], archived[0]["entity_id"]) == ("registered_model", int(model["id"]))
    assert _changes(archived[0]) == ({"state": "LIVE"}, {"state": "ARCHIVED"})
    assert sorted(r["entity_id"] for r in archived[1:]) == version_ids
    for record in archived[1:]:
        assert record["entity_kind"] == "model_version"
        before, after = _changes(record)
        assert before["state"] == "LIVE" and after["state"] == "ARCHIVED"

    _created(admin.post(f"/registered_models/{model['id']}/restore"), 200)
    restored = _since(db, start + 3)
    assert [(r["action"], r["entity_kind"]) for r in restored] == [
        ("restore", "registered_model"),
        ("restore", "model_version"),
        ("restore", "model_version"),
    ]

    _created(admin.post(f"/registered_models/{model['id']}/archive"), 200)
    start = _last_seq(db)
    _created(admin.delete(f"/registered_models/{model['id']}"), 200)
    tombstones = _since(db, start)
    assert sorted((r["entity_kind"], r["entity_id"]) for r in tombstones) == sorted(
        [("registered_model", int(model["id"]))] + [("model_version", i) for i in version_ids]
    )
    for record in tombstones:
        before, after = _changes(record)
        assert record["action"] == "delete" and after is None and before["id"] == record["entity_id"]
    listed = admin.get("/audit/records", params={"action": "delete"}).json()["items"]
    assert [(r["seq"], r["before"]["name"], r["after"]) for r in listed] == [
        (r["seq"], r["entity_name"], None) for r in tombstones
    ]


def test_reads_and_rejected_writes_append_nothing(gov: Governed) -> None:
    dev, viewer, db = gov.registry("developer"), gov.registry("viewer"), gov.database
    model = _created(dev.post("/registered_models", json={"name": "m"}))
    start = _last_seq(db)
    audit = gov.governance("viewer")
    for response in (
        dev.get("/registered_models"),
        dev.get(f"/registered_models/{model['id']}"),
        dev.get("/registered_models", params={"filterQuery": "name = 'm'"}),
        audit.get("/audit/records"),
        audit.get("/audit/verify"),
        audit.get("/whoami"),
    ):
        assert response.status_code == 200, response.text
    assert dev.post("/registered_models", json={"name": "m"}).status_code == 409  # duplicate: rolled back
    assert dev.post("/registered_models", json={"name": "x", "bogus": 1}).status_code == 400
    assert viewer.post("/registered_models", json={"name": "y"}).status_code == 403
    assert gov.governance("developer").post(f"/registered_models/{model['id']}/archive").status_code == 403
    assert _since(db, start) == []


# --- GET /audit/records -----------------------------------------------------------------------------------------


@pytest.fixture
def history(gov: Governed) -> dict[str, Any]:
    """Writes by three users; returns the created ids and every record after the fixture's own setup."""
    dev, group_dev, admin = gov.registry("developer"), gov.registry("group-developer"), gov.governance("admin")
    start = _last_seq(gov.database)
    m1 = _created(dev.post("/registered_models", json={"name": "m1", "description": "a"}))
    m2 = _created(dev.post("/registered_models", json={"name": "m2"}))
    m3 = _created(group_dev.post("/registered_models", json={"name": "m3"}))
    _created(dev.patch(f"/registered_models/{m1['id']}", json={"description": "b"}), 200)
    _created(admin.post(f"/registered_models/{m2['id']}/archive"), 200)
    v1 = _created(group_dev.post("/model_versions", json={"name": "v1", "registeredModelId": m1["id"]}))
    records = gov.governance("viewer").get("/audit/records", params={"pageSize": "1000"}).json()["items"]
    return {"m1": m1, "m2": m2, "m3": m3, "v1": v1, "records": [r for r in records if r["seq"] > start]}


def test_record_wire_shape(gov: Governed, history: dict[str, Any]) -> None:
    first = history["records"][0]
    assert set(first) == {
        "seq",
        "time",
        "timeMs",
        "actor",
        "via",
        "action",
        "entityKind",
        "entityId",
        "entityName",
        "before",
        "after",
        "requestId",
        "client",
        "hash",
        "prevHash",
    }
    assert first["entityId"] == history["m1"]["id"] and isinstance(first["entityId"], str)
    assert (first["actor"], first["action"], first["entityKind"], first["before"]) == (
        "ai-developer",
        "create",
        "registered_model",
        None,
    )
    assert first["after"]["name"] == "m1"
    assert isinstance(first["seq"], int) and isinstance(first["timeMs"], int)
    assert first["time"].endswith("Z") and len(first["time"]) == len("2024-05-01T12:00:00.123Z")
    assert len(first["hash"]) == 64 and len(first["requestId"]) == 32  # no X-Request-Id sent: a generated one
    assert [r["prevHash"] for r in history["records"][1:]] == [r["hash"] for r in history["records"][:-1]]


def test_query_by_entity_actor_and_action(gov: Governed, history: dict[str, Any]) -> None:
    audit = gov.governance("viewer")

    def seqs(**params: str) -> list[int]:
        body = _created(audit.get("/audit/records", params=params), 200)
        assert body["size"] == len(body["items"]) and body["nextPageToken"] == ""
        return [r["seq"] for r in body["items"]]

    by_seq = {r["seq"]: r for r in history["records"]}
    m1 = seqs(entityKind="registered_model", entityId=history["m1"]["id"])
    assert [(by_seq[s]["action"], by_seq[s]["entityName"]) for s in m1] == [("create", "m1"), ("update", "m1")]
    v1 = seqs(entityKind="model_version", entityId=history["v1"]["id"])
    assert [by_seq[s]["entityName"] for s in v1] == ["v1"]
    assert seqs(entityKind="model_version", entityId="999999") == []

    group_dev = seqs(actor="group-dev")
    assert [(by_seq[s]["entityName"]) for s in group_dev] == ["m3", "v1"]
    assert seqs(actor="ai-developer", entityKind="registered_model", action="update") == m1[1:]
    archived = seqs(action="archive")
    assert [(by_seq[s]["actor"], by_seq[s]["entityName"]) for s in archived] == [("ai-admin", "m2")]
    assert seqs(entityKind="registered_model", order="desc") == sorted(
        (s for s, r in by_seq.items() if r["entityKind"] == "registered_model"), reverse=True
    )


def test_query_by_time_range(gov: Governed, history: dict[str, Any]) -> None:
    audit = gov.governance("viewer")
    records = history["records"]
    assert len({r["timeMs"] for r in records}) == len(records)  # one process: times strictly increase
    lo, hi = records[1], records[4]

    def seqs(**params: str) -> list[int]:
        return [r["seq"] for r in _created(audit.get("/audit/records", params=params), 200)["items"]]

    # since is inclusive, until exclusive; ISO-8601 (with Z, with an offset) and epoch ms both work
    assert seqs(since=lo["time"], until=str(hi["timeMs"])) == [r["seq"] for r in records[1:4]]
    offset = lo["time"].replace("Z", "+00:00")
    assert seqs(since=offset, until=hi["time"]) == [r["seq"] for r in records[1:4]]
    assert seqs(since=str(records[-1]["timeMs"])) == [records[-1]["seq"]]
    assert seqs(until=str(records[0]["timeMs"] + 1), actor="ai-developer") == [records[0]["seq"]]
    assert seqs(since=str(records[-1]["timeMs"] + 1)) == []


def test_pagination_in_both_orders(gov: Governed) -> None:
    dev, audit = gov.registry("developer"), gov.governance("viewer")
    for i in range(13):
        _created(dev.post("/registered_models", json={"name": f"page-{i}"}))

    def all_seqs() -> list[int]:
        return [r["seq"] for r in audit.get("/audit/records", params={"pageSize": "1000"}).json()["items"]]

    for order in ("asc", "desc"):
        everything = all_seqs()
        assert everything == list(range(1, len(everything) + 1))  # gap-free from 1 (the fixture emptied the trail)
        seen, token, pages = [], "", 0
        while True:
            params = {"pageSize": "4", "order": order, **({"nextPageToken": token} if token else {})}
            body = _created(audit.get("/audit/records", params=params), 200)
            pages += 1
            assert body["size"] == len(body["items"]) <= 4
            seen.extend(r["seq"] for r in body["items"])
            token = body["nextPageToken"]
            if not token:
                break
            if pages == 2:  # appended while paging: page boundaries stay put, the new record comes last (asc)
                _created(dev.post("/registered_models", json={"name": f"during-{order}"}))
        assert pages >= 6
        appended = len(everything) + 1
        assert seen == ([*everything, appended] if order == "asc" else everything[::-1])

    filtered = audit.get("/audit/records", params={"pageSize": "5", "actor": "ai-developer"}).json()
    assert filtered["size"] == 5 and filtered["nextPageToken"]
    params = {"pageSize": "1000", "actor": "ai-developer", "nextPageToken": filtered["nextPageToken"]}
    rest = audit.get("/audit/records", params=params).json()
    assert all(r["actor"] == "ai-developer" for r in filtered["items"] + rest["items"])
    assert len(filtered["items"]) + len(rest["items"]) == 15 and rest["nextPageToken"] == ""


def test_bad_parameters_are_400(gov: Governed) -> None:
    audit = gov.governance("viewer")
    for i in range(2):
        _created(gov.registry("developer").post("/registered_models", json={"name": f"m{i}"}))
    asc_token = audit.get("/audit/records", params={"pageSize": "1"}).json()["nextPageToken"]
    assert asc_token
    cases = [
        ({"since": "yesterday"}, "since"),
        ({"until": "2024-13-45"}, "until"),
        ({"order": "sideways"}, "order"),
        ({"pageSize": "0"}, "pageSize"),
        ({"pageSize": "ten"}, "pageSize"),
        ({"nextPageToken": "not-a-token"}, "nextPageToken"),
        ({"nextPageToken": asc_token, "order": "desc"}, "order=asc"),
        ({"entityKind": "model_version", "entityId": "abc"}, "entityId"),
        ({"entityId": "1"}, "entityKind"),
        ({"entityKind": "Model Version"}, "entityKind"),
        ({"action": "DROP TABLE"}, "action"),
    ]
    for params, fragment in cases:
        _bad_request(audit.get("/audit/records", params=params), fragment)


def test_every_role_may_read_the_trail_but_only_with_credentials(gov: Governed) -> None:
    for caller in ("viewer", "developer", "admin", "group-developer"):
        assert gov.governance(caller).get("/audit/records").status_code == 200
        assert gov.governance(caller).get("/audit/verify").status_code == 200
    assert gov.governance("nobody").get("/audit/records").status_code == 403
    assert gov.governance("nobody").get("/audit/verify").status_code == 403
    assert gov.governance(None).get("/audit/records").status_code == 401


def _props(**values: str) -> dict[str, Any]:
    return {k: {"metadataType": "MetadataStringValue", "string_value": v} for k, v in values.items()}
