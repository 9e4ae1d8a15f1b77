"""The label and annotation keys of the objects modelreg writes and reads, in one place: what `objects` writes is
what the status watcher, adoption and the readers of cluster connections and runtimes look for (deploy/status_rows,
records, connection_targets, target_shapes, gitops). The meanings are in docs/deploy.md ("Labels and annotations")."""

from __future__ import annotations

# the OpenShift AI dashboard's
DASHBOARD = "opendatahub.io/dashboard"  # label: an object the dashboard shows
MANAGED = "opendatahub.io/managed"
DISPLAY_NAME = "openshift.io/display-name"
DESCRIPTION = "openshift.io/description"
MODEL_TYPE = "opendatahub.io/model-type"
CONNECTIONS = "opendatahub.io/connections"
CONNECTION_PATH = "opendatahub.io/connection-path"
CONNECTION_TYPE = "opendatahub.io/connection-type"
CONNECTION_TYPE_REF = "opendatahub.io/connection-type-ref"
CONNECTION_PROTOCOL = "opendatahub.io/connection-type-protocol"
PROFILE_NAME = "opendatahub.io/hardware-profile-name"
PROFILE_NAMESPACE = "opendatahub.io/hardware-profile-namespace"
PROFILE_RESOURCE_VERSION = "opendatahub.io/hardware-profile-resource-version"
ENABLE_AUTH = "security.opendatahub.io/enable-auth"
ACCELERATORS = "opendatahub.io/recommended-accelerators"  # on a ServingRuntime

# KServe's
VISIBILITY = "networking.kserve.io/visibility"  # "exposed": an external route
STOP = "serving.kserve.io/stop"
ISVC_POD = "serving.kserve.io/inferenceservice"  # on the predictor pods: the InferenceService's name

# the model registry's (the platform's controller acts on them)
REGISTERED_MODEL = "modelregistry.opendatahub.io/registered-model-id"
MODEL_VERSION = "modelregistry.opendatahub.io/model-version-id"
REGISTRY_NAME = "modelregistry.opendatahub.io/name"
INFERENCE_SERVICE = "modelregistry.opendatahub.io/inference-service-id"
MODEL_VERSION_NAME = "modelregistry.opendatahub.io/model-version-name"

# modelreg's own, on every InferenceService it builds, with ``deploy.registry_name``: what the status watcher
# selects besides the registry labels, which a catalog model's deployment does not have (the dashboard writes them
# only for a registered version, and the platform's controller acts on them).
REGISTRY = "modelreg.io/registry"
