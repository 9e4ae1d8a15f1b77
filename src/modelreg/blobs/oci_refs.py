"""OCI image references: ``registry/repository[:tag][@sha256:…]`` parsed, formatted and made from names.

The grammar is the distribution project's (``reference`` package): a registry host (with a ``.`` or a ``:port``, or
``localhost``, or a bracketed IPv6 address), lowercase path components joined by ``/``, a tag of at most 128
characters. Unlike ``docker pull`` a reference without a registry host is refused rather than read as Docker Hub's:
modelreg reads images through a connection, and a registry it would have to guess is one it has no credentials for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_LABEL = r"(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])"
HOST = re.compile(rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{{1,5}})?")
MAX_NAME = 255  # registry + "/" + repository, the distribution limit
_SCHEME = "oci://"


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
        return _SCHEME + self.image()

    def image(self) -> str:
        """The reference without the scheme, as a pod's ``image`` takes it."""
        text = f"{self.registry}/{self.repository}"
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def is_registry_host(value: str) -> bool:
    """Whether the first component of a reference names a registry (docker's rule: a ``.``, a port, ``localhost``,
    or an IPv6 address) and is a valid one."""
    if not HOST.fullmatch(value):
        return False
    return "." in value or ":" in value or value == "localhost" or value.startswith("[")


def valid_repository(value: str) -> bool:
    return bool(value) and all(COMPONENT.fullmatch(part) for part in value.split("/"))


def parse_image_ref(value: str) -> ImageRef:
    """Parse ``oci://registry/repo[:tag][@sha256:…]`` (or the same without the scheme); ``InvalidImageRef``."""
    text = value.strip()
    if text[: len(_SCHEME)].lower() == _SCHEME:
        text = text[len(_SCHEME) :]
    shown = value[:300]
    if not text or any(c.isspace() or ord(c) < 0x20 for c in text) or "?" in text or "#" in text:
        raise InvalidImageRef(f"not an OCI image reference: {shown!r}")
    name, at, digest = text.partition("@")
    if at and not DIGEST.fullmatch(digest):
        raise InvalidImageRef(f"the digest of {shown!r} is not sha256:<64 lowercase hex>")
    registry, slash, rest = name.partition("/")
    if not slash or not is_registry_host(registry):
        raise InvalidImageRef(
            f"{shown!r} names no registry host: write registry/repository[:tag] (e.g. quay.io/org/model:1.0)"
        )
    repository, tag = rest, None
    last = rest.rsplit("/", 1)[-1]
    if ":" in last:
        repository, _, tag = rest.rpartition(":")
        if not TAG.fullmatch(tag):
            raise InvalidImageRef(f"the tag of {shown!r} is not a valid OCI tag ([A-Za-z0-9_][A-Za-z0-9._-]{{0,127}})")
    if not valid_repository(repository):
        raise InvalidImageRef(
            f"the repository of {shown!r} is not lowercase path components ([a-z0-9] joined by '.', '_', '__' or '-')"
        )
    if len(registry) + 1 + len(repository) > MAX_NAME:
        raise InvalidImageRef(f"the name of {shown!r} is longer than {MAX_NAME} characters")
    return ImageRef(registry=registry, repository=repository, tag=tag, digest=digest or None)


def tag_for(name: str) -> str:
    """A valid OCI tag made from a version name (``1.0.0`` stays, ``v1 final`` → ``v1-final``), at most 128.
    Different names can give one tag (``v1 final``, ``v1-final``); the pushed image is addressed by digest anyway."""
    tag = re.sub(r"[^A-Za-z0-9._-]+", "-", name.strip())
    tag = tag.lstrip(".-")[:128]
    return tag or "latest"


def _component(value: str) -> str:
    """One repository path component from free text: lowercase, other characters as ``-``, separators collapsed."""
    text = re.sub(r"[^a-z0-9._-]+", "-", value.lower())

    def separator(match: re.Match[str]) -> str:
        run = match.group(0)
        return run if run in (".", "_", "__") or set(run) == {"-"} else "-"

    text = re.sub(r"[._-]+", separator, text)
    return text.strip("._-")


def repository_for(prefix: str, name: str) -> str:
    """The repository a model's images go to under a connection's prefix: lowercase, ``[a-z0-9._-]`` components.
    A ``/`` in the model name nests (``org/model`` → ``prefix/org/model``); a name with no usable character gives
    ``model``. Distinct names can meet in one repository (``Foo`` and ``foo``): images are addressed by digest."""
    head = [c for c in (_component(p) for p in prefix.split("/")) if c]
    tail = [c for c in (_component(p) for p in name.split("/")) if c] or ["model"]
    repository = "/".join(head + tail)
    budget = MAX_NAME - 64  # leave room for the registry host
    if len(repository) > budget:
        repository = repository[:budget].rstrip("/._-")
    return repository
