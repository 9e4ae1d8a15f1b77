"""``modelreg user``: local accounts for the web UI's password login (``--auth password``). Works on the database
directly, acting as ``cli:<OS user>``, audited like every other write.

A password is never a command-line argument (it would be in the shell history and the process list): it is
prompted for twice, read from stdin (``--password-stdin``), or taken from ``MODELREG_USER_PASSWORD`` (scripts).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.table import Table

from modelreg.cli.options import ConfigFile, DatabaseUrl, database_session, settings_for, when
from modelreg.cli.output import AsJson, print_json, stdout_console
from modelreg.services.users import UserService

PASSWORD_ENV = "MODELREG_USER_PASSWORD"
app = typer.Typer(
    no_args_is_help=True, help="Local users of the web UI (password login): create, passwd, delete, list."
)
out = stdout_console()
err = Console(stderr=True, soft_wrap=True)

Username = typer.Argument(..., help="The login name.")
PasswordStdin = typer.Option(
    False, "--password-stdin", help=f"Read the password from stdin (first line). Else ${PASSWORD_ENV}, else a prompt."
)


@contextmanager
def user_service(database_url: str | None, config: ConfigFile) -> Iterator[UserService]:
    with database_session(settings_for(database_url, config), migrate=True) as db:
        yield UserService(db)


def read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    from_env = os.environ.get(PASSWORD_ENV)
    if from_env:
        return from_env
    if not sys.stdin.isatty():
        err.print(f"error: no password: use --password-stdin, set {PASSWORD_ENV}, or run in a terminal")
        raise typer.Exit(2)
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


@app.command("create")
def create(
    username: str = Username,
    group: list[str] = typer.Option([], "--group", help="A group of the user (repeatable); role bindings use it."),
    password_stdin: bool = PasswordStdin,
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
) -> None:
    """Create a local user. Give it a role with 'modelreg rolebinding create --user NAME --role ...' (or a group)."""
    password = read_password(password_stdin)
    with user_service(database_url, config) as users:
        user = users.create(username, password, group)
    groups = f" (groups: {', '.join(user.groups)})" if user.groups else ""
    err.print(f"local user {user.username!r} created{groups}")


@app.command("passwd")
def passwd(
    username: str = Username,
    password_stdin: bool = PasswordStdin,
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
) -> None:
    """Set a local user's password; the user's open web UI sessions end."""
    password = read_password(password_stdin)
    with user_service(database_url, config) as users:
        users.set_password(username, password)
    err.print(f"password of local user {username!r} changed")


@app.command("delete")
def delete(
    username: str = Username,
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
) -> None:
    """Delete a local user (their role bindings stay: a user of the same name elsewhere may hold them)."""
    with user_service(database_url, config) as users:
        users.delete(username)
    err.print(f"local user {username!r} deleted")


@app.command("list")
def list_users(as_json: AsJson = False, database_url: DatabaseUrl = None, config: ConfigFile = None) -> None:
    """List local users (never their passwords)."""
    with user_service(database_url, config) as users:
        items = users.list()
    if as_json:
        print_json([u.to_dict() for u in items])
        return
    table = Table("user", "groups", "status", "created", "created by")
    for u in items:
        table.add_row(
            u.username,
            ",".join(u.groups),
            "disabled" if u.disabled else "enabled",
            when(u.create_time),
            u.created_by or "-",
        )
    out.print(table)
