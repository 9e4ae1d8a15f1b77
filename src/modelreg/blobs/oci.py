"""OCI registries as artifact storage: ModelCar images (a model's files under ``/models``, one layer per file) pushed
streamed, and read back file by file.

The public surface the services use; the implementation lives beside it (``oci_refs.py``: image references,
``oci_registry.py``: the distribution API client, ``modelcar.py``: layers, config and manifest of a ModelCar,
``oci_base.py``: the base image). Errors are the blob-store errors of ``base.py``: ``StoreUnreachable`` (connect,
DNS, timeout), ``StoreRefused`` (401/403, a missing repository or manifest, any other error status, a redirect),
``BlobNotFound`` (a file that is not in the image), ``UnsupportedOperation``; their messages name the registry and
repository, never a credential.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO

from modelreg.blobs.base import Partial, Readable, StoreConfig, StoredFile, UnsupportedOperation

MODELS_DIR = "models"  # the files live under /models in the image; KServe links it to /mnt/models
ANNOTATION_CONTENT_DIGEST = "olot.layer.content.digest"  # sha256 of the original file (olot's name)


class InvalidImageRef(ValueError):
    """An ``oci://`` URI or image reference that is not ``registry/repository[:tag][@sha256:…]``."""


@dataclass(frozen=True)
class ImageRef:
    """``registry/repository[:tag][@digest]``: ``registry`` is ``host[:port]``, ``repository`` lowercase path
    components, ``tag`` the OCI tag grammar, ``digest`` ``sha256:<64 hex>``."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def reference(self) -> str:
        """What the registry is asked for: the digest when there is one, else the tag (``latest`` without either)."""
        return self.digest or self.tag or "latest"

    def uri(self) -> str:
        """``oci://registry/repository[:tag][@digest]``."""
        raise NotImplementedError

    def image(self) -> str:
        """The reference without the scheme, as a pod's ``image`` takes it."""
        raise NotImplementedError


def parse_image_ref(value: str) -> ImageRef:
    """Parse ``oci://registry/repo[:tag][@sha256:…]`` (or the same without the scheme); ``InvalidImageRef``."""
    raise NotImplementedError


def tag_for(name: str) -> str:
    """A valid OCI tag made from a version name (``1.0.0`` stays, ``v1 final`` → ``v1-final``), at most 128."""
    raise NotImplementedError


def repository_for(prefix: str, name: str) -> str:
    """The repository a model's images go to under a connection's prefix: lowercase, ``[a-z0-9._-]`` components."""
    raise NotImplementedError


@dataclass(frozen=True)
class Layer:
    """One file of a ModelCar as pushed: the file (``path`` relative to ``/models``, ``size``, ``sha256``) and its
    layer (``digest``, ``layer_size``, ``media_type``, olot's annotations)."""

    path: str
    size: int
    sha256: str
    digest: str
    layer_size: int
    media_type: str = "application/vnd.oci.image.layer.v1.tar"
    annotations: dict[str, str] = field(default_factory=dict)

    def stored(self) -> StoredFile:
        return StoredFile(key=self.path, size=self.size, sha256=self.sha256)


@dataclass(frozen=True)
class PushedImage:
    ref: ImageRef  # with the digest (and the tag, if one was set)
    digest: str  # the manifest's digest (or the index's, for a multi-platform base)
    layers: tuple[Layer, ...]


Progress = Callable[[int], None]  # called with the number of bytes just sent or read


class ModelCarPush:
    """Builds one ModelCar in one repository: ``add_file`` streams each file as its own layer (memory flat whatever
    the size; a layer the registry already has is not sent again when ``reuse`` finds it), ``finish`` pushes the base
    image's blobs (mounted or skipped when present), the config and the manifest, and sets the tag. ``cancel`` ends
    the registry's open blob upload, if any; layers already complete stay until the registry's garbage collection."""

    def reuse(self, path: str, size: int, sha256: str, digest: str, layer_size: int) -> Layer | None:
        """The layer a previous push made of this exact file (same path, size and content) if the registry still
        has it in this repository, or can mount it from ``mount_from``; None: send the bytes."""
        raise NotImplementedError

    def add_file(self, path: str, stream: Readable, size: int, progress: Progress | None = None) -> Layer:
        """Stream ``size`` bytes as the layer of ``/models/<path>``; ``SizeMismatch`` if the stream ends early or
        runs long (the blob upload is cancelled). A top-level ``README.md`` becomes the model card layer."""
        raise NotImplementedError

    def finish(self, layers: list[Layer], tag: str | None, annotations: dict[str, str] | None = None) -> PushedImage:
        """Push config and manifest for these layers (in this order) on the base image, tagged with ``tag`` (or by
        digest only, when None)."""
        raise NotImplementedError

    def set_tag(self, image: PushedImage, tag: str) -> None:
        """Point ``tag`` at an already pushed manifest."""
        raise NotImplementedError

    def cancel(self) -> None:
        raise NotImplementedError


class OciStore:
    """The store of an ``oci`` data connection: a registry (and repository prefix) with its credentials. It does
    not take keyed writes (``put_*`` raise ``UnsupportedOperation``): files go into images through ``push``."""

    def __init__(self, config: StoreConfig, base_image: str = "embedded") -> None:
        self.config = config
        self.base_image = base_image

    def check(self, repository: str | None = None, push: bool = False) -> None:
        """Reach the registry's ``/v2/`` with the credentials; with ``push``, also that ``repository`` accepts an
        upload (one is started and cancelled). ``StoreUnreachable``/``StoreRefused`` naming the cause."""
        raise NotImplementedError

    def push(self, repository: str, mount_from: list[str] | None = None) -> ModelCarPush:
        raise NotImplementedError

    def image(self, ref: ImageRef) -> OciImageStore:
        """Read access to one image of this registry (``ref.registry`` must be this connection's)."""
        raise NotImplementedError

    def uri(self, key: str) -> str:
        """``oci://registry/<key>`` (``key`` = ``repository[:tag][@digest]``)."""
        raise NotImplementedError

    # the BlobStore methods an oci connection cannot honour
    def put_file(self, key: str, path: str) -> StoredFile:
        raise UnsupportedOperation("an OCI registry takes whole images: upload through a ModelCar push")

    def put_stream(self, key: str, fileobj: Readable, size: int | None = None) -> StoredFile:
        raise UnsupportedOperation("an OCI registry takes whole images: upload through a ModelCar push")

    def iter_partials(self, prefix: str = "") -> Iterator[Partial]:
        return iter(())

    def discard_partial(self, partial: Partial) -> None:
        return None

    def presign(self, key: str, expires_seconds: int) -> str | None:
        return None


class OciImageStore:
    """One image, read file by file (the BlobStore read methods): keys are paths under ``/models``; each file is
    read from its layer, streamed, the layer's digest checked as it is read."""

    def __init__(self, config: StoreConfig, ref: ImageRef) -> None:
        self.config = config
        self.ref = ref

    def files(self) -> list[StoredFile]:
        """Every file under ``/models`` with its size and the sha256 its layer's ``olot.layer.content.digest``
        annotation records (``""`` when the image does not say), sorted by path."""
        raise NotImplementedError

    def digest(self) -> str:
        """The digest the reference resolves to now (the manifest's, or the index's)."""
        raise NotImplementedError

    def iter_keys(self, prefix: str = "") -> Iterator[str]:
        raise NotImplementedError

    def open_read(self, key: str) -> IO[bytes]:
        raise NotImplementedError

    def check(self) -> None:
        raise NotImplementedError

    def uri(self, key: str) -> str:
        return self.ref.uri()

    def presign(self, key: str, expires_seconds: int) -> str | None:
        return None

    def put_file(self, key: str, path: str) -> StoredFile:
        raise UnsupportedOperation("an OCI image is read-only")

    def put_stream(self, key: str, fileobj: Readable, size: int | None = None) -> StoredFile:
        raise UnsupportedOperation("an OCI image is read-only")

    def delete_prefix(self, prefix: str) -> int:
        raise UnsupportedOperation("an OCI image is read-only")

    def iter_partials(self, prefix: str = "") -> Iterator[Partial]:
        return iter(())

    def discard_partial(self, partial: Partial) -> None:
        return None
