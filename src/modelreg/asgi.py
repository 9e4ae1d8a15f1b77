"""ASGI entry point for ``uvicorn --factory`` (used by ``modelreg serve --workers N``): the settings that
``modelreg serve`` resolved, handed over in the environment, else the usual sources.

Run uvicorn with ``--no-proxy-headers``, as ``modelreg serve`` does: otherwise uvicorn replaces the client address
with ``X-Forwarded-For`` (from 127.0.0.1) before modelreg checks the socket's peer against
``auth.proxy.trusted_addresses``, and a loopback proxy sidecar would be refused.
"""

import os

from fastapi import FastAPI

from modelreg.app import create_app
from modelreg.settings import Settings, load_settings


def create_from_env() -> FastAPI:
    resolved = os.environ.get("MODELREG_SERVE_SETTINGS")
    return create_app(Settings.model_validate_json(resolved) if resolved else load_settings())
