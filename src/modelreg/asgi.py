"""ASGI entry point for ``uvicorn --factory`` (used by ``modelreg serve --workers N``): the settings that
``modelreg serve`` resolved, handed over in the environment, else the usual sources."""

import os

from fastapi import FastAPI

from modelreg.app import create_app
from modelreg.settings import Settings, load_settings


def create_from_env() -> FastAPI:
    resolved = os.environ.get("MODELREG_SERVE_SETTINGS")
    return create_app(Settings.model_validate_json(resolved) if resolved else load_settings())
