"""Algebraic simplification for derivative graphs, applied as nodes are built.

``Graph.apply`` calls :func:`simplify` when the graph has ``simplify=True``
(the symbolic engine's graphs); the user's own graph is never rewritten. Each
rule looks only at the new node's operands, so the cost is constant per node,
and hash-consing then shares what the rules produce.

Rules: constant folding (``ln(e)`` too); ``x+0``, ``x-0``, ``0-x``, ``x-x``, ``x*1``, ``x*0``,
``x*(-1)``, ``x/1``, ``0/x``, ``--x``, ``x^1``, ``x^0``, ``xlogy(0, x)``,
``xlogy(a, c)`` as ``a*ln(c)`` for a constant c that is not 0; merged constants
(``2*(3*x)`` and ``2*((3*x)*y)`` are ``6*x`` and ``(6*x)*y``); like terms with
whole or equal coefficients gathered from the new term and the two below it
(``2q + q`` is ``3q``, ``(p + q) + q`` is ``p + 2q``, ``(p - q) + q`` is ``p``);
signs pulled out (``(-a)*b`` is ``-(a*b)``, ``a + (-b)`` and ``a + (-2)*b`` are
``a - b`` and ``a - 2*b``); ``a*(1/b)`` is ``a/b``; constants written first in
products (``2*x``); ``(c*a)*b`` is ``(c*b)*a`` where the graph has that already
(so ``2*sin(x)*cos(x) - 2*cos(x)*sin(x)`` is 0). Rules that would change a node's shape are not applied.
"""

from __future__ import annotations

import numpy as np

from . import primitives as P
from .graph import Graph, Node
from .printer import _constant_name


def _const(node: Node, value) -> bool:
    return node.is_const and np.ndim(node.value) == 0 and node.value == value


def _number(node: Node) -> bool:
    return node.is_const and np.ndim(node.value) == 0


def _negative_coefficient(node: Node) -> bool:
    """(-2)*q or ((-2)*a)*b: a product whose constant, written first, is negative."""
    first = node
    while first.op == "mul":
        first = first.inputs[0]
    return first is not node and _number(first) and first.value < 0 and not _constant_name(first)


def _flipped(graph: Graph, product: Node) -> Node:
    """A product with a negative constant first, that constant's sign turned: -(-2*a*b)."""
    left, right = product.inputs
    if left.op == "mul":
        return graph.apply(P.mul, (_flipped(graph, left), right))
    return right if left.value == -1 else graph.apply(P.mul, (graph.const(-left.value), right))


def _negative(node: Node) -> bool:
    return node.op == "neg" or (_number(node) and node.value < 0) or _negative_coefficient(node)


def _negated(graph: Graph, node: Node) -> Node:
    """-node, for a node that is a negation, a negative constant or (-c)*q."""
    if node.op == "neg":
        return node.inputs[0]
    if _negative_coefficient(node):
        return _flipped(graph, node)
    return graph.const(-node.value)


def _zeros(graph: Graph, shape) -> Node:
    return graph.const(np.zeros(shape) if shape else 0.0)


def _term(node: Node) -> tuple[float, Node]:
    """A term as (coefficient, base): 3*q is (3, q), -q is (-1, q), q is (1, q), and
    pi*q is (1, pi*q): a named constant is no coefficient (2*pi stays as written)."""
    if node.op == "mul" and _number(node.inputs[0]) and not _constant_name(node.inputs[0]):
        return float(node.inputs[0].value), node.inputs[1]
    if node.op == "neg":
        coefficient, base = _term(node.inputs[0])
        return -coefficient, base
    return 1.0, node


def _scaled(graph: Graph, coefficient: float, base: Node, shape) -> Node:
    """coefficient * base: 0, q, -q, or 2*q and -2*q."""
    if coefficient == 0:
        return _zeros(graph, shape)
    if coefficient == 1:
        return base
    if coefficient == -1:
        return graph.apply(P.neg, (base,))
    return graph.apply(P.mul, (graph.const(coefficient), base))


def _gatherable(first: float, second: float) -> bool:
    """Whether c1 q and c2 q gather into one term that prints as simply: whole
    coefficients, or equal ones (0.5q + 0.5q is q; 0.1q + 0.2q would print
    0.30000000000000004*q)."""
    return (first.is_integer() and second.is_integer()) or abs(first) == abs(second)


def _like_terms(graph: Graph, x: Node, y: Node, sign: float, shape) -> Node | None:
    """x + sign*y with like terms gathered: 2q + q is 3q, and (p ± q) + q is p + 2q or p
    (the terms of a second derivative's product rule come in pairs)."""
    new = _term(y)
    if new[1].shape != shape:
        return None
    old = _term(x)
    if old[1] is new[1] and _gatherable(old[0], new[0]):
        return _scaled(graph, old[0] + sign * new[0], new[1], shape)
    if x.op in ("add", "sub"):
        second = 1.0 if x.op == "add" else -1.0
        for (keep, kept_sign), (term, term_sign) in (((x.inputs[0], 1.0), (x.inputs[1], second)), ((x.inputs[1], second), (x.inputs[0], 1.0))):
            old = _term(term)
            if old[1] is not new[1] or not _gatherable(old[0], new[0]) or keep.shape != shape:
                continue
            total = term_sign * old[0] + sign * new[0]
            if kept_sign < 0:  # c q - p, where p was subtracted
                return graph.apply(P.sub, (_scaled(graph, total, new[1], shape), keep))
            if total < 0:  # p - 2 q, not p + -2*q
                return graph.apply(P.sub, (keep, _scaled(graph, -total, new[1], shape)))
            return graph.apply(P.add, (keep, _scaled(graph, total, new[1], shape)))
    return None


ARITHMETIC = {"add", "sub", "mul", "div", "neg", "pow"}
# Ops that only move, copy or add up entries: exact on constants, so always folded.
STRUCTURAL = {"broadcast_to", "sum_to", "reshape", "transpose", "index", "unindex", "stack", "concat", "sum"}


def _foldable(prim, inputs, params) -> bool:
    """Arithmetic on constants folds; a function of a constant (ln(2), sqrt(2*pi))
    folds only to an integer (exp(0) is 1), so derivatives print ln(2), not 0.693..."""
    if any(_constant_name(node) for node in inputs):
        return False  # 2*pi and e - 1 stay as written
    if prim.name in ARITHMETIC or prim.name in STRUCTURAL:
        return True
    with np.errstate(all="ignore"):
        value = prim.impl(np, *[node.value for node in inputs], **params)
    return bool(np.all(np.isfinite(value)) and np.all(np.asarray(value) == np.round(value)))


def simplify(graph: Graph, prim, inputs: tuple, params: dict) -> Node | None:
    """A simpler node equal to ``prim(*inputs)``, or None to build it as it is."""
    if not inputs:
        return None
    if all(node.is_const for node in inputs) and prim.impl is not None and _foldable(prim, inputs, params):
        # Folded even when not finite: inf and nan are constants of the language too,
        # so the printed result still parses back.
        with np.errstate(all="ignore"):
            value = prim.impl(np, *[node.value for node in inputs], **params)
        return graph.const(np.asarray(value, dtype=float) if np.ndim(value) else float(value))
    try:
        shape = tuple(prim.shape_rule([node.shape for node in inputs], params))
    except Exception:
        return None  # the builder reports the shape error itself

    def same(node: Node) -> Node | None:
        return node if node.shape == shape else None

    name = prim.name
    if prim.shape_only and inputs[0].shape == shape:
        return inputs[0]  # a shape op that changes nothing
    if prim.elementwise and len(inputs) == 2:
        # An operand spread by broadcast_to needs no spreading when the other one
        # already has the result's shape: NumPy's broadcasting does the same.
        unwrapped = list(inputs)
        for position, node in enumerate(inputs):
            other = unwrapped[1 - position]  # as it is now: unwrapping both would lose the shape
            if node.op == "broadcast_to" and other.shape == shape:
                unwrapped[position] = node.inputs[0]
            elif node.is_const and np.ndim(node.value) and other.shape == shape:
                flat = np.ravel(node.value)
                if flat.size and np.all(flat == flat[0]):  # a uniform array: its scalar
                    unwrapped[position] = graph.const(float(flat[0]))
        if unwrapped != list(inputs):
            return graph.apply(prim, tuple(unwrapped), params)
    if name == "neg":
        (x,) = inputs
        if x.op == "neg":
            return x.inputs[0]
        if x.op == "sub":  # -(a - b) = b - a
            return graph.apply(P.sub, (x.inputs[1], x.inputs[0]))
        if _negative_coefficient(x):  # -((-2)*q) = 2*q
            return same(_negated(graph, x))
        return None
    if name == "ln" and inputs[0].is_const and _constant_name(inputs[0]) == "e" and not shape:
        return graph.const(1.0)  # d(e^x)/dx is e^x, not e^x*ln(e)
    if len(inputs) != 2:
        return None
    x, y = inputs
    if name == "add":
        if _const(y, 0):
            return same(x)
        if _const(x, 0):
            return same(y)
        if _negative(y):  # a + (-b) = a - b
            return graph.apply(P.sub, (x, _negated(graph, y)))
        if _negative(x):  # (-a) + b = b - a
            return graph.apply(P.sub, (y, _negated(graph, x)))
        return _like_terms(graph, x, y, 1.0, shape)  # x + x = 2x, (p + q) + q = p + 2q
    if name == "sub":
        if _const(y, 0):
            return same(x)
        if _const(x, 0):
            return same(graph.apply(P.neg, (y,)))
        if x is y:
            return _zeros(graph, shape)
        if _negative(y):  # a - (-b) = a + b
            return graph.apply(P.add, (x, _negated(graph, y)))
        return _like_terms(graph, x, y, -1.0, shape)  # 3q - q = 2q, (p + 2q) - q = p + q
    if name == "mul":
        for a, b in ((x, y), (y, x)):
            if _const(a, 1):
                return same(b)
            if _const(a, 0) and b.shape == shape:
                return _zeros(graph, shape)
            if _const(a, -1):
                return same(graph.apply(P.neg, (b,)))
        if _number(y) and not _number(x):  # constants first: 2*x
            return graph.apply(P.mul, (y, x))
        if _number(x) and y.op == "mul" and _number(y.inputs[0]) and _foldable(P.mul, (x, y.inputs[0]), {}):  # c1*(c2*z) = (c1 c2)*z
            return graph.apply(P.mul, (graph.const(x.value * y.inputs[0].value), y.inputs[1]))
        if _number(x) and y.op == "mul" and y.inputs[0].op == "mul" and _number(y.inputs[0].inputs[0]) and _foldable(P.mul, (x, y.inputs[0].inputs[0]), {}):
            # c1*((c2*a)*b) = (c1*(c2*a))*b, whose first factor the rule above folds: the constant stays first
            return same(graph.apply(P.mul, (graph.apply(P.mul, (x, y.inputs[0])), y.inputs[1])))
        for a, b in ((x, y), (y, x)):
            if a.op == "mul" and _number(a.inputs[0]) and not _number(b):
                # (c*a)*b is (c*b)*a where the graph has that already: the product rule's
                # 2*sin(x)*cos(x) - 2*cos(x)*sin(x) is 0
                first = graph.existing(P.mul, (a.inputs[0], b))
                swapped = None if first is None else graph.existing(P.mul, (first, a.inputs[1]))
                if swapped is not None and swapped.shape == shape:
                    return swapped
        if x.op == "neg" or y.op == "neg":  # (-a)*b = -(a*b)
            a = x.inputs[0] if x.op == "neg" else x
            b = y.inputs[0] if y.op == "neg" else y
            product = graph.apply(P.mul, (a, b))
            return product if (x.op == "neg") == (y.op == "neg") else graph.apply(P.neg, (product,))
        if y.op == "div" and _const(y.inputs[0], 1):  # a*(1/b) = a/b
            return same(graph.apply(P.div, (x, y.inputs[1])))
        if x.op == "div" and _const(x.inputs[0], 1):  # (1/b)*a = a/b
            return same(graph.apply(P.div, (y, x.inputs[1])))
        return None
    if name == "div":
        if _const(y, 1):
            return same(x)
        if _const(x, 0) and y.shape == shape:
            return _zeros(graph, shape)
        if x.op == "neg":  # (-a)/b = -(a/b)
            return graph.apply(P.neg, (graph.apply(P.div, (x.inputs[0], y)),))
        if _number(x) and x.value < 0:  # (-c)/b = -(c/b)
            return graph.apply(P.neg, (graph.apply(P.div, (graph.const(-x.value), y)),))
        return None
    if name == "pow":
        if _const(y, 1):
            return same(x)
        if _const(y, 0):
            return graph.const(np.ones(shape) if shape else 1.0)
        if _const(x, 1):
            return graph.const(np.ones(shape) if shape else 1.0)
        return None
    if name == "xlogy":
        if _const(x, 0):
            return _zeros(graph, shape)
        if y.is_const and np.all(np.asarray(y.value) != 0) and not np.any(np.isnan(y.value)):  # ln c is finite: a ln c
            return graph.apply(P.mul, (x, graph.apply(P.ln, (y,))))
        return None
    return None
