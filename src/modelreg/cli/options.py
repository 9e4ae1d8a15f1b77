"""Options shared by every command that works on the database directly."""

from __future__ import annotations

from typing import Annotated

import typer

from modelreg.settings import Settings

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="MODELREG_DATABASE_URL",
        help="SQLAlchemy URL (sqlite:///…, mysql+pymysql://…, postgresql+psycopg://…). Default: SQLite in the data "
        "directory.",
        show_default=False,
    ),
]


def settings_for(database_url: str | None, **overrides: object) -> Settings:
    values = {k: v for k, v in overrides.items() if v is not None}
    if database_url:
        values["database_url"] = database_url
    return Settings(**values)  # type: ignore[arg-type]
