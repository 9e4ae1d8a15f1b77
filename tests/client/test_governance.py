"""Governance through the SDK: promote, archive/restore, the audit trail."""

from __future__ import annotations

import pytest

from modelreg.client import Forbidden, ModelRegistry


def test_promote_by_names_and_by_object(registry: ModelRegistry, admin: ModelRegistry) -> None:
    rm = registry.register_model("m")
    mv = registry.register_model_version(rm, "v1", uri="s3://b/m/v1", custom_properties={"License": "apache-2.0"})

    assert registry.promote("m", "v1", "staging").stage == "staging"
    with pytest.raises(Forbidden):
        registry.promote(rm, mv, "production")  # admins only, by the default policy
    assert admin.promote(None, int(mv.id), "production", comment="release").stage == "production"
    assert registry.get_model_version(rm, "v1").stage == "production"


def test_archive_and_restore(registry: ModelRegistry, admin: ModelRegistry) -> None:
    rm = registry.register_model("m")
    registry.register_model_version(rm, "v1")

    with pytest.raises(Forbidden):
        registry.archive_model("m")
    assert admin.archive_version("m", "v1").state == "ARCHIVED"
    assert admin.restore_version("m", "v1").state == "LIVE"
    assert admin.archive_model(rm).state == "ARCHIVED"
    assert admin.restore_model(int(rm.id)).state == "LIVE"


def test_audit_query_and_verify(registry: ModelRegistry, admin: ModelRegistry) -> None:
    rm = registry.register_model("m")
    mv = registry.register_model_version(rm, "v1")
    registry.promote(rm, mv, "staging")

    promotions = list(registry.audit(entity=mv, action="promote"))
    assert [(r.actor, r.entity_kind, r.entity_id) for r in promotions] == [("ai-developer", "model_version", mv.id)]
    assert promotions[0].after is not None and promotions[0].time.tzinfo is not None
    everything = list(registry.audit(page_size=1))
    assert len(everything) >= 3 and [r.seq for r in everything] == sorted(r.seq for r in everything)
    assert [r.seq for r in registry.audit(newest_first=True, page_size=2)] == sorted(
        (r.seq for r in everything), reverse=True
    )
    assert {r.actor for r in admin.audit(actor="ai-developer")} == {"ai-developer"}
    created = list(registry.audit(entity=("registered_model", rm.id), action="create"))
    assert [r.entity_name for r in created] == ["m"]

    verification = registry.verify_audit()
    assert verification.valid and verification.checked >= 3 and verification.last_seq == everything[-1].seq
