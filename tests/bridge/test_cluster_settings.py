"""The bridge's deprecated connection keys (`bridge.kubernetes.*`, `bridge.configmap.*`): they configure the one
cluster client (top-level `kubernetes`) when it is not configured itself, and are refused next to it."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import yaml

from modelreg.settings import IN_CLUSTER_URL, Settings, load_settings

TOKEN = "deprecated-s3cret"


def test_deprecated_kubernetes_keys_configure_the_cluster(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="modelreg.settings"):
        settings = Settings(
            bridge={
                "kubernetes": {
                    "api_url": "https://api.example:6443",
                    "token": TOKEN,
                    "ca_file": "/etc/ca.crt",
                    "verify_tls": False,
                    "timeout_seconds": 7,
                    "namespaces": "team-a,team-b",
                }
            }
        )
    cluster = settings.kubernetes
    assert cluster.mode == "url" and cluster.api_url == "https://api.example:6443"
    assert cluster.bearer_token() == TOKEN and cluster.ca_file == Path("/etc/ca.crt")
    assert cluster.verify_tls is False and cluster.timeout_seconds == 7
    assert settings.bridge.kubernetes.namespaces == ["team-a", "team-b"] and settings.bridge.kubernetes.enabled
    assert settings.bridge.kubernetes.api_url is None  # moved, so validating the result again is fine
    assert Settings.model_validate(settings.model_dump()).kubernetes.api_url == "https://api.example:6443"
    logged = caplog.text
    assert "bridge.kubernetes.api_url" in logged and "bridge.kubernetes.token" in logged and "deprecated" in logged
    assert TOKEN not in logged


def test_deprecated_configmap_keys_mean_the_in_cluster_api_without_a_url(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="modelreg.settings"):
        settings = Settings(bridge={"configmap": {"namespace": "ns", "token_file": "/run/token"}})
    assert settings.kubernetes.mode == "url" and settings.kubernetes.api_url == IN_CLUSTER_URL
    assert settings.kubernetes.token_file == Path("/run/token")
    assert settings.bridge.configmap is not None and settings.bridge.configmap.namespace == "ns"
    assert "bridge.configmap.token_file" in caplog.text and "bridge.configmap.api_url" not in caplog.text
    # the same cluster named by both bridge sections is one cluster
    same = {"api_url": "https://k", "token": TOKEN}
    both = Settings(bridge={"kubernetes": same, "configmap": {**same, "namespace": "ns"}})
    assert both.kubernetes.api_url == "https://k" and both.kubernetes.bearer_token() == TOKEN


def test_without_deprecated_keys_nothing_changes(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="modelreg.settings"):
        settings = Settings(bridge={"kubernetes": {"namespaces": ["a"]}, "configmap": {"namespace": "ns"}})
        configured = Settings(kubernetes={"mode": "kubeconfig", "kubeconfig": "/k"}, bridge={"configmap": {}})
    assert settings.kubernetes.mode == "auto" and settings.kubernetes.api_url is None
    assert configured.kubernetes.mode == "kubeconfig"
    assert not caplog.records


def test_deprecated_keys_next_to_the_cluster_are_an_error_naming_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text(yaml.safe_dump({"bridge": {"kubernetes": {"api_url": "https://old", "token": TOKEN}}}))
    monkeypatch.setenv("MODELREG_KUBERNETES__API_URL", "https://new")
    with pytest.raises(ValueError) as raised:
        load_settings(path)
    message = str(raised.value)
    assert "kubernetes and the deprecated bridge.kubernetes.api_url, bridge.kubernetes.token" in message
    assert TOKEN not in message and "https://old" not in message
    monkeypatch.delenv("MODELREG_KUBERNETES__API_URL")
    for cluster in ({"mode": "none"}, {"kubeconfig": "/k"}):
        with pytest.raises(ValueError, match="both configure the cluster"):
            Settings(kubernetes=cluster, bridge={"configmap": {"api_url": "https://old"}})
    assert load_settings(path).kubernetes.api_url == "https://old"  # alone, they still work


def test_bridge_sections_naming_different_clusters_are_an_error() -> None:
    with pytest.raises(ValueError, match="name different clusters"):
        Settings(bridge={"kubernetes": {"api_url": "https://a"}, "configmap": {"api_url": "https://b"}})
    with pytest.raises(ValueError, match="name different clusters"):  # no api_url: the in-cluster one
        Settings(bridge={"kubernetes": {"api_url": "https://a"}, "configmap": {"token": "t"}})


def test_the_poll_interval_is_ignored_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="modelreg.settings"):
        settings = load_settings(None, bridge__kubernetes__interval_seconds=5)
    assert settings.kubernetes.mode == "auto"
    assert "interval_seconds is deprecated and ignored" in caplog.text
