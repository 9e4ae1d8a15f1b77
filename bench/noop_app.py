#!/usr/bin/env python3
"""The ceiling for ``registry_vs_mlflow.py``'s get-by-id: a Starlette app whose one endpoint does nothing, served
the way ``modelreg serve`` serves modelreg (``modelreg.cli.server.UVICORN_OPTIONS``, the same ``--workers``).

``GET /noop/{id}`` answers a fixed JSON body of the size of a registered model's, so the HTTP and socket work per
request matches get-by-id and the gap between the two is what modelreg does per request.

    .venv/bin/python bench/noop_app.py --port 8099 --workers 2
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from modelreg.cli.server import UVICORN_OPTIONS

# The size of GET /registered_models/{id} for the benchmark's models ({"name": "get-model-N"}).
BODY = (
    b'{"id":"1","createTimeSinceEpoch":"1700000000000","lastUpdateTimeSinceEpoch":"1700000000000",'
    b'"name":"get-model-1","state":"LIVE","customProperties":{}}'
)


async def noop(_request: Request) -> Response:
    return Response(BODY, media_type="application/json")


app = Starlette(routes=[Route("/noop/{id}", noop)])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8099)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--log-level", default="warning")
    args = p.parse_args()
    where = {"host": args.host, "port": args.port, "log_level": args.log_level, **UVICORN_OPTIONS}
    if args.workers == 1:
        uvicorn.run(app, **where)
    else:
        uvicorn.run("noop_app:app", app_dir=str(Path(__file__).parent), workers=args.workers, **where)
    return 0


if __name__ == "__main__":
    sys.exit(main())
