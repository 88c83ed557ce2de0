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
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .graph import PREC_ATOM, PREC_MUL, PREC_NEG, PREC_POW, Node


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
    value = complex(value) if np.iscomplexobj(value) else float(value)
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


def _constant_name(node: Node) -> str | None:
    """pi and e by name, unless the graph uses the name for an input."""
    value = node.value
    if np.ndim(value) or value not in NAMED_CONSTANTS:
        return None
    name = NAMED_CONSTANTS[value]
    return None if name in node.graph.input_names else name


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
            text = _constant_name(node) or format_number(node.value, self.digits)
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
        if prim.text_form is not None:
            wrapped = [f"({text})" if precedence < PREC_ATOM else text for text, precedence in operands]
            return prim.text_form(node.params).format(*wrapped), PREC_ATOM
        arguments = [text for text, _ in operands]
        if prim.written is not None:
            arguments += prim.written(node.params)
        else:
            arguments += [f"{name}={format_number(value) if isinstance(value, float) else value}" for name, value in sorted(node.params.items())]
        if notation.juxtapose and len(arguments) == 1 and operands[0][1] == PREC_ATOM and not self.bracketed[node.inputs[0].index]:
            return f"{prim.name} {arguments[0]}", PREC_MUL + 0.5
        return f"{prim.name}({', '.join(arguments)})", PREC_ATOM


# ---- LaTeX ------------------------------------------------------------------------

GREEK = {
    name: "\\" + name
    for name in (
        "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi pi rho sigma tau "
        "upsilon phi chi psi omega Gamma Delta Theta Lambda Xi Pi Sigma Upsilon Phi Psi Omega"
    ).split()
}


def latex_name(name: str) -> str:
    """x1 -> x_{1}, theta_2 -> \\theta_{2}, w_ab -> w_{ab}."""
    if "_" in name:
        head, _, tail = name.partition("_")
        return f"{GREEK.get(head, head)}_{{{tail}}}" if head else name
    stem = name.rstrip("0123456789")
    digits = name[len(stem) :]
    stem = GREEK.get(stem, stem if len(stem) == 1 else rf"\mathrm{{{stem}}}")
    return f"{stem}_{{{digits}}}" if digits and stem else stem


class _LatexPrinter(_Printer):
    def _format(self, node: Node) -> tuple[str, int]:
        if node.is_input:
            return latex_name(node.params["name"]), PREC_ATOM
        if node.is_const:
            text = format_number(node.value, self.digits)
            name = _constant_name(node)
            if name is not None:
                text = {"pi": r"\pi", "e": "e"}[name]
            if "e" in text and not text.startswith("[") and "inf" not in text:
                mantissa, _, exponent = text.partition("e")
                text = rf"{mantissa} \times 10^{{{int(exponent)}}}"
            return text, PREC_NEG if text.startswith("-") else PREC_ATOM
        operands = [self.done[operand.index] for operand in node.inputs]
        prim = node.prim
        if prim.latex_form is not None:
            texts = []
            for position, (text, precedence) in enumerate(operands):
                if position not in prim.latex_bare and (
                    _needs_parentheses(node, precedence, position) if prim.infix else precedence < PREC_ATOM
                ):
                    text = rf"\left({text}\right)"
                texts.append(text)
            precedence = prim.latex_precedence if prim.latex_precedence is not None else prim.precedence
            return prim.latex_form.format(*texts), precedence
        if prim.infix:  # negation
            text, precedence = operands[0]
            if precedence <= PREC_NEG:
                text = rf"\left({text}\right)"
            return "-" + text, PREC_NEG
        name = prim.latex or rf"\operatorname{{{prim.name}}}"
        return rf"{name}\left({', '.join(text for text, _ in operands)}\right)", PREC_ATOM


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
    uses: dict[int, int] = {}
    for node in nodes:
        for operand in node.inputs:
            uses[operand.index] = uses.get(operand.index, 0) + 1
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


def _named_leaf(named: dict[int, str], current: Node, latex: bool):
    def leaf(node: Node):
        if node is current:
            return None
        name = named.get(node.index)
        if name is None:
            return None
        return latex_name(name) if latex else name

    return leaf
