"""pytest fixtures over the emulator, imported by the conftest of each test package that needs a cluster
(tests/deploy, tests/kube): ``emulator`` (a fresh one per test, with the reference CRDs and the namespaces below)
and ``kube`` (modelreg's client for it: mode url, token "t")."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from modelreg.kube.client import Kube
from modelreg.settings import ClusterSettings

from . import Emulator, reference_crds, running_emulator

TOKEN = "t"
# team-a, team-b: ordinary projects; prod-a: labelled production (deploy policies); opendatahub: the platform's
NAMESPACES = {"team-a": {}, "team-b": {}, "prod-a": {"environment": "production"}, "opendatahub": {}}


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with running_emulator(crds=reference_crds(), namespaces=NAMESPACES) as running:
        yield running
        assert not running.server_errors, "the emulator failed itself:\n" + "\n".join(running.server_errors)


def kube_for(emulator: Emulator, **settings: object) -> Kube:
    """A client for the emulator (mode url, token "t"); ``settings`` override `ClusterSettings` fields."""
    return Kube(ClusterSettings.model_validate({"mode": "url", "api_url": emulator.url, "token": TOKEN, **settings}))


@pytest.fixture
def kube(emulator: Emulator) -> Iterator[Kube]:
    client = kube_for(emulator)
    yield client
    client.close()
