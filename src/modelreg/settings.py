"""The one settings object. Built by the CLI entry point (or by tests) and passed down; nothing else reads the
environment.

Precedence, highest first: command-line options, ``MODELREG_*`` environment variables (nested with ``__``, e.g.
``MODELREG_AUTH__OIDC__ISSUER``), the YAML settings file (``--config`` or ``MODELREG_CONFIG``), the defaults; the
sources are pydantic-settings' own, merged section by section (``Settings.settings_customise_sources``). A key no
setting has is an error, in the file or in a nested variable (a typo must not silently leave a default in force);
other ``MODELREG_*`` variables (``MODELREG_CONFIG``, a Kubernetes service's ``MODELREG_SERVICE_HOST``) are ignored.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)
from sqlalchemy.engine import make_url

from modelreg import __version__

log = logging.getLogger(__name__)

AuthMethod = Literal["token", "oidc", "proxy", "password"]
IN_CLUSTER_URL = "https://kubernetes.default.svc"


class _Section(BaseModel):
    """A section of the settings: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


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


class OidcSettings(_Section):
    """JWT bearer tokens from an OIDC provider (Keycloak, the OpenShift OAuth server, ...)."""

    issuer: str | None = None
    audience: str | None = None
    jwks_url: str | None = Field(default=None, description="Where the provider publishes its signing keys")
    jwks_file: Path | None = Field(default=None, description="A JWKS document on disk instead of a URL")
    user_claim: str = "preferred_username"
    groups_claim: str = "groups"
    algorithms: Annotated[list[str], NoDecode] = ["RS256", "RS384", "RS512", "ES256", "ES384", "PS256"]
    leeway_seconds: int = 30
    # The web UI's "Log in with OIDC" (authorization-code flow, ui/oidc_login.py); the provider's endpoints come
    # from <issuer>/.well-known/openid-configuration. Without client_id the UI offers no OIDC login.
    client_id: str | None = Field(default=None, description="The web UI's OIDC client id (authorization-code login)")
    client_secret: SecretStr | None = Field(default=None, description="The web UI's OIDC client secret")
    scopes: str = Field(default="openid profile email", description="Scopes the web UI's login asks for")

    _split = field_validator("algorithms", mode="before")(_comma_list)


class ProxySettings(_Section):
    """Identity headers set by an authenticating reverse proxy (kube-rbac-proxy, oauth-proxy)."""

    user_header: str = "X-Remote-User"
    groups_header: str = "X-Remote-Group"
    trusted_addresses: Annotated[list[str], NoDecode] = ["127.0.0.1/32", "::1/128"]

    _split = field_validator("trusted_addresses", mode="before")(_comma_list)


class AuthSettings(_Section):
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


class GovernanceSettings(_Section):
    policy_file: Path | None = Field(default=None, description="Lifecycle stage policy (YAML); default: built in")


class StorageSettings(_Section):
    """Where uploads go by default, and how data connection secrets are encrypted (services/secrets.py)."""

    default_connection: str = Field(default="local", description="The data connection uploads use by default")
    upload_ttl_seconds: int = Field(
        default=24 * 3600,
        gt=0,
        description="An upload session idle this long is aborted and its objects deleted; partial writes of killed "
        "uploads older than this are removed at server start",
    )
    sign_s3_payloads: bool = Field(
        default=False,
        description="Sign S3 request payloads (a SHA-256 pass over every byte); off: UNSIGNED-PAYLOAD, as boto3 does "
        "over https, with a CRC32 per request and modelreg's own SHA-256 per file",
    )

    modelcar_base_image: str = Field(
        default="embedded",
        description="The base image of the ModelCars modelreg builds: 'embedded' (the ODH ModelCar base image shipped "
        "in the modelcar-base-image package, offline), or the path of an OCI image layout directory",
    )
    transfer_workers: int = Field(
        default=2,
        ge=0,
        description="Transfer jobs one server runs at once (the cluster's worker holds a lease); 0: none",
    )
    transfer_runner: Literal["server", "kubernetes"] = Field(
        default="server",
        description="Where a transfer job that names no runner copies: in the server's worker, or as a Kubernetes "
        "Job (needs a cluster, transfer_server_url and an image that has modelreg)",
    )
    transfer_job_image: str = Field(
        default=f"modelreg:{__version__}",
        description="The image of transfer Jobs on Kubernetes: modelreg's own (docs/image.md), which runs "
        "`modelreg transfer execute`",
    )
    transfer_server_url: str | None = Field(
        default=None,
        description="This server's URL as transfer Jobs reach it from inside the cluster (their MODELREG_URL), "
        "e.g. http://modelreg.<namespace>.svc:8080; the kubernetes runner needs it",
    )
    transfer_job_timeout_seconds: int = Field(
        default=24 * 3600,
        gt=0,
        description="A transfer Job's activeDeadlineSeconds, and the life of the API token it reports with",
    )

    secret_key: str | None = Field(
        default=None, repr=False, description="urlsafe-base64 of 32 random bytes; wins over secret_key_file"
    )
    secret_key_file: Path | None = Field(
        default=None, description="A file holding the key; default: <data_dir>/secret.key, created on first use"
    )


class DatabaseSettings(_Section):
    """How long the server waits on PostgreSQL or MariaDB, so that a hung database answers 503 instead of hanging
    every request (docs/security.md, "operations"). 0 turns a limit off. SQLite waits up to 30 s for a lock."""

    connect_timeout_seconds: float = Field(
        default=5, gt=0, description="Connecting and logging in; also the limit on a ping of a pooled connection"
    )
    statement_timeout_seconds: float = Field(
        default=30, ge=0, description="One statement, enforced by the server and, 1 s later, by the client"
    )
    lock_timeout_seconds: float = Field(default=10, ge=0, description="Waiting for a row or table lock")
    password: SecretStr | None = Field(
        default=None,
        description="The database password, when it is not in database_url (a Kubernetes Secret through "
        "MODELREG_DATABASE__PASSWORD: any character, no URL quoting)",
    )
    pool_size: int = Field(
        default=16,
        ge=1,
        le=1000,
        description="Connections each server process keeps open to PostgreSQL or MariaDB (docs/scaling.md, "
        "'Connection budget')",
    )
    max_overflow: int = Field(
        default=4,
        ge=0,
        le=1000,
        description="Connections a process may open beyond pool_size under a burst; each is closed again when given "
        "back, so a load that stays above pool_size pays a new connection per request: keep it small",
    )
    pool_recycle_seconds: float = Field(
        default=3600,
        ge=0,
        description="Replace a pooled connection older than this (below the server's wait_timeout); 0: never",
    )


class LimitSettings(_Section):
    """Request-size limits of the JSON APIs, checked before any work (docs/security.md, "api"). Upload PUTs stream
    file bytes and have no body limit."""

    max_json_body_bytes: int = Field(
        default=1024 * 1024,
        gt=0,
        description="Largest JSON request body (413 above it): 1 MiB, as nginx-ingress allows by default",
    )
    max_text_length: int = Field(
        default=65_535,
        gt=0,
        description="Longest free-text field (description, readme, uri, ...): what a MariaDB/MySQL TEXT holds",
    )
    max_custom_properties: int = Field(default=1000, gt=0, description="Most custom properties on one entity")
    max_property_key_length: int = Field(
        default=255, gt=0, le=255, description="Longest custom property key (its column holds 255)"
    )
    max_property_value_length: int = Field(
        default=65_535, gt=0, description="Longest custom property string (or struct/proto) value"
    )


BridgeAccess = Literal["open", "addresses", "token"]


class SecretSource(_Section):
    """A bearer token given inline, in a file (read at each use, so rotated tokens work) or in an env variable."""

    token: SecretStr | None = Field(default=None, description="The bearer token itself")
    token_file: Path | None = Field(default=None, description="A file holding the token (re-read at each use)")
    token_env: str | None = Field(default=None, description="An environment variable holding the token")

    def bearer_token(self) -> str | None:
        """The current token, or None when none is configured. Raises OSError when the file cannot be read."""
        if self.token is not None:
            return self.token.get_secret_value().strip() or None
        if self.token_file is not None:
            return self.token_file.read_text().strip() or None
        if self.token_env:
            return os.environ.get(self.token_env, "").strip() or None
        return None


class RemoteRegistrySettings(SecretSource):
    """Another registry speaking the Kubeflow Model Registry REST API, polled by the bridge (bridge/remote.py)."""

    name: str = Field(
        pattern=r"^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$",
        description="Short source name; prefixes every entity name of this registry (not 'local')",
    )
    url: str = Field(description="Base URL, e.g. https://registry.example.com (the /api/... path is added)")
    api_version: Literal["auto", "v1alpha3", "v1"] = Field(default="auto", description="auto: v1alpha3, else v1")
    interval_seconds: float = Field(default=60, ge=1, description="Poll interval")
    verify_tls: bool = Field(default=True, description="Verify the registry's TLS certificate")
    ca_file: Path | None = Field(default=None, description="CA bundle for the registry's certificate")
    page_size: int = Field(default=500, ge=1, le=10000, description="pageSize of each list request")
    timeout_seconds: float = Field(default=30, gt=0, description="Per-request timeout")

    @field_validator("name")
    @classmethod
    def _not_local(cls, value: str) -> str:
        if value == "local":
            raise ValueError("'local' names this registry's own status row")
        return value


class KubernetesSettings(SecretSource):
    """KServe InferenceService status for the bridge (bridge/kserve.py), read through the one cluster client (the
    top-level ``kubernetes`` settings). The connection keys here are deprecated: see `Settings._bridge_cluster`."""

    enabled: bool = Field(default=True, description="Follow InferenceService status when a cluster is configured")
    namespaces: Annotated[list[str], NoDecode] = Field(default_factory=list, description="Empty: all namespaces")
    # deprecated: they configure the top-level `kubernetes` (mode url) when that is not configured itself
    api_url: str | None = Field(default=None, description="Deprecated: kubernetes.api_url")
    ca_file: Path | None = Field(default=None, description="Deprecated: kubernetes.ca_file")
    verify_tls: bool | None = Field(default=None, description="Deprecated: kubernetes.verify_tls")
    timeout_seconds: float | None = Field(default=None, gt=0, description="Deprecated: kubernetes.timeout_seconds")
    interval_seconds: float | None = Field(default=None, ge=1, description="Deprecated, ignored: status is watched")

    _split = field_validator("namespaces", mode="before")(_comma_list)

    def connection(self) -> dict[str, Any]:
        """The deprecated connection keys given, as top-level ``kubernetes`` settings."""
        given = {
            "api_url": self.api_url,
            "token": self.token.get_secret_value() if self.token is not None else None,
            "token_file": self.token_file,
            "token_env": self.token_env,
            "ca_file": self.ca_file,
            "verify_tls": self.verify_tls,
            "timeout_seconds": self.timeout_seconds,
        }
        return {key: value for key, value in given.items() if value is not None}


class RemoteCatalogSettings(SecretSource):
    """A Kubeflow Model Catalog API whose model readmes become model cards (bridge/cards.py)."""

    url: str = Field(description="Base URL; /api/model_catalog/v1alpha1 is added")
    verify_tls: bool = True
    ca_file: Path | None = None
    cache_seconds: float = Field(default=3600, ge=0, description="How long a fetched readme is reused")
    timeout_seconds: float = Field(default=30, gt=0)


class BridgeConfigMapSettings(_Section):
    """Publish the bridge documents into Kubernetes ConfigMap(s) (`bridge/outputs.py`) through the one cluster
    client. The connection keys are deprecated: see `Settings._bridge_cluster`."""

    namespace: str | None = Field(default=None, description="Default: the pod's namespace (service account)")
    name: str = Field(default="modelreg-bridge", description="ConfigMap name; name-0..n when over 1 MiB")
    # deprecated: they configure the top-level `kubernetes` (mode url) when that is not configured itself
    api_url: str | None = Field(default=None, description="Deprecated: kubernetes.api_url")
    token: str | None = Field(default=None, repr=False, description="Deprecated: kubernetes.token")
    token_file: Path | None = Field(default=None, description="Deprecated: kubernetes.token_file")
    ca_file: Path | None = Field(default=None, description="Deprecated: kubernetes.ca_file")
    verify_tls: bool | None = Field(default=None, description="Deprecated: kubernetes.verify_tls")

    def connection(self) -> dict[str, Any]:
        """The deprecated connection keys given, as top-level ``kubernetes`` settings."""
        given = {
            "api_url": self.api_url,
            "token": self.token,
            "token_file": self.token_file,
            "ca_file": self.ca_file,
            "verify_tls": self.verify_tls,
        }
        return {key: value for key, value in given.items() if value is not None}


class BridgeBackstageSettings(_Section):
    """Register the YAML format's locations with a Backstage catalog (static token, `backend.auth.externalAccess`)."""

    url: str = Field(description="Backstage backend base URL, e.g. https://backstage.example.com")
    token: str | None = Field(default=None, repr=False, description="Static external-access token")
    token_file: Path | None = Field(default=None, description="A file holding the token")
    ca_file: Path | None = None
    verify_tls: bool = True


class BridgeSettings(_Section):
    """The Backstage bridge's location service under ``/bridge`` (docs/backstage.md).

    Backstage's model-catalog providers cannot send a modelreg credential (0.7.0 sends none, 1.1.0 its own
    service token), so read access is by client address unless set otherwise. The documents hold no secrets.
    """

    enabled: bool = Field(default=True, description="Serve /bridge and keep its records in sync")
    format: Literal["json", "yaml"] = Field(default="json", description="json: model catalog; yaml: catalog-info")
    access: BridgeAccess = Field(default="addresses", description="open | addresses | token (a modelreg API token)")
    allowed_addresses: Annotated[list[str], NoDecode] = Field(
        default=["127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"],
        description="Client networks allowed with access=addresses: loopback and private (cluster) ranges",
    )
    default_owner: str | None = Field(default=None, description="Owner when a model names none (DEFAULT_OWNER)")
    default_lifecycle: str | None = Field(default=None, description="Lifecycle fallback (DEFAULT_LIFECYCLE)")
    batch_ms: int = Field(default=20, ge=0, le=500, description="Coalesce changes this long before a refresh")
    registries: list[RemoteRegistrySettings] = Field(
        default_factory=list, description="Other Kubeflow Model Registry APIs to publish, each polled on an interval"
    )
    catalog: RemoteCatalogSettings | None = Field(
        default=None, description="Model cards from a Kubeflow Model Catalog API"
    )
    kubernetes: KubernetesSettings = Field(
        default_factory=KubernetesSettings, description="KServe InferenceService status (when a cluster is configured)"
    )
    public_url: str | None = Field(
        default=None,
        description="modelreg's base URL as Backstage reaches it (location targets <public_url>/bridge/...)",
    )
    output_dir: Path | None = Field(default=None, description="Keep the exported documents in this directory (GitOps)")
    configmap: BridgeConfigMapSettings | None = Field(default=None, description="Keep the documents in ConfigMap(s)")
    backstage: BridgeBackstageSettings | None = Field(
        default=None, description="Register YAML locations with this Backstage catalog API"
    )

    _split = field_validator("allowed_addresses", mode="before")(_comma_list)


class ClusterSettings(SecretSource):
    """The one Kubernetes API of the process (kube/): the deploy feature, its status watch, and the bridge's KServe
    status and ConfigMap output all use it.

    ``auto`` picks, in order: ``url`` when ``api_url`` is set, ``kubeconfig`` when ``kubeconfig`` is set,
    ``in-cluster`` when the pod's service account token is mounted, else ``none`` (no cluster: deployments can
    still be rendered as a dry run or a GitOps directory). ``KUBECONFIG`` in the environment is not read unless
    named here, so a developer's own cluster is never touched by surprise."""

    mode: Literal["auto", "none", "in-cluster", "kubeconfig", "url"] = Field(default="auto")
    kubeconfig: Path | None = Field(default=None, description="A kubeconfig file (mode kubeconfig)")
    context: str | None = Field(default=None, description="The kubeconfig context; default: its current-context")
    api_url: str | None = Field(default=None, description="The API server's URL (mode url), with the token options")
    ca_file: Path | None = Field(default=None, description="CA bundle of the API server (mode url)")
    verify_tls: bool = Field(default=True, description="Verify the API server's certificate")
    timeout_seconds: float = Field(default=10, gt=0, le=300, description="Each API call (watches excepted)")


DeployInjection = Literal["scheduling", "storage"]


class DeploySettings(_Section):
    """One-click deployment to KServe (deploy/, docs/deploy.md)."""

    enabled: bool = Field(default=True, description="Serve /api/deploy/v1 and the UI's Deploy actions")
    registry_name: str = Field(
        default="modelreg",
        pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$",
        description="This registry's name in the label modelregistry.opendatahub.io/name of what it deploys",
    )
    platform_namespace: str = Field(
        default="opendatahub",
        description="Where the cluster's hardware profiles and serving-runtime templates live (the dashboard's "
        "namespace: opendatahub, or redhat-ods-applications on OpenShift AI)",
    )
    field_manager: str = Field(default="modelreg", description="The server-side apply field manager")
    inject: Annotated[list[DeployInjection], NoDecode] = Field(
        default_factory=list,
        description="What modelreg writes itself because no platform webhook will: scheduling (a hardware "
        "profile's node selector, tolerations and Kueue queue label), storage (the connection's storage key, path "
        "and service account). Empty on OpenShift AI / ODH, whose webhooks do both",
    )
    namespaces: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Namespaces to watch for deployments; empty: all"
    )
    gitops_dir: Path | None = Field(
        default=None, description="Where the server writes GitOps output (mode gitops over REST); unset: refused"
    )
    crd_dir: Path | None = Field(
        default=None,
        description="CustomResourceDefinition YAML files to validate objects against when the cluster does not "
        "provide them (no cluster: dry runs and GitOps output)",
    )
    policy_file: Path | None = Field(default=None, description="Deploy policy (YAML, docs/deploy.md); default: none")
    status_lease_seconds: float = Field(
        default=15, ge=2, le=300, description="One process per cluster records status changes; its lease lasts this"
    )

    _split = field_validator("inject", "namespaces", mode="before")(_comma_list)


class EventsSettings(_Section):
    """Events from the audit chain: the relay, webhook deliveries and the SSE stream (events/, docs/events.md)."""

    enabled: bool = Field(
        default=True,
        description="Run the event relay and webhook deliveries (one process per cluster, by lease) and serve "
        "/api/events/v1; off: no events are made or sent",
    )
    run_worker: bool = Field(
        default=True,
        description="Run the relay and webhook deliveries in this process (of all processes with it on, the lease "
        "holder works); off: this process serves /api/events/v1 only, e.g. to keep delivery work off the API "
        "replicas (then at least one other process must have it on)",
    )
    source: str = Field(
        default="/modelreg", description="The CloudEvents source of every event (a URI-reference naming this registry)"
    )
    allowed_urls: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Webhook URLs must start with one of these (scheme://host[:port]/path prefixes); empty: any "
        "https URL whose host resolves to public addresses",
    )
    allowed_networks: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Address ranges (CIDR) webhooks may reach although they are loopback, link-local, private or "
        "otherwise non-public, e.g. 10.0.0.0/8 for receivers inside the cluster; empty: public addresses only",
    )
    allow_http: bool = Field(default=False, description="Allow plain-http webhook URLs (default: https only)")
    delivery_timeout_seconds: float = Field(
        default=10, gt=0, le=60, description="One delivery attempt: connect, send and the receiver's answer"
    )
    retry_for_seconds: int = Field(
        default=24 * 3600,
        gt=0,
        description="A delivery is retried (exponential backoff with jitter) for this long, then given up (failed)",
    )
    retry_max_interval_seconds: float = Field(
        default=300, gt=0, description="The longest pause between two attempts of one delivery"
    )
    retry_first_interval_seconds: float = Field(
        default=1, gt=0, description="The pause before the second attempt; doubled at each failure"
    )
    pause_after_failures: int = Field(
        default=20,
        ge=1,
        description="A webhook whose attempts failed this many times in a row is paused (deliveries stay queued "
        "until an admin resumes it)",
    )
    concurrency: int = Field(default=8, ge=1, le=64, description="Deliveries in flight at once (over all webhooks)")
    lease_seconds: float = Field(
        default=15, ge=2, le=300, description="One process per cluster relays and delivers; its lease lasts this"
    )
    poll_seconds: float = Field(
        default=0.2,
        gt=0,
        le=10,
        description="How often the relay looks for new audit records committed by other processes (this process's "
        "own commits wake it at once)",
    )
    retention_days: int = Field(
        default=7, ge=1, description="Events and finished deliveries older than this are deleted (the audit log stays)"
    )
    max_streams: int = Field(default=100, ge=0, description="Open SSE streams one process serves at once")
    stream_max_seconds: int = Field(
        default=3600,
        ge=1,
        description="An SSE stream is closed after this long; clients reconnect with Last-Event-ID and miss nothing",
    )
    stream_heartbeat_seconds: float = Field(
        default=15, gt=0, description="A comment line on an idle SSE stream, so proxies keep it open"
    )

    _split = field_validator("allowed_urls", "allowed_networks", mode="before")(_comma_list)

    @field_validator("allowed_networks")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        """A typo in an allowed range stops the server at start with the entry named, not at the first delivery."""
        for entry in value:
            try:
                ipaddress.ip_network(entry.strip(), strict=False)
            except ValueError as exc:
                raise ValueError(f"{entry!r} is not a network (CIDR such as 10.0.0.0/8): {exc}") from None
        return value


class CatalogSettings(_Section):
    """The model catalog (``/api/model_catalog/v1alpha1`` and the web UI's catalog; catalog/)."""

    sources: Annotated[list[Path], NoDecode] = Field(
        default_factory=list,
        description="Sources files in the Kubeflow catalog format (comma-separated in the environment); none: the "
        "demo catalog shipped in the package",
    )
    registry_source: bool = Field(default=True, description="List every live registered model as source 'registry'")
    reload_interval_seconds: float = Field(
        default=0.25,
        gt=0,
        le=60,
        description="How often sources and catalog files are checked for changes (a few stat calls a round)",
    )

    _split = field_validator("sources", mode="before")(_comma_list)


class MetricsSettings(_Section):
    """``/metrics`` in the Prometheus text format (telemetry/metrics.py, docs/operations.md)."""

    enabled: bool = Field(default=True, description="Serve /metrics and count requests")
    scrape_token: SecretStr | None = Field(
        default=None,
        description="A bearer token that may read /metrics without a user (Prometheus' bearerTokenSecret); "
        "viewers and above may read it with their own credentials anyway",
    )


class UiSettings(_Section):
    """The web UI at ``/`` (ui/)."""

    enabled: bool = Field(default=True, description="Serve the web UI at /")
    session_ttl_seconds: int = Field(default=8 * 3600, gt=0, description="A UI session ends this long after login")
    session_idle_seconds: int = Field(
        default=3600, gt=0, description="A UI session unused this long ends (server-side, whatever the cookie says)"
    )
    public_url: str | None = Field(
        default=None, description="The UI's external base URL (OIDC redirect URI); default: from the request"
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MODELREG_", env_nested_delimiter="__", extra="forbid")

    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: SQLite in <data_dir>/registry.db"
    )
    data_dir: Path = Field(default_factory=default_data_dir)
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    log_level: str = "info"
    log_format: Literal["text", "json"] = Field(
        default="text", description="text for people; json: one JSON object per line, with the request id"
    )
    access_log: bool = Field(default=False, description="Log one line per request (method, path, status, time)")
    shutdown_timeout_seconds: float = Field(
        default=25,
        gt=0,
        le=3600,
        description="On SIGTERM, how long in-flight requests and background workers get to finish (below the "
        "pod's terminationGracePeriodSeconds, 30 by default)",
    )
    keep_alive_seconds: int = Field(
        default=75,
        ge=1,
        le=3600,
        description="How long an idle HTTP keep-alive connection stays open. Above the idle timeouts of clients, "
        "proxies and load balancers (60 s is common), so that they close idle connections first: a server that "
        "closes first races the request a client sends just then, which the client sees as a dropped connection",
    )
    auth: AuthSettings = Field(default_factory=AuthSettings)
    governance: GovernanceSettings = Field(default_factory=GovernanceSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    bridge: BridgeSettings = Field(default_factory=BridgeSettings)
    catalog: CatalogSettings = Field(default_factory=CatalogSettings)
    ui: UiSettings = Field(default_factory=UiSettings)
    kubernetes: ClusterSettings = Field(default_factory=ClusterSettings)
    deploy: DeploySettings = Field(default_factory=DeploySettings)
    events: EventsSettings = Field(default_factory=EventsSettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Highest first: keyword arguments (command-line options), the environment, the settings file that
        `load_settings` names (none when settings are built directly, as tests do). No .env, no secrets dir."""
        config_file = _config_file.get()
        if config_file is None:
            return init_settings, env_settings
        return init_settings, env_settings, _SettingsFile(settings_cls, config_file)

    @field_validator("port", mode="before")
    @classmethod
    def _not_a_service_link(cls, value: Any) -> Any:
        """Kubernetes injects ``MODELREG_PORT=tcp://10.0.0.1:8080`` into every pod of the namespace where a Service
        named ``modelreg`` exists (a service link): that is not a port to listen on, so it is ignored."""
        if isinstance(value, str) and "://" in value:
            return 8080
        return value

    @model_validator(mode="after")
    def _bridge_cluster(self) -> Settings:
        """The bridge's own connection keys (``bridge.kubernetes.*``, ``bridge.configmap.*``; deprecated since the
        process has one cluster client) configure the top-level ``kubernetes`` when it is not configured itself,
        with a warning in the log; when both are, it is an error naming both. Values are never repeated."""
        sources = {
            "bridge.kubernetes": self.bridge.kubernetes.connection(),
            "bridge.configmap": self.bridge.configmap.connection() if self.bridge.configmap is not None else {},
        }
        given = {where: keys for where, keys in sources.items() if keys}
        if self.bridge.kubernetes.interval_seconds is not None:
            log.warning("bridge.kubernetes.interval_seconds is deprecated and ignored: InferenceServices are watched")
        if not given:
            return self
        named = ", ".join(f"{where}.{key}" for where, keys in given.items() for key in sorted(keys))
        cluster = self.kubernetes
        if cluster.mode != "auto" or cluster.api_url or cluster.kubeconfig:
            raise ValueError(f"kubernetes and the deprecated {named} both configure the cluster: keep kubernetes only")
        merged: dict[str, Any] = {}
        for where, keys in given.items():
            if where == "bridge.configmap":  # without api_url they meant the in-cluster API server, as before
                keys = {"api_url": IN_CLUSTER_URL, **keys}
            if any(merged.get(key, value) != value for key, value in keys.items()):
                raise ValueError(f"the deprecated {named} name different clusters: set kubernetes.* instead")
            merged.update(keys)
        self.kubernetes = ClusterSettings(mode="url", **merged)
        # moved, not copied: a re-validation of these settings must not find both
        self.bridge.kubernetes = self.bridge.kubernetes.model_copy(update=dict.fromkeys(sources["bridge.kubernetes"]))
        if self.bridge.configmap is not None:
            self.bridge.configmap = self.bridge.configmap.model_copy(update=dict.fromkeys(sources["bridge.configmap"]))
        log.warning("%s: deprecated, configuring the top-level kubernetes settings (mode url); move them there", named)
        return self

    def resolved_database_url(self) -> str:
        """The URL to connect to; for the SQLite default this also creates the data directory."""
        if self.database_url:
            if self.database.password is None:
                return self.database_url
            url = make_url(self.database_url).set(password=self.database.password.get_secret_value())
            return url.render_as_string(hide_password=False)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{self.data_dir / 'registry.db'}"


# The settings file of the `load_settings` call under way: sources are chosen in a classmethod, without arguments.
_config_file: ContextVar[Path | None] = ContextVar("modelreg_config_file", default=None)


class _SettingsFile(YamlConfigSettingsSource):
    """The YAML settings file. pydantic-settings skips a missing file and chokes on one that is not a mapping; here
    both, and YAML errors, are errors that name the file."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path) -> None:
        if not path.is_file():
            raise ValueError(f"cannot read settings file {path}: {'not a file' if path.exists() else 'no such file'}")
        super().__init__(settings_cls, yaml_file=path)

    def _read_file(self, file_path: Any) -> dict[str, Any]:
        try:
            loaded: Any = super()._read_file(file_path)
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise ValueError(f"cannot read settings file {file_path}: {exc}") from exc
        if not isinstance(loaded, dict):
            raise ValueError(f"settings file {file_path} must hold a mapping")
        return loaded


def load_settings(config_file: Path | str | None = None, **overrides: Any) -> Settings:
    """Settings from the file, then the environment, then ``overrides`` (command-line options, ``None`` = unset;
    ``auth__methods=...`` is the ``auth.methods`` setting, as ``MODELREG_AUTH__METHODS`` is). ValueError naming the
    file, variable or setting when something is wrong."""
    config_file = config_file or os.environ.get("MODELREG_CONFIG")
    path = Path(config_file).expanduser() if config_file else None
    options: dict[str, Any] = {}
    for key, value in overrides.items():
        if value is not None:
            *sections, name = key.split("__")
            section = options
            for part in sections:
                section = section.setdefault(part, {})
            section[name] = value
    token = _config_file.set(path)
    try:
        return Settings(**options)
    except ValidationError as exc:
        raise ValueError(_explain(exc, path)) from None
    finally:
        _config_file.reset(token)


def _explain(error: ValidationError, config_file: Path | None) -> str:
    """Each problem by where it was set: the variable (``MODELREG_AUTH__CACHE_SECONDS``), else the file and the
    dotted setting, else the setting alone (an option). Values are not repeated, they may be secrets, except a
    choice that is none of the allowed ones (``--auth magic``)."""
    problems = []
    for problem in error.errors():
        loc = [str(part) for part in problem["loc"]]
        message = "unknown setting" if problem["type"] == "extra_forbidden" else problem["msg"]
        if problem["type"] == "literal_error":
            message += f", not {str(problem['input'])[:100]!r}"
        variables = ["MODELREG_" + "__".join(loc[:n]).upper() for n in range(len(loc), 0, -1)]
        variable = next((v for v in variables if v in os.environ), None)
        if variable is not None:
            problems.append(f"{variable}: {message}")
        elif config_file is not None and _in_file(config_file, problem["loc"]):
            problems.append(f"{config_file}: {'.'.join(loc)}: {message}")
        else:
            problems.append(f"{'.'.join(loc) or 'settings'}: {message}")
    return "invalid settings: " + "; ".join(problems)


def _in_file(config_file: Path, loc: tuple[int | str, ...]) -> bool:
    """Whether the settings file sets `loc` (or a section containing it: a missing required key is reported at
    the key, which the file lacks)."""
    try:
        node: Any = yaml.safe_load(config_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False
    for part in loc[:-1] or loc:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return False
    return True
