"""An empty list parameter (``sortOrder=``, as a form with an unset field sends it) means the default, as pageSize."""

from __future__ import annotations

import httpx
import pytest

from api_catalog.test_models import ok
from api_catalog.test_preview import dev  # noqa: F401 (a fixture)

ARTIFACTS = "/sources/files/models/{name}/artifacts"
LISTS = {
    "/sources": ("orderBy", "sortOrder", "assetType", "pageSize"),
    "/models": ("orderBy", "sortOrder", "pageSize"),
    "/labels": ("sortOrder", "assetType", "pageSize"),
}


@pytest.mark.parametrize("path", list(LISTS))
def test_empty_parameters_are_the_defaults(cat: httpx.Client, path: str) -> None:
    default = ok(cat.get(path))
    assert default["items"], path  # the comparison below would hold for an empty list whatever the parameters did
    assert ok(cat.get(path, params=dict.fromkeys(LISTS[path], ""))) == default
    assert ok(cat.get(path, params={"sortOrder": "DESC"}))["items"] != default["items"]


def test_empty_artifact_parameters_are_the_defaults(cat: httpx.Client) -> None:
    name = next(m["name"] for m in ok(cat.get("/models", params={"pageSize": "100"}))["items"])
    path = ARTIFACTS.format(name=name)
    default = ok(cat.get(path))
    assert ok(cat.get(path, params={"orderBy": "", "sortOrder": "", "pageSize": ""})) == default
    assert ok(cat.get(f"{path}/performance", params={"orderBy": "", "sortOrder": ""})) == ok(
        cat.get(f"{path}/performance")
    )


def test_empty_filter_status_is_all(dev: httpx.Client) -> None:  # noqa: F811
    config = "name: x\ntype: yaml\nexcludedModels: [b]\n"
    catalog = "source: x\nmodels:\n- name: a\n- name: b\n"
    files = {"config": ("c.yaml", config), "catalogData": ("m.yaml", catalog)}
    answer = ok(dev.post("/sources/preview", params={"filterStatus": ""}, files=files))
    assert [(i["name"], i["included"]) for i in answer["items"]] == [("a", True), ("b", False)]
