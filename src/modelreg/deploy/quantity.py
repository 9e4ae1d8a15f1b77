"""Kubernetes resource quantities ("500m", "4Gi", "1.5", "2e3") as exact numbers, so a hardware profile's counts can
be compared the way the API server compares them ("1024Mi" equals "1Gi", "500m" is less than "1")."""

from __future__ import annotations

import re
from decimal import Context, Decimal, InvalidOperation

# Binary suffixes are powers of 1024, decimal ones powers of 1000; "m" is a thousandth, as in "500m" CPUs.
_SUFFIXES: dict[str, Decimal] = {
    "": Decimal(1),
    **{s: Decimal(10) ** e for s, e in zip("numkMGTPE", (-9, -6, -3, 3, 6, 9, 12, 15, 18), strict=True)},
    **{f"{s}i": Decimal(2) ** (10 * n) for n, s in enumerate("KMGTPE", start=1)},
}
# The grammar of k8s.io/apimachinery's resource.Quantity: a signed decimal, then a suffix or a decimal exponent.
_QUANTITY = re.compile(
    r"^(?P<number>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"(?:(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])|[eE](?P<exp>[+-]?[0-9]+))?$"
)
_MAX_LENGTH = 64
_EXACT = Context(prec=200)  # enough digits for any 64-character quantity times 2**60, so nothing rounds


class InvalidQuantity(ValueError):
    """Not a Kubernetes quantity."""


def parse_quantity(value: int | str) -> Decimal:
    """The exact value of a quantity; an int is taken as is. `InvalidQuantity` for anything else (a bool, "4 Gi",
    "4gi", "1e400000": exponents are bounded, as the API server bounds them)."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidQuantity(f"{value!r} is not a quantity (an integer or a string such as 500m, 4Gi)")
    if isinstance(value, int):
        return Decimal(value)
    match = _QUANTITY.match(value) if len(value) <= _MAX_LENGTH else None
    if match is None:
        raise InvalidQuantity(f"{value[:_MAX_LENGTH]!r} is not a quantity (such as 2, 500m, 4Gi, 1.5, 1e3)")
    try:
        number = Decimal(match["number"])
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        raise InvalidQuantity(f"{value!r} is not a quantity") from None
    if match["exp"] is not None:
        exponent = int(match["exp"])
        if abs(exponent) > 30:
            raise InvalidQuantity(f"{value!r}: the exponent is out of range")
        return number.scaleb(exponent, _EXACT)
    return _EXACT.multiply(number, _SUFFIXES[match["suffix"] or ""])
