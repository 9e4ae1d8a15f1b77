"""The container image (Containerfile, docs/image.md), checked where no container engine runs: hadolint; what matters
in the Containerfile, read with buildkit's own parser; the builder stage's install steps (scripts/install-app) taken
into a fresh venv from a copy of exactly what the build context holds, and that venv's server started as the image
starts it (the image's environment and command) with a HOME that cannot be written, as for an arbitrary UID; and
scripts/build-image saying why it cannot build when no engine can.

The install is offline, from the wheels scripts/setup keeps in .venvs/wheels, so that the test costs no download."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import dockerfile
import httpx
import pytest
from packaging.specifiers import SpecifierSet

import modelreg
from conftest import free_port
from processes import ServeProcess

ROOT = Path(__file__).resolve().parents[2]
CONTAINERFILE = ROOT / "Containerfile"
WHEELS = ROOT / ".venvs" / "wheels"
BIN = Path(sys.executable).parent  # the dev tools: hadolint
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


@dataclass
class Stage:
    """One ``FROM`` of the Containerfile and the instructions under it."""

    base: str
    name: str
    commands: list[dockerfile.Command] = field(default_factory=list)

    def all(self, instruction: str) -> list[dockerfile.Command]:
        return [c for c in self.commands if c.cmd == instruction]

    def last(self, instruction: str) -> dockerfile.Command:
        found = self.all(instruction)
        assert found, f"stage {self.name} has no {instruction}"
        return found[-1]

    def pairs(self, instruction: str) -> dict[str, str]:
        """The keys and (unquoted) values of every ENV or LABEL of the stage."""
        values: dict[str, str] = {}
        for command in self.all(instruction):
            words = iter(command.value)
            values.update((key, " ".join(shlex.split(value))) for key, value in zip(words, words, strict=True))
        return values


def read_stages() -> dict[str, Stage]:
    stages: dict[str, Stage] = {}
    for command in dockerfile.parse_file(str(CONTAINERFILE)):
        if command.cmd == "FROM":
            base, as_, name = command.value
            assert as_.upper() == "AS", command.original
            stages[name] = Stage(base, name)
        else:
            assert stages, f"an instruction before the first FROM: {command.original}"
            stages[next(reversed(stages))].commands.append(command)
    return stages


STAGES = read_stages()
BUILDER, RUNTIME = STAGES["builder"], list(STAGES.values())[-1]
IMAGE_ENV = RUNTIME.pairs("ENV")
OWN_PATH = {"PYTHONPATH": ""}  # the venv's own code, not a checkout a PYTHONPATH may name (an empty one is ignored)


def build_context_sources() -> list[tuple[str, str]]:
    """The (source, destination) pairs the builder COPYs from the build context, destinations relative to /."""
    workdir = BUILDER.last("WORKDIR").value[0]
    pairs = []
    for copy in BUILDER.all("COPY"):
        assert not copy.flags, copy.original  # from the context, not from another stage
        *sources, destination = copy.value
        for source in sources:
            target = Path(workdir, destination)
            if destination.endswith("/") and not source.endswith("/"):
                target = target / Path(source).name
            pairs.append((source.rstrip("/"), str(target)))
    return pairs


def ignore_lines() -> list[str]:
    lines = (line.strip() for line in (ROOT / ".containerignore").read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


# --- the Containerfile -----------------------------------------------------------------------------------------


def test_hadolint_finds_nothing() -> None:
    linted = subprocess.run(
        [str(BIN / "hadolint"), "--format", "json", str(CONTAINERFILE)], capture_output=True, text=True, timeout=120
    )
    assert linted.returncode == 0, linted.stdout + linted.stderr
    assert json.loads(linted.stdout) == []


def test_the_base_image_is_pinned_fully_qualified_and_runs_a_supported_python() -> None:
    """One base for both stages, named with its registry (podman does not guess one for a short name) and an exact
    tag (never ``latest``), whose Python is one that pyproject.toml's requires-python accepts."""
    bases = {stage.base for stage in STAGES.values() if stage.base not in STAGES}
    assert len(bases) == 1, bases
    (base,) = bases
    registry, _, rest = base.partition("/")
    assert "." in registry, f"{base}: not fully qualified"
    repository, _, tag = rest.rpartition(":")
    assert repository and tag and tag != "latest" and "@" not in repository, base
    python = re.fullmatch(r"(\d+\.\d+\.\d+)-slim-\w+", tag)
    assert python, f"{base}: the tag names no exact Python release"
    assert python[1] in SpecifierSet(PROJECT["requires-python"]), (python[1], PROJECT["requires-python"])
    assert RUNTIME.pairs("LABEL")["org.opencontainers.image.base.name"] == base


def test_the_runtime_runs_modelreg_as_a_numeric_non_root_user_in_group_0() -> None:
    user = RUNTIME.last("USER").value[0]
    matched = re.fullmatch(r"(\d+):0", user)
    assert matched and int(matched[1]) != 0, user
    assert RUNTIME.last("EXPOSE").value == ("8080",)
    entrypoint, command = RUNTIME.last("ENTRYPOINT"), RUNTIME.last("CMD")
    assert entrypoint.json and entrypoint.value == ("modelreg",)
    assert command.json and command.value == ("serve", "--host", "0.0.0.0")
    # the build-time smoke test runs after USER: as the user the image runs as
    runs = [c.value[0] for c in RUNTIME.commands[RUNTIME.commands.index(RUNTIME.last("USER")) :] if c.cmd == "RUN"]
    assert "modelreg --version" in runs, runs


def test_the_runtime_labels_and_environment() -> None:
    labels = RUNTIME.pairs("LABEL")
    oci = {key.removeprefix("org.opencontainers.image.") for key in labels if key.startswith("org.opencontainers.")}
    assert {"title", "description", "version", "revision", "created", "licenses", "base.name"} <= oci, oci
    assert labels["org.opencontainers.image.licenses"] == PROJECT["license"]
    assert labels["io.openshift.expose-services"] == "8080:http"
    assert (IMAGE_ENV["PYTHONDONTWRITEBYTECODE"], IMAGE_ENV["PYTHONUNBUFFERED"]) == ("1", "1")
    assert IMAGE_ENV["HOME"] == "/tmp"  # writable: an emptyDir on a read-only root filesystem
    data_dir = IMAGE_ENV["MODELREG_DATA_DIR"]
    assert RUNTIME.last("WORKDIR").value == (data_dir,)
    # the one directory the app writes besides /tmp: group 0 may write it, whatever the UID
    setup = " ".join(c.value[0] for c in RUNTIME.all("RUN"))
    assert re.search(rf"chown \d+:0 {re.escape(data_dir)}(\s|$)", setup), setup
    assert re.search(rf"chmod 0?[0-7][67][0-7] {re.escape(data_dir)}(\s|$)", setup), setup


def test_the_builder_installs_with_scripts_install_app_and_the_runtime_gets_only_its_venv() -> None:
    install = BUILDER.last("RUN").value[0].split()
    assert install[0] == "scripts/install-app" and len(install) == 2, install
    venv = install[1]
    assert [(c.flags, c.value) for c in RUNTIME.all("COPY")] == [(("--from=builder",), (venv, venv))]
    assert IMAGE_ENV["PATH"].split(":")[0] == f"{venv}/bin"


def test_the_build_context_is_what_the_builder_copies_and_nothing_else() -> None:
    """.containerignore excludes everything, then lets back in exactly the builder's COPY sources; .dockerignore
    (docker's name for it) is the same file."""
    assert (ROOT / ".dockerignore").resolve() == (ROOT / ".containerignore").resolve()
    lines = ignore_lines()
    assert lines[0] == "*", lines
    let_in = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert let_in == {source for source, _ in build_context_sources()}


# --- the install steps, taken ----------------------------------------------------------------------------------


def install_as_the_builder_does(root: Path) -> Path:
    """The builder stage's steps: its COPYs (from the checkout, less what .containerignore drops) into a context
    directory, then its RUN, ``scripts/install-app VENV``, there, with a new venv in place of the image's path."""
    if not WHEELS.is_dir():
        pytest.fail(f"no wheels in {WHEELS}: run scripts/setup (it downloads them once)")
    context = root / "context"
    names = [line.removeprefix("**/") for line in ignore_lines() if line.startswith("**/")]
    for source, destination in build_context_sources():
        target = context / destination.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        if (ROOT / source).is_dir():
            shutil.copytree(ROOT / source, target, ignore=shutil.ignore_patterns(*names))
        else:
            shutil.copy2(ROOT / source, target)
    program, _ = BUILDER.last("RUN").value[0].split()
    venv = root / "venv"
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("PIP_", "MODELREG_"))}
    environment |= {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(WHEELS), "PYTHON": sys.executable}
    workdir = context / BUILDER.last("WORKDIR").value[0].lstrip("/")
    run = subprocess.run(
        [str(workdir / program), str(venv)], cwd=workdir, env=environment, capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, f"{(run.stdout + run.stderr)[-6000:]}\n(are the wheels current? run scripts/setup)"
    assert run.stdout.strip().splitlines()[-1] == f"modelreg {modelreg.__version__}"  # the script's own check
    return venv


def test_the_install_steps_give_a_plain_install_that_serves_as_the_image_does(tmp_path: Path) -> None:
    """One test, so that the install (the costly part) happens once, whatever worker runs it. The app is installed,
    not linked to the checkout, without the dev tools; then it runs with the image's environment and command, SQLite
    in an empty data directory, and a HOME that nothing can be created in (it lies under a regular file, which stops
    root too): as an arbitrary UID without a home runs it."""
    venv = install_as_the_builder_does(tmp_path)
    probe = "import importlib.util, modelreg; print(modelreg.__file__); print(importlib.util.find_spec('pytest'))"
    found = subprocess.run(
        [str(venv / "bin" / "python"), "-c", probe],
        env={**os.environ, **OWN_PATH},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert found.returncode == 0, found.stderr
    module, pytest_spec = found.stdout.splitlines()
    assert Path(module).is_relative_to(venv / "lib"), module  # not editable: the venv holds the code
    assert pytest_spec == "None"  # no dev extras

    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    data = tmp_path / "data"
    data.mkdir()
    environment = IMAGE_ENV | OWN_PATH
    environment |= {
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "HOME": str(blocker / "home"),
        "MODELREG_DATA_DIR": str(data),
    }
    entrypoint = [str(venv / "bin" / RUNTIME.last("ENTRYPOINT").value[0])]
    subcommand, *options = RUNTIME.last("CMD").value
    assert subcommand == "serve"

    refused = subprocess.run(
        [*entrypoint, subcommand, *options, "--port", str(free_port())],
        env={**os.environ, **environment},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "without authentication" in refused.stderr, refused.stderr

    environment["MODELREG_AUTH__METHODS"] = "token"  # what the deployer sets (the kustomize manifests do)
    log = tmp_path / "serve.log"
    with ServeProcess(free_port(), *options, env=environment, log=log, program=entrypoint) as server:
        assert httpx.get(f"{server.url}/readyz/health", timeout=30).text == "OK"
        assert httpx.get(f"{server.url}/login", timeout=30).status_code == 200  # templates shipped in the wheel
        unauthenticated = httpx.get(f"{server.url}/api/model_registry/v1alpha3/registered_models", timeout=30)
        assert unauthenticated.status_code == 401
    assert (data / "registry.db").is_file(), log.read_text()
    assert "serving on http://0.0.0.0:" in log.read_text()


# --- scripts/build-image ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("tools", [["bash"], ["bash", "docker"]], ids=["no engine", "docker without a daemon"])
def test_build_image_says_why_it_cannot_build(tmp_path: Path, tools: list[str]) -> None:
    """On a PATH with bash (and docker's CLI, talking to a socket where no daemon listens) and nothing else."""
    path = tmp_path / "bin"
    path.mkdir()
    for tool in tools:
        found = shutil.which(tool)
        if found is None:
            pytest.skip(f"{tool} is not installed here")
        (path / tool).symlink_to(found)
    built = subprocess.run(
        [str(ROOT / "scripts" / "build-image"), "modelreg:test"],
        env={"PATH": str(path), "DOCKER_HOST": f"unix://{tmp_path / 'no-daemon.sock'}"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert built.returncode == 1, built.stdout + built.stderr
    assert built.stderr.startswith("build-image: no container engine can build here:"), built.stderr
    assert "  podman: not installed" in built.stderr, built.stderr
    expected = (
        "  docker: installed, but its daemon is not reachable" if "docker" in tools else "  docker: not installed"
    )
    assert expected in built.stderr, built.stderr
    assert "command not found" not in built.stderr and built.stdout == "", built.stderr
