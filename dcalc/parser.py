"""Text to parse tree: loads grammars/dcalc.lark and turns Lark's errors into ours.

The grammar ships inside the wheel as ``dcalc/grammars/dcalc.lark``; in a source
checkout (and an editable install) it is read from the top-level ``grammars/``.
The LALR tables are cached on disk, keyed by the grammar's hash, so start-up
does not rebuild them.
"""

from __future__ import annotations

import gc
import os
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from .errors import DcalcSyntaxError, Span

GRAMMAR_NAME = "dcalc.lark"

# What each terminal is, in words, for "expected ..." messages.
TERMINAL_WORDS = {
    "NAME": "a name",
    "NUMBER": "a number",
    "STRING": "a quoted name",
    "FILE_REF": "@file",
    "LPAR": "'('",
    "LBRACE": "'{'",
    "RBRACE": "'}'",
    "RPAR": "')'",
    "LSQB": "'['",
    "RSQB": "']'",
    "COMMA": "','",
    "EQUAL": "'='",
    "PLUS": "'+'",
    "MINUS": "'-'",
    "STAR": "'*'",
    "SLASH": "'/'",
    "AT": "'@'",
    "POW": "'^'",
    "DOT": "'.'",
    "COLON": "':'",
    "SEMICOLON": "';'",
    "_NEWLINE": "a new line",
    "RETURN": "'return'",
    "PARTIAL": "d/dNAME",
    "FUNCTION": "'function'",
    "VALUE": "'value'",
    "AT_KEYWORD": "'at'",
    "$END": "the end of the input",
}
EXPRESSION_START = {"NAME", "NUMBER", "LPAR", "LSQB", "MINUS", "PLUS"}
OPERATORS = {"PLUS", "MINUS", "STAR", "SLASH", "AT", "POW"}
OPENING = {"(": ")", "[": "]"}
CLOSING = {")": "(", "]": "["}


def grammar_path() -> Path:
    """The grammar file: inside the installed package, else in the source tree."""
    package = Path(__file__).resolve().parent
    for candidate in (package / "grammars" / GRAMMAR_NAME, package.parent / "grammars" / GRAMMAR_NAME):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"dcalc's grammar {GRAMMAR_NAME} is missing from {package}")


def _cache_file(grammar: str, starts: tuple[str, ...] = ("program", "assignments")) -> str | bool:
    """Where Lark keeps the built LALR tables. Lark checks the grammar's hash before
    using them; the hash in the name also gives every grammar its own file, so two
    installed versions of dcalc do not rebuild each other's tables on every run."""
    import hashlib

    import lark

    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = os.path.join(root, "dcalc")
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError:
        return False
    digest = hashlib.sha256(grammar.encode("utf-8")).hexdigest()[:16]
    return os.path.join(folder, f"parser-lark{lark.__version__}-{'-'.join(starts)}-{digest}.cache")


class BracketNewlines:
    """Drop line breaks inside brackets, so an expression may span lines in ( ) or [ ]
    (not in { }, whose body is a program of lines)."""

    always_accept = ("_NEWLINE",)

    def process(self, stream):
        depth = 0
        for token in stream:
            kind = token.type
            if kind in ("LPAR", "LSQB"):
                depth += 1
            elif kind in ("RPAR", "RSQB"):
                depth = max(0, depth - 1)
            elif kind == "_NEWLINE" and depth:
                continue
            yield token


@lru_cache(maxsize=None)
def _lark(starts: tuple[str, ...] = ("program", "assignments")):
    """The parser for these start rules. Sample files get one of their own, so the
    tables that every other command loads are a third smaller."""
    from lark import Lark

    grammar = grammar_path().read_text(encoding="utf-8")
    return Lark(
        grammar,
        parser="lalr",
        lexer="contextual",
        start=list(starts),
        postlex=BracketNewlines(),
        propagate_positions=True,
        maybe_placeholders=True,
        cache=_cache_file(grammar, starts),
    )


@contextmanager
def gc_paused():
    """Pause Python's cycle collector. Parsing and building make millions of small
    objects and no garbage cycles, so its passes over the growing heap find nothing
    to free: on a 10^5-line program they took half of the parse time."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def parse(text: str, origin: str = "<input>", start: str = "program"):
    """Parse a program (or, with ``start="assignments"``, --at values) to a Lark tree."""
    from lark.exceptions import UnexpectedInput

    try:
        with gc_paused():
            return _lark(("sample",) if start == "sample" else ("program", "assignments")).parse(text, start=start)
    except UnexpectedInput as error:
        raise _syntax_error(error, text, origin) from None


def parse_values(text: str, origin: str = "--at"):
    return parse(text, origin, start="assignments")


def describe_expected(expected) -> str:
    """{'NAME', 'NUMBER', 'LPAR', ...} -> 'an expression'; words, not terminal names."""
    expected = {name for name in expected if not name.startswith("__")}
    words = []
    if EXPRESSION_START & expected and len(EXPRESSION_START & expected) >= 4:
        words.append("an expression")
        expected -= EXPRESSION_START
    if len(OPERATORS & expected) >= 3:
        words.append("an operator")
        expected -= OPERATORS
    words.extend(sorted(TERMINAL_WORDS.get(name, name.lower()) for name in expected))
    if not words:
        return "something else"
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]


def _unclosed_bracket(text: str, end: int) -> int | None:
    """Offset of the last bracket opened before ``end`` and not closed (comments skipped)."""
    stack = []
    index = 0
    while index < end:
        char = text[index]
        if char == "#":
            newline = text.find("\n", index)
            index = end if newline == -1 else newline
            continue
        if char in ("'", '"'):
            close = text.find(char, index + 1)
            index = end if close == -1 else close + 1
            continue
        if char in OPENING:
            stack.append(index)
        elif char in CLOSING and stack and text[stack[-1]] == CLOSING[char]:
            stack.pop()
        index += 1
    return stack[-1] if stack else None


def _plausible(expected, text: str, position: int) -> set:
    """Drop what LALR's merged states allow but this spot cannot take: closers with
    no open bracket, slices outside [ ], and the rarely meant '.T'."""
    expected = set(expected) - {"DOT"}
    opened = _unclosed_bracket(text, position)
    innermost = text[opened] if opened is not None else None
    if innermost != "(":
        expected.discard("RPAR")
    if innermost != "[":
        expected -= {"RSQB", "COLON"}
    if innermost is None:
        expected.discard("COMMA")
    return expected


def _after_operand(text: str, position: int) -> bool:
    """Whether the text just before ``position`` ends an operand (a name, a number, a
    closing bracket) on the same line: then a new operand there lacks an operator."""
    index = position - 1
    while index >= 0 and text[index] in " \t":
        index -= 1
    return index >= 0 and (text[index].isalnum() or text[index] in "_.)]")


def _word_before(text: str, position: int) -> str:
    end = position
    while end > 0 and text[end - 1] in " \t":
        end -= 1
    start = end
    while start > 0 and (text[start - 1].isalnum() or text[start - 1] == "_"):
        start -= 1
    return text[start:end]


def _function_names() -> set:
    from .program import known_functions

    return known_functions()


def _accepted(error) -> set:
    """The terminals the parser would really take here. LALR merges lookahead sets,
    so ``error.expected`` can list tokens from other contexts; the interactive
    parser tries each one."""
    try:
        return set(error.interactive_parser.accepts())
    except Exception:  # an older Lark without it: the merged set is still a fair guide
        return set(error.expected)


def _syntax_error(error, text: str, origin: str) -> DcalcSyntaxError:
    from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedToken

    hint = None
    at_end = isinstance(error, UnexpectedEOF) or (
        isinstance(error, UnexpectedToken) and error.token.type == "$END"
    )
    if at_end:
        position = len(text.rstrip())
        expected = describe_expected(_plausible(_accepted(error) if hasattr(error, "interactive_parser") else getattr(error, "expected", ()), text, position))
        last = text.rstrip()[-1:]
        message = f"the input ends too early: expected {expected}"
        if last and last in "+-*/^@=,(":
            message = f"the input ends after {last!r}: expected {expected}"
        opened = _unclosed_bracket(text, len(text))
        if opened is not None:
            where = Span.at_offset(text, opened, origin=origin)
            hint = f"the {text[opened]!r} at line {where.line}, column {where.column} is never closed"
        span = Span.at_offset(text, position, origin=origin)
        return DcalcSyntaxError(message, span, hint=hint, context=span.excerpt())

    position = error.pos_in_stream or 0
    context = error.get_context(text, span=40)
    if isinstance(error, UnexpectedCharacters):
        char = text[position] if position < len(text) else ""
        message = f"unexpected character {char!r}"
        if char in CLOSING:
            message = f"{char!r} has no matching {CLOSING[char]!r}"
        elif error.allowed:
            message += f": expected {describe_expected(_plausible(error.allowed, text, position))}"
    elif isinstance(error, UnexpectedToken):
        token = error.token
        found = repr(str(token)) if token.type != "_NEWLINE" else "a new line"
        expected = _plausible(_accepted(error), text, position)
        message = f"unexpected {found}: expected {describe_expected(expected)}"
        if str(token) in CLOSING and _unclosed_bracket(text, position) is None:
            message = f"{str(token)!r} has no matching {CLOSING[str(token)]!r}"
        elif token.type == "_NEWLINE":
            message = f"the line ends too early: expected {describe_expected(expected)}"
            opened = _unclosed_bracket(text, position)
            if opened is not None:
                hint = "a bracket opened on this line is not closed"
        elif token.type == "NAME" and str(token)[0] in "eE" and position > 0 and (text[position - 1].isdigit() or text[position - 1] == "."):
            start = position
            while start > 0 and (text[start - 1].isdigit() or text[start - 1] in "._"):
                start -= 1
            message = f"malformed number {text[start:position] + str(token)!r}"
            hint = "numbers are written 2, 2.5, .5 or 1e-3; a product needs *, as in 2*x"
        elif token.type in ("NUMBER", "NAME", "LPAR") and _after_operand(text, position):
            message = f"missing operator before {found}"
            hint = "two operands in a row: write the operator between them, e.g. 2*x rather than 2x"
            previous = _word_before(text, position)
            if previous in _function_names():
                message = f"{previous} needs parentheses around its argument"
                hint = f"write {previous}({str(token)}...) rather than {previous} {str(token)}"
        elif token.type in OPERATORS and EXPRESSION_START & expected:
            hint = "two operators in a row: an operand must come between them"
        elif token.type == "EQUAL":
            hint = "an assignment needs a plain name on its left, alone on its line"
    else:  # pragma: no cover - Lark raises only the kinds above
        message = str(error)
    span = Span.at_offset(text, position, origin=origin)
    return DcalcSyntaxError(message, span, hint=hint, context=context)
