"""Builds the store a ``StoreConfig`` (or an artifact URI) describes. It sits beside the implementations it picks
from, so that ``base.py``, the contract they all import, imports none of them."""

from __future__ import annotations

from modelreg.blobs.base import BlobStore, StoreConfig
from modelreg.blobs.oci_refs import parse_image_ref
from modelreg.blobs.uris import resolve_uri


def open_store(config: StoreConfig) -> BlobStore:
    """Build the store a config describes; no network traffic happens until the store is used. Each backend is
    imported when first asked for: boto3 alone takes longer to import than the rest of the CLI."""
    if config.type == "s3":
        from modelreg.blobs.s3 import S3Store

        return S3Store(config)
    if config.type == "local":
        from modelreg.blobs.local import LocalStore

        return LocalStore(config)
    if config.type == "uri":
        from modelreg.blobs.http import HttpStore

        return HttpStore(config)
    if config.type == "oci":
        from modelreg.blobs.oci import OciStore

        return OciStore(config)
    raise ValueError(f"unknown store type {config.type!r}")


def open_uri(uri: str, defaults: StoreConfig | None = None) -> tuple[BlobStore, str]:
    """A store and key for a URI (see ``uris.resolve_uri``). An ``oci://`` URI gives the image itself, read file by
    file, and the key ``""`` (every file of the image)."""
    location = resolve_uri(uri, defaults)
    if location.config.type == "oci":
        from modelreg.blobs.oci import OciImageStore

        return OciImageStore(location.config, parse_image_ref(uri)), ""
    return open_store(location.config), location.key
