"""The model catalog: models an organization offers, from sources files (``sources.yaml`` in the Kubeflow catalog
format) plus the registry itself (source ``registry``), searchable in memory.

``models.py`` holds the immutable shapes every part shares; ``service.py`` (``CatalogService``) is what the catalog
API (``api/catalog``) and the web UI (``ui/``) call. See docs/catalog.md.
"""
