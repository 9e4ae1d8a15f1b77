"""The Kubeflow Model Registry REST API, served under both prefixes from the same handlers."""

from __future__ import annotations

from fastapi import APIRouter

from modelreg.api.registry import artifacts, experiments, models, serving

V1ALPHA3 = "/api/model_registry/v1alpha3"
V1 = "/api/model_registry/v1"


def build_router(*, experiments_api: bool) -> APIRouter:
    """v1alpha3 has experiments; v1 (model-registry >= 0.3.12) has the same operations without them.

    The routes are copied into one flat router: each nested ``include_router`` adds a matching layer that every
    request walks through, which showed up in profiles of the registration path.
    """
    router = APIRouter()
    for module in (models, artifacts, serving, *((experiments,) if experiments_api else ())):
        router.routes.extend(module.router.routes)
    return router
