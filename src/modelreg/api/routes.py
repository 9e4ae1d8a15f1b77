"""Mounting routers as flat routes of the app.

FastAPI's ``include_router`` keeps an included router as one route that, on every request, walks its own routes
twice (once to say whether it matches, once to pick the route), checking a routes version and saving and restoring
scope keys for each candidate. A request for a route behind it paid that for every router before it and for its
own: about a tenth of a get-by-id's CPU in a py-spy profile (docs/performance.md). The hot routers are instead
added here as plain routes of the app, the copies ``include_router`` would have made (same endpoint, path,
responses, tags and name), so the app's own router matches them once and ``/openapi.json`` is unchanged.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute

# The copies, made once per process for each set of routes and prefix: they hold nothing of an app (a registry
# endpoint finds its service through the request's app), and building one costs FastAPI's whole analysis of its
# signature, about 1.5 ms a route, which every app made (one per test, often) paid again. Nothing uses FastAPI's
# dependency overrides, which a copy made outside the app would not see.
_copies: dict[tuple[str, tuple[int, ...]], list[APIRoute]] = {}


def include_flat(app: FastAPI, router: APIRouter, prefix: str = "") -> None:
    """Add every route of ``router`` (API routes only) to ``app`` under ``prefix``."""
    key = (prefix, tuple(id(route) for route in router.routes))
    copies = _copies.get(key)
    if copies is None:
        copies = _copies[key] = _copy(router, prefix)
    app.router.routes.extend(copies)


def _copy(router: APIRouter, prefix: str) -> list[APIRoute]:
    flat = APIRouter()
    for route in router.routes:
        if not isinstance(route, APIRoute):
            raise TypeError(f"include_flat takes API routes only, not {route!r}")
        flat.add_api_route(
            prefix + route.path,
            route.endpoint,
            response_model=route.response_model,
            status_code=route.status_code,
            tags=list(route.tags),
            dependencies=list(route.dependencies),
            summary=route.summary,
            description=route.description,
            response_description=route.response_description,
            responses=dict(route.responses),
            deprecated=route.deprecated,
            methods=route.methods,
            operation_id=route.operation_id,
            include_in_schema=route.include_in_schema,
            response_class=route.response_class,
            name=route.name,
            route_class_override=type(route),
            callbacks=route.callbacks,
            openapi_extra=route.openapi_extra,
            generate_unique_id_function=route.generate_unique_id_function,
        )
    return [route for route in flat.routes if isinstance(route, APIRoute)]
