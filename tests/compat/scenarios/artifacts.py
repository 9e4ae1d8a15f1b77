"""Model and doc artifacts: a standalone model artifact upserted into versions keeps its id, typed lookups,
artifact-type filters, updates through the upsert endpoint (any client version)."""

from _support import check, connect, done, expect, raises, status_of, step, unique
from model_registry.types import ArtifactTypeQueryParam, DocArtifact, ListOptions, ModelArtifact
from mr_openapi.exceptions import ApiException

r = connect()
api = r._api
model = unique("artifacts")
r.register_model(model, f"s3://b/{model}/v1", version="v1", model_format_name="onnx", model_format_version="1")
r.register_model(model, f"s3://b/{model}/v2", version="v2", model_format_name="onnx", model_format_version="1")
mv1 = r.get_model_version(model, "v1")
mv2 = r.get_model_version(model, "v2")

step("standalone model artifact")
weights = unique("weights")
standalone = r.async_runner(
    api.upsert_model_artifact(
        ModelArtifact(
            name=weights,
            uri=f"s3://b/{weights}",
            model_format_name="safetensors",
            model_format_version="0.4",
            description="standalone",
            custom_properties={"size_gb": 1.5},
        )
    )
)
check(standalone.id, "standalone artifact has an id", standalone)
expect((standalone.name, standalone.uri), (weights, f"s3://b/{weights}"), "standalone artifact name and uri")
fetched = r.async_runner(api.get_model_artifact_by_id(standalone.id))
expect(
    (fetched.name, fetched.model_format_name, fetched.custom_properties),
    (weights, "safetensors", {"size_gb": 1.5}),
    "standalone artifact by id",
)

step("upsert the standalone artifact into a version: same id back")
linked = r.async_runner(api.upsert_model_version_artifact(standalone, mv1.id))
check(isinstance(linked, ModelArtifact), "upsert returns a ModelArtifact", linked)
expect(linked.id, standalone.id, "id of the linked artifact")
expect(
    (linked.name, linked.uri, linked.model_format_name),
    (weights, standalone.uri, "safetensors"),
    "linked artifact fields",
)
found = r.async_runner(api.get_model_artifact_by_params(name=weights, model_version_id=mv1.id))
check(found is not None, "get_model_artifact_by_params finds the linked artifact by name")
expect(found.id, standalone.id, "artifact found by name under the version")
expect(
    sorted(a.name for a in r.async_runner(api.get_model_version_artifacts(mv1.id))),
    sorted([model, weights]),
    "artifacts of v1",
)

step("the same artifact linked to a second version")
expect(r.async_runner(api.upsert_model_version_artifact(standalone, mv2.id)).id, standalone.id, "id linked to v2")
expect(
    sorted(a.id for a in r.async_runner(api.get_model_version_artifacts(mv2.id))),
    sorted([r.get_model_artifact(model, "v2").id, standalone.id]),
    "artifacts of v2",
)

step("doc artifact in a version")
doc = r.async_runner(
    api.upsert_model_version_artifact(
        DocArtifact(
            name="README",
            uri=f"https://docs.example/{model}/README.md",
            description="model card",
            custom_properties={"lang": "en"},
        ),
        mv1.id,
    )
)
check(isinstance(doc, DocArtifact), "upsert of a DocArtifact returns a DocArtifact", doc)
check(doc.id, "doc artifact has an id", doc)
expect((doc.name, doc.description, doc.custom_properties), ("README", "model card", {"lang": "en"}), "doc artifact")

step("listing by type")
all_v1 = r.async_runner(api.get_model_version_artifacts(mv1.id))
expect(
    sorted((type(a).__name__, a.name) for a in all_v1),
    sorted([("ModelArtifact", model), ("ModelArtifact", weights), ("DocArtifact", "README")]),
    "all artifacts of v1",
)
only_models = r.async_runner(api.get_model_artifacts(mv1.id))
expect(sorted(a.name for a in only_models), sorted([model, weights]), "model artifacts of v1")
docs = r.async_runner(
    api.get_model_version_artifacts(mv1.id, ListOptions.artifact_type(ArtifactTypeQueryParam.DOC_MINUS_ARTIFACT))
)
expect([(type(a).__name__, a.id) for a in docs], [("DocArtifact", doc.id)], "artifactType=doc-artifact filter")
models_only = r.async_runner(
    api.get_model_version_artifacts(mv1.id, ListOptions.artifact_type(ArtifactTypeQueryParam.MODEL_MINUS_ARTIFACT))
)
expect(sorted(a.name for a in models_only), sorted([model, weights]), "artifactType=model-artifact filter")
expect(
    r.async_runner(api.get_model_artifact_by_params(name="README", model_version_id=mv1.id)),
    None,
    "typed model-artifact lookup of a doc artifact's name",
)
by_uri = r.async_runner(api.get_artifacts(filter_query=f'uri = "{doc.uri}"'))
expect([(type(a).__name__, a.id) for a in by_uri], [("DocArtifact", doc.id)], "GET /artifacts?filterQuery=uri = ...")

step("update a doc artifact through the version upsert (id in the body)")
doc.description = "model card, revised"
doc.custom_properties = {"lang": "en", "reviewed": True}
revised = r.async_runner(api.upsert_model_version_artifact(doc, mv1.id))
expect(revised.id, doc.id, "upsert with an id updates in place")
expect(
    (revised.description, revised.custom_properties),
    ("model card, revised", {"lang": "en", "reviewed": True}),
    "doc artifact update",
)
expect(len(r.async_runner(api.get_model_version_artifacts(mv1.id))), 3, "no new artifact after an update")

step("update the linked model artifact with the client's update()")
linked.description = "quantized"
linked.storage_path = "weights/q8"
updated = r.update(linked)
expect(
    (updated.id, updated.description, updated.storage_path),
    (standalone.id, "quantized", "weights/q8"),
    "model artifact update",
)
found = r.async_runner(api.get_model_artifact_by_params(name=weights, model_version_id=mv2.id))
expect((found.id, found.description), (standalone.id, "quantized"), "update visible through the other version")

step("a second model artifact with the name of one created in the same version")
direct = r.async_runner(api.upsert_model_version_artifact(ModelArtifact(name="onnx-export", uri="s3://b/x"), mv1.id))
conflict = raises(
    ApiException,
    "duplicate artifact name in one version",
    r.async_runner,
    api.upsert_model_version_artifact(ModelArtifact(name="onnx-export", uri="s3://b/y"), mv1.id),
)
expect(status_of(conflict), 409, "status for a duplicate artifact name in a version")
other = r.async_runner(api.upsert_model_version_artifact(ModelArtifact(name="onnx-export", uri="s3://b/z"), mv2.id))
check(other.id != direct.id, "the same artifact name is allowed in another version", direct, other)
done()
