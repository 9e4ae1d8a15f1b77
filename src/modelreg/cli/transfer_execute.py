"""``modelreg transfer execute --job ID``: the entry point of a transfer Job's pod (transfers/executor.py). It talks
to the server over REST with ``MODELREG_URL`` and ``MODELREG_TOKEN``, reads the connections' credentials from the
files the Job mounts, and exits 0 (done), 3 (failed, reported) or 1 (could not report: the Job retries). The
executor is imported when the command runs, so the other ``transfer`` commands stay light."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

Mount = Annotated[Path | None, typer.Option(help="Where the Job mounts it (default: as transfers/kube_job.py does).")]


def execute(
    job: Annotated[str, typer.Option("--job", help="The transfer job's id.")],
    url: Annotated[str, typer.Option("--url", envvar="MODELREG_URL", help="The modelreg server.")] = "",
    token: Annotated[
        str | None, typer.Option("--token", envvar="MODELREG_TOKEN", help="The job's API token.", show_default=False)
    ] = None,
    metadata_dir: Mount = None,
    source_creds: Mount = None,
    dest_creds: Mount = None,
    termination_path: Annotated[
        Path | None,
        typer.Option(envvar="TERMINATION_MESSAGE_PATH", help="Where the result is written (/dev/termination-log)."),
    ] = None,
    base_image: Annotated[
        str, typer.Option("--base-image", help="The ModelCar base image: 'embedded' or an OCI layout directory.")
    ] = "embedded",
) -> None:
    """Run one transfer job inside its Kubernetes Job (the server starts these; not for use by hand)."""
    from modelreg.transfers import executor

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    given = {
        "metadata": metadata_dir,
        "source_creds": source_creds,
        "dest_creds": dest_creds,
        "termination": termination_path,
    }
    paths = executor.Paths(**{k: v for k, v in given.items() if v is not None})
    raise typer.Exit(executor.execute(job, url, token, paths, base_image))
