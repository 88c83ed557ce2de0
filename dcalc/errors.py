"""dcalc's own error types.

Every error a user can cause is a :class:`DcalcError`. It carries the source
position where the problem is, so the command line can show the line with a
caret under it. The CLI turns these into a message on stderr and exit status 2;
nothing here prints or exits.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Span:
    """A stretch of source text: where a node, a token or an error comes from."""

    text: str  # the whole source the span points into
    start: int  # character offsets, end exclusive
    end: int
    line: int  # 1-based line and column of start
    column: int
    origin: str = "<input>"  # a file path, "<expression>", "--at", ...

    @classmethod
    def at_offset(cls, text: str, start: int, end: int | None = None, origin: str = "<input>") -> Span:
        start = max(0, min(start, len(text)))
        end = start + 1 if end is None else max(start, min(end, len(text)))
        line = text.count("\n", 0, start) + 1
        column = start - (text.rfind("\n", 0, start) + 1) + 1
        return cls(text, start, end, line, column, origin)

    @property
    def snippet(self) -> str:
        """The source text the span covers."""
        return self.text[self.start : self.end]

    @property
    def location(self) -> str:
        return f"{self.origin}:{self.line}:{self.column}"

    def excerpt(self) -> str:
        """The span's line with ``^~~~`` under the span (only the first line of it)."""
        line_start = self.text.rfind("\n", 0, self.start) + 1
        line_end = self.text.find("\n", self.start)
        if line_end == -1:
            line_end = len(self.text)
        line = self.text[line_start:line_end].rstrip("\r")
        offset = self.start - line_start
        width = max(1, min(self.end, line_end) - self.start)
        # Long lines (a 10 MB expression) are cut to a window around the span.
        window = 70
        if len(line) > 2 * window:
            left = max(0, offset - window // 2)
            shown = line[left : left + window]
            prefix = "..." if left > 0 else ""
            suffix = "..." if left + window < len(line) else ""
            line = prefix + shown + suffix
            offset = offset - left + len(prefix)
            width = min(width, window - (offset - len(prefix)))
        return f"{line}\n{' ' * offset}^{'~' * (width - 1)}"


class DcalcError(Exception):
    """Base class of the errors caused by what the user gave dcalc."""

    kind = "error"

    def __init__(self, message: str, span: Span | None = None, hint: str | None = None, context: str | None = None):
        super().__init__(message)
        self.message = message
        self.span = span
        self.hint = hint
        # Pre-rendered source context (used for syntax errors, where Lark draws it).
        self.context = context

    def __str__(self) -> str:
        return self.render()

    def render(self, kind: str | None = None, before: str = "") -> str:
        """The whole message as plain text: what (as ``kind``, "warning" where it is
        one, with ``before`` ahead of the message), where, the source with a caret, a hint."""
        lines = [f"{kind or self.kind}: {before}{self.message}"]
        if self.span is not None:
            lines.append(f"  --> {self.span.location}")
        context = self.context
        if context is None and self.span is not None:
            context = self.span.excerpt()
        if context:
            lines.extend("  | " + row for row in context.rstrip("\n").split("\n"))
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)


class DcalcSyntaxError(DcalcError):
    kind = "syntax error"


class UnknownNameError(DcalcError):
    """An unknown function, a name returned but never defined, a value for no input."""

    kind = "name error"


class ArityError(DcalcError):
    kind = "arity error"


class ShapeError(DcalcError):
    kind = "shape error"


class InputError(DcalcError):
    """A problem with the values given to the inputs (--at, value files)."""

    kind = "input error"


class DomainError(DcalcError):
    kind = "domain error"


class ZeroTimesInfinityError(DomainError):
    """The chain rule met 0·∞ on the way to a derivative, and the engines took it as 0."""


class DerivativeError(DcalcError):
    """A primitive has no derivative rule for an argument that needs one."""

    kind = "derivative error"


def counted(number: int, noun: str) -> str:
    """1 point, 2 points, 10,000 points."""
    return f"{number:,} {noun}" + ("" if number == 1 else "s")


def suggest(name: str, known) -> str | None:
    """'did you mean ...?' for the known name nearest to ``name``, if any is near."""
    import difflib

    matches = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.5)
    return f"did you mean {matches[0]!r}?" if matches else None
