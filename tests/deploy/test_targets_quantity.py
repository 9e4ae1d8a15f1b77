"""Kubernetes quantities as exact numbers: the examples hardware profiles use, and properties over generated ones
(suffix arithmetic, binary and decimal units agreeing, and nothing but `InvalidQuantity` for junk)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelreg.deploy.quantity import InvalidQuantity, parse_quantity

BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
DECIMAL = {"k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18}


@pytest.mark.parametrize(
    ("text", "value"),
    [
        (2, Decimal(2)),
        ("2", Decimal(2)),
        ("500m", Decimal("0.5")),
        ("1.5", Decimal("1.5")),
        (".5", Decimal("0.5")),
        ("4Gi", Decimal(4 * 2**30)),
        ("16Gi", Decimal(16 * 2**30)),
        ("1k", Decimal(1000)),
        ("1e3", Decimal(1000)),
        ("1E3", Decimal(1000)),  # an exponent, not the exa suffix followed by junk
        ("1E", Decimal(10**18)),
        ("2.5Mi", Decimal("2.5") * 2**20),
        ("100n", Decimal("0.0000001")),
        ("+3", Decimal(3)),
    ],
)
def test_examples(text: int | str, value: Decimal) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize(
    "junk", ["", "Gi", "4 Gi", "4gi", "4GB", "1.2.3", "e3", "0x10", "1e400", "--1", "1Gi ", True, 1.5, None]
)
def test_junk_is_refused_with_a_message(junk: object) -> None:
    with pytest.raises(InvalidQuantity, match=r"quantity|exponent"):
        parse_quantity(junk)  # type: ignore[arg-type]


def test_binary_and_decimal_units_compare_as_numbers() -> None:
    assert parse_quantity("1Gi") == parse_quantity("1024Mi") == parse_quantity(2**30)
    assert parse_quantity("1G") < parse_quantity("1Gi")
    assert parse_quantity("999m") < parse_quantity(1) < parse_quantity("1001m")


@given(st.integers(min_value=0, max_value=10**12), st.sampled_from(sorted({**BINARY, **DECIMAL, "": 1}.items())))
def test_an_integer_with_a_suffix_is_that_multiple(number: int, suffix: tuple[str, int]) -> None:
    name, factor = suffix
    assert parse_quantity(f"{number}{name}") == number * factor


@given(st.integers(min_value=0, max_value=10**9), st.sampled_from(["Ki", "Mi", "Gi", "Ti", "Pi"]))
def test_each_binary_unit_is_1024_of_the_one_below(number: int, unit: str) -> None:
    below = {"Mi": "Ki", "Gi": "Mi", "Ti": "Gi", "Pi": "Ti", "Ki": ""}[unit]
    assert parse_quantity(f"{number}{unit}") == parse_quantity(f"{number * 1024}{below}")


@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_an_int_and_its_text_are_the_same_quantity(number: int) -> None:
    assert parse_quantity(number) == parse_quantity(str(number)) == number


@given(st.decimals(min_value=0, max_value=10**6, places=3, allow_nan=False, allow_infinity=False))
def test_millis_are_thousandths(value: Decimal) -> None:
    millis = int(value * 1000)
    assert parse_quantity(f"{millis}m") == Decimal(millis) / 1000


@given(st.text(max_size=30))
def test_any_text_is_a_quantity_or_refused_cleanly(text: str) -> None:
    try:
        value = parse_quantity(text)
    except InvalidQuantity:
        return
    assert isinstance(value, Decimal)
