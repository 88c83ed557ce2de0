"""The primal pass: evaluate a graph on arrays.

A graph is compiled once (per array namespace) into a flat schedule: for each
needed node, a bound callable and the slots of its operands. Evaluation is then
one loop over that list with no dictionary lookups or attribute chains.

Input arrays may carry trailing batch axes beyond each input's shape (many
points at once); every primitive's impl handles them.

A program whose values are all scalars, at one point, runs on Python floats
instead (:func:`compile_scalar`): each step is then a call of ``math.sin`` or
``operator.mul`` rather than of a NumPy ufunc on a 0-d array, five times faster.
Where float arithmetic raises (``math.log(0)``, ``1/0``, overflow), the step asks
NumPy's impl, which gives IEEE's infinity or NaN as the array path does.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import partial
from itertools import islice
from typing import Any, Mapping, Sequence

import numpy as np

from .errors import InputError, suggest
from .graph import Graph, Node, depends_on


@dataclass
class Schedule:
    """A graph compiled for evaluation."""

    nodes: list[Node]  # the needed nodes, in order; slot i holds nodes[i]'s value
    steps: list[tuple[int, Any, tuple[int, ...]]]  # (slot, callable, operand slots)
    input_slots: list[tuple[int, str]]  # (slot, input name)
    constants: list[tuple[int, Any]]
    output_slots: list[int]
    writes_into: frozenset = frozenset()  # slots whose step can write into a given array (Primitive.writes_into)
    reusable: frozenset = frozenset()  # of those, the ones no output can be a view of
    # Per step, the reusable slots whose arrays are no longer read once it has run (nor
    # through a view another slot holds): (those whose array the step itself may write
    # its result into, the others). Their arrays may take this or a later step's result.
    released: tuple = ()
    fallbacks: dict = field(default_factory=dict)  # float schedules: slot -> NumPy's impl, where math raises


def compile_graph(graph: Graph, outputs: Sequence[Node] | None = None, xp=np, batch_ndim: int = 0) -> Schedule:
    """``batch_ndim``: how many trailing batch axes the input arrays carry beyond
    the inputs' shapes; array constants get as many axes of length 1 to line up."""
    outputs = list(graph.outputs if outputs is None else outputs)
    key = ("schedule", id(xp), batch_ndim, len(graph.nodes), tuple(node.index for node in outputs))
    return graph.cached(key, lambda: _schedule(graph, outputs, xp, batch_ndim))


def _schedule(graph: Graph, outputs: list[Node], xp, batch_ndim: int) -> Schedule:
    nodes = graph.ancestors(outputs)
    slot_of = {node.index: slot for slot, node in enumerate(nodes)}
    # Ops that are not elementwise address trailing axes: a number they take needs them
    # too, and so do the numbers a value they take is made of (reshape(1 + 2) in a sweep).
    addressed = {operand.index for node in nodes if not node.prim.elementwise for operand in node.inputs}
    if batch_ndim:
        varying = depends_on(nodes, [node for node in nodes if node.is_input])
        for node in reversed(nodes):
            if node.index in addressed and node.index not in varying:
                addressed.update(operand.index for operand in node.inputs)
    steps, input_slots, constants = [], [], []
    order, given = _pairs(graph, nodes, slot_of)  # the steps' order: the slots' (traces show it), but for pairs
    for node in order:
        slot = slot_of[node.index]
        if node.is_input:
            input_slots.append((slot, node.params["name"]))
        elif node.is_const:
            value = node.value
            if isinstance(value, np.ndarray):
                value = xp.asarray(value).reshape(value.shape + (1,) * batch_ndim)
            elif batch_ndim and node.index in addressed:
                value = xp.full((1,) * batch_ndim, value)
            else:  # a NumPy scalar: 1/0 in a derivative rule is then inf, not an exception
                value = np.float64(value)
            constants.append((slot, value))
        else:
            impl, operands = node.prim.impl, [operand.index for operand in node.inputs]
            if node.index in given:  # cos x from the sin x computed before it
                impl = node.prim.given[1]
                operands.append(given[node.index].index)
            function = partial(impl, xp, **node.params) if node.params else partial(impl, xp)
            steps.append((slot, function, tuple(slot_of[index] for index in operands)))
    writes_into = frozenset(slot for slot, node in enumerate(nodes) if node.prim.writes_into)
    output_slots = [slot_of[node.index] for node in outputs]
    last = _last_reads(nodes, steps, slot_of, output_slots)
    # An output may be a view of an operand's array (reshape, transpose, index, a sum_to
    # with nothing to sum ...), so an array an output may share, read after the last
    # step, is never reused.
    reusable = frozenset(slot for slot in writes_into if last.get(slot, -1) < len(steps))
    released: list[tuple[list[int], list[int]]] = [([], []) for _ in steps]
    for slot in reusable & last.keys():
        position = last[slot]
        in_place = nodes[steps[position][0]].prim.in_place and slot in steps[position][2]
        released[position][0 if in_place else 1].append(slot)
    released = tuple((tuple(before), tuple(after)) for before, after in released)
    return Schedule(nodes, steps, input_slots, constants, output_slots, writes_into, reusable, released)


def _pairs(graph: Graph, nodes: list[Node], slot_of: dict) -> tuple[list[Node], dict[int, Node]]:
    """The order to run the nodes in, and the pairs (index -> node given): each node
    whose op has a ``given`` impl (``Primitive.given``: cos) paired with the node of
    the op it is given (sin) on the same operands, if the schedule has one, that node
    run just before it if it came later (its operands are the same, so they come
    before it)."""
    given = {}
    for node in nodes:
        if node.prim.given and not node.params:
            other = graph.existing(node.prim.given[0], node.inputs)
            if other is not None and other.index in slot_of and other.shape == node.shape:
                given[node.index] = other
    if not given:
        return nodes, given
    order, placed = [], set()
    for node in nodes:
        for first in ([given[node.index]] if node.index in given else []) + [node]:
            if first.index not in placed:
                order.append(first)
                placed.add(first.index)
    return order, given


def _last_reads(nodes: list[Node], steps: list, slot_of: dict, output_slots: list[int]) -> dict[int, int]:
    """Per slot, the position of the last step that reads its array, directly or
    through a view (an op that is not ``fresh`` may pass its operands' memory on, and a
    view lives as long as it is read); ``len(steps)`` for the outputs' arrays, which
    the caller reads after every step."""
    last = {}
    for position, (_, _, operands) in enumerate(steps):
        for operand in operands:
            last[operand] = position
    for slot in output_slots:
        last[slot] = len(steps)
    for slot in range(len(nodes) - 1, -1, -1):  # views before the arrays they view
        if not nodes[slot].prim.fresh and slot in last:
            for operand in nodes[slot].inputs:
                operand_slot = slot_of[operand.index]
                last[operand_slot] = max(last.get(operand_slot, -1), last[slot])
    return last


FLOAT_ERRORS = (ValueError, ZeroDivisionError, OverflowError)  # where math raises and NumPy answers


def scalar_step(function, fallback, *args) -> float:
    """One operation on Python floats: the fast form, or NumPy's impl where it raises."""
    try:
        return function(*args)
    except FLOAT_ERRORS:
        return _fallen_back(fallback, args)


def _fallen_back(fallback, args) -> float:
    with np.errstate(all="ignore"):
        return float(fallback(*[np.float64(arg) for arg in args]))


def compile_scalar(graph: Graph, outputs: Sequence[Node] | None = None) -> Schedule | None:
    """The schedule on Python floats, or None when some needed value is not a scalar."""
    outputs = list(graph.outputs if outputs is None else outputs)
    key = ("scalar-schedule", len(graph.nodes), tuple(node.index for node in outputs))
    return graph.cached(key, lambda: _scalar_schedule(graph, outputs))


def _scalar_schedule(graph: Graph, outputs: list[Node]) -> Schedule | None:
    nodes = graph.ancestors(outputs)
    if any(node.shape != () for node in nodes):
        return None
    slot_of = {node.index: slot for slot, node in enumerate(nodes)}
    steps, input_slots, constants, fallbacks = [], [], [], {}
    for slot, node in enumerate(nodes):
        if node.is_input:
            input_slots.append((slot, node.params["name"]))
        elif node.is_const:
            constants.append((slot, float(node.value)))
        else:
            fallback = partial(node.prim.impl, np, **node.params)
            fast = node.prim.scalar if node.prim.scalar and not node.params else partial(_as_float, fallback)
            steps.append((slot, fast, tuple(slot_of[operand.index] for operand in node.inputs)))
            fallbacks[slot] = fallback
    return Schedule(nodes, steps, input_slots, constants, [slot_of[node.index] for node in outputs], fallbacks=fallbacks)


def _as_float(function, *args) -> float:
    with np.errstate(all="ignore"):
        return float(function(*args))


def scalar_point(graph: Graph, values: Mapping[str, Any]) -> bool:
    """Whether the values are one real point (so compile_scalar's floats may carry it)."""
    for node in graph.inputs:
        value = values.get(node.params["name"])
        if type(value) is np.ndarray:  # the common case, read without NumPy's calls
            if value.ndim or value.dtype.kind == "c":
                return False
        elif value is not None and (np.ndim(value) or np.iscomplexobj(value)):
            return False
    return True


def run_scalar(schedule: Schedule, values: Mapping[str, Any]) -> list:
    """All slot values as floats: one Python loop of float operations."""
    slots: list = [0.0] * len(schedule.nodes)
    for slot, name in schedule.input_slots:
        slots[slot] = float(values[name])
    for slot, value in schedule.constants:
        slots[slot] = value
    steps, start = schedule.steps, 0
    while start < len(steps):
        # The loop runs untroubled by a try per step; a step whose float form raises
        # (math.log(0)) is done by NumPy's impl, and the loop goes on after it.
        try:
            for start, (slot, function, operands) in enumerate(islice(steps, start, None), start):
                if len(operands) == 2:
                    slots[slot] = function(slots[operands[0]], slots[operands[1]])
                elif len(operands) == 1:
                    slots[slot] = function(slots[operands[0]])
                else:
                    slots[slot] = function(*[slots[operand] for operand in operands])
            break
        except FLOAT_ERRORS:
            slot, _, operands = steps[start]
            slots[slot] = _fallen_back(schedule.fallbacks[slot], [slots[operand] for operand in operands])
            start += 1
    return slots


def run_schedule(schedule: Schedule, values: Mapping[str, Any], into: Mapping[int, Any] | None = None, reuse: bool = False) -> list:
    """All slot values: inputs from ``values``, constants, then each step in order.
    ``into`` (slot -> array): where steps that can (ufuncs) write their results, so a
    result lands in place (a slice of a larger array) without a copy. With ``reuse``
    (for a caller that reads only the outputs), see ``_run_reusing``."""
    slots: list = [None] * len(schedule.nodes)
    for slot, name in schedule.input_slots:
        slots[slot] = values[name]
    for slot, value in schedule.constants:
        slots[slot] = value
    kept = _reusable(schedule, slots) if reuse else None
    with np.errstate(all="ignore"):
        if kept is not None:
            return _run_reusing(schedule, slots, into, kept)
        for slot, function, operands in schedule.steps:
            if into and slot in into and slot in schedule.writes_into:
                slots[slot] = function(*[slots[operand] for operand in operands], out=into[slot])
            elif len(operands) == 2:
                slots[slot] = function(slots[operands[0]], slots[operands[1]])
            elif len(operands) == 1:
                slots[slot] = function(slots[operands[0]])
            else:
                slots[slot] = function(*[slots[operand] for operand in operands])
    return slots


def _run_reusing(schedule: Schedule, slots: list, into: Mapping[int, Any] | None, kept: dict) -> list:
    """The steps, reusable ones (``Schedule.reusable``) writing into the arrays this
    thread set aside on its last run with inputs of the same shapes (``kept``: slot
    -> array), so a large temporary is neither allocated nor faulted in again on
    every run. Arrays are shared by slots whose lives do not overlap
    (``Schedule.released``): a slot no longer read is let go of (None in the slots
    returned), and a later result of the same shape and type takes its array. On the
    first run the steps allocate as usual and the sharing is planned."""
    planning = not kept  # (again on every run where nothing was worth keeping: numbers)
    free: dict = {}  # (shape, dtype) -> arrays set aside for slots no longer read

    def release(done: tuple) -> None:
        for slot in done:
            slots[slot] = None
            if planning and slot in kept:
                free.setdefault((kept[slot].shape, kept[slot].dtype), []).append(kept[slot])

    into = into or {}
    for (slot, function, operands), (in_place, after) in zip(schedule.steps, schedule.released, strict=True):
        args = [slots[operand] for operand in operands]
        release(in_place)
        if slot in into and slot in schedule.writes_into:
            slots[slot] = function(*args, out=into[slot])
        elif slot in kept:
            slots[slot] = function(*args, out=kept[slot])
        else:
            slots[slot] = value = function(*args)
            if planning and slot in schedule.reusable and type(value) is np.ndarray and value.ndim:
                spare = free.get((value.shape, value.dtype))
                kept[slot] = spare.pop() if spare else value
        release(after)
    if _kept_bytes(kept) > KEPT_BYTES:
        kept.clear()  # too large to hold on to between calls: allocated afresh each run
    return slots


_threads = threading.local()
# Per thread, the arrays of the most recent runs are kept for the next run of the same
# schedule with inputs of the same shapes: at most this many (schedule, shapes) sets,
# the older ones going once the others' arrays pass KEPT_BYTES, and none of a set
# whose own arrays pass it.
KEPT_SCHEDULES = 8
KEPT_BYTES = 64 * 2**20


def _reusable(schedule: Schedule, slots: list) -> dict | None:
    """This thread's arrays from its last run of ``schedule`` with inputs of the same
    shapes and types (slot -> array); otherwise a fresh, empty set. None
    for arrays not of NumPy: a GPU's memory pool already makes allocation cheap, and
    its memory is scarcer."""
    if not all(isinstance(slots[slot], (np.ndarray, np.generic, float, int)) for slot, _ in schedule.input_slots):
        return None
    signature = tuple((getattr(slots[slot], "shape", ()), getattr(slots[slot], "dtype", None)) for slot, _ in schedule.input_slots)
    kept = getattr(_threads, "kept", None)
    if kept is None:
        kept = _threads.kept = {}
    # Keyed by the shapes too: chunks of points come in two sizes (the last is smaller),
    # and each keeps its own arrays.
    key = (id(schedule), signature)
    found = kept.pop(key, None)
    if found is None or found[0] is not schedule:
        found = (schedule, signature, {})
    others = sum(_kept_bytes(entry[2]) for entry in kept.values())
    while kept and (len(kept) >= KEPT_SCHEDULES or others > KEPT_BYTES):  # the least recent go first
        oldest = next(iter(kept))
        others -= _kept_bytes(kept.pop(oldest)[2])
    kept[key] = found  # last: the most recent
    return found[2]


def _kept_bytes(kept: dict) -> int:
    """Bytes of the arrays set aside (one array may serve several slots)."""
    return sum(array.nbytes for array in {id(array): array for array in kept.values()}.values())


def kept_bytes() -> int:
    """Bytes of the arrays this thread keeps for the next runs of its schedules."""
    return sum(_kept_bytes(entry[2]) for entry in getattr(_threads, "kept", {}).values())


def release_buffers() -> None:
    """Let go of the arrays this thread keeps for the next run of its schedules."""
    _threads.kept = {}


def evaluate(graph: Graph, values: Mapping[str, Any], outputs: Sequence[Node] | None = None, xp=np, batch_ndim: int = 0) -> list:
    """The values of the outputs (the graph's own by default) at the given input values
    (which may carry ``batch_ndim`` trailing batch axes: many points at once)."""
    schedule, slots, floats = _run(graph, values, outputs, xp, batch_ndim)
    return [np.float64(slots[slot]) if floats else slots[slot] for slot in schedule.output_slots]


def evaluate_all(
    graph: Graph, values: Mapping[str, Any], outputs: Sequence[Node] | None = None, xp=np, batch_ndim: int = 0
) -> dict[int, Any]:
    """Every needed node's value, keyed by node index (the primal trace)."""
    schedule, slots, floats = _run(graph, values, outputs, xp, batch_ndim)
    return {node.index: np.float64(slots[slot]) if floats else slots[slot] for slot, node in enumerate(schedule.nodes)}


def on_floats(graph: Graph, values: Mapping[str, Any], xp, batch_ndim: int) -> bool:
    """Whether this is one real point on NumPy, which Python floats may carry."""
    return xp is np and not batch_ndim and scalar_point(graph, values)


def _run(graph: Graph, values, outputs, xp, batch_ndim: int) -> tuple[Schedule, list, bool]:
    """The schedule, every slot's value, and whether those are Python floats (where
    they can carry the point; the caller makes NumPy scalars of those it returns)."""
    if on_floats(graph, values, xp, batch_ndim):
        fast = compile_scalar(graph, outputs)
        if fast is not None:
            return fast, run_scalar(fast, values), True
    schedule = compile_graph(graph, outputs, xp, batch_ndim)
    return schedule, run_schedule(schedule, values), False


# ---- inputs -----------------------------------------------------------------------


def check_inputs(graph: Graph, values: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The values the graph needs, as float arrays of the inputs' shapes, and warnings
    for values given to names that are not inputs."""
    missing = [name for name in graph.input_names if name not in values]
    if missing:
        name = missing[0]
        span = graph.input_named(name).span
        others = f" (also missing: {', '.join(missing[1:])})" if len(missing) > 1 else ""
        raise InputError(
            f"no value for the input {name!r}{others}",
            span,
            hint="give every input a value: --at " + ",".join(f"{missing_name}=..." for missing_name in missing),
        )
    warnings_ = []
    for name in values:
        if name not in graph.input_names:
            hint = suggest(name, graph.input_names)
            inputs = ", ".join(graph.input_names) or "none"
            warnings_.append(f"{name!r} is not an input of this function (inputs: {inputs})" + (f"; {hint}" if hint else ""))
    bound = {}
    for node in graph.inputs:
        name = node.params["name"]
        value = values[name]
        if np.size(value) == 0:
            raise InputError(f"the value of {name!r} is empty", node.span)
        if np.shape(value)[: len(node.shape)] != node.shape:
            raise InputError(f"the value of {name!r} has shape {np.shape(value)}, but the program was built for {node.shape}")
        bound[name] = value
    return bound, warnings_
