"""The base image a ModelCar is built on, read from an OCI image layout on disk.

``embedded`` (the default) is the ODH ModelCar base image that the ``modelcar-base-image`` package ships as a
layout: an index for linux/amd64 and linux/arm64 whose entrypoint keeps the sidecar alive as KServe expects; builds
then need no network beyond the destination registry. Any other value is the path of an OCI image layout directory
(``skopeo copy … oci:DIR`` makes one). Docker media types in a layout are read as their OCI equivalents.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelreg.blobs.oci_registry import DOCKER_LIST, DOCKER_MANIFEST, INDEX_TYPES, OCI_INDEX, OCI_MANIFEST

OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
_DOCKER_TO_OCI = {
    DOCKER_MANIFEST: OCI_MANIFEST,
    DOCKER_LIST: OCI_INDEX,
    "application/vnd.docker.container.image.v1+json": OCI_CONFIG,
    "application/vnd.docker.image.rootfs.diff.tar.gzip": LAYER_GZIP,
    "application/vnd.docker.image.rootfs.diff.tar": LAYER_TAR,
}
EMBEDDED = "embedded"


class BaseImageError(ValueError):
    """The configured base image is not a readable OCI image layout (a configuration error)."""


@dataclass(frozen=True)
class PlatformImage:
    """One runnable image of the base: its manifest and config (parsed) and the index entry's platform."""

    manifest: dict[str, Any]
    config: dict[str, Any]
    platform: dict[str, Any] | None


@dataclass(frozen=True)
class BaseImage:
    """A layout's image: one manifest, or an index of per-platform manifests (``index`` keeps its other fields)."""

    root: Path
    index: dict[str, Any] | None
    images: tuple[PlatformImage, ...]

    def blob_path(self, digest: str) -> Path:
        algorithm, _, hexdigest = digest.partition(":")
        return self.root / "blobs" / algorithm / hexdigest

    def layer_blobs(self) -> list[dict[str, Any]]:
        """The descriptors of every layer of every platform, each once, in order."""
        seen: dict[str, dict[str, Any]] = {}
        for image in self.images:
            for layer in image.manifest.get("layers", []):
                seen.setdefault(layer["digest"], layer)
        return list(seen.values())


def embedded_layout() -> Path:
    import modelcar_base_image
    from modelcar_base_image.constants import EMBEDDED_OCI_LAYOUT_DIR

    return Path(modelcar_base_image.__file__).parent / EMBEDDED_OCI_LAYOUT_DIR


def load_base_image(spec: str = EMBEDDED) -> BaseImage:
    """Read the base image (``embedded`` or a layout directory); ``BaseImageError`` naming what is wrong."""
    root = embedded_layout() if spec == EMBEDDED else Path(spec)
    try:
        index = _read_json(root / "index.json")
        entries = [m for m in index.get("manifests", []) if isinstance(m, dict)]
        if not entries:
            raise BaseImageError(f"the base image layout {root} lists no image in index.json")
        entry = _pick_entry(entries)
        kind = _oci_type(entry.get("mediaType", ""))
        layout = BaseImage(root, None, ())
        if kind in INDEX_TYPES:
            nested = _oci(_read_json(layout.blob_path(entry["digest"])))
            images = tuple(
                _platform_image(layout, m)
                for m in nested.get("manifests", [])
                if _oci_type(m.get("mediaType", "")) == OCI_MANIFEST and not _attestation(m)
            )
            if not images:
                raise BaseImageError(f"the base image index in {root} has no runnable image")
            return BaseImage(root, nested, images)
        return BaseImage(root, None, (_platform_image(layout, entry),))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        if isinstance(exc, BaseImageError):
            raise
        raise BaseImageError(f"cannot read the base image layout {root}: {type(exc).__name__}: {exc}") from None


def _pick_entry(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """The layout's ``latest`` when it names one, else its first image."""
    for entry in entries:
        if (entry.get("annotations") or {}).get("org.opencontainers.image.ref.name") == "latest":
            return entry
    return entries[0]


def _platform_image(layout: BaseImage, descriptor: dict[str, Any]) -> PlatformImage:
    manifest = _oci(_read_json(layout.blob_path(descriptor["digest"])))
    config = _read_json(layout.blob_path(manifest["config"]["digest"]))
    return PlatformImage(manifest=manifest, config=config, platform=descriptor.get("platform"))


def _attestation(descriptor: dict[str, Any]) -> bool:
    """Build attestations sit in an index as platform unknown/unknown; they describe the base, not the ModelCar."""
    platform = descriptor.get("platform") or {}
    return platform.get("os") == "unknown" or "vnd.docker.reference.type" in (descriptor.get("annotations") or {})


def _oci_type(media_type: str) -> str:
    return _DOCKER_TO_OCI.get(media_type, media_type)


def _oci(document: dict[str, Any]) -> dict[str, Any]:
    """A manifest or index with Docker media types (its own and its descriptors') mapped to OCI's."""
    out = dict(document)
    if "mediaType" in out:
        out["mediaType"] = _oci_type(out["mediaType"])
    for key in ("manifests", "layers"):
        if key in out:
            out[key] = [{**d, "mediaType": _oci_type(d.get("mediaType", ""))} for d in out[key]]
    if "config" in out:
        out["config"] = {**out["config"], "mediaType": _oci_type(out["config"].get("mediaType", ""))}
    return out


def _read_json(path: Path) -> dict[str, Any]:
    with open(path, "rb") as f:
        document = json.loads(f.read(4 * 1024 * 1024 + 1))
    if not isinstance(document, dict):
        raise BaseImageError(f"{path} is not a JSON object")
    return document
