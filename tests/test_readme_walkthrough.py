"""The README's walkthrough runs as written, top to bottom, in two shells, and does what it says.

The blocks are read from README.md (marked ``<!-- shell: … -->``, see ``walkthrough.py``) and run literally: the
client blocks in one persistent ``bash -euo pipefail``, the server blocks in the foreground of a "server shell" that
is interrupted (SIGINT, as Ctrl-C) where the README says so. The reader's setting is rebuilt in a scratch directory:
a fresh HOME (so ``~/.local/share/modelreg`` is new), this checkout's ``.venv`` and ``.venvs`` linked in (as if the
shells were opened in the checkout), the README's port 8080, and moto's S3 server standing in for MinIO on the
README's S3 endpoint. Its deploy section runs without a cluster (a dry run, a GitOps folder, a dry run over REST), as
the README's own server has none.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from blobs.conftest import moto_server
from walkthrough import Block, ClientShell, Output, ServerShell, parse, unmarked_fences

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PORT = 8080  # the README's
BLOCK_TIMEOUT = 60
ENV_DROPPED = ("MODELREG_", "AWS_", "XDG_", "VIRTUAL_ENV", "_OLD_VIRTUAL_", "PYTHON", "CONDA_")
# What the README quotes for uploading the same version twice (checked against what the CLI prints).
REPEATED_UPLOAD = re.compile(r"`(?P<command>modelreg upload [^`]+)` again fails \(exit 1\) with `(?P<message>[^`]+)`")
PROXY_VARS = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}
# What the README's deploy section produces: Granite's deployment name (from "Granite-7b-Inference - 1.0.0"), and
# the secret of its data connection, which no output may show.
DEPLOYMENT = "granite-7b-inference-100"
MINIO_SECRET = re.compile(r"^export MINIO_SECRET=(\S+)$", re.MULTILINE)


def walkthrough_text() -> str:
    """The README up to its SDK section: the part a new user follows top to bottom."""
    return README.read_text().split("\n## Python SDK", 1)[0]


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def s3_endpoint(blocks: list[Block]) -> tuple[str, int]:
    """The endpoint the README's ``connection create`` names (the test serves S3 there)."""
    for block in blocks:
        if found := re.search(r"--endpoint (http://127\.0\.0\.1:(\d+))", block.code):
            return found[1], int(found[2])
    raise AssertionError("no README block creates an S3 connection on a 127.0.0.1 endpoint")


# --- the README's structure ---------------------------------------------------------------------------------------


def test_every_walkthrough_block_says_which_shell_it_runs_in() -> None:
    text = walkthrough_text()
    assert unmarked_fences(text) == [], "README lines with a bash/python block but no <!-- shell: … --> marker"
    blocks = parse(text)
    shells = [block.shells for block in blocks]
    assert frozenset({"setup"}) in shells and frozenset({"server", "client"}) in shells
    assert sum("server" in s and "client" not in s for s in shells) >= 2, "the local-mode server, then with tokens"
    assert any(block.lang == "python" for block in blocks)


def test_the_parser_reads_markers_and_ctrl_c() -> None:
    text = (
        "intro\n<!-- shell: server, client -->\n```bash\nsource x\n```\n"
        "Stop it with Ctrl-C, then\n<!-- shell: server -->\n```bash\nserve\n```\n"
        "<!-- shell: client; python: py/bin/python -->\n```python\nprint(1)\n```\n```bash\nloose\n```\n"
    )
    first, second, third = parse(text)
    assert first.shells == {"server", "client"} and first.code == "source x\n" and first.line == 3
    assert second.shells == {"server"} and second.says_ctrl_c and not first.says_ctrl_c
    assert third.lang == "python" and third.interpreter == "py/bin/python" and not third.says_ctrl_c
    assert unmarked_fences(text) == [15]
    with pytest.raises(ValueError, match="unknown shell"):
        parse("<!-- shell: srever -->\n```bash\nx\n```\n")
    with pytest.raises(ValueError, match="names its interpreter"):
        parse("<!-- shell: client -->\n```python\nx\n```\n")


# --- running it ---------------------------------------------------------------------------------------------------


@pytest.fixture
def s3_at_readme_endpoint(tmp_path: Path) -> Iterator[str]:
    """moto's S3 server on the README's MinIO endpoint (it accepts the README's credentials as any others)."""
    endpoint, port = s3_endpoint(parse(walkthrough_text()))
    if not port_is_free(port):
        pytest.skip(f"port {port} (the README's S3 endpoint) is in use on this machine")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    with moto_server(port, tmp_path / "moto.log", env):
        yield endpoint


def reader_environment(home: Path) -> dict[str, str]:
    """The caller's environment without anything modelreg, AWS, a venv or a proxy would pick up; a fresh HOME."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(ENV_DROPPED) and k.lower() not in PROXY_VARS and not k.startswith("PYTEST_")
    }
    env["HOME"] = str(home)
    return env


def run_walkthrough(
    blocks: list[Block], work: Path, env: dict[str, str], logs: Path, afterwards: str
) -> tuple[dict[int, Output], ServerShell]:
    """Run the blocks; then ``afterwards`` in the client shell (keyed 0), while the last server still runs; at the
    end, Ctrl-C the last server."""
    outputs: dict[int, Output] = {}
    client = ClientShell(work, env, logs)
    server = ServerShell(work, env, logs, f"http://127.0.0.1:{PORT}/readyz/health")
    try:
        for block in blocks:
            if block.shells == {"setup"}:
                continue  # scripts/setup: done before the test (the .venvs it made are linked in)
            if block.shells == {"server"}:
                server.start(block)
                continue
            if "server" in block.shells:
                server.type_in(block)
            outputs[block.number] = client.run(block, BLOCK_TIMEOUT)
        extra = Block(0, 0, frozenset({"client"}), "bash", afterwards, None, "")
        outputs[0] = client.run(extra, BLOCK_TIMEOUT)
    finally:
        client.close()
        server.interrupt()
    return outputs, server


def block_running(outputs: dict[int, Output], command: str) -> Output:
    """The output of the one README block with a line that is ``command`` (comments aside), else that contains it."""
    blocks = [out for number, out in outputs.items() if number]
    found = [out for out in blocks if command in (line.split("#")[0].strip() for line in out.block.code.splitlines())]
    found = found or [out for out in blocks if command in out.block.code]
    assert len(found) == 1, f"expected one README block with {command!r}, found {len(found)}"
    return found[0]


def test_the_readme_walkthrough_runs_as_written(tmp_path: Path, s3_at_readme_endpoint: str) -> None:
    for tool in ("bash", "curl", "jq"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (the README's client shell uses it)")
    for venv in (".venv", ".venvs/mr-0.3.10"):
        if not (ROOT / venv / "bin" / "python").exists():
            pytest.skip(f"{venv} is missing: run scripts/setup")
    if not port_is_free(PORT):
        pytest.skip(f"port {PORT} (the README's) is in use on this machine")
    blocks = parse(walkthrough_text())
    work, home, logs = tmp_path / "checkout", tmp_path / "home", tmp_path / "logs"
    for directory in (work, home, logs):
        directory.mkdir()
    for venv in (".venv", ".venvs"):  # the shells are "opened in the checkout"
        (work / venv).symlink_to(ROOT / venv)

    repeated = REPEATED_UPLOAD.search(" ".join(README.read_text().split()))
    assert repeated, "the README no longer says what a repeated upload answers"
    outputs, server = run_walkthrough(
        blocks, work, reader_environment(home), logs, afterwards=f'{repeated["command"]} || echo "exit=$?"\n'
    )

    # Run the registry: the data went where the README says (and the server said so), the demo model and the
    # upstream client's model are there; each server stopped cleanly on Ctrl-C.
    database = home / ".local/share/modelreg/registry.db"
    assert database.is_file()
    servers = [block for block in blocks if block.shells == {"server"}]
    local_mode, with_tokens = [(logs / f"server-block-{block.number}.log").read_text() for block in servers]
    assert str(database) in local_mode and "local mode" in local_mode, local_mode
    assert "authentication: token" in with_tokens, with_tokens
    assert server.exit_codes == [0, 0], server.exit_codes
    assert re.search(r"\d+\.\d+", block_running(outputs, "modelreg --version").stdout)
    seeded = block_running(outputs, "modelreg seed")
    assert "seeded Granite-7b-Inference" in seeded.text and "ai-developer → developer" in seeded.text, seeded
    assert '"name":"Granite-7b-Inference"' in seeded.stdout.replace(" ", ""), seeded
    assert "mnist s3://models/mnist/v1/" in block_running(outputs, "from model_registry import").stdout

    # The web UI's demo accounts, its login page, and the catalog API (the registry is a catalog source).
    ui = block_running(outputs, "modelreg seed --demo-users")
    assert "ai-developer" in ui.stdout and "ai-viewer" in ui.stdout and "login page: 200" in ui.stdout, ui
    catalog = block_running(outputs, "/model_catalog/v1alpha1/models?q=granite").stdout
    assert "Granite-7b-Inference" in catalog.splitlines() and '["registry","available"]' in catalog, catalog

    # Governance: the developer is known by its token, the promotions went through, the archive was refused.
    governance = block_running(outputs, "/governance/v1/whoami").stdout.replace(" ", "")
    lines = governance.splitlines()  # whoami, the two promotions, the refused archive, then the audit commands
    assert '"user":"ai-developer"' in lines[0], governance
    assert '"string_value":"staging"' in lines[1] and '"string_value":"production"' in lines[2], governance
    assert lines[3].endswith("→403"), governance
    audit = block_running(outputs, "modelreg audit list").stdout
    assert "ai-admin" in audit and "ai-developer" in audit and "production" in audit

    # Model files: the local upload and its download are byte-identical; verify found every file intact.
    source = work / "my-model"
    files = block_running(outputs, "modelreg upload my-model v1")
    assert "file://" in files.stdout and "my-model/v1/" in files.stdout
    for name in ("config.json", "model.onnx"):
        assert (work / "copy" / name).read_bytes() == (source / name).read_bytes()
    assert re.search(r"^ok\s+20971520\s", files.stdout, re.MULTILINE), files.stdout
    assert outputs[0].stdout == "exit=1\n" and repeated["message"] in outputs[0].stderr, outputs[0]

    # S3: the object is in the S3 server's bucket, downloads intact, and the presigned URL serves the same bytes.
    s3 = block_running(outputs, "modelreg connection create minio --type s3")
    assert "s3://models/my-model/v2/" in s3.stdout, s3.stdout
    assert (work / "copy-v2" / "model.onnx").read_bytes() == (source / "model.onnx").read_bytes()
    listing = httpx.get(f"{s3_at_readme_endpoint}/models?list-type=2&prefix=my-model/v2/", timeout=10).text
    assert "model.onnx</Key>" in listing, listing
    digest = hashlib.sha256((source / "model.onnx").read_bytes()).hexdigest()
    fetched = block_running(outputs, "/presigned").stdout.split()
    assert fetched.count(digest) == 2, fetched  # the presigned download's digest and the local file's

    check_deploy_section(outputs, work, seeded)


def check_deploy_section(outputs: dict[int, Output], work: Path, seeded: Output) -> None:
    """The deploy section: the seed's targets, the connection, the dry run's objects (shaped as the dashboard's, no
    credential), the same objects in the GitOps folder, the Pending deployment it recorded, the REST dry run."""
    secret = MINIO_SECRET.search(README.read_text())
    assert secret, "the README no longer exports MINIO_SECRET"
    ids = re.search(r"registered model (\d+), version (\d+)", seeded.text)
    assert ids, seeded
    model_id, version_id = ids.groups()
    for target in ("hardware profile nvidia-l4-1gpu", "serving runtime vllm-cuda-runtime"):
        assert f"deploy: {target} created" in seeded.text, seeded

    targets = block_running(outputs, "modelreg hardware-profile list")
    assert "NVIDIA L4 1GPU" in targets.stdout and "nvidia.com/gpu 1/1/1" in targets.stdout, targets
    assert "'minio-storage' (s3) created" in targets.text, targets

    dry = block_running(outputs, "--dry-run")
    docs = list(yaml.safe_load_all(dry.stdout))
    assert [d["kind"] for d in docs] == ["Secret", "ServingRuntime", "InferenceService"], dry.stdout
    connection, runtime, isvc = docs
    assert connection["metadata"]["name"] == "minio-storage" and connection["metadata"]["namespace"] == "team-a"
    assert connection["metadata"]["annotations"]["openshift.io/display-name"] == "MinIO Storage"
    values = connection["stringData"]  # the credentials redacted; where the model is read from shown
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert values[key].startswith("<redacted"), values
    assert values["AWS_S3_ENDPOINT"] == "http://minio.minio.svc:9000" and values["AWS_S3_BUCKET"] == "models"
    assert runtime["metadata"]["name"] == DEPLOYMENT
    assert runtime["metadata"]["annotations"]["opendatahub.io/template-name"] == "vllm-cuda-runtime-template"
    labels, notes = isvc["metadata"]["labels"], isvc["metadata"]["annotations"]
    assert isvc["metadata"]["name"] == DEPLOYMENT and labels["opendatahub.io/dashboard"] == "true"
    assert labels["modelregistry.opendatahub.io/registered-model-id"] == model_id
    assert labels["modelregistry.opendatahub.io/model-version-id"] == version_id
    assert notes["opendatahub.io/hardware-profile-name"] == "nvidia-l4-1gpu"
    assert notes["opendatahub.io/connections"] == "minio-storage"
    assert notes["opendatahub.io/connection-path"] == "granite-7b-instruct/1.0.0/"
    model = isvc["spec"]["predictor"]["model"]
    assert model["runtime"] == DEPLOYMENT and model["modelFormat"]["name"] == "vLLM"
    assert model["resources"]["requests"]["nvidia.com/gpu"] == model["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert "were not validated" in dry.stderr, dry.stderr  # what the README says stderr tells without CRDs

    gitops = block_running(outputs, "--gitops gitops/")
    folder = work / "gitops" / "team-a" / DEPLOYMENT
    objects = {f"01-servingruntime-{DEPLOYMENT}.yaml", f"02-inferenceservice-{DEPLOYMENT}.yaml"}
    files = {".gitignore", "connection.env.example", "kustomization.yaml", *objects}
    assert {path.name for path in folder.iterdir()} == files, sorted(folder.iterdir())
    assert files <= set(gitops.stdout.split()), gitops.stdout  # the README's ls
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    assert kustomization["resources"] == sorted(objects), kustomization
    assert kustomization["secretGenerator"][0]["name"] == "minio-storage", kustomization
    assert kustomization["secretGenerator"][0]["envs"] == ["connection.env"], kustomization
    example = (folder / "connection.env.example").read_text()
    assert "AWS_S3_ENDPOINT=http://minio.minio.svc:9000\n" in example and "AWS_SECRET_ACCESS_KEY=\n" in example
    assert yaml.safe_load((folder / f"02-inferenceservice-{DEPLOYMENT}.yaml").read_text()) == isvc  # same objects
    assert f"team-a/{DEPLOYMENT}" in gitops.stdout and "Pending" in gitops.stdout, gitops.stdout
    for path in folder.iterdir():
        assert secret[1] not in path.read_text(), path

    rest = block_running(outputs, "/deploy/v1/deployments")
    assert rest.stdout.splitlines() == [
        "Secret minio-storage",
        f"ServingRuntime {DEPLOYMENT} vllm-cuda-runtime-template",  # chosen: the only vLLM runtime for the GPU
        f"InferenceService {DEPLOYMENT}",
    ], rest
    for out in (targets, dry, gitops, rest):
        assert secret[1] not in out.text, out.block
