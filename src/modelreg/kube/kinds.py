"""The Kubernetes kinds modelreg reads or writes, as plain descriptions (objects themselves are plain dicts)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Kind:
    api_version: str  # "v1", "serving.kserve.io/v1beta1"
    kind: str
    plural: str
    namespaced: bool = True

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    @property
    def version(self) -> str:
        return self.api_version.rpartition("/")[2]

    def __str__(self) -> str:
        return f"{self.kind} ({self.api_version})"


INFERENCE_SERVICE = Kind("serving.kserve.io/v1beta1", "InferenceService", "inferenceservices")
SERVING_RUNTIME = Kind("serving.kserve.io/v1alpha1", "ServingRuntime", "servingruntimes")
HARDWARE_PROFILE = Kind("infrastructure.opendatahub.io/v1", "HardwareProfile", "hardwareprofiles")
TEMPLATE = Kind("template.openshift.io/v1", "Template", "templates")  # OpenShift: serving-runtime templates
SECRET = Kind("v1", "Secret", "secrets")
CONFIG_MAP = Kind("v1", "ConfigMap", "configmaps")
SERVICE_ACCOUNT = Kind("v1", "ServiceAccount", "serviceaccounts")
POD = Kind("v1", "Pod", "pods")
JOB = Kind("batch/v1", "Job", "jobs")  # transfer jobs (transfers/kube_job.py)
NAMESPACE = Kind("v1", "Namespace", "namespaces", namespaced=False)
ROLE = Kind("rbac.authorization.k8s.io/v1", "Role", "roles")
ROLE_BINDING = Kind("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings")
CRD = Kind("apiextensions.k8s.io/v1", "CustomResourceDefinition", "customresourcedefinitions", namespaced=False)

KNOWN: tuple[Kind, ...] = (
    INFERENCE_SERVICE,
    SERVING_RUNTIME,
    HARDWARE_PROFILE,
    TEMPLATE,
    SECRET,
    CONFIG_MAP,
    SERVICE_ACCOUNT,
    POD,
    JOB,
    NAMESPACE,
    ROLE,
    ROLE_BINDING,
    CRD,
)
_BY_TYPE = {(k.api_version, k.kind): k for k in KNOWN}


def kind_of(obj: Mapping[str, Any]) -> Kind:
    """The kind of an object by its apiVersion and kind; ValueError for one modelreg does not know."""
    found = _BY_TYPE.get((str(obj.get("apiVersion")), str(obj.get("kind"))))
    if found is None:
        raise ValueError(f"unknown kind {obj.get('kind')!r} ({obj.get('apiVersion')!r})")
    return found


def is_custom(kind: Kind) -> bool:
    """Served by a CustomResourceDefinition (validated against the CRD's schema), not built into Kubernetes."""
    return kind.group not in ("", "rbac.authorization.k8s.io", "apiextensions.k8s.io")
