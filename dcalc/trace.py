"""Trace tables as AD lectures draw them, from what the engines actually did.

The numbers come from the forward and reverse engines' own passes (their
``record`` lists), so a trace is what the engine computed, not a re-derivation.
The text of each local rule (``v̇₂ = v̇₋₁ × v₀ + v̇₀ × v₋₁``, ``v̄₁ / v₋₁``) comes
from applying the same derivative rules to placeholder nodes named after the
v-numbers and printing the simplified result, so it cannot drift from the maths.

Numbering as in the lectures: inputs v_{1-n} ... v_0, then v_1 ... v_N; y = v_N.
"""

from __future__ import annotations

import unicodedata
from functools import partial
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .engines.rules import jvp, vjp
from .graph import Graph, Node
from .printer import LECTURE, PLAIN, SUBSCRIPTS, to_infix, to_latex
from .render import lecture_numbers

NOTATIONS = ("unicode", "ascii", "latex")


class Text:
    """One piece of trace text in the three notations. Each may be given as a function
    that writes it, called the first time that notation is asked for: a table shows
    one, and a long program's trace has a few pieces for every operation."""

    __slots__ = ("_forms",)

    def __init__(self, unicode: str | Callable[[], str], ascii: str | Callable[[], str], latex: str | Callable[[], str]):
        self._forms = {"unicode": unicode, "ascii": ascii, "latex": latex}

    def in_notation(self, notation: str) -> str:
        form = self._forms[notation]
        if callable(form):
            form = self._forms[notation] = form()
        return form

    unicode = property(lambda self: self.in_notation("unicode"))
    ascii = property(lambda self: self.in_notation("ascii"))
    latex = property(lambda self: self.in_notation("latex"))

    def __add__(self, other: "Text") -> "Text":
        forms = [(self._forms[notation], other._forms[notation]) for notation in NOTATIONS]
        return Text(*[first + second if isinstance(first, str) and isinstance(second, str) else partial(_joined, self, other, notation) for (first, second), notation in zip(forms, NOTATIONS)])

    def __repr__(self) -> str:
        return f"Text({self.unicode!r}, {self.ascii!r}, {self.latex!r})"


def _joined(first: Text, second: Text, notation: str) -> str:
    return first.in_notation(notation) + second.in_notation(notation)


def plain(text: str) -> Text:
    return Text(text, text, text)


@dataclass
class Row:
    """``label = definition [= rule] = value``."""

    label: Text
    definition: Text | None
    value: Any
    rule: Text | None = None
    node: Node | None = None


@dataclass
class Trace:
    title: str
    rows: list[Row] = field(default_factory=list)


# ---- names --------------------------------------------------------------------------


def v(number: int, accent: str = "") -> Text:
    """v₋₁ / v_-1 / v_{-1}, with a dot (tangent) or a bar (adjoint)."""
    marks = {"": ("", "v", "v"), "dot": ("\u0307", "vdot", r"\dot{v}"), "bar": ("\u0304", "vbar", r"\bar{v}")}
    mark, ascii_stem, latex_stem = marks[accent]
    return Text(f"v{mark}{str(number).translate(SUBSCRIPTS)}", f"{ascii_stem}_{number}", f"{latex_stem}_{{{number}}}")


def variable(name: str, accent: str = "") -> Text:
    """x1 -> x₁ (ẋ₁, x̄₁); y -> y (ẏ, ȳ)."""
    from .printer import latex_name

    stem = name.rstrip("0123456789")
    digits = name[len(stem) :]
    mark = {"": "", "dot": "\u0307", "bar": "\u0304"}[accent]
    ascii_prefix = {"": "", "dot": "dot_", "bar": "bar_"}[accent]
    latex_accent = {"": "{}", "dot": r"\dot{{{}}}", "bar": r"\bar{{{}}}"}[accent]
    if stem and digits:
        unicode = f"{stem}{mark}{digits.translate(SUBSCRIPTS)}"
    else:
        unicode = f"{name}{mark}"
    base = latex_name(name)
    if accent:  # the accent on the letter, not on its subscript: \dot{x}_{1}
        head, underscore, subscript = base.partition("_")
        base = latex_accent.format(head) + underscore + subscript
    # NFC: ẋ and ẏ have precomposed forms, which terminals draw better.
    return Text(unicodedata.normalize("NFC", unicode), ascii_prefix + name, base)


# ---- local rules in v-notation ---------------------------------------------------------


class _Placeholders:
    """A scratch graph whose inputs stand for v₋₁, v̇₂, v̄₀ ...: applying a rule to
    them gives the rule's expression, printed with their names."""

    def __init__(self, numbers: dict[int, int], simplify: bool = True):
        self.numbers = numbers
        self.graph = Graph(simplify=simplify)
        self.names: dict[int, Text] = {}

    def symbol(self, node: Node, accent: str = "") -> Node:
        if node.is_const:
            return self.graph.const(node.value)
        number = self.numbers[node.index]
        placeholder = self.graph.input(f"{accent}{number}", node.shape)
        self.names[placeholder.index] = v(number, accent)
        return placeholder

    def text(self, expression: Node) -> Text:
        names = self.names

        def leaf(notation):
            return lambda node: names[node.index].in_notation(notation) if node.index in names else None

        return Text(
            partial(to_infix, expression, leaf("unicode"), LECTURE),
            partial(to_infix, expression, leaf("ascii"), PLAIN),
            partial(to_latex, expression, leaf("latex")),
        )


def _definition(node: Node, places: _Placeholders) -> Text:
    """The primal line's right-hand side: ``ln v₋₁``, as written (``places`` does
    not simplify, so ``v₀ × 1`` stays what the program computes)."""
    expression = places.graph.apply(node.prim, [places.symbol(operand) for operand in node.inputs], dict(node.params))
    return places.text(expression)


def _tangent_rule(node: Node, places: _Placeholders, moving: set[int]) -> Text:
    """``v̇₋₁ × v₀ + v̇₀ × v₋₁``: the node's JVP with the operands' tangents symbolic.
    As in the lectures, zero tangents are written too, where the op has a rule for
    them; ``moving`` are the operands whose tangent the engine actually carried."""
    from .errors import DerivativeError

    args = [places.symbol(operand) for operand in node.inputs]
    for only_moving in (False, True):
        tangents = [
            None if operand.is_const or (only_moving and operand.index not in moving) else places.symbol(operand, "dot")
            for operand in node.inputs
        ]
        try:
            expression = jvp(node, tangents, args, places.symbol(node), "forward")
        except DerivativeError:
            if only_moving:
                raise
            continue
        return places.text(expression) if expression is not None else plain("0")


def _partial_symbol(source: Node, operand: Node, numbers) -> Text:
    """∂v₂/∂v₀"""
    top, bottom = v(numbers[source.index]), v(numbers[operand.index])
    return Text(f"∂{top.unicode}/∂{bottom.unicode}", f"d{top.ascii}/d{bottom.ascii}", rf"\frac{{\partial {top.latex}}}{{\partial {bottom.latex}}}")


def _adjoint_rule(source: Node, position: int, places: _Placeholders) -> Text:
    """``v̄₂ × v₀``, ``v̄₅ × (−1)``, ``v̄₁ / v₋₁``: what the VJP sends to one operand."""
    bar = v(places.numbers[source.index], "bar")
    partial = source.prim.partials[position] if source.prim.partials is not None else None
    if isinstance(partial, (int, float)):
        number = f"{partial:g}"
        if partial < 0:
            return bar + Text(f" × (−{number[1:]})", f"*({number})", rf" \cdot \left({number}\right)")
        return bar + Text(f" × {number}", f"*{number}", rf" \cdot {number}")
    args = [places.symbol(operand) for operand in source.inputs]
    expression = vjp(source, position, places.symbol(source, "bar"), args, places.symbol(source), "reverse")
    return places.text(expression)


# ---- the traces -------------------------------------------------------------------------


def forward_trace(graph: Graph, values, wrt: str, output: Node | None = None) -> list[Trace]:
    """The Forward Primal Trace and the Forward Tangent Trace for d/d``wrt``."""
    from .engines.forward import forward

    output = output or graph.outputs[0]
    record: list = []
    direction = {wrt: np.ones(graph.input_named(wrt).shape)}
    forward(graph, values, outputs=[output], wrt=[wrt], direction=direction, record=record)
    numbers = lecture_numbers(graph)
    places, as_written = _Placeholders(numbers), _Placeholders(numbers, simplify=False)
    primal, tangent = Trace("Forward Primal Trace"), Trace("Forward Tangent (Derivative) Trace")
    moving = {node.index for node, _, tangent_value in record if tangent_value is not None}
    for node, value, tangent_value in record:
        if node.is_const:
            continue
        number = numbers[node.index]
        value = _strip(value)
        tangent_value = np.zeros(node.shape) if tangent_value is None else _strip(tangent_value)
        if node.is_input:
            name = node.params["name"]
            primal.rows.append(Row(v(number), variable(name), value, node=node))
            tangent.rows.append(Row(v(number, "dot"), variable(name, "dot"), tangent_value, node=node))
        else:
            primal.rows.append(Row(v(number), _definition(node, as_written), value, node=node))
            tangent.rows.append(Row(v(number, "dot"), _tangent_rule(node, places, moving), tangent_value, node=node))
    name = _output_name(graph, output)
    final = numbers[output.index]
    primal.rows.append(Row(variable(name), v(final), primal.rows[_row_of(primal, output)].value, node=output))
    tangent.rows.append(Row(variable(name, "dot"), v(final, "dot"), tangent.rows[_row_of(tangent, output)].value, node=output))
    return [primal, tangent]


def reverse_trace(graph: Graph, values, output: Node | None = None) -> list[Trace]:
    """The primal trace and the Reverse Adjoint Trace, in the order the adjoints were sent."""
    from .engines.reverse import reverse

    output = output or graph.outputs[0]
    if output.shape != ():
        from .errors import DerivativeError

        raise DerivativeError(f"a reverse trace starts from a scalar output; this one has shape {output.shape}", output.span)
    record: list = []
    reverse(graph, values, outputs=[output], record=record)
    numbers = lecture_numbers(graph)
    places, as_written = _Placeholders(numbers), _Placeholders(numbers, simplify=False)
    primal, adjoint = Trace("Forward Primal Trace"), Trace("Reverse Adjoint (Derivative) Trace")
    for entry in record:
        if entry[0] != "primal" or entry[1].is_const:
            continue
        _, node, value = entry
        definition = variable(node.params["name"]) if node.is_input else _definition(node, as_written)
        primal.rows.append(Row(v(numbers[node.index]), definition, _strip(value), node=node))
    name = _output_name(graph, output)
    final = numbers[output.index]
    primal.rows.append(Row(variable(name), v(final), primal.rows[_row_of(primal, output)].value, node=output))
    adjoint.rows.append(Row(v(final, "bar"), variable(name, "bar"), np.ones(output.shape), node=output))
    started: set[int] = {output.index}
    for entry in record:
        if entry[0] != "adjoint":
            continue
        _, operand, source, position, contribution, total = entry
        generic = v(numbers[source.index], "bar") + plain(" ") + _partial_symbol(source, operand, numbers)
        rule = _adjoint_rule(source, position, places)
        if operand.index in started:
            so_far = v(numbers[operand.index], "bar") + Text(" + ", " + ", " + ")
            generic, rule = so_far + generic, so_far + rule
        started.add(operand.index)
        adjoint.rows.append(Row(v(numbers[operand.index], "bar"), generic, _strip(total), rule=rule, node=operand))
    for node in graph.inputs:
        total = next((row.value for row in reversed(adjoint.rows) if row.node is node), np.zeros(node.shape))
        adjoint.rows.append(Row(variable(node.params["name"], "bar"), v(numbers[node.index], "bar"), total, node=node))
    return [primal, adjoint]


def _strip(value):
    """Drop the engines' trailing direction axis (length 1 here)."""
    array = np.asarray(value)
    return array[..., 0] if array.ndim else array


def _row_of(trace: Trace, node: Node) -> int:
    return next(index for index, row in enumerate(trace.rows) if row.node is node)


def _output_name(graph: Graph, output: Node) -> str:
    if output in graph.outputs:
        return graph.output_names[graph.outputs.index(output)]
    return "y"
