"""Where a NaN or an infinity first arose, and where a value is only rounding noise.

Three kinds of trouble, each reported at the first node where it arises, with the
node's line and sub-expression and what its operands were:

- a value that is not finite although its operands' are (ln(-1), 1/0, exp(1000),
  acos(2)); when the output stays finite anyway (atan(exp(800))), derivatives
  through that node are still not to be trusted;
- an ill-conditioned operation: a change of one rounding unit in its arguments
  moves its value by more than a hundredth of max(|value|, 1) (tan at pi/2, x - y
  for x = y = 1e17), so its value and derivatives are mostly rounding noise;
- a derivative that is not finite while every value is (sqrt at 0, 0^0): forward
  mode's own trace, along every input at once, shows the first node whose tangent
  is not finite although its operands' values and tangents are.

Each is a DomainError; the CLI shows it as a warning, or as an error with --strict.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from .errors import DomainError, ZeroTimesInfinityError
from .graph import Graph, Node

EPS = float(np.finfo(float).eps)
# An operation is ill-conditioned when the rounding of its arguments alone moves its
# value by more than this fraction of max(|value|, 1).
NOISE_SHARE = 1e-2


def _finite(value) -> bool:
    return value is None or bool(np.all(np.isfinite(np.asarray(value))))


def _kind(value) -> str:
    array = np.asarray(value)
    return "NaN" if np.any(np.isnan(array)) else "infinite"


def _short(value) -> str:
    from .render import format_value

    return format_value(np.asarray(value))


def _own(value, node: Node):
    """A value without the engines' trailing axis, if it has one."""
    array = np.asarray(value)
    return array[..., 0] if array.ndim > len(node.shape) else array


def _first(bad, shape: tuple):
    """The index (over the node's own axes) of the first True entry of ``bad``."""
    bad = np.asarray(bad)
    if bad.ndim > len(shape):  # trailing point or direction axes
        bad = bad.reshape(bad.shape[: len(shape)] + (-1,)).any(axis=-1)
    flat = np.flatnonzero(bad)
    return tuple(int(k) for k in np.unravel_index(flat[0], shape)) if shape and flat.size else ()


def _operands(node: Node, value_of, index: tuple = ()) -> str:
    """What the op was given: "x=-1" for inputs, "x - 2 = -1" for other operands; for
    arrays, the entries at the first place that went wrong ("A[0, 1]=0")."""
    from .printer import to_infix

    parts = []
    for operand in node.inputs:
        if operand.is_const:
            continue
        # An operand the op's own call made (log(x, b) is ln(x)/ln(b)) is written out, not named by that call.
        own_call = operand.span is None or (node.span is not None and (operand.span.start, operand.span.end) == (node.span.start, node.span.end))
        label = operand.params["name"] if operand.is_input else (to_infix(operand) if own_call else operand.span.snippet)
        value = _own(value_of(operand), operand)
        if operand.shape and operand.shape == node.shape and index:
            bare = operand.is_input or label.replace("_", "").isalnum()
            label, value = f"{label if bare else f'({label})'}[{', '.join(map(str, index))}]", value[index]
        elif operand.shape:
            value = None
        if value is not None:
            parts.append(f"{label}={_short(value)}" if operand.is_input else f"{label} = {_short(value)}")
    where = f" at index [{', '.join(map(str, index))}]" if index and not parts else ""
    return (f" (at {', '.join(parts)})" if parts else "") + where


# ---- values ---------------------------------------------------------------------------------------


def _trace(graph: Graph, values: Mapping, outputs) -> dict:
    from .evaluation import evaluate_all

    return evaluate_all(graph, values, outputs)


def _value_problem(graph: Graph, outputs, trace: dict, values: Mapping) -> DomainError | None:
    """The first value that is not finite although its operands' are."""
    healed = all(_finite(trace[node.index]) for node in outputs)
    for node in graph.ancestors(outputs):
        if node.is_input or node.is_const:
            continue
        value = trace[node.index]
        if not _finite(value) and all(_finite(trace[operand.index]) for operand in node.inputs):
            detail = _operands(node, lambda operand: trace[operand.index], _first(~np.isfinite(np.asarray(value)), node.shape))
            if healed:
                detail += "; the output stays finite, but derivatives through it are not to be trusted"
            return DomainError(f"{node.op} gives a value that is not finite here{detail}", node.span)
    if healed:
        return None
    not_finite = [node.params["name"] for node in graph.inputs if not _finite(values.get(node.params["name"]))]
    return DomainError(f"the value of {', '.join(not_finite)} is not finite" if not_finite else "a value is not finite")


def value_problem(graph: Graph, values: Mapping, outputs=None) -> DomainError | None:
    """Where a NaN or infinity in the outputs first arose (None when they are finite)."""
    outputs = list(graph.outputs if outputs is None else outputs)
    trace = _trace(graph, values, outputs)
    if all(_finite(trace[node.index]) for node in outputs):
        return None
    return _value_problem(graph, outputs, trace, values)


# ---- conditioning ------------------------------------------------------------------------------------


def _noise_share(operand_value, weight, out):
    """How far rounding an argument (|x| eps) moves the value, as a share of max(|value|, 1)."""
    with np.errstate(all="ignore"):
        # In this order no product overflows for a finite share: exp(709) has
        # |x| |w| = 709 * 8e307, but (|x| eps) (|w| / |value|) is about 1.6e-13.
        size = np.maximum(np.abs(np.asarray(out)), 1.0)
        return (np.abs(np.asarray(operand_value)) * EPS) * (np.abs(np.asarray(weight)) / size)


def _conditioning_problem(graph: Graph, outputs, trace: dict) -> DomainError | None:
    """The first elementwise operation whose value is mostly the rounding of its arguments."""
    for node in graph.ancestors(outputs):
        prim = node.prim
        if node.is_input or node.is_const or prim.partials is None:
            continue
        args = [trace[operand.index] for operand in node.inputs]
        out = trace[node.index]
        for position, (operand, partial) in enumerate(zip(node.inputs, prim.partials)):
            if operand.is_const or partial is None or (isinstance(partial, (int, float)) and partial == 0):
                continue
            with np.errstate(all="ignore"):
                weight = partial if isinstance(partial, (int, float)) else partial(*args, out)
            share = np.broadcast_to(_noise_share(args[position], weight, out), np.shape(out))
            if np.any(share > NOISE_SHARE):
                index = _first(share > NOISE_SHARE, node.shape)
                detail = _operands(node, lambda other: trace[other.index], index)
                worst = float(np.max(np.where(np.isnan(share), 0.0, share)))
                moves = f"by about {worst:.2g} times its size" if np.isfinite(worst) else "without bound"
                return DomainError(
                    f"{node.op} is ill-conditioned here{detail}: a change of one rounding unit in its arguments moves its value "
                    f"{moves}, so the value and its derivatives are mostly rounding noise",
                    node.span,
                )
    return None


# ---- derivatives --------------------------------------------------------------------------------------


def _not_finite(node: Node, slope, value_of, zero_times_infinity: bool = False) -> DomainError:
    """The derivative fails at ``node``, whose slope (or tangent) is not finite; or,
    with ``zero_times_infinity``, that slope met a zero and the engines took 0·∞ as 0."""
    detail = _operands(node, value_of, _first(~np.isfinite(np.asarray(slope)), node.shape))
    what = "an infinite derivative" if _kind(slope) == "infinite" else "no finite derivative (NaN)"
    if zero_times_infinity:
        return ZeroTimesInfinityError(
            f"the chain rule meets 0·∞: {node.op} has {what} here{detail}, times a zero; forward and reverse mode take the product as 0",
            node.span,
            hint="that is the derivative only where the zero stays zero nearby (x*sqrt(x) at 0, not sqrt(x)*sqrt(x)): compare the numeric estimate",
        )
    return DomainError(f"the derivative is not finite: {node.op} has {what} here{detail}", node.span)


def derivative_problem(graph: Graph, values: Mapping, outputs=None, wrt=None, reverse=None) -> DomainError | None:
    """Where a derivative first stops being finite while every value is finite (None
    when the derivatives are finite). ``reverse``: reverse mode's result for these
    outputs and inputs, if one is at hand."""
    from .engines import all_finite, run_engine
    from .engines.forward import forward

    outputs = list(graph.outputs if outputs is None else outputs)
    wrt = list(graph.input_names if wrt is None else wrt)
    record: list = []
    direction = {name: np.ones(graph.input_named(name).shape) for name in wrt}
    forward(graph, values, outputs=outputs, wrt=wrt, direction=direction, record=record)
    primal = {node.index: value for node, value, _ in record}
    tangent = {node.index: value for node, _, value in record}
    for node, value, found in record:
        if node.is_input or node.is_const or _finite(found) or not _finite(value):
            continue
        if all(_finite(primal[operand.index]) and _finite(tangent[operand.index]) for operand in node.inputs):
            return _not_finite(node, found, lambda operand: primal[operand.index])
    # The trace takes 0·∞ as 0, so its tangents may all be finite where reverse mode's
    # partials are not (an infinite slope reached along another path): then the first
    # operation on their way whose own slope is not finite is where they fail.
    reverse = reverse or run_engine("reverse", graph, values, outputs=outputs, wrt=wrt)
    if all_finite(reverse.jacobian.values()):
        return None
    return _slope_problem(outputs, primal, [graph.input_named(name) for name in wrt])


def _steep(outputs, primal: dict, wrt):
    """Each elementwise operation that depends on ``wrt`` and that ``outputs`` depend on,
    its value and operands finite, whose partial derivative with respect to such an
    operand is not (sqrt at 0), with that slope, in the order of the graph."""
    from .graph import depends_on

    graph = outputs[0].graph
    nodes = graph.ancestors(outputs)
    moving = depends_on(nodes, wrt)
    for node in nodes:
        partials = node.prim.partials
        if node.index not in moving or node.is_input or not partials or not _finite(primal[node.index]):
            continue
        args = [primal[operand.index] for operand in node.inputs]
        if not all(_finite(arg) for arg in args):
            continue
        for operand, partial in zip(node.inputs, partials):
            if operand.index not in moving or partial is None or isinstance(partial, (int, float)):
                continue
            with np.errstate(all="ignore"):
                slope = partial(*args, primal[node.index])
            if not _finite(slope):
                yield node, slope
                break


def _slope_problem(outputs, primal: dict, wrt, zero_times_infinity: bool = False) -> DomainError | None:
    """Where the first steep operation (_steep) is, as the error to report."""
    for node, slope in _steep(outputs, primal, wrt):
        return _not_finite(node, slope, lambda operand: primal[operand.index], zero_times_infinity)
    return None


def steep_partials(graph: Graph, values: Mapping, keys, trace=None) -> set:
    """Of the (output, input) partials ``keys``, those with a steep operation on their
    way (_steep): the only ones a 0·∞ taken as 0 can have touched. (Several outputs are
    swept together, so a redo also changes blocks that never met the infinite slope.)"""
    trace = _trace(graph, values, graph.outputs) if trace is None else trace
    outputs = dict(zip(graph.output_names, graph.outputs))
    return {(output, name) for output, name in keys if any(True for _ in _steep([outputs[output]], trace, [graph.input_named(name)]))}


def point_problem(graph: Graph, values: Mapping, outputs=None, wrt=None, derivatives=None, trace=None) -> DomainError | None:
    """The first trouble at this point, if any: a value, an ill-conditioned operation, a
    derivative. ``derivatives`` (an engine's result, if one was computed) spares the
    search for a derivative problem when its partials are all finite; ``trace`` (every
    node's value here, if at hand) spares evaluating the point again."""
    from .engines import all_finite

    outputs = list(graph.outputs if outputs is None else outputs)
    trace = _trace(graph, values, outputs) if trace is None else trace
    problem = _value_problem(graph, outputs, trace, values) or _conditioning_problem(graph, outputs, trace)
    if problem is not None:
        return problem
    if derivatives is not None and all_finite(derivatives.jacobian.values()):
        return zero_times_infinity_problem(graph, values, outputs, wrt, trace) if derivatives.zero_times_infinity else None
    reverse = derivatives if derivatives is not None and derivatives.engine == "reverse" else None
    return derivative_problem(graph, values, outputs, wrt, reverse)


def zero_times_infinity_problem(graph: Graph, values: Mapping, outputs=None, wrt=None, trace=None) -> DomainError | None:
    """Where a derivative that took 0·∞ as 0 met the infinite slope: the first steep
    operation between the inputs ``wrt`` (names; all by default) and the outputs."""
    outputs = list(graph.outputs if outputs is None else outputs)
    trace = _trace(graph, values, outputs) if trace is None else trace
    names = graph.input_names if wrt is None else wrt
    return _slope_problem(outputs, trace, [graph.input_named(name) for name in names], zero_times_infinity=True)


def kink_status(graph, values, trace=None, reference=None) -> str | None:
    """What is at its kink at this point, with the one-sided derivatives (None when
    nothing is, or when every partial has the same derivative on both sides, which
    ``reference``, an engine's result, found too; at once when no op of the graph has
    a kink). ``trace``: every node's value here, if at hand."""
    found = kinked_partials(graph, values, trace, reference)
    return None if found is None else found[0]


def ops_at_kinks(graph, values, trace=None, wrt=None, outputs=None) -> list[str]:
    """The operations at their kinks at this point, each as "op (source at line N)"
    (at once none when no op of the graph has a kink), among those the outputs (the
    graph's own by default) need; with ``wrt`` (input names), only those that depend
    on them."""
    if all(node.prim.kink is None for node in graph.nodes):
        return []
    outputs = graph.outputs if outputs is None else outputs
    trace = _trace(graph, values, outputs) if trace is None else trace
    needed = graph.ancestors(outputs)
    moving = None
    if wrt is not None:
        from .graph import depends_on

        moving = depends_on(needed, [graph.input_named(name) for name in wrt])
    kinks = []
    for node in needed:
        if node.prim.kink is None or (moving is not None and node.index not in moving):
            continue
        with np.errstate(all="ignore"):
            at_kink = node.prim.kink(*[trace[operand.index] for operand in node.inputs], **node.params)
        if np.any(at_kink):
            where = f" ({node.span.snippet} at line {node.span.line})" if node.span is not None else ""
            kinks.append(f"{node.prim.written_name}{where}")
    return kinks


def kinked_partials(graph, values, trace=None, reference=None) -> tuple[str, set] | None:
    """kink_status's message, and the partials ((output, input) keys) it leaves
    unsettled: those whose one-sided derivatives differ, and, given ``reference`` (an
    engine's Derivatives), those where it is not their common value (the rules take
    the mean of an op's two slopes at its kink, which need not be the function's).
    The others exist here, kink or no kink (d(relu(x) y)/dy at x = 0)."""
    kinks = ops_at_kinks(graph, values, trace)
    if not kinks:
        return None
    from .engines.numeric import one_sided

    sides = one_sided(graph, values)
    differing = {key for key, pair in sides.items() if not _same_both_sides(*pair)}
    if reference is not None:  # one slope on both sides, but not the one the rules found
        differing |= {key for key, (right, _) in sides.items() if key not in reference.jacobian or not _same_both_sides(reference.jacobian[key], right)}
    if not differing:
        return None  # abs(x)^2 at 0: an op at its kink, but the function has one slope there
    described = "; ".join(_sides(key, right, left, reference) for key, (right, left) in sides.items() if key in differing)
    return f"{at_their_kinks(kinks)}; one-sided derivatives: {described}", differing


def at_their_kinks(kinks: list[str]) -> str:
    """"abs (abs(x) at line 1) is at its kink", or "a, b and c are at their kinks"."""
    if len(kinks) == 1:
        return f"{kinks[0]} is at its kink"
    return f"{', '.join(kinks[:-1])} and {kinks[-1]} are at their kinks"


def _sides(key: tuple, right, left, reference) -> str:
    """What a partial is on each side of the kink ("df/dx: right 2, left 0"), and, where
    the two agree, what the engines' rules made of it instead."""
    output, name = key
    if not _same_both_sides(right, left):
        return f"d{output}/d{name}: right {_one_sided(right)}, left {_one_sided(left)}"
    found = reference.jacobian.get(key) if reference is not None else None
    return f"d{output}/d{name}: {_one_sided(right)} on both sides" + ("" if found is None else f", but the rules give {_one_sided(found)}")


def _same_both_sides(right, left) -> bool:
    """Whether the right and left derivatives agree (to the ONE_SIDED_TOLERANCE
    one_sided resolves them to): then the partial exists, kink or no kink inside."""
    from .engines.numeric import ONE_SIDED_TOLERANCE

    right, left = np.asarray(right, dtype=float), np.asarray(left, dtype=float)
    with np.errstate(invalid="ignore"):
        return bool(np.all(np.abs(right - left) <= ONE_SIDED_TOLERANCE * np.maximum(np.abs(right), np.abs(left))))


def _one_sided(value) -> str:
    """A one-sided derivative, a difference quotient: 10 digits, not its rounding noise."""
    array = np.asarray(value) + 0.0  # -0 from a difference quotient reads as 0
    if array.ndim == 0:
        return "none (a jump)" if np.isnan(array) else f"{float(array):.10g}"
    from .render import format_value

    return format_value(array, digits=6)
