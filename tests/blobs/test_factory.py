"""``blobs/factory.py`` picks the implementation a config names, and imports each only when asked for it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import cast

import pytest

from modelreg.blobs.base import StoreConfig, StoreType
from modelreg.blobs.factory import open_store, open_uri
from modelreg.blobs.http import HttpStore
from modelreg.blobs.local import LocalStore


def test_each_store_type_gets_its_implementation(tmp_path: Path) -> None:
    assert isinstance(open_store(StoreConfig(type="local", directory=str(tmp_path))), LocalStore)
    assert isinstance(open_store(StoreConfig(type="uri", base_url="https://example.com/")), HttpStore)
    store, key = open_uri((tmp_path / "models" / "w.bin").as_uri())
    assert isinstance(store, LocalStore) and key.endswith("w.bin")


def test_an_unknown_store_type_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown store type 'ftp'"):
        open_store(StoreConfig(type=cast(StoreType, "ftp")))  # what a hand-edited database row could hold


def test_importing_the_stores_does_not_import_boto3() -> None:
    """boto3 takes longer to import than the rest of the CLI: only an S3 store loads it."""
    code = "import sys, modelreg.blobs, modelreg.services.connections; print('boto3' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
