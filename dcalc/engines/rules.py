"""Applying a primitive's derivative rules: the one piece all AD engines share.

The same functions run on arrays (forward and reverse mode) and on graph nodes
(the symbolic engine): the rules are written in dcalc's ops, which compute on
arrays and build nodes on nodes. A tangent or cotangent of ``None`` is zero and
is skipped, never multiplied. Broadcasting is handled here, once: a tangent of
a smaller shape is spread to the output's shape before an elementwise rule, and
a cotangent is summed back to the operand's shape after one.

:func:`tangent_rule` and :func:`cotangent_rule` look a node's rule up once and
return a function bound to it, so compiled engines (dcalc/engines/plan.py) call
rules in their loops without looking anything up; :func:`jvp`, :func:`vjp` and
:func:`backward` apply them directly (traces, the symbolic engine).

Zero times infinity: tangents and cotangents are batches of directions, and the
direction along x must not see the infinite slope of sqrt(y) at y = 0. The
``guarded`` rules make a zero entry of a tangent or cotangent, or of a partial,
give exactly zero whatever it is multiplied by; the plain ones multiply as IEEE
does, which costs one pass less. The engines run plain rules first and redo a
computation with guarded ones only when a result is not finite (a NaN or infinity
cannot vanish from a linear map except by being sliced away, which leaves the
result the same). Guarding both factors keeps forward and reverse mode in
agreement: x*sqrt(x) at 0 sends 0 * inf forwards (the partial x is 0) and
backwards (the cotangent x is 0), and both give 0. That is the derivative only
where the zero stays zero nearby: sqrt(x)*sqrt(x) at 0 gives 0, not 1. So a
redo that changed a result notes it (``Derivatives.note_zero_times_infinity``)
and the diagnosis names the infinite slope (dcalc/diagnose.py).
Both kinds skip a partial that is a NumPy scalar zero (a constant rule's 0): the
contribution is exactly zero then, and skipping it is only faster.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..errors import DerivativeError
from ..graph import Node, array_namespace
from ..primitives import broadcast_to, sum_to

Rule = Callable[[object, list, object], object]

# The seed of a derivative along one scalar (d y/d y for a scalar output, the tangent
# of a scalar input): a plain 1 that broadcasts, recognised so that a rule scales by
# it for free, as JAX's instantiated ones do. The lecture example's reverse sweep
# then costs what the hand-written gradient costs.
UNIT = np.float64(1.0)


def _missing(node: Node, position: int, engine: str) -> DerivativeError:
    return DerivativeError(
        f"{node.op} has no derivative rule for its argument {position + 1} (needed by the {engine} engine)", node.span
    )


def _scaled(value, factor):
    """value * factor, where a numeric factor of 1, -1 or 0 costs nothing, and a zero
    entry of either gives exactly zero even where the other is infinite or NaN."""
    if isinstance(factor, (int, float)):
        if factor == 1:
            return value
        if factor == -1:
            return -value
        if factor == 0:
            return None
    if value is UNIT:
        return factor
    if isinstance(value, Node) or isinstance(factor, Node):
        return value * factor
    product = value * factor
    xp = array_namespace((product,))
    if not bool(xp.all(xp.isfinite(product))):
        product = xp.where((value == 0) | (factor == 0), 0.0, product)
    return product


def _scaled_plain(value, factor):
    """value * factor as IEEE multiplies (0 * inf is NaN); a numeric 0 factor skips."""
    if isinstance(factor, (int, float)) and factor == 0:
        return None
    return factor if value is UNIT else value * factor


def _partial_of(node: Node, position: int, engine: str):
    partials = node.prim.partials
    partial = partials[position] if position < len(partials) else None
    if partial is None:
        raise _missing(node, position, engine)
    return partial


def _structural_rule(node: Node, position: int, engine: str, rules) -> Callable:
    rule = rules[position] if rules is not None and position < len(rules) else None
    if rule is None:
        raise _missing(node, position, engine)
    return rule


def _unit_as_array(batch_ndim: int | None, xp=np):
    """A rule that is not elementwise addresses the trailing axes of what it gets, so a
    bare number (the UNIT seed, or what elementwise rules made of it) reaches it as an
    array with those axes, of length 1."""
    if batch_ndim is None:
        return lambda value: value
    axes = (1,) * batch_ndim

    def as_array(value):
        if isinstance(value, Node) or np.ndim(value):
            return value
        return xp.full(axes, value)

    return as_array


def tangent_rule(node: Node, position: int, engine: str, guarded: bool = True, batch_ndim: int | None = None, xp=np) -> Rule | None:
    """The output's tangent from operand ``position``'s: ``rule(tangent, args, out)``
    (None: zero), or None when that derivative is identically zero. ``batch_ndim``:
    the trailing axes arrays carry (needed when the UNIT seed may come in)."""
    if node.prim.partials is None:
        return _structural(node, position, engine, node.prim.jvp, batch_ndim, xp)
    operand_shape, shape = node.inputs[position].shape, node.shape
    widen = (lambda tangent: broadcast_to(tangent, shape=shape, source=operand_shape)) if operand_shape != shape else None
    return _linear(_partial_of(node, position, engine), guarded, before=widen)


def cotangent_rule(node: Node, position: int, engine: str, guarded: bool = True, batch_ndim: int | None = None, xp=np) -> Rule | None:
    """The cotangent the output's cotangent sends to operand ``position``:
    ``rule(cotangent, args, out)`` (None: nothing), or None when that derivative is
    identically zero. ``batch_ndim`` as for tangent_rule."""
    if node.prim.partials is None:
        return _structural(node, position, engine, node.prim.vjp, batch_ndim, xp)
    operand_shape, shape = node.inputs[position].shape, node.shape

    def narrow(contribution):
        return None if contribution is None else sum_to(contribution, shape=operand_shape, source=shape)

    return _linear(_partial_of(node, position, engine), guarded, after=narrow if operand_shape != shape else None)


def _structural(node: Node, position: int, engine: str, rules, batch_ndim, xp) -> Rule:
    """A JVP or VJP rule of an op that is not elementwise, bound to the node."""
    rule = _structural_rule(node, position, engine, rules)
    as_array = _unit_as_array(batch_ndim, xp)
    return lambda value, args, out: rule(as_array(value), *args, out=out, node=node)


def _linear(partial, guarded: bool, before=None, after=None) -> Rule | None:
    """Scaling by an elementwise op's partial, with the tangent spread to the output's
    shape ``before`` it, or the cotangent summed to the operand's ``after`` it. A
    constant partial of 0, 1 or -1 costs nothing."""
    if isinstance(partial, (int, float)):
        if partial == 0:
            return None
        if partial == 1:
            core = lambda value, args, out: value  # noqa: E731
        elif partial == -1:
            core = lambda value, args, out: -value  # noqa: E731
        else:
            core = lambda value, args, out: value * partial  # noqa: E731
    else:
        scale = _scaled if guarded else _scaled_plain
        core = lambda value, args, out: scale(value, partial(*args, out))  # noqa: E731
    if before is not None:
        return lambda value, args, out: core(before(value), args, out)
    if after is not None:
        return lambda value, args, out: after(core(value, args, out))
    return core


def jvp(node: Node, tangents, args, out, engine: str):
    """The output's tangent from the operands' tangents (None where zero)."""
    total = None
    for position, tangent in enumerate(tangents):
        if tangent is None:
            continue
        rule = tangent_rule(node, position, engine)
        contribution = None if rule is None else rule(tangent, args, out)
        if contribution is not None:
            total = contribution if total is None else total + contribution
    return total


def vjp(node: Node, position: int, cotangent, args, out, engine: str):
    """The cotangent that the output's ``cotangent`` sends to operand ``position``."""
    rule = cotangent_rule(node, position, engine)
    return None if rule is None else rule(cotangent, args, out)


def backward(nodes, adjoint: dict, args_of, out_of, engine: str, record: list | None = None, needed: set | None = None) -> dict:
    """The reverse sweep, shared by the reverse engine's traced runs (arrays) and the
    symbolic engine (nodes): visit ``nodes`` (topological order) backwards, send each
    node's cotangent to its operands through the VJP rules and sum where a node has
    several uses. ``adjoint`` holds the seeds and is filled in; inputs' cotangents
    stay in it. With ``needed`` (see graph.depends_on), operands outside it get nothing: no
    work is spent on the cotangent of an input nobody asked for."""
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
