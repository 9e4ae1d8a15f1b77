"""Reading ``/metrics`` the way Prometheus does: through prometheus_client's own parser."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
LIST = "/api/model_registry/v1alpha3/registered_models"
GET_ONE = "/api/model_registry/v1alpha3/registered_models/{registeredmodelId}"


def scrape(base_url: str, headers: dict[str, str] | None = None) -> Samples:
    """Every sample of ``GET /metrics``, by name and labels; a response that does not parse fails the test."""
    response = httpx.get(f"{base_url}/metrics", headers=headers, timeout=60)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value; 0 for a series that does not exist (yet)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def requests(samples: Samples, route: str, method: str, status: int) -> float:
    """Requests answered: the count of the duration histogram."""
    labels = {"route": route, "method": method, "status": str(status)}
    return value(samples, "modelreg_http_request_duration_seconds_count", **labels)
