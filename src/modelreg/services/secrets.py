"""Encryption of stored secrets (data connection keys) with AES-256-GCM.

The key is 32 random bytes, urlsafe-base64 encoded, taken from (first match wins) the setting
``storage.secret_key`` (``MODELREG_STORAGE__SECRET_KEY``), the file ``storage.secret_key_file``, or
``<data_dir>/secret.key``, which is created with mode 0600 on first use. Every server process and CLI command that
shares a database must use the same key.

A ciphertext is ``v1:<key id>:<base64(nonce | ciphertext | tag)>``: the version names the scheme, the key id (the
first 8 hex digits of the key's SHA-256, which says nothing about the key) names the key, so a later version can
re-encrypt with a new key and a wrong key is reported as such instead of returning garbage. The associated data
binds a ciphertext to what it belongs to (e.g. the connection's name), so it cannot be copied to another row.
Neither the key nor a plaintext is ever logged or put in an error message.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
import secrets
import threading
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from modelreg.errors import RegistryError
from modelreg.settings import StorageSettings

log = logging.getLogger(__name__)

VERSION = "v1"
KEY_BYTES = 32
_NONCE_BYTES = 12
DEFAULT_KEY_FILE = "secret.key"


class SecretKeyError(RegistryError):
    """The secret key is missing or malformed, or a stored secret was encrypted with another key (server side)."""

    status_code = 500


def generate_key() -> str:
    """A new key, as the setting and the key file hold it."""
    return base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def decode_key(text: str, source: str) -> bytes:
    """The 32 key bytes of ``text`` (urlsafe base64, padding optional); the error names ``source``, not the key."""
    stripped = text.strip()
    try:
        key = base64.urlsafe_b64decode(stripped + "=" * (-len(stripped) % 4))
    except (binascii.Error, ValueError):
        raise SecretKeyError(f"the secret key in {source} is not urlsafe base64") from None
    if len(key) != KEY_BYTES:
        raise SecretKeyError(f"the secret key in {source} must decode to {KEY_BYTES} bytes, not {len(key)}")
    return key


def key_id(key: bytes) -> str:
    return hashlib.sha256(b"modelreg-secret-key-id:" + key).hexdigest()[:8]


class SecretBox:
    """Encrypts and decrypts short secrets. The key is loaded (and the default key file created) on first use."""

    def __init__(self, settings: StorageSettings | None = None, data_dir: Path | None = None) -> None:
        self._settings = settings or StorageSettings()
        self._data_dir = data_dir
        self._lock = threading.Lock()
        self._key: bytes | None = None

    @classmethod
    def from_key(cls, key: str) -> SecretBox:
        return cls(StorageSettings(secret_key=key))

    # --- the key ------------------------------------------------------------------------------------------------

    def _load(self) -> bytes:
        with self._lock:
            if self._key is None:
                self._key = self._read_key()
            return self._key

    def _read_key(self) -> bytes:
        if self._settings.secret_key:
            return decode_key(self._settings.secret_key, "MODELREG_STORAGE__SECRET_KEY (storage.secret_key)")
        if self._settings.secret_key_file is not None:
            path = self._settings.secret_key_file
            try:
                text = path.read_text()
            except OSError as exc:
                raise SecretKeyError(f"cannot read the secret key file {path}: {exc.strerror or exc}") from None
            _warn_if_readable(path)
            return decode_key(text, f"the key file {path}")
        if self._data_dir is None:
            raise SecretKeyError("no secret key configured: set storage.secret_key or storage.secret_key_file")
        return _default_key(self._data_dir / DEFAULT_KEY_FILE)

    @property
    def key_id(self) -> str:
        return key_id(self._load())

    def derive_key(self, purpose: str) -> bytes:
        """A 32-byte key for ``purpose`` (HMAC-SHA256 of the label under the storage key), so the storage key
        itself only ever encrypts and another use of it cannot help attack that."""
        return hmac.new(self._load(), b"modelreg-derived-key:" + purpose.encode(), hashlib.sha256).digest()

    # --- encryption ---------------------------------------------------------------------------------------------

    def encrypt(self, plaintext: str, associated: str = "") -> str:
        key = self._load()
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = AESGCM(key).encrypt(nonce, plaintext.encode(), associated.encode())
        return f"{VERSION}:{key_id(key)}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def decrypt(self, ciphertext: str, associated: str = "") -> str:
        key = self._load()
        version, _, rest = ciphertext.partition(":")
        if version != VERSION:
            raise SecretKeyError(f"unknown secret format {version[:8]!r}: expected {VERSION!r}")
        kid, _, body = rest.partition(":")
        if kid != key_id(key):
            raise SecretKeyError(
                f"the secret was encrypted with another key (key id {kid[:8]}); this process uses key id "
                f"{key_id(key)}: configure the key the secret was stored with"
            )
        try:
            raw = base64.urlsafe_b64decode(body)
            if len(raw) < _NONCE_BYTES + 16:
                raise ValueError("too short")
            plain = AESGCM(key).decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], associated.encode())
        except (InvalidTag, binascii.Error, ValueError):
            raise SecretKeyError("the stored secret cannot be decrypted: it is damaged or was moved") from None
        return plain.decode()


def _warn_if_readable(path: Path) -> None:
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if mode & 0o077:
        log.warning("secret key file %s is accessible to other users (mode %o); chmod 600 it", path, mode & 0o777)


def _default_key(path: Path) -> bytes:
    """Read ``path``, or create it (0600) with a new key. Several processes may race: the first link wins."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as out:
                out.write(generate_key() + "\n")
            os.link(tmp, path)  # atomic, and fails if another process was first
            log.warning(
                "created the secret key file %s (mode 0600) to encrypt data connection secrets; back it up: "
                "without it stored secrets cannot be decrypted",
                path,
            )
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    _warn_if_readable(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise SecretKeyError(f"cannot read the secret key file {path}: {exc.strerror or exc}") from None
    return decode_key(text, f"the key file {path}")
