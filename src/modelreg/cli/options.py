"""Options shared by every command that works on the database directly."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from modelreg.settings import Settings, load_settings

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
ConfigFile = Annotated[
    Path | None,
    typer.Option(
        "--config",
        envvar="MODELREG_CONFIG",
        help="YAML settings file (auth, OIDC, proxy, policy, ...); options and MODELREG_* variables win over it.",
        show_default=False,
    ),
]


def settings_for(database_url: str | None, config: Path | None = None, **overrides: object) -> Settings:
    try:
        return load_settings(config, database_url=database_url, **overrides)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
