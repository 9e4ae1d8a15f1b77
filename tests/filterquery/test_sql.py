"""Filters run against a real database: which rows each query selects.

SQLite always runs. PostgreSQL and MariaDB run too when ``MODELREG_TEST_POSTGRES_URL`` /
``MODELREG_TEST_MARIADB_URL`` point at a scratch database (its registry tables are created and dropped).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from filterquery_strategies import expressions
from hypothesis import HealthCheck, given, settings
from sqlalchemy import Connection, Engine, Table, create_engine, event, insert, select
from sqlalchemy.dialects import mysql, postgresql

from modelreg.db import tables
from modelreg.filterquery import (
    ARTIFACT,
    MODEL_VERSION,
    REGISTERED_MODEL,
    FilterTypeError,
    Target,
    artifact_target,
    compile_filter,
    to_where,
)
from modelreg.filterquery.nodes import Expr

METRIC = artifact_target("metric")
PARAMETER = artifact_target("parameter")
MODEL_ARTIFACT = artifact_target("model-artifact")


def _sqlite_engine() -> Engine:
    engine = create_engine("sqlite://")

    @event.listens_for(engine, "connect")
    def _case_sensitive_like(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA case_sensitive_like = ON")

    return engine


_BACKENDS = {
    "sqlite": lambda: _sqlite_engine(),
    "postgresql": lambda: create_engine(os.environ["MODELREG_TEST_POSTGRES_URL"]),
    "mariadb": lambda: create_engine(os.environ["MODELREG_TEST_MARIADB_URL"]),
}
_BACKEND_ENV = {"postgresql": "MODELREG_TEST_POSTGRES_URL", "mariadb": "MODELREG_TEST_MARIADB_URL"}


def _rows(times: int, **columns: Any) -> dict[str, Any]:
    return {"create_time": times, "last_update_time": times, **columns}


def _insert(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    for row in rows:  # one by one: the rows set different columns
        conn.execute(insert(table).values(row))


def _populate(engine: Engine) -> None:
    tables.metadata.create_all(engine)
    with engine.begin() as conn:
        _insert(
            conn,
            tables.registered_models,
            [
                _rows(1000, id=1, name="alpha", state="LIVE", owner="alice", library_name="transformers",
                      description="First model"),
                _rows(2000, id=2, name="Beta", state="LIVE", owner="bob"),
                _rows(3000, id=3, name="gamma_50%", state="ARCHIVED", external_id="ext-3"),
                _rows(4000, id=4, name="delta", state="LIVE", owner="alice"),
            ],
        )  # fmt: skip
        _insert(
            conn,
            tables.model_versions,
            [
                _rows(1100, id=10, registered_model_id=1, name="v1", state="LIVE", author="alice"),
                _rows(1200, id=11, registered_model_id=1, name="v2", state="ARCHIVED"),
                _rows(2100, id=12, registered_model_id=2, name="v1", state="LIVE"),
            ],
        )
        _insert(
            conn,
            tables.artifacts,
            [
                _rows(5000, id=20, artifact_type="metric", name="accuracy", state="LIVE", number_value=0.9,
                      experiment_run_id=5, step=1),
                _rows(5001, id=21, artifact_type="metric", name="loss", state="LIVE", number_value=0.1,
                      experiment_run_id=7, step=2),
                _rows(5002, id=22, artifact_type="parameter", name="optimizer", state="LIVE", string_value="adam",
                      experiment_run_id=5, parameter_type="string"),
                _rows(5003, id=23, artifact_type="model-artifact", name="model", state="LIVE", uri="s3://b/m",
                      model_format_name="onnx"),
                _rows(5004, id=24, artifact_type="parameter", name="lr", state="LIVE", string_value="0.01",
                      experiment_run_id=9),
            ],
        )  # fmt: skip

        def prop(kind: str, owner: int, name: str, value_type: str, **value: Any) -> dict[str, Any]:
            empty = {"string_value": None, "int_value": None, "double_value": None, "bool_value": None}
            return {"owner_kind": kind, "owner_id": owner, "name": name, "value_type": value_type, **empty, **value}

        rm = "registered_models"
        _insert(
            conn,
            tables.properties,
            [
                prop(rm, 1, "framework", "string", string_value="pytorch"),
                prop(rm, 1, "accuracy", "double", double_value=0.97),
                prop(rm, 1, "epochs", "int", int_value=10),
                prop(rm, 1, "enabled", "bool", bool_value=True),
                prop(rm, 1, "mlflow.source.type", "string", string_value="notebook"),
                prop(rm, 2, "framework", "string", string_value="TensorFlow"),
                prop(rm, 2, "accuracy", "double", double_value=1.0),
                prop(rm, 2, "epochs", "int", int_value=3),
                prop(rm, 2, "enabled", "bool", bool_value=False),
                prop(rm, 3, "framework", "string", string_value="jax"),
                prop(rm, 3, "accuracy", "double", double_value=0.5),
                # same owner ids, other kinds: must never leak into registered model results
                prop("model_versions", 4, "framework", "string", string_value="pytorch"),
                prop("model_versions", 10, "framework", "string", string_value="pytorch"),
                prop("artifacts", 20, "framework", "string", string_value="pytorch"),
            ],
        )


@pytest.fixture(scope="module", params=["sqlite", *(name for name, var in _BACKEND_ENV.items() if os.environ.get(var))])
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    backend = request.param
    engine = _BACKENDS[backend]()
    tables.metadata.drop_all(engine)
    _populate(engine)
    yield engine
    tables.metadata.drop_all(engine)
    engine.dispose()


def ids(engine: Engine, target: Target, text: str | None) -> set[int]:
    where = compile_filter(text, target)
    statement = select(target.table.c.id)
    if where is not None:
        statement = statement.where(where)
    with engine.connect() as conn:
        return set(conn.scalars(statement))


ALL_MODELS = {1, 2, 3, 4}

CASES: list[tuple[Target, str, set[int]]] = [
    # entity columns
    (REGISTERED_MODEL, "name = 'alpha'", {1}),
    (REGISTERED_MODEL, "name = 'Alpha'", set()),
    (REGISTERED_MODEL, "id = 3", {3}),
    (REGISTERED_MODEL, 'id = "3"', {3}),
    (REGISTERED_MODEL, "id IN ('1', '3')", {1, 3}),
    (REGISTERED_MODEL, "id > 2.5", {3, 4}),
    (REGISTERED_MODEL, "id = 2.0", {2}),
    (REGISTERED_MODEL, "id IN (2, 2.5)", {2}),
    (REGISTERED_MODEL, "createTimeSinceEpoch >= 2000 AND createTimeSinceEpoch < 4000", {2, 3}),
    (REGISTERED_MODEL, "createTimeSinceEpoch >= '3000'", {3, 4}),
    (REGISTERED_MODEL, "lastUpdateTimeSinceEpoch <= 1000", {1}),
    (REGISTERED_MODEL, "externalId = 'ext-3'", {3}),
    (REGISTERED_MODEL, "externalId = 3", set()),
    (REGISTERED_MODEL, "owner != 'alice'", {2}),  # NULL owner matches neither = nor !=
    (REGISTERED_MODEL, "owner <> 'alice'", {2}),
    (REGISTERED_MODEL, "libraryName = 'transformers'", {1}),
    (REGISTERED_MODEL, "library_name = 'transformers'", {1}),
    (REGISTERED_MODEL, "description = 'First model'", {1}),
    (REGISTERED_MODEL, "state = 'LIVE' AND owner = 'alice'", {1, 4}),
    (REGISTERED_MODEL, "name.string_value = 'Beta'", {2}),
    # custom properties of each type
    (REGISTERED_MODEL, "framework = 'pytorch'", {1}),
    (REGISTERED_MODEL, "framework.string_value = 'pytorch'", {1}),
    (REGISTERED_MODEL, "accuracy > 0.9", {1, 2}),
    (REGISTERED_MODEL, "accuracy = 1", {2}),  # integer literal also matches a double property
    (REGISTERED_MODEL, "accuracy.double_value = 1", {2}),
    (REGISTERED_MODEL, "accuracy.int_value = 1", set()),
    (REGISTERED_MODEL, "epochs = 10", {1}),
    (REGISTERED_MODEL, "epochs > 5", {1}),
    (REGISTERED_MODEL, "epochs.int_value >= 3", {1, 2}),
    (REGISTERED_MODEL, "epochs.int_value = '10'", {1}),
    (REGISTERED_MODEL, "epochs = 10.0", {1}),  # numbers compare with int and double values alike
    (REGISTERED_MODEL, "epochs IN (3, 10)", {1, 2}),
    (REGISTERED_MODEL, "enabled = true", {1}),
    (REGISTERED_MODEL, "enabled = FALSE", {2}),
    (REGISTERED_MODEL, "enabled.bool_value = 'true'", {1}),
    (REGISTERED_MODEL, "`mlflow.source.type` = 'notebook'", {1}),
    (REGISTERED_MODEL, "mlflow.source.type = 'notebook'", {1}),
    (REGISTERED_MODEL, "unknown = 'x'", set()),
    # negative operators on custom properties: the property must exist
    (REGISTERED_MODEL, "framework != 'pytorch'", {2, 3}),
    (REGISTERED_MODEL, "framework <> 'pytorch'", {2, 3}),
    (REGISTERED_MODEL, "framework NOT IN ('pytorch', 'jax')", {2}),
    (REGISTERED_MODEL, "framework NOT LIKE 'py%'", {2, 3}),
    (REGISTERED_MODEL, "epochs != 10", {2}),
    (REGISTERED_MODEL, "framework NOT IN ()", {1, 2, 3}),
    (REGISTERED_MODEL, "framework IN ()", set()),
    # LIKE is case-sensitive, ILIKE is not; backslash escapes wildcards
    (REGISTERED_MODEL, "name LIKE 'a%'", {1}),
    (REGISTERED_MODEL, "name LIKE 'b%'", set()),
    (REGISTERED_MODEL, "name ILIKE 'b%'", {2}),
    (REGISTERED_MODEL, "name ILIKE 'BE_A'", {2}),
    (REGISTERED_MODEL, "name NOT ILIKE 'b%'", {1, 3, 4}),
    (REGISTERED_MODEL, "name LIKE '%a\\_50\\%'", {3}),
    (REGISTERED_MODEL, "name LIKE 'gamma\\_5'", set()),
    (REGISTERED_MODEL, "name LIKE '%\\%%'", {3}),
    (REGISTERED_MODEL, "framework LIKE 'py%'", {1}),
    (REGISTERED_MODEL, "framework LIKE 'Tensor%'", {2}),
    (REGISTERED_MODEL, "framework LIKE 'tensor%'", set()),
    (REGISTERED_MODEL, "framework ILIKE 'tensor%'", {2}),
    # IN / NOT IN
    (REGISTERED_MODEL, "name IN ('alpha', 'delta')", {1, 4}),
    (REGISTERED_MODEL, "name IN ()", set()),
    (REGISTERED_MODEL, "name NOT IN ()", ALL_MODELS),
    (REGISTERED_MODEL, "id NOT IN (1, 2)", {3, 4}),
    (REGISTERED_MODEL, "id not in ('1')", {2, 3, 4}),
    # AND binds tighter than OR; parentheses regroup
    (REGISTERED_MODEL, "name = 'alpha' OR name = 'Beta' AND state = 'ARCHIVED'", {1}),
    (REGISTERED_MODEL, "(name = 'alpha' OR name = 'Beta') AND state = 'LIVE'", {1, 2}),
    (REGISTERED_MODEL, "state = 'ARCHIVED' OR framework = 'pytorch' AND epochs = 10", {1, 3}),
    (
        REGISTERED_MODEL,
        "((name = 'alpha' OR (framework = 'jax' AND accuracy < 0.6)) AND (state = 'LIVE' OR state = 'ARCHIVED'))",
        {1, 3},
    ),
    (REGISTERED_MODEL, "", ALL_MODELS),
    (REGISTERED_MODEL, "-- nothing", ALL_MODELS),
    # model versions
    (MODEL_VERSION, "registeredModelId = '1'", {10, 11}),
    (MODEL_VERSION, "registered_model_id = 1", {10, 11}),
    (MODEL_VERSION, "registeredModelId IN ('1', '2') AND state = 'LIVE'", {10, 12}),
    (MODEL_VERSION, "author = 'alice'", {10}),
    (MODEL_VERSION, "name = 'v1'", {10, 12}),
    (MODEL_VERSION, "framework = 'pytorch'", {10}),
    # artifacts
    (ARTIFACT, "artifactType = 'parameter'", {22, 24}),
    (ARTIFACT, "experimentRunId IN ('5','7')", {20, 21, 22}),
    (ARTIFACT, "experimentRunId IN ('5','7') AND name LIKE \"%acc%\"", {20}),
    (ARTIFACT, "value < 0.5", {21}),
    (ARTIFACT, "modelFormatName = 'onnx'", {23}),
    (ARTIFACT, "uri LIKE 's3://%'", {23}),
    (ARTIFACT, "framework = 'pytorch'", {20}),
    (MODEL_ARTIFACT, "model_format_name = 'onnx'", {23}),
    (METRIC, "value > 0.5", {20}),
    (METRIC, "value >= '0.1'", {20, 21}),
    (METRIC, "step = 2", {21}),
    (PARAMETER, "value = 'adam'", {22}),
    (PARAMETER, "value LIKE '0.%'", {24}),
    (PARAMETER, "parameterType = 'string'", {22}),
]


@pytest.mark.parametrize(("target", "text", "expected"), CASES, ids=[case[1] or "<empty>" for case in CASES])
def test_filter_selects_rows(engine: Engine, target: Target, text: str, expected: set[int]) -> None:
    assert ids(engine, target, text) == expected


def test_no_filter() -> None:
    assert compile_filter(None, REGISTERED_MODEL) is None
    assert compile_filter("   ", REGISTERED_MODEL) is None


@pytest.mark.parametrize(
    ("target", "text", "fragment"),
    [
        (REGISTERED_MODEL, "id = 'abc'", "type mismatch: field 'id' is an integer, got 'abc'"),
        (REGISTERED_MODEL, "id = true", "field 'id' is an integer, got true"),
        (REGISTERED_MODEL, "id = '1.5'", "field 'id' is an integer, got '1.5'"),
        (REGISTERED_MODEL, "id IN ('1', 'x')", "field 'id' is an integer, got 'x'"),
        (REGISTERED_MODEL, "createTimeSinceEpoch > 'yesterday'", "field 'createTimeSinceEpoch' is an integer"),
        (REGISTERED_MODEL, "name = 1.5", "field 'name' is a string, got 1.5"),
        (REGISTERED_MODEL, "name = false", "field 'name' is a string, got false"),
        (REGISTERED_MODEL, "id LIKE '1%'", "LIKE needs a string, but field 'id' is an integer"),
        (REGISTERED_MODEL, "id.string_value = '1'", "field 'id' is an integer, it cannot be read as string_value"),
        (REGISTERED_MODEL, "epochs.int_value = 'ten'", "property 'epochs.int_value' is an integer, got 'ten'"),
        (REGISTERED_MODEL, "epochs.int_value ILIKE 'x'", "ILIKE needs a string"),
        (REGISTERED_MODEL, "enabled.bool_value = 1", "property 'enabled.bool_value' is a boolean, got 1"),
        (REGISTERED_MODEL, "x IN (1, 'a')", "the list for property 'x' starts with an integer, got 'a'"),
        (REGISTERED_MODEL, "x LIKE 1.5", "property 'x' is compared as a string, got 1.5"),
        (METRIC, "value = 'abc'", "field 'value' is a number, got 'abc'"),
    ],
)
def test_type_errors(target: Target, text: str, fragment: str) -> None:
    with pytest.raises(FilterTypeError) as caught:
        compile_filter(text, target)
    assert str(caught.value).startswith("invalid filter query, type mismatch")
    assert fragment in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_type_error_reports_the_comparison_position() -> None:
    with pytest.raises(FilterTypeError) as caught:
        compile_filter("name = 'a' AND  id = 'abc'", REGISTERED_MODEL)
    assert caught.value.position == 16


@pytest.mark.parametrize("dialect", [postgresql.psycopg.dialect(), mysql.pymysql.dialect()], ids=["pg", "mysql"])
@pytest.mark.parametrize(
    "text",
    [
        "id IN ('1', '2')",
        'id = "3"',
        "experimentRunId IN ('5','7')",
        "experimentId != '4'",
        "createTimeSinceEpoch > '1'",
    ],
)
def test_integer_columns_never_get_string_binds(dialect: Any, text: str) -> None:
    """PostgreSQL rejects ``bigint = varchar``; every literal must reach it with the column's type."""
    where = compile_filter(text, ARTIFACT)
    assert where is not None
    compiled = select(tables.artifacts.c.id).where(where).compile(dialect=dialect)
    values = [v for value in compiled.params.values() for v in (value if isinstance(value, list) else [value])]
    assert values and all(isinstance(v, int) for v in values)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expressions)
def test_any_tree_builds_sql_that_runs_or_is_a_type_error(engine: Engine, expr: Expr) -> None:
    for target in (REGISTERED_MODEL, ARTIFACT):
        try:
            where = to_where(expr, target)
        except FilterTypeError:
            continue
        with engine.connect() as conn:
            conn.execute(select(target.table.c.id).where(where)).all()
