"""The wizard's options: hardware profiles, data connections and serving runtimes (from `TargetService`, the
cluster's or modelreg's own), each with what the page says about it (resources, location, formats) and its marks
(the runtime suggested for the model's format and the chosen profile, the runtimes compatible with it, the
connections that hold the model's location); the defaults of a new wizard; and the namespaces a cluster offers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request

from modelreg.deploy.planner import DEFAULT_FORMAT
from modelreg.deploy.store import Deployment
from modelreg.deploy.targets import (
    ConnectionTarget,
    HardwareProfile,
    RuntimeTemplate,
    match_connections,
    suggest_runtime,
)
from modelreg.errors import RegistryError
from modelreg.kube.client import Kube
from modelreg.kube.errors import KubeError
from modelreg.kube.kinds import NAMESPACE
from modelreg.ui import app_state
from modelreg.ui.deploy_view import Subject, WizardForm

SUGGESTED = ("Suggested", "success", "suggested")
COMPATIBLE = ("Compatible with the profile", "info", "compatible")
MATCHES = ("Holds the model's location", "success", "", True)
Mark = tuple[str, str, str, bool]  # text, pill kind, data-mark (for app.js), shown


@dataclass(frozen=True, slots=True)
class Option:
    """One radio choice: its value, name, a line about it, facts, marks and data attributes for app.js (which
    shows and hides the runtimes' marks when another profile is picked)."""

    value: str
    text: str
    description: str | None = None
    facts: tuple[str, ...] = ()
    marks: tuple[Mark, ...] = ()
    data: dict[str, str] = field(default_factory=dict)


@dataclass
class Choices:
    profiles: list[Option]
    connections: list[Option]
    runtimes: list[Option]
    defaults: dict[str, str]
    namespaces: list[tuple[str, str]] | None  # (value, text) with a cluster; None: a text field

    def check(self, form: WizardForm) -> None:
        """Each chosen target must be one offered (a forged or stale hidden field is refused here)."""
        for name, options, what in (
            ("profile", self.profiles, "hardware profile"),
            ("connection", self.connections, "data connection"),
            ("runtime", self.runtimes, "serving runtime"),
        ):
            value = form.values.get(name, "")
            if value and value not in {o.value for o in options}:
                form.errors.setdefault(
                    name, f"There is no {what} {value[:63]!r} to deploy with: choose one of the list."
                )
        chosen = form.values.get("namespace")
        if self.namespaces is not None and chosen and chosen not in {v for v, _ in self.namespaces}:
            form.errors.setdefault("namespace", "Choose one of the cluster's namespaces.")

    def summary(self, form: WizardForm) -> list[tuple[str, str]]:
        """The review step's list of what was chosen, in the names people read."""

        def text(options: list[Option], value: str, empty: str) -> str:
            return next((o.text for o in options if o.value == value), value or empty)

        values = form.values
        return [
            ("Hardware profile", text(self.profiles, values["profile"], "—")),
            ("Data connection", text(self.connections, values["connection"], "—")),
            ("Serving runtime", text(self.runtimes, values["runtime"], "Suggested for the model")),
            ("Model deployment name", values["display_name"]),
            ("Resource name", values["name"]),
            ("Project (namespace)", values["namespace"]),
            ("Replicas", values["replicas"]),
            ("External route", "Yes" if values["external_route"] else "No"),
            ("Token authentication", "Yes" if values["token_auth"] else "No"),
        ]


def choices(request: Request, subject: Subject, form: WizardForm) -> Choices:
    """Every option, marked for ``subject`` and the form's chosen profile; the defaults of a new wizard."""
    service = app_state.deploy_targets(request)
    profiles = service.profiles()
    runtimes = service.runtimes()
    namespace = form.values.get("namespace") or None
    connections = service.connections(namespace)
    profile_name = form.values.get("profile") or (profiles[0].name if profiles else "")
    profile = next((p for p in profiles if p.name == profile_name), None)
    suggestions = {p.name: _suggest(runtimes, subject, p) for p in profiles}
    matching = {c.name for c in match_connections(subject.uri, connections)} if subject.uri else set()
    defaults = {"profile": profile_name}
    suggested = suggestions.get(profile_name)
    if suggested is not None:
        defaults["runtime"] = suggested
    preferred = [c.name for c in connections if c.name == subject.storage_key] or sorted(matching)
    if len(preferred) == 1:
        defaults["connection"] = preferred[0]
    elif len(connections) == 1:
        defaults["connection"] = connections[0].name
    namespaces = _namespaces(request.app.state.kube, form.values.get("namespace", ""))
    return Choices(
        profiles=[_profile_option(p, suggestions.get(p.name)) for p in profiles],
        connections=[_connection_option(c, c.name in matching) for c in connections],
        runtimes=[_runtime_option(r, subject, profile, profiles, suggested) for r in runtimes],
        defaults=defaults,
        namespaces=None if namespaces is None else [(n, n) for n in namespaces],
    )


def _namespaces(kube: Kube | None, chosen: str) -> list[str] | None:
    """The cluster's namespaces for the project select (the chosen one kept); None without a cluster, or when
    they cannot be listed (a service account allowed into some namespaces only): the page asks for a name."""
    if kube is None:
        return None
    try:
        found, _ = kube.list(NAMESPACE)
    except KubeError:
        return None
    names = {str((ns.get("metadata") or {}).get("name", "")) for ns in found}
    return sorted(n for n in names | ({chosen} if chosen else set()) if n)


def _suggest(runtimes: Sequence[RuntimeTemplate], subject: Subject, profile: HardwareProfile) -> str | None:
    """The runtime the deploy picks when none is named (a model without a format deploys as vLLM, as the
    dashboard's does)."""
    found = suggest_runtime(
        runtimes, subject.format_name or DEFAULT_FORMAT, subject.format_version, profile.accelerators
    )
    return None if found is None else found.name


def _count(value: int | str | None) -> str:
    return "—" if value is None else str(value)


def _profile_option(profile: HardwareProfile, suggested_runtime: str | None) -> Option:
    facts = tuple(f"{i.display_name} {_count(i.default_count)}" for i in profile.identifiers)
    data = {"suggest": suggested_runtime or "", "accelerators": " ".join(profile.accelerators)}
    return Option(profile.name, profile.display_name, profile.description, facts, data=data)


def _connection_option(connection: ConnectionTarget, matches: bool) -> Option:
    if connection.type == "s3":
        where = f"s3 bucket {connection.bucket or '—'}" + (f" at {connection.endpoint}" if connection.endpoint else "")
    else:
        where = f"{connection.type} {connection.uri or ''}".strip()
    facts = (where, "in the project already" if connection.in_namespace else f"{connection.origin} connection")
    return Option(connection.name, connection.display_name, None, facts, (MATCHES,) if matches else ())


def _runtime_option(
    runtime: RuntimeTemplate,
    subject: Subject,
    profile: HardwareProfile | None,
    profiles: Sequence[HardwareProfile],
    suggested: str | None,
) -> Option:
    formats = ", ".join(f"{f.name} {f.version}" if f.version else f.name for f in runtime.model_formats)
    facts: tuple[str, ...] = (f"Formats: {formats or '—'}",)
    marks = (
        (*SUGGESTED, runtime.name == suggested),
        (*COMPATIBLE, profile is not None and runtime.compatible_with(profile.accelerators)),
    )
    data = {"compatible": " ".join(p.name for p in profiles if runtime.compatible_with(p.accelerators))}
    if subject.format_name and not runtime.supports(subject.format_name, subject.format_version):
        facts = (*facts, f"Does not serve {subject.format}")
    return Option(runtime.name, runtime.display_name, runtime.description, facts, marks, data)


def _mode_text(deployment: Deployment) -> str:
    if deployment.mode == "gitops":
        return "GitOps folder"
    return "made elsewhere, adopted from the cluster" if deployment.adopted else "applied to the cluster"


def details(request: Request, deployment: Deployment) -> list[tuple[str, str]]:
    """A deployment's targets and choices as its page lists them: display names where the target is still there
    (a deleted profile or runtime keeps its name)."""
    service = app_state.deploy_targets(request)
    req = deployment.request

    def shown(name: str | None, find: Callable[[str], Any]) -> str:
        if not name:
            return "—"
        try:
            return f"{find(name).display_name} ({name})"
        except RegistryError:
            return name

    return [
        ("Project (namespace)", deployment.namespace),
        ("Resource name", deployment.name),
        ("Hardware profile", shown(deployment.hardware_profile, service.profile)),
        ("Data connection", shown(deployment.connection, lambda n: service.connection(n, deployment.namespace))),
        ("Serving runtime", shown(deployment.runtime, service.runtime)),
        ("Replicas", str(req.get("replicas", 1))),
        ("External route", "Yes" if req.get("externalRoute") else "No"),
        ("Token authentication", "Yes" if req.get("tokenAuth") else "No"),
        ("Mode", _mode_text(deployment)),
    ]
