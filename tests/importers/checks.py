"""What the import tests read back: the audit trail since a point, and the CLI summary's total row."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, select

from modelreg.db.database import Database
from modelreg.db.tables import audit_log


def audit_head(db: Database) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.coalesce(func.max(audit_log.c.seq), 0))).scalar_one())


def audit_since(db: Database, seq: int) -> list[dict[str, Any]]:
    with db.read() as conn:
        rows = conn.execute(select(audit_log).where(audit_log.c.seq > seq).order_by(audit_log.c.seq)).mappings()
        return [dict(row) for row in rows]


def totals(stdout: str) -> tuple[int, int, int, int]:
    """The summary table's total row: created, updated, unchanged, failed."""
    found = re.search(r"total\W+(\d+)\W+(\d+)\W+(\d+)\W+(\d+)", stdout)
    assert found is not None, stdout
    created, updated, unchanged, failed = (int(n) for n in found.groups())
    return created, updated, unchanged, failed
