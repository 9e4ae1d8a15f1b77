"""A tiny Kubernetes REST client over `modelreg.outbound`: base URL, bearer token (inline or file), CA bundle, JSON in
and out, and `outbound`'s errors (`HttpStatus.status` is the API's answer: callers handle 404 and 409).

The bridge needs a handful of calls (ConfigMaps, KServe `InferenceService` status); the official client would pull in
a large dependency for that. Defaults follow the in-cluster service account, so inside a pod nothing needs setting.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from modelreg.outbound import Client, Target

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
IN_CLUSTER_URL = "https://kubernetes.default.svc"


def in_cluster_namespace() -> str | None:
    try:
        return (SERVICE_ACCOUNT / "namespace").read_text().strip() or None
    except OSError:
        return None


class KubeClient:
    """JSON calls against one API server. The token file is re-read on every call: projected tokens rotate."""

    def __init__(
        self,
        api_url: str | None = None,
        *,
        token: str | None = None,
        token_file: Path | str | None = None,
        ca_file: Path | str | None = None,
        verify_tls: bool = True,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        bearer: Callable[[], str | None] | None = None,
    ) -> None:
        """``bearer`` supplies the token at each call instead of ``token``/``token_file``. The service account's
        token and CA are the defaults only when no credential source is given at all."""
        if token is None and token_file is None and bearer is None:
            if (SERVICE_ACCOUNT / "token").is_file():
                token_file = SERVICE_ACCOUNT / "token"
            if ca_file is None and (SERVICE_ACCOUNT / "ca.crt").is_file():
                ca_file = SERVICE_ACCOUNT / "ca.crt"
        self.api_url = (api_url or IN_CLUSTER_URL).rstrip("/")
        self._token = token
        self._token_file = Path(token_file) if token_file else None
        self._bearer = bearer
        target = Target(self.api_url, verify_tls=verify_tls, ca_file=ca_file, bearer=self._token_now, timeout=timeout)
        self._http = Client(target, transport=transport)

    def close(self) -> None:
        self._http.close()

    def _token_now(self) -> str | None:
        token = self._bearer() if self._bearer is not None else self._token
        if token is None and self._token_file is not None:
            token = self._token_file.read_text().strip()
        return token

    def request(self, method: str, path: str, body: Any = None, params: dict[str, str] | None = None) -> Any:
        """The decoded JSON answer of a 2xx (None when empty); an `outbound.OutboundError` otherwise."""
        return self._http.json(method, path, params=params, body=body)

    def get(self, path: str, params: dict[str, str] | None = None) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: Any) -> Any:
        return self.request("POST", path, body)

    def put(self, path: str, body: Any) -> Any:
        return self.request("PUT", path, body)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)
