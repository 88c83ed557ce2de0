"""Forward and reverse mode for scalar programs at one point, on Python floats.

In a program whose values are all scalars every edge carries one number, the
local partial derivative d node / d operand. The primitive table's partials give
them; they are evaluated once per (primitive, argument) for all the nodes of that
primitive together, on NumPy arrays (the same rules the array engines use). What
is left is linear: reverse mode sweeps the edges backwards, adding each node's
adjoint times the edge's weight into its operands; forward mode sweeps them
forwards. Those sweeps are plain loops over Python floats, so a long program
costs a fraction of a microsecond per operation instead of a NumPy call per rule.

A zero, flowing or on the edge, sends nothing even along an infinite slope, as
the array engines' guarded rules do (dcalc/engines/rules.py): d/dx of x + sqrt(y)
at y = 0 is 1, and x*sqrt(x) at 0 gives 0 in both modes. Where that zero meets an
infinite or NaN factor, the result is noted as taking 0·∞ as 0. With every edge
finite, reverse mode takes its unrolled sweep, which has nothing to guard.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..evaluation import Schedule, compile_scalar, run_scalar
from ..graph import Graph, Node
from . import Derivatives
from .plan import sweep_edges
from .rules import _partial_of


@dataclass
class Tape:
    schedule: Schedule
    # Per (primitive, argument) with a partial that is a function: the function, the
    # slots of the nodes' operands (one array per argument) and their own, and where
    # the weights go.
    groups: list[tuple]
    weights: np.ndarray  # constant partials filled in; the groups fill the rest
    sweep: list[tuple[int, tuple[tuple[int, int], ...]]]  # (slot, ((operand slot, weight index), ...))
    # The sweep backwards, each node's first two edges spelled out (the loop then
    # makes no inner loop for them): (slot, operand, weight index, second operand
    # or -1, its weight index, the other edges).
    backward: list[tuple]
    wrt_slots: list[int]


def compile_tape(graph: Graph, outputs: list[Node], wrt: list[Node], engine: str) -> Tape | None:
    """The tape for d outputs / d wrt, or None when the program is not all scalars of
    elementwise operations."""
    key = ("tape", len(graph.nodes), tuple(node.index for node in outputs), tuple(node.index for node in wrt))
    return graph.cached(key, lambda: _compile(graph, outputs, wrt, engine))


def _compile(graph: Graph, outputs, wrt, engine: str) -> Tape | None:
    schedule = compile_scalar(graph, outputs)
    if schedule is None or any(node.prim.partials is None for node in schedule.nodes if not (node.is_input or node.is_const)):
        return None
    constant_weights: list[float] = []
    grouped: dict[tuple, list] = {}  # (prim, position) -> [(weight index, node slot, operand slots)]

    def edge(slot, node, position, operand_slots):
        partial = _partial_of(node, position, engine)
        if isinstance(partial, (int, float)):
            if partial == 0:
                return None
            constant_weights.append(float(partial))
        else:
            constant_weights.append(math.nan)
            grouped.setdefault((node.prim, position), []).append((len(constant_weights) - 1, slot, operand_slots))
        return (operand_slots[position], len(constant_weights) - 1)

    slot_of, edges = sweep_edges(schedule.nodes, wrt, edge)
    sweep = [(slot, made) for slot, _, made in edges]
    groups = []
    for (prim, position), members in grouped.items():
        indices = np.array([index for index, _, _ in members])
        own = np.array([slot for _, slot, _ in members])
        arguments = [np.array([operands[k] for _, _, operands in members]) for k in range(len(members[0][2]))]
        groups.append((prim.partials[position], arguments, own, indices))
    backward = [(slot, *edges[0], *(edges[1] if len(edges) > 1 else (-1, -1)), edges[2:]) for slot, edges in reversed(sweep)]
    return Tape(schedule, groups, np.array(constant_weights), sweep, backward, [slot_of.get(node.index, -1) for node in wrt])


def _weights(tape: Tape, slots: list) -> tuple[list, bool]:
    """Every edge's partial derivative at this point, and whether they are all finite
    (one sum: a sum that overflows only costs the guarded sweep)."""
    weights = tape.weights.copy()
    with np.errstate(all="ignore"):
        if tape.groups:
            values = np.array(slots, dtype=float)
            for partial, arguments, own, indices in tape.groups:
                weights[indices] = partial(*[values[argument] for argument in arguments], values[own])
        finite = bool(np.isfinite(weights.sum()))
    return weights.tolist(), finite


def reverse_sweep(tape: Tape, weights: list, seed_slot: int, size: int) -> list:
    """The adjoint of every slot (None: nothing reached it) for d(seed slot), with
    finite weights (a zero adjoint sends nothing: it would send zeros)."""
    adjoint: list = [None] * size
    adjoint[seed_slot] = 1.0
    for slot, first, first_weight, second, second_weight, more in tape.backward:
        cotangent = adjoint[slot]
        if not cotangent:  # None, or a zero
            continue
        previous = adjoint[first]
        adjoint[first] = cotangent * weights[first_weight] if previous is None else previous + cotangent * weights[first_weight]
        if second >= 0:
            previous = adjoint[second]
            adjoint[second] = cotangent * weights[second_weight] if previous is None else previous + cotangent * weights[second_weight]
            if more:
                for operand, index in more:
                    previous = adjoint[operand]
                    adjoint[operand] = cotangent * weights[index] if previous is None else previous + cotangent * weights[index]
    return adjoint


def _guarded(value: float, weight: float) -> tuple[float, bool]:
    """value * weight, and whether it is a zero that met an infinite or NaN factor:
    a zero is sent on as 0 (it may meet an infinity further on, or have met one)."""
    if value == 0.0 or weight == 0.0:
        return 0.0, not (math.isfinite(value) and math.isfinite(weight))
    return value * weight, False


def guarded_reverse_sweep(tape: Tape, weights: list, seed_slot: int, size: int) -> tuple[list, bytearray]:
    """reverse_sweep for any weights: a zero adjoint or a zero edge sends nothing; and
    per slot, whether its adjoint took 0·∞ as 0 on the way (a zero met an infinite or
    NaN factor there or after it)."""
    adjoint: list = [None] * size
    adjoint[seed_slot] = 1.0
    taken = bytearray(size)
    for slot, edges in reversed(tape.sweep):
        cotangent = adjoint[slot]
        if cotangent is None:
            continue
        for operand, index in edges:
            contribution, zero_met = _guarded(cotangent, weights[index])
            if zero_met or taken[slot]:
                taken[operand] = 1
            previous = adjoint[operand]
            adjoint[operand] = contribution if previous is None else previous + contribution
    return adjoint, taken


def forward_sweep(tape: Tape, weights: list, seeds: dict[int, float], size: int) -> tuple[list, bool]:
    """The tangent of every slot (None: zero) from the seeds' (by slot): a zero tangent
    or a zero edge sends nothing, and whether that zero met an infinite or NaN factor."""
    tangent: list = [None] * size
    for slot, seed in seeds.items():
        tangent[slot] = seed
    met = False
    for slot, edges in tape.sweep:
        total = None
        for operand, index in edges:
            incoming = tangent[operand]
            if incoming is None:
                continue
            weight = weights[index]
            if incoming == 0.0 or weight == 0.0:  # _guarded, spelled out: this is the hot loop
                met = met or not (math.isfinite(incoming) and math.isfinite(weight))
                contribution = 0.0
            else:
                contribution = weight * incoming
            total = contribution if total is None else total + contribution
        tangent[slot] = total
    return tangent, met


def _at(graph: Graph, values, outputs, wrt_nodes, engine: str):
    """The tape, every slot's value and every edge's weight at this point (None: no tape)."""
    tape = compile_tape(graph, outputs, wrt_nodes, engine)
    if tape is None:
        return None
    slots = run_scalar(tape.schedule, values)
    return tape, slots, _weights(tape, slots)


def reverse(graph: Graph, values, outputs, output_names, wrt_nodes) -> Derivatives | None:
    found = _at(graph, values, outputs, wrt_nodes, "reverse")
    if found is None:
        return None
    tape, slots, (weights, finite) = found
    size = len(slots)
    jacobian = {}
    guarded = set()  # the partials that took 0·∞ as 0
    for name, seed_slot in zip(output_names, tape.schedule.output_slots):
        if finite:
            adjoint = reverse_sweep(tape, weights, seed_slot, size)
        else:
            adjoint, taken = guarded_reverse_sweep(tape, weights, seed_slot, size)
            guarded |= {(name, node.params["name"]) for node, slot in zip(wrt_nodes, tape.wrt_slots) if slot >= 0 and taken[slot]}
        for node, slot in zip(wrt_nodes, tape.wrt_slots):
            total = adjoint[slot] if slot >= 0 else None
            jacobian[(name, node.params["name"])] = np.array(0.0 if total is None else total)
    result_values = [np.float64(slots[slot]) for slot in tape.schedule.output_slots]
    result = Derivatives("reverse", output_names, [node.params["name"] for node in wrt_nodes], result_values, jacobian)
    return result.note_zero_times_infinity(partials=guarded) if guarded else result


def forward(graph: Graph, values, outputs, output_names, wrt_nodes, directions: dict | None) -> Derivatives | None:
    """The full Jacobian (one sweep per input), or the Jacobian applied to the K
    ``directions`` (per input, an array of shape (K,))."""
    found = _at(graph, values, outputs, wrt_nodes, "forward")
    if found is None:
        return None
    tape, slots, (weights, _) = found
    size = len(slots)
    if directions is None:
        seed_sets = [{slot: 1.0} if slot >= 0 else {} for slot in tape.wrt_slots]
    else:
        count = len(np.asarray(directions[wrt_nodes[0].params["name"]])) if wrt_nodes else 0
        seed_sets = [
            {slot: float(np.asarray(directions[node.params["name"]])[k]) for node, slot in zip(wrt_nodes, tape.wrt_slots) if slot >= 0}
            for k in range(count)
        ]
    swept = [forward_sweep(tape, weights, seeds, size) for seeds in seed_sets]
    columns = [column for column, _ in swept]
    guarded = any(met for _, met in swept)
    result_values = [np.float64(slots[slot]) for slot in tape.schedule.output_slots]
    result = Derivatives("forward", output_names, [node.params["name"] for node in wrt_nodes], result_values, {})
    for name, slot in zip(output_names, tape.schedule.output_slots):
        along = [0.0 if column[slot] is None else column[slot] for column in columns]
        if directions is None:
            for node, value in zip(wrt_nodes, along):
                result.jacobian[(name, node.params["name"])] = np.array(value)
        else:
            if result.projections is None:
                result.projections, result.directions = {}, directions
            result.projections[name] = np.array(along)
    return result.note_zero_times_infinity() if guarded else result
