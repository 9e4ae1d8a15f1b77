"""Every entity the bridge formats produce passes Backstage's own validation (`@backstage/catalog-model`, run by node).

JSON documents go through both generations of the Backstage module: the 0.7.0 mapping (Resource, Component, API)
and the 1.1.0 module's own generator (one `AiModelServerAPI` per deployed document, validated with the kind's
validator from `…-catalog-model-ai-model-server`). Each test batches its entities into one node invocation.
"""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from collections.abc import Callable

import orjson
import pytest
import yaml

from bridge.backstage_rules import entities_from_catalog
from bridge.fixtures import awkward_snapshot, many_snapshot, mnist_snapshot
from modelreg.bridge.formats import CatalogInfoYamlFormat, JsonArrayFormat
from modelreg.bridge.normalize import RegistrySnapshot, normalize
from modelreg.bridge.records import ModelRecord

from .conftest import HERE, VALIDATOR, Verdict, validate

SNAPSHOTS: dict[str, Callable[[], RegistrySnapshot]] = {
    "mnist": mnist_snapshot,
    "awkward": awkward_snapshot,
    "many": lambda: many_snapshot(40),
}


def all_records() -> list[ModelRecord]:
    records: list[ModelRecord] = []
    for make in SNAPSHOTS.values():
        records += normalize(make()) + normalize(make(), source="upstream")
    return records


def failures(verdicts: list[Verdict]) -> list[str]:
    return [f"{v.origin} {v.kind} {v.name}: {v.error}" for v in verdicts if not v.ok]


def test_json_documents_yield_valid_entities_in_both_provider_generations(node: str) -> None:
    docs = [orjson.loads(body) for body in JsonArrayFormat().export(all_records()).values()]
    code, verdicts = validate(node, orjson.dumps(docs))
    assert failures(verdicts) == [] and code == 0
    by_generation = Counter((v.origin.rsplit("/", 1)[1], v.kind) for v in verdicts)
    deployed = sum(1 for d in docs if "modelServer" in d)
    assert deployed >= 4, "the fixtures should deploy some versions"
    assert by_generation == {
        ("0.7.0", "Resource"): len(docs),
        ("0.7.0", "Component"): deployed,
        ("0.7.0", "API"): deployed,
        ("1.1.0", "AiModelServerAPI"): deployed,
    }
    names = [v.name for v in verdicts]
    assert not any(n and n.startswith("mnist.v2") for n in names), "archived version mnist v2 was exported"
    assert {"mnist.v1", "mnist.v3"} <= set(names)


def test_yaml_entities_are_valid(node: str) -> None:
    bodies = CatalogInfoYamlFormat().export(all_records()).values()
    stream = b"".join(b"---\n" + body for body in bodies)
    expected = sum(1 for body in bodies for doc in yaml.safe_load_all(body) if doc)
    code, verdicts = validate(node, stream)
    assert failures(verdicts) == [] and code == 0
    assert len(verdicts) == expected
    kinds = Counter(v.kind for v in verdicts)
    assert kinds["Component"] and kinds["Resource"] and kinds["API"], kinds


def test_python_port_of_the_070_mapping_agrees_with_backstage(node: str) -> None:
    """tests/bridge checks the Python port of the rules; here Backstage judges the entities that port produces."""
    docs = [orjson.loads(body) for body in JsonArrayFormat().export(all_records()).values()]
    entities = [e for d in docs for e in entities_from_catalog(d)]
    code, verdicts = validate(node, json.dumps(entities))
    assert failures(verdicts) == [] and code == 0
    assert len(verdicts) == len(entities)


def _entity(kind: str = "Resource", name: str = "ok-name", **spec: object) -> dict[str, object]:
    base: dict[str, object] = {"type": "ai-model", "owner": "user:someone"}
    if kind in ("Component", "API"):
        base["lifecycle"] = "development"
    if kind == "API":
        base["definition"] = "openapi: 3.0.0"
    return {
        "apiVersion": "backstage.io/v1alpha1",
        "kind": kind,
        "metadata": {"name": name},
        "spec": {**base, **spec},
    }


BAD: dict[str, dict[str, object]] = {
    "slash in name": _entity(name="mnist-v1/8c2c"),
    "space in name": _entity(name="My Model"),
    "70-char name": _entity(name="x" * 70),
    "empty definition": _entity("API", definition=""),
    "empty lifecycle": _entity("Component", lifecycle=""),
    "unknown root field": {**_entity(), "extra": 1},
    "link url not a url": {**_entity(), "metadata": {"name": "a", "links": [{"url": "Apache-2", "title": "License"}]}},
    "empty link title": {**_entity(), "metadata": {"name": "a", "links": [{"url": "https://x.io", "title": ""}]}},
    "tag with underscore": {**_entity(), "metadata": {"name": "a", "tags": ["a_b"]}},
    "tag with capital": {**_entity(), "metadata": {"name": "a", "tags": ["Provider-rhoai"]}},
    "unknown kind": _entity(kind="Model"),
    "bad owner ref": _entity(owner="user:default/"),
    "AiModelServerAPI without serverUrl": {
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "AiModelServerAPI",
        "metadata": {"name": "srv"},
        "spec": {"type": "ai-model-server", "lifecycle": "development", "owner": "user:a", "serverType": "rest"},
    },
}


def test_backstage_rejects_bad_entities(node: str) -> None:
    """The validator is not a rubber stamp: each of these fails, and a good one in the same batch passes."""
    good = _entity(name="good.name_1-x")
    code, verdicts = validate(node, json.dumps([good, *BAD.values()]))
    assert code == 1
    assert verdicts[0].ok, verdicts[0]
    rejected = dict(zip(BAD, verdicts[1:], strict=True))
    assert [label for label, v in rejected.items() if v.ok] == []
    assert all(v.error for v in rejected.values())


def test_raw_reference_values_would_be_rejected(node: str) -> None:
    """What the reference emitted (§7.8: `License: Apache-2` as a link; raw version names) fails in Backstage."""
    doc = {
        "models": [
            {
                "name": "mnist v1",
                "description": "d",
                "owner": "kube:admin",
                "lifecycle": "development",
                "license": "Apache-2",
                "annotations": {},
            },
        ],
        "modelServer": {
            "name": "mnist-v1/8c2c",
            "owner": "kube:admin",
            "lifecycle": "development",
            "description": "d",
            "API": {"url": "https://mnist.example.com", "type": "REST", "spec": "x"},
        },
    }
    code, verdicts = validate(node, json.dumps([doc]))
    assert code == 1
    bad = {(v.origin.rsplit("/", 1)[1], v.kind) for v in verdicts if not v.ok}
    assert ("0.7.0", "Resource") in bad  # the License link
    assert ("1.1.0", "AiModelServerAPI") in bad  # the `/` in the server name


@pytest.mark.parametrize("payload", [b"{not json", b"- [unclosed"])
def test_unreadable_input_is_an_error(node: str, payload: bytes) -> None:
    proc = subprocess.run([node, str(VALIDATOR)], input=payload, capture_output=True, cwd=HERE, timeout=60)
    assert proc.returncode == 2, proc.stdout
