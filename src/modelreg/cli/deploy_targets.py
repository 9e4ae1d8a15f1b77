"""``modelreg hardware-profile create|list|delete`` and ``modelreg runtime create|list|delete``."""

from __future__ import annotations

import typer

profiles = typer.Typer(
    help="Hardware profiles to deploy with (without a cluster: modelreg's own).", no_args_is_help=True
)
runtimes = typer.Typer(help="Serving-runtime templates to deploy with.", no_args_is_help=True)
