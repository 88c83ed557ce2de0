"""Nodes to infix text, with the fewest parentheses that keep the meaning.

The printed text parses back to the same tree: a right operand of the same
precedence keeps its parentheses (``a - (b - c)``, ``a + (b + c)``), since
floating-point addition is not associative. Printing walks the graph without
recursion, so deep expressions print too.

Two notations: ``PLAIN`` is what you would type (``1/x1 + x2``, ``2*x``);
``LECTURE`` is the notation of AD lecture traces (``v₋₁ × v₀``, ``ln v₋₁``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .graph import PREC_ADD, PREC_ATOM, PREC_MUL, PREC_NEG, PREC_POW, Node


@dataclass(frozen=True)
class Notation:
    symbols: dict  # infix symbol -> how it is written, spaces included
    minus: str  # unary minus
    juxtapose: bool  # write f(v) as "f v" when v is a single name or number


PLAIN = Notation({"+": " + ", "-": " - ", "*": "*", "/": "/", "^": "^", "@": " @ "}, "-", False)
LECTURE = Notation({"+": " + ", "-": " − ", "*": " × ", "/": " / ", "^": "^", "@": " @ "}, "−", True)


def format_number(value, digits: int | None = None) -> str:
    """Shortest text that reads back as the same float (or ``digits`` significant)."""
    if isinstance(value, np.ndarray):
        if value.ndim == 0:
            return format_number(value.item(), digits)
        body = ", ".join(format_number(item, digits) for item in value)
        return f"[{body}]"
    value = complex(value) if isinstance(value, (complex, np.complexfloating)) else float(value)
    if isinstance(value, complex):
        return f"({format_number(value.real, digits)}{'+' if value.imag >= 0 else '-'}{format_number(abs(value.imag), digits)}j)"
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if digits is not None:
        text = f"{value:.{digits}g}"
        return "0" if text == "-0" else text
    if value == 0 and math.copysign(1.0, value) < 0:
        return "-0"
    if value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return repr(value)


NAMED_CONSTANTS = {math.pi: "pi", math.e: "e"}


def _constant_name(node: Node, taken=()) -> str | None:
    """pi and e by name, unless the graph uses the name for an input (or ``taken`` has it)."""
    value = node.value
    if np.ndim(value) or value not in NAMED_CONSTANTS:
        return None
    name = NAMED_CONSTANTS[value]
    return None if name in node.graph.input_names or name in taken else name


def _needs_parentheses(node: Node, operand_precedence: int, position: int) -> bool:
    """Whether the operand at ``position`` of an infix node needs parentheses."""
    precedence = node.prim.precedence
    if node.prim.infix == "^":
        if position == 0:
            return operand_precedence <= PREC_POW
        return operand_precedence < PREC_NEG
    if position == 0:
        return operand_precedence < precedence
    # Right operands: same precedence keeps its parentheses (left-associative
    # operators), and a negative one gets them for readability: a*(-b).
    return operand_precedence <= precedence or operand_precedence == PREC_NEG


def to_infix(root: Node, leaf: Callable[[Node], str | None] | None = None, notation: Notation = PLAIN, digits: int | None = None) -> str:
    """The expression of ``root``; nodes for which ``leaf`` returns a text are not expanded."""
    return _Printer(leaf, notation, digits).text(root)


# A node's text holds each operand's place as \0index\0; no printed text has a NUL.
OPERAND_SLOT = re.compile("\x00([0-9]+)\x00")


class _Printer:
    """Formats each node once as a template whose operands are slots, then expands
    the root's template: time and memory linear in the printed text. Pasting whole
    operand texts into each node's text would be quadratic for x+x+...+x."""

    def __init__(self, leaf, notation: Notation, digits):
        self.leaf = leaf or (lambda node: None)
        self.notation = notation
        self.digits = digits
        self.done: dict[int, tuple[str, int]] = {}  # node index -> (its slot, precedence)
        self.templates: dict[int, list] = {}  # node index -> [text, operand index, text, ...]
        self.bracketed: dict[int, bool] = {}  # node index -> whether its text has a "("
        self.taken: frozenset[str] = frozenset()  # names that constants (pi, e) must not be written as

    def text(self, root: Node) -> str:
        self._visit(root)
        pieces = []
        pending: list = [root.index]  # literal texts and node indices still to write, last first
        while pending:
            item = pending.pop()
            if isinstance(item, str):
                pieces.append(item)
            else:
                pending.extend(reversed(self.templates[item]))
        return "".join(pieces)

    def _visit(self, root: Node) -> None:
        # Iterative post-order: a node is formatted once all its operands are.
        stack = [root]
        while stack:
            node = stack[-1]
            if node.index in self.done:
                stack.pop()
                continue
            named = self.leaf(node)
            if named is not None:
                self._keep(node, named, PREC_ATOM)
                stack.pop()
                continue
            pending = [operand for operand in node.inputs if operand.index not in self.done]
            if pending:
                stack.extend(reversed(pending))
                continue
            stack.pop()
            self._keep(node, *self._format(node))

    def _first_character(self, text: str) -> str:
        """The first character ``text`` will have once its operand slots are expanded."""
        match = OPERAND_SLOT.match(text)
        while match:
            for piece in self.templates[int(match.group(1))]:
                if isinstance(piece, int):
                    text = f"\x00{piece}\x00"
                    break
                if piece:
                    text = piece
                    break
            else:
                return ""
            match = OPERAND_SLOT.match(text)
        return text[:1]

    def _keep(self, node: Node, text: str, precedence: int) -> None:
        parts = OPERAND_SLOT.split(text)
        template = [part if position % 2 == 0 else int(part) for position, part in enumerate(parts)]
        self.templates[node.index] = template
        self.bracketed[node.index] = any("(" in part if isinstance(part, str) else self.bracketed[part] for part in template)
        self.done[node.index] = (f"\x00{node.index}\x00", precedence)

    def _format(self, node: Node) -> tuple[str, int]:
        notation = self.notation
        if node.is_input:
            return node.params["name"], PREC_ATOM
        if node.is_const:
            text = _constant_name(node, self.taken) or format_number(node.value, self.digits)
            negative = text.startswith("-")
            if negative and notation is LECTURE:
                text = notation.minus + text[1:]
            return text, PREC_NEG if negative else PREC_ATOM
        operands = [self.done[operand.index] for operand in node.inputs]
        prim = node.prim
        if prim.infix and len(operands) == 2:
            parts = []
            for position, (text, precedence) in enumerate(operands):
                parts.append(f"({text})" if _needs_parentheses(node, precedence, position) else text)
            return notation.symbols[prim.infix].join(parts), prim.precedence
        if prim.infix and len(operands) == 1:  # negation
            text, precedence = operands[0]
            if precedence <= PREC_NEG:
                text = f"({text})"
            return notation.minus + text, PREC_NEG
        if prim.text_form is not None:  # binds as its precedence says (1 - x^2 is a sum)
            return _fill_text_form(prim.text_form(node.params), operands, "({})"), prim.precedence
        arguments = [text for text, _ in operands]
        if prim.written is not None:
            arguments += prim.written(node.params)
        else:
            arguments += [f"{name}={format_number(value) if isinstance(value, float) else value}" for name, value in sorted(node.params.items())]
        if notation.juxtapose and len(arguments) == 1 and operands[0][1] == PREC_ATOM and not self.bracketed[node.inputs[0].index]:
            return f"{prim.name} {arguments[0]}", PREC_MUL + 0.5
        return f"{prim.name}({', '.join(arguments)})", PREC_ATOM


def _fill_text_form(form: str, operands, parentheses: str) -> str:
    """A text form (``{0}[1:3]``, ``sum({0}, (1,))``) filled with the operands' texts;
    operands that are not atoms get parentheses unless they stand alone."""
    delimited = _delimited_operands(form)
    return form.format(
        *(
            parentheses.format(text) if precedence < PREC_ATOM and position not in delimited else text
            for position, (text, precedence) in enumerate(operands)
        )
    )


def _delimited_operands(form: str) -> set[int]:
    """Operands of a text form that stand alone as a call argument or list element
    (``sum({0}, (1,))``, ``[{0}, {1}]``), so need no parentheses of their own."""
    alone: dict[int, bool] = {}
    for match in re.finditer(r"\{(\d+)\}", form):
        before = form[: match.start()].rstrip(" ")[-1:]
        after = form[match.end() :][:1]
        position = int(match.group(1))
        alone[position] = alone.get(position, True) and before in ("(", "[", ",") and after in (",", ")", "]")
    return {position for position, is_alone in alone.items() if is_alone}


# ---- LaTeX ------------------------------------------------------------------------

GREEK = {
    name: "\\" + name
    for name in (
        "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi pi rho sigma tau "
        "upsilon phi chi psi omega Gamma Delta Theta Lambda Xi Pi Sigma Upsilon Phi Psi Omega"
    ).split()
}


def latex_name(name: str) -> str:
    """x1 -> x_{1}, theta_2 -> \\theta_{2}, w_ab -> w_{ab} (indices), x_max ->
    x_{\\mathrm{max}} and loss_total -> \\mathrm{loss}_{\\mathrm{total}} (words)."""
    if "_" in name:
        head, _, tail = name.partition("_")
        if not head:
            return name
        if tail in GREEK:
            tail = GREEK[tail]
        elif tail.isalpha() and len(tail) > 2:
            tail = rf"\mathrm{{{tail}}}"
        return f"{_latex_stem(head)}_{{{tail}}}"
    stem = name.rstrip("0123456789")
    digits = name[len(stem) :]
    return f"{_latex_stem(stem)}_{{{digits}}}" if digits and stem else _latex_stem(stem) if stem else name


def _latex_stem(stem: str) -> str:
    """A Greek letter's command, a single letter as it is, a longer name upright."""
    return GREEK.get(stem, stem if len(stem) == 1 else rf"\mathrm{{{stem}}}")


def latex_number(text: str) -> str:
    """A number as format_number writes it, in LaTeX: 1.5 \\times 10^{-7}, \\infty, \\mathrm{NaN}."""
    if text.endswith("inf"):
        return text.replace("inf", r"\infty")
    if text == "nan":
        return r"\mathrm{NaN}"
    if "e" in text:
        mantissa, _, exponent = text.partition("e")
        return rf"{mantissa} \times 10^{{{int(exponent)}}}"
    return text


def latex_array(value, digits: int | None = None, limit: int | None = None) -> str:
    """A number, or a vector (a column) or matrix in brackets, as an ``array``, which
    takes any number of columns (amsmath's bmatrix stops at 10); one of more than
    ``limit`` entries, or of more axes, as its shape and first entries."""
    array = np.asarray(value)

    def number(item) -> str:
        return latex_number(format_number(item, digits))

    if array.ndim == 0:
        return number(array.item())
    if array.ndim > 2 or (limit is not None and array.size > limit):
        shape = r" \times ".join(str(size) for size in array.shape)
        shown = ", ".join(number(item) for item in array.ravel()[: limit or 6])
        return rf"\text{{array }} {shape}\ \left[{shown}, \ldots\right]"
    rows = array.reshape(-1, 1) if array.ndim == 1 else array
    body = r" \\ ".join(" & ".join(number(item) for item in row) for row in rows)
    return rf"\left[\begin{{array}}{{{'r' * rows.shape[1]}}} {body} \end{{array}}\right]"


class _LatexPrinter(_Printer):
    def _format(self, node: Node) -> tuple[str, int]:
        if node.is_input:
            return latex_name(node.params["name"]), PREC_ATOM
        if node.is_const:
            name = _constant_name(node, self.taken)
            if name is not None:
                return {"pi": r"\pi", "e": "e"}[name], PREC_ATOM
            text = latex_array(node.value, self.digits)
            return text, PREC_NEG if text.startswith("-") else PREC_ATOM
        operands = [self.done[operand.index] for operand in node.inputs]
        prim = node.prim
        if prim.latex_form is not None:
            form = prim.latex_form(node.params) if callable(prim.latex_form) else prim.latex_form
            texts = []
            for position, (text, precedence) in enumerate(operands):
                if position not in prim.latex_bare and (
                    _needs_parentheses(node, precedence, position) if prim.infix else precedence < PREC_ATOM
                ):
                    text = rf"\left({text}\right)"
                texts.append(text)
            precedence = prim.latex_precedence if prim.latex_precedence is not None else prim.precedence
            return form.format(*texts), precedence
        if prim.infix:  # negation
            text, precedence = operands[0]
            if precedence <= PREC_NEG:
                text = rf"\left({text}\right)"
            return "-" + text, PREC_NEG
        if prim.latex is None and prim.text_form is not None:  # as the language writes it: [a, b]
            return _fill_text_form(prim.text_form(node.params), operands, r"\left({}\right)"), PREC_ATOM
        name = prim.latex or rf"\operatorname{{{prim.name}}}"
        arguments = [text for text, _ in operands] + (prim.written(node.params) if prim.written is not None else [])
        return rf"{name}\left({', '.join(arguments)}\right)", PREC_ATOM


def to_latex(root: Node, leaf: Callable[[Node], str | None] | None = None) -> str:
    return _LatexPrinter(leaf, PLAIN, None).text(root)


# ---- large expressions: shared parts printed once ------------------------------------

INLINE_LIMIT = 40  # nodes in the expanded expression beyond which shared parts get names


def expanded_size(root: Node, cap: int = 10**9) -> int:
    """How many nodes the expression has written out as a tree (shared parts repeated)."""
    size: dict[int, int] = {}
    for node in root.graph.ancestors([root]):
        size[node.index] = min(cap, 1 + sum(size[operand.index] for operand in node.inputs))
    return size[root.index]


def _free_prefix(graph) -> str:
    """A letter for let names (t1, t2 ...) that no input or variable of the graph uses."""
    taken = set(graph.input_names) | set(graph.names.values())
    for prefix in ("t", "u", "w", "s", "q", "let"):
        if not any(re.fullmatch(rf"{prefix}\d+", name) for name in taken):
            return prefix
    return "let_"


def with_lets(root: Node, latex: bool = False, limit: int = INLINE_LIMIT, prefix: str | None = None) -> tuple[list[tuple[str, str]], str]:
    """``(lets, expression)``: when the expression is large, each subexpression used
    more than once is named (t1, t2, ...; another letter if the program uses those)
    and printed once, in order."""
    printer = to_latex if latex else to_infix
    if expanded_size(root, cap=limit + 1) <= limit:
        return [], printer(root)
    prefix = prefix or _free_prefix(root.graph)
    nodes = root.graph.ancestors([root])
    uses = _use_counts(nodes)
    named: dict[int, str] = {}
    lets = []
    for node in nodes:
        if node is root or node.is_input or node.is_const or uses.get(node.index, 0) < 2:
            continue
        name = f"{prefix}{len(named) + 1}"
        leaf = _named_leaf(named, node, latex)
        lets.append((latex_name(name) if latex else name, printer(node, leaf)))
        named[node.index] = name
    return lets, printer(root, _named_leaf(named, root, latex))


def _use_counts(nodes) -> dict[int, int]:
    """How many times each node is an operand of the others (by index)."""
    uses: dict[int, int] = {}
    for node in nodes:
        for operand in node.inputs:
            uses[operand.index] = uses.get(operand.index, 0) + 1
    return uses


def _named_leaf(named: dict[int, str], current: Node, latex: bool):
    def leaf(node: Node):
        if node is current:
            return None
        name = named.get(node.index)
        if name is None:
            return None
        return latex_name(name) if latex else name

    return leaf


# ---- matrix notation: derivatives of array programs --------------------------------------
#
# Written for people, not for parsing back: ⊙ is the elementwise product of arrays
# (broadcasting as NumPy does), juxtaposition a matrix product or a product with a
# scalar (A x, xᵀ y, g xᵀ, 2 Y), Aᵀ a transpose, f² a square, Σ₁(X) the sum over
# axis 1 and Σ(X) the sum of all entries. Reshapes that only add or drop length-1
# axes are not written (a vector serves as a column). Each op says how it is written
# in its table entry (Primitive.matrix_form); ops without one are written as the
# language writes them.

SUPERSCRIPTS = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")
SUBSCRIPTS = str.maketrans("-0123456789", "₋₀₁₂₃₄₅₆₇₈₉")
JUXTAPOSED = ("scale", "matmul")  # products written side by side: s A, A x


@dataclass(frozen=True)
class Form:
    """How one node is written in matrix notation.

    ``template`` has ``{0}``, ``{1}`` for the operands (braces of LaTeX doubled);
    ``precedence`` is how tightly the whole binds; products of different ``kind``
    ("hadamard", "matmul", "scale", "div") are parenthesised when one holds the
    other, so ``(a ⊙ b) c`` never reads two ways. Operands at ``atoms`` stand
    before ᵀ or a superscript and are parenthesised unless atoms; the template
    encloses those at ``delimited`` itself. ``operands`` are the nodes for
    ``{0}, {1}`` when they are not the node's inputs."""

    template: str
    precedence: float
    kind: str = ""
    atoms: tuple[int, ...] = ()
    delimited: tuple[int, ...] = ()
    operands: tuple | None = None


# A node written as its operand: a reshape that only adds or drops length-1 axes.
TRANSPARENT = Form("{0}", PREC_ATOM, "transparent")


@dataclass(frozen=True)
class MatrixNotation:
    """What matrix forms are written with: Unicode or LaTeX pieces (template
    fragments, braces doubled), and the nodes written by name."""

    latex: bool = False
    names: dict = field(default_factory=dict)  # node index -> name

    @property
    def hadamard(self) -> str:
        return r" \odot " if self.latex else " ⊙ "

    @property
    def transposed(self) -> str:
        return r"^{{\top}}" if self.latex else "ᵀ"

    @property
    def ones(self) -> str:
        """An array of ones (of the shape its place calls for): s 𝟏 spreads s."""
        return r"\mathbf{{1}}" if self.latex else "𝟏"

    @property
    def zeros(self) -> str:
        return r"\mathbf{{0}}" if self.latex else "𝟎"

    def power(self, exponent: int, elementwise_on_matrix: bool) -> str:
        """f², and A⊙² for a matrix (A² would read as A A)."""
        if self.latex:
            return rf"^{{{{\odot {exponent}}}}}" if elementwise_on_matrix else f"^{{{{{exponent}}}}}"
        return ("⊙" if elementwise_on_matrix else "") + str(exponent).translate(SUPERSCRIPTS)

    def sum_over(self, axes: tuple | None) -> Form:
        """Σ(X) over all entries, Σ₁(X) over axis 1, Σ₀,₂(X) over axes 0 and 2."""
        if self.latex:
            below = ""
            if axes is not None:
                word = "axis" if len(axes) == 1 else "axes"
                below = rf"_{{{{\mathrm{{{{{word}}}}}\,{','.join(map(str, axes))}}}}}"
            return Form(r"\sum" + below + r" \left({0}\right)", PREC_MUL, "sum", delimited=(0,))
        below = "" if axes is None else ",".join(str(axis).translate(SUBSCRIPTS) for axis in axes)
        return Form("Σ" + below + "({0})", PREC_ATOM, delimited=(0,))

    def iverson(self) -> str:
        """[a = b]: 1 where a equals b, 0 elsewhere."""
        return r"\left[{0} = {1}\right]" if self.latex else "[{0} = {1}]"

    def call(self, name: str, *arguments: str) -> str:
        """name(arguments), for ops with no matrix symbol of their own."""
        if self.latex:
            return rf"\operatorname{{{{{name}}}}}\left({', '.join(arguments)}\right)"
        return f"{name}({', '.join(arguments)})"

    def parenthesised(self, text: str) -> str:
        return rf"\left({text}\right)" if self.latex else f"({text})"

    def shown(self, node: Node) -> Node:
        """The node a matrix form shows for ``node``: through transparent reshapes
        (a column g written as g), not through named nodes."""
        while node.index not in self.names and node.prim.matrix_form is not None and node.prim.matrix_form(node, self) is TRANSPARENT:
            node = node.inputs[0]
        return node


def _products_nest(outer: str, inner: str, position: int, first: str) -> bool:
    """Whether a product of kind ``inner`` reads the same without parentheses as
    operand ``position`` of a product of kind ``outer``: left operands of the same
    kind (a ⊙ b ⊙ c, a/b/c, 2 Y Vᵀ), ⊙ inside ⊙, and juxtaposition inside
    juxtaposition (xᵀ A x, 2 s A) unless a number would stand in the middle (Wᵀ (2 Y)):
    ``first`` is the first character of the inner product's text."""
    if position == 0:
        return inner == outer or (outer in JUXTAPOSED and inner in JUXTAPOSED)
    if outer in JUXTAPOSED and inner in JUXTAPOSED:
        return first not in set("0123456789.-[")
    return outer == inner == "hadamard"


class _MatrixPrinter(_Printer):
    def __init__(self, leaf, notation: MatrixNotation, digits=None):
        super().__init__(leaf, PLAIN, digits)
        self.matrix = notation
        self.kinds: dict[int, str] = {}
        self.transparent: set[int] = set()

    def _ensure(self, node: Node) -> None:
        if node.index not in self.done:
            self._visit(node)

    def _format(self, node: Node) -> tuple[str, int]:
        prim = node.prim
        form = prim.matrix_form(node, self.matrix) if prim.matrix_form is not None else None
        if form is TRANSPARENT:
            inner = node.inputs[0]
            self._ensure(inner)
            self.transparent.add(node.index)
            self.kinds[node.index] = self.kinds.get(inner.index, "")
            return self.done[inner.index]
        if form is None:
            form = self._infix_form(node)
        if form is None:
            # The op's own text (the language's, or its LaTeX form), from the operands' texts.
            saved = {operand.index: self.done[operand.index] for operand in node.inputs}
            for operand in node.inputs:
                self.done[operand.index] = self._operand(node, operand)
            try:
                text, precedence = super()._format(node)
            finally:
                self.done.update(saved)
            self.kinds[node.index] = prim.name if precedence == PREC_MUL else ""
            return text, precedence
        texts = []
        for position, operand in enumerate(form.operands if form.operands is not None else node.inputs):
            self._ensure(operand)
            text, precedence = self._operand(node, operand)
            if self._needs_parentheses(form, position, self._first_character(text), precedence, self.kinds.get(operand.index, "")):
                text = self.matrix.parenthesised(text)
            texts.append(text)
        self.kinds[node.index] = form.kind
        return form.template.format(*texts), form.precedence

    def _operand(self, node: Node, operand: Node) -> tuple[str, int]:
        """An operand's text: a column spread by broadcasting against a row keeps its
        reshape, since written as a vector it would read as one."""
        if (
            operand.index in self.transparent
            and node.prim.elementwise
            and operand.shape != node.shape
            and self.matrix.shown(operand).size > 1
        ):
            return super()._format(operand)
        return self.done[operand.index]

    def _infix_form(self, node: Node) -> Form | None:
        """+, -, / and ^ as the language writes them (LaTeX has its own forms)."""
        prim = node.prim
        if not prim.infix or self.matrix.latex:
            return None
        if len(node.inputs) == 1:
            return Form("-{0}", PREC_NEG, "neg")
        symbol = PLAIN.symbols[prim.infix]
        if prim.precedence == PREC_POW:
            return Form("{0}" + symbol + "{1}", PREC_POW, "pow", atoms=(0,))
        return Form("{0}" + symbol + "{1}", prim.precedence, prim.name)

    @staticmethod
    def _needs_parentheses(form: Form, position: int, first: str, precedence: float, kind: str) -> bool:
        if position in form.delimited:
            return False
        if position in form.atoms:
            return precedence < PREC_ATOM
        if form.precedence == PREC_ADD:  # as in plain text: a - (b - c)
            return precedence < PREC_ADD if position == 0 else precedence <= PREC_ADD
        if form.precedence == PREC_MUL:
            if precedence < PREC_MUL or (precedence == PREC_NEG and position > 0):
                return True
            return precedence == PREC_MUL and not _products_nest(form.kind, kind, position, first)
        if form.precedence == PREC_NEG:
            return precedence <= PREC_NEG
        if form.precedence == PREC_POW:  # the exponent: x^(-1) as in plain text
            return precedence < PREC_NEG
        return False


class _MatrixLatexPrinter(_MatrixPrinter, _LatexPrinter):
    """Matrix notation in LaTeX; ops without a matrix form get their LaTeX forms."""


def to_matrix(root: Node, leaf: Callable[[Node], str | None] | None = None, latex: bool = False, names: dict | None = None) -> str:
    """``root`` in matrix notation (Unicode, or LaTeX); ``names`` (node index ->
    name) are the nodes that ``leaf`` writes by name."""
    notation = MatrixNotation(latex, names or {})
    printer = _MatrixLatexPrinter(leaf, notation) if latex else _MatrixPrinter(leaf, notation)
    printer.taken = frozenset(root.graph.names.values())  # e is the program's e, if it has one
    return printer.text(root)


def program_names(graph, nodes) -> dict[int, str]:
    """The names the program gave values among ``nodes`` (index -> name): each name
    that stands for one value only, and not for an input."""
    inputs = set(graph.input_names)
    counts: dict[str, int] = {}
    for name in graph.names.values():
        counts[name] = counts.get(name, 0) + 1
    return {
        node.index: graph.names[node.index]
        for node in nodes
        if node.index in graph.names
        and not (node.is_input or node.is_const)
        and counts[graph.names[node.index]] == 1
        and graph.names[node.index] not in inputs
    }


def matrix_lines(roots: list[Node], labels: list[str], latex: bool = False, limit: int = INLINE_LIMIT) -> list[str]:
    """Derivatives of an array program in matrix notation, as lines: first each value
    the program named (and each shared part of a large expression, named t1, t2 ...
    with a letter the program does not use) as ``name = ...``, in the order they are
    computed, then ``label = expression`` for each root."""
    graph = roots[0].graph
    nodes = graph.ancestors(roots)
    names = program_names(graph, nodes)
    names.update(_shared_parts(roots, nodes, names, limit, MatrixNotation(latex, names)))
    shown_name = latex_name if latex else (lambda name: name)

    def text(node: Node) -> str:
        return to_matrix(node, _named_leaf(names, node, latex), latex, names)

    lines = [f"{shown_name(names[node.index])} = {text(node)}" for node in nodes if node.index in names]
    roots_text = [text(root) if root.index not in names else shown_name(names[root.index]) for root in roots]
    return lines + [f"{label} = {expression}" for label, expression in zip(labels, roots_text)]


def _shared_parts(roots, nodes, names: dict, limit: int, notation: MatrixNotation) -> dict[int, str]:
    """Names (t1, t2 ...) for the parts used more than once, when a printed expression
    (a root or a named value) is larger than ``limit`` nodes written out."""
    size: dict[int, int] = {}
    for node in nodes:
        size[node.index] = min(limit + 1, 1 + sum(1 if operand.index in names else size[operand.index] for operand in node.inputs))
    if all(size[index] <= limit for index in [root.index for root in roots] + list(names)):
        return {}
    uses = _use_counts(nodes)
    # A reshape that is not written passes its uses on to what it shows.
    transparent = set()
    for node in reversed(nodes):
        if node.prim.matrix_form is not None and node.prim.matrix_form(node, notation) is TRANSPARENT:
            transparent.add(node.index)
            inner = node.inputs[0].index
            uses[inner] = uses.get(inner, 0) + uses.get(node.index, 0) - 1
    prefix = _free_prefix(roots[0].graph)
    root_indices = {root.index for root in roots}
    shared = {}
    for node in nodes:
        if (
            node.index in names
            or node.index in root_indices
            or node.index in transparent
            or node.is_input
            or node.is_const
            or uses.get(node.index, 0) < 2
        ):
            continue
        shared[node.index] = f"{prefix}{len(shared) + 1}"
    return shared
