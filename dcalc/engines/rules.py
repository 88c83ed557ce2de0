"""Applying a primitive's derivative rules: the one piece all AD engines share.

The same functions run on arrays (forward and reverse mode) and on graph nodes
(the symbolic engine): the rules are written in dcalc's ops, which compute on
arrays and build nodes on nodes. A tangent or cotangent of ``None`` is zero and
is skipped, never multiplied. Broadcasting is handled here, once: a tangent of
a smaller shape is spread to the output's shape before an elementwise rule, and
a cotangent is summed back to the operand's shape after one.
"""

from __future__ import annotations

import numpy as np

from ..errors import DerivativeError
from ..graph import Node
from ..primitives import broadcast_to, sum_to


def _missing(node: Node, position: int, engine: str) -> DerivativeError:
    return DerivativeError(
        f"{node.op} has no derivative rule for its argument {position + 1} (needed by the {engine} engine)", node.span
    )


def _scaled(value, factor):
    """value * factor, where a numeric factor of 1, -1 or 0 costs nothing.

    On arrays, a zero in ``value`` gives exactly zero even where the factor is
    infinite or NaN: tangents and cotangents are batches of directions, and the
    direction along x must not see the infinite slope of sqrt(y) at y = 0."""
    if isinstance(factor, (int, float)):
        if factor == 1:
            return value
        if factor == -1:
            return -value
        if factor == 0:
            return None
        return value * factor
    if isinstance(value, Node) or isinstance(factor, Node):
        return value * factor
    product = value * factor
    if np.ndim(product) and not np.all(np.isfinite(factor)):
        product = np.where(value == 0, 0.0, product)
    return product


def jvp(node: Node, tangents, args, out, engine: str):
    """The output's tangent from the operands' tangents (None where zero)."""
    prim = node.prim
    total = None
    for position, tangent in enumerate(tangents):
        if tangent is None:
            continue
        operand_shape = node.inputs[position].shape
        if prim.partials is not None:
            partial = prim.partials[position] if position < len(prim.partials) else None
            if partial is None:
                raise _missing(node, position, engine)
            if operand_shape != node.shape:
                tangent = broadcast_to(tangent, shape=node.shape, source=operand_shape)
            factor = partial if isinstance(partial, (int, float)) else partial(*args, out)
            contribution = _scaled(tangent, factor)
        else:
            rule = prim.jvp[position] if prim.jvp is not None and position < len(prim.jvp) else None
            if rule is None:
                raise _missing(node, position, engine)
            contribution = rule(tangent, *args, out=out, node=node)
        if contribution is not None:
            total = contribution if total is None else total + contribution
    return total


def vjp(node: Node, position: int, cotangent, args, out, engine: str):
    """The cotangent that the output's ``cotangent`` sends to operand ``position``."""
    prim = node.prim
    operand_shape = node.inputs[position].shape
    if prim.partials is not None:
        partial = prim.partials[position] if position < len(prim.partials) else None
        if partial is None:
            raise _missing(node, position, engine)
        factor = partial if isinstance(partial, (int, float)) else partial(*args, out)
        contribution = _scaled(cotangent, factor)
        if contribution is not None and operand_shape != node.shape:
            contribution = sum_to(contribution, shape=operand_shape, source=node.shape)
        return contribution
    rule = prim.vjp[position] if prim.vjp is not None and position < len(prim.vjp) else None
    if rule is None:
        raise _missing(node, position, engine)
    return rule(cotangent, *args, out=out, node=node)


def depends_on(nodes, inputs) -> set[int]:
    """Indices of the nodes (in topological order) that depend on any of ``inputs``:
    only they need a cotangent."""
    reached = {node.index for node in inputs}
    for node in nodes:
        if any(operand.index in reached for operand in node.inputs):
            reached.add(node.index)
    return reached


def backward(nodes, adjoint: dict, args_of, out_of, engine: str, record: list | None = None, needed: set | None = None) -> dict:
    """The reverse sweep, shared by the reverse (arrays) and symbolic (nodes) engines:
    visit ``nodes`` (topological order) backwards, send each node's cotangent to its
    operands through the VJP rules and sum where a node has several uses.
    ``adjoint`` holds the seeds and is filled in; inputs' cotangents stay in it.
    With ``needed`` (see depends_on), operands outside it get nothing: no work is
    spent on the cotangent of an input nobody asked for."""
    for node in reversed(nodes):
        if node.is_input or node.is_const:
            continue
        cotangent = adjoint.pop(node.index, None)
        if cotangent is None:
            continue
        args, out = args_of(node), out_of(node)
        for position, operand in enumerate(node.inputs):
            if operand.is_const or (needed is not None and operand.index not in needed):
                continue
            contribution = vjp(node, position, cotangent, args, out, engine)
            if contribution is None:
                continue
            previous = adjoint.get(operand.index)
            adjoint[operand.index] = contribution if previous is None else previous + contribution
            if record is not None:
                record.append(("adjoint", operand, node, position, contribution, adjoint[operand.index]))
    return adjoint
