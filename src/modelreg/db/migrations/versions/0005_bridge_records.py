"""bridge records: the Backstage bridge's published documents and per-source sync status

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 16:32:09.214174

"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_MYSQL: dict[str, Any] = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_nopad_bin", "mysql_engine": "InnoDB"}


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "bridge_records",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("model_key", sa.String(length=64), nullable=False),
        sa.Column("registered_model_id", sa.String(length=64), nullable=False),
        sa.Column("model_version_id", sa.String(length=64), nullable=False),
        sa.Column("last_update_time", sa.BigInteger(), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("model_card", sa.Text(), nullable=True),
        sa.Column("synced_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_bridge_records")),
        **_MYSQL,
    )
    op.create_index(op.f("ix_bridge_records_model_key"), "bridge_records", ["model_key"], unique=False)
    op.create_index(
        op.f("ix_bridge_records_source_registered_model_id"),
        "bridge_records",
        ["source", "registered_model_id"],
        unique=False,
    )

    op.create_table(
        "bridge_models",
        sa.Column("model_key", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("registered_model_id", sa.String(length=64), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("synced_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("model_key", name=op.f("pk_bridge_models")),
        **_MYSQL,
    )
    op.create_index(
        op.f("ix_bridge_models_source_registered_model_id"),
        "bridge_models",
        ["source", "registered_model_id"],
        unique=False,
    )

    op.create_table(
        "bridge_sources",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("last_sync", sa.BigInteger(), nullable=True),
        sa.Column("last_full_sync", sa.BigInteger(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_time", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_bridge_sources")),
        **_MYSQL,
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("bridge_sources")
    op.drop_index(op.f("ix_bridge_models_source_registered_model_id"), table_name="bridge_models")
    op.drop_table("bridge_models")
    op.drop_index(op.f("ix_bridge_records_source_registered_model_id"), table_name="bridge_records")
    op.drop_index(op.f("ix_bridge_records_model_key"), table_name="bridge_records")
    op.drop_table("bridge_records")
