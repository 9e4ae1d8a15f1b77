"""``modelreg deploy`` and ``modelreg deployments ...`` on the database directly (every backend), without a
cluster: the dry run, GitOps output, and the life of a deployment; then once with the emulator (more there:
test_service_cluster.py). One real process per command, the other calls in this process (tests/cli_runner.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from cli_runner import invoke_cli, process_on_sqlite
from deploy.service_env import ACCESS_KEY, SECRET_KEY, DeployEnv, make_env
from kube_emulator import Emulator
from modelreg.auth import context
from modelreg.db.database import Database
from modelreg.db.tables import audit_log, deployments
from modelreg.kube.client import Kube
from modelreg.kube.kinds import INFERENCE_SERVICE

GRANITE = ["Granite-7b-Inference", "1.0.0", "--profile", "nvidia-l4-1gpu", "--namespace", "team-a"]


@pytest.fixture
def env(database: Database, tmp_path: Path) -> DeployEnv:
    with context.acting_as(context.system("tests")):
        return make_env(database, tmp_path, None)


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    """The data directory whose key encrypted the connection's secret; no cluster."""
    return {"MODELREG_DATA_DIR": str(tmp_path / "data"), "MODELREG_KUBERNETES__MODE": "none", "COLUMNS": "300"}


def rows(db: Database) -> tuple[int, int]:
    with db.read() as conn:
        return (
            conn.execute(select(func.count()).select_from(deployments)).scalar_one(),
            conn.execute(select(func.count()).select_from(audit_log)).scalar_one(),
        )


def test_dry_run_prints_yaml_and_writes_nothing(env: DeployEnv, database: Database, cli_env: dict[str, str]) -> None:
    before = rows(database)
    cli = process_on_sqlite(database.url)
    done = cli("deploy", *GRANITE, "--token-auth", "--dry-run", "--database-url", database.url, env=cli_env)
    assert done.returncode == 0, done.stderr
    docs = list(yaml.safe_load_all(done.stdout))
    assert [d["kind"] for d in docs][:3] == ["Secret", "ServingRuntime", "InferenceService"]
    assert docs[2]["spec"]["predictor"]["model"]["runtime"] == "granite-7b-inference-100"
    assert SECRET_KEY not in done.stdout and ACCESS_KEY not in done.stdout
    assert rows(database) == before


def test_gitops_then_the_deployments_commands(
    env: DeployEnv, database: Database, cli_env: dict[str, str], tmp_path: Path
) -> None:
    url = ["--database-url", database.url]
    out = tmp_path / "repo"
    done = invoke_cli("deploy", *GRANITE, "--replicas", "2", "--gitops", str(out), *url, env=cli_env)
    assert done.returncode == 0, done.stderr
    folder = out / "team-a" / "granite-7b-inference-100"
    assert f"written to {folder}" in done.stderr and (folder / "kustomization.yaml").is_file()

    listed = process_on_sqlite(database.url)(
        "deployments", "list", "--model", "Granite-7b-Inference", "--json", *url, env=cli_env
    )
    assert listed.returncode == 0, listed.stderr
    [item] = json.loads(listed.stdout)
    assert (item["namespace"], item["replicas"], item["mode"]) == ("team-a", 2, "gitops")
    assert item["createdBy"].startswith("cli:")
    table = invoke_cli("deployments", "list", *url, env=cli_env).stdout
    assert "team-a/granite-7b-inference-100" in table and "Pending" in table
    ident = item["id"]

    status = invoke_cli("deployments", "status", ident, *url, env=cli_env)
    assert status.returncode == 0 and "status: Pending" in status.stdout
    assert invoke_cli("deployments", "stop", ident, *url, env=cli_env).stderr.strip().endswith("stopped")
    assert invoke_cli("deployments", "start", ident, *url, env=cli_env).stderr.strip().endswith("deployed")

    refused = invoke_cli("deployments", "undeploy", ident, *url, input="n\n", env=cli_env)
    assert refused.returncode == 1 and folder.is_dir()
    gone = invoke_cli("deployments", "undeploy", ident, "--yes", *url, env=cli_env)
    assert gone.returncode == 0 and "undeployed" in gone.stderr and not folder.exists()
    assert json.loads(invoke_cli("deployments", "list", "--json", *url, env=cli_env).stdout) == []
    assert len(json.loads(invoke_cli("deployments", "list", "--all", "--json", *url, env=cli_env).stdout)) == 1

    history = invoke_cli("deployments", "history", ident, "--json", *url, env=cli_env)
    assert [ev["event"] for ev in json.loads(history.stdout)] == ["undeploy", "start", "stop", "deploy"]


@pytest.mark.sqlite_only("option errors (the service's errors are tested on every backend)")
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["Nope", "1.0.0", "--profile", "nvidia-l4-1gpu", "--namespace", "team-a"], "error: "),
        ([*GRANITE], "error: no Kubernetes cluster is configured: deploy with mode dry_run or gitops"),
        ([*GRANITE, "--dry-run", "--gitops", "x"], "error: give at most one of --dry-run and --gitops"),
        ([*GRANITE, "--runtime", "kserve-ovms", "--dry-run"], "error: runtime 'kserve-ovms' does not serve"),
    ],
)
def test_errors_exit_1_with_the_message(
    env: DeployEnv, database: Database, cli_env: dict[str, str], args: list[str], message: str
) -> None:
    done = invoke_cli("deploy", *args, "--database-url", database.url, env=cli_env)
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert message in done.stderr
    assert invoke_cli("deployments", "status", "424242", "--database-url", database.url, env=cli_env).returncode == 1


def test_with_a_cluster(database: Database, tmp_path: Path, emulator: Emulator, kube: Kube) -> None:
    with context.acting_as(context.system("tests")):
        make_env(database, tmp_path, kube, emulator=emulator)
    cli_env = {
        "MODELREG_DATA_DIR": str(tmp_path / "data"),
        "MODELREG_KUBERNETES__API_URL": emulator.url,
        "MODELREG_KUBERNETES__TOKEN": "t",
        "COLUMNS": "300",
    }
    url = ["--database-url", database.url]
    emulator.clear_requests()
    before = rows(database)
    dry = invoke_cli("deploy", *GRANITE, "--token-auth", "--dry-run", *url, env=cli_env)
    assert dry.returncode == 0, dry.stderr
    assert [r.method for r in emulator.requests if r.method != "GET"] == []  # reads only: nothing written
    assert rows(database) == before and "kind: InferenceService" in dry.stdout

    done = invoke_cli("deploy", *GRANITE, "--external-route", *url, env=cli_env)
    assert done.returncode == 0, done.stderr
    assert "team-a/granite-7b-inference-100 (id " in done.stderr and "Pending" in done.stderr
    isvc = emulator.get(INFERENCE_SERVICE, "team-a", "granite-7b-inference-100")
    assert isvc is not None and isvc["metadata"]["labels"]["networking.kserve.io/visibility"] == "exposed"
    [item] = json.loads(invoke_cli("deployments", "list", "--json", *url, env=cli_env).stdout)
    assert invoke_cli("deployments", "stop", item["id"], *url, env=cli_env).returncode == 0
    stopped = emulator.get(INFERENCE_SERVICE, "team-a", "granite-7b-inference-100")
    assert stopped is not None and stopped["metadata"]["annotations"]["serving.kserve.io/stop"] == "true"
    assert invoke_cli("deployments", "undeploy", item["id"], "--yes", *url, env=cli_env).returncode == 0
    assert emulator.objects(INFERENCE_SERVICE, "team-a") == []
