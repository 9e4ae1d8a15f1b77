"""Where settings come from (`load_settings`): options over ``MODELREG_*`` variables over the YAML file over the
defaults, merged setting by setting; a key no setting has is an error naming where it was written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from modelreg.settings import Settings, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MODELREG_CONFIG", raising=False)


def config(tmp_path: Path, content: Any) -> Path:
    path = tmp_path / "modelreg.yaml"
    path.write_text(content if isinstance(content, str) else yaml.safe_dump(content))
    return path


FILE = {
    "port": 9000,
    "auth": {
        "methods": ["proxy"],
        "cache_seconds": 5,
        "oidc": {"issuer": "https://file.example/realm", "audience": "from-file"},
    },
    "bridge": {"registries": [{"name": "up", "url": "https://up.example"}]},
}


def test_the_file_then_the_environment_then_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = config(tmp_path, FILE)
    from_file = load_settings(path)
    assert (from_file.port, from_file.auth.methods, from_file.auth.cache_seconds) == (9000, ["proxy"], 5)
    assert from_file.bridge.registries[0].url == "https://up.example"
    assert from_file.host == "127.0.0.1"  # a default the file leaves alone

    monkeypatch.setenv("MODELREG_AUTH__METHODS", "token,oidc")
    monkeypatch.setenv("MODELREG_PORT", "9100")
    from_env = load_settings(path)
    assert (from_env.port, from_env.auth.methods) == (9100, ["token", "oidc"])
    assert from_env.auth.cache_seconds == 5  # the file's other settings of the section stay

    from_options = load_settings(path, port=9200, auth__methods="proxy", host=None)
    assert (from_options.port, from_options.auth.methods, from_options.host) == (9200, ["proxy"], "127.0.0.1")


def test_a_nested_variable_overrides_one_value_of_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELREG_AUTH__OIDC__ISSUER", "https://env.example/realm")
    monkeypatch.setenv("MODELREG_CONFIG", str(config(tmp_path, FILE)))  # the file named by the environment
    settings = load_settings()
    assert settings.auth.oidc.issuer == "https://env.example/realm"
    assert settings.auth.oidc.audience == "from-file"
    assert settings.auth.methods == ["proxy"]


def test_unknown_keys_are_errors_naming_the_file_or_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = config(tmp_path, {"auth": {"mehtods": ["token"]}, "bridge": {"registries": [{"name": "up"}]}})
    with pytest.raises(ValueError) as typo:
        load_settings(path)
    assert str(typo.value) == (
        f"invalid settings: {path}: auth.mehtods: unknown setting; {path}: bridge.registries.0.url: Field required"
    )
    with pytest.raises(ValueError) as top_level:
        load_settings(config(tmp_path, {"databse_url": "sqlite://"}))
    assert str(top_level.value) == f"invalid settings: {path}: databse_url: unknown setting"

    monkeypatch.setenv("MODELREG_AUTH__CACHE_SECOND", "1")
    with pytest.raises(ValueError, match=r"^invalid settings: MODELREG_AUTH__CACHE_SECOND: unknown setting$"):
        load_settings()


def test_other_modelreg_variables_are_not_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELREG_SERVICE_HOST", "10.0.0.1")  # what Kubernetes sets for a Service named modelreg
    monkeypatch.setenv("MODELREG_TEST_ANYTHING", "x")
    assert load_settings().host == "127.0.0.1"


def test_a_service_link_is_not_the_port(monkeypatch: pytest.MonkeyPatch) -> None:
    """Kubernetes also sets MODELREG_PORT=tcp://<ip>:<port> for a Service named modelreg: the server still starts
    on its port, and a real port in the variable still counts."""
    monkeypatch.setenv("MODELREG_PORT", "tcp://10.96.0.12:8080")
    assert load_settings().port == 8080
    monkeypatch.setenv("MODELREG_PORT", "9090")
    assert load_settings().port == 9090


def test_bad_values_name_their_source_and_never_their_value(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = config(tmp_path, {"auth": {"cache_seconds": -1}, "bridge": {"catalog": {"url": "u", "token": 7}}})
    with pytest.raises(ValueError) as bad:
        load_settings(path)
    assert str(bad.value) == (
        f"invalid settings: {path}: auth.cache_seconds: Input should be greater than or equal to 0; "
        f"{path}: bridge.catalog.token: Input should be a valid string"
    )
    with pytest.raises(ValueError) as choice:
        load_settings(auth__methods="token,magic")
    assert (
        str(choice.value) == "invalid settings: auth.methods.1: Input should be "
        "'token', 'oidc', 'proxy' or 'password', not 'magic'"
    )
    monkeypatch.setenv("MODELREG_PORT", "eighty")
    with pytest.raises(ValueError, match=r"^invalid settings: MODELREG_PORT: Input should be a valid integer"):
        load_settings()


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "cannot read settings file {path}: no such file"),
        ("- a list\n", "settings file {path} must hold a mapping"),
        ("auth: [unclosed\n", "cannot read settings file {path}: while parsing"),
    ],
)
def test_a_bad_settings_file_is_an_error(tmp_path: Path, content: str | None, expected: str) -> None:
    path = tmp_path / "modelreg.yaml"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ValueError) as bad:
        load_settings(path)
    assert str(bad.value).startswith(expected.format(path=path))


def test_settings_built_directly_read_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELREG_CONFIG", str(config(tmp_path, {"port": 1})))
    assert Settings().port == 8080  # only load_settings reads the file: tests build settings in code
