"""The settings pages' form handling: posted fields → service arguments, and service errors → the field they are
about. The rules stay in the services; this module only checks what a form adds (a blank field, a comma list) and
says where an error belongs, so the page can show it next to the field that caused it. Also the words the sources
page uses for a catalog source's status.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import Any

from modelreg.auth.principal import Role
from modelreg.catalog.models import Source, SourceStatus
from modelreg.errors import InvalidInput
from modelreg.services.access import SUBJECT_KINDS, check_subject, parse_duration
from modelreg.services.users import check_password

ROLES = tuple(r.value for r in Role)
# As the tokens API accepts: a positive number (at most 6 digits, so the expiry always fits) and a unit.
_EXPIRY = re.compile(r"^[1-9][0-9]{0,5}[smhdw]$")
_DESCRIPTION_LENGTH = 1000
_MAX_GROUPS = 100

# The connection form's fields per type (the service refuses the others), and the write-only ones, which are never
# put back into a re-rendered form.
CONNECTION_FIELDS: dict[str, tuple[str, ...]] = {
    "s3": ("endpoint", "region", "bucket", "prefix", "access_key_id", "secret_access_key"),
    "uri": ("base_url",),
    "local": ("directory",),
}
CONNECTION_FLAGS = ("path_style", "use_workload_identity")  # s3 checkboxes
WRITE_ONLY = frozenset({"access_key_id", "secret_access_key"})
# A service message names its field by its wire name; the first match wins (so "give both accessKeyId and
# secretAccessKey" lands on the first of the two).
_MESSAGE_FIELDS = (
    ("connection name", "name"),
    ("'name'", "name"),
    ("already exists", "name"),
    ("reserved", "name"),
    ("connection type", "type"),
    ("accessKeyId", "access_key_id"),
    ("secretAccessKey", "secret_access_key"),
    ("useWorkloadIdentity", "use_workload_identity"),
    ("bucket", "bucket"),
    ("endpoint", "endpoint"),
    ("region", "region"),
    ("prefix", "prefix"),
    ("baseUrl", "base_url"),
    ("directory", "directory"),
)

STATUS_TEXT = {
    SourceStatus.AVAILABLE: "Available",
    SourceStatus.PARTIALLY_AVAILABLE: "Partially available",
    SourceStatus.ERROR: "Failed",
    SourceStatus.DISABLED: "Disabled",
}


def source_status(source: Source) -> str:
    """The settings page's words for a source's status (the reference UI's), "Starting" before its first load."""
    if not source.enabled:
        return "Disabled"
    return "Starting" if source.status is None else STATUS_TEXT[source.status]


@dataclass
class FormResult:
    """A parsed form: the values to show again, the errors per field ("" for the form as a whole)."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def check(self, name: str, test: Callable[[], Any]) -> Any:
        """``test()``, or None with its InvalidInput message recorded against ``name``."""
        try:
            return test()
        except InvalidInput as exc:
            self.errors.setdefault(name, exc.message)
            return None


def _text(fields: Mapping[str, str], name: str) -> str:
    return fields.get(name, "").strip()


def _groups(form: FormResult, text: str) -> tuple[str, ...]:
    """A comma-separated list of group names (blank entries dropped)."""
    groups = tuple(dict.fromkeys(g.strip() for g in text.split(",") if g.strip()))
    if len(groups) > _MAX_GROUPS:
        form.errors["groups"] = f"At most {_MAX_GROUPS} groups."
    for group in groups:
        form.check("groups", partial(check_subject, group, "group name"))
    return groups


@dataclass
class BindingForm(FormResult):
    def parse(self, fields: Mapping[str, str]) -> BindingForm:
        self.values = {
            "kind": _text(fields, "kind"),
            "subject": _text(fields, "subject"),
            "role": _text(fields, "role"),
        }
        if self.values["kind"] not in SUBJECT_KINDS:
            self.errors["kind"] = "Choose user or group."
        if self.values["role"] not in ROLES:
            self.errors["role"] = f"Choose one of {', '.join(ROLES)}."
        if not self.values["subject"]:
            self.errors["subject"] = "Enter a user or group name."
        else:
            self.check("subject", lambda: check_subject(self.values["subject"], "name"))
        return self


@dataclass
class TokenForm(FormResult):
    groups: tuple[str, ...] = ()
    expires_in: timedelta | None = None

    def parse(self, fields: Mapping[str, str]) -> TokenForm:
        self.values = {
            "user": _text(fields, "user"),
            "groups": _text(fields, "groups"),
            "expires": _text(fields, "expires"),
            "description": _text(fields, "description"),
        }
        if not self.values["user"]:
            self.errors["user"] = "Enter the user the token acts as."
        else:
            self.check("user", lambda: check_subject(self.values["user"], "user name"))
        self.groups = _groups(self, self.values["groups"])
        expires = self.values["expires"]
        if expires and not _EXPIRY.match(expires):
            self.errors["expires"] = f"Invalid expiry {expires[:40]!r}: a number and a unit, e.g. 30d, 12h, 90m, 2w."
        elif expires:
            self.expires_in = self.check("expires", lambda: parse_duration(expires))
        if len(self.values["description"]) > _DESCRIPTION_LENGTH:
            self.errors["description"] = f"At most {_DESCRIPTION_LENGTH} characters."
        return self


@dataclass
class ConnectionForm(FormResult):
    """The create form's fields, narrowed to the chosen type. Write-only fields never reach ``values``."""

    arguments: dict[str, Any] = field(default_factory=dict)

    def parse(self, fields: Mapping[str, str]) -> ConnectionForm:
        kind = _text(fields, "type")
        self.values = {"name": _text(fields, "name"), "type": kind, "description": _text(fields, "description")}
        if not self.values["name"]:
            self.errors["name"] = "Enter a name."
        if kind not in CONNECTION_FIELDS:
            self.errors["type"] = f"Choose one of {', '.join(CONNECTION_FIELDS)}."
            return self
        if len(self.values["description"]) > _DESCRIPTION_LENGTH:
            self.errors["description"] = f"At most {_DESCRIPTION_LENGTH} characters."
        for name in CONNECTION_FIELDS[kind]:
            # Secrets are taken as typed (a key may end in a space); the other fields are trimmed.
            value = fields.get(name, "") if name in WRITE_ONLY else _text(fields, name)
            if name not in WRITE_ONLY:
                self.values[name] = value
            self.arguments[name] = value or None
        if kind == "s3":
            for flag in CONNECTION_FLAGS:
                self.arguments[flag] = bool(fields.get(flag))
                self.values[flag] = "on" if self.arguments[flag] else ""
        self.values["check"] = "on" if fields.get("check") else ""
        self.arguments.update(
            name=self.values["name"],
            type=kind,
            description=self.values["description"] or None,
            check=bool(fields.get("check")),
        )
        return self

    def service_error(self, message: str) -> None:
        """Put a service error next to the field it names (the form as a whole when it names none)."""
        self.errors.setdefault(field_for(message), message)


def field_for(message: str) -> str:
    return next((name for key, name in _MESSAGE_FIELDS if key in message), "")


def _password(form: FormResult, fields: Mapping[str, str]) -> str:
    """The new password and its confirmation, checked; neither ever goes back into ``values``."""
    password, confirm = fields.get("password", ""), fields.get("confirm", "")
    if form.check("password", lambda: check_password(password)) is not None and password != confirm:
        form.errors["confirm"] = "The two passwords differ."
    return password


@dataclass
class UserForm(FormResult):
    groups: tuple[str, ...] = ()
    password: str = ""

    def parse(self, fields: Mapping[str, str]) -> UserForm:
        self.values = {"username": _text(fields, "username"), "groups": _text(fields, "groups")}
        if not self.values["username"]:
            self.errors["username"] = "Enter a user name."
        else:
            self.check("username", lambda: check_subject(self.values["username"], "user name"))
        self.groups = _groups(self, self.values["groups"])
        self.password = _password(self, fields)
        return self


@dataclass
class PasswordForm(FormResult):
    password: str = ""

    def parse(self, fields: Mapping[str, str]) -> PasswordForm:
        self.password = _password(self, fields)
        return self
