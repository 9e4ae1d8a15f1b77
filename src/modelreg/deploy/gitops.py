"""GitOps output: one kustomize-ready folder per deployment (``<root>/<namespace>/<name>/``) with one file per
object and a ``kustomization.yaml``. Credentials never land in it: the connection Secret comes from a
``secretGenerator`` reading an env file the operator provides (an example with the keys, no values, is written).

The folder is written whole into a temporary directory beside it and renamed into place, so a reader (or a commit)
never sees half of it; a re-run replaces it, keeping the operator's ``connection.env`` if there was one. Objects
carry no ownerReferences (see `modelreg.deploy.objects`): the GitOps tool prunes what leaves the folder.
"""

from __future__ import annotations

import base64
import contextlib
import re
import secrets
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from modelreg.deploy import keys
from modelreg.deploy.names import check_deployment_name
from modelreg.deploy.objects import CONNECTION_KEYS, PUBLIC_CONNECTION_KEYS, is_connection_secret
from modelreg.deploy.render import dump, ordered, redact
from modelreg.errors import InvalidInput

Json = dict[str, Any]

KUSTOMIZATION = "kustomization.yaml"
ENV_FILE = "connection.env"
ENV_EXAMPLE = "connection.env.example"
GITIGNORE = ".gitignore"
_OBJECT_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?")


def write(root: Path, objects: Sequence[Mapping[str, Any]], *, namespace: str, name: str) -> Path:
    """Write (or replace) ``<root>/<namespace>/<name>/`` and return it. `InvalidInput` for a root that is not a
    directory, a namespace or name Kubernetes would refuse (so neither can leave ``root``), or objects that cannot
    be written as files."""
    check_deployment_name(name, namespace)
    if root.exists() and not root.is_dir():
        raise InvalidInput(f"the GitOps root {root} exists and is not a directory")
    parent = root / namespace
    if parent.exists() and not parent.is_dir():
        raise InvalidInput(f"{parent} exists and is not a directory")
    files = render_folder(objects, namespace=namespace)
    parent.mkdir(parents=True, exist_ok=True)
    target = parent / name
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=parent))
    try:
        staging.chmod(0o755)  # mkdtemp makes it private; this is a folder for a repository
        for filename, text in files.items():
            (staging / filename).write_text(text, encoding="utf-8")
        kept = target / ENV_FILE
        if ENV_EXAMPLE in files and kept.is_file() and not kept.is_symlink():
            shutil.copy2(kept, staging / ENV_FILE)
        _swap(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _swap(staging: Path, target: Path) -> None:
    """Put ``staging`` where ``target`` is: two renames in one directory, the old folder removed afterwards."""
    if not target.exists() and not target.is_symlink():
        staging.rename(target)
        return
    old = target.with_name(f".{target.name}.old-{secrets.token_hex(4)}")
    target.rename(old)
    try:
        staging.rename(target)
    except BaseException:
        old.rename(target)
        raise
    if old.is_dir() and not old.is_symlink():
        shutil.rmtree(old, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            old.unlink()


def render_folder(objects: Sequence[Mapping[str, Any]], *, namespace: str) -> dict[str, str]:
    """File name → content of a deployment's folder (pure; `write` puts it on disk)."""
    files: dict[str, str] = {}
    resources: list[str] = []
    generators: list[Json] = []
    connections = [obj for obj in objects if is_connection_secret(dict(obj))]
    if len(connections) > 1:
        raise InvalidInput("a deployment has at most one connection Secret")
    for obj in objects:
        found = (obj.get("metadata") or {}).get("namespace")
        if found not in (None, namespace):
            raise InvalidInput(f"{obj.get('kind')} {_name(obj)} is for namespace {found!r}, not {namespace!r}")
        if is_connection_secret(dict(obj)):
            generators.append(_secret_generator(obj))
            files[ENV_EXAMPLE] = env_example(obj)
            files[GITIGNORE] = f"{ENV_FILE}\n"
            continue
        filename = f"{len(resources) + 1:02d}-{_file_part(obj)}.yaml"
        files[filename] = dump(ordered(redact(obj)))
        resources.append(filename)
    kustomization: Json = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": namespace,
        "resources": resources,
    }
    if generators:
        kustomization["secretGenerator"] = generators
    files[KUSTOMIZATION] = dump(kustomization)
    return files


def _name(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def _file_part(obj: Mapping[str, Any]) -> str:
    kind = str(obj.get("kind", "")).lower()
    name = _name(obj)
    if not re.fullmatch(r"[a-z]+", kind) or len(name) > 253 or not _OBJECT_NAME.fullmatch(name):
        raise InvalidInput(f"cannot write {obj.get('kind')!r} {name!r} to a file: not a Kubernetes kind and name")
    return f"{kind}-{name}"


def _secret_generator(secret: Mapping[str, Any]) -> Json:
    meta = secret.get("metadata") or {}
    options: Json = {"disableNameSuffixHash": True}
    if meta.get("labels"):
        options["labels"] = dict(meta["labels"])
    if meta.get("annotations"):
        options["annotations"] = dict(meta["annotations"])
    generator: Json = {"name": meta["name"], "envs": [ENV_FILE]}
    if secret.get("type"):
        generator["type"] = secret["type"]
    generator["options"] = options
    return generator


def _protocol(secret: Mapping[str, Any]) -> str:
    annotations = (secret.get("metadata") or {}).get("annotations") or {}
    return str(annotations.get(keys.CONNECTION_PROTOCOL, ""))


def env_example(secret: Mapping[str, Any]) -> str:
    """``KEY=`` per key of the connection; values that are not credentials (endpoint, bucket, region) filled in."""
    values: dict[str, str] = dict(secret.get("stringData") or {})
    for key, encoded in (secret.get("data") or {}).items():
        values.setdefault(key, base64.b64decode(encoded).decode("utf-8", errors="replace"))
    env_keys = list(CONNECTION_KEYS.get(_protocol(secret), {}))
    env_keys += [key for key in values if key not in env_keys]
    name = _name(secret)
    lines = [
        f"# The data connection {name}: copy this file to {ENV_FILE}, fill in the credentials, and keep",
        f"# {ENV_FILE} out of the repository (.gitignore); kustomize's secretGenerator reads it.",
    ]
    for key in env_keys:
        value = values.get(key, "") if key in PUBLIC_CONNECTION_KEYS else ""
        lines.append(f"{key}={value}" if "\n" not in value else f"{key}=")
    return "\n".join(lines) + "\n"
