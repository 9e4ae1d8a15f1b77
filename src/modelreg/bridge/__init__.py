"""Backstage bridge: publishes every live model version to Backstage (Red Hat Developer Hub).

This package holds the pure core: normalization of Kubeflow REST shapes into records, Backstage-safe names, and
the two output formats. The location service, sync and CLI build on it.
"""

from modelreg.bridge.formats import CatalogInfoYamlFormat, JsonArrayFormat
from modelreg.bridge.names import backstage_name, is_valid_object_name, is_valid_tag
from modelreg.bridge.normalize import Defaults, RegistrySnapshot, normalize
from modelreg.bridge.records import Artifact, Endpoint, ModelRecord, WellKnown

__all__ = [
    "Artifact",
    "CatalogInfoYamlFormat",
    "Defaults",
    "Endpoint",
    "JsonArrayFormat",
    "ModelRecord",
    "RegistrySnapshot",
    "WellKnown",
    "backstage_name",
    "is_valid_object_name",
    "is_valid_tag",
    "normalize",
]
