"""Objects → multi-document YAML (block style, keys in Kubernetes' usual order), with Secret values replaced by a
placeholder unless the caller is writing them to the cluster."""

from __future__ import annotations
