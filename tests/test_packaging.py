"""The package builds as ``scripts/setup`` builds it (pip, isolated build environment), without setuptools' warnings
(the license used to be a deprecated TOML table, warned three times per install), and the wheel carries the SPDX
license expression and the license text."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import modelreg

ROOT = Path(__file__).resolve().parents[1]


def test_the_wheel_builds_without_warnings_and_carries_its_license(tmp_path: Path) -> None:
    project = tmp_path / "project"  # a copy: an in-tree build would leave build/ and egg-info behind
    project.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, project / name)
    shutil.copytree(ROOT / "src", project / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(tmp_path / "dist"), str(project)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = built.stdout + built.stderr
    assert built.returncode == 0, output[-4000:]
    warnings = [line for line in output.splitlines() if re.search(r"warning|deprecat", line, re.IGNORECASE)]
    assert warnings == [], "\n".join(warnings)

    wheel = next((tmp_path / "dist").glob("modelreg-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        info = f"modelreg-{modelreg.__version__}.dist-info"
        metadata = archive.read(f"{info}/METADATA").decode()
        assert "License-Expression: Apache-2.0" in metadata, metadata[:2000]
        assert "Apache License" in archive.read(f"{info}/licenses/LICENSE").decode()


def test_every_requirement_has_an_upper_bound() -> None:
    """A new major (or, below 1.0, minor) release must not change what the type check and the tests see unnoticed:
    every runtime and dev requirement names a ceiling."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"].values()
    requirements = [*project["dependencies"], *(r for extra in extras for r in extra)]
    assert requirements
    unbounded = [r for r in requirements if not re.search(r"<|==|~=", r)]
    assert unbounded == [], unbounded
