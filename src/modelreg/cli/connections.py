"""``modelreg connection``: data connections (named storage locations), on the database directly like ``token``,
acting as ``cli:<OS user>`` and audited. The secret access key is never a plain argument (it would show in the
process list and the shell history): it comes from an environment variable or from stdin (an oci connection's
password or .dockerconfigjson: from an environment variable)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from modelreg.cli.options import ConfigFile, DatabaseUrl, database_session, from_env, settings_for, when
from modelreg.cli.output import AsJson, print_json, stdout_console
from modelreg.services.connections import TYPES, ConnectionService
from modelreg.services.secrets import SecretBox

app = typer.Typer(
    no_args_is_help=True, help="Data connections: named storage locations (S3, HTTP(S), directory, OCI registry)."
)
out = stdout_console()
err = Console(stderr=True, soft_wrap=True)


@contextmanager
def connection_service(database_url: str | None, config: ConfigFile) -> Iterator[ConnectionService]:
    settings = settings_for(database_url, config)
    with database_session(settings, migrate=True) as db:
        yield ConnectionService(
            db,
            SecretBox(settings.storage, settings.data_dir),
            settings.data_dir / "artifacts",
            modelcar_base_image=settings.storage.modelcar_base_image,
        )


def _read_secret(env_var: str | None, stdin: bool) -> str | None:
    if env_var and stdin:
        err.print("error: give at most one of --secret-access-key-env and --secret-access-key-stdin")
        raise typer.Exit(2)
    if env_var:
        return from_env(env_var)
    if stdin:
        value = sys.stdin.readline().rstrip("\r\n")
        if not value:
            err.print("error: no secret access key on stdin")
            raise typer.Exit(2)
        return value
    return None


@app.command("create")
def create(
    name: str = typer.Argument(..., help="The connection's name."),
    type_: str = typer.Option(..., "--type", help=f"One of {', '.join(TYPES)}."),
    display_name: str = typer.Option(
        None, "--display-name", help="What people see, e.g. in the deploy wizard (default: the name)."
    ),
    description: str = typer.Option(None, "--description", help="What the connection is for."),
    endpoint: str = typer.Option(None, "--endpoint", help="s3: the endpoint URL (default: AWS)."),
    region: str = typer.Option(None, "--region", help="s3: the region."),
    bucket: str = typer.Option(None, "--bucket", help="s3: the bucket."),
    prefix: str = typer.Option(None, "--prefix", help="s3: a key prefix inside the bucket."),
    path_style: bool = typer.Option(False, "--path-style", help="s3: path-style addressing (MinIO, Ceph)."),
    access_key_id: str = typer.Option(None, "--access-key-id", help="s3: the access key id."),
    secret_env: str = typer.Option(
        None, "--secret-access-key-env", metavar="VAR", help="s3: read the secret access key from this variable."
    ),
    secret_stdin: bool = typer.Option(
        False, "--secret-access-key-stdin", help="s3: read the secret access key from the first line of stdin."
    ),
    use_workload_identity: bool = typer.Option(
        False,
        "--use-workload-identity",
        help="s3: sign with the server's own identity (environment, instance role, IRSA) instead of keys; "
        "without keys and without this, requests are unsigned.",
    ),
    base_url: str = typer.Option(None, "--base-url", help="uri: the http(s) base URL."),
    directory: Path = typer.Option(None, "--directory", help="local: the directory (made absolute)."),
    registry: str = typer.Option(None, "--registry", metavar="HOST[:PORT]", help="oci: the registry, no scheme."),
    repository_prefix: str = typer.Option(
        None, "--repository-prefix", help="oci: the repositories it covers, and pushes under (e.g. team/models)."
    ),
    username: str = typer.Option(None, "--username", help="oci: the user name (with --password-env)."),
    password_env: str = typer.Option(
        None, "--password-env", metavar="VAR", help="oci: read the password (or token) from this variable."
    ),
    dockerconfig_env: str = typer.Option(
        None,
        "--dockerconfig-env",
        metavar="VAR",
        help="oci: read a whole .dockerconfigjson from this variable, instead of --username/--password-env.",
    ),
    plain_http: bool = typer.Option(False, "--plain-http", help="oci: talk to the registry over plain http."),
    check: bool = typer.Option(
        True,
        "--check/--no-check",
        help="Reach the store first (endpoint, credentials, bucket, directory or registry).",
    ),
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
) -> None:
    """Create a connection (the secret is stored encrypted and never shown again). The store is checked first
    from this machine, unless --no-check."""
    secret = _read_secret(secret_env, secret_stdin)
    password = from_env(password_env)
    dockerconfig = from_env(dockerconfig_env)
    with connection_service(database_url, config) as svc:
        created = svc.create(
            name,
            type_,
            display_name=display_name,
            description=description,
            endpoint=endpoint,
            region=region,
            bucket=bucket,
            prefix=prefix,
            path_style=path_style,
            access_key_id=access_key_id,
            secret_access_key=secret,
            base_url=base_url,
            directory=None if directory is None else str(directory.expanduser().absolute()),
            use_workload_identity=use_workload_identity,
            registry=registry,
            repository_prefix=repository_prefix,
            username=username,
            password=password,
            dockerconfig=dockerconfig,
            plain_http=plain_http,
            check=check,
        )
    err.print(f"data connection {created.id} {created.name!r} ({created.type}) created", markup=False)


@app.command("list")
def list_(as_json: AsJson = False, database_url: DatabaseUrl = None, config: ConfigFile = None) -> None:
    """List connections (never their secrets)."""
    with connection_service(database_url, config) as svc:
        items = svc.list()
    if as_json:
        print_json([c.to_dict() for c in items])
        return
    table = Table(
        "name", "display name", "type", "location", "access key id", "secret", "created", "created by", "description"
    )
    for c in items:
        if c.type == "s3":
            location = f"s3://{c.bucket}/{c.prefix or ''}" + (f" at {c.endpoint}" if c.endpoint else "")
            location += " (path-style)" if c.path_style else ""
            location += " (workload identity)" if c.use_workload_identity else ""
        elif c.type == "oci":
            location = f"oci://{c.registry}/{c.prefix or ''}" + (" (plain http)" if c.plain_http else "")
        else:
            location = (c.base_url if c.type == "uri" else c.directory) or ""
        table.add_row(
            c.name + (" (built-in)" if c.built_in else ""),
            c.display_name or c.name,
            c.type,
            location,
            c.access_key_id or "-",
            "set" if c.has_secret else "-",
            when(c.create_time),
            c.created_by or "-",
            c.description or "",
        )
    out.print(table)


@app.command("delete")
def delete(
    name: str = typer.Argument(..., help="The connection's name."),
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
) -> None:
    """Delete a connection."""
    with connection_service(database_url, config) as svc:
        gone = svc.delete(name)
    err.print(f"data connection {gone.name!r} deleted", markup=False)
