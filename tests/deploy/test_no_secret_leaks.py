"""A data connection's credentials reach the cluster's Secret and nowhere else: not the dry run, not a REST answer,
not a UI page, not the audit trail or the deployment tables, not a log line, through a whole deployment's life
(dry run, deploy with token auth, edit, stop, start, undeploy) against the emulator. (The storage API shows a
connection's access key id to those who manage connections, and audits it when the connection is created: that is
before, and outside, the deploy.)"""

from __future__ import annotations

import base64
import logging
from pathlib import Path

import pytest
from sqlalchemy import func, select

from deploy.service_env import ACCESS_KEY, SECRET_KEY, make_app
from kube_emulator import Emulator
from modelreg.db.database import Database
from modelreg.db.tables import audit_log, deployment_events, deployments
from modelreg.kube.kinds import SECRET

ENDPOINT = "http://minio.minio.svc:9000"
CREDENTIALS = (SECRET_KEY, ACCESS_KEY)
# the emulator runs in this process; what it logs of the requests it receives is not modelreg's output
EMULATOR_LOGGERS = ("kmock", "aiohttp", "kube_emulator")


def encodings(value: str) -> tuple[str, str]:
    return value, base64.b64encode(value.encode()).decode()


def leaks(text: str) -> list[str]:
    return [form for value in CREDENTIALS for form in encodings(value) if form in text]


def test_the_credentials_reach_the_cluster_and_nothing_else(
    database: Database, tmp_path: Path, emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    env = make_app(database, tmp_path, emulator, proxy=True)
    dev, viewer = env.client("developer"), env.client("viewer")
    seen: dict[str, str] = {}
    with database.read() as conn:  # the connection's own audit record shows its access key id (the storage API's)
        seeded = conn.execute(select(func.max(audit_log.c.seq))).scalar_one()

    dry = dev.post("/deployments", json=env.body(mode="dryRun", tokenAuth=True))
    assert dry.status_code == 200, dry.text
    secret_shown = dry.json()["objects"][0]
    assert secret_shown["kind"] == "Secret" and secret_shown["stringData"]["AWS_S3_ENDPOINT"] == ENDPOINT
    assert secret_shown["stringData"]["AWS_SECRET_ACCESS_KEY"].startswith("<redacted")
    seen["dry run"] = dry.text

    created = dev.post("/deployments", json=env.body(tokenAuth=True))
    assert created.status_code == 201, created.text
    seen["deploy"] = created.text
    in_cluster = emulator.get(SECRET, "team-a", "minio-storage")
    assert in_cluster is not None and leaks(str(in_cluster)), "the deploy applies the real credentials"
    deployment_id, model_id = created.json()["id"], created.json()["registeredModelId"]
    path = f"/deployments/{deployment_id}"

    for verb, call in {
        "edit": lambda: dev.patch(path, json={"replicas": 2}),
        "stop": lambda: dev.post(f"{path}/stop"),
        "start": lambda: dev.post(f"{path}/start"),
    }.items():
        answer = call()
        assert answer.status_code == 200, answer.text
        seen[verb] = answer.text
    for read in (
        path,
        "/deployments",
        f"{path}/history",
        f"/model_versions/{env.version_id}/deployments",
        f"/model_versions/{env.version_id}/deployments/history",
        "/connections?namespace=team-a",
    ):
        answer = viewer.get(read)
        assert answer.status_code == 200, (read, answer.text)
        seen[f"GET {read}"] = answer.text

    for role in ("developer", "viewer"):
        browser = env.browser(role)  # no lifespan: its end would close the app's Kubernetes client
        page = browser.get(path)
        assert page.status_code == 200 and "kind: InferenceService" in page.text, page.text[:300]
        seen[f"{role}'s page"] = page.text
        for other in (
            "/deployments",
            f"{path}/status",
            f"{path}/status?part=history",
            f"/registry/models/{model_id}/versions/{env.version_id}/deployments",
        ):
            answer = browser.get(other)
            assert answer.status_code == 200, (other, answer.text[:300])
            seen[f"{role}: {other}"] = answer.text

    gone = dev.delete(path)
    assert gone.status_code == 200 and gone.json()["desiredState"] == "undeployed"
    seen["undeploy"] = gone.text

    with database.read() as conn:
        for table, query in {
            audit_log: select(audit_log).where(audit_log.c.seq > seeded),
            deployments: select(deployments),
            deployment_events: select(deployment_events),
        }.items():
            rows = conn.execute(query).all()
            assert rows, table.name
            seen[f"table {table.name}"] = " ".join(str(tuple(row)) for row in rows)
    logged = [r for r in caplog.records if not r.name.startswith(EMULATOR_LOGGERS)]
    assert any(r.name.startswith("modelreg") for r in logged)
    seen["logs"] = "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in logged)

    assert {where: leaks(text) for where, text in seen.items() if leaks(text)} == {}
