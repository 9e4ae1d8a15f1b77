"""The demo content a platform's seed job registers: idempotent, so re-running it changes nothing."""

from __future__ import annotations

from modelreg.db.pagination import PageRequest
from modelreg.errors import NotFound
from modelreg.services import entities as e
from modelreg.services.access import AccessService
from modelreg.services.properties import PropValue
from modelreg.services.registry import RegistryService

DEMO_MODEL = "Granite-7b-Inference"
DEMO_VERSION = "1.0.0"
DEMO_URI = "s3://models/granite-7b-instruct/1.0.0/"
# The private-AI platform's setup: admins do everything, developers register and deploy.
DEMO_BINDINGS = (
    ("user", "ai-admin", "admin"),
    ("group", "rhoai-admins", "admin"),
    ("user", "ai-developer", "developer"),
    ("group", "rhoai-users", "developer"),
)


def seed_bindings(access: AccessService) -> None:
    for kind, subject, role in DEMO_BINDINGS:
        access.ensure_binding(kind, subject, role)


def seed(registry: RegistryService) -> tuple[int, int, int]:
    """Register the demo model, version and model artifact if missing; return their ids."""
    try:
        model = registry.find(e.REGISTERED_MODEL, DEMO_MODEL, None)
    except NotFound:
        model = registry.create(
            e.REGISTERED_MODEL,
            {
                "name": DEMO_MODEL,
                "description": "IBM Granite 7B instruct model served with vLLM",
                "owner": "ai-admin",
                "provider": "IBM",
                "license": "apache-2.0",
            },
            {"License": PropValue("string", "apache-2.0"), "Provider": PropValue("string", "IBM")},
        )
    rm_id = model.row["id"]
    try:
        version = registry.find(e.MODEL_VERSION, DEMO_VERSION, None, rm_id)
    except NotFound:
        version = registry.create_model_version(
            {"name": DEMO_VERSION, "registered_model_id": rm_id, "author": "ai-admin", "description": "First release"},
            {},
        )
    mv_id = version.row["id"]
    artifacts, _ = registry.list_artifacts(
        page=PageRequest(size=1),
        artifact_type="model-artifact",
        parent=("model_version", mv_id),
    )
    if artifacts:
        return rm_id, mv_id, artifacts[0].row["id"]
    artifact, _ = registry.upsert_artifact(
        "model_version",
        mv_id,
        "model-artifact",
        {
            "name": DEMO_MODEL,
            "uri": DEMO_URI,
            "model_format_name": "vLLM",
            "model_format_version": "1",
            "state": "LIVE",
            "storage_key": "minio-storage",
        },
        {},
    )
    return rm_id, mv_id, artifact.row["id"]
