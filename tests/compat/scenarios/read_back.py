"""Read a model written by another client generation (``read_back.py <url> <model>``): after v1_smoke.py it
must be ARCHIVED, with version 1 archived on its own and version 2 archived with the model, whatever the API base
path. Archived versions leave the default listing but stay readable by name."""

from _support import ARGS, check, connect, done, expect, step
from model_registry.types import ModelVersionState, RegisteredModelState

name = ARGS[0]
r = connect()
step(f"read {name} back")
rm = r.get_registered_model(name)
check(rm is not None, "model written by the other client is found", name)
expect((rm.state, rm.description), (RegisteredModelState.ARCHIVED, "smoke test model"), "model")
expect(
    [r.get_model_version(name, v).state for v in ("1", "2")],
    [ModelVersionState.ARCHIVED, ModelVersionState.ARCHIVED],
    "versions",
)
expect([v.name for v in r.get_model_versions(name)], [], "archived versions are not listed by default")
expect(r.get_model_artifact(name, "2").uri, f"s3://b/{name}/2", "artifact of version 2")
done()
