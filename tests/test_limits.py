"""Limits of the front end: 10^4-deep nesting and 10^6-character expressions parse,
build, evaluate and print without recursion; longer texts than dcalc reads are
refused with the size and the limit. (Time and memory per character are measured
by bench/limits.py; tests/test_graph.py has 10^5-line programs.)"""

import math

import numpy as np
import pytest

from dcalc import parse_program
from dcalc.errors import InputError
from dcalc.evaluation import evaluate
from dcalc.parser import DEFAULT_MAX_CHARS, parse
from dcalc.printer import LECTURE, to_infix, to_latex

DEPTH = 10_000
X = 0.25


def repeat(function, times, start):
    value = start
    for _ in range(times):
        value = function(value)
    return value


# Each nest: the text, how dcalc prints it (the fewest parentheses), and its value at X.
NESTS = {
    "parentheses": ("(" * DEPTH + "x + 1" + ")" * DEPTH, "x + 1", X + 1),
    "calls": ("sin(" * DEPTH + "x" + ")" * DEPTH, "sin(" * DEPTH + "x" + ")" * DEPTH, repeat(math.sin, DEPTH, X)),
    "unary minus": ("-" * DEPTH + "x", "-(" * (DEPTH - 1) + "-x" + ")" * (DEPTH - 1), X),  # an even number of signs
    "right-nested sums": ("(x + " * DEPTH + "1" + ")" * DEPTH, "x + (" * (DEPTH - 1) + "x + 1" + ")" * (DEPTH - 1), DEPTH * X + 1),
    "a power tower": ("x^" * DEPTH + "1", "x^" * DEPTH + "1", repeat(lambda power: X**power, DEPTH, 1.0)),
}


@pytest.mark.parametrize("text, printed, expected", NESTS.values(), ids=NESTS.keys())
def test_deep_nesting_parses_builds_evaluates_and_prints(text, printed, expected):
    graph = parse_program(text)
    (value,) = evaluate(graph, {"x": X})
    # The same operations in the same order as the Python reference; sin and pow may
    # differ from NumPy's by an ulp per level, and the nests shrink errors (|sin'| < 1).
    assert float(value) == pytest.approx(expected, rel=1e-12)
    assert to_infix(graph.outputs[0]) == printed
    assert len(to_latex(graph.outputs[0])) >= len(printed)
    assert to_infix(graph.outputs[0], notation=LECTURE).count("x") == printed.count("x")


def test_a_power_tower_is_right_associative():
    # The tower above evaluates x^(x^(...)), not ((x^x)^x)...: with x = 0.25 the two differ.
    graph = parse_program("x^x^x")
    assert float(evaluate(graph, {"x": X})[0]) == pytest.approx(X ** (X**X), rel=1e-15)


def million_character_expression() -> tuple[str, list]:
    """About 10^6 characters of sums and differences of terms, written as dcalc prints
    them, with the terms as (sign, coefficient, input, kind) for a reference value."""
    pieces, terms = [], []
    index = 0
    length = 0
    while length < 1_000_000:
        coefficient = f"{index % 997 + 1}.{index * 7919 % 10**8:08d}5"  # 12 digits: printed as written
        name = f"x{index % 7}"
        kind = index % 3
        text = [f"{coefficient}*sin({name})", f"{name}^2/{coefficient}", f"exp(-{name})*{coefficient}"][kind]
        sign = "-" if index % 5 == 4 else "+"
        pieces.append(text if index == 0 else f" {sign} {text}")
        terms.append((sign, float(coefficient), index % 7, kind))
        length += len(pieces[-1])
        index += 1
    return "".join(pieces), terms


def test_a_million_character_expression_parses_builds_evaluates_and_prints():
    text, terms = million_character_expression()
    assert len(text) >= 10**6
    values = {f"x{k}": 0.1 * (k + 1) for k in range(7)}
    graph = parse_program(text)
    (value,) = evaluate(graph, values)
    total, scale = 0.0, 0.0
    for sign, coefficient, k, kind in terms:
        x = values[f"x{k}"]
        term = [coefficient * math.sin(x), x**2 / coefficient, math.exp(-x) * coefficient][kind]
        total = total - term if sign == "-" else total + term
        scale += abs(term)
    # Summed in the same order; each term may differ from NumPy's by an ulp or two.
    assert abs(float(value) - total) <= 4 * np.finfo(float).eps * scale
    # Printing is linear (it once was quadratic), and the text is written as dcalc prints.
    assert to_infix(graph.outputs[0]) == text


def test_texts_longer_than_the_limit_are_refused_before_parsing(monkeypatch):
    text = "x+" * (DEFAULT_MAX_CHARS // 2) + "x"
    with pytest.raises(InputError) as caught:
        parse(text, "big.wl")
    error = caught.value
    assert error.message == f"the input is {len(text):,} characters long; dcalc reads at most {DEFAULT_MAX_CHARS:,}"
    assert error.span.location == f"big.wl:1:{DEFAULT_MAX_CHARS + 1}"
    assert "DCALC_MAX_CHARS" in error.hint
    monkeypatch.setenv("DCALC_MAX_CHARS", str(len("x+x")))
    assert parse("x+x").data == "program"
    with pytest.raises(InputError):
        parse("x+x+x")
