"""``modelreg token`` and ``modelreg rolebinding``: work on the database directly (so the first admin can be set
up before anyone holds a token), acting as ``cli:<OS user>``, audited like every other write."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.table import Table

from modelreg.cli.options import ConfigFile, DatabaseUrl, database_session, settings_for, when
from modelreg.cli.output import AsJson, print_json, stdout_console
from modelreg.services.access import AccessService, parse_duration

tokens = typer.Typer(no_args_is_help=True, help="API tokens: create (shown once), list, revoke.")
bindings = typer.Typer(no_args_is_help=True, help="Role bindings: which users and groups hold which role.")
out = stdout_console()
err = Console(stderr=True, soft_wrap=True)


@contextmanager
def access_service(database_url: str | None, config: ConfigFile) -> Iterator[AccessService]:
    with database_session(settings_for(database_url, config), migrate=True) as db:
        yield AccessService(db)


@tokens.command("create")
def token_create(
    user: str = typer.Option(..., "--user", help="The user the token authenticates as."),
    group: list[str] = typer.Option([], "--group", help="A group of the user (repeatable)."),
    expires_in: str = typer.Option(None, "--expires-in", help="e.g. 30d, 12h, 90m. Default: never."),
    description: str = typer.Option(None, "--description", help="What the token is for."),
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
) -> None:
    """Create a token and print it, alone on stdout (it is not stored and cannot be shown again)."""
    with access_service(database_url, config) as svc:
        expires = parse_duration(expires_in) if expires_in else None
        secret, info = svc.create_token(user, group, expires, description)
    err.print(f"token {info.id} for user {info.user!r}, expires {when(info.expire_time)}; keep it secret")
    print(secret)


@tokens.command("list")
def token_list(
    user: str = typer.Option(None, "--user", help="Only this user's tokens."),
    all_: bool = typer.Option(False, "--all", help="Include revoked and expired tokens."),
    as_json: AsJson = False,
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
) -> None:
    """List tokens (never their secrets)."""
    with access_service(database_url, config) as svc:
        items = svc.list_tokens(user, include_inactive=all_)
    if as_json:
        print_json([t.to_dict() for t in items])
        return
    table = Table("id", "user", "groups", "created", "expires", "revoked", "created by", "description")
    for t in items:
        table.add_row(
            str(t.id),
            t.user,
            ",".join(t.groups),
            when(t.create_time),
            when(t.expire_time),
            when(t.revoke_time),
            t.created_by or "-",
            t.description or "",
        )
    out.print(table)


@tokens.command("revoke")
def token_revoke(
    token_id: int = typer.Argument(..., help="The token's id (see 'token list')."),
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
) -> None:
    """Revoke a token; servers stop accepting it within their credential cache time (2 s by default)."""
    with access_service(database_url, config) as svc:
        info = svc.revoke_token(token_id)
    err.print(f"token {info.id} of user {info.user!r} revoked")


@bindings.command("create")
def binding_create(
    role: str = typer.Option(..., "--role", help="admin, developer or viewer."),
    user: str = typer.Option(None, "--user", help="Bind a user ..."),
    group: str = typer.Option(None, "--group", help="... or a group."),
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
) -> None:
    """Give a user or a group a role."""
    if (user is None) == (group is None):
        err.print("error: give exactly one of --user and --group")
        raise typer.Exit(2)
    kind, subject = ("user", user) if user is not None else ("group", group)
    with access_service(database_url, config) as svc:
        binding = svc.create_binding(kind, subject, role)
    err.print(f"role binding {binding.id}: {kind} {subject!r} → {role}")


@bindings.command("list")
def binding_list(
    subject: str = typer.Option(None, "--subject", help="Only bindings of this user or group."),
    role: str = typer.Option(None, "--role", help="Only bindings to this role."),
    as_json: AsJson = False,
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
) -> None:
    """List role bindings."""
    with access_service(database_url, config) as svc:
        items = svc.list_bindings(subject, role)
    if as_json:
        print_json([b.to_dict() for b in items])
        return
    table = Table("id", "kind", "subject", "role", "created", "created by")
    for b in items:
        table.add_row(str(b.id), b.subject_kind, b.subject, b.role, when(b.create_time), b.created_by or "-")
    out.print(table)


@bindings.command("delete")
def binding_delete(
    binding_id: int = typer.Argument(..., help="The binding's id (see 'rolebinding list')."),
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
) -> None:
    """Remove a role binding."""
    with access_service(database_url, config) as svc:
        binding = svc.delete_binding(binding_id)
    err.print(f"role binding {binding.id} removed: {binding.subject_kind} {binding.subject!r} → {binding.role}")
