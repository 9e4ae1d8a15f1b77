"""Encryption of stored secrets: AES-GCM, versioned ciphertexts, and where the key comes from."""

from __future__ import annotations

import base64
import logging
import stat
from pathlib import Path

import pytest

from modelreg.services.secrets import SecretBox, SecretKeyError, generate_key
from modelreg.settings import StorageSettings, load_settings

PLAIN = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def test_round_trip_with_a_versioned_ciphertext_that_hides_the_plaintext() -> None:
    box = SecretBox.from_key(generate_key())
    first, second = box.encrypt(PLAIN, "a"), box.encrypt(PLAIN, "a")
    assert first.startswith("v1:") and second.startswith("v1:")
    assert first != second  # a fresh nonce each time
    assert PLAIN not in first and PLAIN.encode() not in base64.urlsafe_b64decode(first.split(":")[2])
    assert box.decrypt(first, "a") == PLAIN == box.decrypt(second, "a")


def test_another_key_fails_clearly_instead_of_returning_garbage() -> None:
    sealed = SecretBox.from_key(generate_key()).encrypt(PLAIN)
    with pytest.raises(SecretKeyError, match="encrypted with another key") as raised:
        SecretBox.from_key(generate_key()).decrypt(sealed)
    assert raised.value.status_code == 500 and PLAIN not in raised.value.message


def test_tampering_other_associated_data_and_unknown_versions_fail() -> None:
    box = SecretBox.from_key(generate_key())
    sealed = box.encrypt(PLAIN, "data_connection:one")
    with pytest.raises(SecretKeyError, match="cannot be decrypted"):
        box.decrypt(sealed, "data_connection:two")
    version, kid, body = sealed.split(":")
    raw = bytearray(base64.urlsafe_b64decode(body))
    raw[-1] ^= 1
    with pytest.raises(SecretKeyError, match="cannot be decrypted"):
        box.decrypt(f"{version}:{kid}:{base64.urlsafe_b64encode(bytes(raw)).decode()}", "data_connection:one")
    with pytest.raises(SecretKeyError, match="unknown secret format 'v9'"):
        box.decrypt(f"v9:{kid}:{body}", "data_connection:one")


@pytest.mark.parametrize(
    ("key", "fragment"),
    [
        (base64.urlsafe_b64encode(b"x" * 16).decode(), "must decode to 32 bytes, not 16"),
        ("not base64 at all!!", "not urlsafe base64"),
    ],
)
def test_a_malformed_key_is_an_error_that_does_not_show_it(key: str, fragment: str) -> None:
    with pytest.raises(SecretKeyError, match=fragment) as raised:
        SecretBox.from_key(key).encrypt(PLAIN)
    assert key not in raised.value.message and "MODELREG_STORAGE__SECRET_KEY" in raised.value.message


def test_key_from_the_environment_wins_and_creates_no_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    key = generate_key()
    monkeypatch.setenv("MODELREG_STORAGE__SECRET_KEY", key)
    monkeypatch.setenv("MODELREG_STORAGE__SECRET_KEY_FILE", str(tmp_path / "unused.key"))
    settings = load_settings(data_dir=tmp_path)
    assert settings.storage.secret_key == key
    assert key not in repr(settings)
    sealed = SecretBox(settings.storage, settings.data_dir).encrypt(PLAIN)
    assert SecretBox.from_key(key).decrypt(sealed) == PLAIN
    assert list(tmp_path.iterdir()) == []


def test_key_from_a_key_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    key = generate_key()
    key_file = tmp_path / "keys" / "modelreg.key"
    key_file.parent.mkdir()
    key_file.write_text(key + "\n")
    key_file.chmod(0o600)
    monkeypatch.setenv("MODELREG_STORAGE__SECRET_KEY_FILE", str(key_file))
    settings = load_settings(data_dir=tmp_path / "data")
    sealed = SecretBox(settings.storage, settings.data_dir).encrypt(PLAIN)
    assert SecretBox.from_key(key).decrypt(sealed) == PLAIN
    assert not (tmp_path / "data").exists()


def test_a_missing_key_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SecretKeyError, match=r"cannot read the secret key file .*nope\.key"):
        SecretBox(StorageSettings(secret_key_file=tmp_path / "nope.key"), tmp_path).encrypt(PLAIN)


def test_default_key_file_is_created_once_with_mode_0600_and_logged_without_the_key(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sealed = SecretBox(StorageSettings(), tmp_path / "data").encrypt(PLAIN)
    key_file = tmp_path / "data" / "secret.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_text().strip()
    assert len(base64.urlsafe_b64decode(key)) == 32
    assert str(key_file) in caplog.text and "0600" in caplog.text
    assert key not in caplog.text and PLAIN not in caplog.text
    assert sorted(p.name for p in key_file.parent.iterdir()) == ["secret.key"]  # no temporary file left
    # a later process reads the same file, and says nothing
    caplog.clear()
    assert SecretBox(StorageSettings(), tmp_path / "data").decrypt(sealed) == PLAIN
    assert "created" not in caplog.text
    assert SecretBox.from_key(key).decrypt(sealed) == PLAIN


def test_a_key_file_readable_by_others_is_warned_about(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    key_file = tmp_path / "k"
    key_file.write_text(generate_key())
    key_file.chmod(0o644)
    SecretBox(StorageSettings(secret_key_file=key_file)).encrypt(PLAIN)
    assert "accessible to other users" in caplog.text
