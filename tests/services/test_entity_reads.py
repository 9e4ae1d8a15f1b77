"""Entities read with their custom properties in one statement (issue 17): a get-by-id, a list page and a find give
the row and the properties as stored, typed as before, whatever the entity holds (none, one, hundreds of properties,
64 KB texts), on every backend; and each of them is one SELECT."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Connection, event, select

from conftest import empty
from modelreg.db.database import Database
from modelreg.db.pagination import PageRequest
from modelreg.db.tables import properties
from modelreg.services import entities as e
from modelreg.services import properties as props
from modelreg.services.properties import PropValue
from modelreg.services.registry import RegistryService

pytestmark = pytest.mark.usefixtures("as_system")

TYPED = {
    "b_true": PropValue("bool", True),
    "b_false": PropValue("bool", False),
    "big": PropValue("int", 2**62 + 1),
    "neg": PropValue("int", -7),
    "d": PropValue("double", 0.30000000000000004),
    "tiny": PropValue("double", -1e-300),
    "s": PropValue("string", "é ünïcode"),
    "empty": PropValue("string", ""),
    "st": PropValue("struct", '{"a": [1, 2]}'),
    "p": PropValue("proto", "AQI="),
}
# Names whose order differs between case-blind, byte and "natural" sorting.
AWKWARD_NAMES = ["b", "B", "_x", "a b", "a", "Z", "é", "10", "9", "a_"]
LONG = 64_000


@pytest.fixture
def registry(database: Database) -> Iterator[RegistryService]:
    empty(database)
    yield RegistryService(database)
    empty(database)


def stored(conn: Connection, kind: e.Kind, id_: int) -> tuple[dict[str, Any], list[str]]:
    """The row as SQLAlchemy reads it, and the property names in the database's own order of them."""
    t = kind.table
    row = dict(conn.execute(select(t).where(t.c.id == id_)).mappings().one())
    p = properties.c
    names = select(p.name).where(p.owner_kind == kind.name, p.owner_id == id_).order_by(p.name)
    return row, list(conn.execute(names).scalars())


def assert_as_stored(database: Database, kind: e.Kind, record: e.Record) -> None:
    with database.read() as conn:
        row, names = stored(conn, kind, record.row["id"])
        loaded = props.load(conn, kind.name, [record.row["id"], 0])[record.row["id"]]  # the two-statement reader
    assert record.row == row and list(record.row) == list(row)
    assert [type(v) for v in record.row.values()] == [type(v) for v in row.values()]
    own = {k: v for k, v in record.props.items() if k != "Lifecycle"}
    assert list(own) == names and own == loaded
    assert [type(v.value) for v in own.values()] == [type(loaded[k].value) for k in names]


def test_a_get_reads_the_row_and_every_property_typed_as_stored(registry: RegistryService) -> None:
    model = registry.create(e.REGISTERED_MODEL, {"name": "m", "readme": "r" * LONG, "logo": "l" * 100}, TYPED)
    version = registry.create(e.MODEL_VERSION, {"name": "v", "registered_model_id": model.row["id"]}, {})
    artifact = registry.create(
        e.ARTIFACT, {"name": "a", "artifact_type": "model-artifact", "uri": "s3://b/" + "k" * LONG}, {"x": TYPED["d"]}
    )
    for kind, created in ((e.REGISTERED_MODEL, model), (e.MODEL_VERSION, version), (e.ARTIFACT, artifact)):
        got = registry.get(kind, created.row["id"])
        assert got.props == created.props
        assert_as_stored(registry.db, kind, got)
    got = registry.get(e.REGISTERED_MODEL, model.row["id"])
    assert got.props == TYPED and [type(v.value) for v in got.props.values()] == [
        type(TYPED[k].value) for k in got.props
    ]
    assert got.row["readme"] == "r" * LONG and registry.get(e.MODEL_VERSION, version.row["id"]).props == {}


def test_properties_come_in_the_databases_order_of_their_names(registry: RegistryService) -> None:
    values = {name: PropValue("string", name) for name in AWKWARD_NAMES}
    model = registry.create(e.REGISTERED_MODEL, {"name": "m"}, values)
    got = registry.get(e.REGISTERED_MODEL, model.row["id"])
    assert got.props == values
    assert_as_stored(registry.db, e.REGISTERED_MODEL, got)
    (listed,), _ = registry.list_entities(e.REGISTERED_MODEL, PageRequest())
    assert list(listed.props) == list(got.props)


def test_a_versions_stage_still_shows_after_its_properties(registry: RegistryService) -> None:
    model = registry.create(e.REGISTERED_MODEL, {"name": "m"}, {})
    values = {"z": PropValue("int", 1), "a": PropValue("int", 2)}
    version = registry.create(e.MODEL_VERSION, {"name": "v", "registered_model_id": model.row["id"]}, values)
    with registry.db.write() as conn:
        conn.execute(e.MODEL_VERSION.table.update().values(stage="production"))
    got = registry.get(e.MODEL_VERSION, version.row["id"])
    assert list(got.props) == ["a", "z", "Lifecycle"] and got.props["Lifecycle"] == PropValue("string", "production")


def test_a_missing_entity_is_not_found_even_with_stray_properties(registry: RegistryService) -> None:
    model = registry.create(e.REGISTERED_MODEL, {"name": "m"}, {})
    with registry.db.write() as conn:
        props.add(conn, e.REGISTERED_MODEL.name, model.row["id"] + 1, {"left": PropValue("int", 1)})
    with pytest.raises(e.NotFound):
        registry.get(e.REGISTERED_MODEL, model.row["id"] + 1)


def walk(registry: RegistryService, page: PageRequest, **kw: Any) -> list[e.Record]:
    out: list[e.Record] = []
    while True:
        records, token = registry.list_entities(e.REGISTERED_MODEL, page, **kw)
        out += records
        if not token:
            return out
        page = PageRequest.parse(page.size, page.order_by, "DESC" if page.descending else "ASC", token)


@pytest.mark.parametrize(("order", "sort"), [("ID", "ASC"), ("LAST_UPDATE_TIME", "DESC"), ("CREATE_TIME", "ASC")])
def test_pages_hold_whole_entities_in_order_whatever_their_properties(
    registry: RegistryService, order: str, sort: str
) -> None:
    """Entities with none, one and hundreds of properties, with equal sort values (the id breaks the tie), on
    pages that end inside and after the wide ones: every entity once, whole, in the page order."""
    counts = [0, 3, 300, 0, 1, 0, 250, 2, 0, 0, 1]
    made = []
    for n, count in enumerate(counts):
        values = {f"p{i:03}": PropValue("int", i) for i in range(count)}
        made.append(registry.create(e.REGISTERED_MODEL, {"name": f"m{n}", "description": "d" * LONG}, values))
    with registry.db.write() as conn:  # three timestamps for eleven models: ties on the sort column
        for n, record in enumerate(made):
            conn.execute(
                e.REGISTERED_MODEL.table.update()
                .where(e.REGISTERED_MODEL.table.c.id == record.row["id"])
                .values(create_time=n % 3, last_update_time=n % 3)
            )
    column = {"ID": "id", "LAST_UPDATE_TIME": "last_update_time", "CREATE_TIME": "create_time"}[order]
    with registry.db.read() as conn:
        expected_rows = [stored(conn, e.REGISTERED_MODEL, r.row["id"])[0] for r in made]
    expected_rows.sort(key=lambda row: (row[column], row["id"]), reverse=sort == "DESC")
    for size in (1, 2, 4, len(counts), 100):
        records = walk(registry, PageRequest.parse(size, order, sort))
        assert [r.row for r in records] == expected_rows, size
        assert [len(r.props) for r in records] == [counts[int(row["name"][1:])] for row in expected_rows]
        for record in records:
            assert record.props == {f"p{i:03}": PropValue("int", i) for i in range(len(record.props))}


def test_filtered_pages_and_finds_read_properties_of_the_matches_only(registry: RegistryService) -> None:
    for n in range(6):
        framework = "onnx" if n % 2 else "torch"
        registry.create(
            e.REGISTERED_MODEL,
            {"name": f"m{n}"},
            {"framework": PropValue("string", framework), "n": PropValue("int", n)},
        )
    records, token = registry.list_entities(e.REGISTERED_MODEL, PageRequest(size=2), "framework = 'onnx'")
    assert [r.row["name"] for r in records] == ["m1", "m3"] and token
    assert [r.props["n"].value for r in records] == [1, 3]
    rest, token = registry.list_entities(e.REGISTERED_MODEL, PageRequest.parse(2, None, None, token), "n > 2")
    assert [r.row["name"] for r in rest] == ["m4", "m5"] and token == ""  # the token holds the position only
    found = registry.find(e.REGISTERED_MODEL, "m4", None)
    assert found.props == {"framework": PropValue("string", "torch"), "n": PropValue("int", 4)}
    assert_as_stored(registry.db, e.REGISTERED_MODEL, found)
    with pytest.raises(e.NotFound):
        registry.find(e.REGISTERED_MODEL, "m9", None)


# --- statements, counted where the driver sends them ---------------------------------------------------------------


def _counting(backend: str, dbapi_connection: Any, sent: list[str]) -> None:
    """Make ``dbapi_connection`` report each statement it sends: SQLite's trace callback (what it runs, however it
    was sent), and cursors of the driver's own classes that note their statements on the servers."""
    if backend == "sqlite":
        dbapi_connection.set_trace_callback(sent.append)
        return
    if backend == "postgresql":
        base: Any = type(dbapi_connection.cursor())

        class Cursor(base):  # type: ignore[misc,valid-type]
            def execute(self, query: Any, *args: Any, **kwargs: Any) -> Any:
                sent.append(str(query))
                return super().execute(query, *args, **kwargs)

        dbapi_connection.cursor_factory = Cursor
        return

    class MariaCursor(dbapi_connection.cursorclass):  # type: ignore[misc,name-defined]
        def execute(self, query: Any, args: Any = None) -> Any:
            sent.append(str(query))
            return super().execute(query, args)

    dbapi_connection.cursorclass = MariaCursor


@pytest.fixture
def counted(database: Database) -> Iterator[tuple[RegistryService, list[str]]]:
    """A registry on the session's database whose connections note every statement they send."""
    empty(database)
    db = Database(database.url)
    sent: list[str] = []

    @event.listens_for(db.engine, "connect")
    def count(dbapi_connection: Any, _record: Any) -> None:
        _counting(db.backend if db.backend != "mysql" else "mariadb", dbapi_connection, sent)

    yield RegistryService(db), sent
    db.dispose()
    empty(database)


def selects(statements: list[str]) -> list[str]:
    return [s for s in statements if s.lstrip("( \n").upper().startswith(("SELECT", "WITH"))]


def test_a_get_a_page_and_a_find_are_one_select_each(counted: tuple[RegistryService, list[str]]) -> None:
    """One round trip each on the server databases. SQLite answers in process, where a page's second statement
    costs less than the joined one: it may take two there."""
    registry, sent = counted
    model = registry.create(e.REGISTERED_MODEL, {"name": "m"}, {"a": PropValue("int", 1), "b": PropValue("int", 2)})
    registry.create(e.REGISTERED_MODEL, {"name": "n"}, {})
    calls = {
        "get": lambda: registry.get(e.REGISTERED_MODEL, model.row["id"]),
        "page": lambda: registry.list_entities(e.REGISTERED_MODEL, PageRequest(size=1), "a = 1 OR name = 'n'"),
        "find": lambda: registry.find(e.REGISTERED_MODEL, "m", None),
    }
    for name, call in calls.items():
        sent.clear()
        call()
        allowed = 2 if name == "page" and registry.db.backend == "sqlite" else 1
        assert 1 <= len(selects(sent)) <= allowed, (name, sent)
