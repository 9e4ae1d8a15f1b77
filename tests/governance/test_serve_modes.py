"""``modelreg serve`` and its authentication modes, as real processes on SQLite: local mode (loopback only, every
caller an anonymous admin), the refusal to serve a network address without authentication, ``--auth``, and the
same settings from a YAML ``--config`` file and from ``MODELREG_*`` environment variables."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from conftest import free_port
from modelreg.auth import context
from modelreg.db import migrations
from modelreg.db.database import Database
from modelreg.services.access import AccessService
from processes import ServeProcess, run_cli

REGISTRY = "/api/model_registry/v1alpha3"
WHOAMI = "/api/governance/v1/whoami"
LOCAL_NOTICE = "every caller is an anonymous admin"


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'registry.db'}"


@pytest.fixture
def admin_token(db_url: str) -> Iterator[str]:
    """A token for ``ai-admin``, bound to admin, in the database the server will use."""
    db = Database(db_url)
    migrations.upgrade(db.engine)
    try:
        with context.acting_as(context.cli_context()):
            access = AccessService(db)
            access.create_binding("user", "ai-admin", "admin")
            secret, _ = access.create_token("ai-admin")
    finally:
        db.dispose()
    yield secret


@pytest.fixture(autouse=True)
def no_modelreg_settings_from_outside(monkeypatch: pytest.MonkeyPatch) -> None:
    """The servers started here inherit this environment: only what a test sets may configure them."""
    for name in list(os.environ):
        if name.startswith("MODELREG_"):
            monkeypatch.delenv(name)


def serve(tmp_path: Path, *args: str, environment: dict[str, str] | None = None) -> ServeProcess:
    return ServeProcess(free_port(), *args, env=environment, log=tmp_path / "serve.log")


def log_of(tmp_path: Path) -> str:
    return (tmp_path / "serve.log").read_text(errors="replace")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_401(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert "WWW-Authenticate" in response.headers
    assert set(response.json()) == {"code", "message"}


# --- exposure -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "environment"),
    [
        pytest.param(["--host", "0.0.0.0"], {}, id="--host 0.0.0.0"),
        pytest.param([], {"MODELREG_HOST": "0.0.0.0"}, id="MODELREG_HOST=0.0.0.0"),
    ],
)
def test_no_auth_on_a_network_address_is_refused(db_url: str, args: list[str], environment: dict[str, str]) -> None:
    result = run_cli("serve", "--port", str(free_port()), "--database-url", db_url, *args, env=environment, timeout=60)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "--insecure-no-auth" in output, output
    assert "serving on" not in output, output


def test_insecure_no_auth_serves_a_network_address(tmp_path: Path, db_url: str) -> None:
    with serve(tmp_path, "--host", "0.0.0.0", "--insecure-no-auth", "--database-url", db_url) as server:
        created = httpx.post(f"{server.url}{REGISTRY}/registered_models", json={"name": "m"}, timeout=30)
        assert created.status_code == 201, created.text
        log = log_of(tmp_path)
    assert LOCAL_NOTICE in log and "--insecure-no-auth" in log, log


def test_local_mode_makes_every_caller_an_anonymous_admin(tmp_path: Path, db_url: str) -> None:
    with serve(tmp_path, "--database-url", db_url) as server:
        log = log_of(tmp_path)
        assert LOCAL_NOTICE in log, log
        with httpx.Client(base_url=server.url, timeout=30) as client:
            me = client.get(WHOAMI)
            assert me.status_code == 200, me.text
            assert (me.json()["user"], me.json()["method"], me.json()["roles"]) == ("anonymous", "local", ["admin"])
            created = client.post(f"{REGISTRY}/registered_models", json={"name": "m"})
            assert created.status_code == 201, created.text
            archived = client.post(f"/api/governance/v1/registered_models/{created.json()['id']}/archive")
            assert archived.status_code == 200, archived.text
            assert client.get(f"{REGISTRY}/registered_models", headers=bearer("garbage")).status_code == 200


# --- --auth and where the settings come from ------------------------------------------------------------------


def test_auth_token_requires_a_token(tmp_path: Path, db_url: str, admin_token: str) -> None:
    with serve(tmp_path, "--auth", "token", "--database-url", db_url) as server:
        assert "authentication: token" in log_of(tmp_path)
        assert LOCAL_NOTICE not in log_of(tmp_path)
        with httpx.Client(base_url=server.url, timeout=30) as client:
            assert_401(client.get(f"{REGISTRY}/registered_models"))
            assert_401(client.post(f"{REGISTRY}/registered_models", json={"name": "m"}))
            assert_401(client.get(WHOAMI, headers={"X-Remote-User": "ai-admin"}))  # proxy is not enabled
            assert_401(client.get(WHOAMI, headers=bearer("a.b.c")))  # nor OIDC
            me = client.get(WHOAMI, headers=bearer(admin_token))
            assert me.status_code == 200, me.text
            assert (me.json()["user"], me.json()["method"], me.json()["roles"]) == ("ai-admin", "token", ["admin"])
            created = client.post(f"{REGISTRY}/registered_models", json={"name": "m"}, headers=bearer(admin_token))
            assert created.status_code == 201, created.text
            assert client.get("/readyz/health").status_code == 200  # health checks need no credentials


def test_settings_from_a_config_file(tmp_path: Path, db_url: str, admin_token: str) -> None:
    config = tmp_path / "modelreg.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "database_url": db_url,
                "auth": {
                    "methods": ["token", "proxy"],
                    "proxy": {"trusted_addresses": ["10.0.0.0/8"]},
                },
            }
        )
    )
    with serve(tmp_path, "--config", str(config)) as server:
        log = log_of(tmp_path)
        assert "authentication: token, proxy" in log, log
        with httpx.Client(base_url=server.url, timeout=30) as client:
            assert_401(client.get(WHOAMI, headers={"X-Remote-User": "ai-admin"}))  # 127.0.0.1 is not trusted
            assert client.get(WHOAMI, headers=bearer(admin_token)).json()["user"] == "ai-admin"


def test_proxy_settings_from_a_config_file(tmp_path: Path, db_url: str, admin_token: str) -> None:
    config = tmp_path / "modelreg.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "auth": {
                    "methods": "proxy",
                    "proxy": {"user_header": "X-Forwarded-User", "trusted_addresses": "127.0.0.1/32"},
                }
            }
        )
    )
    with serve(tmp_path, "--config", str(config), "--database-url", db_url) as server:
        me = httpx.get(f"{server.url}{WHOAMI}", headers={"X-Forwarded-User": "ai-admin"}, timeout=30)
        assert me.status_code == 200, me.text
        assert (me.json()["user"], me.json()["method"], me.json()["roles"]) == ("ai-admin", "proxy", ["admin"])
        # not the configured header; and tokens are not enabled
        assert_401(httpx.get(f"{server.url}{WHOAMI}", headers={"X-Remote-User": "ai-admin"}, timeout=30))
        assert_401(httpx.get(f"{server.url}{WHOAMI}", headers=bearer(admin_token), timeout=30))


def test_settings_from_the_environment(tmp_path: Path, db_url: str, admin_token: str) -> None:
    with serve(tmp_path, "--database-url", db_url, environment={"MODELREG_AUTH__METHODS": "token"}) as server:
        assert "authentication: token" in log_of(tmp_path)
        assert_401(httpx.get(f"{server.url}{REGISTRY}/registered_models", timeout=30))
        me = httpx.get(f"{server.url}{WHOAMI}", headers=bearer(admin_token), timeout=30)
        assert me.status_code == 200 and me.json()["user"] == "ai-admin", me.text


def test_environment_wins_over_the_config_file_and_options_over_both(
    tmp_path: Path, db_url: str, admin_token: str
) -> None:
    config = tmp_path / "modelreg.yaml"
    config.write_text(yaml.safe_dump({"auth": {"methods": ["proxy"]}}))
    environment = {"MODELREG_AUTH__METHODS": "token", "MODELREG_CONFIG": str(config)}
    with serve(tmp_path, "--database-url", db_url, environment=environment) as server:
        assert_401(httpx.get(f"{server.url}{WHOAMI}", headers={"X-Remote-User": "ai-admin"}, timeout=30))
        assert httpx.get(f"{server.url}{WHOAMI}", headers=bearer(admin_token), timeout=30).status_code == 200
    (tmp_path / "serve.log").unlink()
    with serve(tmp_path, "--database-url", db_url, "--auth", "proxy", environment=environment) as server:
        me = httpx.get(f"{server.url}{WHOAMI}", headers={"X-Remote-User": "ai-admin"}, timeout=30)
        assert me.status_code == 200 and me.json()["method"] == "proxy", me.text
        assert_401(httpx.get(f"{server.url}{WHOAMI}", headers=bearer(admin_token), timeout=30))


def test_unknown_auth_method_is_refused(db_url: str) -> None:
    result = run_cli("serve", "--port", str(free_port()), "--database-url", db_url, "--auth", "magic", timeout=60)
    assert result.returncode != 0
    assert "magic" in result.stdout + result.stderr


def test_oidc_without_its_settings_is_refused_at_start(db_url: str) -> None:
    result = run_cli("serve", "--port", str(free_port()), "--database-url", db_url, "--auth", "oidc", timeout=60)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "auth.oidc.issuer" in output and "auth.oidc.audience" in output, output
    assert "Traceback" not in output, output
