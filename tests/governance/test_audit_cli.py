"""``modelreg audit list`` and ``modelreg audit export`` against the test database (one process each, the other
calls in this process: tests/cli_runner.py): they select the same records as ``GET /audit/records`` and print them
in the same shape."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from cli_runner import invoke_cli, process_on_sqlite
from governance.conftest import Governed


def _ok(response: httpx.Response, status: int = 201) -> dict[str, Any]:
    assert response.status_code == status, (str(response.request.url), response.text)
    return response.json()


def _lines(stdout: str) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in stdout.splitlines() if line.strip()]


@pytest.fixture
def written(gov: Governed) -> dict[str, Any]:
    dev, admin = gov.registry("developer"), gov.governance("admin")
    m1 = _ok(dev.post("/registered_models", json={"name": "churn", "description": "a"}))
    m2 = _ok(dev.post("/registered_models", json={"name": "fraud"}))
    _ok(dev.patch(f"/registered_models/{m1['id']}", json={"description": "b"}), 200)
    _ok(admin.post(f"/registered_models/{m2['id']}/archive"), 200)
    items = gov.governance("viewer").get("/audit/records", params={"pageSize": "1000"}).json()["items"]
    return {"m1": m1, "m2": m2, "items": items, "url": gov.database.url}


def test_list_json_matches_the_rest_api(gov: Governed, written: dict[str, Any]) -> None:
    url, items = written["url"], written["items"]
    m1 = [i for i in items if i["entityKind"] == "registered_model" and i["entityId"] == written["m1"]["id"]]
    assert [i["action"] for i in m1] == ["create", "update"]

    entity = f"registered_model:{written['m1']['id']}"
    by_entity = process_on_sqlite(url)("audit", "list", "--json", "--entity", entity, "--database-url", url)
    assert by_entity.returncode == 0, by_entity.stderr
    assert _lines(by_entity.stdout) == m1[::-1]  # newest first by default

    args = ["--entity-kind", "registered_model", "--entity-id", written["m1"]["id"], "--action", "update"]
    by_kind = invoke_cli("audit", "list", "--json", "--oldest-first", *args, "--database-url", url)
    assert by_kind.returncode == 0, by_kind.stderr
    assert _lines(by_kind.stdout) == m1[1:]

    developer = [i for i in items if i["actor"] == "ai-developer"]
    since, until = developer[1]["time"], str(developer[-1]["timeMs"])  # ISO and epoch ms; until is exclusive
    window = invoke_cli(
        "audit", "list", "--json", "--actor", "ai-developer", "--since", since, "--until", until, "--limit", "1",
        "--database-url", url,
    )  # fmt: skip
    assert window.returncode == 0, window.stderr
    assert _lines(window.stdout) == [developer[-2]]


def test_list_table(gov: Governed, written: dict[str, Any]) -> None:
    result = invoke_cli("audit", "list", "--limit", "3", "--database-url", written["url"], env={"COLUMNS": "300"})
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("│")]
    newest = written["items"][::-1][:3]
    assert len(rows) == 3
    for row, item in zip(rows, newest, strict=True):
        cells = [c.strip() for c in row.strip("│").split("│")]
        assert cells[0] == str(item["seq"]) and cells[2] == item["actor"] and cells[4] == item["action"], cells
        assert cells[5] == f"{item['entityKind']}:{item['entityId']}", cells
    assert "description: a → b" in result.stdout
    assert "state: LIVE → ARCHIVED" in result.stdout


def test_export_to_a_file_and_to_stdout(gov: Governed, written: dict[str, Any], tmp_path: Path) -> None:
    url, items = written["url"], written["items"]
    target = tmp_path / "audit.jsonl"
    to_file = process_on_sqlite(url)("audit", "export", "--output", str(target), "--database-url", url)
    assert to_file.returncode == 0, to_file.stderr
    assert f"exported {len(items)} records" in to_file.stderr
    assert _lines(target.read_text()) == items

    filters = ["--action", "create", "--entity-kind", "registered_model"]
    creates = invoke_cli("audit", "export", *filters, "--database-url", url)
    assert creates.returncode == 0, creates.stderr
    expected = [i for i in items if i["action"] == "create" and i["entityKind"] == "registered_model"]
    assert [i["entityName"] for i in expected] == ["churn", "fraud"]
    assert _lines(creates.stdout) == expected


def test_bad_options_exit_2_with_a_message(gov: Governed, tmp_path: Path) -> None:
    url = gov.database.url
    for args, fragment in (
        (["list", "--entity", "registered_model"], "KIND:ID"),
        (["export", "--output", str(tmp_path / "missing" / "x.jsonl")], "cannot write"),
    ):
        result = invoke_cli("audit", *args, "--database-url", url)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert fragment in result.stderr, (args, result.stderr)
    unmigrated = invoke_cli("audit", "verify", "--database-url", f"sqlite:///{tmp_path / 'empty.db'}")
    assert unmigrated.returncode == 2 and "modelreg db upgrade" in unmigrated.stderr, unmigrated.stderr
