"""OCI helpers shared by the scenarios that push ModelCars with the upstream client (its ``olot`` extra and
``oras``): olot's pure-Python oras backend wrapped as the client's ``BackendDefinition`` (skopeo, the client's
default backend, is not on the machine), the base image pushed from an OCI layout, and an image read back."""

import hashlib
import json
import tarfile
from pathlib import Path

from model_registry.utils import BackendDefinition
from olot.backend.oras_py import is_oras_py, oras_py_pull, oras_py_push

calls: list[str] = []  # what the backend was asked to do, in order


def _pull(base_image: str, dest: Path, **kwargs: object) -> None:
    calls.append(f"pull {base_image}")
    oras_py_pull(base_image, dest, insecure=True)  # plain HTTP: the test registry listens on loopback


def _push(src: Path, oci_ref: str, **kwargs: object) -> None:
    calls.append(f"push {oci_ref}")
    oras_py_push(src, oci_ref, insecure=True)


backend = BackendDefinition(is_available=is_oras_py, pull=_pull, push=_push)


def push_base(registry_host: str, layout: str) -> str:
    """Push the base image's OCI layout to the registry, as a platform mirrors it; its reference."""
    base_image = f"{registry_host}/base/modelcar-base-image:0.1.0"
    oras_py_push(layout, base_image, insecure=True)
    return base_image


def models_in(oci_ref: str, dest: Path) -> dict[str, tuple[str, str]]:
    """Pull ``oci_ref`` into the layout ``dest``; every file under ``/models`` in its layers:
    ``{path: (sha256 of the bytes, olot's content-digest annotation of its layer)}``."""
    oras_py_pull(oci_ref, dest, insecure=True)

    def blob(digest: str) -> Path:
        return dest / "blobs" / digest.replace(":", "/", 1)

    manifest = json.loads(blob(json.loads((dest / "index.json").read_text())["manifests"][0]["digest"]).read_text())
    if manifest.get("mediaType", "").endswith("image.index.v1+json"):  # a multi-platform base: the first platform
        manifest = json.loads(blob(manifest["manifests"][0]["digest"]).read_text())
    files: dict[str, tuple[str, str]] = {}
    for layer in manifest["layers"]:
        annotated = layer.get("annotations", {}).get("olot.layer.content.digest", "")
        with tarfile.open(blob(layer["digest"])) as tar:
            for member in tar.getmembers():
                path = member.name.lstrip("/")
                if member.isfile() and path.startswith("models/"):
                    data = tar.extractfile(member).read()  # type: ignore[union-attr]
                    files[path.removeprefix("models/")] = (hashlib.sha256(data).hexdigest(), annotated)
    return files


def digests_of(model_dir: str) -> dict[str, str]:
    """``{relative path: sha256}`` of every file under ``model_dir``."""
    root = Path(model_dir)
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()
    }
