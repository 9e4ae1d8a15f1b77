from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import jsonschema
import orjson
import pytest
import yaml

from modelreg.bridge import store
from modelreg.bridge.formats import CatalogInfoYamlFormat, JsonArrayFormat, link_url
from modelreg.bridge.normalize import normalize

from .backstage_rules import entities_from_catalog, entity_errors
from .conftest import SCHEMA_DIR
from .fixtures import ONNX_URI, awkward_snapshot, many_snapshot, mnist_snapshot
from .test_normalize import kserve_like, leaky_snapshot

JSON = JsonArrayFormat()
YAML = CatalogInfoYamlFormat()
SNAPSHOTS = {
    "mnist": mnist_snapshot,
    "awkward": awkward_snapshot,
    "many": lambda: many_snapshot(40),
    "leaky": leaky_snapshot,
}


@pytest.fixture(params=sorted(SNAPSHOTS))
def records(request: pytest.FixtureRequest) -> list:
    return normalize(SNAPSHOTS[request.param]()) + normalize(SNAPSHOTS[request.param](), source="upstream")


def test_every_json_document_matches_the_schema(records: list, catalog_validator: Callable[[Any], None]) -> None:
    exported = JSON.export(records)
    assert len(exported) == len(records)
    for body in exported.values():
        catalog_validator(orjson.loads(body))


def test_every_entity_derived_from_json_passes_backstage_rules(records: list) -> None:
    for body in JSON.export(records).values():
        for entity in entities_from_catalog(orjson.loads(body)):
            assert entity_errors(entity) == [], entity


def test_every_yaml_entity_passes_backstage_rules(records: list) -> None:
    for body in YAML.export(records).values():
        for entity in yaml.safe_load_all(body):
            assert entity_errors(entity) == [], entity


def test_yaml_relations_point_at_emitted_entities(records: list) -> None:
    entities = [e for body in YAML.export(records).values() for e in yaml.safe_load_all(body)]
    refs = {f"{e['kind'].lower()}:{e['metadata']['name']}" for e in entities}
    assert len(refs) == len(entities), "an entity name is emitted twice"
    for entity in entities:
        for key in ("dependsOn", "dependencyOf", "providesApis"):
            assert set(entity["spec"].get(key, [])) <= refs, (key, entity)


def test_shared_fixtures_validate(catalog_validator: Callable[[Any], None]) -> None:
    for path in sorted(SCHEMA_DIR.glob("0*.json")):
        catalog_validator(json.loads(path.read_text()))


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d["models"][0].pop("lifecycle"),
        lambda d: d["models"][0].update(extra="x"),
        lambda d: d.update(extra="x"),
        lambda d: d["modelServer"]["API"].update(type="rest"),
        lambda d: d["modelServer"]["API"].pop("spec"),
        lambda d: d["models"][0]["annotations"].update(n=1),
        lambda d: d.pop("models"),
    ],
)
def test_schema_rejects_broken_documents(mutate: Callable[[dict], Any], catalog_validator) -> None:
    doc = JSON.document(normalize(mnist_snapshot())[0])
    mutate(doc)
    with pytest.raises(jsonschema.ValidationError):
        catalog_validator(doc)


def test_mnist_json_document() -> None:
    v1, v3 = normalize(mnist_snapshot())
    doc = JSON.document(v1)
    model = doc["models"][0]
    assert model["name"] == "mnist.v1" and model["owner"] == "kubeadmin" and model["lifecycle"] == "development"
    assert model["artifactLocationURL"] == ONNX_URI
    assert "license" not in model and model["annotations"]["modelreg.io/license"] == "Apache-2"
    assert "howToUseURL" not in model and model["annotations"]["modelreg.io/how-to-use"] == "curl and python examples"
    assert model["annotations"]["TechDocs"] == "https://github.com/example/mnist-docs"
    assert model["annotations"]["rhdh.modelcatalog.io/model-name"] == "mnist.v1"
    server = doc["modelServer"]
    assert server["name"] == "ggmtest.mnist-v1"
    assert server["API"] == {
        "url": "https://mnist-v1-ggmtest.apps.example.com",
        "type": "grpc",
        "spec": "an openapi spec string",
        "tags": list(v1.tags),
        "annotations": {
            "modelreg.io/inference-service": "mnist-v1",
            "modelreg.io/namespace": "ggmtest",
            "rhdh.modelcatalog.io/external-route-url": "https://mnist-v1-ggmtest.apps.example.com",
        },
    }
    assert server["homepageURL"] == "https://mymodel.io/welcome"
    assert "authentication" not in server  # unknown from registry records alone
    assert "modelServer" not in JSON.document(v3)


def test_link_fields_carry_urls_only() -> None:
    for record in normalize(awkward_snapshot()):
        doc = JSON.document(record)
        model = doc["models"][0]
        for key in ("license", "howToUseURL", "artifactLocationURL"):
            assert key not in model
        assert model["annotations"]["modelreg.io/artifact-location"] == "models/relative/path"
        assert "TechDocs" not in model["annotations"]  # not an http(s) URL
        if "modelServer" in doc:
            assert "homepageURL" not in doc["modelServer"]
            assert doc["modelServer"]["annotations"] == {"modelreg.io/homepage": "see the wiki"}
            assert doc["modelServer"]["API"]["type"] == "openapi"  # "REST" is not an allowed API type


def test_undeployable_endpoint_url_is_left_out() -> None:
    records = {r.model_name: r for r in normalize(awkward_snapshot())}
    assert "modelServer" in JSON.document(records["my_model"])
    assert "modelServer" not in JSON.document(records["granite-3.1-8b-lab-v1-1.4.0"])  # url "not a url"


def test_lifecycle_and_owner_are_sanitized_for_server_too() -> None:
    record = next(r for r in normalize(awkward_snapshot()) if r.model_name == "my_model")
    doc = JSON.document(record)
    assert doc["models"][0]["lifecycle"] == doc["modelServer"]["lifecycle"] == "productionstage"


def test_mnist_yaml_entities() -> None:
    body = YAML.export(normalize(mnist_snapshot()))
    assert list(body) == ["mnist"]
    entities = list(yaml.safe_load_all(body["mnist"]))
    assert [(e["kind"], e["metadata"]["name"]) for e in entities] == [
        ("Component", "mnist"),
        ("Resource", "mnist.v1"),
        ("API", "ggmtest.mnist-v1"),
        ("Resource", "mnist.v3"),
    ]
    component, v1, api, _ = entities
    assert component["spec"] == {
        "type": "model-server",
        "lifecycle": "development",
        "owner": "user:kubeadmin",
        "dependsOn": ["resource:mnist.v1", "resource:mnist.v3"],
        "providesApis": ["api:ggmtest.mnist-v1"],
    }
    assert v1["spec"]["type"] == "ai-model" and v1["spec"]["dependencyOf"] == ["component:mnist"]
    assert {"url": ONNX_URI, "title": "Artifact v1"} in v1["metadata"]["links"]
    assert {"url": "https://mymodel.io/welcome", "title": "Homepage"} in v1["metadata"]["links"]
    assert all(link["title"] != "License" for link in v1["metadata"]["links"])
    assert v1["metadata"]["annotations"]["backstage.io/techdocs-ref"] == "url:https://github.com/example/mnist-docs"
    assert api["spec"] == {
        "type": "grpc",
        "lifecycle": "development",
        "owner": "user:kubeadmin",
        "definition": "an openapi spec string",
    }
    assert api["metadata"]["links"] == [{"url": "https://mnist-v1-ggmtest.apps.example.com", "title": "API"}]


def test_archived_versions_are_absent_from_both_formats() -> None:
    records = normalize(mnist_snapshot())
    assert list(JSON.export(records)) == ["mnist.v1", "mnist.v3"]
    assert b'"model-version-id":"7"' not in b"".join(JSON.export(records).values())
    assert "mnist.v2" not in YAML.export(records)["mnist"].decode()


def test_output_is_deterministic() -> None:
    first, second = normalize(many_snapshot(20)), normalize(many_snapshot(20))
    assert JSON.export(first) == JSON.export(second)
    assert YAML.export(first) == YAML.export(reversed(second))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://example.com/x", "https://example.com/x"),
        (" s3://bucket/key ", "s3://bucket/key"),
        ("oci://quay.io/org/model:1", "oci://quay.io/org/model:1"),
        ("Apache-2", None),
        ("some curl examples", None),
        ("https://", None),
        ("http://host:notaport/", None),
        ("models/relative", None),
        ("https://exa mple.com", None),
        (None, None),
    ],
)
def test_link_url(value: str | None, expected: str | None) -> None:
    assert link_url(value) == expected


@pytest.mark.parametrize("resolver", [None, kserve_like], ids=["registry-url", "kserve"])
def test_published_documents_carry_no_credentials(resolver) -> None:
    """Every link, annotation and text of both formats and of the model card, from a version whose every URL
    carries a credential (tests/bridge/test_normalize.py::leaky_snapshot)."""
    (record,) = normalize(leaky_snapshot(), endpoint_resolver=resolver)
    readme = "Download with `curl https://hf:s3cr3t-readme@huggingface.co/m?token=s3cr3t-readme-token`."
    published = [
        JSON.render(record),
        YAML.render([record]),
        store.model_card(record, readme).encode(),
    ]
    for document in published:
        assert b"s3cr3t" not in document, document.decode()
    doc = JSON.document(record)
    model, server = doc["models"][0], doc["modelServer"]
    assert model["artifactLocationURL"] == (
        "s3://models/mnist/v1?endpoint=http://minio.example.com:9000&defaultRegion=eu-1"
    )
    assert model["license"] == "https://licenses.example.com/LICENSE"
    assert model["annotations"]["TechDocs"] == "https://docs.example.com/mnist"
    assert server["homepageURL"] == "https://mymodel.example.com/welcome"
    assert server["API"]["url"].startswith("https://mnist.apps.example.com")
    assert "download with `curl https://huggingface.co/m`." in store.model_card(record, readme).lower()
