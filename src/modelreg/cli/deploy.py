"""``modelreg deploy`` and ``modelreg deployments list|status|stop|start|undeploy|history``."""

from __future__ import annotations

import typer

deployments = typer.Typer(help="Deployments: list, status, stop, start, undeploy, history.", no_args_is_help=True)


def deploy() -> None:
    """Deploy a model version to KServe."""
    raise NotImplementedError
