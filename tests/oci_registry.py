"""A real OCI registry for the tests: Debian's docker-registry (CNCF distribution 2.8), unpacked by
``scripts/setup-oci-registry`` into ``.venvs/docker-registry``, run on a free 127.0.0.1 port with filesystem storage
in a temp dir. Tests skip with the reason when the binary is missing.

Use the fixtures by importing them into a test module (``from oci_registry import oci_registry``): ``oci_registry``
(no auth) and ``oci_registry_auth`` (htpasswd basic auth, bcrypt) are started once per session (per xdist worker);
``start_registry`` starts a private one, e.g. to stop it for an "unreachable" test.
"""

from __future__ import annotations

import base64
import contextlib
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import free_port
from modelreg.blobs.base import StoreConfig

ROOT = Path(__file__).resolve().parent.parent
BINARY = ROOT / ".venvs" / "docker-registry" / "usr" / "bin" / "docker-registry"
USERNAME = "modelreg-oci"
PASSWORD = "oci-SECRET-5e4d3c2b1a"  # distinctive so a leak in logs or messages is easy to spot
_UPLOAD_DONE = re.compile(r'"PUT /v2/(\S+)/blobs/uploads/\S* HTTP/1\.1" 201 ')


@dataclass
class OciRegistry:
    host: str  # 127.0.0.1:PORT
    storage: Path  # the registry's filesystem storage root
    log: Path  # its stdout+stderr (access log included)
    process: subprocess.Popen[bytes]
    username: str | None = None
    password: str | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def config(self, **overrides: Any) -> StoreConfig:
        """An ``oci`` store config for this registry (plain http; with the credentials when it has auth)."""
        values: dict[str, Any] = {"type": "oci", "registry": self.host, "plain_http": True}
        if self.username is not None:
            values.update(access_key_id=self.username, secret_access_key=self.password)
        values.update(overrides)
        return StoreConfig(**values)

    def _log_text(self) -> str:
        """The log once the registry has written what it had to (the access line follows the response)."""
        size = -1
        for _ in range(20):
            time.sleep(0.05)
            current = self.log.stat().st_size
            if current == size:
                break
            size = current
        return self.log.read_text(errors="replace")

    def blob_uploads(self, repository: str | None = None) -> int:
        """Blob uploads completed so far (``PUT …/blobs/uploads/…`` answered 201), in one repository or all."""
        return sum(1 for m in _UPLOAD_DONE.finditer(self._log_text()) if repository in (None, m.group(1)))

    def open_uploads(self, repository: str) -> list[str]:
        """The uploads the registry holds open in a repository: ``_uploads`` folders with their ``startedat`` or
        ``data``. (docker-registry 2.8 leaves an empty ``hashstates`` folder behind even after a DELETE that it
        answered 204, and GETs of that upload then answer 404: that residue is not an open upload.)"""
        folder = self.storage / "docker" / "registry" / "v2" / "repositories" / repository / "_uploads"
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if (p / "startedat").exists() or (p / "data").exists())

    def blob_count(self) -> int:
        """Distinct blobs stored (the registry deduplicates across repositories)."""
        root = self.storage / "docker" / "registry" / "v2" / "blobs"
        return sum(1 for _ in root.glob("sha256/*/*/data")) if root.is_dir() else 0

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.running:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def _htpasswd(path: Path, username: str, password: str) -> None:
    import bcrypt

    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
    path.write_text(f"{username}:{hashed}\n")


def start_registry(
    workdir: Path, *, auth: bool = False, token: TokenService | None = None, timeout: float = 20.0
) -> OciRegistry:
    """Start docker-registry in ``workdir`` (storage, config, log); skip when the binary is not there. ``auth``:
    htpasswd basic auth; ``token``: Bearer tokens from that token service (``TokenService``)."""
    if not BINARY.exists():
        pytest.skip(f"no OCI registry binary at {BINARY}: run scripts/setup-oci-registry")
    workdir.mkdir(parents=True, exist_ok=True)
    storage = workdir / "storage"
    host = f"127.0.0.1:{free_port()}"
    lines = [
        "version: 0.1",
        "log: {level: info, formatter: text, accesslog: {disabled: false}}",
        f"storage: {{filesystem: {{rootdirectory: {storage}}}, delete: {{enabled: true}}}}",
        f"http: {{addr: {host}, secret: modelreg-test-registry}}",
    ]
    if auth:
        _htpasswd(workdir / "htpasswd", USERNAME, PASSWORD)
        lines.append(f"auth: {{htpasswd: {{realm: modelreg-test, path: {workdir / 'htpasswd'}}}}}")
    if token is not None:
        lines.append(
            f"auth: {{token: {{realm: '{token.url}/token', service: {token.SERVICE}, issuer: {token.ISSUER}, "
            f"rootcertbundle: {token.certificate}}}}}"
        )
    config = workdir / "config.yml"
    config.write_text("\n".join(lines) + "\n")
    log = workdir / "registry.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([str(BINARY), "serve", str(config)], stdout=out, stderr=subprocess.STDOUT)
    with_credentials = auth or token is not None
    registry = OciRegistry(
        host, storage, log, process, USERNAME if with_credentials else None, PASSWORD if with_credentials else None
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not registry.running:
            raise RuntimeError(f"docker-registry exited: {log.read_text(errors='replace')[-2000:]}")
        with contextlib.suppress(httpx.TransportError):
            status = httpx.get(f"{registry.url}/v2/", timeout=2).status_code
            if status in (200, 401):
                return registry
        time.sleep(0.05)
    registry.stop()
    raise RuntimeError(f"docker-registry did not answer on {host} within {timeout} s")


@pytest.fixture(scope="session")
def oci_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OciRegistry]:
    registry = start_registry(tmp_path_factory.mktemp("oci-registry"))
    yield registry
    registry.stop()


@pytest.fixture(scope="session")
def oci_registry_auth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OciRegistry]:
    registry = start_registry(tmp_path_factory.mktemp("oci-registry-auth"), auth=True)
    yield registry
    registry.stop()


class TokenService:
    """A Bearer token service as registries use (Docker Hub, quay, Harbor): ``GET /token?service=&scope=`` with the
    user's basic credentials answers a JWT (ES256, the signing certificate in ``x5c``) granting what the scopes ask.
    It runs in a thread on a free port; ``requests`` records (scopes, whether credentials came) per token asked."""

    SERVICE = "modelreg-test-registry"
    ISSUER = "modelreg-test-issuer"

    def __init__(self, workdir: Path) -> None:
        import datetime
        import http.server
        import threading

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        workdir.mkdir(parents=True, exist_ok=True)
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "modelreg test token issuer")])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.certificate = workdir / "token-cert.pem"
        self.certificate.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self.x5c = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
        self.requests: list[tuple[list[str], bool]] = []
        service = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                service.answer(self)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def answer(self, handler: Any) -> None:
        import json
        import uuid
        from urllib.parse import parse_qs, urlsplit

        import jwt

        query = parse_qs(urlsplit(handler.path).query)
        scopes = [s for value in query.get("scope", []) for s in value.split(" ") if s]
        header = handler.headers.get("Authorization", "")
        sent = header.startswith("Basic ")
        self.requests.append((scopes, sent))
        if header != "Basic " + base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode():
            body = json.dumps({"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]}).encode()
            handler.send_response(401)
        else:
            access = []
            for scope in scopes:
                kind, _, rest = scope.partition(":")
                name, _, actions = rest.rpartition(":")
                access.append({"type": kind, "name": name, "actions": [a for a in actions.split(",") if a]})
            now = int(time.time())
            claims = {
                "iss": self.ISSUER, "sub": USERNAME, "aud": self.SERVICE, "exp": now + 300, "nbf": now - 10,
                "iat": now, "jti": uuid.uuid4().hex, "access": access,
            }  # fmt: skip
            token = jwt.encode(claims, self.key, algorithm="ES256", headers={"x5c": [self.x5c]})
            body = json.dumps({"token": token, "expires_in": 300}).encode()
            handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="session")
def oci_registry_token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[OciRegistry, TokenService]]:
    """A registry that wants Bearer tokens from a token service (the flow of most hosted registries)."""
    workdir = tmp_path_factory.mktemp("oci-registry-token")
    service = TokenService(workdir)
    registry = start_registry(workdir, token=service)
    yield registry, service
    registry.stop()
    service.stop()
