"""Proxy trust is decided on the socket's peer address, in a real ``modelreg serve --auth proxy`` process.

The sidecar case: an authenticating proxy on loopback forwards a request from 10.1.2.3 with ``X-Forwarded-For``
and ``X-Remote-User``; ``trusted_addresses: [127.0.0.1/32]`` must accept it (a server that first rewrote the
client address from the header refused it). A peer outside the list (127.0.0.2 here) is refused whatever headers
it sends, and the audit trail takes the forwarded address only from the trusted proxy.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
import yaml

from cli_runner import invoke_cli
from conftest import free_port
from processes import ServeProcess

WHOAMI = "/api/governance/v1/whoami"
MODELS = "/api/model_registry/v1alpha3/registered_models"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServeProcess, str, str]]:
    tmp = tmp_path_factory.mktemp("proxy-peer")
    url = f"sqlite:///{tmp / 'registry.db'}"
    db = ("--database-url", url)
    assert invoke_cli("rolebinding", "create", "--user", "ai-admin", "--role", "admin", *db).returncode == 0
    token = invoke_cli("token", "create", "--user", "ci-bot", *db)
    assert invoke_cli("rolebinding", "create", "--user", "ci-bot", "--role", "developer", *db).returncode == 0
    config = tmp / "modelreg.yaml"
    config.write_text(yaml.safe_dump({"auth": {"proxy": {"trusted_addresses": ["127.0.0.1/32"]}}}))
    args = ("--auth", "proxy,token", "--config", str(config), *db)
    with ServeProcess(free_port(), *args, env={"MODELREG_DATA_DIR": str(tmp)}) as server:
        yield server, url, token.stdout.strip()


def from_peer(address: str, server: ServeProcess) -> httpx.Client:
    """A client whose connections leave from ``address`` (a loopback address other than 127.0.0.1 is untrusted)."""
    return httpx.Client(base_url=server.url, transport=httpx.HTTPTransport(local_address=address), timeout=30)


def audit_clients(url: str) -> dict[str, str | None]:
    """Entity name → the client address its create was audited with."""
    listed = invoke_cli("audit", "list", "--json", "--action", "create", "--database-url", url)
    assert listed.returncode == 0, listed.stderr
    records = [json.loads(line) for line in listed.stdout.splitlines()]
    return {r["entityName"]: r["client"] for r in records if r["entityKind"] == "registered_model"}


def test_a_loopback_sidecar_forwarding_a_remote_client_is_trusted(served: tuple[ServeProcess, str, str]) -> None:
    server, url, _ = served
    sidecar = {"X-Forwarded-For": "10.1.2.3", "X-Remote-User": "ai-admin", "X-Remote-Group": "platform"}
    with from_peer("127.0.0.1", server) as http:
        me = http.get(WHOAMI, headers=sidecar)
        assert me.status_code == 200, me.text
        body = me.json()
        assert (body["user"], body["method"], body["roles"]) == ("ai-admin", "proxy", ["admin"])
        created = http.post(MODELS, json={"name": "via-sidecar"}, headers=sidecar)
        assert created.status_code == 201, created.text
        # a client may send its own X-Forwarded-For; the proxy appends the address it saw: that one is recorded
        chained = {**sidecar, "X-Forwarded-For": "198.51.100.7, 10.1.2.4"}
        assert http.post(MODELS, json={"name": "via-sidecar-chain"}, headers=chained).status_code == 201
    clients = audit_clients(url)
    assert clients["via-sidecar"] == "10.1.2.3"
    assert clients["via-sidecar-chain"] == "10.1.2.4"


def test_an_untrusted_peer_is_refused_whatever_it_forwards(served: tuple[ServeProcess, str, str]) -> None:
    server, url, token = served
    with from_peer("127.0.0.2", server) as http:
        for forwarded in (None, "127.0.0.1", "10.1.2.3"):
            headers = {"X-Remote-User": "ai-admin", "X-Remote-Group": "platform"}
            if forwarded:
                headers["X-Forwarded-For"] = forwarded
            refused = http.get(WHOAMI, headers=headers)
            assert refused.status_code == 401, (forwarded, refused.text)
            assert http.post(MODELS, json={"name": "spoofed"}, headers=headers).status_code == 401
        # a token works from anywhere; its X-Forwarded-For is not believed: the peer is recorded
        bearer = {"Authorization": f"Bearer {token}", "X-Forwarded-For": "10.9.9.9", "X-Remote-User": "ai-admin"}
        me = http.get(WHOAMI, headers=bearer).json()
        assert (me["user"], me["method"]) == ("ci-bot", "token")
        assert http.post(MODELS, json={"name": "by-token"}, headers=bearer).status_code == 201
    clients = audit_clients(url)
    assert "spoofed" not in clients
    assert clients["by-token"] == "127.0.0.2"
