"""Read a model written by another client generation (``read_back.py <url> <model>``): after v1_smoke.py it
must be ARCHIVED, with version 1 ARCHIVED and version 2 LIVE, whatever the API base path."""

from _support import ARGS, check, connect, done, expect, step
from model_registry.types import ModelVersionState, RegisteredModelState

name = ARGS[0]
r = connect()
step(f"read {name} back")
rm = r.get_registered_model(name)
check(rm is not None, "model written by the other client is found", name)
expect((rm.state, rm.description), (RegisteredModelState.ARCHIVED, "smoke test model"), "model")
expect(
    [(v.name, v.state) for v in r.get_model_versions(name)],
    [("1", ModelVersionState.ARCHIVED), ("2", ModelVersionState.LIVE)],
    "versions",
)
expect(r.get_model_artifact(name, "2").uri, f"s3://b/{name}/2", "artifact of version 2")
done()
