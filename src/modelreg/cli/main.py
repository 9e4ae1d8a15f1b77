"""The ``modelreg`` command. Each command group is its own module; this one wires them together.

Command modules are imported when their command runs (or when ``--help`` lists them), not at start: the client
commands (``upload``, ``download``, ...) then start in a fraction of the time it takes to import SQLAlchemy and
Alembic for the database-side ones, which counts against every upload's speed.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

import typer
from typer.core import TyperGroup

if TYPE_CHECKING:
    # Typer carries its own copy of Click (it no longer depends on click), and TyperGroup's methods are typed with
    # it; the package is private, so only the type checker imports it.
    from typer._click import Command, Context

from modelreg import __version__

# command name → (module, attribute): a function is one command, a ``typer.Typer`` a group of them. In help order.
COMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("modelreg.cli.server", "serve"),
    "seed": ("modelreg.cli.server", "seed"),
    "promote": ("modelreg.cli.lifecycle", "promote"),
    "upload": ("modelreg.cli.transfer", "upload"),
    "download": ("modelreg.cli.transfer", "download"),
    "verify": ("modelreg.cli.transfer", "verify"),
    "list": ("modelreg.cli.transfer", "list_"),
    "transfer": ("modelreg.cli.transfers", "app"),
    "db": ("modelreg.cli.db", "app"),
    "token": ("modelreg.cli.access", "tokens"),
    "rolebinding": ("modelreg.cli.access", "bindings"),
    "user": ("modelreg.cli.users", "app"),
    "audit": ("modelreg.cli.audit", "app"),
    "connection": ("modelreg.cli.connections", "app"),
    "webhook": ("modelreg.cli.webhooks", "app"),
    "deploy": ("modelreg.cli.deploy", "deploy"),
    "deployments": ("modelreg.cli.deploy", "deployments"),
    "hardware-profile": ("modelreg.cli.deploy_targets", "profiles"),
    "runtime": ("modelreg.cli.deploy_targets", "runtimes"),
    "bridge": ("modelreg.cli.bridge", "app"),
    "import": ("modelreg.cli.imports", "app"),
}


class LazyCommands(TyperGroup):
    """A group whose subcommands are built from ``COMMANDS`` on first use."""

    def list_commands(self, ctx: Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Context, name: str) -> Command | None:
        if name not in COMMANDS:
            return None
        module, attribute = COMMANDS[name]
        target = getattr(import_module(module), attribute)
        if isinstance(target, typer.Typer):
            command: Command = typer.main.get_group(target)
        else:
            single = typer.Typer(add_completion=False)
            single.command(name)(target)
            command = typer.main.get_command(single)
        command.name = name
        return command


app = typer.Typer(cls=LazyCommands, no_args_is_help=True, add_completion=False)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"modelreg {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """modelreg: a model registry with governance.

    Server: 'modelreg serve', by default at http://127.0.0.1:8080

    API docs: http://127.0.0.1:8080/docs (Swagger UI; the OpenAPI document is /openapi.json)

    The client commands (upload, download, verify, list) talk to a server (--url or MODELREG_URL).
    """


if __name__ == "__main__":
    app()
