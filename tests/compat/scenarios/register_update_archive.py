"""register_model with every argument, read everything back, update, archive and restore (any client version)."""

from _support import (
    API_BASE,
    check,
    connect,
    done,
    expect,
    http_get,
    millis,
    raises,
    status_of,
    step,
    unique,
)
from model_registry.exceptions import StoreError
from model_registry.types import ModelVersionState, RegisteredModel, RegisteredModelState
from mr_openapi.exceptions import ApiException

r = connect()
api = r._api
name = unique("mnist")
uri = f"s3://models-bucket/{name}/1/"
metadata = {"framework": "pytorch", "epochs": 12, "offset": -3, "accuracy": 0.975, "quantized": False, "label": ""}
# A version shows the custom property "Lifecycle" only once governance set its stage: a new one reads back exactly
# the properties the client wrote (round-trip equality).

step("register_model with every argument")
rm = r.register_model(
    name,
    uri,
    model_format_name="onnx",
    model_format_version="1.14",
    version="1.0.0",
    storage_key="aws-connection-models",
    storage_path=f"{name}/1",
    service_account_name="model-sa",
    model_source_kind="kfp",
    model_source_class="pipelinerun",
    model_source_group="team-ns",
    model_source_id="run-0042",
    model_source_name="train-mnist",
    author="alice",
    owner="bob",
    version_description="first version",
    metadata=metadata,
)
check(rm.id, "the registered model has an id", rm)
expect(rm.name, name, "registered model name")
expect(rm.owner, "bob", "registered model owner")
expect(rm.state, RegisteredModelState.LIVE, "registered model state")

step("get_registered_model")
got = r.get_registered_model(name)
check(got is not None, "get_registered_model finds the new model")
expect(got.id, rm.id, "registered model id")
expect(got.owner, "bob", "owner read back")
rm_created = millis(got.create_time_since_epoch, "registered model createTimeSinceEpoch")
millis(got.last_update_time_since_epoch, "registered model lastUpdateTimeSinceEpoch")
expect(r.async_runner(api.get_registered_model_by_id(rm.id)).name, name, "registered model by id")

step("get_model_version")
mv = r.get_model_version(name, "1.0.0")
check(mv is not None, "get_model_version finds version 1.0.0")
expect(mv.name, "1.0.0", "version name")
expect(mv.registered_model_id, rm.id, "version registeredModelId")
expect(mv.author, "alice", "version author")
expect(mv.description, "first version", "version description")
expect(mv.state, ModelVersionState.LIVE, "version state")
expect(mv.custom_properties, metadata, "version metadata (str/int/negative int/float/bool/empty-string label)")
expect(r.async_runner(api.get_model_version_by_id(mv.id)).name, "1.0.0", "version by id")

step("get_model_artifact")
ma = r.get_model_artifact(name, "1.0.0")
check(ma is not None, "get_model_artifact finds the artifact")
expect(ma.name, name, "model artifact name (the client names it after the model)")
expected_fields = {
    "uri": uri,
    "model_format_name": "onnx",
    "model_format_version": "1.14",
    "storage_key": "aws-connection-models",
    "storage_path": f"{name}/1",
    "service_account_name": "model-sa",
    "model_source_kind": "kfp",
    "model_source_class": "pipelinerun",
    "model_source_group": "team-ns",
    "model_source_id": "run-0042",
    "model_source_name": "train-mnist",
}
expect({k: getattr(ma, k) for k in expected_fields}, expected_fields, "model artifact fields")
expect(r.async_runner(api.get_model_artifact_by_id(ma.id)).uri, uri, "model artifact by id")

step("lookups of things that do not exist")
expect(r.get_registered_model(unique("absent")), None, "get_registered_model of an unknown name")
expect(r.get_model_version(name, "9.9.9"), None, "get_model_version of an unknown version")
expect(r.async_runner(api.get_registered_model_by_id("999999")), None, "registered model by unknown id")
raises(StoreError, "get_model_artifact of an unknown version", r.get_model_artifact, name, "9.9.9")
raises(StoreError, "get_model_versions of an unknown model", r.get_model_versions, unique("absent"))

step("a second version (name with a colon) of the same model")
uri2 = f"s3://models-bucket/{name}/2/"
again = r.register_model(name, uri2, model_format_name="onnx", model_format_version="1", version="v2:tagged")
expect(again.id, rm.id, "register_model reuses the existing registered model")
expect(r.get_model_artifact(name, "v2:tagged").uri, uri2, "second version's artifact")
expect([v.name for v in r.get_model_versions(name)], ["1.0.0", "v2:tagged"], "versions in creation order")
raises(
    StoreError,
    "registering an existing version",
    r.register_model,
    name,
    "s3://x",
    model_format_name="onnx",
    model_format_version="1",
    version="1.0.0",
)
conflict = raises(
    ApiException,
    "creating a registered model whose name exists",
    r.async_runner,
    api.upsert_registered_model(RegisteredModel(name=name)),
)
expect(status_of(conflict), 409, "status for a duplicate registered model name")

step("update the registered model: description, external id, custom properties")
external_id = unique("ext")
before = int(got.last_update_time_since_epoch)
got.description = "MNIST digits classifier"
got.external_id = external_id
got.custom_properties = {"team": "vision", "priority": 1}
updated = r.update(got)
expect(updated.id, rm.id, "updated id")
expect(updated.description, "MNIST digits classifier", "updated description")
expect(updated.external_id, external_id, "updated externalId")
expect(updated.custom_properties, {"team": "vision", "priority": 1}, "updated custom properties")
expect(updated.owner, "bob", "owner kept by an update")
expect(int(updated.create_time_since_epoch), rm_created, "createTimeSinceEpoch unchanged by an update")
check(
    int(updated.last_update_time_since_epoch) > before,
    "lastUpdateTimeSinceEpoch grows on update",
    before,
    updated.last_update_time_since_epoch,
)
reread = r.get_registered_model(name)
expect(
    (reread.description, reread.custom_properties), (updated.description, updated.custom_properties), "update persisted"
)
expect(
    r.async_runner(api.get_registered_model_by_params(external_id=external_id)).id,
    rm.id,
    "registered model found by externalId",
)

step("update the version: description and custom properties (the map is replaced)")
mv_before = int(mv.last_update_time_since_epoch)
mv.description = "retrained"
mv.custom_properties = {"framework": "pytorch", "accuracy": 0.99}
mv_updated = r.update(mv)
expect(mv_updated.description, "retrained", "updated version description")
expect(
    mv_updated.custom_properties,
    {"framework": "pytorch", "accuracy": 0.99},
    "version custom properties replaced",
)
check(
    int(mv_updated.last_update_time_since_epoch) > mv_before,
    "version lastUpdateTimeSinceEpoch grows",
    mv_before,
    mv_updated.last_update_time_since_epoch,
)
mv_reread = r.get_model_version(name, "1.0.0")
expect(mv_reread.custom_properties, {"framework": "pytorch", "accuracy": 0.99}, "version update persisted")
expect(mv_reread.author, "alice", "author kept by an update")

step("update the model artifact")
ma_before = int(ma.last_update_time_since_epoch)
ma.description = "fp32 weights"
ma.storage_path = f"{name}/1-fixed"
ma.custom_properties = {"sha256": "abc123"}
ma_updated = r.update(ma)
expect(ma_updated.id, ma.id, "updated artifact id")
expect((ma_updated.description, ma_updated.storage_path), ("fp32 weights", f"{name}/1-fixed"), "artifact update")
expect(ma_updated.custom_properties, {"sha256": "abc123"}, "artifact custom properties")
expect((ma_updated.uri, ma_updated.model_format_name), (uri, "onnx"), "artifact fields kept by an update")
check(int(ma_updated.last_update_time_since_epoch) > ma_before, "artifact lastUpdateTimeSinceEpoch grows")
expect(r.get_model_artifact(name, "1.0.0").storage_path, f"{name}/1-fixed", "artifact update persisted")

step("archive a version, then the model, which archives its live versions with it")
mv_reread.state = ModelVersionState.ARCHIVED
expect(r.update(mv_reread).state, ModelVersionState.ARCHIVED, "archived version state")
expect(r.get_model_version(name, "1.0.0").state, ModelVersionState.ARCHIVED, "archived version read back")
expect(r.get_model_version(name, "v2:tagged").state, ModelVersionState.LIVE, "other version still LIVE")
reread.state = RegisteredModelState.ARCHIVED
expect(r.update(reread).state, RegisteredModelState.ARCHIVED, "archived model state")
archived = r.get_registered_model(name)
expect(archived.state, RegisteredModelState.ARCHIVED, "archived model read back")
expect(archived.description, "MNIST digits classifier", "archiving keeps the description")
expect(r.get_model_version(name, "v2:tagged").state, ModelVersionState.ARCHIVED, "archived with its model")
check(rm.id not in {m.id for m in r.get_registered_models()}, "an archived model leaves the default listing")
status, body = http_get(f"{API_BASE}/registered_models/{rm.id}")
expect((status, body.get("state") if isinstance(body, dict) else body), (200, "ARCHIVED"), "raw GET of archived model")

step("awkward names: spaces, quotes, %, _, /, colons, unicode; 250-character version name")
for awkward in (
    f"{name} with spaces",
    f"{name}-it's",
    f'{name}-"q"',
    f"{name}-100%_x",
    f"{name}/a/b",
    f"{name}:tag",
    f"{name}-ünïcødé-模型",
):
    version = "v 1/ü'%:x"
    r.register_model(awkward, "s3://b/awkward", version=version, model_format_name="onnx", model_format_version="1")
    found = r.get_registered_model(awkward)
    expect(found.name if found else None, awkward, "registered model found by an awkward name")
    expect(r.get_model_version(awkward, version).name, version, f"awkward version name under {awkward!r}")
    expect(r.get_model_artifact(awkward, version).name, awkward, f"artifact of {awkward!r}")
expect(r.get_registered_model(f"{name}-100%_y"), None, "% and _ in a looked-up name are not wildcards")
long_version = "v" * 250
r.register_model(name, "s3://b/long", version=long_version, model_format_name="onnx", model_format_version="1")
expect(r.get_model_version(name, long_version).name, long_version, "250-character version name")
raises(
    Exception,
    "a 255-character version name is refused",
    r.register_model,
    name,
    "s3://b/too-long",
    version="w" * 255,
    model_format_name="onnx",
    model_format_version="1",
)

step("restore")
archived.state = RegisteredModelState.LIVE
expect(r.update(archived).state, RegisteredModelState.LIVE, "restored model state")
expect(r.get_registered_model(name).state, RegisteredModelState.LIVE, "restored model read back")
expect(r.get_model_version(name, "v2:tagged").state, ModelVersionState.LIVE, "restored with its model")
expect(r.get_model_version(name, "1.0.0").state, ModelVersionState.ARCHIVED, "archived on its own: stays archived")
done()
