"""The governed server of ``tests/governance`` (callers of every role, on every backend) and the S3 server of
``tests/blobs`` (moto over HTTP), for the storage API."""

from __future__ import annotations

from blobs.conftest import S3Server, bucket, s3_server
from governance.conftest import Governed, auth_server, gov, oidc_keys

__all__ = ["Governed", "S3Server", "auth_server", "bucket", "gov", "oidc_keys", "s3_server"]

STORAGE = "/api/storage/v1"
