"""What the sync and async clients share: options, the URL, and turning ``Call``s and responses into each other.

Only the I/O differs between ``ModelRegistry`` and ``AsyncModelRegistry``; everything else is here or in the
operations, like httpx's ``BaseClient``.
"""

from __future__ import annotations

import os
from typing import Any

import httpx

from modelreg.client import _ops, _storage, _transfers
from modelreg.client._call import Call
from modelreg.client._errors import ServerUnavailable, error_from, unavailable
from modelreg.client._methods import Listing, Operation

DEFAULT_TIMEOUT = 30.0


def base_url(server_address: str, port: int | None) -> str:
    """``registry:8080``, ``http://registry`` and ``https://registry:8443/`` all work; ``port`` overrides."""
    url = httpx.URL(server_address if "://" in server_address else f"http://{server_address}")
    if port is not None:
        url = url.copy_with(port=port)
    return str(url).rstrip("/")


class BaseRegistry:
    """Client options. ``token`` defaults to ``$MODELREG_TOKEN``; ``author`` is recorded on the versions this
    client registers unless a call names another; ``verify`` is httpx's (a bool or a CA bundle path)."""

    def __init__(
        self,
        server_address: str,
        port: int | None = None,
        *,
        author: str | None = None,
        token: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        verify: bool | str = True,
    ) -> None:
        self.server_address = base_url(server_address, port)
        self.author = author
        token = token if token is not None else os.environ.get("MODELREG_TOKEN")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._options: dict[str, Any] = {
            "base_url": self.server_address,
            "headers": headers,
            "timeout": timeout,
            "verify": verify,
        }
        self._open()

    def _open(self) -> None:
        """Create the subclass's httpx client from ``self._options``."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.server_address!r}, author={self.author!r})"

    @staticmethod
    def _request(http: httpx.Client | httpx.AsyncClient, call: Call, content: Any = None) -> httpx.Request:
        return http.build_request(
            call.method, call.path, params=call.params, json=call.json, content=content, headers=call.headers
        )

    def _unavailable(self, exc: httpx.TransportError) -> ServerUnavailable:
        return unavailable(exc, self.server_address, self._options["timeout"])

    @staticmethod
    def _decode(response: httpx.Response) -> Any:
        """The JSON body of a successful response (``None`` when empty); the SDK's error otherwise."""
        if response.is_error:
            raise error_from(response)
        return response.json() if response.content else None

    # The methods; see the operations (``_ops``, ``_storage``, ``_transfers``) for their parameters.
    get_registered_model = Operation(_ops.get_registered_model)
    get_model_version = Operation(_ops.get_model_version)
    get_model_artifact = Operation(_ops.get_model_artifact)
    register_model = Operation(_ops.register_model)
    register_model_version = Operation(_ops.register_model_version)
    update_registered_model = Operation(_ops.update_registered_model)
    update_model_version = Operation(_ops.update_model_version)
    list_registered_models = Listing(_ops.list_registered_models)
    list_model_versions = Listing(_ops.list_model_versions)
    whoami = Operation(_ops.whoami)
    promote = Operation(_ops.promote)
    archive_model = Operation(_ops.archive_model)
    restore_model = Operation(_ops.restore_model)
    archive_version = Operation(_ops.archive_version)
    restore_version = Operation(_ops.restore_version)
    audit = Listing(_ops.audit)
    verify_audit = Operation(_ops.verify_audit)
    upload = Operation(_storage.upload)
    download = Operation(_storage.download)
    verify = Operation(_storage.verify)
    presigned_url = Operation(_storage.presigned_url)
    start_transfer = Operation(_transfers.start_transfer)
    get_transfer = Operation(_transfers.get_transfer)
    list_transfers = Operation(_transfers.list_transfers)
    cancel_transfer = Operation(_transfers.cancel_transfer)
    retry_transfer = Operation(_transfers.retry_transfer)
