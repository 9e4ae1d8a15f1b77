"""Kubernetes names as the OpenShift AI dashboard makes and checks them."""

from __future__ import annotations

import re

from modelreg.errors import InvalidInput

MAX_NAME = 30  # ROUTE_BASED_NAME_LENGTH: a route host holds <name>-<namespace>
MAX_COMBINED = 63  # <name>-<namespace> is one DNS label of the route's host
MAX_DISPLAY_NAME = 63
FALLBACK = "model"
LETTER_PREFIX = "m"  # what a name that would start with a digit gets in front

DEPLOYMENT_NAME = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
COMBINED_TOO_LONG = "Resource name and project name combined cannot exceed 63 characters"


def k8s_name(display_name: str, max_length: int = MAX_NAME) -> str:
    """Lowercase, spaces → "-", only [a-z0-9-], dashes collapsed and trimmed, cut to ``max_length``; a name that
    would not start with a letter gets one ("m"), an empty one is "model". Idempotent, always a valid DNS label."""
    if max_length < 1:
        raise ValueError("max_length must be at least 1")
    name = re.sub(r"\s", "-", display_name.strip().lower())
    name = re.sub(r"[^a-z0-9-]", "", name)
    name = re.sub(r"-+", "-", name).strip("-")
    if not name:
        name = FALLBACK
    elif not name[0].isalpha():
        name = LETTER_PREFIX + name
    return name[:max_length].rstrip("-")


def check_namespace(namespace: str) -> None:
    """`InvalidInput` unless ``namespace`` is a DNS-1123 label (what Kubernetes accepts as a namespace)."""
    if len(namespace) > 63 or not DNS1123_LABEL.fullmatch(namespace):
        raise InvalidInput(
            f"namespace {namespace!r} is not valid: lowercase letters, digits and '-', starting and ending with a "
            "letter or digit, at most 63 characters"
        )


def check_deployment_name(name: str, namespace: str) -> None:
    """`modelreg.errors.InvalidInput` with the dashboard's message when the name is not acceptable."""
    check_namespace(namespace)
    if not DEPLOYMENT_NAME.fullmatch(name):
        raise InvalidInput(
            f"deployment name {name!r} is not valid: it must start with a lowercase letter, contain only lowercase "
            "letters, digits and '-', and end with a letter or digit"
        )
    if len(name) > MAX_NAME:
        raise InvalidInput(f"deployment name {name!r} is too long: at most {MAX_NAME} characters")
    if len(name) + 1 + len(namespace) > MAX_COMBINED:
        raise InvalidInput(COMBINED_TOO_LONG)


def default_display_name(model_name: str, version_name: str | None) -> str:
    """ "<model> - <version>", cut to 63 characters (the dashboard's prefill)."""
    full = f"{model_name} - {version_name}" if version_name else model_name
    return full[:MAX_DISPLAY_NAME]
