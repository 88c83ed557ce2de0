"""Forward mode: tangents pushed from the inputs to the outputs.

The full Jacobian needs one tangent per input component; they travel together
as a trailing axis of length D (the seeds form an identity), so there is one
pass, not a Python loop per input. When D tangents of every node would not fit
in the memory budget, the directions go in chunks, and the primal values are
computed once for all of them. ``direction`` gives a single tangent instead (a
Jacobian-vector product); ``directions`` gives K of them (projections).
"""

from __future__ import annotations

import math

import numpy as np

from ..evaluation import on_floats, run_schedule
from ..graph import Graph
from . import DEFAULT_MEMORY, ITEM_BYTES, Derivatives, all_finite, batch_shape, chunk_size, identity_columns, redone, resolve, results, split_directions, timed, with_engine_axis
from . import scalar
from .plan import compile_plan, push_tangents


@timed
def forward(
    graph: Graph,
    values,
    outputs=None,
    wrt=None,
    direction: dict | None = None,
    directions: dict | None = None,
    xp=np,
    record: list | None = None,
    batch_ndim: int = 0,
    memory: int = DEFAULT_MEMORY,
) -> Derivatives:
    """``record``, when given a list, receives ``(node, primal, tangent)`` for each
    node in the order computed (tangent None where it is zero): the forward trace."""
    outputs, output_names, wrt_nodes = resolve(graph, outputs, wrt)
    if direction is not None:
        directions = {name: xp.asarray(value, dtype=float)[..., None] for name, value in direction.items()}
    result = None
    if record is None and on_floats(graph, values, xp, batch_ndim):
        result = scalar.forward(graph, values, outputs, output_names, wrt_nodes, directions)
    if result is None:
        result = _forward(graph, values, outputs, output_names, wrt_nodes, directions, xp, record, batch_ndim, memory, guarded=record is not None)
        if record is None and not all_finite(results(result).values()):
            # A NaN or infinity: redo it with a zero tangent or partial making its product exactly zero (see rules.py).
            result = redone(result, _forward(graph, values, outputs, output_names, wrt_nodes, directions, xp, None, batch_ndim, memory, guarded=True))
    if direction is not None:  # one derivative along the direction, under its own key
        for name, node in zip(output_names, outputs):
            result.jacobian[(name, "direction")] = xp.moveaxis(result.projections[name], len(node.shape), -1)[..., 0]
        result.input_names, result.projections, result.directions = ["direction"], None, None
    return result.detach(values, xp)


def _forward(graph, values, outputs, output_names, wrt_nodes, directions, xp, record, batch_ndim, memory, guarded) -> Derivatives:
    plan = compile_plan(graph, outputs, wrt_nodes, "forward", xp, batch_ndim + 1, guarded)
    with np.errstate(all="ignore"):
        return _forward_run(plan, graph, values, outputs, output_names, wrt_nodes, directions, xp, record, batch_ndim, memory)


def _forward_run(plan, graph, values, outputs, output_names, wrt_nodes, directions, xp, record, batch_ndim, memory) -> Derivatives:
    primal = run_schedule(plan.schedule, with_engine_axis(values, graph, xp))
    batch = batch_shape(graph, values, batch_ndim)
    shapes = [node.shape for node in wrt_nodes]
    if directions is None:
        count = sum(math.prod(shape) for shape in shapes)
    else:
        count = int(np.shape(directions[wrt_nodes[0].params["name"]])[-1]) if wrt_nodes else 0
    points = math.prod(batch)
    # Each direction holds a tangent of every node it passes through, and its seeds.
    per_direction = ITEM_BYTES * points * (plan.swept_size + sum(node.size for node in wrt_nodes))
    step = chunk_size(count, per_direction, memory) if count else 1
    if record is not None:
        step = max(count, 1)  # a trace records every direction's tangents: one chunk
    out_slots = plan.output_slots
    collected: list[list] = [[] for _ in outputs]
    tangent = None
    for start in range(0, max(count, 1), step):
        stop = min(count, start + step)
        if directions is None:
            seeds = identity_columns(shapes, start, stop, len(batch), xp)
        else:
            seeds = [_direction_seed(directions[node.params["name"]][..., start:stop], node.shape, len(batch), xp) for node in wrt_nodes]
        tangent = push_tangents(plan, primal, {slot: seed for slot, seed in zip(plan.wrt_slots, seeds) if seed is not None and slot >= 0})
        for position, (node, slot) in enumerate(zip(outputs, out_slots)):
            derivative = tangent[slot]
            if derivative is None:
                derivative = xp.zeros(node.shape + batch + (stop - start,))
            collected[position].append(xp.broadcast_to(derivative, node.shape + batch + (stop - start,)))
    if record is not None:
        for slot, node in enumerate(plan.nodes):
            record.append((node, primal[slot], tangent[slot]))
    result_values = [primal[slot][..., 0] if np.ndim(primal[slot]) else primal[slot] for slot in out_slots]
    result = Derivatives("forward", output_names, [node.params["name"] for node in wrt_nodes], result_values, {}, batch_ndim=len(batch))
    for name, node, pieces in zip(output_names, outputs, collected):
        full = pieces[0] if len(pieces) == 1 else xp.concatenate(pieces, axis=-1)
        if directions is None:
            for input_node, block in zip(wrt_nodes, split_directions(full, shapes, node.shape, batch, xp)):
                result.jacobian[(name, input_node.params["name"])] = block
        else:
            if result.projections is None:
                result.projections, result.directions = {}, directions
            result.projections[name] = xp.moveaxis(full, -1, len(node.shape))
    return result


def _direction_seed(direction, shape: tuple, batch_ndim: int, xp):
    """A block of directions (input.shape + (K,)) lined up with the point axes."""
    direction = xp.asarray(direction, dtype=float)
    return xp.reshape(direction, tuple(shape) + (1,) * batch_ndim + (direction.shape[-1],))
