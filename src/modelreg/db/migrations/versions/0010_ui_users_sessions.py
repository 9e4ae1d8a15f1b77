"""web UI: local users (the "password" login) and UI sessions

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08 10:00:00.000000

"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_MYSQL: dict[str, Any] = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_nopad_bin", "mysql_engine": "InnoDB"}


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "local_users",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("username", sa.String(length=255), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("group_names", sa.Text(), nullable=True),
        sa.Column("disabled", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=True),
        sa.Column("create_time", sa.BigInteger(), nullable=False),
        sa.Column("last_update_time", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_local_users")),
        sa.UniqueConstraint("username", name=op.f("uq_local_users_username")),
        **_MYSQL,
    )
    op.create_table(
        "ui_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("user_name", sa.String(length=255), nullable=True),
        sa.Column("group_names", sa.Text(), nullable=True),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("data", sa.Text(), nullable=True),
        sa.Column("create_time", sa.BigInteger(), nullable=False),
        sa.Column("expire_time", sa.BigInteger(), nullable=False),
        sa.Column("last_seen", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ui_sessions")),
        **_MYSQL,
    )
    op.create_index(op.f("ix_ui_sessions_user_name"), "ui_sessions", ["user_name"], unique=False)
    op.create_index(op.f("ix_ui_sessions_expire_time"), "ui_sessions", ["expire_time"], unique=False)


def downgrade() -> None:
    """Downgrade schema: every UI session ends and the local accounts are gone."""
    op.drop_index(op.f("ix_ui_sessions_expire_time"), table_name="ui_sessions")
    op.drop_index(op.f("ix_ui_sessions_user_name"), table_name="ui_sessions")
    op.drop_table("ui_sessions")
    op.drop_table("local_users")
