"""The registry records the platform's InferenceService controller writes (kubeflow/hub's, wired in by
odh-model-controller), written by modelreg for what it watches: a ServingEnvironment named after the namespace, an
InferenceService record ``<isvc name>/<uid>`` with registeredModelId, modelVersionId, runtime, desiredState
DEPLOYED (UNDEPLOYED once the InferenceService is gone) and the custom property ``url``; and the label
``modelregistry.opendatahub.io/inference-service-id`` written back on the InferenceService, so a controller that
also runs finds the record instead of making a second one."""

from __future__ import annotations
