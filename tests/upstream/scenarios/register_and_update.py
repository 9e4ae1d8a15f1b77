"""register_model, read everything back, update, archive (both client generations)."""

from _common import registry, unique
from model_registry.types import ModelVersionState, RegisteredModelState

r = registry()
name = unique("mnist")
metadata = {"accuracy": 0.97, "epochs": 10, "framework": "onnx", "quantized": True, "label": ""}
rm = r.register_model(
    name,
    "s3://models/mnist/v1/",
    version="v1",
    model_format_name="onnx",
    model_format_version="1",
    version_description="first",
    metadata=metadata,
    storage_key="minio",
    storage_path="mnist/v1",
)
assert rm.name == name and rm.id, rm
assert r.get_registered_model(name).id == rm.id

mv = r.get_model_version(name, "v1")
assert mv.name == "v1" and mv.registered_model_id == rm.id, mv
assert mv.description == "first"
assert mv.custom_properties == metadata, mv.custom_properties
assert mv.author == "tester"

ma = r.get_model_artifact(name, "v1")
assert ma.uri == "s3://models/mnist/v1/" and ma.model_format_name == "onnx", ma
assert ma.model_format_version == "1" and ma.storage_key == "minio" and ma.storage_path == "mnist/v1"

# a second version of the same model
r.register_model(name, "s3://models/mnist/v2/", version="v2", model_format_name="onnx", model_format_version="1")
assert r.get_model_artifact(name, "v2").uri == "s3://models/mnist/v2/"
assert sorted(v.name for v in r.get_model_versions(name)) == ["v1", "v2"]

before = mv.last_update_time_since_epoch
mv.description = "updated"
mv.custom_properties = {**metadata, "accuracy": 0.99}
updated = r.update(mv)
assert updated.description == "updated"
assert updated.custom_properties["accuracy"] == 0.99
assert int(updated.last_update_time_since_epoch) > int(before)
assert updated.create_time_since_epoch == mv.create_time_since_epoch

mv = r.get_model_version(name, "v1")
mv.state = ModelVersionState.ARCHIVED
assert r.update(mv).state == ModelVersionState.ARCHIVED
rm = r.get_registered_model(name)
rm.state = RegisteredModelState.ARCHIVED
assert r.update(rm).state == RegisteredModelState.ARCHIVED
assert r.get_registered_model(name).state == RegisteredModelState.ARCHIVED
rm.state = RegisteredModelState.LIVE
assert r.update(rm).state == RegisteredModelState.LIVE

try:
    r.register_model(name, "s3://x", version="v1", model_format_name="onnx", model_format_version="1")
except Exception as exc:  # the client refuses an existing version before the server sees it
    assert "exist" in str(exc).lower(), exc
else:
    raise AssertionError("registering an existing version must fail")
print("ok")
