"""Domain errors. Services raise these; ``api/errors.py`` turns them into HTTP responses in one place.

RegistryError
 ├── InvalidInput     bad request: the input breaks a rule (400)
 │    ├── MissingField  a required field is absent (422, as the Kubeflow server answers)
 │    └── LengthRequired  a streamed body must say its size up front (411)
 ├── Unauthenticated  no valid credentials (401)
 ├── Forbidden        valid credentials without the permission (403)
 ├── NotFound         the entity or its parent does not exist (404)
 ├── Conflict         a name or externalId is taken (409)
 ├── Unprocessable    well-formed input that cannot be used, e.g. a catalog source preview's config (422)
 ├── BadGateway       a store behind a data connection refused or failed (502)
 └── Unavailable      the database or a store cannot be reached (503)
"""

from __future__ import annotations


class RegistryError(Exception):
    status_code = 500
    code: str | None = None  # the error body's "code"; None means the status phrase

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(RegistryError):
    status_code = 400


class MissingField(InvalidInput):
    status_code = 422
    code = "Bad Request"  # as the reference server answers, and upstream tests assert


class LengthRequired(InvalidInput):
    status_code = 411


class Unauthenticated(RegistryError):
    status_code = 401


class Forbidden(RegistryError):
    status_code = 403


class NotFound(RegistryError):
    status_code = 404


class Conflict(RegistryError):
    status_code = 409


class Unprocessable(RegistryError):
    status_code = 422


class BadGateway(RegistryError):
    status_code = 502


class Unavailable(RegistryError):
    status_code = 503
