"""A deployment's objects checked before the first is sent, so that a refusal leaves nothing half-made: each
against its schema (the CRDs of ``deploy.crd_dir``, and a custom kind's CRD read from the cluster the first time it
is needed), and, for an apply, every custom kind served by the cluster (KServe installed)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

from modelreg.deploy.cluster_errors import cluster_call, missing_kind
from modelreg.errors import Unprocessable
from modelreg.kube import errors as kube_errors
from modelreg.kube.client import Json, Kube
from modelreg.kube.kinds import Kind, is_custom, kind_of
from modelreg.kube.schemas import NoSchema, SchemaError, Validator, load_crds
from modelreg.settings import DeploySettings

log = logging.getLogger(__name__)


def make_validator(settings: DeploySettings) -> Validator:
    """The schemas of ``deploy.crd_dir`` (when set); a cluster's own CRDs are added as they are first needed."""
    return Validator(load_crds(settings.crd_dir) if settings.crd_dir is not None else ())


class ObjectChecks:
    """Thread-safe: concurrent deploys read a kind's CRD from the cluster once (the `Validator` keeps it)."""

    def __init__(self, validator: Validator, kube: Kube | None) -> None:
        self.validator = validator
        self.kube = kube
        self._loading = threading.Lock()

    def validate(self, objs: Iterable[Json]) -> tuple[str, ...]:
        """Every object against its schema (422 listing the problems); a kind without a known schema is skipped
        and named in the warnings."""
        warnings: list[str] = []
        for obj in objs:
            kind = kind_of(obj)
            self._load_schema(kind)
            try:
                self.validator.validate(obj)
            except NoSchema:
                note = (
                    f"no schema is known for {kind} (its CRD is neither in the cluster nor in deploy.crd_dir): "
                    f"{kind.kind} objects were not validated"
                )
                if note not in warnings:
                    warnings.append(note)
            except SchemaError as exc:
                raise Unprocessable(
                    f"the {kind.kind} built for this deployment does not match its schema: {exc}"
                ) from None
        return tuple(warnings)

    def require_served(self, kube: Kube, objs: Iterable[Json]) -> None:
        """409 naming the operator to install when the cluster does not serve a custom kind of ``objs``."""
        for kind in {kind_of(obj) for obj in objs}:
            if is_custom(kind):
                with cluster_call(kube, "look up", str(kind)):
                    served = kube.served(kind)
                if not served:
                    raise missing_kind(kind)

    def _load_schema(self, kind: Kind) -> None:
        """The cluster's CRD of a custom kind, once; absent or unreadable: no schema (a warning, not a refusal)."""
        if self.kube is None or not is_custom(kind) or self.validator.knows(kind.api_version, kind.kind):
            return
        with self._loading:
            if self.validator.knows(kind.api_version, kind.kind):
                return
            try:
                crd = self.kube.crd(kind)
            except kube_errors.KubeError as exc:
                log.warning("cannot read the CRD of %s: %s", kind, exc)
                return
            if crd is not None:
                self.validator.add_crd(crd)
