"""Forward and reverse mode for scalar programs at one point, on Python floats.

In a program whose values are all scalars every edge carries one number, the
local partial derivative d node / d operand. The primitive table's partials give
them; they are evaluated once per (primitive, argument) for all the nodes of that
primitive together, on NumPy arrays (the same rules the array engines use). What
is left is linear: reverse mode sweeps the edges backwards, adding each node's
adjoint times the edge's weight into its operands; forward mode sweeps them
forwards. Those sweeps are plain loops over Python floats, so a long program
costs a fraction of a microsecond per operation instead of a NumPy call per rule.

Reverse mode shortens its sweep by eliminating vertices: a node that one edge
reads (the a*b in tanh(a*b)) is folded into its reader, which then sends its
adjoint straight to a and b, weighing tanh'(a*b) * b and tanh'(a*b) * a; all the
products are taken in one NumPy call. Of two such nodes in a row only one is
folded, so every product has two factors; where a product could overflow or
leave the normal range (1e-200 * 1e-200), the sweep keeps every node. The results
are those of the plain sweep to rounding, or finite where the plain sweep's
adjoint overflowed on its way to a zero weight.

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
from . import Derivatives, all_finite
from .plan import sweep_edges
from .rules import _partial_of


@dataclass
class Tape:
    schedule: Schedule
    # Per (primitive, argument) with a partial that is a function: the function, where
    # the nodes' operands (a slice per argument) and their own values lie in the
    # gathered values, and the slice of the weights it fills.
    groups: list[tuple]
    gather: np.ndarray  # the slots whose values the groups read, in their order
    weights: np.ndarray  # constant partials filled in; the groups fill the rest
    sweep: list[tuple[int, tuple[tuple[int, int], ...]]]  # (slot, ((operand slot, weight index), ...))
    # The sweep backwards, each node's first two edges spelled out (the loop then
    # makes no inner loop for them): (slot, operand, weight index, second operand
    # or -1, its weight index, the other edges).
    backward: list[tuple]
    wrt_slots: list[int]
    # The backward sweep without the folded nodes, its weights indexing the products
    # weights[factors[0]] * weights[factors[1]] (an edge kept is the product of its
    # weight and a 1 at the end of weights); None: no node to fold. Forward tapes
    # have them too (unused): the cache holds one tape for both modes.
    folded: list[tuple] | None = None
    factors: tuple[np.ndarray, np.ndarray] | None = None


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
    # The weights renumbered: the constants first, then each group's together, so a
    # group writes one slice, reading its operands' values from one gather.
    in_groups = [index for members in grouped.values() for index, _, _ in members]
    taken = set(in_groups)
    order = [index for index in range(len(constant_weights)) if index not in taken] + in_groups
    renumbered = {old: new for new, old in enumerate(order)}
    sweep = [(slot, tuple((operand, renumbered[index]) for operand, index in made)) for slot, _, made in edges]
    gather: list[int] = []
    groups = []
    start = len(order) - len(in_groups)
    for (prim, position), members in grouped.items():
        columns = [[operands[k] for _, _, operands in members] for k in range(len(members[0][2]))]
        reads = []
        for column in [*columns, [slot for _, slot, _ in members]]:
            reads.append(slice(len(gather), len(gather) + len(column)))
            gather.extend(column)
        groups.append((prim.partials[position], reads[:-1], reads[-1], slice(start, start + len(members))))
        start += len(members)
    constant_weights = [constant_weights[index] for index in order]
    one = len(constant_weights)
    folded, factors = _eliminate(sweep, set(schedule.output_slots), one)
    return Tape(
        schedule,
        groups,
        np.array(gather, dtype=np.intp),
        np.array(constant_weights + [1.0]),
        sweep,
        _spelled_out(sweep),
        [slot_of.get(node.index, -1) for node in wrt],
        _spelled_out(folded) if folded is not None else None,
        tuple(np.array(indices, dtype=np.intp) for indices in factors) if folded is not None else None,
    )


def _spelled_out(sweep: list) -> list[tuple]:
    """The sweep backwards as Tape.backward has it."""
    return [(slot, *edges[0], *(edges[1] if len(edges) > 1 else (-1, -1)), edges[2:]) for slot, edges in reversed(sweep)]


def _eliminate(sweep: list, output_slots: set, one: int) -> tuple[list | None, tuple[list, list]]:
    """The sweep with each node that one edge reads (not an output) folded into the
    node reading it, unless that one is folded itself: its edges then go to the
    eliminated node's operands, weighing the product of the two edges' weights. The
    k-th edge of the result has weight index k, the product of weights ``factors``
    (``one``: the index of a 1). None for the sweep: no node to eliminate."""
    readers: dict[int, int] = {}
    for _, edges in sweep:
        for operand, _ in edges:
            readers[operand] = readers.get(operand, 0) + 1
    reader_of = {operand: slot for slot, edges in sweep for operand, _ in edges if readers[operand] == 1}
    eliminated: set[int] = set()
    for slot, _ in reversed(sweep):  # a node's reader comes before it
        if readers.get(slot) == 1 and slot not in output_slots and reader_of[slot] not in eliminated:
            eliminated.add(slot)
    if not eliminated:
        return None, ([], [])
    edges_of = dict(sweep)
    outer: list[int] = []
    inner: list[int] = []
    kept = []
    for slot, edges in sweep:
        if slot in eliminated:
            continue
        folded = []
        for operand, index in edges:
            for further, further_index in edges_of[operand] if operand in eliminated else [(operand, one)]:
                folded.append((further, len(outer)))
                outer.append(index)
                inner.append(further_index)
        kept.append((slot, tuple(folded)))
    return kept, (outer, inner)


def _weights(tape: Tape, slots: list) -> np.ndarray:
    """Every edge's partial derivative at this point (and the 1 after them)."""
    weights = tape.weights.copy()
    if tape.groups:
        values = np.array(slots, dtype=float)[tape.gather]
        with np.errstate(all="ignore"):
            for partial, arguments, own, block in tape.groups:
                weights[block] = partial(*[values[argument] for argument in arguments], values[own])
    return weights


# Weights that are 0 or between these in magnitude (2^-511 and 2^512, the
# square roots of the smallest normal float and of the largest) multiply in pairs
# to a normal number, or to 0 where a factor is 0: a product loses nothing to
# underflow (1e-200 * 1e-200) or overflow that the plain sweep need not.
SMALLEST = math.sqrt(np.finfo(float).tiny)
LARGEST = math.sqrt(np.finfo(float).max)


def _folded_weights(tape: Tape, weights: np.ndarray) -> list | None:
    """The weights of Tape.folded (the products Tape.factors names), where the
    weights allow folding; None where they do not (or nothing was folded)."""
    if tape.factors is None:
        return None
    magnitude = np.abs(weights)
    if not magnitude.max() <= LARGEST or ((magnitude < SMALLEST) & (weights != 0)).any():  # NaN fails the first
        return None
    return (weights[tape.factors[0]] * weights[tape.factors[1]]).tolist()


def reverse_sweep(backward: list[tuple], weights: list, seed_slot: int, size: int) -> list:
    """The adjoint of every slot (0 where nothing reached it or it was eliminated) for
    d(seed slot), along Tape.backward or Tape.folded, with finite weights (a zero
    adjoint sends nothing: it would send zeros)."""
    adjoint: list = [0.0] * size
    adjoint[seed_slot] = 1.0
    for slot, first, first_weight, second, second_weight, more in backward:
        cotangent = adjoint[slot]
        if not cotangent:
            continue
        adjoint[first] += cotangent * weights[first_weight]
        if second >= 0:
            adjoint[second] += cotangent * weights[second_weight]
            if more:
                for operand, index in more:
                    adjoint[operand] += cotangent * weights[index]
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
    tape, slots, weights = found
    size = len(slots)
    folded = _folded_weights(tape, weights)
    if folded is not None:
        backward, finite, listed = tape.folded, True, folded
    else:
        backward, finite, listed = tape.backward, all_finite([weights]), weights.tolist()
    wrt_names = [node.params["name"] for node in wrt_nodes]
    jacobian = {}
    guarded = set()  # the partials that took 0·∞ as 0
    for name, seed_slot in zip(output_names, tape.schedule.output_slots):
        if finite:
            adjoint = reverse_sweep(backward, listed, seed_slot, size)
        else:
            adjoint, taken = guarded_reverse_sweep(tape, listed, seed_slot, size)
            guarded |= {(name, wrt_name) for wrt_name, slot in zip(wrt_names, tape.wrt_slots) if slot >= 0 and taken[slot]}
        for wrt_name, slot in zip(wrt_names, tape.wrt_slots):
            total = adjoint[slot] if slot >= 0 else None  # None: the guarded sweep's "nothing reached it"
            jacobian[(name, wrt_name)] = np.array(0.0 if total is None else total)
    result_values = [np.float64(slots[slot]) for slot in tape.schedule.output_slots]
    result = Derivatives("reverse", output_names, wrt_names, result_values, jacobian)
    return result.note_zero_times_infinity(partials=guarded) if guarded else result


def forward(graph: Graph, values, outputs, output_names, wrt_nodes, directions: dict | None) -> Derivatives | None:
    """The full Jacobian (one sweep per input), or the Jacobian applied to the K
    ``directions`` (per input, an array of shape (K,))."""
    found = _at(graph, values, outputs, wrt_nodes, "forward")
    if found is None:
        return None
    tape, slots, weights = found
    weights = weights.tolist()
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
