"""The client against ``modelreg serve --auth token``: ``python auth_roles.py <url> <as> [token] [model]``.

``as`` is ``developer`` (register, get, update, page: all must work; prints ``MODEL <name>``), ``viewer`` (reads
``model`` but is refused on register with a 403 that names the missing permission) or ``anonymous`` (no token:
every call is refused with a 401). Without ``user_token`` the client reads none from a file: the runner drops
``KF_PIPELINES_SA_TOKEN_PATH``, and there is no service account token here.
"""

import asyncio
from urllib.parse import urlsplit

from _support import API_BASE, ARGS, SERVER_URL, check, connect, done, expect, http_get, raises, status_of, step, unique
from mr_openapi.exceptions import ApiException

role = ARGS[0]
token = ARGS[1] if len(ARGS) > 1 and ARGS[1] else None
existing = ARGS[2] if len(ARGS) > 2 else None

step("the server requires credentials")
status, body = http_get(f"{API_BASE}/registered_models")
expect(status, 401, f"GET {API_BASE}/registered_models without a token")
check(isinstance(body, dict) and set(body) == {"code", "message"}, "the 401 has the Kubeflow error body", body)


def refused(status: int, what: str, fn, *args, **kwargs) -> str:
    exc = raises(ApiException, what, fn, *args, **kwargs)
    expect(status_of(exc), status, f"{what}: status")
    return str(exc)


if role == "developer":
    r = connect(user_token=token)
    step("register model, version and artifact")
    prefix = unique("auth")
    names = [f"{prefix}-{i}" for i in range(3)]
    for i, n in enumerate(names):
        rm = r.register_model(
            n,
            f"s3://bucket/{n}/1",
            version="1",
            model_format_name="onnx",
            model_format_version="1",
            storage_key="conn",
            storage_path=f"p/{i}",
            metadata={"rank": i},
        )
        check(rm.id, "registered model has an id", rm)
    name = names[0]

    step("get")
    rm = r.get_registered_model(name)
    check(rm is not None and rm.name == name, "get_registered_model", rm)
    mv = r.get_model_version(name, "1")
    expect((mv.registered_model_id, mv.custom_properties.get("rank")), (rm.id, 0), "model version")
    ma = r.get_model_artifact(name, "1")
    expect((ma.uri, ma.model_format_name, ma.storage_path), (f"s3://bucket/{name}/1", "onnx", "p/0"), "artifact")

    step("update")
    rm.description = "updated with a token"
    expect(r.update(rm).description, "updated with a token", "updated model description")
    mv.description = "version updated with a token"
    expect(r.update(mv).description, "version updated with a token", "updated version description")
    ma.storage_path = "p/updated"
    expect(r.update(ma).storage_path, "p/updated", "updated artifact")

    step("list with paging")
    ours = [m.name for m in r.get_registered_models().page_size(2) if m.name.startswith(prefix)]
    expect(ours, names, "our models, pages of 2")
    r.register_model(name, f"s3://bucket/{name}/2", version="2", model_format_name="onnx", model_format_version="1")
    expect([v.name for v in r.get_model_versions(name).page_size(1)], ["1", "2"], "versions, pages of 1")
    print(f"MODEL {name}")

elif role == "viewer":
    check(existing is not None, "the viewer scenario needs a model to read")
    r = connect(user_token=token)
    step("reads work")
    rm = r.get_registered_model(existing)
    check(rm is not None and rm.name == existing, "the viewer reads the model", rm)
    expect(r.get_model_version(existing, "1").name, "1", "the viewer reads the version")
    check(existing in {m.name for m in r.get_registered_models().page_size(2)}, "the viewer lists models")

    step("register is refused with a clear 403")
    name = unique("viewer")
    message = refused(
        403,
        "register_model as a viewer",
        r.register_model,
        name,
        "s3://b/x",
        version="1",
        model_format_name="onnx",
        model_format_version="1",
    )
    check("'write' permission" in message, "the error names the missing permission", message)
    check(r.get_registered_model(name) is None, "nothing was registered")

    step("update is refused too")
    rm.description = "by a viewer"
    message = refused(403, "update as a viewer", r.update, rm)
    check("'write' permission" in message, "the error names the missing permission", message)
    check(r.get_registered_model(existing).description != "by a viewer", "the model is unchanged")

elif role == "anonymous":
    step("building the client fails: its connection check is answered 401")
    kwargs = {"user_token": token} if token else {}
    message = refused(401, "ModelRegistry(...) without a valid token", connect, **kwargs)
    check("Unauthorized" in message, "the error says why", message)

    step("calls through the client's API layer are refused with 401 too")
    from model_registry.core import ModelRegistryAPIClient
    from model_registry.types import RegisteredModel

    parts = urlsplit(SERVER_URL)
    api = ModelRegistryAPIClient.insecure_connection(f"http://{parts.hostname}", parts.port, token)
    name = unique("anon")
    refused(401, "create a registered model", asyncio.run, api.upsert_registered_model(RegisteredModel(name=name)))
    refused(401, "list registered models", asyncio.run, api.get_registered_models())
    if existing:
        refused(401, "get a registered model", asyncio.run, api.get_registered_model_by_params(existing))
    status, _ = http_get(f"{API_BASE}/registered_model?name={name}")
    expect(status, 401, "still no access without a token")

else:
    raise SystemExit(f"unknown role {role!r}")

done()
