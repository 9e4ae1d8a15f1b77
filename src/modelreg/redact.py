"""Credentials out of every URL modelreg publishes (the Backstage bridge's documents and model cards, the catalog).

Anyone who may register an artifact or an inference service can write a URI with credentials in it: user info
(`https://user:pass@host`, scheme-less `user:pass@host/path`, or nested in a query value such as the upstream
client's `s3://bucket/key?endpoint=http://user:pass@minio:9000`), or a presigned / token-bearing query
(`X-Amz-Signature`, `access_token`, an Azure SAS `sig`...). The registry API returns URIs verbatim to its
authenticated callers, but published documents reach people who may not read the registry, so they carry
`public_url(uri)` instead. Pure string work, no imports from the rest of modelreg, never raises.

What `public_url` removes:
- user info before the host, in the URI (with or without a scheme) and in every URL inside a query value,
  percent-encoded or not (there, a scheme-less `name@host` without a password is kept: it is an e-mail address);
- query and fragment parameters whose name (case-insensitive, `-`/`_` ignored) is a credential: see
  `SECRET_NAMES` and `SECRET_SUFFIXES`; `key` when its value is not a path or file name (Google-style API keys);
  the Azure SAS fields (`sv`, `se`, `sp`...) when the same query carries a `sig`.
Everything else is kept byte for byte (`endpoint`, `defaultRegion`, `versionId`, page anchors...). The authority
ends where RFC 3986 and WHATWG end it (the first `/`, `\\`, `?` or `#`): clients split a URL the same way, so a
password with an unencoded `/` or `?` never authenticated anyone as that password.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import quote, unquote

__all__ = ["SECRET_NAMES", "SECRET_SUFFIXES", "is_secret_parameter", "public_text", "public_url"]

# Parameter names (normalized: lower case, only letters and digits) that carry a credential.
SECRET_NAMES = frozenset(
    {
        "sig",  # Azure SAS signature
        "auth",
        "authorization",
        "pwd",
        "pass",
        "jwt",
        "bearer",
        "awsaccesskeyid",  # S3 SigV2 presigned URLs, fsspec/DuckDB-style s3:// options
        "accesskeyid",
        "googleaccessid",  # GCS V2 signed URLs
    }
)
# ... and names ending in one of these: X-Amz-Security-Token, X-Amz-Signature, X-Amz-Credential, X-Goog-Signature,
# access_token, id_token, hf_token, client_secret, password, db_password, api_key, x-api-key, secret_key, ...
SECRET_SUFFIXES = (
    "token",
    "secret",
    "password",
    "passwd",
    "signature",
    "credential",
    "credentials",
    "apikey",
    "accesskey",
    "secretkey",
    "privatekey",
    "signingkey",
)
# Azure SAS fields: meaningless without `sig`, and they describe the grant (permissions, expiry, key ids).
_SAS_FIELDS = frozenset(
    {"sv", "ss", "srt", "sp", "se", "st", "spr", "sr", "si", "sip", "sdd", "ses", "scid", "saoid", "suoid"}
    | {"skoid", "sktid", "skt", "ske", "sks", "skv", "rscc", "rscd", "rsce", "rscl", "rsct"}
)
_FILE_LIKE = re.compile(r"[^/]*\.[A-Za-z0-9]{1,16}")  # `key=model.onnx`: an object name, not an API key
_NOT_NAME_CHAR = re.compile(r"[^a-z0-9]+")
_AUTHORITY_START = re.compile(r"(?:[A-Za-z][A-Za-z0-9+.\-]*:)?[/\\]{2}")  # `scheme://`, or `//` (scheme-relative)
_AUTHORITY_END = re.compile(r"[/\\]")
_PARAM_SEPARATOR = re.compile(r"([&;])")
# Patterns searched through untrusted text start only where a run of their first characters starts and never
# backtrack (possessive quantifiers), so a search is linear: no start inside a long run is tried again.
_SCHEME = r"(?<![A-Za-z0-9+.\-])[A-Za-z][A-Za-z0-9+.\-]*+:[/\\]{2}"
# User info of a URL embedded in a path (`https://proxy/fetch/http://user:pass@inner/x`).
_EMBEDDED_USERINFO = re.compile(rf"({_SCHEME})[^/\\?#@\s]*+@")
# URLs inside prose: `scheme://...`, or a scheme-less `user:password@host...` token.
_URL_IN_TEXT = re.compile(
    rf"{_SCHEME}[^\s<>\"'`]++|(?<![^\s<>\"'`(\[{{@/])[^\s<>\"'`(\[{{:@/]++:[^\s<>\"'`/@]*+@[^\s<>\"'`]++"
)
_MAYBE_URL = re.compile(r"@|:[/\\]{2}")
_TRAILING_PUNCTUATION = ".,;:!?'\""
_CLOSERS = {")": "(", "]": "[", "}": "{", ">": "<"}
_MAX_PASSES = 5
_MAX_DECODES = 5
_MAX_DEPTH = 8  # URLs nested deeper in query values are dropped, not published
REDACTED = "[redacted URL]"


def public_url(value: object) -> str:
    """`value` (one URI, with or without a scheme) without credentials: safe to publish, and idempotent.

    Anything that is not a string becomes "", and so does a value that does not settle after a few passes (only
    pathological nesting does): a URL that cannot be made safe is not published at all."""
    if not isinstance(value, str):
        return ""
    text = value
    for _ in range(_MAX_PASSES):
        try:
            out = _redact(text)
        except Exception:  # belt and braces: the parsing is plain string slicing
            return ""
        if out == text:
            return out
        text = out
    return ""


def public_text(value: object) -> str:
    """Prose (a description, a readme, a property that may hold a link) with `public_url` applied to every URL in
    it: `scheme://...` and scheme-less `user:password@host` tokens. Other text, e-mail addresses included, is kept.
    Idempotent; a text that does not settle has its URLs replaced by a marker."""
    if not isinstance(value, str):
        return ""
    if not _MAYBE_URL.search(value):
        return value  # the fast path for plain prose: no `scheme://`, no `user:password@`
    text = value
    for _ in range(_MAX_PASSES):
        out = _in_text(text, public_url)
        if out == text:
            return out
        text = out
    return _URL_IN_TEXT.sub(REDACTED, text)


def is_secret_parameter(name: str, value: str = "") -> bool:
    """Whether a query parameter (raw or percent-encoded name, decoded value) carries a credential."""
    key = _normalized(name)
    if key == "key":  # a credential unless it names an object
        return "/" not in value and not _FILE_LIKE.fullmatch(value)
    return key in SECRET_NAMES or key.endswith(SECRET_SUFFIXES)


def _normalized(name: str) -> str:
    return _NOT_NAME_CHAR.sub("", _decoded(name).lower())


def _decoded(text: str) -> str:
    """Percent-decoded until stable, so a double-encoded nested URL is seen too."""
    for _ in range(_MAX_DECODES):
        if "%" not in text:
            break
        decoded = unquote(text)
        if decoded == text:
            break
        text = decoded
    return text


def _in_text(text: str, redact: Callable[[str], str]) -> str:
    """`redact` applied to each URL found in `text`; punctuation that closes the sentence is not the URL's."""

    def one(match: re.Match[str]) -> str:
        found = match.group()
        body = found.rstrip(_TRAILING_PUNCTUATION)
        while body and body[-1] in _CLOSERS and body.count(body[-1]) > body.count(_CLOSERS[body[-1]]):
            body = body[:-1].rstrip(_TRAILING_PUNCTUATION)  # `(see http://x/y)`: the bracket is the prose's
        return redact(body) + found[len(body) :]

    return _URL_IN_TEXT.sub(one, text)


def _redact(text: str, depth: int = 0) -> str:
    """One pass over one URI (``depth``: how deep in query values of other URIs it is)."""
    head, hash_, fragment = text.partition("#")
    base, mark, query = head.partition("?")
    out = _without_userinfo(base)
    if mark:
        kept, removed = _filter_params(query, depth)
        if kept or not removed:
            out += "?" + kept
    if hash_:
        kept, removed = _filter_params(fragment, depth) if "=" in fragment else (fragment, False)
        if kept or not removed:
            out += "#" + kept
    return out


def _without_userinfo(base: str) -> str:
    start = _AUTHORITY_START.match(base)
    if start is None and base[:7].lower() == "mailto:":
        return base  # an address, not a credential
    offset = start.end() if start else 0
    end = _AUTHORITY_END.search(base, offset)
    authority, path = (base[offset : end.start()], base[end.start() :]) if end else (base[offset:], "")
    return base[:offset] + authority.rpartition("@")[2] + _EMBEDDED_USERINFO.sub(r"\1", path)


def _filter_params(params: str, depth: int) -> tuple[str, bool]:
    """(the parameters without credentials, whether any was removed); unchanged parameters keep their bytes."""
    pieces = _PARAM_SEPARATOR.split(params)  # [item, sep, item, sep, item...]
    items = [("", pieces[0])] + [(pieces[i], pieces[i + 1]) for i in range(1, len(pieces), 2)]
    has_sas = "sig" in {_normalized(item.partition("=")[0]) for _, item in items if "=" in item}
    kept: list[tuple[str, str]] = []
    changed = False
    for sep, item in items:
        name, eq, value = item.partition("=")
        if eq:
            decoded = _decoded(value)
            if is_secret_parameter(name, decoded) or (has_sas and _normalized(name) in _SAS_FIELDS):
                changed = True
                continue
            redacted = _redact_value(value, decoded, depth)
            changed = changed or redacted != value
            item = name + eq + redacted
        kept.append((sep, item))
    if not changed:
        return params, False
    return "".join((sep if i else "") + item for i, (sep, item) in enumerate(kept)), len(kept) < len(items)


def _redact_value(raw: str, decoded: str, depth: int) -> str:
    """A query value holding URLs (`endpoint=http://user:pass@host`): redacted, and encoded again if it was."""
    if "://" not in decoded and "@" not in decoded:
        return raw
    if depth >= _MAX_DEPTH:
        return ""
    redacted = _in_text(decoded, lambda url: _redact(url, depth + 1))
    if redacted == decoded:
        return raw
    return quote(redacted, safe=":/") if "%" in raw else redacted
