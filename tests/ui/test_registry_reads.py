"""``services/registry_reads.py`` on every backend: name search in any case, keyset pages in both sort orders,
the newest live version of each model in one query, and the runs a version came from."""

from __future__ import annotations

import pytest

from conftest import empty
from modelreg.db.database import Database
from modelreg.db.pagination import PageRequest
from modelreg.errors import InvalidInput
from modelreg.services import entities as e
from modelreg.services import registry_reads as reads
from modelreg.services.properties import PropValue
from modelreg.services.registry import RegistryService

pytestmark = pytest.mark.usefixtures("as_system")
NAMES = ["delta", "Alpha", "charlie", "Bravo_1", "bravo%2"]


@pytest.fixture
def registry(database: Database) -> RegistryService:
    empty(database)
    return RegistryService(database)


def model(registry: RegistryService, name: str) -> int:
    return int(registry.create(e.REGISTERED_MODEL, {"name": name}, {}).row["id"])


def every_page(db: Database, sort: str, size: int = 2, search: str | None = None) -> list[str]:
    names: list[str] = []
    token: str | None = None
    while True:
        page, token = reads.models_page(db, search=search, sort=reads.ModelSort.parse(sort), size=size, token=token)
        names += [m.row["name"] for m in page]
        if not token:
            return names


def test_pages_walk_every_model_once_in_order(registry: RegistryService) -> None:
    ids = {name: model(registry, name) for name in NAMES}
    by_name = every_page(registry.db, "name")
    assert sorted(by_name) == sorted(NAMES) and len(by_name) == len(NAMES)
    assert every_page(registry.db, "-name") == list(reversed(by_name))
    newest_first = every_page(registry.db, "-modified")
    assert newest_first == sorted(NAMES, key=lambda n: ids[n], reverse=True)  # created in this order
    assert every_page(registry.db, "modified") == list(reversed(newest_first))


def test_search_is_a_case_insensitive_contains_without_wildcards(registry: RegistryService) -> None:
    for name in NAMES:
        model(registry, name)
    assert sorted(every_page(registry.db, "name", search="BRAVO")) == ["Bravo_1", "bravo%2"]
    assert every_page(registry.db, "name", search="%") == ["bravo%2"]  # "%" is a character here, not a wildcard
    assert every_page(registry.db, "name", search="_") == ["Bravo_1"]


def test_archived_models_are_listed_apart(registry: RegistryService) -> None:
    kept, gone = model(registry, "kept"), model(registry, "gone")
    registry.update(e.REGISTERED_MODEL, gone, {"state": "ARCHIVED"}, None)
    assert [m.row["id"] for m in reads.models_page(registry.db)[0]] == [kept]
    assert [m.row["id"] for m in reads.models_page(registry.db, archived=True)[0]] == [gone]


def test_latest_live_version_of_each_model(registry: RegistryService) -> None:
    a, b, c = model(registry, "a"), model(registry, "b"), model(registry, "c")
    versions = {}
    for owner, names in ((a, ["1", "2", "3"]), (b, ["x"])):
        for name in names:
            record = registry.create_model_version({"name": name, "registered_model_id": owner}, {})
            versions[(owner, name)] = record.row["id"]
    registry.update(e.MODEL_VERSION, versions[(a, "3")], {"state": "ARCHIVED"}, None)
    latest = reads.latest_versions(registry.db, [a, b, c])
    assert {k: v.row["name"] for k, v in latest.items()} == {a: "2", b: "x"}
    with_archived = reads.latest_versions(registry.db, [a], include_archived=True)
    assert with_archived[a].row["name"] == "3"
    assert reads.latest_versions(registry.db, []) == {}


def test_runs_a_version_came_from(registry: RegistryService) -> None:
    experiment = registry.create(e.EXPERIMENT, {"name": "training"}, {})
    run = registry.create(
        e.EXPERIMENT_RUN, {"name": "run-1", "experiment_id": experiment.row["id"]}, {}, experiment.row["id"]
    )
    owner = model(registry, "m")
    version = registry.create_model_version({"name": "v1", "registered_model_id": owner}, {})
    logged, _ = registry.upsert_artifact("experiment_run", run.row["id"], "model-artifact", {"name": "w"}, {})
    registry.upsert_artifact("model_version", version.row["id"], "model-artifact", {}, None, logged.row["id"])
    artifacts, _ = registry.list_artifacts(PageRequest(), parent=("model_version", version.row["id"]))
    runs = reads.lineage(registry.db, version, artifacts)
    assert runs == [reads.RunLink(run.row["id"], "run-1", experiment.row["id"], "training")]
    named = registry.create_model_version(
        {"name": "v2", "registered_model_id": owner}, {"experiment_run_id": PropValue("string", "987654")}
    )
    assert reads.lineage(registry.db, named, []) == [reads.RunLink(987654, None, None, None)]


@pytest.mark.parametrize("token", ["garbage", "eyJ4IjoxfQ", "WyJtb2RlbHMiLCItbW9kaWZpZWQiLCJ4IiwxXQ"])
def test_bad_tokens_are_refused(registry: RegistryService, token: str) -> None:
    with pytest.raises(InvalidInput, match="invalid page token"):
        reads.models_page(registry.db, token=token)
