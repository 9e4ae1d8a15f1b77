"""The upstream ``upload_artifact_and_register_model`` with ``OCIParams`` (needs the client's ``olot`` extra and
``oras``): builds a ModelCar of a directory on the base image with olot, pushes it through a ``custom_oci_backend``
wrapping olot's pure-Python oras backend, and registers it.

First it pushes the base image from an OCI layout directory to the registry, so that the client pulls a real base.
Then: the model, version and artifact exist with the ``oci://`` URI; the image pulled back holds exactly the model's
files under ``/models`` (with olot's content digests); a second call with the same name and version raises
``StoreError`` before the backend is asked for anything, and pushes nothing. Prints ``VERSION <id>``, ``URI <uri>``
and one ``FILE <path> <sha256>`` line per file of the image.

Usage: ``upload_oci.py <server-url> <registry host:port> <base-layout-dir> <model-dir> <work-dir>``.
"""

import urllib.error
import urllib.request
from pathlib import Path

from _oci import backend, calls, digests_of, models_in, push_base
from _support import ARGS, check, connect, done, expect, raises, step, unique
from model_registry.exceptions import StoreError
from model_registry.utils import OCIParams

registry_host, base_layout, model_dir, work_dir = ARGS
work = Path(work_dir)
r = connect()
name = unique("upstream-oci")
repository = f"models/{name}"

step("push the base image from its OCI layout")
base_image = push_base(registry_host, base_layout)

step("upload_artifact_and_register_model with OCIParams and an oras-py backend")
oci_ref = f"{registry_host}/{repository}:0.0.1"
params = OCIParams(base_image=base_image, oci_ref=oci_ref, dest_dir=str(work / "layout"), custom_oci_backend=backend)
model = r.upload_artifact_and_register_model(
    name, model_dir, upload_params=params, version="0.0.1", model_format_name="onnx", model_format_version="1"
)
expect(calls, [f"pull {base_image}", f"push {oci_ref}"], "the backend pulled the base, then pushed the ModelCar")
expect(model.name, name, "registered model name")
version = r.get_model_version(name, "0.0.1")
artifact = r.get_model_artifact(name, "0.0.1")
check(version is not None and artifact is not None, "version and artifact registered", version, artifact)
expect(artifact.uri, f"oci://{oci_ref}", "artifact URI")
expect((artifact.model_format_name, artifact.model_format_version), ("onnx", "1"), "artifact format")

step("pull the ModelCar back and read /models")
files = models_in(oci_ref, work / "pulled")
originals = digests_of(model_dir)
expect({path: digest for path, (digest, _) in files.items()}, originals, "the image's /models")
expect({path: note.removeprefix("sha256:") for path, (_, note) in files.items()}, originals, "olot's content digests")

step("a second call for the same version fails before anything is pulled or pushed")
calls.clear()
again = OCIParams(base_image=base_image, oci_ref=f"{registry_host}/{repository}:second", custom_oci_backend=backend)
error = raises(
    StoreError,
    "second upload of the same version",
    r.upload_artifact_and_register_model,
    name,
    model_dir,
    upload_params=again,
    version="0.0.1",
    model_format_name="onnx",
    model_format_version="1",
)
check("already exists" in str(error), "the error says the version exists", str(error))
expect(calls, [], "backend calls on the refused second upload")
try:
    urllib.request.urlopen(
        urllib.request.Request(f"http://{registry_host}/v2/{repository}/manifests/second", method="HEAD"), timeout=10
    )
    raise AssertionError("the refused second upload pushed the tag 'second'")
except urllib.error.HTTPError as err:
    expect(err.code, 404, "HEAD of the tag the refused upload would have pushed")

print(f"VERSION {version.id}")
print(f"URI {artifact.uri}")
for path, (digest, _) in sorted(files.items()):
    print(f"FILE {path} {digest}")
done()
