"""Builders of catalog shapes for the catalog tests (query, index, API): small, explicit models and snapshots."""

from __future__ import annotations

from typing import Any

from api.builders import prop, props
from modelreg.catalog.models import (
    ArtifactType,
    CatalogArtifact,
    CatalogModel,
    Label,
    NamedQuery,
    Source,
    SourceStatus,
    stable_id,
)
from modelreg.catalog.snapshots import CatalogConfig, SourceSnapshot


def metrics(
    name: str, metrics_type: str = "performance-metrics", **values: str | int | float | bool
) -> CatalogArtifact:
    return CatalogArtifact(
        id=stable_id("artifact", name),
        artifact_type=ArtifactType.METRICS,
        metrics_type=metrics_type,
        name=name,
        custom_properties=props(**values),
    )


def weights(uri: str, **values: str | int | float | bool) -> CatalogArtifact:
    return CatalogArtifact(
        id=stable_id("artifact", uri),
        artifact_type=ArtifactType.MODEL,
        uri=uri,
        custom_properties=props(**values),
    )


def model(
    name: str,
    source_id: str = "files",
    *,
    props: dict[str, str | int | float | bool] | None = None,
    artifacts: tuple[CatalogArtifact, ...] = (),
    **fields: Any,
) -> CatalogModel:
    return CatalogModel(
        source_id=source_id,
        name=name,
        id=fields.pop("id", stable_id(source_id, name)),
        custom_properties={k: prop(v) for k, v in (props or {}).items()},
        artifacts=artifacts,
        **fields,
    )


def snapshot(
    source_id: str,
    models: list[CatalogModel] | tuple[CatalogModel, ...],
    *,
    labels: tuple[str, ...] = (),
    enabled: bool = True,
    status: SourceStatus | None = SourceStatus.AVAILABLE,
    error: str | None = None,
    name: str | None = None,
) -> SourceSnapshot:
    source = Source(
        id=source_id,
        name=name or source_id.replace("_", " ").title(),
        enabled=enabled,
        labels=labels,
        status=SourceStatus.DISABLED if not enabled else status,
        error=error,
    )
    return SourceSnapshot(source, tuple(sorted(models, key=lambda m: m.name)) if enabled else ())


def config(
    *snapshots: SourceSnapshot, labels: tuple[Label, ...] = (), named_queries: tuple[NamedQuery, ...] = ()
) -> CatalogConfig:
    return CatalogConfig(sources=snapshots, labels=labels, named_queries=named_queries)


def zoo() -> list[CatalogModel]:
    """A handful of varied models of source ``files``."""
    return [
        model(
            "ibm-granite/granite-3.1-8b-instruct",
            description="Granite instruct model for chat",
            provider="IBM",
            license="Apache 2.0",
            library_name="transformers",
            maturity="Generally Available",
            tasks=("text-generation", "chat"),
            language=("en", "de"),
            create_time_ms=1_700_000_000_000,
            last_update_time_ms=1_710_000_000_000,
            props={"validated": "", "tensor_type": "BF16", "size_b": 8, "score": 0.71, "gated": False},
            artifacts=(
                weights("oci://registry.example/granite:1", architecture="amd64"),
                metrics(
                    "granite-h100", ttft_p90=45.5, requests_per_second=9.0, hardware_type="H100", use_case="chatbot"
                ),
                metrics("granite-l40", ttft_p90=80.0, requests_per_second=4.0, hardware_type="L40S", use_case="rag"),
                metrics("granite-acc", "accuracy-metrics", overall_average=66.2),
            ),
        ),
        model(
            "meta-llama/Llama-3.1-8B",
            description="Llama base model",
            provider="Meta",
            license="Llama 3.1 Community License",
            library_name="transformers",
            tasks=("text-generation",),
            language=("en",),
            create_time_ms=1_690_000_000_000,
            last_update_time_ms=1_720_000_000_000,
            props={"tensor_type": "FP16", "size_b": 8, "score": 0.65},
            artifacts=(
                weights("hf://meta-llama/Llama-3.1-8B"),
                metrics("llama-h100", ttft_p90=60.0, requests_per_second=7.0, hardware_type="H100", use_case="chatbot"),
                metrics("llama-acc", "accuracy-metrics", overall_average=61.0),
            ),
        ),
        model(
            "mistralai/Mistral-7B_v0.3",
            description="Small and fast",
            provider="Mistral AI",
            license="Apache 2.0",
            tasks=("text-generation", "summarization"),
            language=("en", "fr"),
            create_time_ms=1_680_000_000_000,
            last_update_time_ms=1_730_000_000_000,
            props={"size_b": 7, "score": 0.69},
            artifacts=(weights("s3://models/mistral"),),
        ),
        model(
            "sentence/all-MiniLM",
            description="Embeddings; 100% open",
            provider="Community",
            license="MIT",
            tasks=("feature-extraction",),
            create_time_ms=1_660_000_000_000,
            last_update_time_ms=1_660_000_000_000,
        ),
    ]
