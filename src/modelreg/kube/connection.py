"""From the ``kubernetes`` settings to where the API server is and how each request authenticates.

Resolved once, when the server starts: a broken configuration (a missing file, an unknown context, an unreadable
token) is a `ValueError` that names the setting, so the server refuses to start with a sentence instead of failing
later deep inside lightkube. Bearer tokens from the settings or the pod's service account are read again at every
request (`BearerAuth`), because projected service-account tokens and mounted secrets rotate.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx2
import msgspec
import yaml
from lightkube.config.kubeconfig import KubeConfig, SingleConfig
from lightkube.config.models import Cluster, User
from lightkube.core.exceptions import ConfigError

from modelreg.kube.errors import NotConfigured
from modelreg.redact import public_url
from modelreg.settings import ClusterSettings

# Where a pod's service account is mounted; tests point it at a directory of their own.
SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
IN_CLUSTER_URL = "https://kubernetes.default.svc"


@dataclass(frozen=True, slots=True)
class Connection:
    config: SingleConfig  # lightkube's: server, CA, and (kubeconfig mode) the user's credentials
    auth: httpx2.Auth | None  # when set, replaces lightkube's own: a token read at each request
    mode: str  # "url" | "kubeconfig" | "in-cluster"
    description: str  # where it points, for logs: never a credential
    namespace: str | None  # the context's or the service account's namespace


class BearerAuth(httpx2.Auth):
    """``Authorization: Bearer <token>`` with the token read at each request; nothing when there is none."""

    def __init__(self, token: Callable[[], str | None], source: str) -> None:
        self._token = token
        self._source = source

    def auth_flow(self, request: httpx2.Request) -> Generator[httpx2.Request, httpx2.Response, None]:
        try:
            token = self._token()
        except OSError as exc:
            raise NotConfigured(f"{self._source}: cannot read the token: {exc.strerror or exc}") from None
        if token:
            request.headers["Authorization"] = f"Bearer {token}"
        yield request


def resolve_mode(settings: ClusterSettings) -> str:
    """The mode ``auto`` stands for (see `ClusterSettings`); other modes as given."""
    if settings.mode != "auto":
        return settings.mode
    if settings.api_url:
        return "url"
    if settings.kubeconfig is not None:
        return "kubeconfig"
    if (SERVICE_ACCOUNT / "token").is_file():
        return "in-cluster"
    return "none"


def connect(settings: ClusterSettings) -> Connection | None:
    """The connection the settings describe; None for mode ``none`` (or ``auto`` finding nothing)."""
    mode = resolve_mode(settings)
    if mode == "url":
        return _url(settings)
    if mode == "kubeconfig":
        return _kubeconfig(settings)
    if mode == "in-cluster":
        return _in_cluster(settings)
    return None


def _url(settings: ClusterSettings) -> Connection:
    url = (settings.api_url or "").rstrip("/")
    if not url:
        raise ValueError("kubernetes.api_url is required with kubernetes.mode url")
    if not url.startswith(("http://", "https://")) or "@" in urlsplit(url).netloc:
        raise ValueError("kubernetes.api_url must be an http(s) URL without credentials (use kubernetes.token*)")
    _check_token_source(settings)
    cluster = Cluster(server=url, insecure=not settings.verify_tls)
    if settings.ca_file is not None and settings.verify_tls:
        if not settings.ca_file.is_file():
            raise ValueError(f"kubernetes.ca_file: {settings.ca_file} is not a readable file")
        cluster = Cluster(server=url, certificate_auth=str(settings.ca_file))
    config = KubeConfig.from_one(cluster=cluster, user=User()).get()
    assert config is not None  # from_one sets the current context
    return Connection(config, BearerAuth(settings.bearer_token, _token_setting(settings)), "url", f"{url} (url)", None)


def _check_token_source(settings: ClusterSettings) -> None:
    if settings.token is not None:
        return
    if settings.token_file is not None:
        try:
            settings.token_file.read_text()
        except OSError as exc:
            raise ValueError(f"kubernetes.token_file: cannot read {settings.token_file}: {exc.strerror}") from None
    elif settings.token_env and not os.environ.get(settings.token_env, "").strip():
        raise ValueError(f"kubernetes.token_env: the environment variable {settings.token_env} is empty or unset")


def _token_setting(settings: ClusterSettings) -> str:
    if settings.token_file is not None and settings.token is None:
        return f"kubernetes.token_file ({settings.token_file})"
    if settings.token_env and settings.token is None:
        return f"kubernetes.token_env ({settings.token_env})"
    return "kubernetes.token"


def _kubeconfig(settings: ClusterSettings) -> Connection:
    path = settings.kubeconfig
    if path is None:
        raise ValueError("kubernetes.kubeconfig is required with kubernetes.mode kubeconfig")
    if not path.expanduser().is_file():
        raise ValueError(f"kubernetes.kubeconfig: {path} is not a readable file")
    try:
        kubeconfig = KubeConfig.from_file(path)
    except (ConfigError, OSError, yaml.YAMLError, KeyError, TypeError, AttributeError, msgspec.ValidationError) as exc:
        raise ValueError(f"kubernetes.kubeconfig: {path} is not a valid kubeconfig ({type(exc).__name__})") from None
    name = settings.context or kubeconfig.current_context
    if name is None:
        raise ValueError(f"kubernetes.context: {path} has no current-context, so one must be named")
    if name not in kubeconfig.contexts:
        known = ", ".join(sorted(kubeconfig.contexts)) or "none"
        where = "kubernetes.context" if settings.context else f"the current-context of {path}"
        raise ValueError(f"{where}: no context {name!r} in {path} (it has: {known})")
    context = kubeconfig.contexts[name]
    if context.cluster not in kubeconfig.clusters:
        raise ValueError(f"kubernetes.kubeconfig: context {name!r} of {path} names an unknown cluster")
    if context.user and context.user not in kubeconfig.users:
        raise ValueError(f"kubernetes.kubeconfig: context {name!r} of {path} names an unknown user")
    config = kubeconfig.get(name)
    assert config is not None
    if config.user is None:  # an anonymous context: lightkube wants a user, even an empty one
        config = config._replace(user=User())
    server = public_url(config.cluster.server)
    description = f"{server} (kubeconfig {path}, context {name})"
    return Connection(config, None, "kubeconfig", description, config.context.namespace)


def _in_cluster(settings: ClusterSettings) -> Connection:
    token_file = SERVICE_ACCOUNT / "token"
    try:
        token_file.read_text()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ValueError(f"kubernetes.mode in-cluster: no service account token at {token_file} ({reason})") from None
    host = os.environ.get("KUBERNETES_SERVICE_HOST", "")
    port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    server = f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}" if host else IN_CLUSTER_URL
    ca_file = SERVICE_ACCOUNT / "ca.crt"
    if settings.verify_tls and ca_file.is_file():
        cluster = Cluster(server=server, certificate_auth=str(ca_file))
    else:
        cluster = Cluster(server=server, insecure=not settings.verify_tls)
    try:
        namespace = (SERVICE_ACCOUNT / "namespace").read_text().strip() or None
    except OSError:
        namespace = None
    config = KubeConfig.from_one(cluster=cluster, user=User(), namespace=namespace).get()
    assert config is not None
    auth = BearerAuth(lambda: token_file.read_text().strip() or None, f"the service account token {token_file}")
    return Connection(config, auth, "in-cluster", f"{server} (in-cluster)", namespace)
