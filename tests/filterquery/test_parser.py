"""Parser examples from the reference documentation, our extensions, and error messages with positions."""

from __future__ import annotations

import pytest

from modelreg.filterquery import And, Comparison, FilterSyntaxError, Op, Or, Property, parse
from modelreg.filterquery.parser import MAX_NESTING_DEPTH, MAX_QUERY_LENGTH


def cmp(name: str, op: Op, value: object, selector: str | None = None) -> Comparison:
    return Comparison(Property(name, selector), op, value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name='my-model' AND state='LIVE'", And((cmp("name", Op.EQ, "my-model"), cmp("state", Op.EQ, "LIVE")))),
        ('name = "my-model"', cmp("name", Op.EQ, "my-model")),
        ("accuracy > 0.95", cmp("accuracy", Op.GT, 0.95)),
        ('name LIKE "%tensorflow%"', cmp("name", Op.LIKE, "%tensorflow%")),
        (
            '(name = "model-a" OR name = "model-b") AND state = "LIVE"',
            And(
                (
                    Or((cmp("name", Op.EQ, "model-a"), cmp("name", Op.EQ, "model-b"))),
                    cmp("state", Op.EQ, "LIVE"),
                )
            ),
        ),
        ('framework.string_value = "pytorch"', cmp("framework", Op.EQ, "pytorch", "string_value")),
        ("budget.double_value > 12000", cmp("budget", Op.GT, 12000, "double_value")),
        ("enabled.bool_value = true", cmp("enabled", Op.EQ, True, "bool_value")),
        ('`mlflow.source.type` = "notebook"', cmp("mlflow.source.type", Op.EQ, "notebook")),
        ('mlflow.source.type = "notebook"', cmp("mlflow.source.type", Op.EQ, "notebook")),
        ("`custom-metric` > 0.8", cmp("custom-metric", Op.GT, 0.8)),
        ("id IN (200, 201)", cmp("id", Op.IN, (200, 201))),
        ('status IN ("active","pending")', cmp("status", Op.IN, ("active", "pending"))),
        ('experimentId = "3"', cmp("experimentId", Op.EQ, "3")),
        ("experimentId.int_value = 3", cmp("experimentId", Op.EQ, 3, "int_value")),
        ("state = 'ARCHIVED'", cmp("state", Op.EQ, "ARCHIVED")),
        (
            "experimentRunId IN ('5','7') AND name LIKE \"%accuracy%\"",
            And((cmp("experimentRunId", Op.IN, ("5", "7")), cmp("name", Op.LIKE, "%accuracy%"))),
        ),
    ],
)
def test_reference_examples(text: str, expected: object) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # keywords in any case (the reference accepts only upper case)
        ("a = 1 and b = 2 Or c = True", Or((And((cmp("a", Op.EQ, 1), cmp("b", Op.EQ, 2))), cmp("c", Op.EQ, True)))),
        ("name like 'x%' or name ilike 'Y%'", Or((cmp("name", Op.LIKE, "x%"), cmp("name", Op.ILIKE, "Y%")))),
        ("id in (1) AND flag = FALSE", And((cmp("id", Op.IN, (1,)), cmp("flag", Op.EQ, False)))),
        # <> is not-equal, like !=
        ("state <> 'LIVE'", cmp("state", Op.NE, "LIVE")),
        ("state != 'LIVE'", cmp("state", Op.NE, "LIVE")),
        # negated operators
        ("id NOT IN (1, 2)", cmp("id", Op.NOT_IN, (1, 2))),
        ("name not like 'a%'", cmp("name", Op.NOT_LIKE, "a%")),
        ("name NOT ILIKE 'a%'", cmp("name", Op.NOT_ILIKE, "a%")),
        # lists: empty, single value without parentheses, mixed types
        ("id IN ()", cmp("id", Op.IN, ())),
        ("id IN 3", cmp("id", Op.IN, (3,))),
        ("x IN (1, 2.5, 'a', true)", cmp("x", Op.IN, (1, 2.5, "a", True))),
        # numbers
        ("x >= -5", cmp("x", Op.GE, -5)),
        ("x < +1.5e3", cmp("x", Op.LT, 1500.0)),
        ("x = .5", cmp("x", Op.EQ, 0.5)),
        ("x = 2E-2", cmp("x", Op.EQ, 0.02)),
        ("x = 9223372036854775807", cmp("x", Op.EQ, 2**63 - 1)),
        ("x = -9223372036854775808", cmp("x", Op.EQ, -(2**63))),
        # string escapes; other backslashes are kept so LIKE can use them
        (r'x = "say \"hi\""', cmp("x", Op.EQ, 'say "hi"')),
        (r"x = 'it\'s'", cmp("x", Op.EQ, "it's")),
        (r"x = 'a\\b'", cmp("x", Op.EQ, "a\\b")),
        (r"x LIKE '50\%'", cmp("x", Op.LIKE, "50\\%")),
        ("x = '\"quoted\"'", cmp("x", Op.EQ, '"quoted"')),
        ("x = ''", cmp("x", Op.EQ, "")),
        ("x = 'O''Reilly'", cmp("x", Op.EQ, "O'Reilly")),  # doubled quotes, as the reference catalog UI sends
        ('x = "say ""hi"""', cmp("x", Op.EQ, 'say "hi"')),
        ("x IN ('a''b', '''')", cmp("x", Op.IN, ("a'b", "'"))),
        ("`we``ird` = 1", cmp("we`ird", Op.EQ, 1)),
        ("x = 'ünïcødé ✓'", cmp("x", Op.EQ, "ünïcødé ✓")),
        # names: backquote escapes, selector after a backquoted name, keywords as names
        (r"`a\`b` = 1", cmp("a`b", Op.EQ, 1)),
        (r"`a\.b` = 1", cmp("a.b", Op.EQ, 1)),
        ("`x.y`.int_value = 1", cmp("x.y", Op.EQ, 1, "int_value")),
        ("string_value = 'a'", cmp("string_value", Op.EQ, "a")),
        ("a.b.double_value < 1", cmp("a.b", Op.LT, 1, "double_value")),
        ("in = 1 AND and = 2", And((cmp("in", Op.EQ, 1), cmp("and", Op.EQ, 2)))),
        ("like LIKE 'x'", cmp("like", Op.LIKE, "x")),
        # comments and layout
        ("-- leading comment\nname = 'a' -- trailing", cmp("name", Op.EQ, "a")),
        ("((name = 'a'))", cmp("name", Op.EQ, "a")),
        ("name='a'AND(id=1)", And((cmp("name", Op.EQ, "a"), cmp("id", Op.EQ, 1)))),
    ],
)
def test_extensions_and_lexical_details(text: str, expected: object) -> None:
    assert parse(text) == expected


def test_and_binds_tighter_than_or() -> None:
    assert parse("a = 1 OR b = 2 AND c = 3 OR d = 4") == Or(
        (cmp("a", Op.EQ, 1), And((cmp("b", Op.EQ, 2), cmp("c", Op.EQ, 3))), cmp("d", Op.EQ, 4))
    )


def test_parentheses_keep_grouping() -> None:
    assert parse("(a = 1 OR b = 2) AND (c = 3 OR (d = 4 AND e = 5))") == And(
        (
            Or((cmp("a", Op.EQ, 1), cmp("b", Op.EQ, 2))),
            Or((cmp("c", Op.EQ, 3), And((cmp("d", Op.EQ, 4), cmp("e", Op.EQ, 5))))),
        )
    )


def test_comparison_records_its_position() -> None:
    expr = parse("a = 1 AND  bb = 2")
    assert isinstance(expr, And)
    assert [c.position for c in expr.operands] == [0, 11]  # type: ignore[union-attr]


@pytest.mark.parametrize("text", ["", "   ", "\n\t", "-- only a comment", "-- one\n-- two\n"])
def test_empty_query_means_no_filter(text: str) -> None:
    assert parse(text) is None


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        ("name = ", 7, "expected a value after '='"),
        ('name "test"', 5, "expected an operator"),
        ('(name = "test"', 14, "expected ')'"),
        ('name === "test"', 6, "expected a value after '='"),
        ("invalid <<< syntax", 9, "expected a value after '<'"),
        ("name = test", 7, "string values must be quoted"),
        ("name = 'unterminated", 7, "unterminated string"),
        ("`name = 1", 0, "unterminated name"),
        ("`` = 1", 0, "expected a name"),
        ("name = 1 extra", 9, "expected AND, OR or the end of the query"),
        ("name = 1)", 8, "unexpected ')'"),
        ("name = 1 AND", 12, "expected a property name or '('"),
        ("OR name = 1", 3, "expected an operator"),
        ("name NOT = 1", 9, "expected LIKE, ILIKE or IN after 'NOT'"),
        ("name = (1, 2)", 7, "only allowed after IN"),
        ("id IN (1,)", 9, "expected a value in the list"),
        ("id IN (1 2)", 9, "expected ',' or ')'"),
        ("a. = 1", 3, "expected a name after '.'"),
        ("`a`.b = 1", 4, "expected string_value, int_value, double_value or bool_value"),
        ("name = 1 # 2", 9, "unexpected character '#'"),
        ("name ! 1", 5, "unexpected character '!'"),
        ("x = 1e400", 4, "out of range"),
        ("x = 9223372036854775808", 4, "out of the 64-bit range"),
        ("x = 1" + "0" * 5000, 4, "out of the 64-bit range"),
        ("x = 'a\x00'", 6, "U+0000 is not allowed"),
        ("x = '\ud800'", 5, "U+D800 is not allowed"),
        ("= 1", 0, "expected a property name"),
    ],
)
def test_syntax_errors_say_what_and_where(text: str, position: int, fragment: str) -> None:
    with pytest.raises(FilterSyntaxError) as caught:
        parse(text)
    message = str(caught.value)
    assert message.startswith("invalid filter query syntax: ")
    assert fragment in message
    assert f"at position {position} " in message
    assert caught.value.position == position
    assert isinstance(caught.value, ValueError)


def test_error_message_format() -> None:
    with pytest.raises(FilterSyntaxError) as caught:
        parse("name = ")
    assert str(caught.value) == "invalid filter query syntax: expected a value after '=' at position 7 (near \"\")"


def test_nesting_depth_is_capped() -> None:
    ok = "(" * MAX_NESTING_DEPTH + "a = 1" + ")" * MAX_NESTING_DEPTH
    assert parse(ok) == cmp("a", Op.EQ, 1)
    too_deep = "(" * (MAX_NESTING_DEPTH + 1) + "a = 1" + ")" * (MAX_NESTING_DEPTH + 1)
    with pytest.raises(FilterSyntaxError, match="nested more than"):
        parse(too_deep)
    with pytest.raises(FilterSyntaxError):
        parse("(" * 4000)


def test_query_length_is_capped() -> None:
    long_chain = " OR ".join(["a = 1"] * 1000)  # about 9000 characters, no nesting
    expr = parse(long_chain)
    assert isinstance(expr, Or) and len(expr.operands) == 1000
    with pytest.raises(FilterSyntaxError, match="at most 10000"):
        parse("a = '" + "x" * MAX_QUERY_LENGTH + "'")


def test_integer_with_thousands_of_leading_zeros_is_an_ordinary_integer() -> None:
    """Found by schemathesis: int() refuses literals over 4,300 characters even when they are mostly zeros."""
    expr = parse("x = " + "0" * 5000 + "7")
    assert expr is not None
    assert expr.value == 7
    expr = parse("x = -" + "0" * 5000)
    assert expr is not None
    assert expr.value == 0
