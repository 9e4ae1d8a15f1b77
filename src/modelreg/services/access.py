"""API tokens and role bindings: who may call, and with which role.

Tokens are 256-bit random strings shown once; only their SHA-256 is stored. A fast hash is the right one here:
the secret has full entropy, so there is nothing for a slow hash to protect against, and every request checks one.
Every change is audited (tokens by id, never their secret).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import orjson
from sqlalchemy import Connection, delete, select, update
from sqlalchemy.exc import IntegrityError

from modelreg.auth import context
from modelreg.auth.principal import Identity, Permission, Role
from modelreg.auth.tokens import TOKEN_PREFIX, secret_hash
from modelreg.db import repository
from modelreg.db.database import Database
from modelreg.db.tables import api_tokens, role_bindings
from modelreg.errors import Conflict, InvalidInput, NotFound, Unauthenticated
from modelreg.services import audit, clock

SUBJECT_KINDS = ("user", "group")
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_NAME = re.compile(r"^[^\x00-\x1f\x7f]{1,255}$")


def parse_duration(text: str) -> timedelta:
    """``30d``, ``12h``, ``90m``, ``2w``, ``45s``."""
    match = _DURATION.match(text)
    if not match or int(match.group(1)) == 0:
        raise InvalidInput(f"invalid duration {text!r}: use a positive number and a unit, e.g. 30d, 12h, 90m")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def check_subject(value: str, what: str) -> str:
    if not isinstance(value, str) or not _NAME.match(value) or value != value.strip():
        raise InvalidInput(f"invalid {what} {value!r}: 1 to 255 printable characters, no surrounding spaces")
    return value


@dataclass(frozen=True)
class TokenInfo:
    id: int
    user: str
    groups: tuple[str, ...]
    description: str | None
    created_by: str | None
    create_time: int
    expire_time: int | None
    revoke_time: int | None

    @property
    def active(self) -> bool:
        return self.revoke_time is None and (self.expire_time is None or self.expire_time > clock.now_ms())

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "user": self.user,
            "groups": list(self.groups),
            "description": self.description,
            "createdBy": self.created_by,
            "createTimeSinceEpoch": str(self.create_time),
            "expireTimeSinceEpoch": None if self.expire_time is None else str(self.expire_time),
            "revokeTimeSinceEpoch": None if self.revoke_time is None else str(self.revoke_time),
            "active": self.active,
        }


def _token_info(row: Any) -> TokenInfo:
    return TokenInfo(
        id=row["id"],
        user=row["user_name"],
        groups=tuple(orjson.loads(row["group_names"] or "[]")),
        description=row["description"],
        created_by=row["created_by"],
        create_time=row["create_time"],
        expire_time=row["expire_time"],
        revoke_time=row["revoke_time"],
    )


@dataclass(frozen=True)
class Binding:
    id: int
    subject_kind: str
    subject: str
    role: str
    created_by: str | None
    create_time: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "subjectKind": self.subject_kind,
            "subject": self.subject,
            "role": self.role,
            "createdBy": self.created_by,
            "createTimeSinceEpoch": str(self.create_time),
        }


_t = api_tokens.c
_BY_HASH = select(_t.user_name, _t.group_names, _t.expire_time, _t.revoke_time)
_b = role_bindings.c


class AccessService:
    """Tokens and role bindings over the database; the ``auth.tokens.TokenStore`` the authenticator reads."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # --- tokens ------------------------------------------------------------------------------------------------

    def create_token(
        self, user: str, groups: Iterable[str] = (), expires_in: timedelta | None = None, description: str | None = None
    ) -> tuple[str, TokenInfo]:
        """A new token for ``user`` (and ``groups``); returns the secret, which is never shown again."""
        actor = context.require(Permission.MANAGE, "create API tokens")
        check_subject(user, "user name")
        group_list = sorted({check_subject(g, "group name") for g in groups})
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = clock.now_ms()
        row = {
            "token_hash": secret_hash(secret),
            "user_name": user,
            "group_names": orjson.dumps(group_list).decode(),
            "description": description,
            "created_by": actor.user[:255],
            "create_time": now,
            "expire_time": None if expires_in is None else now + int(expires_in.total_seconds() * 1000),
            "revoke_time": None,
        }

        def run(conn: Connection) -> TokenInfo:
            row["id"] = repository.insert_row(conn, api_tokens, row)
            info = _token_info(row)
            shown = {k: v for k, v in info.to_dict().items() if k not in ("id", "active") and v is not None}
            audit.stage(conn, "create", "api_token", info.id, user, None, shown)
            return info

        return secret, self.db.run_write(run)

    def list_tokens(self, user: str | None = None, include_inactive: bool = False) -> list[TokenInfo]:
        query = select(api_tokens).order_by(_t.id)
        if user is not None:
            query = query.where(_t.user_name == user)
        with self.db.read() as conn:
            tokens = [_token_info(r) for r in conn.execute(query).mappings()]
        return tokens if include_inactive else [t for t in tokens if t.active]

    def revoke_token(self, token_id: int) -> TokenInfo:
        context.require(Permission.MANAGE, "revoke API tokens")

        def run(conn: Connection) -> TokenInfo:
            row: repository.AnyRow | None = repository.get_row(conn, api_tokens, token_id)
            if row is None:
                raise NotFound(f"no API token found for id {token_id}")
            if row["revoke_time"] is None:
                now = clock.now_ms()
                conn.execute(update(api_tokens).where(_t.id == token_id).values(revoke_time=now))
                audit.stage(
                    conn, "revoke", "api_token", token_id, row["user_name"], {"revoke_time": None}, {"revoke_time": now}
                )
                row = {**row, "revoke_time": now}
            return _token_info(row)

        return self.db.run_write(run)

    def identity_for_token(self, token: str) -> tuple[Identity, int | None]:
        """The identity a token stands for and when it expires (ms), or 401."""
        with self.db.read() as conn:
            row = conn.execute(_BY_HASH.where(_t.token_hash == secret_hash(token))).first()
        if row is None:
            raise Unauthenticated("invalid API token")
        user, groups, expire_time, revoke_time = row
        if revoke_time is not None:
            raise Unauthenticated("API token has been revoked")
        if expire_time is not None and expire_time <= clock.now_ms():
            raise Unauthenticated("API token has expired")
        return Identity(user, tuple(orjson.loads(groups or "[]")), "token"), expire_time

    # --- role bindings -----------------------------------------------------------------------------------------

    def create_binding(self, subject_kind: str, subject: str, role: str) -> Binding:
        actor = context.require(Permission.MANAGE, "manage role bindings")
        if subject_kind not in SUBJECT_KINDS:
            raise InvalidInput(f"invalid subject kind {subject_kind!r}: must be 'user' or 'group'")
        check_subject(subject, f"{subject_kind} name")
        if role not in {r.value for r in Role}:
            raise InvalidInput(f"invalid role {role!r}: must be one of admin, developer, viewer")
        row: dict[str, Any] = {
            "subject_kind": subject_kind,
            "subject": subject,
            "role": role,
            "created_by": actor.user[:255],
            "create_time": clock.now_ms(),
        }

        def run(conn: Connection) -> Binding:
            row["id"] = repository.insert_row(conn, role_bindings, row)
            audit.stage(
                conn,
                "create",
                "role_binding",
                row["id"],
                f"{subject_kind}:{subject}",
                None,
                {"subject_kind": subject_kind, "subject": subject, "role": role},
            )
            return Binding(**row)

        try:
            return self.db.run_write(run)
        except IntegrityError:
            raise Conflict(f"{subject_kind} {subject!r} already has the role {role!r}") from None

    def ensure_binding(self, subject_kind: str, subject: str, role: str) -> Binding:
        """Create the binding unless it exists (seed jobs re-run)."""
        for binding in self.list_bindings(subject=subject):
            if binding.subject_kind == subject_kind and binding.role == role:
                return binding
        try:
            return self.create_binding(subject_kind, subject, role)
        except Conflict:
            return next(b for b in self.list_bindings(subject=subject) if b.role == role)

    def list_bindings(self, subject: str | None = None, role: str | None = None) -> list[Binding]:
        query = select(role_bindings).order_by(_b.id)
        if subject is not None:
            query = query.where(_b.subject == subject)
        if role is not None:
            query = query.where(_b.role == role)
        with self.db.read() as conn:
            return [Binding(**r) for r in conn.execute(query).mappings()]

    def delete_binding(self, binding_id: int) -> Binding:
        context.require(Permission.MANAGE, "manage role bindings")

        def run(conn: Connection) -> Binding:
            row = repository.get_row(conn, role_bindings, binding_id)
            if row is None:
                raise NotFound(f"no role binding found for id {binding_id}")
            conn.execute(delete(role_bindings).where(_b.id == binding_id))
            binding = Binding(**row)
            audit.stage(
                conn,
                "delete",
                "role_binding",
                binding_id,
                f"{binding.subject_kind}:{binding.subject}",
                {"subject_kind": binding.subject_kind, "subject": binding.subject, "role": binding.role},
                None,
            )
            return binding

        return self.db.run_write(run)

    def binding_table(self) -> dict[tuple[str, str], frozenset[Role]]:
        """Every binding, as (subject kind, subject) → roles: small enough to hold in memory and cache."""
        out: dict[tuple[str, str], set[Role]] = {}
        with self.db.read() as conn:
            for kind, subject, role in conn.execute(select(_b.subject_kind, _b.subject, _b.role)):
                if role in Role.__members__.values():
                    out.setdefault((kind, subject), set()).add(Role(role))
        return {k: frozenset(v) for k, v in out.items()}
