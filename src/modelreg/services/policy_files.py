"""Policy files (the lifecycle policy, the deploy policy): YAML read into a strict pydantic model, so that a bad
file is refused at start with one message that names the file and every bad key, the same way for each policy."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


def read(path: Path | str, what: str, error: type[Exception]) -> Any:
    """The YAML document in ``path``; ``error`` naming ``what`` and the file when it cannot be read or parsed."""
    try:
        return yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise error(f"cannot read {what} file {path}: {exc}") from None


def validate(model: type[M], data: Any, source: str, error: type[Exception], expected: str) -> M:
    """``data`` as ``model``; ``error`` saying what ``source`` must hold (``expected``) or listing every problem."""
    if not isinstance(data, dict):
        raise error(f"{source} must hold a mapping with {expected}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(_problem(err) for err in exc.errors())
        raise error(f"{source} is invalid: {problems}") from None


def _problem(err: Mapping[str, Any]) -> str:
    """``stages.production.require.licence: unknown key`` from one pydantic error."""
    path = ""
    for part in err.get("loc", ()):
        if isinstance(part, int):
            path += f"[{part}]"
        elif part == "[key]":
            path += " (key)"
        else:
            path += f".{part}" if path else str(part)
    if err.get("type") == "extra_forbidden":
        return f"{path}: unknown key"
    message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
    return f"{path}: {message}" if path else message
