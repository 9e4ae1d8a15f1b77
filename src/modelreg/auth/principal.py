"""Roles, permissions and the authenticated caller.

Three roles, each including the one below: ``viewer`` reads; ``developer`` also creates, updates, registers,
promotes and deploys; ``admin`` also archives, restores, deletes and manages role bindings and tokens.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum


class Role(StrEnum):
    VIEWER = "viewer"
    DEVELOPER = "developer"
    ADMIN = "admin"


class Permission(StrEnum):
    READ = "read"
    WRITE = "write"  # create, update, register
    PROMOTE = "promote"  # move a model version between lifecycle stages (the policy may ask for more)
    DEPLOY = "deploy"
    ARCHIVE = "archive"  # archive and restore
    DELETE = "delete"  # hard delete of archived entities
    MANAGE = "manage"  # role bindings and API tokens
    AUDIT = "audit"  # read and verify the audit trail (every role: "who promoted this, and when" is for all)


_VIEWER = frozenset({Permission.READ, Permission.AUDIT})
_DEVELOPER = _VIEWER | {Permission.WRITE, Permission.PROMOTE, Permission.DEPLOY}
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: _VIEWER,
    Role.DEVELOPER: frozenset(_DEVELOPER),
    Role.ADMIN: frozenset(Permission),
}


@dataclass(frozen=True)
class Identity:
    """Who the credentials say the caller is, before role bindings are applied."""

    user: str
    groups: tuple[str, ...] = ()
    method: str = "token"  # token | oidc | proxy | local | cli | system


@dataclass(frozen=True)
class Principal:
    identity: Identity
    roles: frozenset[Role] = field(default_factory=frozenset)

    @property
    def user(self) -> str:
        return self.identity.user

    @property
    def groups(self) -> tuple[str, ...]:
        return self.identity.groups

    @property
    def permissions(self) -> frozenset[Permission]:
        out: frozenset[Permission] = frozenset()
        for role in self.roles:
            out |= ROLE_PERMISSIONS[role]
        return out

    def can(self, permission: Permission) -> bool:
        return any(permission in ROLE_PERMISSIONS[role] for role in self.roles)

    def has_role(self, roles: Iterable[Role | str]) -> bool:
        return any(Role(r) in self.roles for r in roles) or Role.ADMIN in self.roles


def admin(user: str, method: str) -> Principal:
    """A caller with every permission: local mode, the CLI working on the database directly, internal jobs."""
    return Principal(Identity(user, (), method), frozenset({Role.ADMIN}))
