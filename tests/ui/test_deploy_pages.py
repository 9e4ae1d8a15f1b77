"""The deploy pages (ui/deploy_pages.py): the wizard's steps (targets → details → review) with the choices carried
and checked again on every post, its errors next to their fields, CSRF and roles; then, against the Kubernetes API
emulator, a deploy from the wizard, the deployment's page, live status fragment, history, the version's Deployments
tab, the Deployments list and the stop / undeploy confirmations."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from starlette.testclient import TestClient

from modelreg.auth import context
from modelreg.catalog.models import ArtifactType, CatalogArtifact, CatalogModel, Source, SourceStatus, stable_id
from modelreg.catalog.snapshots import CatalogConfig, SourceSnapshot
from modelreg.deploy import names
from modelreg.services import seed
from modelreg.ui import deploy_view
from ui.conftest import MakeUiApp, UiApp, csrf_of

_TAGS = re.compile(r"<[^>]+>")
CRDS = Path(__file__).resolve().parents[3] / "shared" / "reference" / "crds"
SECRET_KEY = "minio-secret-key-for-ui-tests"
GRANITE = {"profile": "nvidia-l4-1gpu", "connection": "minio-storage", "runtime": "vllm-cuda-runtime"}
DISPLAY = "Granite-7b-Inference - 1.0.0"


def text(html: str) -> str:
    return " ".join(unescape(_TAGS.sub(" ", html)).split())


def seed_deploy_data(made: UiApp) -> tuple[int, int]:
    """The seed set (profiles, runtimes), the demo model Granite-7b-Inference 1.0.0 and the MinIO connection; users
    ai-admin, ai-developer and ai-viewer."""
    state = made.app.state
    with context.acting_as(context.system("tests")):
        state.deploy_targets.seed_defaults()
        state.connections.create(
            "minio-storage",
            "s3",
            display_name="MinIO Storage",
            endpoint="http://minio.minio.svc:9000",
            bucket="models",
            region="us-east-1",
            access_key_id="minio",
            secret_access_key=SECRET_KEY,
            check=False,
        )
        model_id, version_id, _ = seed.seed(state.registry)
    for role in ("admin", "developer", "viewer"):
        made.add_user(f"ai-{role}", role=role)
    return model_id, version_id


@pytest.fixture
def ui_app(make_ui_app: MakeUiApp) -> UiApp:
    """No cluster; objects are validated against the reference CRDs when they are there."""
    return make_ui_app(deploy={"crd_dir": CRDS} if CRDS.is_dir() else {})


@pytest.fixture
def ids(ui_app: UiApp) -> tuple[int, int]:
    return seed_deploy_data(ui_app)


@pytest.fixture
def dev(ui_app: UiApp, ids: tuple[int, int]) -> TestClient:
    return ui_app.logged_in("ai-developer")


def wizard_url(version_id: int) -> str:
    return f"/deployments/new?model_version_id={version_id}"


def step(client: TestClient, page: Any, action: str = "next", **changes: str) -> Any:
    """Post the wizard's form of ``page`` as a browser would: its hidden and shown fields (checked radios and
    boxes, filled inputs), ``changes`` on top (an empty string unchecks a box), and the button ``action``."""
    html = page.text
    fields: dict[str, str] = {}
    form = html.split('<form method="post" action="/deployments/new"', 1)[1].split("</form>", 1)[0]
    for tag in re.findall(r"<input[^>]*>", form):
        name = re.search(r'name="([^"]+)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if not name:
            continue
        kind = re.search(r'type="([^"]+)"', tag)
        if kind and kind.group(1) in ("radio", "checkbox") and " checked" not in tag:
            continue
        fields[name.group(1)] = unescape(value.group(1)) if value else ""
    for select in re.findall(r"<select[^>]*name=\"([^\"]+)\"[^>]*>(.*?)</select>", form, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected', select[1])
        fields[select[0]] = unescape(chosen.group(1)) if chosen else ""
    for name, value in changes.items():
        if value == "":
            fields.pop(name, None)
        else:
            fields[name] = value
    fields["action"] = action
    return client.post("/deployments/new", data=fields)


def to_review(client: TestClient, version_id: int, **details: str) -> Any:
    first = client.get(wizard_url(version_id))
    assert first.status_code == 200, first.text
    second = step(client, first, **GRANITE)
    assert second.status_code == 200, second.text
    return step(client, second, **{"namespace": "team-a", **details})


# --- the wizard ------------------------------------------------------------------------------------------------------


def test_first_step_offers_the_seed_targets_with_the_suggestion_marked(dev: TestClient, ids: tuple[int, int]) -> None:
    page = dev.get(wizard_url(ids[1]))
    assert page.status_code == 200
    shown = text(page.text)
    for name in ("Default profile", "NVIDIA L4 1GPU", "NVIDIA L4 1GPU (Kueue)", "MinIO Storage"):
        assert name in shown
    assert "vLLM NVIDIA GPU ServingRuntime for KServe" in shown and "OpenVINO Model Server" in shown
    assert re.search(r'name="connection" value="minio-storage"\s+checked', page.text), "the artifact's storage key"
    # the first profile (CPU only) is chosen, so the CPU vLLM runtime is the suggestion; a GPU profile suggests CUDA
    assert re.search(r'name="runtime" value="vllm-cpu-runtime"\s+checked', page.text)
    assert re.search(r'value="nvidia-l4-1gpu"[^>]*data-suggest="vllm-cuda-runtime"', page.text)
    assert "Granite-7b-Inference 1.0.0" in shown and "vLLM 1" in shown


def test_steps_carry_every_choice_to_a_review_with_the_yaml(dev: TestClient, ids: tuple[int, int]) -> None:
    details = step(dev, dev.get(wizard_url(ids[1])), **GRANITE)
    assert details.status_code == 200
    assert f'value="{DISPLAY}"' in details.text
    assert f'value="{names.k8s_name(DISPLAY)}"' in details.text  # the dashboard's rule
    for name, value in GRANITE.items():
        assert f'type="hidden" name="{name}" value="{value}"' in details.text
    review = step(dev, details, namespace="team-a", external_route="on", token_auth="on")
    assert review.status_code == 200, review.text
    shown = text(review.text)
    assert "Review" in shown and "NVIDIA L4 1GPU" in shown and "MinIO Storage" in shown
    assert "kind: InferenceService" in unescape(review.text)
    assert "modelregistry.opendatahub.io/model-version-id" in review.text
    assert "nvidia.com/gpu" in review.text
    assert SECRET_KEY not in review.text  # secret values are redacted in the review
    assert "no Kubernetes cluster and no GitOps folder" in shown  # so there is nothing to deploy to
    assert 'value="deploy"' not in review.text
    back = step(dev, review, "back")
    assert back.status_code == 200 and 'name="namespace" type="text" value="team-a"' in back.text


def test_a_catalog_model_starts_the_wizard(ui_app: UiApp, dev: TestClient) -> None:
    name = "org/llama-chat"
    fmt = {"model_format_name": {"metadataType": "MetadataStringValue", "string_value": "vLLM"}}
    artifact = CatalogArtifact("a1", ArtifactType.MODEL, uri="s3://models/llama-chat/", custom_properties=fmt)
    model = CatalogModel("community", name, stable_id("community", name), artifacts=(artifact,))
    source = Source("community", "Community models", status=SourceStatus.AVAILABLE)
    ui_app.app.state.catalog.set_config(CatalogConfig(sources=(SourceSnapshot(source, (model,)),)))
    first = dev.get("/deployments/new?" + urlencode({"source": "community", "model": name}))
    assert first.status_code == 200, text(first.text)[:300]
    assert name in text(first.text) and "vLLM" in text(first.text)
    assert re.search(r'name="connection" value="minio-storage"\s+checked', first.text), "the bucket matches"
    review = step(dev, step(dev, first, **GRANITE), namespace="team-a")
    assert review.status_code == 200, text(review.text)[:400]
    assert "kind: InferenceService" in unescape(review.text)
    assert "modelregistry.opendatahub.io/model-version-id" not in review.text  # not from the registry
    assert dev.get("/deployments/new?source=community&model=nope").status_code == 404


def test_errors_show_next_to_their_fields(dev: TestClient, ids: tuple[int, int]) -> None:
    first = dev.get(wizard_url(ids[1]))
    missing = step(dev, first, profile="")
    assert missing.status_code == 400
    assert 'id="profile-error"' in missing.text and "Choose a hardware profile" in missing.text
    forged = step(dev, first, **{**GRANITE, "runtime": "no-such-runtime"})
    assert forged.status_code == 400 and 'id="runtime-error"' in forged.text

    details = step(dev, first, **GRANITE)
    for field, value, message in (
        ("replicas", "0", "from 1 to 99"),
        ("replicas", "100", "from 1 to 99"),
        ("name", "Bad_Name", "not valid"),
        ("name", "a" * 31, "too long"),
        ("namespace", "Team A", "not valid"),
    ):
        answer = step(dev, details, **{"namespace": "team-a", field: value})
        assert answer.status_code == 400, (field, value)
        error = re.search(rf'id="deploy-{field}-error">([^<]*)<', answer.text)
        assert error and message in unescape(error.group(1)), (field, value, text(answer.text)[:400])
        assert "kind: InferenceService" not in answer.text
    too_long = step(dev, details, name="a" * 30, namespace="n" * 33)
    assert "combined cannot exceed 63" in unescape(too_long.text)


def test_a_forged_hidden_choice_is_refused_at_review(dev: TestClient, ids: tuple[int, int]) -> None:
    review = to_review(dev, ids[1])
    forged = step(dev, review, "deploy", profile="gpu-for-free")
    assert forged.status_code == 400
    assert 'id="profile-error"' in forged.text


def test_posts_need_the_csrf_token(dev: TestClient, ids: tuple[int, int]) -> None:
    answer = dev.post("/deployments/new", data={"model_version_id": str(ids[1]), "step": "targets", **GRANITE})
    assert answer.status_code == 403
    assert dev.post("/deployments/1/undeploy", data={"confirm_name": "x"}).status_code == 403


def test_viewers_get_no_deploy_button_and_their_posts_are_refused(ui_app: UiApp, ids: tuple[int, int]) -> None:
    viewer = ui_app.logged_in("ai-viewer")
    version_page = viewer.get(f"/registry/models/{ids[0]}/versions/{ids[1]}")
    assert version_page.status_code == 200
    assert "/deployments/new" not in version_page.text
    assert viewer.get(wizard_url(ids[1])).status_code == 403
    token = csrf_of(version_page)
    posted = viewer.post(
        "/deployments/new",
        data={"csrf_token": token, "model_version_id": str(ids[1]), "step": "review", "action": "deploy", **GRANITE},
    )
    assert posted.status_code == 403
    assert viewer.get("/deployments").status_code == 200  # reading is for everyone


def test_developer_sees_deploy_on_version_and_catalog_pages(dev: TestClient, ids: tuple[int, int]) -> None:
    page = dev.get(f"/registry/models/{ids[0]}/versions/{ids[1]}")
    assert f'href="/deployments/new?model_version_id={ids[1]}"' in page.text
    assert f'href="/registry/models/{ids[0]}/versions/{ids[1]}/deployments"' in page.text


def test_unknown_model_is_a_404_and_a_missing_one_a_400(dev: TestClient, ids: tuple[int, int]) -> None:
    assert dev.get("/deployments/new?model_version_id=999999").status_code == 404
    assert dev.get("/deployments/new").status_code == 400
    assert dev.get("/deployments/new?model_version_id=abc").status_code == 400


def test_status_words_and_colours() -> None:
    assert deploy_view.status_kind("Loaded") == "success"
    assert deploy_view.status_kind("FailedToLoad") == "danger"
    assert deploy_view.moving("Loading", "deployed") and not deploy_view.moving("Loading", "undeployed")
    assert not deploy_view.moving("Loaded", "deployed")


# --- deploying into a GitOps folder (no cluster) ------------------------------------------------------------------


@pytest.fixture
def gitops_app(make_ui_app: MakeUiApp, tmp_path: Path) -> UiApp:
    made = make_ui_app(deploy={"gitops_dir": tmp_path / "gitops", **({"crd_dir": CRDS} if CRDS.is_dir() else {})})
    seed_deploy_data(made)
    return made


def deploy_granite(client: TestClient, version_id: int, **details: str) -> str:
    """Walk the wizard and deploy; return the deployment page's URL."""
    review = to_review(client, version_id, **details)
    assert review.status_code == 200, text(review.text)[:500]
    done = step(client, review, "deploy")
    assert done.status_code == 303, text(done.text)[:500]
    url = str(done.headers["location"])
    assert re.fullmatch(r"/deployments/\d+", url)
    return url


def test_deploy_then_page_history_tab_list_stop_and_undeploy(gitops_app: UiApp, tmp_path: Path) -> None:
    dev = gitops_app.logged_in("ai-developer")
    version = "/registry/models/1/versions/1"
    url = deploy_granite(dev, 1, token_auth="on")
    folder = tmp_path / "gitops" / "team-a" / names.k8s_name(DISPLAY)
    assert (folder / "kustomization.yaml").is_file()

    page = dev.get(url)
    shown = text(page.text)
    assert page.status_code == 200
    assert f"Deploying {DISPLAY} to team-a" in shown  # the flash, once
    assert "NVIDIA L4 1GPU" in shown or "nvidia-l4-1gpu" in shown
    assert "kind: InferenceService" in unescape(page.text) and SECRET_KEY not in page.text
    history = page.text.split('id="history-h"', 1)[1]
    assert "deploy" in text(history) and "ai-developer" in text(history)
    assert 'aria-live="polite"' in page.text
    assert f'href="/deployments/{url.rsplit("/", 1)[1]}/undeploy"' in page.text

    fragment = dev.get(f"{url}/status")
    assert fragment.status_code == 200 and fragment.headers["cache-control"] == "no-store"
    assert 'class="deploy-status"' in fragment.text and "<html" not in fragment.text
    events = dev.get(f"{url}/status?part=history")
    assert events.status_code == 200 and "ai-developer" in events.text and "<html" not in events.text
    assert dev.get(f"{url}/status?part=bogus").status_code == 400

    tab = dev.get(f"{version}/deployments")
    assert tab.status_code == 200
    assert f'href="{url}"' in tab.text and "ai-developer" in text(tab.text)
    assert 'aria-current="page">Deployments<' in tab.text
    model_tab = dev.get("/registry/models/1/deployments")
    assert model_tab.status_code == 200 and f'href="{url}"' in model_tab.text
    listed = dev.get("/deployments")
    assert f'href="{url}"' in listed.text and "Granite-7b-Inference 1.0.0" in text(listed.text)
    assert f'href="{url}"' not in dev.get("/deployments?state=undeployed").text
    assert dev.get("/deployments?state=bogus").status_code == 400

    stop_page = dev.get(f"{url}/stop")
    assert stop_page.status_code == 200 and 'name="confirm_name"' in stop_page.text
    token = csrf_of(stop_page)
    wrong = dev.post(f"{url}/stop", data={"csrf_token": token, "confirm_name": "something-else"})
    assert wrong.status_code == 400 and "to confirm" in text(wrong.text)
    stopped = dev.post(f"{url}/stop", data={"csrf_token": token, "confirm_name": names.k8s_name(DISPLAY)})
    assert stopped.status_code == 303
    after = text(dev.get(url).text)
    assert "stopped" in after and "Start" in after
    assert dev.post(f"{url}/start", data={"csrf_token": token}).status_code == 303

    gone = dev.post(f"{url}/undeploy", data={"csrf_token": token, "confirm_name": names.k8s_name(DISPLAY)})
    assert gone.status_code == 303
    assert not folder.exists()
    final = dev.get(url)
    assert "Undeployed" in text(final.text) and f"{url}/undeploy" not in final.text
    events = text(final.text.split('id="history-h"', 1)[1])
    for event in ("deploy", "stop", "start", "undeploy"):
        assert event in events
    assert dev.get(f"{url}/undeploy").status_code == 400  # nothing left to undeploy
    viewer = gitops_app.logged_in("ai-viewer")
    assert viewer.get(url).status_code == 200 and f"{url}/stop" not in viewer.get(url).text


# --- settings: hardware profiles and serving runtimes ---------------------------------------------------------------


def test_everyone_reads_the_targets_and_only_admins_change_them(ui_app: UiApp, ids: tuple[int, int]) -> None:
    viewer = ui_app.logged_in("ai-viewer")
    for page in ("/settings/hardware-profiles", "/settings/runtimes"):
        answer = viewer.get(page)
        assert answer.status_code == 200
        assert "NVIDIA L4 1GPU" in answer.text or "vLLM NVIDIA GPU ServingRuntime" in answer.text
        assert 'action="/settings/' not in answer.text  # no create or delete forms
        token = csrf_of(answer)
        assert viewer.post(page, data={"csrf_token": token, "name": "x"}).status_code == 403
    assert viewer.get("/settings/access").status_code == 403


def test_admin_creates_a_profile_from_the_form_and_from_yaml_and_deletes_it(
    ui_app: UiApp, ids: tuple[int, int]
) -> None:
    admin = ui_app.logged_in("ai-admin")
    page = admin.get("/settings/hardware-profiles")
    token = csrf_of(page)
    form = {
        "csrf_token": token,
        "name": "a100-1gpu",
        "display_name": "NVIDIA A100",
        "cpu_min": "2",
        "cpu_default": "4",
        "cpu_max": "8",
        "memory_min": "8Gi",
        "memory_default": "16Gi",
        "memory_max": "32Gi",
        "accelerator": "nvidia.com/gpu",
        "accelerator_name": "A100",
        "accelerator_min": "1",
        "accelerator_default": "1",
        "accelerator_max": "2",
        "scheduling": "node",
        "node_selector": "nvidia.com/gpu.product=A100\r\nzone=b",
        "toleration": "nvidia.com/gpu",
    }
    done = admin.post("/settings/hardware-profiles", data=form)
    assert done.status_code == 303, text(done.text)[:400]
    with context.acting_as(context.system("tests")):
        made = ui_app.app.state.deploy_targets.profile("a100-1gpu")
    assert made.accelerators == ("nvidia.com/gpu",)
    assert made.scheduling is not None and made.scheduling["node"]["nodeSelector"] == {
        "nvidia.com/gpu.product": "A100",
        "zone": "b",
    }
    bad = admin.post("/settings/hardware-profiles", data={**form, "name": "other", "cpu_min": "lots"})
    assert bad.status_code == 400 and 'id="hwp-cpu_min-error"' in bad.text

    document = "kind: HardwareProfile\nmetadata:\n  name: from-yaml\nspec:\n  identifiers:\n" + (
        "  - {identifier: cpu, displayName: CPU, resourceType: CPU, minCount: 1, defaultCount: 1, maxCount: 2}\n"
    )
    assert (
        admin.post(
            "/settings/hardware-profiles", data={"csrf_token": token, "source": "yaml", "yaml": document}
        ).status_code
        == 303
    )
    broken = admin.post("/settings/hardware-profiles", data={"csrf_token": token, "source": "yaml", "yaml": "a: [b"})
    assert broken.status_code == 400 and "Not valid YAML" in broken.text
    twice = admin.post("/settings/hardware-profiles", data={"csrf_token": token, "source": "yaml", "yaml": document})
    assert twice.status_code == 409
    gone = admin.post("/settings/hardware-profiles/from-yaml/delete", data={"csrf_token": token})
    assert gone.status_code == 303
    assert "<code>from-yaml</code>" not in admin.get("/settings/hardware-profiles").text


def test_admin_creates_a_runtime_from_the_form(ui_app: UiApp, ids: tuple[int, int]) -> None:
    admin = ui_app.logged_in("ai-admin")
    token = csrf_of(admin.get("/settings/runtimes"))
    form = {
        "csrf_token": token,
        "name": "my-onnx",
        "display_name": "My ONNX server",
        "image": "example.org/onnx:1",
        "formats": "onnx 1, tensorflow 2",
        "accelerators": "",
        "model_type": "predictive",
        "port": "8080",
        "args": "--port=8080\r\n--model=/mnt/models",
    }
    assert admin.post("/settings/runtimes", data=form).status_code == 303
    with context.acting_as(context.system("tests")):
        made = ui_app.app.state.deploy_targets.runtime("my-onnx")
    assert made.display_name == "My ONNX server" and made.supports("onnx", "1") and made.model_types == ("predictive",)
    missing = admin.post("/settings/runtimes", data={**form, "name": "x", "image": "", "formats": ""})
    assert (
        missing.status_code == 400 and 'id="rt-image-error"' in missing.text and 'id="rt-formats-error"' in missing.text
    )
    assert admin.post("/settings/runtimes/my-onnx/delete", data={"csrf_token": token}).status_code == 303
