"""Kubernetes names as the OpenShift AI dashboard makes and checks them."""

from __future__ import annotations

MAX_NAME = 30  # ROUTE_BASED_NAME_LENGTH: a route host holds <name>-<namespace>


def k8s_name(display_name: str, max_length: int = MAX_NAME) -> str:
    """Lowercase, spaces → "-", only [a-z0-9-], dashes collapsed and trimmed, cut to ``max_length``; a name that
    would not start with a letter gets one."""
    raise NotImplementedError


def check_deployment_name(name: str, namespace: str) -> None:
    """`modelreg.errors.InvalidInput` with the dashboard's message when the name is not acceptable."""
    raise NotImplementedError


def default_display_name(model_name: str, version_name: str | None) -> str:
    """ "<model> - <version>", cut to 63 characters (the dashboard's prefill)."""
    raise NotImplementedError
