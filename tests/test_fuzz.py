"""Fuzzing the front end: text generated from the grammar, token soup, any text and
any bytes. Whatever comes in, dcalc answers with a result or its own error with a
position; through the command line, exit 0 or 2 and never a traceback.

Bounded and repeatable by default (the "ci" profile in conftest.py); a longer run
with fresh examples: HYPOTHESIS_PROFILE=long pytest tests/test_fuzz.py
"""

import re
import tempfile
from functools import lru_cache
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.lark import from_lark
from lark import Lark

from dcalc.errors import DcalcError
from dcalc.parser import grammar_path, parse
from dcalc.program import build
from dcalc.values import parse_at

KEYWORDS = {"return", "function", "tolerance", "engines", "claim", "at", "value"}
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Names that mean something, and ones that do not, so calls reach the primitive table.
MEANINGFUL_NAMES = ["x", "y", "A", "e", "pi", "sin", "exp", "ln", "log", "sum", "max", "reshape", "load", "inf", "T", "axis"]


@lru_cache(maxsize=1)
def comment_free_grammar() -> Lark:
    """dcalc's grammar without '%ignore COMMENT': Hypothesis puts ignored tokens
    anywhere, and a comment in mid-line would swallow the rest of it. Comments
    are written before line breaks instead (see ``terminals``)."""
    text = grammar_path().read_text(encoding="utf-8")
    variant = re.sub(r"^%ignore COMMENT\s*$", "", text, flags=re.MULTILINE)
    assert variant != text
    return Lark(variant, parser="lalr", start=["program", "assignments", "sample"])


def _spaced(strategy):
    # A space after names, numbers and keywords keeps "x" "y" from lexing as "xy"
    # and "2" "." "T" as "2." "T".
    return strategy.map(lambda token: token + " ")


def terminals():
    name = st.one_of(st.sampled_from(MEANINGFUL_NAMES), st.from_regex(NAME, fullmatch=True)).filter(lambda word: word not in KEYWORDS)
    number = st.one_of(
        st.sampled_from(["0", "1", "2", "2.5", ".5", "2.", "1e-3", "1_000", "1E+5", "0.1", "1e308", "1e400"]),
        st.from_regex(r"[0-9]{1,4}(\.[0-9]{0,3})?([eE][+-]?[0-9]{1,3})?", fullmatch=True),
    )
    keywords = {keyword.upper(): _spaced(st.just(keyword)) for keyword in KEYWORDS}
    file_reference = st.from_regex(comment_free_grammar().get_terminal("FILE_REF").pattern.to_regexp(), fullmatch=True)
    return {
        "NAME": _spaced(name),
        "NUMBER": _spaced(number),
        "FILE_REF": _spaced(file_reference),  # "@w.npy" "\" would lex as "@w.npy\"
        "_NEWLINE": st.sampled_from(["\n", "\r\n", "  # a comment\n", "#\n"]),
        "WHITESPACE": st.sampled_from([" ", "\t", "  "]),
        "LINE_CONTINUATION": st.just("\\\n"),
        **keywords,
    }


def grammar_text(start: str):
    grammar = comment_free_grammar()
    _, rules, ignored = grammar.grammar.compile([start], ())
    used = {symbol.name for rule in rules for symbol in rule.expansion} | set(ignored)
    explicit = {name: strategy for name, strategy in terminals().items() if name in used}
    return from_lark(grammar, start=start, explicit=explicit)


# Characters of the language and a few that are not, so the parser meets near misses.
TOKEN_SOUP = st.text(alphabet=st.sampled_from(list("()[]{}+-*/^@.,=:;'\"\n\t #\\0123456789eExyzAT_sinlogmaxd$%é")), max_size=80)


def assert_own_error_with_position(error: BaseException, text: str) -> None:
    assert isinstance(error, DcalcError), f"{type(error).__name__}: {error}"
    assert error.span is not None, f"no position for: {error.message}"
    assert 0 <= error.span.start <= len(text)
    rendered = error.render()
    assert error.span.location in rendered


def parse_and_build(text: str):
    """The graph of ``text``, or dcalc's error (a positioned DcalcError)."""
    try:
        return build(parse(text, "<fuzz>"), text, "<fuzz>")
    except Exception as error:
        assert_own_error_with_position(error, text)
        return error


# ---- text from the grammar parses; dcalc answers it ---------------------------------------

# Drawing text from the grammar is slow (~0.1 s an example): many draws nest deeper than
# Hypothesis' buffer and are thrown away. These tests take a third of the profile's count.
grammar_examples = settings(
    max_examples=settings().max_examples // 3,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much, HealthCheck.too_slow],
)


def names_in(text: str) -> list[str]:
    return sorted({word for word in NAME.findall(text) if word not in KEYWORDS})


def assert_answered(result, text) -> None:
    """Through the command line: a result or bad input, never a crash."""
    assert result.exit_code in (0, 2), f"exit {result.exit_code} for {text!r}:\n{result.output}"
    assert "Traceback" not in result.output
    assert "internal error" not in result.output


def run_program(cli, text) -> None:
    assert_answered(cli("show", "-", input=text), text)
    values = ",".join(f"{name}=0.5" for name in names_in(text))
    assert_answered(cli("eval", "-", *(["--at", values] if values else []), input=text), text)


@grammar_examples
@given(text=st.one_of(grammar_text("program"), grammar_text("expr")))
def test_programs_from_the_grammar(cli, text):
    parse(text, "<fuzz>")  # in the language: it must parse
    parse_and_build(text)
    run_program(cli, text)


@grammar_examples
@given(text=grammar_text("assignments"))
def test_values_from_the_grammar(cli, text):
    parse(text, "--at", start="assignments")
    try:
        values = parse_at(text)
    except Exception as error:
        assert_own_error_with_position(error, text)
    else:
        assert all(value.dtype == float for value in values.values())
    assert_answered(cli("eval", "x", "--at", text), text)


@grammar_examples
@given(text=grammar_text("sample"))
def test_sample_files_from_the_grammar(cli, text):
    parse(text, "<fuzz.dcalc>", start="sample")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.dcalc"
        path.write_text(text, encoding="utf-8")
        result = cli("check", str(path))
    assert result.exit_code in (0, 1, 2), result.output  # 1: a check failed, which is an answer
    assert "Traceback" not in result.output and "internal error" not in result.output


# ---- anything else gets an answer too ---------------------------------------------------------


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.one_of(TOKEN_SOUP, st.text(max_size=60)))
def test_any_text_parses_or_gets_a_positioned_error(cli, text):
    for start in ("program", "assignments", "sample"):
        try:
            parse(text, "<fuzz>", start=start)
        except Exception as error:
            assert_own_error_with_position(error, text)
    parse_and_build(text)
    run_program(cli, text)
    assert_answered(cli("eval", "x", "--at", text), text)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=60))
def test_any_bytes_get_an_answer(cli, data):
    result = cli("eval", "-", input=data)
    assert_answered(result, data)
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        assert result.exit_code == 2 and "not UTF-8 text" in result.stderr


def test_the_fuzzed_grammar_is_the_grammar():
    # The variant only drops '%ignore COMMENT': the same rules and the same tokens.
    from dcalc.parser import runtime

    fuzzed = comment_free_grammar()
    parsers = [runtime("program").parser, runtime("sample").parser]  # sample files have a parser of their own
    assert {rule.origin.name for rule in fuzzed.rules} == {rule.origin.name for parser in parsers for rule in parser.rules}
    assert {terminal.name for terminal in fuzzed.terminals} == {terminal.name for parser in parsers for terminal in parser.terminals} - {"COMMENT"}
    assert set(parsers[0].lexer_conf.ignore) - set(fuzzed.lexer_conf.ignore) == {"COMMENT"}
