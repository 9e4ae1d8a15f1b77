"""Python SDK for modelreg: ``ModelRegistry`` (blocking) and ``AsyncModelRegistry`` over the registry's REST APIs.

    from modelreg.client import ModelRegistry
    registry = ModelRegistry(server_address="http://registry:8080", author="ai-developer", token=...)
    rm = registry.register_model(name="my-custom-model", description="Fine-tuned model", owner="ai-developer")
    mv = registry.register_model_version(registered_model=rm, name="v1.0", uri="s3://models/my-custom-model/v1.0/")

See docs/sdk.md.
"""

from modelreg.client._async import AsyncModelRegistry
from modelreg.client._errors import (
    BadRequest,
    Conflict,
    DigestMismatch,
    Forbidden,
    ModelRegistryError,
    NotFound,
    ServerError,
    ServerUnavailable,
    Unauthorized,
)
from modelreg.client._events import Event
from modelreg.client._models import (
    AuditRecord,
    AuditVerification,
    FileCheck,
    FileDigest,
    ModelArtifact,
    ModelVersion,
    RegisteredModel,
    UploadResult,
    VerifyReport,
    WhoAmI,
)
from modelreg.client._sync import ModelRegistry
from modelreg.client._transfers import Transfer

__all__ = [
    "AsyncModelRegistry",
    "AuditRecord",
    "AuditVerification",
    "BadRequest",
    "Conflict",
    "DigestMismatch",
    "Event",
    "FileCheck",
    "FileDigest",
    "Forbidden",
    "ModelArtifact",
    "ModelRegistry",
    "ModelRegistryError",
    "ModelVersion",
    "NotFound",
    "RegisteredModel",
    "ServerError",
    "ServerUnavailable",
    "Transfer",
    "Unauthorized",
    "UploadResult",
    "VerifyReport",
    "WhoAmI",
]
