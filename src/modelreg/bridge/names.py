"""Backstage-safe entity names, tags and owner names.

Backstage object names are 1-63 characters of `[A-Za-z0-9]` runs separated by one of `-_.`, and the catalog
compares them case-insensitively. The reference bridge deleted disallowed characters (`kube:admin` → `kubeadmin`,
`a_b` and `ab` then clash) and did not re-truncate joined names; here a name is either a lossless rendering of its
parts or a readable slug plus a hash of the exact parts:

- every part already in the *clean* form `[a-z0-9]+(-[a-z0-9]+)*` and the whole fits: the parts joined with `.`
  (clean parts contain no `.`, so the join is reversible, hence injective);
- otherwise: the slug of each part joined with `.`, cut to fit, then `--` and 12 hex digits of SHA-256 over the
  JSON-encoded parts. Clean names never contain `--`, so the two forms never meet, and two hashed names differ
  unless SHA-256 collides in 48 bits.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

import orjson

MAX_NAME_LENGTH = 63
_HASH_LENGTH = 12
_SEPARATOR = "--"

OBJECT_NAME_RE = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
TAG_RE = re.compile(r"^[a-z0-9:+#]+(-[a-z0-9:+#]+)*$")
_CLEAN_PART_RE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_NON_SLUG_RE = re.compile(r"[^a-z0-9]+")
_DISALLOWED_NAME_CHARS_RE = re.compile(r"[^A-Za-z0-9_.-]+")
_SEPARATOR_RUN_RE = re.compile(r"[-_.]{2,}")


def is_valid_object_name(value: str) -> bool:
    """Backstage's `KubernetesValidatorFunctions.isValidObjectName`."""
    return 1 <= len(value) <= MAX_NAME_LENGTH and OBJECT_NAME_RE.match(value) is not None


def is_valid_tag(value: str) -> bool:
    """Backstage's `makeValidator().isValidTag`."""
    return 1 <= len(value) <= MAX_NAME_LENGTH and TAG_RE.match(value) is not None


def slugify(value: str) -> str:
    """Lower-case ASCII letters and digits, every other run of characters becomes one `-`."""
    return _NON_SLUG_RE.sub("-", value.lower()).strip("-")


def _digest(parts: tuple[str, ...]) -> str:
    return hashlib.sha256(orjson.dumps(parts)).hexdigest()[:_HASH_LENGTH]


def backstage_name(*parts: str) -> str:
    """A Backstage object name for `parts` (e.g. source, model, version), unique and stable; see the module doc."""
    if parts and all(_CLEAN_PART_RE.match(p) for p in parts):
        joined = ".".join(parts)
        if len(joined) <= MAX_NAME_LENGTH:
            return joined
    slug = ".".join(s for s in (slugify(p) for p in parts) if s)
    budget = MAX_NAME_LENGTH - len(_SEPARATOR) - _HASH_LENGTH
    slug = slug[:budget].rstrip("-.")
    digest = _digest(parts)
    return f"{slug}{_SEPARATOR}{digest}" if slug else digest


def owner_name(value: str | None) -> str | None:
    """A Backstage user name from an owner string, or None when nothing usable is left.

    Valid names are kept as they are (user entities are often `First.Last`). Others drop the disallowed
    characters like the reference (`kube:admin` → `kubeadmin`), because an owner must match an existing user
    entity, which a hash suffix never would.
    """
    if value is None:
        return None
    value = value.strip()
    if is_valid_object_name(value):
        return value
    cleaned = _DISALLOWED_NAME_CHARS_RE.sub("", value)
    cleaned = _SEPARATOR_RUN_RE.sub(lambda m: m.group(0)[0], cleaned)
    cleaned = cleaned[:MAX_NAME_LENGTH].strip("-_.")
    return cleaned or None


def unique_tags(candidates: Iterable[str]) -> tuple[str, ...]:
    """Valid tags in first-seen order, without duplicates."""
    return tuple(dict.fromkeys(t for t in candidates if is_valid_tag(t)))
