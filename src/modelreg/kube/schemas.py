"""Validation of generated objects before they are sent or written: custom kinds against their CRD's
``openAPIV3Schema`` (as a structural schema: an unknown field is an error, `x-kubernetes-int-or-string` is an
integer or a string), core kinds with kubernetes-validate's strict schemas. Every problem is reported with its path.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any


class SchemaError(ValueError):
    """An object does not match its schema; ``problems`` are "<kind>/<name>: <path>: <message>" lines."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems[:10]) + (f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""))
        self.problems = problems


class NoSchema(ValueError):
    """No schema is known for this kind (a custom kind whose CRD was not given)."""


class Validator:
    """Compiled schemas, cached per kind (the InferenceService CRD is 2 MB; compiling it once matters)."""

    def __init__(self, crds: Iterable[Mapping[str, Any]] = (), kubernetes_version: str = "1.33.0") -> None:
        raise NotImplementedError

    def add_crd(self, crd: Mapping[str, Any]) -> None:
        raise NotImplementedError

    def knows(self, api_version: str, kind: str) -> bool:
        raise NotImplementedError

    def validate(self, obj: Mapping[str, Any]) -> None:
        """Raise `SchemaError` listing every problem, `NoSchema` when the kind has no known schema."""
        raise NotImplementedError


def load_crds(directory: Path) -> list[dict[str, Any]]:
    """Every CustomResourceDefinition in the YAML files of a directory."""
    raise NotImplementedError
