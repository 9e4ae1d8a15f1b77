"""A store in an S3-compatible bucket (AWS, MinIO, Ceph, moto), through boto3's managed transfers.

Uploads go through s3transfer so large objects are sent as parallel multipart uploads; the SHA-256 is computed on
the same pass (streams) or by one concurrent read of the file (paths), never by buffering the object.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import IO, Any, cast

import boto3
from boto3.s3.transfer import TransferConfig, create_transfer_manager
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError
from s3transfer.subscribers import BaseSubscriber

from modelreg.blobs.base import (
    BlobError,
    BlobNotFound,
    HashingReader,
    SizeMismatch,
    StoreConfig,
    StoredFile,
    check_key,
    check_prefix,
    hash_file,
)

log = logging.getLogger(__name__)

MB = 1024 * 1024
DEFAULT_PART_SIZE = 16 * MB
DEFAULT_CONCURRENCY = 8
DEFAULT_STREAM_PART_SIZE = 8 * MB  # a stream's parts are buffered in memory, so smaller than a file's
DEFAULT_STREAM_PARTS = 3  # parts of a stream held in memory (and so sent in parallel); bounds put_stream memory
MAX_PRESIGN_SECONDS = 7 * 24 * 3600  # SigV4 refuses longer
NOT_FOUND_CODES = {"NoSuchKey", "404", "NotFound"}


class _ProvideSize(BaseSubscriber):
    """Tell s3transfer the size up front so it picks single vs multipart and a part size without reading ahead."""

    def __init__(self, size: int) -> None:
        self._size = size

    def on_queued(self, future: Any, **kwargs: Any) -> None:
        future.meta.provide_transfer_size(self._size)


class S3Store:
    """Objects are ``bucket/prefix/key``.

    Memory: ``put_file`` streams each part from disk (s3transfer opens the file per part), so it stays flat;
    ``put_stream`` holds at most ``(stream_parts + 1) * stream_part_size`` bytes (32 MiB by default): s3transfer
    reads a non-seekable stream into one buffer per part, and only ``stream_parts`` of them may be in flight.
    """

    def __init__(
        self,
        config: StoreConfig,
        *,
        part_size: int = DEFAULT_PART_SIZE,
        multipart_threshold: int | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        stream_parts: int = DEFAULT_STREAM_PARTS,
        stream_part_size: int | None = None,
    ) -> None:
        if not config.bucket:
            raise ValueError("an s3 store needs a bucket")
        if part_size < 5 * MB:
            raise ValueError("S3 parts are at least 5 MiB")
        self.config = config
        self.bucket = config.bucket
        self.prefix = check_prefix(config.prefix)
        self.part_size = part_size
        self.multipart_threshold = multipart_threshold or part_size
        self.concurrency = concurrency
        self.stream_parts = stream_parts
        self.stream_part_size = stream_part_size or min(part_size, DEFAULT_STREAM_PART_SIZE)
        self._client: Any = None
        self._lock = threading.Lock()
        log.debug("s3 store %r", config)

    @property
    def client(self) -> Any:
        """The boto3 client, made on first use: building it can look for credentials, which may touch the network."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    c = self.config
                    session = boto3.session.Session(
                        aws_access_key_id=c.access_key_id,
                        aws_secret_access_key=c.secret_access_key,
                        region_name=c.region or ("us-east-1" if c.endpoint else None),
                    )
                    self._client = session.client(
                        "s3",
                        endpoint_url=c.endpoint,
                        config=BotoConfig(
                            signature_version="s3v4",
                            s3={
                                "addressing_style": "path" if c.path_style else "virtual",
                                "payload_signing_enabled": c.sign_payload,
                            },
                            max_pool_connections=max(10, self.concurrency + 2),
                            retries={"mode": "standard", "max_attempts": 5},
                        ),
                    )
        return self._client

    def _transfer_config(self, part_size: int | None = None) -> TransferConfig:
        tc = TransferConfig(
            multipart_threshold=min(self.multipart_threshold, part_size or self.multipart_threshold),
            multipart_chunksize=part_size or self.part_size,
            max_concurrency=self.concurrency,
            use_threads=True,
            preferred_transfer_client="classic",  # the CRT client would ignore these limits
        )
        # not a boto3 argument, but the s3transfer attribute that caps the in-memory parts of a non-seekable stream
        tc.max_in_memory_upload_chunks = self.stream_parts
        return tc

    def _full(self, key: str) -> str:
        return self.prefix + check_key(key)

    def put_file(self, key: str, path: str) -> StoredFile:
        full = self._full(key)
        before = os.stat(path)
        # s3transfer reads parts from the file in its worker threads; one more thread reads it once, in order, for
        # the digest. hashlib releases the GIL on big blocks, so this runs beside the upload rather than before it.
        with ThreadPoolExecutor(1, thread_name_prefix="modelreg-sha256") as pool:
            digest = pool.submit(hash_file, path)
            self.client.upload_file(path, self.bucket, full, Config=self._transfer_config())
            size, sha256 = digest.result()
        after = os.stat(path)
        if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns) or size != after.st_size:
            self._delete_key(full)
            raise BlobError(f"{path} changed while it was uploaded")
        return StoredFile(key=key, size=size, sha256=sha256)

    def put_stream(self, key: str, fileobj: IO[bytes], size: int | None = None) -> StoredFile:
        full = self._full(key)
        reader = HashingReader(fileobj)
        subscribers = [_ProvideSize(size)] if size is not None else None
        with create_transfer_manager(self.client, self._transfer_config(self.stream_part_size)) as manager:
            manager.upload(reader, self.bucket, full, subscribers=subscribers).result()
        if size is not None and reader.size != size:
            self._delete_key(full)
            raise SizeMismatch(f"{key}: expected {size} bytes, got {reader.size}")
        return StoredFile(key=key, size=reader.size, sha256=reader.hexdigest())

    def open_read(self, key: str) -> IO[bytes]:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._full(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in NOT_FOUND_CODES:
                raise BlobNotFound(key) from exc
            raise
        return cast(IO[bytes], response["Body"])  # botocore's StreamingBody: read(n), iter_chunks(), close()

    def iter_keys(self, prefix: str = "") -> Iterator[str]:
        full_prefix = self.prefix + check_prefix(prefix)
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=full_prefix):
            for item in page.get("Contents", []):
                yield item["Key"][len(self.prefix) :]

    def delete_prefix(self, prefix: str) -> int:
        prefix = check_prefix(prefix)
        deleted = 0
        batch: list[str] = []
        for key in self.iter_keys(prefix):
            batch.append(self.prefix + key)
            if len(batch) == 1000:  # the DeleteObjects limit
                deleted += self._delete_batch(batch)
                batch = []
        if batch:
            deleted += self._delete_batch(batch)
        return deleted

    def _delete_batch(self, keys: list[str]) -> int:
        response = self.client.delete_objects(
            Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True}
        )
        errors = response.get("Errors", [])
        if errors:
            raise BlobError(f"could not delete {len(errors)} objects, first: {errors[0]}")
        return len(keys)

    def _delete_key(self, full: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=full)

    def presign(self, key: str, expires_seconds: int) -> str | None:
        if not 1 <= expires_seconds <= MAX_PRESIGN_SECONDS:
            raise ValueError(f"expires_seconds must be within 1..{MAX_PRESIGN_SECONDS}")
        return cast(
            str,
            self.client.generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": self._full(key)}, ExpiresIn=expires_seconds
            ),
        )

    def uri(self, key: str) -> str:
        """``s3://bucket/key``, with the upstream client's ``?endpoint=&defaultRegion=`` when not on AWS."""
        base = f"s3://{self.bucket}/{self.prefix}{check_key(key) if key else ''}"
        if not self.config.endpoint:
            return base
        query = f"?endpoint={self.config.endpoint}"
        if self.config.region:
            query += f"&defaultRegion={self.config.region}"
        return base + query
