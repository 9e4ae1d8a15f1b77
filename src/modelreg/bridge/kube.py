"""A tiny Kubernetes REST client over httpx: base URL, bearer token (inline or file), CA bundle, JSON in and out.

The bridge needs a handful of calls (ConfigMaps, KServe `InferenceService` status); the official client would pull in
a large dependency for that. Defaults follow the in-cluster service account, so inside a pod nothing needs setting.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
IN_CLUSTER_URL = "https://kubernetes.default.svc"


class KubeError(Exception):
    """A Kubernetes API answer other than the expected one; `status` is the HTTP status (0: no answer)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}" if status else message)
        self.status = status


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
        verify: bool | str = str(ca_file) if (verify_tls and ca_file) else verify_tls
        self._http = httpx.Client(base_url=self.api_url, verify=verify, timeout=timeout, transport=transport)

    def close(self) -> None:
        self._http.close()

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        token = self._bearer() if self._bearer is not None else self._token
        if token is None and self._token_file is not None:
            token = self._token_file.read_text().strip()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def request(self, method: str, path: str, body: Any = None, params: dict[str, str] | None = None) -> Any:
        """The decoded JSON answer of a 2xx; KubeError otherwise (404 and 409 are for callers to handle)."""
        try:
            response = self._http.request(method, path, json=body, params=params, headers=self._headers())
        except httpx.HTTPError as exc:
            raise KubeError(0, f"{method} {self.api_url}{path}: {type(exc).__name__}: {exc}") from exc
        if response.status_code >= 300:
            try:
                message = response.json().get("message") or response.text
            except ValueError:
                message = response.text
            raise KubeError(response.status_code, f"{method} {path}: {message[:500]}")
        return response.json() if response.content else None

    def get(self, path: str, params: dict[str, str] | None = None) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: Any) -> Any:
        return self.request("POST", path, body)

    def put(self, path: str, body: Any) -> Any:
        return self.request("PUT", path, body)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)
