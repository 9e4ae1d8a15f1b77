"""``modelreg transfer``: transfer jobs on a running server (``--url``/``MODELREG_URL``, the caller's token): the
server copies a model from one data connection into another and registers it; these commands start, watch, cancel
and retry jobs. (``upload``/``download``, which move bytes through this machine, are in ``cli/transfer.py``.)"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated

import typer
from rich.table import Table

from modelreg.cli.output import AsJson, print_json
from modelreg.cli.transfer import DEFAULT_URL, ServerUrl, Token, _client, err, out
from modelreg.cli.transfer_execute import execute
from modelreg.client import Transfer

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Transfer jobs: server-side copies of models.")
JobArg = Annotated[str, typer.Argument(help="The job's id or name.")]
TERMINAL = ("COMPLETED", "FAILED", "CANCELLED")
app.command("execute", hidden=True)(execute)  # a transfer Job's pod (transfers/executor.py)


def _show(job: Transfer, as_json: bool) -> None:
    if as_json:
        print_json(job.raw)
        return
    total = "?" if job.bytes_total is None else str(job.bytes_total)
    out.print(f"{job.name}  {job.state}  {job.bytes_done}/{total} bytes  {job.files_done} files", markup=False)
    if job.uri:
        out.print(f"uri: {job.uri}", markup=False)
    if job.error:
        out.print(f"error: {job.error}" + (f": {job.cause}" if job.cause else ""), markup=False)


def _source(source: str, connection: str) -> dict[str, str]:
    """``s3:<key>``, ``uri:<url>`` (or a bare http(s) URL) or ``oci:<image>``."""
    kind, _, value = source.partition(":")
    if source.startswith(("http://", "https://")):
        return {"type": "uri", "connection": connection, "url": source}
    field = {"s3": "key", "uri": "url", "oci": "image"}.get(kind)
    if field is None or not value:
        err.print("error: --source is s3:<key>, uri:<url> (or an http(s) URL) or oci:<image>", markup=False)
        raise typer.Exit(2)
    return {"type": kind, "connection": connection, field: value}


@app.command("create")
def create(
    source: Annotated[str, typer.Option("--source", help="s3:<key or prefix>, an http(s) URL, or oci:<image>.")],
    source_connection: Annotated[str, typer.Option("--from", help="The source's data connection.")],
    destination_connection: Annotated[str, typer.Option("--to", help="The destination's data connection.")],
    model: Annotated[str | None, typer.Option("--model", help="Registered model name.")] = None,
    version: Annotated[str | None, typer.Option("--version", help="Version name (create_model: 1.0.0).")] = None,
    intent: Annotated[
        str, typer.Option("--intent", help="create_model, create_version or update_artifact.")
    ] = "create_model",
    artifact_id: Annotated[str | None, typer.Option("--artifact-id", help="update_artifact: the artifact.")] = None,
    oci: Annotated[bool, typer.Option("--oci/--s3", help="The destination's type.")] = True,
    repository: Annotated[str | None, typer.Option("--repository", help="oci: repository (default: model).")] = None,
    tag: Annotated[str | None, typer.Option("--tag", help="oci: tag (default: from the version).")] = None,
    key: Annotated[str | None, typer.Option("--key", help="s3: key prefix (default: model/version/job).")] = None,
    model_format_name: Annotated[str | None, typer.Option("--format", help="Model format name.")] = None,
    model_format_version: Annotated[str | None, typer.Option("--format-version")] = None,
    description: Annotated[str | None, typer.Option("--description", help="The model's description.")] = None,
    name: Annotated[str | None, typer.Option("--name", help="The job's name (a Kubernetes name).")] = None,
    wait_done: Annotated[bool, typer.Option("--wait", help="Wait for the end; exit 1 unless completed.")] = False,
    url: ServerUrl = DEFAULT_URL,
    token: Token = None,
    as_json: AsJson = False,
) -> None:
    """Start a transfer job (validated before any byte moves: names free, connections answer, destination
    writable)."""
    destination: dict[str, str] = {"type": "oci" if oci else "s3", "connection": destination_connection}
    for field, value in (("repository", repository), ("tag", tag), ("key", key)):
        if value is not None:
            destination[field] = value
    with _client(url, token) as registry:
        job = registry.start_transfer(
            _source(source, source_connection),
            destination,
            intent=intent,
            model=model,
            version=version,
            artifact_id=artifact_id,
            description=description,
            model_format_name=model_format_name,
            model_format_version=model_format_version,
            name=name,
        )
        if wait_done:
            job = _wait(registry.get_transfer, job.id, 0)
    _show(job, as_json)
    if wait_done and job.state != "COMPLETED":
        raise typer.Exit(1)


@app.command("list")
def list_(
    state: Annotated[str | None, typer.Option("--state", help="Only jobs in this state.")] = None,
    url: ServerUrl = DEFAULT_URL,
    token: Token = None,
    as_json: AsJson = False,
) -> None:
    """Transfer jobs, newest first."""
    with _client(url, token) as registry:
        jobs = registry.list_transfers(state=state)
    if as_json:
        print_json([j.raw for j in jobs])
        return
    table = Table("NAME", "STATE", "INTENT", "MODEL", "VERSION", "BYTES", "URI / ERROR")
    for j in jobs:
        total = "?" if j.bytes_total is None else str(j.bytes_total)
        table.add_row(
            j.name,
            j.state,
            j.intent,
            (j.raw.get("registeredModel") or {}).get("name") or "",
            (j.raw.get("modelVersion") or {}).get("name") or "",
            f"{j.bytes_done}/{total}",
            j.uri or j.error or "",
        )
    out.print(table)


@app.command("get")
def get(job: JobArg, url: ServerUrl = DEFAULT_URL, token: Token = None, as_json: AsJson = False) -> None:
    """One job, with its progress, result or error."""
    with _client(url, token) as registry:
        _show(registry.get_transfer(job), as_json)


@app.command("cancel")
def cancel(job: JobArg, url: ServerUrl = DEFAULT_URL, token: Token = None, as_json: AsJson = False) -> None:
    """Cancel a job: a pending one at once, a running one at its next block; nothing is registered."""
    with _client(url, token) as registry:
        _show(registry.cancel_transfer(job), as_json)


@app.command("retry")
def retry(job: JobArg, url: ServerUrl = DEFAULT_URL, token: Token = None, as_json: AsJson = False) -> None:
    """Run a failed or cancelled job again, as a new job <name>-2…"""
    with _client(url, token) as registry:
        _show(registry.retry_transfer(job), as_json)


@app.command("wait")
def wait(
    job: JobArg,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds; 0 waits as long as it takes.")] = 0,
    url: ServerUrl = DEFAULT_URL,
    token: Token = None,
    as_json: AsJson = False,
) -> None:
    """Wait until a job ends; exit 1 unless it completed (2 on the timeout)."""
    with _client(url, token) as registry:
        done = _wait(registry.get_transfer, job, timeout)
    _show(done, as_json)
    if done.state not in TERMINAL:
        raise typer.Exit(2)
    if done.state != "COMPLETED":
        raise typer.Exit(1)


def _wait(get_transfer: Callable[[str], Transfer], ref: str, timeout: float) -> Transfer:
    deadline = time.monotonic() + timeout if timeout > 0 else None
    while True:
        job: Transfer = get_transfer(ref)
        if job.state in TERMINAL or (deadline is not None and time.monotonic() >= deadline):
            return job
        time.sleep(0.5)
