"""Errors of the filter language. Both are ``ValueError`` so callers can map them to one 400 response.

    FilterError(ValueError)
     ├── FilterSyntaxError   the text is not a filter query (raised by ``parse``)
     └── FilterTypeError     the query is well formed but compares a field or property with a value of the
                             wrong type, or uses an operator that does not apply to it (raised by ``to_where``)

Both carry ``position``, the 0-based character offset in the query that the error refers to.
"""

from __future__ import annotations


class FilterError(ValueError):
    def __init__(self, message: str, position: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.position = position


class FilterSyntaxError(FilterError):
    pass


class FilterTypeError(FilterError):
    pass
