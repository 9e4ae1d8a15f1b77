"""Objects → multi-document YAML (block style, keys in Kubernetes' usual order), with Secret values replaced by a
placeholder unless the caller is writing them to the cluster. A data connection's Secret keeps the values that say
where the model is read from (endpoint, region, bucket, a URI without its credentials), so a reviewer of a dry run
or a deployment's page sees them; everything else in a Secret, any key not known to be harmless, is redacted."""

from __future__ import annotations

import base64
import binascii
import copy
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from modelreg.deploy.objects import PUBLIC_CONNECTION_KEYS, is_connection_secret
from modelreg.redact import public_url

Json = dict[str, Any]

TOP_ORDER = ("apiVersion", "kind", "metadata")
META_ORDER = ("name", "namespace", "labels", "annotations", "ownerReferences")
SECRET_FIELDS = ("stringData", "data")
SHOWN_CONNECTION_KEYS = PUBLIC_CONNECTION_KEYS | {"URI"}  # shown through `redact.public_url`


def placeholder(secret: Mapping[str, Any]) -> str:
    """What stands for a Secret's value in output meant for people and repositories."""
    name = (secret.get("metadata") or {}).get("name", "?")
    if is_connection_secret(dict(secret)):
        return f"<redacted: from data connection {name}>"
    return f"<redacted: from Secret {name}>"


def redact(obj: Mapping[str, Any]) -> Json:
    """A copy with every value of a Secret's ``stringData`` and ``data`` replaced by a placeholder (keys kept),
    but for a connection Secret's `SHOWN_CONNECTION_KEYS`; other kinds are copied unchanged."""
    out = copy.deepcopy(dict(obj))
    if out.get("kind") != "Secret":
        return out
    text = placeholder(out)
    connection = is_connection_secret(out)
    for field in SECRET_FIELDS:
        values = out.get(field)
        if isinstance(values, dict):
            encoded = field == "data"
            out[field] = {
                key: (_shown(value, encoded) if connection and key in SHOWN_CONNECTION_KEYS else None) or text
                for key, value in values.items()
            }
    return out


def _shown(value: Any, encoded: bool) -> str | None:
    """A harmless connection value without any credential in it (base64 again for ``data``); None: not shown."""
    if not isinstance(value, str):
        return None
    if not encoded:
        return public_url(value) or None
    try:
        plain = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    shown = public_url(plain)
    return base64.b64encode(shown.encode("utf-8")).decode("ascii") if shown else None


def ordered(obj: Mapping[str, Any]) -> Json:
    """apiVersion, kind, metadata (name, namespace, labels, annotations, ownerReferences first), then the rest in
    the object's own order."""
    out: Json = {key: obj[key] for key in TOP_ORDER if key in obj}
    meta = obj.get("metadata")
    if isinstance(meta, Mapping):
        first = {key: meta[key] for key in META_ORDER if key in meta}
        out["metadata"] = {**first, **{k: v for k, v in meta.items() if k not in META_ORDER}}
    out.update({k: v for k, v in obj.items() if k not in TOP_ORDER})
    return out


class _Dumper(yaml.SafeDumper):
    """Block style, no anchors (an object reusing a dict is still written out twice), multi-line strings as
    literal blocks."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump(document: Any) -> str:
    """One YAML document (no ``---``), block style, keys in the given order."""
    return yaml.dump(
        document, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True, width=4096
    )


def to_yaml(objects: Iterable[Mapping[str, Any]], *, reveal_secrets: bool = False) -> str:
    """Multi-document YAML, one document per object in the given order; Secret values redacted unless
    ``reveal_secrets``."""
    docs = [ordered(obj if reveal_secrets else redact(obj)) for obj in objects]
    return "".join(f"---\n{dump(doc)}" for doc in docs)
