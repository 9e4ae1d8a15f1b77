"""Client 0.3.12+ (0.3.18) on /api/model_registry/v1, built from a URL that carries the port (scheme decides
is_secure). Prints ``MODEL <name>`` so the test can read the same model back with the v1alpha3 client."""

from _support import API_BASE, SERVER_URL, TOKEN, check, done, expect, http_get, step, unique
from model_registry import ModelRegistry
from model_registry.types import ModelVersionState, RegisteredModelState

expect(API_BASE, "/api/model_registry/v1", "API base of this client")

step("connect with ModelRegistry('http://127.0.0.1:<port>', author=...)")
r = ModelRegistry(SERVER_URL, author="tester", user_token=TOKEN)

step("register_model, get")
prefix = unique("smoke")
names = [f"{prefix}-{i}" for i in range(5)]
for i, n in enumerate(names):
    r.register_model(
        n,
        f"s3://b/{n}",
        version="1",
        model_format_name="sklearn",
        model_format_version="1.5",
        storage_key="conn",
        storage_path=f"p/{i}",
        metadata={"rank": i},
    )
name = names[0]
rm = r.get_registered_model(name)
check(rm is not None and rm.id, "registered model found", rm)
mv = r.get_model_version(name, "1")
expect(
    (mv.registered_model_id, mv.author, mv.custom_properties),
    (rm.id, "tester", {"rank": 0}),  # exactly what was written: no Lifecycle until governance sets a stage
    "version",
)
ma = r.get_model_artifact(name, "1")
expect((ma.uri, ma.model_format_name, ma.storage_path), (f"s3://b/{name}", "sklearn", "p/0"), "model artifact")
status, body = http_get(f"{API_BASE}/registered_models/{rm.id}")
expect((status, body.get("name") if isinstance(body, dict) else body), (200, name), "raw GET on the v1 API")

step("update")
before = int(rm.last_update_time_since_epoch)
rm.description = "smoke test model"
updated = r.update(rm)
expect(updated.description, "smoke test model", "updated description")
check(int(updated.last_update_time_since_epoch) > before, "lastUpdateTimeSinceEpoch grows")
mv.description = "v1 of the smoke model"
expect(r.update(mv).description, "v1 of the smoke model", "updated version description")

step("list with the pager")
ours = [m.name for m in r.get_registered_models().page_size(2) if m.name.startswith(prefix)]
expect(ours, names, "our models in creation order, pages of 2")
ours = [
    m.name
    for m in r.get_registered_models().order_by_creation_time().descending().page_size(2)
    if m.name.startswith(prefix)
]
expect(ours, names[::-1], "our models, CREATE_TIME descending, pages of 2")
r.register_model(name, f"s3://b/{name}/2", version="2", model_format_name="sklearn", model_format_version="1.5")
expect([v.name for v in r.get_model_versions(name).page_size(1)], ["1", "2"], "versions, pages of 1")

step("archive")
mv.state = ModelVersionState.ARCHIVED
expect(r.update(mv).state, ModelVersionState.ARCHIVED, "archived version")
rm = r.get_registered_model(name)
rm.state = RegisteredModelState.ARCHIVED
expect(r.update(rm).state, RegisteredModelState.ARCHIVED, "archived model")
expect(r.get_registered_model(name).state, RegisteredModelState.ARCHIVED, "archived model read back")
print(f"MODEL {name}")
done()
