"""Deploying in a browser, against the Kubernetes API emulator (tests/kube_emulator) run in this test process: the
server (a real ``modelreg serve``) is pointed at it with ``MODELREG_KUBERNETES__*``. ai-developer deploys Granite
with "NVIDIA L4 1GPU" and "MinIO Storage" through the wizard, then the test patches the InferenceService's status
as KServe would and the deployment page follows (Loading, then Loaded with its URL) without a reload. A viewer is
offered no Deploy and a forged deploy post is refused. Screenshots: deploy-wizard, deploy-review, deployment."""

from __future__ import annotations

import copy
import re
import secrets
import time
from collections.abc import Iterator
from typing import Any

import pytest

from browser.conftest import Browse, Server, _cli
from browser.helpers import csrf_token, until
from conftest import free_port
from kube_emulator import Emulator, reference_crds, running_emulator
from kube_emulator.fixtures import NAMESPACES, TOKEN
from modelreg.deploy import defaults, names, profile_spec
from modelreg.kube.kinds import INFERENCE_SERVICE
from processes import ServeProcess

DEMO = "Granite-7b-Inference"
ISVC = names.k8s_name(f"{DEMO} - 1.0.0")
PLATFORM = "opendatahub"
SECRET = "minio-secret-for-browser-tests"
LIVE = 2.0  # seconds: a status change shows on an open page within this (issue 12)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Emulator]:
    """The emulator with the reference CRDs, the usual namespaces, and the seed set's hardware profiles and
    serving-runtime templates in the platform namespace (a connected modelreg reads its targets from there)."""
    with running_emulator(crds=reference_crds(), namespaces=NAMESPACES) as emulator:
        for wire in defaults.PROFILES:
            emulator.put_object(profile_spec.profile_object(wire, PLATFORM))
        for template in defaults.RUNTIMES:
            placed = copy.deepcopy(template)
            placed["metadata"]["namespace"] = PLATFORM
            emulator.put_object(placed)
        yield emulator


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory, cluster: Emulator) -> Iterator[Server]:
    """This module's server: the demo users and model, the "MinIO Storage" connection, and the emulator as its
    cluster (this overrides the package's cluster-less ``live_server`` for these tests)."""
    data = tmp_path_factory.mktemp("deploy-browser")
    database_url = f"sqlite:///{data / 'registry.db'}"
    env = {"MODELREG_DATA_DIR": str(data), "MODELREG_DATABASE_URL": database_url}
    password = secrets.token_urlsafe(16)
    _cli("seed", "--demo-users", env={**env, "MODELREG_DEMO_PASSWORD": password})
    _cli(
        "connection", "create", "minio-storage", "--type", "s3", "--display-name", "MinIO Storage",
        "--endpoint", "http://minio.minio.svc:9000", "--bucket", "models", "--region", "us-east-1",
        "--access-key-id", "minio", "--secret-access-key-env", "MINIO_SECRET", "--no-check",
        env={**env, "MINIO_SECRET": SECRET},
    )  # fmt: skip
    admin_token = _cli("token", "create", "--user", "ai-admin", env=env).strip()
    cluster_env = {
        "MODELREG_KUBERNETES__MODE": "url",
        "MODELREG_KUBERNETES__API_URL": cluster.url,
        "MODELREG_KUBERNETES__TOKEN": TOKEN,
    }
    log = data / "serve.log"
    with ServeProcess(free_port(), "--auth", "password,token", env={**env, **cluster_env}, log=log) as proc:
        yield Server(proc.url, password, admin_token, database_url)


def _demo_ids(server: Server) -> tuple[int, int]:
    with server.api() as api:
        model = api.get("/model_registry/v1alpha3/registered_model", params={"name": DEMO}).json()
        versions = api.get(f"/model_registry/v1alpha3/registered_models/{model['id']}/versions").json()["items"]
    return int(model["id"]), int(versions[0]["id"])


def _status(page: Any) -> str:
    return str(page.locator(".deploy-live .deploy-status-pill").inner_text()).strip()


def _shows(page: Any, state: str, text: str | None = None) -> float:
    """Seconds until the open page shows ``state`` (and ``text``) in its status block; fails after ``LIVE``."""
    started = time.monotonic()
    while True:
        block = str(page.locator(".deploy-live").inner_text())
        if _status(page) == state and (text is None or text in block):
            return time.monotonic() - started
        if time.monotonic() - started > LIVE:
            raise AssertionError(f"the page did not show {state} {text or ''} within {LIVE} s: {block!r}")
        page.wait_for_timeout(50)


def test_developer_deploys_granite_and_watches_it_load(browse: Browse, cluster: Emulator) -> None:
    model_id, version_id = _demo_ids(browse.server)
    page = browse.login("ai-developer")
    page.goto(f"/registry/models/{model_id}/versions/{version_id}")
    with page.expect_navigation():
        page.get_by_role("link", name="Deploy", exact=True).click()
    assert "/deployments/new" in page.url

    # step 1: the profile; the runtime suggested for it follows (app.js), the artifact's connection is chosen
    page.get_by_text("NVIDIA L4 1GPU", exact=True).click()
    assert page.locator("input[name=profile][value=nvidia-l4-1gpu]").is_checked()
    assert page.locator("input[name=runtime][value=vllm-cuda-runtime]").is_checked(), "the CUDA runtime is suggested"
    assert page.locator("input[name=connection][value=minio-storage]").is_checked()
    assert page.get_by_text("MinIO Storage", exact=True).is_visible()
    browse.check(page, "deploy-wizard")
    with page.expect_navigation():
        page.get_by_role("button", name="Next").click()

    # step 2: the names are prefilled; the project is one of the cluster's namespaces
    assert page.get_by_label("Resource name").input_value() == ISVC
    page.get_by_label("Project (namespace)").select_option("team-a")
    page.get_by_label("Make the model available through an external route").check()
    with page.expect_navigation():
        page.get_by_role("button", name="Next").click()

    # step 3: review, with every object's YAML
    yaml_text = page.locator(".deploy-yaml").inner_text()
    for kind in ("kind: ServingRuntime", "kind: InferenceService", "nvidia.com/gpu"):
        assert kind in yaml_text
    assert SECRET not in page.content()
    browse.check(page, "deploy-review")
    with page.expect_navigation():
        page.get_by_role("button", name="Deploy", exact=True).click()
    assert re.search(r"/deployments/\d+$", page.url), page.url
    assert cluster.get(INFERENCE_SERVICE, "team-a", ISVC) is not None, "no InferenceService in the cluster"
    assert _status(page) == "Pending"
    browse.check(page, "deployment")

    # KServe reports progress: the open page follows without a reload
    page.evaluate("window.modelregNotReloaded = true")
    cluster.patch_status(
        INFERENCE_SERVICE,
        "team-a",
        ISVC,
        {"modelStatus": {"transitionStatus": "InProgress", "states": {"targetModelState": "Loading"}}},
    )
    _shows(page, "Loading")
    url = f"https://{ISVC}-team-a.apps.example.com"
    cluster.patch_status(
        INFERENCE_SERVICE,
        "team-a",
        ISVC,
        {
            "url": url,
            "address": {"url": f"http://{ISVC}-predictor.team-a.svc.cluster.local"},
            "conditions": [
                {"type": "IngressReady", "status": "True"},
                {"type": "PredictorReady", "status": "True"},
                {"type": "Ready", "status": "True"},
            ],
            "modelStatus": {
                "transitionStatus": "UpToDate",
                "states": {"activeModelState": "Loaded", "targetModelState": "Loaded"},
            },
        },
    )
    _shows(page, "Loaded", url)
    history = page.locator("section[aria-labelledby=history-h]")
    until(lambda: "Loaded" in history.inner_text(), "the history lists the Loaded status", timeout=LIVE)
    assert page.evaluate("window.modelregNotReloaded === true"), "the page was reloaded"
    assert page.get_by_role("link", name=url).is_visible()
    browse.check(page, "deployment-loaded")

    # the version's Deployments tab and the Deployments list show it, with who deployed it
    page.goto(f"/registry/models/{model_id}/versions/{version_id}/deployments")
    assert "ai-developer" in page.locator("main").inner_text()
    assert page.locator("main .deploy-status-pill").first.inner_text().strip() == "Loaded"
    browse.check(page, "version-deployments")
    page.goto("/deployments")
    assert DEMO in page.locator("main").inner_text()
    browse.check(page, "deployments")


def test_viewer_sees_no_deploy_and_a_forged_deploy_is_refused(browse: Browse, cluster: Emulator) -> None:
    model_id, version_id = _demo_ids(browse.server)
    page = browse.login("ai-viewer")
    page.goto(f"/registry/models/{model_id}/versions/{version_id}")
    assert not page.get_by_role("link", name="Deploy", exact=True).count(), "a viewer is offered Deploy"
    assert browse.refused(page, f"/deployments/new?model_version_id={version_id}") == 403
    page.goto("/deployments")
    forged = {
        "csrf_token": csrf_token(page),
        "model_version_id": str(version_id),
        "step": "review",
        "action": "deploy",
        "profile": "nvidia-l4-1gpu",
        "connection": "minio-storage",
        "runtime": "vllm-cuda-runtime",
        "display_name": "forged",
        "name": "forged",
        "namespace": "team-b",
        "replicas": "1",
    }
    answer = page.request.post("/deployments/new", form=forged, max_redirects=0)
    assert answer.status == 403
    assert cluster.get(INFERENCE_SERVICE, "team-b", "forged") is None
