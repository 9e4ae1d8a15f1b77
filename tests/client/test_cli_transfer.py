"""``modelreg upload|list|download|verify`` as a user runs them, talking to a live server through ``MODELREG_URL``
and ``MODELREG_TOKEN``; exit codes and messages for the failures a user meets. Each command runs once as a process,
the other calls in this process (tests/cli_runner.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import urlsplit

from cli_runner import invoke_cli
from client.conftest import Sdk
from conftest import free_port
from processes import run_cli


def env(sdk: Sdk, caller: str = "developer") -> dict[str, str]:
    return {"MODELREG_URL": sdk.url, "MODELREG_TOKEN": sdk.tokens[caller]}


def test_upload_list_download_verify(sdk: Sdk, tmp_path: Path) -> None:
    source = tmp_path / "model"
    (source / "sub").mkdir(parents=True)
    (source / "weights.bin").write_bytes(os.urandom(300_000))
    (source / "sub" / "config.json").write_text('{"a": 1}')
    done = run_cli("upload", "cli model", "v1", str(source), "--format", "onnx", "--format-version", "1", env=env(sdk))
    assert done.returncode == 0, done.stderr
    assert "'cli model' version 'v1'" in done.stdout and "2 file(s), 300,008 bytes → file:///" in done.stdout

    listed = run_cli("list", env=env(sdk, "viewer"))
    assert listed.returncode == 0 and "cli model" in listed.stdout
    versions = invoke_cli("list", "cli model", env=env(sdk, "viewer"))
    assert versions.returncode == 0 and "development" in versions.stdout and "file:///" in versions.stdout

    fetched = run_cli("download", "cli model", "v1", str(tmp_path / "copy"), env=env(sdk, "viewer"))
    assert fetched.returncode == 0, fetched.stderr
    assert (tmp_path / "copy" / "weights.bin").read_bytes() == (source / "weights.bin").read_bytes()
    assert (tmp_path / "copy" / "sub" / "config.json").read_text() == '{"a": 1}'
    verified = run_cli("verify", "cli model", "v1", env=env(sdk, "viewer"))
    assert verified.returncode == 0 and verified.stdout.count("ok ") == 2

    # tamper with the stored file: verify and download both fail, and say which file
    stored = Path(urlsplit(done.stdout.rsplit("→ ", 1)[1].strip()).path) / "sub" / "config.json"
    stored.write_text('{"a": 2}')
    verified = invoke_cli("verify", "cli model", "v1", env=env(sdk))
    assert verified.returncode == 1 and "MISMATCH" in verified.stdout and "sub/config.json" in verified.stdout
    fetched = invoke_cli("download", "cli model", "v1", str(tmp_path / "again"), env=env(sdk))
    assert fetched.returncode == 1 and "sub/config.json: expected 8 bytes" in fetched.stderr
    assert not (tmp_path / "again" / "sub" / "config.json").exists()


def test_failures_exit_1_with_the_reason(sdk: Sdk, tmp_path: Path) -> None:
    source = tmp_path / "w.bin"
    source.write_bytes(b"weights")
    viewer = invoke_cli("upload", "m", "v1", str(source), env=env(sdk, "viewer"))
    assert viewer.returncode == 1 and "lacks the 'write' permission" in viewer.stderr
    no_token = invoke_cli("upload", "m", "v1", str(source), env={"MODELREG_URL": sdk.url, "MODELREG_TOKEN": ""})
    assert no_token.returncode == 1 and "401" in no_token.stderr
    gone = invoke_cli("upload", "m", "v1", str(source), "--url", f"http://127.0.0.1:{free_port()}")
    assert gone.returncode == 1 and "cannot connect" in gone.stderr
    missing = invoke_cli("download", "nope", "v1", str(tmp_path / "d"), env=env(sdk))
    assert missing.returncode == 1 and "error:" in missing.stderr
    assert invoke_cli("upload", "m", "v1", str(tmp_path / "absent"), env=env(sdk)).returncode == 2


def test_list_prints_whole_values_and_json(sdk: Sdk) -> None:
    name = "a-model-name-long-enough-that-an-eighty-column-table-would-cut-it"
    description = "and a description that is just as long, so that the two together overflow any narrow terminal"
    uri = "s3://models/a/very/long/prefix/for/this/artifact/so/that/the/uri/column/is/wide/v1/"
    with sdk.client("developer") as registry:
        rm = registry.register_model(name, owner="ai-developer", description=description)
        registry.register_model_version(rm, "v1", uri=uri)
    listed = invoke_cli("list", env={**env(sdk, "viewer"), "COLUMNS": "80"})
    assert listed.returncode == 0, listed.stderr
    assert name in listed.stdout and description in listed.stdout and "…" not in listed.stdout, listed.stdout
    versions = invoke_cli("list", name, env={**env(sdk, "viewer"), "COLUMNS": "80"})
    assert uri in versions.stdout and "…" not in versions.stdout, versions.stdout

    models = json.loads(invoke_cli("list", "--json", env=env(sdk, "viewer")).stdout)
    assert [(m["name"], m["description"], m["owner"]) for m in models] == [(name, description, "ai-developer")]
    found = json.loads(invoke_cli("list", name, "--json", env=env(sdk, "viewer")).stdout)
    assert [(v["name"], v["uri"]) for v in found] == [("v1", uri)] and "stage" in found[0]


def test_a_server_that_is_down_is_an_error_not_a_traceback() -> None:
    gone = run_cli("list", "--url", f"http://127.0.0.1:{free_port()}")
    assert gone.returncode == 1 and gone.stderr.startswith("error: cannot connect to"), gone.stderr
    assert "Traceback" not in gone.stderr
