"""Output formats of the bridge: model catalog JSON per version, catalog-info.yaml per registered model."""

from modelreg.bridge.formats._common import link_url
from modelreg.bridge.formats.catalog_yaml import CatalogInfoYamlFormat
from modelreg.bridge.formats.json_array import JsonArrayFormat

__all__ = ["CatalogInfoYamlFormat", "JsonArrayFormat", "link_url"]
