"""The ``modelreg`` command. Each command group is its own module; this one wires them together."""

from __future__ import annotations

import typer

from modelreg.cli import access, audit, connections, db, lifecycle, server, transfer
from modelreg.cli import bridge as bridge_cli

app = typer.Typer(no_args_is_help=True, add_completion=False, help="modelreg: a model registry with governance.")
app.command("serve")(server.serve)
app.command("seed")(server.seed)
app.command("promote")(lifecycle.promote)
app.command("upload")(transfer.upload)
app.command("download")(transfer.download)
app.command("verify")(transfer.verify)
app.command("list")(transfer.list_)
app.add_typer(db.app, name="db")
app.add_typer(access.tokens, name="token")
app.add_typer(access.bindings, name="rolebinding")
app.add_typer(audit.app, name="audit")
app.add_typer(connections.app, name="connection")
app.add_typer(bridge_cli.app, name="bridge")

if __name__ == "__main__":
    app()
