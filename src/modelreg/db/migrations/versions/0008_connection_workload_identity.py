"""data connections: use_workload_identity, the only way an s3 connection signs with the server's own identity

Until now an s3 connection without keys let boto3 look for credentials in the server's environment (``AWS_*``, an
instance role): a URI naming another endpoint could have them sent there. Now a connection signs with its own keys,
sends unsigned requests without them, and uses the default credential chain only when this flag says so.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 12:00:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("data_connections") as batch:
        batch.add_column(sa.Column("use_workload_identity", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("data_connections") as batch:
        batch.drop_column("use_workload_identity")
