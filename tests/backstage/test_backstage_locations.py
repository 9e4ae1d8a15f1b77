"""The bridge registers its YAML locations with a real Backstage catalog (static external-access token) and removes
the ones that vanish (`bridge.backstage`, bridge/outputs.py::BackstageLocations).

Backstage starts first with no locations of its own; `modelreg serve` then registers one `url` location per live
registered model through `POST /api/catalog/locations`, Backstage reads them back from `/bridge`, and archiving a
model makes the bridge `DELETE` its location.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
import yaml

from conftest import free_port
from modelreg.bridge.names import backstage_name
from processes import ServeProcess

from .conftest import BACKEND, BackstageProcess
from .test_backstage_e2e import API, ARCHIVED, AWKWARD, DEPLOYED, UNDEPLOYED, _by_kind, _ok, eventually, register

pytestmark = pytest.mark.slow
TOKEN = "modelreg-bridge-static-token-0123456789"


@pytest.fixture(autouse=True)
def _needs_node(node: str) -> None:
    """Skips (with the reason) when node or tests/backstage/node_modules is missing."""


def test_bridge_registers_and_removes_yaml_locations(tmp_path: Path) -> None:
    modelreg_port, backstage_port = free_port(), free_port()
    modelreg_url = f"http://127.0.0.1:{modelreg_port}"
    external = tmp_path / "app-config.external-access.yaml"
    external.write_text(
        yaml.safe_dump(
            {
                "backend": {
                    "auth": {"externalAccess": [{"type": "static", "options": {"token": TOKEN, "subject": "modelreg"}}]}
                }
            }
        )
    )
    env = {"MODELREG_URL": modelreg_url, "MODELREG_HOST": f"127.0.0.1:{modelreg_port}"}
    configs = [BACKEND / "app-config.yaml", external]
    with BackstageProcess(backstage_port, configs, env, tmp_path / "backstage.log") as backstage:
        modelreg_env = {
            "MODELREG_BRIDGE__FORMAT": "yaml",
            "MODELREG_BRIDGE__ACCESS": "open",
            "MODELREG_BRIDGE__PUBLIC_URL": modelreg_url,
            "MODELREG_BRIDGE__BACKSTAGE__URL": backstage.url,
            "MODELREG_BRIDGE__BACKSTAGE__TOKEN": TOKEN,
        }
        db = f"sqlite:///{tmp_path / 'registry.db'}"
        with (
            ServeProcess(modelreg_port, "--database-url", db, env=modelreg_env, log=tmp_path / "modelreg.log"),
            httpx.Client(base_url=modelreg_url + API, timeout=10) as api,
        ):
            reg = register(api)
            prefix = f"{modelreg_url}/bridge/"
            auth = {"Authorization": f"Bearer {TOKEN}"}

            def ours() -> dict[str, str]:
                response = httpx.get(f"{backstage.url}/api/catalog/locations", headers=auth, timeout=10)
                response.raise_for_status()
                return {
                    item["data"]["target"]: item["data"]["id"]
                    for item in response.json()
                    if item["data"]["target"].startswith(prefix)
                }

            expected = {f"{prefix}{backstage_name(m)}/catalog-info.yaml" for m, _ in (DEPLOYED, UNDEPLOYED, AWKWARD)}
            started = time.monotonic()
            eventually(lambda: set(ours()) == expected or None, "the three registered locations", backstage)
            registered = time.monotonic() - started
            assert f"{prefix}{backstage_name(ARCHIVED[0])}/catalog-info.yaml" not in ours()
            # The token is checked: Backstage turns a wrong one away, so the bridge really used the configured one.
            wrong = httpx.get(f"{backstage.url}/api/catalog/locations", headers={"Authorization": "Bearer no"})
            assert wrong.status_code == 401, wrong.text

            components = {backstage_name(m) for m, _ in (DEPLOYED, UNDEPLOYED, AWKWARD)}
            eventually(
                lambda: set(_by_kind(backstage.entities(filter="kind=Component"), "Component")) >= components or None,
                "the Components read through the registered locations",
                backstage,
            )
            assert backstage.processing_errors() == []

            _ok(api.patch(f"/registered_models/{reg.models[UNDEPLOYED[0]]}", json={"state": "ARCHIVED"}))
            gone = f"{prefix}{backstage_name(UNDEPLOYED[0])}/catalog-info.yaml"
            eventually(lambda: gone not in ours() or None, "the archived model's location removed", backstage)
            assert set(ours()) == expected - {gone}
            print(f"locations registered {registered:.1f} s after the models")
