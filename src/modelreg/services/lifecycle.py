"""Lifecycle stages of model versions: development → staging → production, plus deprecated.

The current stage is the custom property ``Lifecycle`` of the version, so Kubeflow API clients see it; only the
governance API changes it (``RegistryService`` refuses changes through the Kubeflow API).
"""

from __future__ import annotations

LIFECYCLE_PROPERTY = "Lifecycle"
STAGES = ("development", "staging", "production", "deprecated")
INITIAL_STAGE = "development"
