"""`modelreg.outbound`, the one way modelreg calls other services: redirects are refused, TLS is checked against the
configured CA (or not at all when asked), the token is asked for at every request, and every error names the request
without a credential, a query or a secret the server echoed."""

from __future__ import annotations

import datetime
import http.server
import ipaddress
import json
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from conftest import free_port
from modelreg import tls
from modelreg.outbound import BadResponse, Client, HttpStatus, OutboundError, Target, Unreachable

# path -> (status, headers, body); "/slow" sleeps first
ANSWERS: dict[str, tuple[int, dict[str, str], bytes]] = {
    "/ok": (200, {}, b'{"items": [1]}'),
    "/empty": (200, {}, b""),
    "/html": (200, {}, b"<html>maintenance</html>"),
    "/missing": (404, {}, b'{"message": "not found"}'),
    "/redirect": (302, {"Location": "https://elsewhere.example/x?token=s3cr3t"}, b""),
    "/moved": (301, {"Location": "/ok"}, b""),
    "/leaky": (
        500,
        {},
        json.dumps({"error": {"message": "cannot reach https://admin:hunter2@db.internal/x"}}).encode(),
    ),
    "/slow": (200, {}, b"{}"),
}


class Fake:
    """A local HTTP(S) server answering `ANSWERS`; `seen` holds (path with query, Authorization header)."""

    def __init__(self, context: ssl.SSLContext | None = None) -> None:
        self.seen: list[tuple[str, str | None]] = []
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake.seen.append((self.path, self.headers.get("Authorization")))
                path = self.path.split("?")[0]
                if path == "/slow":
                    time.sleep(1)
                status, headers, body = ANSWERS.get(path, (404, {}, b""))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if context is not None:
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        scheme = "https" if context else "http"
        self.url = f"{scheme}://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def fake() -> Iterator[Fake]:
    server = Fake()
    yield server
    server.close()


def test_json_answers_empty_bodies_and_accepted_statuses(fake: Fake) -> None:
    api = Client(Target(fake.url))
    try:
        assert api.json("GET", "/ok") == {"items": [1]}
        assert api.json("GET", "/empty") is None
        assert api.json("GET", "/missing", accept=[404]) is None  # "none", for callers that say so
        with pytest.raises(HttpStatus) as missing:
            api.json("GET", "/missing")
        assert missing.value.status == 404
        assert str(missing.value) == f"GET {fake.url}/missing answered 404 Not Found: not found"
        with pytest.raises(BadResponse, match="returned invalid JSON"):
            api.json("GET", "/html")
    finally:
        api.close()


def test_redirects_are_refused_not_followed(fake: Fake) -> None:
    api = Client(Target(fake.url, bearer=lambda: "tok"))
    try:
        with pytest.raises(HttpStatus) as refused:
            api.json("GET", "/redirect")
    finally:
        api.close()
    assert refused.value.status == 302
    assert "a redirect to https://elsewhere.example: not followed" in str(refused.value)
    assert "s3cr3t" not in str(refused.value)
    assert len(fake.seen) == 1  # the token went nowhere else
    asked = Client(Target(fake.url, follow_redirects=True))  # only when a target asks for it
    try:
        assert asked.json("GET", "/moved") == {"items": [1]}
    finally:
        asked.close()


def test_errors_name_the_request_without_credentials_queries_or_echoed_secrets(fake: Fake) -> None:
    base = fake.url.replace("http://", "http://user:pa55word@")
    api = Client(Target(base))
    try:
        with pytest.raises(HttpStatus) as failed:
            api.json("GET", "/leaky", params={"nextPageToken": "page-secret"})
    finally:
        api.close()
    message = str(failed.value)
    assert message == (f"GET {fake.url}/leaky answered 500 Internal Server Error: cannot reach https://db.internal/x")
    assert failed.value.message == message
    for secret in ("pa55word", "page-secret", "hunter2", "admin"):
        assert secret not in message


def test_the_token_is_asked_for_at_every_request(fake: Fake) -> None:
    tokens = iter(["first", "rotated"])
    api = Client(Target(fake.url, bearer=lambda: next(tokens)))
    try:
        api.json("GET", "/ok")
        api.json("GET", "/ok")
    finally:
        api.close()
    assert [auth for _, auth in fake.seen] == ["Bearer first", "Bearer rotated"]
    anonymous = Client(Target(fake.url, bearer=lambda: None))
    try:
        anonymous.json("GET", "/ok")
    finally:
        anonymous.close()
    assert fake.seen[-1][1] is None


def test_no_answer_is_unreachable_and_timeouts_apply(fake: Fake) -> None:
    refused = Client(Target(f"http://127.0.0.1:{free_port()}"))
    try:
        with pytest.raises(Unreachable, match=r"^GET http://127\.0\.0\.1:\d+/ok: ConnectError"):
            refused.json("GET", "/ok")
    finally:
        refused.close()
    slow = Client(Target(fake.url, timeout=0.2))
    started = time.monotonic()
    try:
        with pytest.raises(Unreachable, match="ReadTimeout"):
            slow.json("GET", "/slow")
    finally:
        slow.close()
    assert time.monotonic() - started < 0.9
    assert issubclass(Unreachable, OutboundError) and issubclass(BadResponse, OutboundError)


# --- TLS ---------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1: (certificate = its own CA bundle, key)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory = tmp_path_factory.mktemp("tls")
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


@pytest.fixture
def tls_fake(certificate: tuple[Path, Path]) -> Iterator[Fake]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    server = Fake(context)
    yield server
    server.close()


def test_tls_is_checked_against_the_configured_ca(tls_fake: Fake, certificate: tuple[Path, Path]) -> None:
    cert_file, _ = certificate
    trusted = Client(Target(tls_fake.url, ca_file=cert_file))
    system = Client(Target(tls_fake.url))
    unchecked = Client(Target(tls_fake.url, verify_tls=False, ca_file=Path("/nonexistent/ca.pem")))
    try:
        assert trusted.json("GET", "/ok") == {"items": [1]}
        with pytest.raises(Unreachable, match="CERTIFICATE_VERIFY_FAILED"):
            system.json("GET", "/ok")  # the default CA bundle does not know a self-signed certificate
        assert unchecked.json("GET", "/ok") == {"items": [1]}  # an explicit opt-out wins over a CA bundle
    finally:
        for api in (trusted, system, unchecked):
            api.close()
    with pytest.raises(ValueError, match="cannot read the CA bundle"):
        Client(Target(tls_fake.url, ca_file=Path("/nonexistent/ca.pem")))


def test_the_shared_default_context_verifies_as_httpx_does(
    tls_fake: Fake, certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`tls.default_context` is made once (per CA setting), and like httpx's default it takes ``SSL_CERT_FILE``."""
    assert tls.default_context() is tls.default_context()
    assert tls.default_context().verify_mode == ssl.CERT_REQUIRED and tls.default_context().check_hostname
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    api = Client(Target(tls_fake.url))
    try:
        assert api.json("GET", "/ok") == {"items": [1]}  # the self-signed certificate, trusted through the variable
    finally:
        api.close()
