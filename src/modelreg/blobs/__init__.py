"""Blob stores for artifact bytes: S3-compatible buckets, local directories and read-only http(s) URLs."""

from modelreg.blobs.base import (
    BlobError,
    BlobNotFound,
    BlobStore,
    InvalidKey,
    SizeMismatch,
    StoreConfig,
    StoredFile,
    UnsupportedOperation,
)
from modelreg.blobs.factory import open_store, open_uri
from modelreg.blobs.ops import DigestMismatch, Mismatch, download, hash_key, put_tree, verify
from modelreg.blobs.uris import InvalidUri, Location, parse_uri, resolve_uri

__all__ = [
    "BlobError",
    "BlobNotFound",
    "BlobStore",
    "DigestMismatch",
    "InvalidKey",
    "InvalidUri",
    "Location",
    "Mismatch",
    "SizeMismatch",
    "StoreConfig",
    "StoredFile",
    "UnsupportedOperation",
    "download",
    "hash_key",
    "open_store",
    "open_uri",
    "parse_uri",
    "put_tree",
    "resolve_uri",
    "verify",
]
