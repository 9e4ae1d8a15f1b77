"""ASGI entry point for ``uvicorn --factory`` (used by ``modelreg serve --workers N``): settings from the
environment, which ``modelreg serve`` sets for its worker processes."""

from fastapi import FastAPI

from modelreg.app import create_app
from modelreg.settings import Settings


def create_from_env() -> FastAPI:
    return create_app(Settings())
