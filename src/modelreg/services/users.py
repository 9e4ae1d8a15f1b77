"""Local accounts for the web UI's "password" login (``--auth password``).

Passwords are kept as Argon2id hashes (argon2-cffi's defaults, parameters stored in the hash, so raising them
later rehashes on the next login). ``verify`` costs the same for an unknown or disabled user as for a known one
(it checks a dummy hash), so response time does not tell which users exist. Every change is audited, never with
the password or its hash; changing a password, disabling or deleting a user ends that user's password sessions.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, delete, select, update
from sqlalchemy.exc import IntegrityError

from modelreg.auth import context
from modelreg.auth.principal import Permission
from modelreg.db import repository
from modelreg.db.database import Database
from modelreg.db.tables import local_users, ui_sessions
from modelreg.errors import Conflict, InvalidInput, NotFound
from modelreg.services import audit, clock
from modelreg.services.access import AccessService, check_subject

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024  # hashing is deliberately slow; a megabyte "password" must not make it slower
_u = local_users.c


@dataclass(frozen=True)
class LocalUser:
    id: int
    username: str
    groups: tuple[str, ...]
    disabled: bool
    created_by: str | None
    create_time: int
    last_update_time: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "username": self.username,
            "groups": list(self.groups),
            "disabled": self.disabled,
            "createdBy": self.created_by,
            "createTimeSinceEpoch": str(self.create_time),
            "lastUpdateTimeSinceEpoch": str(self.last_update_time),
        }


def _user(row: Any) -> LocalUser:
    return LocalUser(
        id=row["id"],
        username=row["username"],
        groups=tuple(orjson.loads(row["group_names"] or "[]")),
        disabled=bool(row["disabled"]),
        created_by=row["created_by"],
        create_time=row["create_time"],
        last_update_time=row["last_update_time"],
    )


def check_password(password: str) -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput(f"the password must have at most {MAX_PASSWORD_LENGTH} characters")
    return password


class UserService:
    """Local users over the database. Changes need the ``manage`` permission (admins, the CLI)."""

    def __init__(self, db: Database, hasher: PasswordHasher | None = None) -> None:
        self.db = db
        self.hasher = hasher or PasswordHasher()

    @functools.cached_property
    def _dummy_hash(self) -> str:
        """Checked for unknown users, so they cost what known ones do; made on first use (hashing is slow)."""
        return self.hasher.hash("not a password of anyone")

    def create(self, username: str, password: str, groups: Iterable[str] = ()) -> LocalUser:
        actor = context.require(Permission.MANAGE, "create local users")
        check_subject(username, "user name")
        group_list = sorted({check_subject(g, "group name") for g in groups})
        password_hash = self.hasher.hash(check_password(password))
        now = clock.now_ms()
        row: dict[str, Any] = {
            "username": username,
            "password_hash": password_hash,
            "group_names": orjson.dumps(group_list).decode(),
            "disabled": False,
            "created_by": actor.user[:255],
            "create_time": now,
            "last_update_time": now,
        }

        def run(conn: Connection) -> LocalUser:
            row["id"] = repository.insert_row(conn, local_users, row)
            user = _user(row)
            audit.stage(
                conn, "create", "local_user", user.id, username, None, {"groups": group_list, "disabled": False}
            )
            return user

        try:
            return self.db.run_write(run)
        except IntegrityError:
            raise Conflict(f"local user {username!r} already exists") from None

    def get(self, username: str) -> LocalUser:
        with self.db.read() as conn:
            row = conn.execute(select(local_users).where(_u.username == username)).mappings().first()
        if row is None:
            raise NotFound(f"no local user {username!r}")
        return _user(row)

    def list(self) -> list[LocalUser]:
        with self.db.read() as conn:
            return [_user(r) for r in conn.execute(select(local_users).order_by(_u.username)).mappings()]

    def set_password(self, username: str, password: str) -> LocalUser:
        context.require(Permission.MANAGE, "change local users' passwords")
        password_hash = self.hasher.hash(check_password(password))
        return self._change(username, {"password_hash": password_hash}, {"password": "(changed)"}, end_sessions=True)

    def set_groups(self, username: str, groups: Iterable[str]) -> LocalUser:
        context.require(Permission.MANAGE, "change local users' groups")
        group_list = sorted({check_subject(g, "group name") for g in groups})
        return self._change(username, {"group_names": orjson.dumps(group_list).decode()}, {"groups": group_list})

    def set_disabled(self, username: str, disabled: bool) -> LocalUser:
        context.require(Permission.MANAGE, "disable or enable local users")
        return self._change(username, {"disabled": disabled}, {"disabled": disabled}, end_sessions=disabled)

    def delete(self, username: str) -> LocalUser:
        context.require(Permission.MANAGE, "delete local users")

        def run(conn: Connection) -> LocalUser:
            row = conn.execute(select(local_users).where(_u.username == username)).mappings().first()
            if row is None:
                raise NotFound(f"no local user {username!r}")
            user = _user(row)
            conn.execute(delete(local_users).where(_u.id == user.id))
            _end_sessions(conn, username)
            audit.stage(
                conn,
                "delete",
                "local_user",
                user.id,
                username,
                {"groups": list(user.groups), "disabled": user.disabled},
                None,
            )
            return user

        return self.db.run_write(run)

    def _change(
        self, username: str, values: dict[str, Any], shown: dict[str, Any], *, end_sessions: bool = False
    ) -> LocalUser:
        def run(conn: Connection) -> LocalUser:
            row = conn.execute(select(local_users).where(_u.username == username)).mappings().first()
            if row is None:
                raise NotFound(f"no local user {username!r}")
            now = clock.now_ms()
            conn.execute(update(local_users).where(_u.id == row["id"]).values(**values, last_update_time=now))
            if end_sessions:
                _end_sessions(conn, username)
            before = _user(row)
            before_shown = {"groups": list(before.groups), "disabled": before.disabled, "password": "(previous)"}
            audit.stage(conn, "update", "local_user", row["id"], username, {k: before_shown[k] for k in shown}, shown)
            return _user({**row, **values, "last_update_time": now})

        return self.db.run_write(run)

    # --- logging in (no caller: the visitor is not anyone yet) ---------------------------------------------------

    def verify(self, username: str, password: str) -> LocalUser | None:
        """The user if the password is theirs and the account is enabled, else None, in about the same time."""
        dummy = self._dummy_hash  # made before the lookup, so the first login of any name costs the same
        with self.db.read() as conn:
            row = conn.execute(select(local_users).where(_u.username == username)).mappings().first()
        encoded = row["password_hash"] if row is not None else dummy
        try:
            self.hasher.verify(encoded, password[:MAX_PASSWORD_LENGTH])
        except (VerificationError, InvalidHashError):
            return None
        if row is None or row["disabled"]:
            return None
        if self.hasher.check_needs_rehash(encoded):
            with self.db.write() as conn:
                conn.execute(
                    update(local_users)
                    .where(_u.id == row["id"])
                    .values(password_hash=self.hasher.hash(password[:MAX_PASSWORD_LENGTH]))
                )
        return _user(row)


def _end_sessions(conn: Connection, username: str) -> None:
    conn.execute(delete(ui_sessions).where(ui_sessions.c.user_name == username, ui_sessions.c.method == "password"))


# --- the platform's demo users (``modelreg seed --demo-users``) ------------------------------------------------------

# (user, groups, role bound to the user itself): the admin and the developer get their roles through their groups
# (services/seed.py binds both users and groups); the viewer, in no group, is bound directly.
DEMO_USERS: tuple[tuple[str, tuple[str, ...], str | None], ...] = (
    ("ai-admin", ("rhoai-admins",), None),
    ("ai-developer", ("rhoai-users",), None),
    ("ai-viewer", (), "viewer"),
)


def seed_demo_users(users: UserService, access: AccessService, password: str) -> list[str]:
    """Create the demo users, or reset their password, groups and enabled state (a seed job re-runs)."""
    check_password(password)
    names = []
    for username, groups, role in DEMO_USERS:
        try:
            current = users.get(username)
        except NotFound:
            users.create(username, password, groups)
        else:
            users.set_password(username, password)
            if current.groups != groups:
                users.set_groups(username, groups)
            if current.disabled:
                users.set_disabled(username, False)
        if role is not None:
            access.ensure_binding("user", username, role)
        names.append(username)
    return names
