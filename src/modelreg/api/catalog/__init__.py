"""The Kubeflow Model Catalog API, ``/api/model_catalog/v1alpha1`` (the contract's MCP part is out of scope)."""

from __future__ import annotations

from fastapi import APIRouter

from modelreg.api.catalog import routes

PREFIX = "/api/model_catalog/v1alpha1"


def build_router() -> APIRouter:
    return routes.router
