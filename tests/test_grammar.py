"""The language: what parses, what it means, and how syntax errors read."""

import math
import os
import time

import pytest

from dcalc import parse_program
from dcalc.errors import DcalcSyntaxError
from dcalc.evaluation import evaluate


def value(text, **inputs):
    graph = parse_program(text, given=inputs)
    return float(evaluate(graph, inputs)[0])


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2", 2.0),
        ("2.5", 2.5),
        (".5", 0.5),
        ("2.", 2.0),
        ("1e-3", 1e-3),
        ("1.5E+2", 150.0),
        ("1_000", 1000.0),
    ],
)
def test_number_syntax(text, expected):
    assert value(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("-2^2", -4.0),  # -x^2 is -(x^2)
        ("2^3^2", 512.0),  # right-associative
        ("2**3**2", 512.0),
        ("2^-1", 0.5),
        ("2^-2^2", 2.0**-4),
        ("-2*3", -6.0),
        ("8/2/2", 2.0),  # left-associative
        ("8-2-1", 5.0),
        ("2*-3", -6.0),
        ("--2", 2.0),
        ("+2", 2.0),
        ("(1 + 2) * 3", 9.0),
        ("pi", math.pi),
        ("e", math.e),
        ("log(8, 2)", 3.0),
        ("log(100, 10)", 2.0),
        ("log(e)", 1.0),
    ],
)
def test_precedence_and_constants(text, expected):
    assert value(text) == pytest.approx(expected, rel=1e-15)


def test_variable_exponents_and_negative_powers():
    assert value("x^-1", x=4.0) == 0.25
    assert value("2^-x", x=2.0) == 0.25
    assert value("x^y", x=2.0, y=0.5) == pytest.approx(math.sqrt(2), rel=1e-15)


def test_names_that_start_like_functions_or_constants_are_names():
    graph = parse_program("epsilon + expo + pix + e1 + sine")
    assert graph.input_names == ["epsilon", "expo", "pix", "e1", "sine"]


def test_names_with_digits_and_underscores():
    graph = parse_program("theta_2 * w_3 + x1")
    assert graph.input_names == ["theta_2", "w_3", "x1"]


def test_inputs_in_order_of_first_reading():
    assert parse_program("ln(x1)+x1*x2-sin(x2)").input_names == ["x1", "x2"]
    assert parse_program("sin(b) + a").input_names == ["b", "a"]


def test_assigned_name_shadows_constant():
    # Domke's program assigns e; it is a variable from then on.
    graph = parse_program("c = 2*x; e = sin(c); f = e + 1")
    assert graph.input_names == ["x"]
    assert value("c = 2*x; e = sin(c); f = e + 1", x=0.3) == pytest.approx(math.sin(0.6) + 1, rel=1e-15)


def test_given_value_shadows_constant():
    graph = parse_program("e * x", given={"e", "x"})
    assert graph.input_names == ["e", "x"]
    assert parse_program("e * x").input_names == ["x"]


def test_programs_separators_comments_and_blank_lines():
    text = "# a comment\n\na = 2*x  # trailing\nb = a + 1; c = b^2\n\n"
    assert value(text, x=1.0) == 9.0


def test_expression_continues_inside_brackets():
    assert value("f = (x +\n  1) *\\\n 2", x=1.0) == 4.0


def test_output_is_last_assignment_unless_return():
    graph = parse_program("a = exp(x)\nb = a^2\nreturn a, b")
    assert graph.output_names == ["a", "b"]
    assert len(graph.outputs) == 2
    assert parse_program("a = x + 1\nb = a * 2").output_names == ["b"]


def test_reference_load_program(program_text):
    graph = parse_program(program_text("load.wl"))
    assert graph.input_names == ["x", "a", "b"]
    assert graph.output_names == ["y"]
    assert float(evaluate(graph, {"x": 1.0, "a": 2.0, "b": 3.0})[0]) == 12.0


def test_matmul_and_array_syntax_parse():
    from dcalc.parser import parse

    tree = parse("A @ x + [1, 2] + A.T @ x + A[0, :] + x[1:3]")
    assert tree.data == "program"


@pytest.mark.parametrize(
    "text, fragment, column",
    [
        ("x +", "ends after '+'", 4),
        ("2 ** ** 3", "unexpected '**'", 6),
        ("(x + 1", "input ends", 7),
        ("x + 1)", "')' has no matching '('", 6),
        ("2x", "missing operator before 'x'", 2),
        ("x $ 2", "unexpected character '$'", 3),
        ("a = 1\nb = 2 +\nc = 3", "line ends too early", 8),
    ],
)
def test_syntax_errors_point_at_the_problem(text, fragment, column):
    with pytest.raises(DcalcSyntaxError) as caught:
        parse_program(text)
    error = caught.value
    assert fragment in error.message
    assert error.span.column == column
    rendered = error.render()
    assert "__ANON" not in rendered
    # The caret sits under the reported column.
    caret_line = [line for line in rendered.splitlines() if line.strip().startswith("|") and "^" in line][0]
    assert caret_line.index("^") - caret_line.index("|") - 2 == column - 1


def test_expected_tokens_are_words():
    with pytest.raises(DcalcSyntaxError) as caught:
        parse_program("x +")
    assert "expected an expression" in caught.value.message


def test_unclosed_bracket_is_located():
    with pytest.raises(DcalcSyntaxError) as caught:
        parse_program("sin(x + (y")
    assert "line 1, column 9" in caught.value.hint


def test_parsing_leaves_the_cycle_collector_as_it_was():
    import gc

    from dcalc.parser import parse

    assert gc.isenabled()
    parse_program("a = sin(x)\nb = a * x")
    with pytest.raises(DcalcSyntaxError):
        parse("sin(x")
    assert gc.isenabled()
    gc.disable()
    try:
        parse_program("x + 1")
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_each_grammar_has_its_own_generated_parser(tmp_path, monkeypatch):
    from dcalc.parser import SAMPLE_STARTS, _cache_file

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    first, second = _cache_file("program: NAME"), _cache_file("program: NUMBER")
    assert first != second and _cache_file("program: NAME", SAMPLE_STARTS) != first
    assert first.startswith(str(tmp_path / "dcalc")) and second.startswith(str(tmp_path / "dcalc"))
    assert _cache_file("program: NAME") == first


@pytest.fixture
def fresh_parsers():
    """Parsers loaded anew for the test, and again after it (the cache folder changes)."""
    from dcalc import parser

    parser._runtime.cache_clear()
    yield parser
    parser._runtime.cache_clear()


BAD_PROGRAMS = ["sin(x", "x function", "2x + 1", "a = = 1", "x $ 2", "f(x,\n"]


def syntax_errors(parse):
    messages = []
    for text in BAD_PROGRAMS:
        with pytest.raises(DcalcSyntaxError) as caught:
            parse(text)
        messages.append((caught.value.message, caught.value.hint, caught.value.span.start))
    return messages


def test_a_second_run_parses_without_importing_lark(tmp_path):
    import subprocess
    import sys

    code = (
        "import sys; from dcalc.parser import parse; from dcalc.checking import parse_sample;"
        "parse('a = sin(x)\\nreturn a'); parse('x=2', start='assignments');"
        "parse_sample('function: x^2\\nat: x=1\\n', 'f.dcalc', None);"
        "print('lark' in sys.modules)"
    )
    environment = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    runs = [subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True, timeout=120) for _ in range(2)]
    assert [run.stdout.strip() for run in runs] == ["True", "False"], [run.stderr for run in runs]
    assert sorted(path.name.split("-")[1] for path in (tmp_path / "dcalc").glob("parser-*.py")) == ["program", "sample"]


def test_without_a_cache_folder_lark_parses_alike(tmp_path, monkeypatch, fresh_parsers):
    import lark

    generated = syntax_errors(fresh_parsers.parse)
    assert fresh_parsers.runtime().module is not lark
    blocked = tmp_path / "a file"
    blocked.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))  # no folder can be made inside a file
    fresh_parsers._runtime.cache_clear()
    assert syntax_errors(fresh_parsers.parse) == generated
    assert fresh_parsers.runtime().module is lark
    assert value("a = 2*x\nreturn a^2", x=3.0) == 36.0


def test_a_generated_parser_cut_short_is_made_again(tmp_path, monkeypatch, fresh_parsers):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    fresh_parsers.runtime()
    (path,) = (tmp_path / "dcalc").glob("parser-program-*.py")
    whole = path.read_text(encoding="utf-8")
    path.write_text(whole[: len(whole) // 2], encoding="utf-8")
    fresh_parsers._runtime.cache_clear()
    assert value("sin(x)^2 + cos(x)^2", x=0.3) == pytest.approx(1.0, abs=1e-15)
    remade = path.read_text(encoding="utf-8")  # whole again (Lark's table order varies from run to run)
    compile(remade, str(path), "exec")
    assert remade.splitlines()[-1] == whole.splitlines()[-1] and len(remade) > len(whole) // 2


def test_writing_a_parser_clears_away_those_unread_for_a_month(tmp_path, monkeypatch, fresh_parsers):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    folder = tmp_path / "dcalc"
    (folder / "__pycache__").mkdir(parents=True)
    month = fresh_parsers.STALE_SECONDS
    stale = [folder / "parser-program-assignments-00000000.py", folder / "parser-lark1.2.2-0123.cache", folder / "__pycache__" / "parser-sample-00000000.cpython-311.pyc"]
    recent, other = folder / "parser-program-assignments-11111111.py", folder / "notes.txt"
    for path, age in [*((path, month + 60) for path in stale), (recent, month - 3600), (other, 10 * month)]:
        path.write_text("x")
        then = time.time() - age
        os.utime(path, (then, then))
    fresh_parsers.runtime()  # writes this grammar's parser
    assert [path.exists() for path in stale] == [False, False, False]
    assert recent.exists() and other.exists() and len(list(folder.glob("parser-program-*.py"))) == 2


def test_a_command_ends_with_the_cycle_collector_on(monkeypatch):
    import gc
    import sys

    from dcalc.cli import main

    for argv in (["dcalc", "eval", "x + 1", "--at", "x=2"], ["dcalc", "eval", "x + 1", "--no-such-option"], ["dcalc", "eval", "x +"]):
        monkeypatch.setattr(sys, "argv", argv)
        with pytest.raises(SystemExit):
            main()
        assert gc.isenabled(), argv


def test_inputs_are_numbered_in_the_order_they_are_first_read():
    # Left to right, whatever the nesting: the gradient lists them in this order.
    assert parse_program("x1 - cos(x2)").input_names == ["x1", "x2"]
    assert parse_program("x2 + 1/x1").input_names == ["x2", "x1"]
    assert parse_program("sin(b) * a + c[0]", shapes={"c": (2,)}).input_names == ["b", "a", "c"]


def test_brackets_around_a_returned_name_keep_it():
    graph = parse_program("a = sin(x)\nreturn (a), ((x))")
    assert graph.output_names == ["a", "y2"]  # an input returned is not named after itself
    with pytest.raises(DcalcSyntaxError) as caught:
        parse_program("((x, y))")
    assert "a tuple is not a value" in caught.value.message
    assert caught.value.span.snippet == "(x, y)" and caught.value.span.column == 2


def test_sample_file_keywords_are_plain_names_in_programs():
    assert value("value = 2\nfunction = value + 1\nat = function * 2") == 6.0
    for text, word in (("x function", "function"), ("sin(x) value", "value")):
        with pytest.raises(DcalcSyntaxError) as caught:
            parse_program(text)
        assert caught.value.message == f"missing operator before {word!r}"
