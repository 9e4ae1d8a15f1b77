"""A tiny real HTTP server on 127.0.0.1 that records every request and answers from a table of routes, to stand in
for an S3 endpoint or a web server the storage code must (or must not) talk to."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Seen:
    method: str
    path: str  # the raw request target, query included
    headers: dict[str, str]


@dataclass(frozen=True)
class Answer:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


# A route answers a request: by exact path (query stripped), or the fallback for everything else.
Route = Callable[[str, str], Answer]


@dataclass
class FakeHttp:
    url: str
    routes: dict[str, Answer] = field(default_factory=dict)
    fallback: Route = lambda method, path: Answer(404, b"not here")
    seen: list[Seen] = field(default_factory=list)

    def answer(self, method: str, target: str) -> Answer:
        path = target.split("?", 1)[0]
        return self.routes.get(path) or self.fallback(method, target)


@contextmanager
def fake_http() -> Iterator[FakeHttp]:
    fake = FakeHttp(url="")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            fake.seen.append(Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
            answer = fake.answer(self.command, self.path)
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(answer.body)

        do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _serve

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def s3_listing(bucket: str, keys: dict[str, bytes]) -> bytes:
    """A ListObjectsV2 answer naming ``keys``."""
    items = "".join(
        f"<Contents><Key>{k}</Key><Size>{len(v)}</Size><LastModified>2026-01-01T00:00:00.000Z</LastModified>"
        f"<ETag>&quot;x&quot;</ETag><StorageClass>STANDARD</StorageClass></Contents>"
        for k, v in sorted(keys.items())
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        f"<Name>{bucket}</Name><Prefix></Prefix><KeyCount>{len(keys)}</KeyCount><MaxKeys>1000</MaxKeys>"
        f"<IsTruncated>false</IsTruncated>{items}</ListBucketResult>"
    ).encode()


def s3_error(code: str, message: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>{message}</Message>'
        "<RequestId>1</RequestId></Error>"
    ).encode()


def fake_s3(fake: FakeHttp, bucket: str, objects: dict[str, bytes]) -> None:
    """Make ``fake`` answer like a public S3 bucket holding ``objects`` (path-style addressing)."""

    def route(method: str, target: str) -> Answer:
        path, _, query = target.partition("?")
        if path.rstrip("/") == f"/{bucket}":
            if method == "HEAD":
                return Answer(200)
            if "list-type=2" in query:
                return Answer(200, s3_listing(bucket, objects), {"Content-Type": "application/xml"})
        key = path[len(f"/{bucket}/") :]
        if path.startswith(f"/{bucket}/") and key in objects:
            return Answer(200, objects[key], {"Content-Type": "application/octet-stream"})
        return Answer(404, s3_error("NoSuchKey", "The specified key does not exist."))

    fake.fallback = route


def deny_s3(fake: FakeHttp) -> None:
    """Make ``fake`` refuse every request like S3 refusing the credentials."""
    fake.fallback = lambda method, target: Answer(
        403, b"" if method == "HEAD" else s3_error("AccessDenied", "Access Denied"), {"Content-Type": "application/xml"}
    )
