"""Client commands: ``upload``, ``download``, ``verify`` and ``list`` talk to a running server (``--url`` or
``MODELREG_URL``) through the Python SDK, with the caller's token, like any other client. Unlike ``token`` or
``promote`` they never touch the database: the bytes go where the server's data connections say."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn
from rich.table import Table

from modelreg.cli.output import AsJson, print_json, stdout_console
from modelreg.client import ModelRegistry, ModelRegistryError

DEFAULT_URL = "http://127.0.0.1:8080"
out = stdout_console(highlight=False)
err = Console(stderr=True, soft_wrap=True, highlight=False)

ServerUrl = Annotated[
    str, typer.Option("--url", envvar="MODELREG_URL", help="The modelreg server.", show_default=DEFAULT_URL)
]
Token = Annotated[
    str | None,
    typer.Option("--token", envvar="MODELREG_TOKEN", help="API token (mrt_…) or OIDC token.", show_default=False),
]
ModelArg = Annotated[str, typer.Argument(help="Name of the registered model.")]
VersionArg = Annotated[str, typer.Argument(help="Name of the model version.")]


@contextmanager
def _client(url: str, token: str | None) -> Iterator[ModelRegistry]:
    """The SDK client; server errors (and a server that cannot be reached, ``ServerUnavailable``) end the command
    with ``error: <the message>`` and exit code 1."""
    try:
        with ModelRegistry(server_address=url, token=token or None, timeout=300) as registry:
            yield registry
    except ModelRegistryError as exc:
        err.print(f"error: {exc}", markup=False)
        raise typer.Exit(1) from None


@contextmanager
def _progress(description: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """A byte-progress bar on stderr (hidden when stderr is not a terminal); yields the SDK's progress callback."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err, transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)


def _size_of(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def upload(
    model: ModelArg,
    version: VersionArg,
    path: Annotated[Path, typer.Argument(help="A file or a directory (uploaded whole).", exists=True)],
    connection: Annotated[
        str | None, typer.Option("--connection", help="Data connection to store in (default: the server's).")
    ] = None,
    model_format: Annotated[str | None, typer.Option("--format", help="Model format, e.g. onnx.")] = None,
    format_version: Annotated[str | None, typer.Option("--format-version", help="Model format version.")] = None,
    description: Annotated[str | None, typer.Option("--description", help="Description of the version.")] = None,
    tag: Annotated[
        str | None,
        typer.Option(
            "--tag", help="OCI connections: the image's tag (default: made from VERSION).", show_default=False
        ),
    ] = None,
    url: ServerUrl = DEFAULT_URL,
    token: Token = None,
) -> None:
    """Upload a file or directory as VERSION of MODEL (both created if missing), with the SHA-256 of every file;
    an interrupted upload registers nothing. Through an OCI connection the files become a ModelCar image (files
    the registry already has are not sent again)."""
    with _client(url, token) as registry, _progress(f"uploading {path.name}", _size_of(path)) as advance:
        result = registry.upload(
            model,
            version,
            path,
            connection=connection,
            model_format_name=model_format,
            model_format_version=format_version,
            description=description,
            tag=tag,
            progress=advance,
        )
    for warning in result.warnings:
        err.print(f"warning: {warning}", markup=False)
    out.print(
        f"{model!r} version {version!r} (id {result.model_version.id}): {len(result.files)} file(s), "
        f"{result.total_size:,} bytes → {result.model_artifact.uri}",
        markup=False,
    )


def download(
    model: ModelArg,
    version: VersionArg,
    dest: Annotated[Path, typer.Argument(help="Directory to write the files into (created if missing).")],
    url: ServerUrl = DEFAULT_URL,
    token: Token = None,
) -> None:
    """Download a version's files, checking each against the SHA-256 recorded at upload before it is renamed into
    place (exit 1 on a mismatch; nothing corrupt lands under its real name)."""
    with _client(url, token) as registry, _progress(f"downloading {model}/{version}", None) as advance:
        written = registry.download(model, version, dest, progress=advance)
    for path in written:
        out.print(str(path), markup=False)


def verify(model: ModelArg, version: VersionArg, url: ServerUrl = DEFAULT_URL, token: Token = None) -> None:
    """Have the server re-read the stored files and compare them with the digests recorded at upload (exit 1 on
    any mismatch or missing file)."""
    with _client(url, token) as registry:
        report = registry.verify(model, version)
    for item in report.items:  # one line per file, like sha256sum: status, size, digest as read now, path
        actual = item.actual or {}
        status = item.status if item.status == "ok" else item.status.upper()
        out.print(
            f"{status:<10} {actual.get('size', '-'):>14} {actual.get('sha256') or '-':<64}  {item.path}", markup=False
        )
    if not report.recorded:
        out.print("no digests were recorded for this artifact (registered by URI): sizes and digests as read now")
    if not report.ok:
        bad = [i for i in report.items if i.status in ("mismatch", "missing")]
        err.print(f"error: {len(bad)} of {len(report.items)} file(s) do not match what was uploaded", markup=False)
        raise typer.Exit(1)


def list_(
    model: Annotated[str | None, typer.Argument(help="List this model's versions instead of the models.")] = None,
    as_json: AsJson = False,
    url: ServerUrl = DEFAULT_URL,
    token: Token = None,
) -> None:
    """List registered models, or the versions of one with their stage and artifact URI.

    --json prints the API's objects (a version also with its "stage" and its artifact's "uri")."""
    with _client(url, token) as registry:
        if as_json and model is None:
            print_json([rm.raw for rm in registry.list_registered_models()])
            return
        if as_json and model is not None:
            found = registry.list_model_versions(model)
            print_json([{**mv.raw, "stage": mv.stage, "uri": _artifact_uri(registry, model, mv.name)} for mv in found])
            return
        if model is None:
            table = Table("id", "name", "owner", "description", box=None, pad_edge=False)
            for rm in registry.list_registered_models():
                table.add_row(rm.id, rm.name, rm.owner or "", rm.description or "")
        else:
            table = Table("id", "version", "stage", "author", box=None, pad_edge=False)
            table.add_column("uri", overflow="fold")
            for mv in registry.list_model_versions(model):
                uri = _artifact_uri(registry, model, mv.name)
                table.add_row(mv.id, mv.name, mv.stage or "", mv.author or "", uri)
    out.print(table)


def _artifact_uri(registry: ModelRegistry, model: str, version: str) -> str:
    try:
        return registry.get_model_artifact(model, version).uri or ""
    except ModelRegistryError:
        return ""
