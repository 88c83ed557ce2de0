"""Text to parse tree: loads grammars/dcalc.lark and turns Lark's errors into ours.

The grammar ships inside the wheel as ``dcalc/grammars/dcalc.lark``; in a source
checkout (and an editable install) it is read from the top-level ``grammars/``.
The parsers are generated once (``lark.tools.standalone``) and kept on disk, keyed
by the grammar, so start-up neither rebuilds their tables nor imports Lark.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
import threading
import zlib
from contextlib import suppress
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple

from .errors import DcalcSyntaxError, InputError, Span
from .graph import end_start_up, gc_paused

GRAMMAR_NAME = "dcalc.lark"
# The front end takes up to 1.3 KB of memory and 30 µs per character, linearly
# (bench/limits.py: a 10^6-character x+x+...+x, 1.3 GB and 25 s). The default
# admits 10^5-line programs (2.7 MB at 25 characters a line: 0.6 GB) and refuses
# a 10 MB text, which would need about 14 GB; DCALC_MAX_CHARS changes it.
MAX_CHARS_VARIABLE = "DCALC_MAX_CHARS"
DEFAULT_MAX_CHARS = 4_000_000

# The words that start a sample's lines (besides d/dNAME).
SAMPLE_KEYWORDS = ("function", "claim", "tolerance", "engines", "at", "value")
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
    "_MATMUL": "'@'",
    "POW": "'^'",
    "DOT": "'.'",
    "COLON": "':'",
    "SEMICOLON": "';'",
    "_NEWLINE": "a new line",
    "RETURN": "'return'",
    "PARTIAL": "d/dNAME",
    **{word.upper(): repr(word) for word in SAMPLE_KEYWORDS},
    "$END": "the end of the input",
}
# The start rules each parser serves. Sample files have a parser of their own: one
# parser for all three would merge LALR states, and "function" after an expression
# would read as the sample keyword, not a name.
PROGRAM_STARTS = ("program", "assignments")
SAMPLE_STARTS = ("sample",)
# How Lark builds a parser; the post-lexer is given when it is loaded.
LARK_OPTIONS = dict(parser="lalr", lexer="contextual", propagate_positions=True, maybe_placeholders=True)
# Part of the generated parsers' cache key (with LARK_OPTIONS): raise it when _generate changes.
GENERATOR_FORMAT = 1
# A word that may be meant as one number: digits, letters, _ and dots, and a sign after an exponent's e.
NUMBER_LIKE = re.compile(r"(?:[A-Za-z0-9_.]|(?<=[0-9.][eE])[+-](?=[0-9]))+")
NUMBER_WORD_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.")
# After a number, a name that does not start like an exponent: "2x" lacks an operator.
NAME_NOT_EXPONENT = re.compile(r"[A-DF-Za-df-z][A-Za-z0-9_]*")
EXPRESSION_START = {"NAME", "NUMBER", "LPAR", "LSQB", "MINUS", "PLUS"}
OPERATORS = {"PLUS", "MINUS", "STAR", "SLASH", "_MATMUL", "POW"}
OPENING = {"(": ")", "[": "]"}
# Typeset operators (traces print − and ×) and what dcalc reads instead.
TYPESET = {"−": "-", "–": "-", "×": "*", "·": "*", "⋅": "*", "÷": "/", "²": "^2", "³": "^3"}
CLOSING = {")": "(", "]": "["}


def grammar_path() -> Path:
    """The grammar file: inside the installed package, else in the source tree."""
    package = Path(__file__).resolve().parent
    for candidate in (package / "grammars" / GRAMMAR_NAME, package.parent / "grammars" / GRAMMAR_NAME):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"dcalc's grammar {GRAMMAR_NAME} is missing from {package}")


def _cache_file(grammar: str, starts: tuple[str, ...] = PROGRAM_STARTS) -> str | None:
    """Where the generated parser for this grammar and these start rules is kept, or
    None when the cache folder cannot be made. The key covers the grammar's text,
    LARK_OPTIONS and the installed Lark (its package file's size and time), so an
    edited grammar or an upgraded Lark gets a parser of its own, and installs with the
    same grammar and Lark share one. (zlib, not hashlib: NumPy has imported it already.)"""
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = os.path.join(root, "dcalc")
    try:
        os.makedirs(folder, exist_ok=True)
        lark_file = os.stat(importlib.util.find_spec("lark").origin)
    except (OSError, AttributeError, TypeError):
        return None
    stamp = f"{GENERATOR_FORMAT}\0{sorted(LARK_OPTIONS.items())}\0{lark_file.st_size}\0{lark_file.st_mtime_ns}\0{grammar}"
    return os.path.join(folder, f"parser-{'-'.join(starts)}-{zlib.crc32(stamp.encode('utf-8')):08x}.py")


def _generate(grammar: str, starts: tuple[str, ...], path: str) -> None:
    """Write the stand-alone parser (Lark's own generator) to ``path``, atomically:
    another process writing the same file at the same time leaves one whole copy.
    A folder that cannot be written to is found out before the work is done."""
    import tempfile

    from lark import Lark
    from lark.tools.standalone import gen_standalone

    handle, temporary = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".parser-", suffix=".tmp")
    try:
        with open(handle, "w", encoding="utf-8") as file, gc_paused():
            gen_standalone(Lark(grammar, start=list(starts), **LARK_OPTIONS), out=file)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    with suppress(OSError):  # clearing up is no reason to fail
        _prune(os.path.dirname(path), keep=path)


# A new parser is written when the grammar or Lark changes; then the cache folder's
# parsers that no run has read for this long go (another install's, still in use,
# is read and stays; one taken wrongly is only written again, 0.3 s).
STALE_SECONDS = 30 * 24 * 3600


def _prune(folder: str, keep: str) -> None:
    """Remove the cache folder's parsers (generated modules, their bytecode, older
    Lark caches) last read or written more than STALE_SECONDS ago, except ``keep``."""
    import time

    oldest = time.time() - STALE_SECONDS
    candidates = [os.path.join(folder, name) for name in os.listdir(folder) if name.startswith("parser-")]
    bytecode = os.path.join(folder, "__pycache__")
    if os.path.isdir(bytecode):
        candidates += [os.path.join(bytecode, name) for name in os.listdir(bytecode) if name.startswith("parser-")]
    for candidate in candidates:
        with suppress(OSError):
            seen = os.stat(candidate)
            if candidate != keep and max(seen.st_atime, seen.st_mtime) < oldest:
                os.remove(candidate)


# A parse tree's leaves: tokens (Lark's Token is a str) and the None of an optional
# part left out. Anything else in a tree is a subtree. Trees are told apart this
# way, not by class: each generated parser, and Lark, has classes of its own.
LEAVES = (str, type(None))


class Runtime(NamedTuple):
    """A parser and the module its classes come from: a generated parser's module,
    or the ``lark`` package itself. Both name their classes alike (Token, Tree,
    UnexpectedInput, UnexpectedCharacters, UnexpectedToken, UnexpectedEOF)."""

    parser: Any
    module: ModuleType


def _load_generated(path: str) -> Runtime:
    name = f"_dcalc_generated_{Path(path).stem.replace('-', '_')}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
        return Runtime(module.Lark_StandAlone(postlex=BracketNewlines()), module)
    except BaseException:
        sys.modules.pop(name, None)
        raise


# Threads parsing for the first time wait while one of them loads (or makes) the parser.
_LOADING = threading.Lock()


@lru_cache(maxsize=None)
def _runtime(starts: tuple[str, ...]) -> Runtime:
    with _LOADING:
        return _load_or_make(starts)


def _load_or_make(starts: tuple[str, ...]) -> Runtime:
    grammar = grammar_path().read_text(encoding="utf-8")
    path = _cache_file(grammar, starts)
    if path is not None:
        if os.path.isfile(path):
            with suppress(Exception):  # a file cut short or garbled is made again
                return _load_generated(path)
        try:
            _generate(grammar, starts, path)
            return _load_generated(path)
        except OSError:  # a folder that cannot be written to
            pass
    import lark

    return Runtime(lark.Lark(grammar, start=list(starts), postlex=BracketNewlines(), **LARK_OPTIONS), lark)


def runtime(start: str = "program") -> Runtime:
    """The parser for this start rule. Lark's stand-alone generator writes it once
    per grammar, as a module with its own copy of Lark's LALR runtime and the built
    tables, to the cache folder; later runs import that module and not Lark, about
    15 ms less for a one-shot command (of 150). When the cache folder cannot be
    written, Lark builds the parser in memory. The cache is trusted as Lark's own
    cache (a pickle) was: what can write there can run code as the user."""
    return _runtime(SAMPLE_STARTS if start in SAMPLE_STARTS else PROGRAM_STARTS)


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


def max_chars() -> int:
    """The longest text dcalc parses: DEFAULT_MAX_CHARS, or what DCALC_MAX_CHARS says."""
    setting = os.environ.get(MAX_CHARS_VARIABLE, "").strip().replace("_", "")
    if not setting:
        return DEFAULT_MAX_CHARS
    if not setting.isdigit():
        raise InputError(f"{MAX_CHARS_VARIABLE}={os.environ[MAX_CHARS_VARIABLE]!r} is not a whole number of characters")
    return int(setting)


# A line that starts a sample's function: no program has one, so it tells sample text apart.
SAMPLE_FUNCTION = re.compile(r"^[ \t]*function[ \t]*[:{]", re.MULTILINE)


def is_sample(text: str) -> bool:
    return SAMPLE_FUNCTION.search(text) is not None


def parse(text: str, origin: str = "<input>", start: str = "program"):
    """Parse a program (or, with ``start="assignments"``, --at values) to a Lark tree;
    a text longer than ``max_chars()`` is refused unread."""
    limit = max_chars()
    if len(text) > limit:
        raise InputError(
            f"the input is {len(text):,} characters long; dcalc reads at most {limit:,}",
            Span.at_offset(text, limit, origin=origin),
            hint=f"set the environment variable {MAX_CHARS_VARIABLE} to raise the limit (dcalc needs up to 1.3 KB of memory per character)",
        )
    parser, kinds = runtime(start)
    try:
        with gc_paused():
            return parser.parse(text, start=start)
    except kinds.UnexpectedInput as error:
        raise _syntax_error(error, text, origin, start) from None
    finally:
        end_start_up()


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


def _plausible(expected, text: str, position: int, start: str = "program") -> set:
    """Drop what LALR's merged states allow but this spot cannot take: closers with
    no open bracket, slices outside [ ], and the rarely meant '.T'. (Values and
    sample lines are lists: a comma outside brackets is fine there.)"""
    expected = set(expected) - {"DOT"}
    opened = _unclosed_bracket(text, position)
    innermost = text[opened] if opened is not None else None
    if innermost != "(":
        expected.discard("RPAR")
    if innermost != "[":
        expected -= {"RSQB", "COLON"}
    if innermost is None and start == "program":
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


@lru_cache(maxsize=1)
def _number_pattern() -> re.Pattern:
    return re.compile(runtime().parser.get_terminal("NUMBER").pattern.to_regexp())


def _malformed_number(text: str, position: int) -> tuple[int, int] | None:
    """Where the token at ``position`` is glued to a number before it into a word
    that is no number ("1.2.3", "1e", "1__0", "1e5e5"): that word's start and end.
    A number followed by a plain name ("2x") lacks an operator instead: None."""
    start = position
    while start > 0 and (
        text[start - 1] in NUMBER_WORD_CHARS
        or (text[start - 1] in "+-" and start >= 3 and text[start - 2] in "eE" and text[start - 3] in "0123456789.")
    ):
        start -= 1
    word = NUMBER_LIKE.match(text, start) if start < position else None
    if word is None or word.end() <= position:
        return None
    number = _number_pattern().match(word.group())
    if number is None or NAME_NOT_EXPONENT.fullmatch(word.group()[number.end() :]):
        return None
    return word.start(), word.end()


# A function block's opening, and a line that starts with a sample's word (or d/dNAME).
FUNCTION_BLOCK = re.compile(r"^[ \t]*function[ \t]*\{", re.MULTILINE)
DIRECTIVE_LINE = re.compile(r"[ \t]*(?:(?:" + "|".join(SAMPLE_KEYWORDS) + r")\b|d/d)")


def _unclosed_function_block(text: str, position: int) -> int | None:
    """The line of a sample's ``function {`` that runs on, for want of its ``}``,
    into the directive at ``position`` (or the end of the file); None otherwise."""
    opened = None
    for opened in FUNCTION_BLOCK.finditer(text, 0, position):
        pass
    if opened is None or "}" in text[opened.end() : position]:
        return None
    line_start = text.rfind("\n", 0, position) + 1
    if position < len(text.rstrip()) and not DIRECTIVE_LINE.match(text, line_start):
        return None
    return text.count("\n", 0, opened.start()) + 1


UNCLOSED_BLOCK_HINT = "end the function's lines with a '}' of its own, before the sample's other lines"


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


def _syntax_error(error, text: str, origin: str, start: str = "program") -> DcalcSyntaxError:
    kinds = runtime(start).module
    UnexpectedCharacters, UnexpectedEOF, UnexpectedToken = kinds.UnexpectedCharacters, kinds.UnexpectedEOF, kinds.UnexpectedToken
    hint = None
    at_end = isinstance(error, UnexpectedEOF) or (
        isinstance(error, UnexpectedToken) and error.token.type == "$END"
    )
    if at_end:
        position = len(text.rstrip())
        expected = describe_expected(_plausible(_accepted(error) if hasattr(error, "interactive_parser") else getattr(error, "expected", ()), text, position, start))
        last = text.rstrip()[-1:]
        message = f"the input ends too early: expected {expected}"
        if last and last in "+-*/^@=,(":
            message = f"the input ends after {last!r}: expected {expected}"
        opened = _unclosed_bracket(text, len(text))
        if opened is not None:
            where = Span.at_offset(text, opened, origin=origin)
            hint = f"the {text[opened]!r} at line {where.line}, column {where.column} is never closed"
        block = _unclosed_function_block(text, position) if start == "sample" else None
        if block is not None:
            message, hint = f"the input ends inside the function block opened at line {block}", UNCLOSED_BLOCK_HINT
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
            message += f": expected {describe_expected(_plausible(error.allowed, text, position, start))}"
        if char in TYPESET:  # copied from a trace, a paper or a word processor
            hint = f"write {TYPESET[char]} for {char}: dcalc reads the ASCII operators + - * / ^"
    elif isinstance(error, UnexpectedToken):
        token = error.token
        found = repr(str(token)) if token.type != "_NEWLINE" else "a new line"
        expected = _plausible(_accepted(error), text, position, start)
        message = f"unexpected {found}: expected {describe_expected(expected)}"
        malformed = _malformed_number(text, position)
        if str(token) in CLOSING and _unclosed_bracket(text, position) is None:
            message = f"{str(token)!r} has no matching {CLOSING[str(token)]!r}"
        elif token.type == "_NEWLINE":
            message = f"the line ends too early: expected {describe_expected(expected)}"
            opened = _unclosed_bracket(text, position)
            if opened is not None:
                hint = "a bracket opened on this line is not closed"
        elif malformed is not None:
            word = Span.at_offset(text, *malformed, origin=origin)
            hint = "numbers are written 2, 2.5, .5, 1e-3 or 1_000; a product needs *, as in 2*x"
            return DcalcSyntaxError(f"malformed number {word.snippet!r}", word, hint=hint)
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
            hint = "each value is NAME=VALUE, as in x=2" if start == "assignments" else "an assignment needs a plain name on its left, alone on its line"
        opened = _unclosed_bracket(text, position)
        if hint is None and opened is not None and "\n" in text[opened:position]:
            # Line breaks inside brackets are dropped, so the next line read on as the bracket's.
            where = Span.at_offset(text, opened, origin=origin)
            hint = f"the {text[opened]!r} at line {where.line}, column {where.column} is never closed"
    else:  # pragma: no cover - Lark raises only the kinds above
        message = str(error)
    block = _unclosed_function_block(text, position) if start == "sample" else None
    if block is not None:
        message, hint = f"the function block opened at line {block} has no closing '}}'", UNCLOSED_BLOCK_HINT
    elif start == "sample" and hint is None and isinstance(error, UnexpectedToken) and error.token.type == "NAME":
        from .errors import suggest

        hint = suggest(str(error.token), SAMPLE_KEYWORDS)  # functon: for function:
    span = Span.at_offset(text, position, origin=origin)
    return DcalcSyntaxError(message, span, hint=hint, context=context)
