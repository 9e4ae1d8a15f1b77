"""How the ``kubernetes`` settings become a client: none, an API URL with a token (inline, file, environment), a
kubeconfig file and context, the pod's service account; TLS with a CA; and every broken configuration refused
with a ValueError that names the setting (the server does not start), never a traceback from inside lightkube."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import modelreg.kube.connection
from kube_emulator import Emulator, running_emulator
from modelreg.kube import errors
from modelreg.kube.client import Kube
from modelreg.kube.kinds import NAMESPACE, SECRET
from modelreg.settings import ClusterSettings
from test_outbound import certificate

__all__ = ["certificate"]  # the self-signed certificate fixture of the outbound tests


def settings(**values: Any) -> ClusterSettings:
    return ClusterSettings.model_validate(values)


@pytest.fixture
def service_account(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where the pod's service account would be mounted: empty until a test writes into it."""
    directory = tmp_path / "serviceaccount"
    directory.mkdir()
    monkeypatch.setattr(modelreg.kube.connection, "SERVICE_ACCOUNT", directory)
    return directory


@pytest.fixture
def tls_emulator(certificate: tuple[Path, Path]) -> Iterator[Emulator]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    with running_emulator(namespaces=["team-a"], ssl_context=context) as emulator:
        yield emulator


def test_no_cluster_gives_no_client(service_account: Path) -> None:
    assert Kube.from_settings(settings(mode="none", api_url="http://127.0.0.1:1")) is None
    assert Kube.from_settings(settings()) is None  # auto, and nothing to find
    with pytest.raises(errors.NotConfigured):
        Kube(settings(mode="none"))


def test_url_mode_with_an_environment_token(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLUSTER_TOKEN", "from-env")
    kube = Kube.from_settings(settings(api_url=emulator.url, token_env="CLUSTER_TOKEN"))  # auto → url
    assert kube is not None and kube.describe() == f"{emulator.url} (url)"
    kube.get(NAMESPACE, "team-a")
    assert emulator.requests[-1].authorization == "Bearer from-env"
    kube.close()


def test_kubeconfig_contexts_choose_the_cluster_and_the_user(emulator: Emulator, tmp_path: Path) -> None:
    with running_emulator(namespaces=["elsewhere"]) as other:
        path = tmp_path / "config"
        path.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [
                        {"name": "main", "cluster": {"server": emulator.url}},
                        {"name": "other", "cluster": {"server": other.url}},
                    ],
                    "users": [
                        {"name": "alice", "user": {"token": "alice-token"}},
                        {"name": "bob", "user": {"token": "bob-token"}},
                    ],
                    "contexts": [
                        {"name": "a", "context": {"cluster": "main", "user": "alice", "namespace": "team-a"}},
                        {"name": "b", "context": {"cluster": "other", "user": "bob"}},
                    ],
                    "current-context": "a",
                }
            )
        )
        current = Kube(settings(kubeconfig=str(path)))  # auto → kubeconfig, its current-context
        assert current.describe() == f"{emulator.url} (kubeconfig {path}, context a)"
        assert current.default_namespace == "team-a"
        assert current.get(NAMESPACE, "team-a") is not None
        assert emulator.requests[-1].authorization == "Bearer alice-token"
        chosen = Kube(settings(mode="kubeconfig", kubeconfig=str(path), context="b"))
        assert chosen.get(NAMESPACE, "elsewhere") is not None and chosen.get(NAMESPACE, "team-a") is None
        assert other.requests[-1].authorization == "Bearer bob-token"
        with pytest.raises(ValueError, match=r"kubernetes\.context: no context 'c' in .* \(it has: a, b\)"):
            Kube(settings(kubeconfig=str(path), context="c"))
        current.close()
        chosen.close()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, r"kubernetes\.kubeconfig: .* is not a readable file"),
        ("clusters: [", r"kubernetes\.kubeconfig: .* is not a valid kubeconfig"),
        ("clusters: []\ncontexts: []\n", r"kubernetes\.context: .* has no current-context"),
        (
            "clusters: []\ncontexts: [{name: a, context: {cluster: gone}}]\ncurrent-context: a\n",
            r"kubernetes\.kubeconfig: context 'a' of .* names an unknown cluster",
        ),
    ],
)
def test_a_broken_kubeconfig_is_refused_naming_the_setting(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "config"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ValueError, match=message):
        Kube(settings(kubeconfig=str(path)))


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"mode": "url"}, r"kubernetes\.api_url is required"),
        ({"api_url": "ftp://cluster"}, r"kubernetes\.api_url must be an http\(s\) URL"),
        ({"api_url": "https://user:pw@cluster"}, r"without credentials"),
        ({"api_url": "https://cluster", "ca_file": "/nonexistent/ca.crt"}, r"kubernetes\.ca_file: /nonexistent"),
        ({"api_url": "https://cluster", "token_file": "/nonexistent/token"}, r"kubernetes\.token_file: cannot read"),
        ({"api_url": "https://cluster", "token_env": "MODELREG_TEST_UNSET_VARIABLE"}, r"kubernetes\.token_env"),
        ({"mode": "in-cluster"}, r"kubernetes\.mode in-cluster: no service account token"),
    ],
)
def test_a_broken_url_or_in_cluster_setting_is_refused(
    service_account: Path, values: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Kube(settings(**values))


def test_tls_is_verified_against_the_ca_file(tls_emulator: Emulator, certificate: tuple[Path, Path]) -> None:
    cert_file, _ = certificate
    trusted = Kube(settings(api_url=tls_emulator.url, ca_file=str(cert_file), token="t"))
    assert trusted.get(NAMESPACE, "team-a") is not None
    unchecked = Kube(settings(api_url=tls_emulator.url, verify_tls=False, token="t"))
    assert unchecked.get(NAMESPACE, "team-a") is not None
    untrusted = Kube(settings(api_url=tls_emulator.url, token="t"))
    with pytest.raises(errors.ClusterUnreachable, match="CERTIFICATE_VERIFY_FAILED"):
        untrusted.get(NAMESPACE, "team-a")
    for kube in (trusted, unchecked, untrusted):
        kube.close()


def test_in_cluster_uses_the_service_account_and_rereads_its_token(
    tls_emulator: Emulator,
    certificate: tuple[Path, Path],
    service_account: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (service_account / "token").write_text("projected-1")
    (service_account / "ca.crt").write_bytes(certificate[0].read_bytes())
    (service_account / "namespace").write_text("team-a\n")
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(tls_emulator.port))
    kube = Kube.from_settings(settings())  # auto → in-cluster, since the token is mounted
    assert kube is not None
    assert kube.describe() == f"https://127.0.0.1:{tls_emulator.port} (in-cluster)"
    assert kube.default_namespace == "team-a"
    assert kube.get(SECRET, "absent", "team-a") is None
    (service_account / "token").write_text("projected-2")  # the kubelet rotated it
    kube.get(SECRET, "absent", "team-a")
    assert [r.authorization for r in tls_emulator.requests if r.plural == "secrets"] == [
        "Bearer projected-1",
        "Bearer projected-2",
    ]
    kube.close()
