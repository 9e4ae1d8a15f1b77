"""What the upstream async-upload job (Kubeflow ``jobs/async-upload``) does to a registry, replayed with the published
client, so that "the job pointed at modelreg" is covered without its code (not on PyPI; nothing may be downloaded
when the tests run). Its image, skopeo and the Kubernetes Job around it are out of scope: the push here is the
client's own ``save_to_oci_registry`` with the oras-py backend, which yields the same kind of ``oci://`` URI.

The sequences, per intent (the job's ``entrypoint.py`` / ``mr_client.py``):
- ``create_model``: GET the registered model by name (fast-fail when it exists), upload, then create the registered
  model, its version and the version's model artifact (with the BFF's ``modelSource*`` fields), then PATCH the
  artifact LIVE;
- ``create_version``: GET the model by id and the version by name (fast-fail), upload, create version + artifact,
  PATCH LIVE;
- ``update_artifact``: GET the artifact by id, PATCH it PENDING, upload, PATCH ``uri`` and LIVE.
The fast-fail reads must find what exists, and every write must read back as the job wrote it.

Usage: ``async_upload_replay.py <server-url> <registry host:port> <base-layout-dir> <model-dir>``.
"""

from _oci import backend, push_base
from _support import API_BASE, ARGS, check, connect, done, expect, http_get, step, unique
from model_registry.types import ArtifactState, ModelArtifact, ModelVersion, RegisteredModel
from model_registry.utils import save_to_oci_registry

registry_host, base_layout, model_dir = ARGS
r = connect()
api = r._api  # the client's REST layer, which the job drives the same way
run = r.async_runner
base_image = push_base(registry_host, base_layout)
namespace = "team-a"


def upload(repository: str, tag: str) -> str:
    """The job's upload step: a ModelCar of ``model_dir`` pushed to the registry; its ``oci://`` URI."""
    oci_ref = f"{registry_host}/{repository}:{tag}"
    return save_to_oci_registry(base_image, oci_ref, model_dir, custom_oci_backend=backend)


def source_fields(job: str) -> dict[str, str]:
    """What the BFF's metadata ConfigMap sets on every artifact: the job that made it."""
    return {
        "model_source_kind": "transfer_job",
        "model_source_class": "async-upload",
        "model_source_group": namespace,
        "model_source_name": job,
    }


def register_version(model_id: str, version_name: str, uri: str, job: str) -> ModelArtifact:
    """Create the version and its artifact, then PATCH the artifact LIVE (the job's last step)."""
    mv = run(
        api.upsert_model_version(
            ModelVersion(
                name=version_name,
                author="job-author",
                description="registered by a transfer job",
                custom_properties={"origin": "s3"},
            ),
            model_id,
        )
    )
    ma = run(
        api.upsert_model_version_artifact(
            ModelArtifact(
                name=version_name,
                uri=uri,
                model_format_name="onnx",
                model_format_version="1",
                **source_fields(job),
            ),
            mv.id,
        )
    )
    ma.state = ArtifactState.LIVE
    return run(api.upsert_model_artifact(ma))


def read_artifact(artifact_id: str) -> dict:
    status, body = http_get(f"{API_BASE}/model_artifacts/{artifact_id}")
    expect(status, 200, f"GET model artifact {artifact_id}")
    return body


def check_registered(artifact_id: str, uri: str, job: str) -> None:
    body = read_artifact(artifact_id)
    expect(
        (body["uri"], body["state"], body["modelSourceKind"], body["modelSourceClass"]),
        (uri, "LIVE", "transfer_job", "async-upload"),
        "artifact uri, state and source kind/class",
    )
    expect((body["modelSourceGroup"], body["modelSourceName"]), (namespace, job), "artifact source group/name")


step("create_model: the name is free (fast-fail read)")
name = unique("job-model")
check(run(api.get_registered_model_by_params(name)) is None, "a free name reads as absent")
uri = upload(f"models/{name}", "1.0.0")
step("create_model: model, version, artifact, then LIVE")
rm = run(
    api.upsert_registered_model(
        RegisteredModel(name=name, owner="job-owner", description="from S3", custom_properties={"team": "a"})
    )
)
job = unique("transfer")
created = register_version(rm.id, "1.0.0", uri, job)
check_registered(created.id, uri, job)
status, model = http_get(f"{API_BASE}/registered_models/{rm.id}")
expect((status, model["name"], model["owner"], model["description"]), (200, name, "job-owner", "from S3"), "model")
expect(model["customProperties"]["team"]["string_value"], "a", "model custom property")
mv = r.get_model_version(name, "1.0.0")
expect((mv.author, mv.description), ("job-author", "registered by a transfer job"), "version author, description")
expect(mv.custom_properties, {"origin": "s3"}, "version custom properties")
step("create_model again: the fast-fail read finds the model")
found = run(api.get_registered_model_by_params(name))
check(found is not None and found.id == rm.id, "the existing model is found by name", found)

step("create_version: the model exists, the version name is free")
check(run(api.get_registered_model_by_id(rm.id)) is not None, "the model is found by id")
check(run(api.get_model_version_by_params(rm.id, "2.0.0")) is None, "a free version name reads as absent")
uri2 = upload(f"models/{name}", "2.0.0")
job2 = unique("transfer")
second = register_version(rm.id, "2.0.0", uri2, job2)
check_registered(second.id, uri2, job2)
step("create_version again: the fast-fail read finds the version")
check(run(api.get_model_version_by_params(rm.id, "2.0.0")) is not None, "the existing version is found by name")

step("update_artifact: an artifact the UI registered with a placeholder")
target = unique("job-target")
r.register_model(target, "PLACEHOLDER", version="1", model_format_name="onnx", model_format_version="1")
placeholder = r.get_model_artifact(target, "1")
expect(placeholder.state, ArtifactState.UNKNOWN, "the placeholder's state")
ma = run(api.get_model_artifact_by_id(placeholder.id))
check(ma is not None, "the artifact is found by id")
ma.state = ArtifactState.PENDING
run(api.upsert_model_artifact(ma))
expect(read_artifact(ma.id)["state"], "PENDING", "state while the job copies")
uri3 = upload(f"models/{target}", "1")
ma = run(api.get_model_artifact_by_id(placeholder.id))
ma.uri, ma.state = uri3, ArtifactState.LIVE
run(api.upsert_model_artifact(ma))
body = read_artifact(ma.id)
expect((body["uri"], body["state"]), (uri3, "LIVE"), "the artifact after the job")
expect(r.get_model_artifact(target, "1").uri, uri3, "the artifact read by model and version")
done()
