"""Reverse mode: one primal pass that keeps every value, then adjoints from the
outputs back to the inputs, each node's cotangent sent to its operands by its VJP
rules and summed where a node has several uses.

Several outputs (or an array output) take a batch of cotangents: a trailing
axis of length M, seeded with an identity, so one backward pass gives every row
of the Jacobian; when M cotangents of every node would not fit in the memory
budget, they go in chunks over the same primal values.
"""

from __future__ import annotations

import math

import numpy as np

from ..evaluation import on_floats, run_schedule
from ..graph import Graph
from . import DEFAULT_MEMORY, ITEM_BYTES, Derivatives, all_finite, batch_shape, chunk_size, identity_columns, redone, resolve, timed, with_engine_axis
from . import scalar
from .plan import compile_plan, pull_cotangents
from .rules import backward


@timed
def reverse(
    graph: Graph,
    values,
    outputs=None,
    wrt=None,
    xp=np,
    record: list | None = None,
    batch_ndim: int = 0,
    memory: int = DEFAULT_MEMORY,
    into: list | None = None,
) -> Derivatives:
    """``record``, when given a list, receives ``("primal", node, value)`` for each
    node of the primal pass, then ``("adjoint", operand, node, position,
    contribution, total)`` for each cotangent sent, in the order sent: the trace.
    ``into`` (a gradient only): the arrays to write the value and each partial into,
    which the result then holds (slices of larger arrays, filled in place)."""
    outputs, output_names, wrt_nodes = resolve(graph, outputs, wrt)
    if record is not None:
        return _recorded(graph, values, outputs, output_names, wrt_nodes, xp, record)
    if into is None and on_floats(graph, values, xp, batch_ndim):
        result = scalar.reverse(graph, values, outputs, output_names, wrt_nodes)
        if result is not None:
            return result
    if staged_gradient(outputs):
        # A gradient: the sweep staged once as a graph (engines/staged.py) and run with
        # the arrays of the last run reused. It is the plain IEEE sweep.
        result = _staged(graph, values, outputs, output_names, wrt_nodes, xp, batch_ndim, into)
    else:
        result = _reverse(graph, values, outputs, output_names, wrt_nodes, xp, batch_ndim, memory, guarded=False)
    if not all_finite(result.jacobian.values()):
        # A NaN or infinity: redo it with a zero cotangent or partial making its product exactly zero (see rules.py).
        result = redone(result, _reverse(graph, values, outputs, output_names, wrt_nodes, xp, batch_ndim, memory, guarded=True))
        if into is not None:
            for target, value in zip(into, [result.values[0], *result.jacobian.values()]):
                target[...] = value
            result.values, result.jacobian = into[:1], dict(zip(result.jacobian, into[1:]))
    # Results written into the caller's arrays share memory with nothing else.
    return result if into is not None else result.detach(values, xp)


def staged_gradient(outputs) -> bool:
    """Whether reverse mode stages its sweep for these outputs (a gradient: one scalar
    output), and so takes ``into=``."""
    return len(outputs) == 1 and outputs[0].shape == ()


def _reverse(graph, values, outputs, output_names, wrt_nodes, xp, batch_ndim, memory, guarded) -> Derivatives:
    plan = compile_plan(graph, outputs, wrt_nodes, "reverse", xp, batch_ndim + 1, guarded)
    with np.errstate(all="ignore"):
        primal = run_schedule(plan.schedule, with_engine_axis(values, graph, xp))
        batch = batch_shape(graph, values, batch_ndim)
        output_shapes = [node.shape for node in outputs]
        count = sum(math.prod(shape) for shape in output_shapes)
        step = chunk_size(count, ITEM_BYTES * math.prod(batch) * plan.swept_size, memory) if count else 1
        collected: list[list] = [[] for _ in wrt_nodes]
        for start in range(0, max(count, 1), step):
            stop = min(count, start + step)
            seeds: dict[int, object] = {}
            for slot, seed in zip(plan.output_slots, identity_columns(output_shapes, start, stop, len(batch), xp)):
                if seed is not None:
                    seeds[slot] = seed if slot not in seeds else seeds[slot] + seed
            adjoint = pull_cotangents(plan, primal, seeds)
            full = batch + (stop - start,)
            for position, (node, slot) in enumerate(zip(wrt_nodes, plan.wrt_slots)):
                gradient = adjoint[slot] if slot >= 0 else None
                if gradient is None:
                    gradient = xp.zeros(node.shape + full)
                elif xp.shape(gradient) != node.shape + full:
                    gradient = xp.broadcast_to(gradient, node.shape + full)
                collected[position].append(gradient)
    jacobian = {}
    for input_node, pieces in zip(wrt_nodes, collected):
        gradient = pieces[0] if len(pieces) == 1 else xp.concatenate(pieces, axis=-1)
        jacobian.update(_rows(gradient, input_node, output_names, outputs, batch, xp))
    result_values = [primal[slot][..., 0] if np.ndim(primal[slot]) else primal[slot] for slot in plan.output_slots]
    return Derivatives("reverse", output_names, [node.params["name"] for node in wrt_nodes], result_values, jacobian, batch_ndim=len(batch))


def _staged(graph, values, outputs, output_names, wrt_nodes, xp, batch_ndim, into=None) -> Derivatives:
    from .staged import schedule_of, stage

    schedule = schedule_of(stage(graph, outputs[0], wrt_nodes), xp, batch_ndim)
    targets = None
    if into is not None:
        # One slot may be several results (exp(x) is its own derivative): it is
        # written into the first one's array and copied into the others'.
        targets = {}
        for slot, target in zip(schedule.output_slots, into):
            targets.setdefault(slot, target)
    slots = run_schedule(schedule, values, into=targets, reuse=True)
    batch = batch_shape(graph, values, batch_ndim)

    # A derivative that is a constant is copied: the caller may change what it gets,
    # and must not change the cached constant (one that is an input, or a view of one,
    # is copied by Derivatives.detach).
    shared = {slot for slot, _ in schedule.constants}

    def found(position, shape):
        slot = schedule.output_slots[position]
        value = slots[slot]
        if into is not None:
            if value is not into[position]:  # an input, a constant, an op that cannot write in place, or a repeat
                into[position][...] = value
            return into[position]
        if xp.shape(value) != shape:
            return xp.broadcast_to(xp.asarray(value, dtype=float), shape)
        return xp.array(value, dtype=float) if slot in shared else value

    value = found(0, batch)
    jacobian = {(output_names[0], node.params["name"]): found(position, node.shape + batch) for position, node in enumerate(wrt_nodes, 1)}
    return Derivatives("reverse", output_names, [node.params["name"] for node in wrt_nodes], [value], jacobian, batch_ndim=len(batch))


def _rows(gradient, input_node, output_names, outputs, batch: tuple, xp) -> dict:
    """Split an input's cotangents (input.shape + batch + (M,)) into one block per
    output, shaped output.shape + input.shape + batch."""
    if len(outputs) == 1 and outputs[0].shape == ():  # one scalar output: drop the axis of length 1
        return {(output_names[0], input_node.params["name"]): gradient[..., 0]}
    blocks, offset = {}, 0
    for name, node in zip(output_names, outputs):
        size = node.size
        block = xp.moveaxis(gradient[..., offset : offset + size], -1, 0)
        blocks[(name, input_node.params["name"])] = xp.reshape(block, node.shape + input_node.shape + batch)
        offset += size
    return blocks


def _recorded(graph, values, outputs, output_names, wrt_nodes, xp, record: list) -> Derivatives:
    """One point, every step recorded for the trace: the primal pass, then every
    cotangent sent (to constants' operands too), in the order sent."""
    plan = compile_plan(graph, outputs, wrt_nodes, "reverse", xp, 1, True)
    primal = run_schedule(plan.schedule, with_engine_axis(values, graph, xp))
    slot_of = {node.index: slot for slot, node in enumerate(plan.nodes)}
    for slot, node in enumerate(plan.nodes):
        record.append(("primal", node, primal[slot]))
    output_shapes = [node.shape for node in outputs]
    count = sum(math.prod(shape) for shape in output_shapes)
    adjoint: dict[int, object] = {}
    for node, seed in zip(outputs, identity_columns(output_shapes, 0, count, 0, xp, unit=False)):
        adjoint[node.index] = adjoint[node.index] + seed if node.index in adjoint else seed
    with np.errstate(all="ignore"):
        backward(plan.nodes, adjoint, lambda node: [primal[slot_of[operand.index]] for operand in node.inputs], lambda node: primal[slot_of[node.index]], "reverse", record)
    jacobian = {}
    for input_node in wrt_nodes:
        gradient = adjoint.get(input_node.index)
        gradient = xp.zeros(input_node.shape + (count,)) if gradient is None else xp.broadcast_to(gradient, input_node.shape + (count,))
        jacobian.update(_rows(gradient, input_node, output_names, outputs, (), xp))
    result_values = [primal[slot][..., 0] if np.ndim(primal[slot]) else primal[slot] for slot in plan.output_slots]
    return Derivatives("reverse", output_names, [node.params["name"] for node in wrt_nodes], result_values, jacobian)
