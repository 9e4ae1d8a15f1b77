"""A store in an S3-compatible bucket (AWS, MinIO, Ceph, moto), through boto3's managed transfers.

Uploads go through s3transfer so large objects are sent as parallel multipart uploads; the SHA-256 is computed on
the same pass (streams) or by one concurrent read of the file (paths), never by buffering the object.

Credentials: a store signs with its own keys only. Without keys it sends unsigned requests (public buckets), and
only a config with ``use_workload_identity`` lets boto3 look for credentials itself (environment, instance role,
web identity). So nothing the server's environment holds is ever sent to an endpoint because a URI named it.

Every botocore failure leaves as ``StoreUnreachable`` (no answer) or ``StoreRefused`` (an answer that says no),
with the bucket, the endpoint and S3's error code in the message.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import IO, Any, cast

import boto3
import botocore.loaders
import botocore.session
from boto3.s3.transfer import TransferConfig, create_transfer_manager
from botocore import UNSIGNED
from botocore.config import Config as BotoConfig
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    CredentialRetrievalError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
)
from s3transfer.subscribers import BaseSubscriber

from modelreg.blobs.base import (
    BlobError,
    BlobNotFound,
    HashingReader,
    Partial,
    Readable,
    SizeMismatch,
    StoreConfig,
    StoredFile,
    StoreRefused,
    StoreUnreachable,
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
CONNECT_TIMEOUT = 10  # seconds; botocore's default of 60, retried, would hold a request for minutes
READ_TIMEOUT = 60
CHECK_TIMEOUT = 5  # connection create's check: one attempt, quickly
_UNAVAILABLE_CODES = {"SlowDown", "ServiceUnavailable", "RequestTimeout", "InternalError", "503", "500"}


class _ProvideSize(BaseSubscriber):
    """Tell s3transfer the size up front so it picks single vs multipart and a part size without reading ahead."""

    def __init__(self, size: int) -> None:
        self._size = size

    def on_queued(self, future: Any, **kwargs: Any) -> None:
        future.meta.provide_transfer_size(self._size)


_loader: botocore.loaders.Loader | None = None
_loader_lock = threading.Lock()


def _new_client(**options: Any) -> Any:
    """An S3 client from a new boto3 session (so a workload identity's credentials are looked up anew, as they
    always were) that shares the process's one botocore data loader: loading the service model and endpoint data
    was most of a client's cost, 60 ms of CPU against 9 ms now, and a connection check makes a client every time.
    The lock makes one client at a time: the shared loader fills its cache as clients ask for models, and botocore
    does not promise that is thread-safe."""
    global _loader
    with _loader_lock:
        if _loader is None:
            _loader = botocore.loaders.create_loader()
        core = botocore.session.Session()
        core.register_component("data_loader", _loader)
        return boto3.session.Session(botocore_session=core).client("s3", **options)


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
                    self._client = self._make_client(max_attempts=5, connect_timeout=CONNECT_TIMEOUT)
        return self._client

    def _make_client(self, *, max_attempts: int, connect_timeout: float, read_timeout: float = READ_TIMEOUT) -> Any:
        c = self.config
        keys = bool(c.access_key_id and c.secret_access_key)
        # Unsigned unless the connection has keys or may use the workload identity: botocore then never consults
        # its credential chain (environment, config files, instance metadata).
        unsigned = not keys and not c.use_workload_identity
        config = BotoConfig(
            signature_version=UNSIGNED if unsigned else "s3v4",
            s3={
                "addressing_style": "path" if c.path_style else "virtual",
                "payload_signing_enabled": c.sign_payload,
            },
            max_pool_connections=max(10, self.concurrency + 2),
            retries={"mode": "standard", "max_attempts": max_attempts},
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        )
        region = c.region or ("us-east-1" if c.endpoint else None)
        if keys:
            # explicit keys (and no session token): botocore uses exactly these, whatever the environment holds
            return _new_client(
                endpoint_url=c.endpoint,
                region_name=region,
                aws_access_key_id=c.access_key_id,
                aws_secret_access_key=c.secret_access_key,
                aws_session_token=None,
                config=config,
            )
        return _new_client(endpoint_url=c.endpoint, region_name=region, config=config)

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

    @property
    def _where(self) -> str:
        return f"bucket {self.bucket!r} at {self.config.endpoint or 'AWS S3'}"

    @contextlib.contextmanager
    def _faults(self) -> Iterator[None]:
        """Turn botocore's failures into ``StoreUnreachable``/``StoreRefused`` naming the bucket and the cause."""
        try:
            yield
        except BlobError:
            raise
        except Exception as exc:
            translated = self._translate(exc)
            if translated is None:
                raise
            raise translated from None

    def _translate(self, exc: BaseException) -> BlobError | None:
        # boto3's upload_file wraps the ClientError in S3UploadFailedError: look down the chain for the cause
        seen: BaseException | None = exc
        while seen is not None and not isinstance(seen, ClientError | BotoCoreError):
            seen = seen.__cause__ or seen.__context__
        if isinstance(seen, ClientError):
            error = seen.response.get("Error", {})
            code = str(error.get("Code") or "")
            status = seen.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            text = str(error.get("Message") or "")[:300]
            if code == "NoSuchBucket":
                return StoreRefused(f"the {self._where} does not exist")
            answer = f"the {self._where} answered {status} {code}" + (f": {text}" if text and text != code else "")
            if status == 503 or code in _UNAVAILABLE_CODES:
                return StoreUnreachable(answer)
            return StoreRefused(answer)
        if isinstance(seen, NoCredentialsError | PartialCredentialsError | CredentialRetrievalError):
            return StoreRefused(
                f"no credentials to sign requests to the {self._where}: the connection uses the workload identity "
                f"and boto3 found none ({type(seen).__name__})"
            )
        if isinstance(seen, ConnectionError | HTTPClientError):
            return StoreUnreachable(f"cannot reach the {self._where}: {str(seen)[:300]}")
        if isinstance(seen, BotoCoreError):
            return StoreRefused(f"the {self._where}: {str(seen)[:300]}")
        return None

    def put_file(self, key: str, path: str) -> StoredFile:
        full = self._full(key)
        before = os.stat(path)
        # s3transfer reads parts from the file in its worker threads; one more thread reads it once, in order, for
        # the digest. hashlib releases the GIL on big blocks, so this runs beside the upload rather than before it.
        with ThreadPoolExecutor(1, thread_name_prefix="modelreg-sha256") as pool, self._faults():
            digest = pool.submit(hash_file, path)
            self.client.upload_file(path, self.bucket, full, Config=self._transfer_config())
            size, sha256 = digest.result()
        after = os.stat(path)
        if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns) or size != after.st_size:
            self._delete_key(full)
            raise BlobError(f"{path} changed while it was uploaded")
        return StoredFile(key=key, size=size, sha256=sha256)

    def put_stream(self, key: str, fileobj: Readable, size: int | None = None) -> StoredFile:
        full = self._full(key)
        reader = HashingReader(fileobj)
        subscribers = [_ProvideSize(size)] if size is not None else None
        with (
            self._faults(),
            create_transfer_manager(self.client, self._transfer_config(self.stream_part_size)) as manager,
        ):
            # s3transfer reads a non-seekable file object with read() alone; its stubs ask for a whole IO
            manager.upload(cast(IO[bytes], reader), self.bucket, full, subscribers=subscribers).result()
        if size is not None and reader.size != size:
            self._delete_key(full)
            raise SizeMismatch(f"{key}: expected {size} bytes, got {reader.size}")
        return StoredFile(key=key, size=reader.size, sha256=reader.hexdigest())

    def open_read(self, key: str) -> IO[bytes]:
        with self._faults():
            try:
                response = self.client.get_object(Bucket=self.bucket, Key=self._full(key))
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in NOT_FOUND_CODES:
                    raise BlobNotFound(key) from exc
                raise
        return cast(IO[bytes], response["Body"])  # botocore's StreamingBody: read(n), iter_chunks(), close()

    def iter_keys(self, prefix: str = "") -> Iterator[str]:
        for key, _size in self.iter_sizes(prefix):
            yield key

    def iter_sizes(self, prefix: str = "") -> Iterator[tuple[str, int]]:
        """Keys under a directory-like prefix with their sizes, from the listing (transfer jobs need both)."""
        full_prefix = self.prefix + check_prefix(prefix)
        with self._faults():
            paginator = self.client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=full_prefix):
                for item in page.get("Contents", []):
                    yield item["Key"][len(self.prefix) :], int(item["Size"])

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
        for partial in list(self.iter_partials(prefix)):  # parts of uploads a crash or a cut body left behind
            self.discard_partial(partial)
        return deleted

    def _delete_batch(self, keys: list[str]) -> int:
        with self._faults():
            response = self.client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True}
            )
        errors = response.get("Errors", [])
        if errors:
            raise StoreRefused(f"could not delete {len(errors)} objects, first: {errors[0]}")
        return len(keys)

    def _delete_key(self, full: str) -> None:
        with self._faults():
            self.client.delete_object(Bucket=self.bucket, Key=full)

    def iter_partials(self, prefix: str = "") -> Iterator[Partial]:
        full_prefix = self.prefix + check_prefix(prefix)
        with self._faults():
            paginator = self.client.get_paginator("list_multipart_uploads")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=full_prefix):
                for upload in page.get("Uploads", []):
                    key = upload["Key"][len(self.prefix) :]
                    yield Partial(key, upload["Initiated"].timestamp(), upload["UploadId"])

    def discard_partial(self, partial: Partial) -> None:
        with self._faults():
            try:
                self.client.abort_multipart_upload(
                    Bucket=self.bucket, Key=self.prefix + partial.key, UploadId=partial.upload_id
                )
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "NoSuchUpload":
                    raise

    def check(self) -> None:
        """HEAD the bucket with one attempt and short timeouts: reachable endpoint, accepted credentials, existing
        bucket. A HEAD answer has no body, so its status is the message."""
        with self._faults():
            client = self._make_client(max_attempts=1, connect_timeout=CHECK_TIMEOUT, read_timeout=2 * CHECK_TIMEOUT)
            try:
                client.head_bucket(Bucket=self.bucket)
            except ClientError as exc:
                status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
                if status == 404:
                    raise StoreRefused(f"the {self._where} does not exist") from None
                if status == 403:
                    raise StoreRefused(
                        f"access to the {self._where} was denied (403): check the access key, the secret and the "
                        "bucket policy"
                    ) from None
                if status in (301, 307, 400):
                    raise StoreRefused(f"the {self._where} answered {status}: is the region right?") from None
                raise

    def presign(self, key: str, expires_seconds: int) -> str | None:
        if not 1 <= expires_seconds <= MAX_PRESIGN_SECONDS:
            raise ValueError(f"expires_seconds must be within 1..{MAX_PRESIGN_SECONDS}")
        with self._faults():
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
