"""The upstream ``upload_artifact_and_register_model`` with S3 parameters (needs the client's ``boto3`` extra):
uploads a directory to the S3 server given as arguments and registers it. Prints ``VERSION <id>`` and ``URI <uri>``
for the test, which then downloads and verifies the files through modelreg.

Usage: ``upload_s3.py <server-url> <s3-endpoint> <bucket> <access-key> <secret-key> <region> <model-dir>``.
"""

from _support import ARGS, connect, done, expect, step, unique
from model_registry.utils import S3Params

endpoint, bucket, access_key, secret_key, region, model_dir = ARGS
r = connect()
name = unique("upstream-upload")

step("upload_artifact_and_register_model with S3Params")
params = S3Params(
    bucket_name=bucket,
    s3_prefix=f"models/{name}",
    endpoint_url=endpoint,
    access_key_id=access_key,
    secret_access_key=secret_key,
    region=region,
)
model = r.upload_artifact_and_register_model(
    name, model_dir, upload_params=params, version="v1", model_format_name="onnx", model_format_version="1"
)
version = r.get_model_version(name, "v1")
artifact = r.get_model_artifact(name, "v1")
expect(model.name, name, "registered model name")
print(f"VERSION {version.id}")
print(f"URI {artifact.uri}")
done()
