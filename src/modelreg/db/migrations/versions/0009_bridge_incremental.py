"""bridge incremental: records keep their normalized form, YAML is rendered on read, versions found by index

The bridge's sync now refreshes the changed versions only (bridge/sync.py): it finds a version's row through a new
index on (source, model_version_id), and stores each version's normalized record so that the per-model
catalog-info.yaml is rendered when it is read instead of on every write. The rendered YAML table goes.

Existing rows get their record at the next server start (the start-up resync rewrites every row that differs).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 10:00:00.000000

"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_MYSQL: dict[str, Any] = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_nopad_bin", "mysql_engine": "InnoDB"}


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("bridge_records") as batch:
        batch.add_column(sa.Column("record", sa.Text(), nullable=True))
    op.create_index(
        op.f("ix_bridge_records_source_model_version_id"),
        "bridge_records",
        ["source", "model_version_id"],
        unique=False,
    )
    op.drop_index(op.f("ix_bridge_models_source_registered_model_id"), table_name="bridge_models")
    op.drop_table("bridge_models")


def downgrade() -> None:
    """Downgrade schema. The YAML table comes back empty: the previous code's start-up resync fills it."""
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
    op.drop_index(op.f("ix_bridge_records_source_model_version_id"), table_name="bridge_records")
    with op.batch_alter_table("bridge_records") as batch:
        batch.drop_column("record")
