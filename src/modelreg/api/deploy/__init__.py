"""The deploy REST API under ``/api/deploy/v1`` (docs/deploy.md): deployment targets (hardware profiles, runtimes,
connections) and deployments (deploy, edit, stop, start, undeploy, status, history). Routes call Kubernetes, so
they are plain sync handlers (run in the thread pool), never inline on the event loop."""

from __future__ import annotations

from fastapi import APIRouter

from modelreg.api.deploy import deployments, targets

PREFIX = "/api/deploy/v1"


def build_router() -> APIRouter:
    router = APIRouter()
    for module in (targets, deployments):
        router.include_router(module.router)
    return router
