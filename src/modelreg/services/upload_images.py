"""Uploads into an OCI registry: the session's files become the layers of one ModelCar image.

Each PUT streams its file as a layer straight into the registry (nothing is kept on the server), and the layer's
digest is recorded with the file. Commit pushes config and manifest by digest, so the image exists before anything
is registered and the artifact's URI can pin it (``oci://registry/repo:tag@sha256:…``); the tag is set only after
the registration committed, and a tag that cannot be set costs a warning, not the upload.

Re-pushing identical files sends no bytes: a layer is fully determined by the file's path, size and content, so a
layer recorded by an earlier upload through the same connection is either still in the registry (found with a HEAD,
or mounted from the repository it was pushed to) or the client sends the bytes. Nothing here deletes from a
registry: an aborted session's complete layers stay until the registry's garbage collection.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy import Connection, func, select

from modelreg.blobs.oci import Layer, ModelCarPush, OciStore, PushedImage, make_layer, repository_for, tag_for
from modelreg.blobs.oci_refs import TAG
from modelreg.db.tables import upload_files, uploads
from modelreg.errors import InvalidInput

_CANDIDATES = 20  # earlier uploads of a file looked at by ``reuse``: more only repeat the same layer
_SOURCES = 3  # repositories a commit may mount the base image's blobs from (each miss costs one request per blob)
_u = uploads.c
_f = upload_files.c


@dataclass(frozen=True)
class Target:
    """Where an oci session's image goes: ``repository`` (the session's key), ``tag`` and the URI before commit."""

    repository: str
    tag: str
    uri: str


@dataclass(frozen=True)
class Known:
    """A layer an earlier upload recorded for the same file, and the repository it was pushed to."""

    repository: str
    layer: Layer


def as_oci(store: object, connection: str) -> OciStore:
    if not isinstance(store, OciStore):
        raise InvalidInput(f"data connection {connection!r} is not an OCI registry")
    return store


def target(store: OciStore, prefix: str | None, model: str, version: str, tag: str | None) -> Target:
    """The repository for ``model`` under the connection's prefix, and ``tag`` (default: made from ``version``)."""
    if tag is None:
        tag = tag_for(version)
    elif not TAG.fullmatch(tag):
        raise InvalidInput(
            f"invalid tag {tag[:200]!r}: letters, digits, '_', '.' and '-', at most 128, not first '.'/'-'"
        )
    repository = repository_for(prefix or "", model)
    return Target(repository, tag, store.uri(f"{repository}:{tag}"))


def recorded_layers(conn: Connection, upload_id: str) -> list[Layer]:
    """The session's layers in path order (the order of the image's layers, so the same files give the same list)."""
    rows = conn.execute(
        select(_f.path, _f.size, _f.sha256, _f.layer_digest, _f.layer_size)
        .where(_f.upload_id == upload_id)
        .order_by(_f.path)
    )
    layers = []
    for path, size, sha256, digest, layer_size in rows:
        if digest is None:  # recorded by a server without OCI support: cannot be part of an image
            raise InvalidInput(f"upload {upload_id} has no layer for {path!r}: abort it and upload again")
        layers.append(make_layer(path, size, sha256, digest, layer_size))
    return layers


def mount_sources(conn: Connection, connection: str, repository: str) -> list[str]:
    """Repositories of this connection that recently received an image: the base image's blobs are mounted from
    one of them instead of sent again."""
    rows = conn.execute(
        select(_u.key)
        .where(_u.connection == connection, _u.state == "committed", _u.key != repository)
        .group_by(_u.key)
        .order_by(func.max(_u.last_update_time).desc())
        .limit(_SOURCES)
    )
    return list(rows.scalars())


def known_layers(
    conn: Connection, connection: str, path: str, size: int, sha256: str | None, exclude: str
) -> list[Known]:
    """Layers of this exact file (path, size and, when given, content) recorded by open or committed uploads through
    the same connection, newest first, one per repository and layer."""
    where = [
        _u.connection == connection,
        _u.state.in_(("open", "committed")),
        _u.id != exclude,
        _f.upload_id == _u.id,
        _f.path == path,
        _f.size == size,
        _f.layer_digest.is_not(None),
    ]
    if sha256 is not None:
        where.append(_f.sha256 == sha256)
    rows = conn.execute(
        select(_u.key, _f.sha256, _f.layer_digest, _f.layer_size)
        .where(*where)
        .order_by(_u.last_update_time.desc())
        .limit(_CANDIDATES)
    )
    found: dict[tuple[str, str], Known] = {}
    for repository, digest_of_file, digest, layer_size in rows:
        layer = make_layer(path, size, digest_of_file, digest, layer_size)
        found.setdefault((repository, digest), Known(repository, layer))
    return list(found.values())


def reuse(push: ModelCarPush, candidates: list[Known]) -> Layer | None:
    """The first candidate layer the registry has in (or can mount into) the push's repository."""
    for known in candidates:
        layer = known.layer
        reused = push.reuse(layer.path, layer.size, layer.sha256, layer.digest, layer.layer_size)
        if reused is not None:
            return reused
    return None


def final_uri(image: PushedImage, tag: str) -> str:
    """``oci://registry/repo:tag@sha256:…``: readable, and immutable through the digest."""
    return replace(image.ref, tag=tag, digest=image.digest).uri()
