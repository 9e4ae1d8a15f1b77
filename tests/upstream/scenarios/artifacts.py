"""Standalone artifacts linked to a version keep their id; typed lookups by name."""

from _common import registry, unique
from model_registry.types import ModelArtifact

r = registry()
name = unique("artifacts")
r.register_model(name, "s3://b/a/v1", version="v1", model_format_name="onnx", model_format_version="1")
mv = r.get_model_version(name, "v1")

api = r._api
standalone = r.async_runner(api.upsert_model_artifact(ModelArtifact(name="weights", uri="s3://b/weights")))
linked = r.async_runner(api.upsert_model_version_artifact(standalone, mv.id))
assert linked.id == standalone.id, (linked.id, standalone.id)
found = r.async_runner(api.get_model_artifact_by_params(name="weights", model_version_id=mv.id))
assert found is not None and found.id == standalone.id, found
artifacts = r.async_runner(api.get_model_version_artifacts(mv.id))
assert {a.name for a in artifacts} == {name, "weights"}, artifacts
print("ok")
