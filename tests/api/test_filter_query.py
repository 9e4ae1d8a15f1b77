"""filterQuery: the grammar, typed custom properties, case rules, errors, and every list endpoint honouring it."""

from __future__ import annotations

import httpx
import pytest

from api.builders import (
    artifact,
    environment,
    error,
    experiment,
    inference_service,
    listed_names,
    log_metric,
    model,
    ok,
    props,
    run,
    upserted,
    version,
)


@pytest.fixture
def catalog(api: httpx.Client) -> dict[str, dict]:
    a = model(
        api,
        "bert-base",
        owner="alice",
        externalId="ext-a",
        customProperties=props(framework="pytorch", accuracy=0.91, epochs=3, gpu=False),
    )
    b = model(
        api, "Bert-Large", owner="bob", customProperties=props(framework="onnx", accuracy=0.97, gpu=True, epochs=10)
    )
    c = model(
        api,
        "resnet_50%",
        owner="alice",
        description='it\'s "quoted"',
        customProperties={**props(accuracy=2, framework="TF"), "mlflow.source.type": props(x="nb")["x"]},
    )
    ok(api.patch(f"/registered_models/{c['id']}", json={"state": "ARCHIVED"}), 200)
    return {"a": a, "b": b, "c": c}


ALL = ["bert-base", "Bert-Large", "resnet_50%"]
ARCHIVED = {"resnet_50%"}


def default_listing(query: str, names: list[str]) -> list[str]:
    """Lists leave archived models out unless the filter asks about ``state`` (docs/governance.md)."""
    return names if "state" in query else [n for n in names if n not in ARCHIVED]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("name = 'bert-base'", ["bert-base"]),
        ('name = "bert-base"', ["bert-base"]),
        ("name = 'BERT-BASE'", []),  # names are case-sensitive
        ('name LIKE "bert%"', ["bert-base"]),  # LIKE is case-sensitive on every database
        ("name LIKE '%e%'", ["bert-base", "Bert-Large", "resnet_50%"]),
        ("name LIKE '_ert-%'", ["bert-base", "Bert-Large"]),
        ("name ILIKE 'bert%'", ["bert-base", "Bert-Large"]),
        ("name ILIKE 'BERT-LARGE'", ["Bert-Large"]),
        ("name NOT LIKE 'bert%'", ["Bert-Large", "resnet_50%"]),
        ("name != 'bert-base'", ["Bert-Large", "resnet_50%"]),
        ("name <> 'bert-base'", ["Bert-Large", "resnet_50%"]),  # not-equal (the reference treats <> as =)
        ("name IN ('resnet_50%', 'bert-base')", ["bert-base", "resnet_50%"]),
        ("name NOT IN ('resnet_50%', 'bert-base')", ["Bert-Large"]),
        ("name > 'c'", ["resnet_50%"]),
        ("externalId = 'ext-a'", ["bert-base"]),
        ("state = 'LIVE' AND owner = 'alice'", ["bert-base"]),
        ("state = 'ARCHIVED'", ["resnet_50%"]),
        ("owner = 'bob' OR state = 'ARCHIVED'", ["Bert-Large", "resnet_50%"]),
        ("(owner = 'alice' OR owner = 'bob') AND accuracy > 0.95", ["Bert-Large", "resnet_50%"]),
        ("owner = 'alice' OR owner = 'bob' AND accuracy > 0.95", ["bert-base", "Bert-Large", "resnet_50%"]),
        ("((owner = 'alice') AND (epochs = 3))", ["bert-base"]),
        ("accuracy > 0.95", ["Bert-Large", "resnet_50%"]),  # the int property 2 is compared too
        ("accuracy >= 2", ["resnet_50%"]),
        ("accuracy < 1", ["bert-base", "Bert-Large"]),
        ("accuracy <= 0.91", ["bert-base"]),
        ("accuracy.double_value >= 0.9", ["bert-base", "Bert-Large"]),
        ("accuracy.int_value = 2", ["resnet_50%"]),
        ("framework.string_value = 'pytorch'", ["bert-base"]),
        ("epochs = 3", ["bert-base"]),
        ("epochs > 5", ["Bert-Large"]),
        ("epochs.int_value IN (3, 10)", ["bert-base", "Bert-Large"]),
        ("gpu = true", ["Bert-Large"]),
        ("gpu = FALSE", ["bert-base"]),
        ("gpu.bool_value = false", ["bert-base"]),
        ("`mlflow.source.type` = 'nb'", ["resnet_50%"]),
        ("`mlflow.source.type`.string_value = 'nb'", ["resnet_50%"]),
        ("mlflow.source.type = 'nb'", ["resnet_50%"]),
        ("framework IN ('onnx', 'tf')", ["Bert-Large"]),  # values are case-sensitive too
        ("framework ILIKE 'tf'", ["resnet_50%"]),
        ("framework NOT IN ('onnx')", ["bert-base", "resnet_50%"]),
        ("framework != 'onnx'", ["bert-base", "resnet_50%"]),
        ("framework LIKE 'py%'", ["bert-base"]),
        ("framework LIKE 'PY%'", []),  # on custom property values too
        ("framework = 'PYTORCH'", []),
        ("framework ILIKE 'PY%'", ["bert-base"]),
        ("externalId = 'EXT-A'", []),
        ("owner = 'ALICE'", []),
        ("owner ILIKE 'ALICE'", ["bert-base", "resnet_50%"]),
        ("missing = 'x'", []),
        ("name in ('resnet_50%') or NAME = 'x'", ["resnet_50%"]),  # keywords are case-insensitive
        ("owner = 'alice' and epochs = 3", ["bert-base"]),
        ("name like 'bert%'", ["bert-base"]),
        ("name Ilike 'BERT%'", ["bert-base", "Bert-Large"]),
        ("name not in ('bert-base', 'Bert-Large')", ["resnet_50%"]),
        ("id IN ()", []),
        ("description = 'it\\'s \"quoted\"'", ["resnet_50%"]),
        ('description = "it\'s \\"quoted\\""', ["resnet_50%"]),
        ("  ", ALL),
        ("", ALL),
    ],
)
def test_filter_query_on_registered_models(
    api: httpx.Client, catalog: dict[str, dict], query: str, expected: list[str]
) -> None:
    assert listed_names(api, "/registered_models", filterQuery=query) == default_listing(query, expected)


def test_filter_by_id_and_times(api: httpx.Client, catalog: dict[str, dict]) -> None:
    a, b = catalog["a"], catalog["b"]
    assert listed_names(api, "/registered_models", filterQuery=f"id = '{a['id']}'") == ["bert-base"]
    assert listed_names(api, "/registered_models", filterQuery=f"id = {a['id']}") == ["bert-base"]
    assert listed_names(api, "/registered_models", filterQuery=f"id IN ({a['id']}, {b['id']})") == [
        "bert-base",
        "Bert-Large",
    ]
    assert listed_names(api, "/registered_models", filterQuery=f"id > {a['id']}") == ["Bert-Large"]
    archived_too = f"id > {a['id']} AND state IN ('LIVE', 'ARCHIVED')"
    assert listed_names(api, "/registered_models", filterQuery=archived_too) == ["Bert-Large", "resnet_50%"]
    since = b["createTimeSinceEpoch"]
    later = listed_names(api, "/registered_models", filterQuery=f"createTimeSinceEpoch >= {since}")
    assert later[0] == "Bert-Large" and "bert-base" not in later
    updated = catalog["c"]["lastUpdateTimeSinceEpoch"]
    recent = f"lastUpdateTimeSinceEpoch >= {updated} AND state = 'ARCHIVED'"
    assert "resnet_50%" in listed_names(api, "/registered_models", filterQuery=recent)


def test_built_in_fields_of_registered_models(api: httpx.Client) -> None:
    model(api, "a", provider="IBM", libraryName="transformers", license="mit", maturity="GA", description="first")
    model(api, "b", provider="Meta", libraryName="vllm")
    assert listed_names(api, "/registered_models", filterQuery="provider = 'IBM'") == ["a"]
    assert listed_names(api, "/registered_models", filterQuery="libraryName = 'vllm'") == ["b"]
    assert listed_names(api, "/registered_models", filterQuery="library_name = 'transformers'") == ["a"]
    assert listed_names(api, "/registered_models", filterQuery="description LIKE 'fir%'") == ["a"]
    assert listed_names(api, "/registered_models", filterQuery="license = 'mit' AND maturity = 'GA'") == ["a"]


def test_int_literal_matches_int_and_double_properties(api: httpx.Client) -> None:
    model(api, "int", customProperties=props(score=5))
    model(api, "double", customProperties=props(score=5.0))
    model(api, "string", customProperties=props(score="5"))
    assert listed_names(api, "/registered_models", filterQuery="score = 5") == ["int", "double"]
    assert listed_names(api, "/registered_models", filterQuery="score = 5.0") == ["int", "double"]
    assert listed_names(api, "/registered_models", filterQuery="score = '5'") == ["string"]
    assert listed_names(api, "/registered_models", filterQuery="score.string_value = '5'") == ["string"]
    assert listed_names(api, "/registered_models", filterQuery="score.int_value = 5") == ["int"]
    assert listed_names(api, "/registered_models", filterQuery="score.double_value = 5") == ["double"]


def test_non_ascii_values(api: httpx.Client) -> None:
    model(api, "модель", customProperties=props(lang="日本語"))
    model(api, "model")
    assert listed_names(api, "/registered_models", filterQuery="name = 'модель'") == ["модель"]
    assert listed_names(api, "/registered_models", filterQuery="lang = '日本語'") == ["модель"]
    assert listed_names(api, "/registered_models", filterQuery="name LIKE 'мод%'") == ["модель"]


def test_negative_and_exponent_literals(api: httpx.Client) -> None:
    model(api, "neg", customProperties=props(delta=-3, tiny=1.5e-5))
    model(api, "pos", customProperties=props(delta=4, tiny=2.0))
    assert listed_names(api, "/registered_models", filterQuery="delta < 0") == ["neg"]
    assert listed_names(api, "/registered_models", filterQuery="delta = -3") == ["neg"]
    assert listed_names(api, "/registered_models", filterQuery="tiny < 1e-3") == ["neg"]


def test_negative_operators_skip_entities_without_the_property(api: httpx.Client) -> None:
    model(api, "has", customProperties=props(team="a"))
    model(api, "other", customProperties=props(team="b"))
    model(api, "none")
    assert listed_names(api, "/registered_models", filterQuery="team != 'a'") == ["other"]
    assert listed_names(api, "/registered_models", filterQuery="team NOT IN ('a')") == ["other"]


@pytest.mark.parametrize(
    "query",
    [
        "name = ",
        'name "x"',
        "(name = 'x'",
        "name = 'x')",
        "name === 'x'",
        "invalid <<< syntax",
        "name = 'unterminated",
        "AND name = 'x'",
        "name = 'x' AND",
        "name = 'x' OR OR name = 'y'",
        "name IN ('x',)",
        "= 'x'",
        "name = x",
        "name LIKE",
        "`unterminated = 'x'",
        "name ~ 'x'",
    ],
)
def test_bad_filter_is_400_with_position(api: httpx.Client, query: str) -> None:
    body = error(api.get("/registered_models", params={"filterQuery": query}), 400, "position")
    assert body["code"] == "Bad Request"


@pytest.mark.parametrize(
    "query",
    [
        "id = 'abc'",
        "id > 'x'",
        "createTimeSinceEpoch = 'yesterday'",
        "id = true",
        "id IN ('1', 'two')",
    ],
)
def test_type_mismatch_in_filter_is_400(api: httpx.Client, query: str) -> None:
    model(api, "m")
    error(api.get("/registered_models", params={"filterQuery": query}), 400)


def test_ids_as_strings_in_filters(api: httpx.Client) -> None:
    m = model(api, "m")
    a = version(api, m["id"], "a")
    version(api, m["id"], "b")
    assert listed_names(api, "/model_versions", filterQuery=f'id = "{a["id"]}"') == ["a"]
    assert listed_names(api, "/model_versions", filterQuery=f"registeredModelId = '{m['id']}'") == ["a", "b"]
    assert listed_names(api, "/model_versions", filterQuery=f"registeredModelId = {m['id']}") == ["a", "b"]


def test_version_names_filter_as_plain_names(api: httpx.Client) -> None:
    a, b = model(api, "a"), model(api, "b")
    version(api, a["id"], "v1", author="x", state="ARCHIVED")
    version(api, a["id"], "v2")
    version(api, b["id"], "v1", customProperties=props(stage="prod"))
    everything = " AND state IN ('LIVE', 'ARCHIVED')"  # archived versions are only listed when asked for
    assert listed_names(api, "/model_versions", filterQuery="name = 'v1'" + everything) == ["v1", "v1"]
    assert listed_names(api, "/model_versions", filterQuery="name = 'v1'") == ["v1"]
    assert listed_names(api, "/model_versions", filterQuery="name != 'v1'") == ["v2"]
    assert listed_names(api, "/model_versions", filterQuery="name IN ('v2')") == ["v2"]
    assert listed_names(api, "/model_versions", filterQuery="name ILIKE 'V%'" + everything) == ["v1", "v2", "v1"]
    assert listed_names(api, "/model_versions", filterQuery="name LIKE 'v_'") == ["v2", "v1"]
    assert listed_names(api, f"/registered_models/{a['id']}/versions", filterQuery="name = 'v1'" + everything) == ["v1"]
    assert listed_names(api, "/model_versions", filterQuery="author = 'x' AND state = 'ARCHIVED'") == ["v1"]
    assert listed_names(api, "/model_versions", filterQuery="stage = 'prod'") == ["v1"]
    nested = listed_names(api, f"/registered_models/{b['id']}/versions", filterQuery="name = 'v1'")
    assert nested == ["v1"]


def test_nested_version_list_combines_name_and_filter(api: httpx.Client) -> None:
    m = model(api, "m")
    version(api, m["id"], "v1", externalId="e1", author="x")
    version(api, m["id"], "v2", externalId="e2", author="x")
    version(api, m["id"], "it's", externalId="e3")
    path = f"/registered_models/{m['id']}/versions"
    assert listed_names(api, path, name="v2") == ["v2"]
    assert listed_names(api, path, externalId="e1") == ["v1"]
    assert listed_names(api, path, name="it's") == ["it's"]  # a quote in the name is fine
    assert listed_names(api, path, name="v1", filterQuery="author = 'x'") == ["v1"]
    assert listed_names(api, path, name="v1", filterQuery="author = 'y'") == []
    assert listed_names(api, path, name="v%") == []  # exact match, no wildcards


def test_artifact_filters(api: httpx.Client) -> None:
    m = model(api, "m")
    v = version(api, m["id"])
    artifact(api, v["id"], "onnx", modelFormatName="onnx", state="LIVE", customProperties=props(size=10))
    artifact(api, v["id"], "torch", modelFormatName="pytorch", uri="https://hf.co/x", state="DELETED")
    artifact(api, v["id"], "doc", artifactType="doc-artifact")
    artifact(api, v["id"], "train", artifactType="dataset-artifact", digest="sha256:1", sourceType="s3")
    artifact(api, v["id"], "acc", artifactType="metric", value=0.9, step=2)
    artifact(api, v["id"], "lr", artifactType="parameter", value="0.01", parameterType="number")
    path = f"/model_versions/{v['id']}/artifacts"
    assert listed_names(api, path, filterQuery="name = 'onnx'") == ["onnx"]
    assert listed_names(api, path, filterQuery="uri LIKE 'https://%'") == ["torch"]
    assert listed_names(api, path, filterQuery="state = 'DELETED'") == ["torch"]
    assert listed_names(api, path, filterQuery="modelFormatName = 'onnx'") == ["onnx"]
    assert listed_names(api, path, filterQuery="size > 5") == ["onnx"]
    assert listed_names(api, path, artifactType="dataset-artifact", filterQuery="digest = 'sha256:1'") == ["train"]
    assert listed_names(api, path, artifactType="metric", filterQuery="value > 0.5 AND step = 2") == ["acc"]
    assert listed_names(api, path, artifactType="parameter", filterQuery="value = '0.01'") == ["lr"]
    assert listed_names(api, "/artifacts", filterQuery="name IN ('doc', 'lr')") == ["doc", "lr"]
    assert listed_names(api, "/model_artifacts", filterQuery="modelFormatName = 'pytorch'") == ["torch"]
    assert listed_names(api, path, name="doc", filterQuery="state = 'UNKNOWN'") == ["doc"]


@pytest.mark.parametrize(
    ("path_of", "make"),
    [
        ("/registered_models", lambda api, i, p: model(api, f"e{i}", customProperties=p)),
        ("/model_versions", lambda api, i, p: version(api, model(api, f"m{i}")["id"], f"e{i}", customProperties=p)),
        (
            "/artifacts",
            lambda api, i, p: ok(api.post("/model_artifacts", json={"name": f"e{i}", "customProperties": p})),
        ),
        (
            "/model_artifacts",
            lambda api, i, p: ok(api.post("/model_artifacts", json={"name": f"e{i}", "customProperties": p})),
        ),
        ("/serving_environments", lambda api, i, p: environment(api, f"e{i}", customProperties=p)),
        (
            "/inference_services",
            lambda api, i, p: inference_service(
                api, environment(api, f"env{i}")["id"], model(api, f"m{i}")["id"], name=f"e{i}", customProperties=p
            ),
        ),
        ("/experiments", lambda api, i, p: experiment(api, f"e{i}", customProperties=p)),
        ("/experiment_runs", lambda api, i, p: run(api, experiment(api, f"x{i}")["id"], f"e{i}", customProperties=p)),
    ],
)
def test_typed_custom_property_filters_on_every_entity(api: httpx.Client, path_of: str, make) -> None:
    make(api, 0, props(stage="prod", score=3, ratio=0.5, flag=True))
    make(api, 1, props(stage="dev", score=7, ratio=1.5, flag=False))
    make(api, 2, {})
    cases = {
        "stage = 'prod'": ["e0"],
        "stage.string_value != 'prod'": ["e1"],
        "score > 5": ["e1"],
        "score.int_value <= 3": ["e0"],
        "ratio < 1": ["e0"],
        "ratio.double_value >= 1.5": ["e1"],
        "flag = true": ["e0"],
        "flag.bool_value = false": ["e1"],
        "stage IN ('dev', 'qa') OR flag = true": ["e0", "e1"],
        "stage LIKE 'd%' AND score = 7": ["e1"],
    }
    for query, expected in cases.items():
        assert listed_names(api, path_of, filterQuery=query) == expected, query


def test_metric_history_filters(api: httpx.Client) -> None:
    exp = experiment(api)
    r = run(api, exp["id"], "r")
    log_metric(api, r["id"], "loss", 0.9, step=1)
    log_metric(api, r["id"], "loss", 0.5, step=2)
    log_metric(api, r["id"], "accuracy", 0.7, step=2)
    path = f"/experiment_runs/{r['id']}/metric_history"
    values = lambda query: [h["value"] for h in ok(api.get(path, params={"filterQuery": query}), 200)["items"]]  # noqa: E731
    assert values("name = 'loss'") == [0.9, 0.5]
    assert values("name = 'loss' AND step = 2") == [0.5]
    assert values("value >= 0.7") == [0.9, 0.7]
    assert values(f"experimentRunId = '{r['id']}' AND name LIKE 'acc%'") == [0.7]


def test_filter_on_every_list_endpoint(api: httpx.Client) -> None:
    m = model(api, "m")
    v1, v2 = version(api, m["id"], "v1"), version(api, m["id"], "v2", author="x")
    artifact(api, v1["id"], "keep")
    artifact(api, v1["id"], "drop")
    env = environment(api, "prod")
    environment(api, "dev", customProperties=props(region="eu"))
    service_a = inference_service(api, env["id"], m["id"], name="is-a", runtime="vllm")
    inference_service(api, env["id"], m["id"], name="is-b", runtime="ovms", modelVersionId=v2["id"])
    serve_path = f"/inference_services/{service_a['id']}/serves"
    ok(api.post(serve_path, json={"modelVersionId": v1["id"], "name": "s1"}))
    ok(api.post(serve_path, json={"modelVersionId": v2["id"], "name": "s2", "lastKnownState": "RUNNING"}))
    exp = experiment(api, "exp", owner="me")
    experiment(api, "other")
    r1 = run(api, exp["id"], "r1", status="FINISHED")
    run(api, exp["id"], "r2")
    log_metric(api, r1["id"], "loss", 0.5, step=1)
    log_metric(api, r1["id"], "loss", 0.3, step=2)
    log_metric(api, r1["id"], "acc", 0.9, step=2)
    cases = {
        "/registered_models": ("name = 'm'", ["m"]),
        "/model_versions": ("author = 'x'", ["v2"]),
        f"/registered_models/{m['id']}/versions": ("name = 'v1'", ["v1"]),
        f"/model_versions/{v1['id']}/artifacts": ("name = 'keep'", ["keep"]),
        "/model_artifacts": ("uri LIKE '%drop'", ["drop"]),
        "/artifacts": ("name != 'keep' AND name IN ('keep', 'drop')", ["drop"]),
        "/serving_environments": ("region = 'eu'", ["dev"]),
        "/inference_services": ("runtime = 'ovms'", ["is-b"]),
        f"/serving_environments/{env['id']}/inference_services": ("name = 'is-a'", ["is-a"]),
        serve_path: ("lastKnownState = 'RUNNING'", ["s2"]),
        "/experiments": ("owner = 'me'", ["exp"]),
        "/experiment_runs": ("status = 'FINISHED'", ["r1"]),
        f"/experiments/{exp['id']}/experiment_runs": ("name = 'r2'", ["r2"]),
        f"/experiment_runs/{r1['id']}/artifacts": ("name = 'acc'", ["acc"]),
        f"/experiment_runs/{r1['id']}/metric_history": ("step = 2", ["loss", "acc"]),
        "/experiment_runs/metric_history": ("value < 0.4", ["loss"]),
    }
    for path, (query, expected) in cases.items():
        assert listed_names(api, path, filterQuery=query) == expected, (path, query)
        error(api.get(path, params={"filterQuery": "name = "}), 400, "position")


def test_inference_service_filters_by_ids(api: httpx.Client) -> None:
    a, b = model(api, "a"), model(api, "b")
    va = version(api, a["id"])
    env = environment(api, "env")
    inference_service(api, env["id"], a["id"], name="one", modelVersionId=va["id"])
    inference_service(api, env["id"], b["id"], name="two", desiredState="UNDEPLOYED")
    assert listed_names(api, "/inference_services", filterQuery=f"registeredModelId = '{b['id']}'") == ["two"]
    assert listed_names(api, "/inference_services", filterQuery=f"modelVersionId = {va['id']}") == ["one"]
    assert listed_names(api, "/inference_services", filterQuery="desiredState = 'UNDEPLOYED'") == ["two"]


def test_run_artifacts_by_experiment_run_id(api: httpx.Client) -> None:
    exp = experiment(api)
    runs = [run(api, exp["id"], f"r{i}") for i in range(3)]
    for r in runs:
        log_metric(api, r["id"], "accuracy", 0.5)
        log_metric(api, r["id"], "loss", 0.1)
    query = f"experimentRunId IN ('{runs[0]['id']}', '{runs[2]['id']}')"
    found = ok(api.get("/artifacts", params={"artifactType": "metric", "filterQuery": query}), 200)["items"]
    assert sorted((a["experimentRunId"], a["name"]) for a in found) == sorted(
        (r["id"], n) for r in (runs[0], runs[2]) for n in ("accuracy", "loss")
    )
    query += " AND name LIKE '%accu%'"
    found = ok(api.get("/artifacts", params={"artifactType": "metric", "filterQuery": query}), 200)["items"]
    assert sorted(a["experimentRunId"] for a in found) == sorted([runs[0]["id"], runs[2]["id"]])
    by_experiment = f"experimentId = '{exp['id']}' AND name = 'loss'"
    assert len(listed_names(api, "/artifacts", artifactType="metric", filterQuery=by_experiment)) == 3


def test_long_filter_with_many_terms(api: httpx.Client) -> None:
    for i in range(3):
        model(api, f"m{i}")
    query = " OR ".join(f"name = 'm{i}'" for i in range(200))
    assert listed_names(api, "/registered_models", filterQuery=query) == ["m0", "m1", "m2"]
    nested = "(" * 30 + "name = 'm1'" + ")" * 30
    assert listed_names(api, "/registered_models", filterQuery=nested) == ["m1"]


def test_filter_with_artifact_upserted_custom_properties(api: httpx.Client) -> None:
    m = model(api, "m")
    v = version(api, m["id"])
    body = {"artifactType": "model-artifact", "name": "a", "customProperties": props(tag="x")}
    created = upserted(api.post(f"/model_versions/{v['id']}/artifacts", json=body))
    upserted(
        api.post(
            f"/model_versions/{v['id']}/artifacts",
            json={"artifactType": "model-artifact", "id": created["id"], "customProperties": props(tag="y")},
        )
    )
    assert listed_names(api, "/artifacts", filterQuery="tag = 'x'") == []
    assert listed_names(api, "/artifacts", filterQuery="tag = 'y'") == ["a"]


LIST_PATHS = [
    "/registered_models",
    "/model_versions",
    "/artifacts",
    "/artifacts?artifactType=metric",
    "/artifacts?artifactType=parameter",
    "/model_artifacts",
    "/serving_environments",
    "/inference_services",
    "/experiments",
    "/experiment_runs",
    "/experiment_runs/metric_history",
]


@pytest.mark.parametrize("path", LIST_PATHS)
def test_type_mismatches_are_400_and_nothing_is_500(api: httpx.Client, path: str) -> None:
    m = model(api, "m", customProperties=props(score=1, flag=True, ratio=0.5, tag="t"))
    version(api, m["id"], "v", customProperties=props(score=1))
    exp = experiment(api)
    log_metric(api, run(api, exp["id"])["id"], "loss", 0.1, step=1)
    for query in (
        "id = 'abc'",
        "id IN ('1', 'x')",
        "createTimeSinceEpoch > 'x'",
        "lastUpdateTimeSinceEpoch <= true",
        "score.int_value = 'abc'",
        "flag.bool_value = 'yes'",
        "ratio.double_value = 'half'",
    ):
        error(api.get(path, params={"filterQuery": query}), 400)
    for query in (
        "state = 5",
        "score.int_value = 1.5",
        "name = 1",
        "name > 1.5",
        "tag = true",
        "flag.bool_value > true",
        "ratio.double_value LIKE 'a%'",
        "score.int_value ILIKE '1'",
        "value > 'x'",
        "step = 'x'",
        "timestamp > 5",
        "experimentRunId = 'abc'",
        "registeredModelId LIKE '1%'",
        "`` = 'x'",
        "a.b.c.d.string_value = 'x'",
    ):
        response = api.get(path, params={"filterQuery": query})
        assert response.status_code in (200, 400), (path, query, response.text)
        if response.status_code == 400:
            error(response, 400)
