"""model version stage unset until governance sets it: ``model_versions.stage`` becomes nullable (NULL = never set,
the first stage), so a never-promoted version shows no ``Lifecycle`` custom property its client never wrote; and
``audit_log.changes`` is a LONGTEXT on MariaDB/MySQL, whose TEXT (64 KiB) cannot hold the snapshot of an entity as
large as a request may now be (Settings.limits)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 10:00:00.000000

Existing rows: a version in ``development`` that no promotion ever touched (no ``promote`` record of it in the audit
trail) gets NULL: nothing set its stage, the column default did, so its clients now read back what they wrote. A
version governance moved keeps its stage, ``development`` included (sent back from staging). The one case this
cannot tell apart, a ``Lifecycle: development`` a client wrote itself, also becomes NULL: the version stays in
development for governance, filters and the bridge, only the property it wrote is no longer shown.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

# revision identifiers, used by Alembic.
revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("model_versions") as batch:
        batch.alter_column(
            "stage",
            existing_type=sa.String(length=16),
            nullable=True,
            server_default=None,
            existing_server_default="development",
        )
    op.execute(
        "UPDATE model_versions SET stage = NULL WHERE stage = 'development' AND NOT EXISTS ("
        "SELECT 1 FROM audit_log a WHERE a.entity_kind = 'model_version' AND a.entity_id = model_versions.id "
        "AND a.action = 'promote')"
    )
    if _mysql():
        op.alter_column("audit_log", "changes", type_=mysql.LONGTEXT(), existing_type=sa.Text(), nullable=False)


def downgrade() -> None:
    """Downgrade schema."""
    if _mysql():
        op.alter_column("audit_log", "changes", type_=sa.Text(), existing_type=mysql.LONGTEXT(), nullable=False)
    op.execute("UPDATE model_versions SET stage = 'development' WHERE stage IS NULL")
    with op.batch_alter_table("model_versions") as batch:
        batch.alter_column(
            "stage",
            existing_type=sa.String(length=16),
            nullable=False,
            server_default="development",
        )


def _mysql() -> bool:
    return op.get_bind().dialect.name in ("mysql", "mariadb")
