"""The default TLS context for outbound HTTPS, made once per process.

httpx makes a new context for every client created with ``verify=True``, and making one reads and parses the
whole CA bundle: about 20 ms of CPU, more than most of the requests the client then sends. modelreg creates
short-lived clients where a request needs one (reading an artifact over HTTP, a transfer's source, a JWKS, a
readiness probe), so they share this context instead: httpx's own default (``SSL_CERT_FILE`` or ``SSL_CERT_DIR``
when set, else certifi's bundle), made again only when those variables change. Sharing is safe: a context is only
read when a connection is made.
"""

from __future__ import annotations

import functools
import os
import ssl

import httpx


def default_context() -> ssl.SSLContext:
    """What to pass as httpx's ``verify`` where it would be ``True``."""
    return _context(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


@functools.cache
def _context(cafile: str | None, capath: str | None) -> ssl.SSLContext:
    return httpx.create_ssl_context()  # reads the two variables itself: they are the cache key
