"""deploy: deployment targets, deployments and their history, named leases, connection display names; the bridge's
record texts become LONGTEXT on MariaDB/MySQL (a version with many deployments outgrew TEXT's 64 KiB)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 18:30:00.000000

"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.mysql import LONGTEXT

# revision identifiers, used by Alembic.
revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_MYSQL: dict[str, Any] = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_nopad_bin", "mysql_engine": "InnoDB"}


def _id() -> sa.Column[Any]:
    return sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False)


_BRIDGE_TEXTS = (("document", False), ("model_card", True), ("record", True))


def upgrade() -> None:
    """Upgrade schema."""
    if op.get_bind().dialect.name in ("mysql", "mariadb"):
        for column, nullable in _BRIDGE_TEXTS:
            op.alter_column("bridge_records", column, type_=LONGTEXT(), existing_nullable=nullable)
    with op.batch_alter_table("data_connections") as batch:
        batch.add_column(sa.Column("display_name", sa.String(length=255), nullable=True))
    op.create_table(
        "deploy_targets",
        _id(),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("display_name", sa.String(length=255), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=True),
        sa.Column("create_time", sa.BigInteger(), nullable=False),
        sa.Column("last_update_time", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deploy_targets")),
        sa.UniqueConstraint("kind", "name", name=op.f("uq_deploy_targets_kind_name")),
        **_MYSQL,
    )
    op.create_table(
        "deployments",
        _id(),
        sa.Column("namespace", sa.String(length=63), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("active_key", sa.String(length=127), nullable=True),
        sa.Column("display_name", sa.String(length=255), nullable=True),
        sa.Column("registered_model_id", sa.BigInteger(), nullable=True),
        sa.Column("model_version_id", sa.BigInteger(), nullable=True),
        sa.Column("catalog_source", sa.String(length=255), nullable=True),
        sa.Column("catalog_model", sa.String(length=255), nullable=True),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("hardware_profile", sa.String(length=255), nullable=True),
        sa.Column("connection", sa.String(length=255), nullable=True),
        sa.Column("runtime", sa.String(length=255), nullable=True),
        sa.Column("request", sa.Text(), nullable=False),
        sa.Column("desired_state", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("status_message", sa.Text(), nullable=True),
        sa.Column("internal_url", sa.Text(), nullable=True),
        sa.Column("external_url", sa.Text(), nullable=True),
        sa.Column("isvc_uid", sa.String(length=64), nullable=True),
        sa.Column("inference_service_id", sa.BigInteger(), nullable=True),
        sa.Column("created_by", sa.String(length=255), nullable=True),
        sa.Column("create_time", sa.BigInteger(), nullable=False),
        sa.Column("last_update_time", sa.BigInteger(), nullable=False),
        sa.Column("status_time", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployments")),
        sa.UniqueConstraint("active_key", name=op.f("uq_deployments_active_key")),
        **_MYSQL,
    )
    op.create_index(op.f("ix_deployments_registered_model_id"), "deployments", ["registered_model_id"])
    op.create_index(op.f("ix_deployments_model_version_id"), "deployments", ["model_version_id"])
    op.create_index(op.f("ix_deployments_create_time"), "deployments", ["create_time"])
    op.create_table(
        "deployment_events",
        _id(),
        sa.Column("deployment_id", sa.BigInteger(), nullable=False),
        sa.Column("model_version_id", sa.BigInteger(), nullable=True),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("time", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["deployment_id"], ["deployments.id"], name=op.f("fk_deployment_events_deployment_id_deployments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployment_events")),
        **_MYSQL,
    )
    op.create_index(op.f("ix_deployment_events_deployment_id"), "deployment_events", ["deployment_id"])
    op.create_index(op.f("ix_deployment_events_model_version_id"), "deployment_events", ["model_version_id"])
    op.create_table(
        "leases",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=True),
        sa.Column("until_ms", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_leases")),
        **_MYSQL,
    )


def downgrade() -> None:
    """Downgrade schema: deployment records and their history are gone (the cluster's objects stay)."""
    op.drop_table("leases")
    op.drop_table("deployment_events")
    op.drop_table("deployments")
    op.drop_table("deploy_targets")
    with op.batch_alter_table("data_connections") as batch:
        batch.drop_column("display_name")
    if op.get_bind().dialect.name in ("mysql", "mariadb"):
        for column, nullable in _BRIDGE_TEXTS:
            op.alter_column("bridge_records", column, type_=sa.Text(), existing_nullable=nullable)
