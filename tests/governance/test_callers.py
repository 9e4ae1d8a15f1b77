"""No ambient admin: without a caller, a service that checks a permission or writes an audited change fails loudly
(``NoCaller``, a 500 over HTTP) and commits nothing; workers act as a named ``system:<component>`` principal."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from conftest import ServerThread, empty
from modelreg.app import create_app
from modelreg.auth import context
from modelreg.auth.principal import Permission
from modelreg.db.database import Database
from modelreg.db.tables import audit_log, registered_models
from modelreg.services import entities as e
from modelreg.services.audit import AuditService
from modelreg.services.registry import RegistryService
from modelreg.settings import Settings


@pytest.fixture
def db(database: Database) -> Iterator[Database]:
    empty(database)
    yield database


def counts(db: Database) -> tuple[int, int]:
    with db.read() as conn:
        models = conn.execute(select(func.count()).select_from(registered_models)).scalar_one()
        records = conn.execute(select(func.count()).select_from(audit_log)).scalar_one()
    return int(models), int(records)


def in_thread(target: Callable[[], None]) -> BaseException | None:
    """Run ``target`` in a new thread; what it raised, if anything."""
    failure: list[BaseException] = []

    def run() -> None:
        try:
            target()
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    return failure[0] if failure else None


def test_without_a_caller_there_is_no_default_and_require_is_not_a_403() -> None:
    with pytest.raises(context.NoCaller, match="no caller"):
        context.current()
    with pytest.raises(context.NoCaller):
        context.require(Permission.READ)
    assert not issubclass(context.NoCaller, PermissionError)


def test_a_write_without_a_caller_fails_loudly_and_commits_nothing(db: Database) -> None:
    with pytest.raises(context.NoCaller):
        RegistryService(db).create(e.REGISTERED_MODEL, {"name": "orphan"}, {})
    assert counts(db) == (0, 0)


def test_a_thread_does_not_inherit_the_caller_a_worker_acts_as_its_system_principal(db: Database) -> None:
    registry = RegistryService(db)
    with context.acting_as(context.system("tests")):
        failure = in_thread(lambda: registry.create(e.REGISTERED_MODEL, {"name": "from-a-thread"}, {}))
        assert isinstance(failure, context.NoCaller)
        assert counts(db) == (0, 0)

        def work() -> None:
            registry.create(e.REGISTERED_MODEL, {"name": "from-a-worker"}, {})

        assert in_thread(context.worker("tests-worker", work)) is None
        (record,), _ = AuditService(db).query()
    assert (record["actor"], record["via"], record["entity_name"]) == ("system:tests-worker", "system", "from-a-worker")


def test_system_principals_are_named_admins() -> None:
    ctx = context.system("upload-sweep")
    assert ctx.principal.user == "system:upload-sweep" and ctx.principal.identity.method == "system"
    assert ctx.principal.can(Permission.MANAGE)
    for bad in ("", "Upload", "a b", "x" * 49):
        with pytest.raises(ValueError, match="invalid system component"):
            context.system(bad)


def test_a_surface_outside_the_api_that_forgets_its_caller_answers_500_and_logs_why(
    db: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(Settings(database_url=db.url, data_dir=tmp_path), Database(db.url))
    registry: RegistryService = app.state.registry

    @app.post("/elsewhere")
    def elsewhere() -> dict[str, int]:  # a new surface, not under /api/: no middleware sets the caller
        return {"id": registry.create(e.REGISTERED_MODEL, {"name": "sneaky"}, {}).row["id"]}

    with ServerThread(app) as server:
        response = httpx.post(f"{server.url}/elsewhere", timeout=30)
    assert response.status_code == 500
    assert response.json() == {"code": "Internal Server Error", "message": "internal server error"}
    assert "unexpected error" in caplog.text and "NoCaller: no caller" in caplog.text
    assert counts(db) == (0, 0)
