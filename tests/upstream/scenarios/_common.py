"""Shared by the scenarios: they run inside the upstream client's own virtual environment, not the project's."""

import sys
import uuid
import warnings

from model_registry import ModelRegistry

warnings.simplefilter("ignore")


def registry(token: str | None = None) -> ModelRegistry:
    port = int(sys.argv[1])
    kwargs = {"user_token": token} if token else {}
    return ModelRegistry("http://127.0.0.1", port, author="tester", is_secure=False, **kwargs)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"
