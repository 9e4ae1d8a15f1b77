"""The README's SDK examples run as written, in order, in one namespace, against a live server."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from client.conftest import Sdk

README = Path(__file__).resolve().parents[2] / "README.md"
EXAMPLE = re.compile(r"^<!-- sdk-example -->\n```python\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def examples() -> list[str]:
    section = README.read_text().split("## Python SDK", 1)[1].split("\n## ", 1)[0]
    return EXAMPLE.findall(section)


def test_the_readme_has_sdk_examples() -> None:
    assert len(examples()) >= 3


def test_the_readme_examples_run(sdk: Sdk, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("MODELREG_URL", sdk.url)
    monkeypatch.setenv("MODELREG_TOKEN", sdk.tokens["developer"])
    namespace: dict[str, object] = {"__name__": "readme"}
    for number, code in enumerate(examples(), 1):
        exec(compile(code, f"README.md sdk-example {number}", "exec"), namespace)
    namespace["registry"].close()  # type: ignore[attr-defined]
    out = capsys.readouterr().out
    assert "development apache-2.0 s3://models/my-custom-model/v1.0/" in out
    assert "403 " in out and "['v1.0', 'v2.0']" in out
    assert "/my-custom-model/v2.0/" in out and "200013 ['config.json', 'model.onnx']" in out
