"""The one settings object. Built by the CLI entry point (or by tests) and passed down; nothing else reads the
environment.

Precedence, highest first: command-line options, ``MODELREG_*`` environment variables (nested with ``__``, e.g.
``MODELREG_AUTH__OIDC__ISSUER``), the YAML settings file (``--config`` or ``MODELREG_CONFIG``), the defaults.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

AuthMethod = Literal["token", "oidc", "proxy"]


def default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "modelreg"


def _comma_list(value: Any) -> Any:
    """``token,oidc`` as well as a YAML/JSON list."""
    if isinstance(value, str):
        value = value.strip()
        if value.startswith("["):
            return yaml.safe_load(value)
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class OidcSettings(BaseModel):
    """JWT bearer tokens from an OIDC provider (Keycloak, the OpenShift OAuth server, ...)."""

    issuer: str | None = None
    audience: str | None = None
    jwks_url: str | None = Field(default=None, description="Where the provider publishes its signing keys")
    jwks_file: Path | None = Field(default=None, description="A JWKS document on disk instead of a URL")
    user_claim: str = "preferred_username"
    groups_claim: str = "groups"
    algorithms: Annotated[list[str], NoDecode] = ["RS256", "RS384", "RS512", "ES256", "ES384", "PS256"]
    leeway_seconds: int = 30

    _split = field_validator("algorithms", mode="before")(_comma_list)


class ProxySettings(BaseModel):
    """Identity headers set by an authenticating reverse proxy (kube-rbac-proxy, oauth-proxy)."""

    user_header: str = "X-Remote-User"
    groups_header: str = "X-Remote-Group"
    trusted_addresses: Annotated[list[str], NoDecode] = ["127.0.0.1/32", "::1/128"]

    _split = field_validator("trusted_addresses", mode="before")(_comma_list)


class AuthSettings(BaseModel):
    methods: Annotated[list[AuthMethod], NoDecode] = Field(
        default_factory=list, description="Enabled methods; none = local mode (loopback only, anonymous admin)"
    )
    insecure_no_auth: bool = Field(default=False, description="Allow local mode on a non-loopback address")
    cache_seconds: float = Field(
        default=2.0, ge=0, description="How long a verified credential and the role bindings are reused"
    )
    oidc: OidcSettings = Field(default_factory=OidcSettings)
    proxy: ProxySettings = Field(default_factory=ProxySettings)

    _split = field_validator("methods", mode="before")(_comma_list)

    @property
    def local_mode(self) -> bool:
        return not self.methods


class GovernanceSettings(BaseModel):
    policy_file: Path | None = Field(default=None, description="Lifecycle stage policy (YAML); default: built in")


class StorageSettings(BaseModel):
    """Where uploads go by default, and how data connection secrets are encrypted (services/secrets.py)."""

    default_connection: str = Field(default="local", description="The data connection uploads use by default")
    upload_ttl_seconds: int = Field(
        default=24 * 3600, gt=0, description="An upload session idle this long is aborted and its objects deleted"
    )

    secret_key: str | None = Field(
        default=None, repr=False, description="urlsafe-base64 of 32 random bytes; wins over secret_key_file"
    )
    secret_key_file: Path | None = Field(
        default=None, description="A file holding the key; default: <data_dir>/secret.key, created on first use"
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MODELREG_", env_nested_delimiter="__", extra="ignore")

    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: SQLite in <data_dir>/registry.db"
    )
    data_dir: Path = Field(default_factory=default_data_dir)
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    log_level: str = "info"
    auth: AuthSettings = Field(default_factory=AuthSettings)
    governance: GovernanceSettings = Field(default_factory=GovernanceSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)

    def resolved_database_url(self) -> str:
        """The URL to connect to; for the SQLite default this also creates the data directory."""
        if self.database_url:
            return self.database_url
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{self.data_dir / 'registry.db'}"


def load_settings(config_file: Path | str | None = None, **overrides: Any) -> Settings:
    """Settings from the file, then the environment, then ``overrides`` (command-line options; ``None`` = unset)."""
    config_file = config_file or os.environ.get("MODELREG_CONFIG")
    merged: dict[str, Any] = {}
    if config_file:
        path = Path(config_file)
        try:
            loaded = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ValueError(f"cannot read settings file {path}: {exc}") from exc
        if not isinstance(loaded, dict):
            raise ValueError(f"settings file {path} must hold a mapping")
        merged = loaded
    merged = _deep_merge(merged, Settings().model_dump(exclude_unset=True))
    merged = _deep_merge(merged, _unflatten({k: v for k, v in overrides.items() if v is not None}))
    return Settings(**merged)


def _unflatten(values: dict[str, Any]) -> dict[str, Any]:
    """``{"auth__methods": [...]}`` → ``{"auth": {"methods": [...]}}``."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        *parents, leaf = key.split("__")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def _deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out
