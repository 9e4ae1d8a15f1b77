#!/usr/bin/env python3
"""Where a request's CPU goes: sample a one-worker ``modelreg serve`` (SQLite) with py-spy under the get-by-id or
the registration load of ``registry_vs_mlflow.py``, and sum the samples by layer.

    .venv/bin/python bench/profile_hot_path.py --workload get --seconds 10
    .venv/bin/python bench/profile_hot_path.py --workload register --seconds 10 --modelreg-bin /path/to/modelreg

Writes the folded stacks (``py-spy --format raw``) and a text summary to ``bench/results/profile-<workload>-<time>``
(gitignored) and prints the summary: the share of samples whose stack passes through each layer (inclusive, so
shares overlap: middleware contains the handler), then the functions with the most samples of their own.
Ratios of samples are what to read: other processes on the machine change the absolute rate, not the shares.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("registry_vs_mlflow", ROOT / "bench" / "registry_vs_mlflow.py")
assert _spec is not None and _spec.loader is not None
rvm = importlib.util.module_from_spec(_spec)
sys.modules["registry_vs_mlflow"] = rvm
_spec.loader.exec_module(rvm)

# Own time: each sample goes to the group of its innermost frame (first pattern that matches, in this order).
# Native code has no frame of its own: its time shows on the Python frame that called it (uvloop's loop and the
# socket system calls on ``Runner.run``, the sqlite3 module on SQLAlchemy's ``do_execute``/``do_commit``, orjson on
# its caller).
SELF_GROUPS: list[tuple[str, str]] = [
    ("event loop + socket I/O (uvloop, native)", r"^Runner\.run |^run_until_complete|^run_forever"),
    ("sqlite3 driver (native, via SQLAlchemy do_*)", r"^DefaultDialect\.do_|^\w*Cursor\w*\.fetch|\(sqlite3"),
    ("uvicorn (httptools protocol)", r"uvicorn/"),
    ("starlette middleware + exception wrappers", r"starlette/middleware/|starlette/_exception_handler"),
    ("starlette/fastapi routing + apps", r"starlette/(routing|applications)\.py|fastapi/(routing|applications)"),
    ("fastapi dependency solving", r"fastapi/dependencies/"),
    ("fastapi other", r"fastapi/"),
    ("starlette requests/responses/datastructures", r"starlette/"),
    ("pydantic", r"pydantic"),
    ("modelreg ASGI middleware + auth", r"modelreg/api/(middleware|auth)\.py|modelreg/auth/"),
    ("modelreg registry routers", r"modelreg/api/"),
    ("modelreg wire.py", r"modelreg/wire\.py"),
    ("modelreg audit (staging + chain)", r"modelreg/services/audit\.py|modelreg/db/audit_chain\.py"),
    ("modelreg bridge", r"modelreg/bridge/"),
    ("modelreg services", r"modelreg/services/"),
    ("modelreg db layer", r"modelreg/db/"),
    ("SQLAlchemy (Python)", r"sqlalchemy/"),
    ("contextlib/contextvars/threading", r"contextlib|threading\.py|contextvars"),
    ("other", r""),
]
# Inclusive: the share of samples with this frame anywhere on the stack.
INCLUSIVE: list[tuple[str, str]] = [
    ("the registry handler (inside _database_call)", r"_database_call\.<locals>\.run "),
    ("  of which a read transaction (Database.read)", r"Database\.read "),
    ("  of which a write transaction (Database.write / run_write)", r"Database\.run_write "),
    ("    of which appending audit records (audit_chain.append)", r"audit_chain\.py"),
    ("    of which the bridge commit hook (ChangeFeed._on_commit)", r"_on_commit \(modelreg/bridge"),
    ("  of which SQLAlchemy statement compilation", r"sqlalchemy/sql/compiler\.py"),
    ("  of which wire.py", r"modelreg/wire\.py"),
    ("  of which body_in (model_dump + wire.to_db)", r"body_in "),
    ("fastapi solve_dependencies (path/query params, svc)", r"solve_dependencies "),
    ("reading the request body + JSON parse", r"Request\.(body|json|stream) "),
    ("pydantic validation (anywhere)", r"validate_python|validate_json|ModelField\.validate"),
    ("writing the response (Response.__call__)", r"Response\.__call__ "),
    ("Authentication middleware, own work (before/after the app)", r"Authentication\.__call__ \([^;]*$"),
    ("bridge sync worker thread (BridgeSync._run)", r"^BridgeSync\._run "),
]


def summarize(folded: Path, top: int = 40) -> str:
    samples = 0
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    self_hits: Counter[str] = Counter()
    groups = [(name, re.compile(pattern)) for name, pattern in SELF_GROUPS]
    spans = [(name, re.compile(pattern)) for name, pattern in INCLUSIVE]
    for line in folded.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        samples += count
        leaf = frames[-1]
        own[next(name for name, pattern in groups if pattern.search(leaf))] += count
        for name, pattern in spans:
            if any(pattern.search(f) for f in frames) if "[^;]*$" not in pattern.pattern else pattern.search(stack):
                inclusive[name] += count
        self_hits[leaf] += count
    total = max(1, samples)
    lines = [f"{samples} samples (active, all threads) from {folded.name}", ""]
    lines.append("own time by group (the innermost frame's; sums to 100%):")
    for name, count in own.most_common():
        lines.append(f"  {100 * count / total:5.1f}%  {name}")
    lines += ["", "inclusive (samples with the frame anywhere on the stack):"]
    for name, _ in INCLUSIVE:
        lines.append(f"  {100 * inclusive[name] / total:5.1f}%  {name}")
    lines += ["", f"top {top} functions by own samples:"]
    for frame, count in self_hits.most_common(top):
        lines.append(f"  {100 * count / total:5.1f}%  {frame}")
    return "\n".join(lines)


async def drive(server: rvm.Server, workload: str, seconds: float, concurrency: int, pyspy: list[str]) -> None:
    await rvm.wait_ready(server, 60)
    await rvm.settle(server, 30)
    if workload == "get":
        keys = await rvm.prepare_get(server, 100)
        make = rvm.get_op(server, keys)
    else:
        make = rvm.register_op(server, "p")
    # warm up, then sample while the load runs
    await rvm.closed_loop(server, concurrency, 0, 2, make if workload == "get" else rvm.register_op(server, "w"))
    spy = subprocess.Popen(pyspy)
    m = await rvm.closed_loop(server, concurrency, 0.5, seconds, make)
    spy.wait(timeout=seconds + 30)
    s = m.summary()
    rvm.log(
        f"{workload}: {s['throughput']}/s during sampling, server cpu {s['server_cpu_ms_per_op']} ms/op, "
        f"other cpu {s['other_cpu_pct']}%"
    )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workload", choices=("get", "register"), default="get")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    p.add_argument("--modelreg-bin", type=Path, default=ROOT / ".venv" / "bin" / "modelreg")
    p.add_argument("--label", default="", help="added to the output file names")
    p.add_argument("--summarize", type=Path, default=None, help="only summarise an existing folded-stack file")
    args = p.parse_args()
    if args.summarize:
        print(summarize(args.summarize))
        return 0
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out = rvm.RESULTS_DIR / f"profile-{args.workload}{'-' + args.label if args.label else ''}-{stamp}"
    out.parent.mkdir(parents=True, exist_ok=True)
    ns = argparse.Namespace(modelreg_bin=args.modelreg_bin)
    tmp = Path(tempfile.mkdtemp(prefix="modelreg-profile-"))
    server = rvm.start_server("modelreg", 1, ns, tmp, "modelreg-w1")
    assert server.proc is not None
    pyspy = [
        str(Path(sys.executable).parent / "py-spy"),
        "record",
        "--pid",
        str(server.proc.pid),
        "--duration",
        str(int(args.seconds)),
        "--rate",
        str(args.rate),
        "--format",
        "raw",
        "--nonblocking",
        "--output",
        str(out.with_suffix(".folded")),
    ]
    try:
        asyncio.run(drive(server, args.workload, args.seconds, args.concurrency, pyspy))
    finally:
        rvm.stop_server(server)
        subprocess.run(["rm", "-rf", str(tmp)], check=False)
    text = summarize(out.with_suffix(".folded"))
    out.with_suffix(".txt").write_text(text + "\n")
    print(text)
    print(f"\nfolded stacks: {out.with_suffix('.folded')}\nsummary: {out.with_suffix('.txt')}", file=sys.stderr)
    return 0 if os.path.exists(out.with_suffix(".folded")) else 1


if __name__ == "__main__":
    sys.exit(main())
