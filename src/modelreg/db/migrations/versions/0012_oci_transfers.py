"""oci: OCI registry connections, ModelCar layers of uploads, transfer jobs

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 04:10:00.000000

"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_MYSQL: dict[str, Any] = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_nopad_bin", "mysql_engine": "InnoDB"}


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("data_connections") as batch:
        batch.add_column(sa.Column("registry", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("plain_http", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch.add_column(sa.Column("secret_kind", sa.String(length=16), nullable=True))
    with op.batch_alter_table("uploads") as batch:
        batch.add_column(sa.Column("tag", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("image_digest", sa.String(length=71), nullable=True))
    with op.batch_alter_table("upload_files") as batch:
        batch.add_column(sa.Column("layer_digest", sa.String(length=71), nullable=True))
        batch.add_column(sa.Column("layer_size", sa.BigInteger(), nullable=True))
        batch.create_index(batch.f("ix_upload_files_sha256"), ["sha256"], unique=False)
    op.create_table(
        "transfer_jobs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("display_name", sa.String(length=255), nullable=True),
        sa.Column("active_key", sa.String(length=255), nullable=True),
        sa.Column("intent", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("runner", sa.String(length=16), nullable=False),
        sa.Column("namespace", sa.String(length=63), nullable=True),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("source_secret", sa.Text(), nullable=True),
        sa.Column("destination", sa.Text(), nullable=False),
        sa.Column("metadata", sa.Text(), nullable=False),
        sa.Column("registered_model_id", sa.BigInteger(), nullable=True),
        sa.Column("model_version_id", sa.BigInteger(), nullable=True),
        sa.Column("model_artifact_id", sa.BigInteger(), nullable=True),
        sa.Column("result_uri", sa.Text(), nullable=True),
        sa.Column("result_digest", sa.String(length=71), nullable=True),
        sa.Column("bytes_total", sa.BigInteger(), nullable=True),
        sa.Column("bytes_done", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("files_total", sa.BigInteger(), nullable=True),
        sa.Column("files_done", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("cause", sa.Text(), nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("attempt", sa.BigInteger(), server_default="1", nullable=False),
        sa.Column("retry_of", sa.String(length=32), nullable=True),
        sa.Column("worker", sa.String(length=64), nullable=True),
        sa.Column("heartbeat_ms", sa.BigInteger(), nullable=True),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("create_time", sa.BigInteger(), nullable=False),
        sa.Column("last_update_time", sa.BigInteger(), nullable=False),
        sa.Column("start_time", sa.BigInteger(), nullable=True),
        sa.Column("end_time", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transfer_jobs")),
        sa.UniqueConstraint("name", name=op.f("uq_transfer_jobs_name")),
        sa.UniqueConstraint("active_key", name=op.f("uq_transfer_jobs_active_key")),
        **_MYSQL,
    )
    op.create_index(op.f("ix_transfer_jobs_create_time"), "transfer_jobs", ["create_time"], unique=False)
    op.create_index(op.f("ix_transfer_jobs_model_artifact_id"), "transfer_jobs", ["model_artifact_id"], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index(op.f("ix_transfer_jobs_model_artifact_id"), table_name="transfer_jobs")
    op.drop_index(op.f("ix_transfer_jobs_create_time"), table_name="transfer_jobs")
    op.drop_table("transfer_jobs")
    with op.batch_alter_table("upload_files") as batch:
        batch.drop_index(batch.f("ix_upload_files_sha256"))
        batch.drop_column("layer_size")
        batch.drop_column("layer_digest")
    with op.batch_alter_table("uploads") as batch:
        batch.drop_column("image_digest")
        batch.drop_column("tag")
    with op.batch_alter_table("data_connections") as batch:
        batch.drop_column("secret_kind")
        batch.drop_column("plain_http")
        batch.drop_column("registry")
