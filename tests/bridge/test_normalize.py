from __future__ import annotations

import pytest

from modelreg.bridge.normalize import (
    Defaults,
    RegistrySnapshot,
    normalize,
    property_tags,
    registry_endpoint,
    string_property,
)
from modelreg.bridge.records import Endpoint

from .fixtures import (
    ONNX_URI,
    cprops,
    inference_service,
    mnist_snapshot,
    model_artifact,
    model_version,
    prop,
    props,
    registered_model,
    serving_environment,
)


def one(model: dict, version: dict, **kwargs) -> list:
    return normalize(RegistrySnapshot(registered_models=[model], model_versions=[version]), **kwargs)


def test_mnist_live_versions_only() -> None:
    records = normalize(mnist_snapshot())
    assert [r.name for r in records] == ["mnist.v1", "mnist.v3"]
    v1, v3 = records
    assert v1.model_key == v3.model_key == "mnist"
    assert v1.description == "simple model that does not require a GPU"
    assert v1.owner == "kubeadmin"  # from the model's `owner` field, sanitized
    assert v1.lifecycle == "development"
    assert v1.properties.license == "Apache-2" and v3.properties.license is None
    assert v1.properties.ethics and v1.properties.support and v1.properties.training and v1.properties.usage
    assert v1.properties.api_type == "grpc" and v1.properties.api_spec == "an openapi spec string"
    assert v1.artifacts[0].uri == ONNX_URI and v1.artifacts[0].model_source_class == "Red Hat"


def test_mnist_tags() -> None:
    v1, v3 = normalize(mnist_snapshot())
    # Reference set minus last-modified-time (churns on every edit), plus the artifact's framework-onnx.
    assert set(v1.tags) == {
        "rhoai",
        "rhoai-model-registry",
        "matteos-lightweight-test-model",
        "v1",
        "grpc",
        "framework-onnx",
    }
    assert "framework-onnx" not in v3.tags
    assert all(not t.startswith("last-modified") for t in v1.tags)


def test_endpoints_from_inference_service_url() -> None:
    v1, v3 = normalize(mnist_snapshot())
    assert v1.endpoints == (
        Endpoint(
            id="4",
            name="ggmtest.mnist-v1",
            service_name="mnist-v1",
            url="https://mnist-v1-ggmtest.apps.example.com",
            namespace="ggmtest",
        ),
    )
    assert v3.endpoints == ()


def test_inference_service_without_url_or_undeployed_gives_no_endpoint() -> None:
    assert normalize(mnist_snapshot(url=None))[0].endpoints == ()
    snap = mnist_snapshot()
    undeployed = RegistrySnapshot(
        registered_models=snap.registered_models,
        model_versions=snap.model_versions,
        inference_services=[{**snap.inference_services[0], "desiredState": "UNDEPLOYED"}],
        serving_environments=snap.serving_environments,
    )
    assert normalize(undeployed)[0].endpoints == ()


def test_endpoint_resolver_hook() -> None:
    def kserve(service: dict, env: dict | None) -> Endpoint:
        return Endpoint(
            id=service["id"],
            name="x",
            service_name="x",
            url="https://ext",
            internal_url="http://int",
            authentication=True,
        )

    assert normalize(mnist_snapshot(), endpoint_resolver=kserve)[0].endpoints[0].authentication is True


def test_archived_model_hides_all_versions() -> None:
    snap = mnist_snapshot()
    archived = RegistrySnapshot(
        registered_models=[{**snap.registered_models[0], "state": "ARCHIVED"}],
        model_versions=snap.model_versions,
    )
    assert normalize(archived) == []


def test_empty_registry() -> None:
    assert normalize(RegistrySnapshot()) == []


def test_orphan_version_is_skipped() -> None:
    assert normalize(RegistrySnapshot(model_versions=[model_version("1", "v1", "99")])) == []


@pytest.mark.parametrize(
    ("model_props", "version_props", "model_owner", "defaults", "expected"),
    [
        ({"Owner": "model-prop"}, {"Owner": "version-prop"}, "field", Defaults(), "version-prop"),
        ({"Owner": "model-prop"}, {}, "field", Defaults(), "model-prop"),
        ({}, {}, "kube:admin", Defaults(), "kubeadmin"),
        ({}, {"Owner": ""}, "field", Defaults(), "field"),  # empty counts as unset
        ({}, {}, None, Defaults.create(owner="team-a"), "team-a"),
        ({}, {}, None, Defaults.create(owner="!!"), "rhdh-rhoai-bridge"),
        ({}, {}, None, Defaults(), "rhdh-rhoai-bridge"),
        ({}, {"Owner": "@@@"}, "field", Defaults(), "field"),  # nothing usable left after sanitizing
    ],
)
def test_owner_precedence(model_props, version_props, model_owner, defaults, expected) -> None:
    model = registered_model("1", "m", owner=model_owner, properties=cprops(model_props))
    version = model_version("2", "v1", "1", properties=cprops(version_props))
    assert one(model, version, defaults=defaults)[0].owner == expected


def test_owner_ignores_non_string_property() -> None:
    model = registered_model("1", "m", owner="field")
    version = model_version("2", "v1", "1", properties={"Owner": prop(5)})
    assert one(model, version)[0].owner == "field"


@pytest.mark.parametrize(
    ("model_props", "version_props", "defaults", "expected"),
    [
        ({"Lifecycle": "staging"}, {"Lifecycle": "production"}, Defaults(), "production"),
        ({"Lifecycle": "staging"}, {}, Defaults(), "staging"),
        ({}, {}, Defaults.create(lifecycle="experimental"), "experimental"),
        ({}, {}, Defaults.create(lifecycle=""), "development"),
        ({}, {}, Defaults(), "development"),
    ],
)
def test_lifecycle_precedence(model_props, version_props, defaults, expected) -> None:
    model = registered_model("1", "m", properties=cprops(model_props))
    version = model_version("2", "v1", "1", properties=cprops(version_props))
    assert one(model, version, defaults=defaults)[0].lifecycle == expected


def test_defaults_are_sanitized_and_fall_back() -> None:
    assert Defaults.create("ai:team\n", "prod") == Defaults("aiteam", "prod")
    assert Defaults.create() == Defaults("rhdh-rhoai-bridge", "development")


def test_well_known_version_first_then_model_and_both_spellings() -> None:
    model = registered_model(
        "1", "m", properties=cprops({"License": "MIT", "Registered From": "catalog", "Provider": "IBM"})
    )
    version = model_version("2", "v1", "1", properties=cprops({"License": "https://apache.org/licenses/LICENSE-2.0"}))
    record = one(model, version)[0]
    assert record.properties.license == "https://apache.org/licenses/LICENSE-2.0"
    assert record.properties.registered_from == "catalog"
    assert record.properties.provider == "IBM"


def test_keys_are_case_sensitive() -> None:
    record = one(registered_model("1", "m"), model_version("2", "v1", "1", properties=cprops({"license": "MIT"})))[0]
    assert record.properties.license is None


@pytest.mark.parametrize(
    ("properties", "expected"),
    [
        ({"Provider": "IBM"}, {"Provider": "ibm"}),
        ({"Provider": "Red Hat"}, {"Provider": "red hat"}),  # filtered later: not a valid tag
        ({"team": "ai"}, {"team": "team-ai"}),
        ({"gpu": True, "layers": 12}, {"gpu": "gpu-true", "layers": "layers-12"}),
        ({"flag": ""}, {"flag": "flag"}),
        ({"License": "MIT", "TechDocs": "https://x", "_lastModified": "2025", "_internal": "x"}, {}),
        ({"_registeredFromCatalogRepositoryName": "rhelai1"}, {"_registeredFromCatalogRepositoryName": "rhelai1"}),
    ],
)
def test_property_tags(properties: dict, expected: dict) -> None:
    assert property_tags(cprops(properties)) == expected


def test_tags_filtered_by_backstage_rules_and_overlaid() -> None:
    model = registered_model(
        "1", "m", properties=cprops({"Provider": "Red Hat", "team": "ai", "Ethics": "x", "How to use": "y"})
    )
    version = model_version("2", "v1", "1", properties=cprops({"team": "ml", "Registered from": "RHOAI"}))
    snap = RegistrySnapshot(
        registered_models=[model],
        model_versions=[version],
        artifacts_by_version={
            "2": [model_artifact("5", "a", "s3://b/k", properties=cprops({"format": "ONNX", "bad_key": "x"}))]
        },
    )
    record = normalize(snap)[0]
    assert record.tags == ("team-ml", "rhoai", "format-onnx")
    assert record.model_tags == ("team-ai",)


def test_string_property_ignores_other_types() -> None:
    assert string_property({"a": prop(1)}, "a") is None
    assert string_property({"a": prop("x")}, "a") == "x"
    assert string_property(None, "a") is None


def test_names_with_awkward_characters_are_unique_per_version() -> None:
    models = [
        registered_model(str(i), n)
        for i, n in enumerate(["my_model", "my.model", "my model", "my:model", "my/model", "mymodel"], start=1)
    ]
    versions = [model_version(str(100 + i), "v 1.0", str(i)) for i in range(1, 7)]
    records = normalize(RegistrySnapshot(registered_models=models, model_versions=versions))
    assert len({r.name.lower() for r in records}) == 6
    assert len({r.model_key.lower() for r in records}) == 6


def test_source_prefix_keeps_registries_apart() -> None:
    local = normalize(mnist_snapshot())
    remote = normalize(mnist_snapshot(), source="upstream")
    assert {r.name for r in remote} == {"upstream.mnist.v1", "upstream.mnist.v3"}
    assert not {r.name for r in local} & {r.name for r in remote}
    assert remote[0].endpoints[0].name == "upstream.ggmtest.mnist-v1"


def test_description_joins_model_and_version() -> None:
    model = registered_model("1", "m", description="Model text")
    assert one(model, model_version("2", "v1", "1", description="Version text"))[0].description == (
        "Model text\n\nVersion text"
    )
    assert one(model, model_version("2", "v1", "1"))[0].description == "Model text"
    assert one(registered_model("1", "m"), model_version("2", "v1", "1"))[0].description == ""


def test_last_update_is_numeric_max() -> None:
    model = registered_model("1", "m", updated=9)
    record = one(model, model_version("2", "v1", "1", updated=10))[0]
    assert record.last_update == 10  # the reference compared these as strings ("9" > "10")


def test_registry_endpoint_uses_runtime_and_namespace() -> None:
    resolve = registry_endpoint("")
    service = inference_service("4", "svc/abc", "1", "2", "3", url=" https://x ")
    endpoint = resolve(service, serving_environment("3", "ns"))
    assert endpoint is not None and endpoint.url == "https://x" and endpoint.service_name == "svc/abc"
    assert endpoint.name.startswith("ns.svc-abc--")
    assert resolve(inference_service("4", "s", "1", "2", "3"), None) is None
    assert props(url="u")["url"]["string_value"] == "u"


# Every place a registry user can put a URL, each with its own secret (all contain "s3cr3t").
LEAKY_MODEL_PROPS = {
    "License": "https://licenses.example.com/LICENSE?token=s3cr3t-license",
    "Homepage URL": "https://admin:s3cr3t-homepage@mymodel.example.com/welcome",
}
LEAKY_VERSION_PROPS = {
    "How to use": "curl 'https://api.example.com/v1/predict?api_key=s3cr3t-howto&verbose=1'",
    "TechDocs": "https://docs.example.com/mnist?access_token=s3cr3t-techdocs",
    "API Spec": "https://spec.example.com/openapi.json?X-Amz-Date=20240101T000000Z&X-Amz-Signature=s3cr3t-spec",
    "Usage": "Mount key:s3cr3t-usage@minio.example.com:9000/models first.",
    "Support": "ml-team@example.com",
}
LEAKY_URIS = {
    "nested": "s3://models/mnist/v1?endpoint=http://minio:s3cr3t-endpoint@minio.example.com:9000&defaultRegion=eu-1",
    "presigned": "https://b.s3.amazonaws.com/mnist.onnx?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA"
    "s3cr3t-credential&X-Amz-Security-Token=s3cr3t-session&X-Amz-Signature=s3cr3t-signature&X-Amz-Expires=3600",
    "scheme-less": "key:s3cr3t-schemeless@minio.example.com:9000/models/mnist",
}
LEAKY_SERVICE_URL = "https://mnist.apps.example.com/v1/models/mnist?sv=2022-11-02&se=2030-01-01&sig=s3cr3t-sas"


def leaky_snapshot() -> RegistrySnapshot:
    """One deployed version whose every URL-bearing field carries a credential."""
    return RegistrySnapshot(
        registered_models=[
            registered_model(
                "1",
                "mnist",
                description="Weights mirrored at https://bob:s3cr3t-description@files.example.com/mnist.",
                properties=cprops(LEAKY_MODEL_PROPS),
            )
        ],
        model_versions=[model_version("2", "v1", "1", properties=cprops(LEAKY_VERSION_PROPS))],
        artifacts_by_version={
            "2": [
                model_artifact(str(i), name, uri, description=f"also at {uri}")
                for i, (name, uri) in enumerate(LEAKY_URIS.items(), start=10)
            ]
        },
        inference_services=[inference_service("4", "mnist-v1", "1", "2", "3", url=LEAKY_SERVICE_URL)],
        serving_environments=[serving_environment("3", "team-ns")],
    )


def kserve_like(service: dict, environment: dict | None) -> Endpoint:
    """A resolver that, like the KServe status reader, builds the endpoint itself (not from the registry URL)."""
    return Endpoint(
        id=str(service["id"]),
        name="team-ns.mnist-v1",
        service_name="mnist-v1",
        url="https://ext:s3cr3t-external@mnist.apps.example.com?authorization=s3cr3t-auth",
        internal_url="http://int:s3cr3t-internal@mnist-v1.team-ns.svc.cluster.local",
    )


@pytest.mark.parametrize("resolver", [None, kserve_like], ids=["registry-url", "kserve"])
def test_records_carry_no_credentials(resolver) -> None:
    (record,) = normalize(leaky_snapshot(), endpoint_resolver=resolver)
    assert "s3cr3t" not in repr(record)
    by_name = {a.name: a.uri for a in record.artifacts}
    assert by_name == {
        "nested": "s3://models/mnist/v1?endpoint=http://minio.example.com:9000&defaultRegion=eu-1",
        "presigned": "https://b.s3.amazonaws.com/mnist.onnx?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=3600",
        "scheme-less": "minio.example.com:9000/models/mnist",
    }
    props = record.properties
    assert props.homepage_url == "https://mymodel.example.com/welcome"
    assert props.license == "https://licenses.example.com/LICENSE"
    assert props.how_to_use == "curl 'https://api.example.com/v1/predict?verbose=1'"
    assert props.usage == "Mount minio.example.com:9000/models first."
    assert props.support == "ml-team@example.com"  # an address, not a credential
    assert record.description == "Weights mirrored at https://files.example.com/mnist."
    (endpoint,) = record.endpoints
    if resolver is None:
        assert endpoint.url == "https://mnist.apps.example.com/v1/models/mnist"
    else:
        assert endpoint.url == "https://mnist.apps.example.com"
        assert endpoint.internal_url == "http://mnist-v1.team-ns.svc.cluster.local"


def test_credential_named_properties_are_not_published_as_tags() -> None:
    """A property's value becomes a tag (`key-value`): not when the key names a credential."""
    secret_props = cprops({"apikey": "abc123", "Token": "zzz", "sig": "q1", "key": "k9", "team": "ml"})
    record = one(registered_model("1", "m"), model_version("2", "v1", "1", properties=secret_props))[0]
    assert record.tags == ("team-ml",)
    assert property_tags(cprops({"key": "mnist.onnx"})) == {"key": "key-mnist.onnx"}  # an object name, no secret
