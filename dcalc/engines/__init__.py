"""The four engines. Each takes a graph, values for its inputs, the outputs and
the inputs to differentiate with respect to, and returns :class:`Derivatives`.

- forward:  tangents pushed along with the primal, every input direction at once.
- reverse:  one primal pass keeping values, then adjoints in reverse order.
- symbolic: the rules applied to graph nodes: a derivative graph, then evaluated.
- numeric:  finite differences with extrapolation and an error estimate.

Values may carry trailing batch axes beyond each input's shape (``batch_ndim`` of
them: many points at once); results then carry the same axes last: a value has
shape ``output.shape + batch`` and a Jacobian block ``output.shape + input.shape + batch``.
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ..graph import Graph, Node, array_namespace

ENGINE_NAMES = ("reverse", "forward", "symbolic", "numeric")
# Working memory an engine may use for its tangents, cotangents and perturbed points
# before it splits the work into chunks (the CLI's --memory).
DEFAULT_MEMORY = 512 * 2**20
ITEM_BYTES = 8


ZERO_TIMES_INFINITY = "zero times infinity"  # keys in Derivatives.details
ZERO_TIMES_INFINITY_PARTIALS = "zero times infinity partials"


@dataclass
class Derivatives:
    """What an engine found: output values and d output / d input for each pair.

    An engine asked for projections instead (``directions``: per input, shape
    ``input.shape + (K,)``) gives, per output, the Jacobian applied to each of the K
    directions in ``projections`` (shape ``output.shape + (K,) + batch``) and no
    ``jacobian`` entries."""

    engine: str
    output_names: list[str]
    input_names: list[str]
    values: list[Any]
    # (output name, input name) -> array of shape output.shape + input.shape (+ batch)
    jacobian: dict[tuple[str, str], Any]
    # Same keys (or output names, for projections), for engines that estimate their own error (numeric).
    error: dict | None = None
    seconds: float = 0.0
    details: dict = field(default_factory=dict)
    directions: dict[str, Any] | None = None
    projections: dict[str, Any] | None = None
    batch_ndim: int = 0  # trailing point axes on values and blocks

    def note_zero_times_infinity(self, points=None, partials=None) -> "Derivatives":
        """Itself, noted as found by a guarded redo that changed a result: 0·∞ was
        taken as 0 (dcalc/engines/rules.py). That is right for a zero a direction has
        because it does not move that operand; for a zero the point happens to give, only
        where it stays zero nearby. dcalc/diagnose.py looks for the infinite slope then.
        ``points``: for a batch, which of its points (a flat boolean mask); ``partials``:
        which (output, input) partials, where known."""
        self.details[ZERO_TIMES_INFINITY] = True if points is None else points
        if partials is not None:
            self.details[ZERO_TIMES_INFINITY_PARTIALS] = set(partials)
        return self

    @property
    def zero_times_infinity_partials(self) -> set | None:
        """The partials that took 0·∞ as 0, where known (None: any of them may have)."""
        return self.details.get(ZERO_TIMES_INFINITY_PARTIALS)

    @property
    def zero_times_infinity_at(self):
        """The batch's points where 0·∞ was taken as 0 (a flat boolean mask), if known."""
        found = self.details.get(ZERO_TIMES_INFINITY)
        return None if found is None or found is True else found

    @property
    def zero_times_infinity(self) -> bool:
        """Whether 0·∞ was taken as 0 on the way to these results (see note_zero_times_infinity)."""
        found = self.details.get(ZERO_TIMES_INFINITY)
        return found is True or (found is not None and bool(np.any(found)))

    @property
    def direction_count(self) -> int:
        """How many directions the projections are along (0 for a whole Jacobian)."""
        return int(np.shape(next(iter(self.directions.values())))[-1]) if self.directions else 0

    def detach(self, values, xp=np) -> "Derivatives":
        """Itself, with a copy of each result array that shares memory with an input
        in ``values``, with the directions, or with another result (d(x y)/dx is y;
        reshape(x) is a view of x; exp(x) is its own derivative): the caller may change
        any array it gets without changing anything else."""
        shares = getattr(xp, "may_share_memory", None)
        held: dict[int, list] = {}  # arrays by the id of the memory's owner

        def owner(array):
            while getattr(array, "base", None) is not None and hasattr(array.base, "shape"):
                array = array.base
            return id(array)

        def hold(array) -> None:
            held.setdefault(owner(array), []).append(array)

        def own(array):
            if not hasattr(array, "shape") or isinstance(array, np.generic):
                return array  # a number: nothing to share
            others = held.get(owner(array), ())
            if any(other is array or (shares is not None and shares(other, array)) for other in others):
                array = xp.array(array)
            hold(array)
            return array

        for value in (*values.values(), *(self.directions or {}).values()):
            if hasattr(value, "shape"):
                hold(value)
        return self.map_arrays(own, estimates=False)

    def map_arrays(self, function, estimates: bool = True) -> "Derivatives":
        """Itself, with each result array replaced by ``function`` of it: the values, the
        partials, the projections, and (with ``estimates``) the error estimates and the
        directions."""
        self.values = [function(value) for value in self.values]
        self.jacobian = {key: function(block) for key, block in self.jacobian.items()}
        fields = ("projections", "error", "directions") if estimates else ("projections",)
        for field_name in fields:
            arrays = getattr(self, field_name)
            if arrays is not None:
                setattr(self, field_name, {key: function(block) for key, block in arrays.items()})
        return self

    def gradient(self, output: str | None = None) -> dict[str, Any]:
        """d output / d input for every input (the first output by default)."""
        output = output or self.output_names[0]
        return {name: self.jacobian[(output, name)] for name in self.input_names}

    def project(self, directions: dict[str, Any]) -> dict[str, Any]:
        """Per output, the Jacobian applied to the directions (per input, shape
        input.shape + (K,)): arrays shaped output.shape + (K,) + batch."""
        if self.projections is not None:
            return self.projections
        projected = {}
        for position, output in enumerate(self.output_names):
            out_ndim = np.ndim(self.values[position]) - self.batch_ndim
            total = None
            for name in self.input_names:
                direction = np.asarray(directions[name])
                own = direction.ndim - 1  # the input's own axes
                block = np.asarray(self.jacobian[(output, name)])
                # sum over the input's axes; tensordot leaves output + batch axes, then K
                product = np.tensordot(block, direction, axes=(tuple(range(out_ndim, out_ndim + own)), tuple(range(own))))
                product = np.moveaxis(product, -1, out_ndim)
                total = product if total is None else total + product
            projected[output] = total
        return projected


def split_directions(array, shapes: list[tuple], leading: tuple, batch: tuple = (), xp=np) -> list:
    """Split the trailing direction axis of ``array`` (shape leading + batch + (D,)) into
    one block per input, each shaped leading + that input's shape + batch."""
    blocks = []
    offset = 0
    for shape in shapes:
        size = math.prod(shape)
        block = xp.reshape(array[..., offset : offset + size], tuple(leading) + tuple(batch) + tuple(shape))
        if batch:
            start = len(leading)
            block = xp.moveaxis(block, tuple(range(start, start + len(batch))), tuple(range(block.ndim - len(batch), block.ndim)))
        blocks.append(block)
        offset += size
    return blocks


def identity_columns(shapes: list[tuple], start: int, stop: int, batch_ndim: int = 0, xp=np, unit: bool = True) -> list:
    """Columns ``start:stop`` of the identity over all inputs' components, one block per
    input shaped input.shape + (1,) * batch_ndim + (stop - start,); None for an input
    with no component in that range. Together, one pass carries those directions.
    One scalar alone gets the bare UNIT seed (rules.py) unless ``unit`` is off."""
    from .rules import UNIT

    if unit and shapes == [()] and (start, stop) == (0, 1):
        return [UNIT]
    seeds = []
    offset = 0
    count = stop - start
    for shape in shapes:
        size = math.prod(shape)
        low, high = max(start, offset), min(stop, offset + size)
        if low >= high:
            seeds.append(None)
        else:
            seed = np.zeros((size, count))
            rows = np.arange(low - offset, high - offset)
            seed[rows, rows + offset - start] = 1.0
            seeds.append(xp.asarray(seed.reshape(tuple(shape) + (1,) * batch_ndim + (count,))))
        offset += size
    return seeds


def chunk_size(count: int, bytes_per_item: int, memory: int) -> int:
    """How many directions (or points) fit in ``memory`` at ``bytes_per_item`` each."""
    return max(1, min(count, memory // max(bytes_per_item, 1)))


def timed(function: Callable) -> Callable:
    def run(*args, **kwargs) -> Derivatives:
        start = time.perf_counter()
        result = function(*args, **kwargs)
        result.seconds = time.perf_counter() - start
        return result

    run.__name__ = function.__name__
    run.__doc__ = function.__doc__
    return run


def batch_shape(graph: Graph, values, batch_ndim: int) -> tuple:
    """The trailing point axes the inputs' values carry (broadcast together)."""
    if not batch_ndim:
        return ()
    shapes = [tuple(np.shape(values[node.params["name"]])[len(node.shape) :]) for node in graph.inputs]
    return tuple(np.broadcast_shapes(*shapes)) if shapes else ()


def resolve(graph: Graph, outputs, wrt) -> tuple[list[Node], list[str], list[Node]]:
    # The graph's own outputs go by their names; outputs passed in are out0, out1, ...
    names = graph.output_names if outputs is None else [f"out{k}" for k in range(len(outputs))]
    outputs = list(graph.outputs if outputs is None else outputs)
    wrt_nodes = list(graph.inputs) if wrt is None else [graph.input_named(name) for name in wrt]
    return outputs, list(names), wrt_nodes


def with_engine_axis(values, graph: Graph, xp=np) -> dict:
    """The input values with a trailing axis of length 1, which lines primal values
    up with the engines' direction (or cotangent) axis."""
    return {node.params["name"]: xp.asarray(values[node.params["name"]])[..., None] for node in graph.inputs if node.params["name"] in values}


def all_finite(arrays) -> bool:
    """Whether every entry of every array is finite. A sum is finite exactly when its
    terms are, unless it overflows, so one reduction answers most of the time."""
    for array in arrays:
        if array is None:
            continue
        xp = array_namespace((array,))
        with np.errstate(all="ignore"):
            total = xp.sum(array)
        if not bool(xp.isfinite(total)) and not bool(xp.all(xp.isfinite(array))):
            return False
    return True


def same_values(a, b, xp=np):
    """Elementwise, whether ``a`` and ``b`` hold the same number (a NaN matching a NaN)."""
    return (a == b) | (xp.isnan(a) & xp.isnan(b))


def results(result: Derivatives) -> dict:
    """Every derivative block of a result, by key: the Jacobian's, then the projections'."""
    return {**result.jacobian, **(result.projections or {})}


def redone(plain: Derivatives, guarded: Derivatives) -> Derivatives:
    """The guarded redo of a result that was not finite, noted as taking 0·∞ as 0
    where it differs from the plain result (an infinite slope no zero met stays)."""
    from ..backend import to_host

    changed = None  # per point of the batch (one entry for one point)
    partials = set()
    for (key, after), before in zip(results(guarded).items(), results(plain).values()):
        xp = array_namespace((after,))
        differs = ~same_values(before, after, xp)
        points = math.prod(xp.shape(differs)[xp.ndim(differs) - guarded.batch_ndim :])
        here = xp.any(xp.reshape(differs, (-1, points)), axis=0)
        if bool(xp.any(here)):
            partials.add(key)
        changed = here if changed is None else changed | here
    if not partials:
        return guarded
    return guarded.note_zero_times_infinity(np.asarray(to_host(changed)) if guarded.batch_ndim else None, partials if guarded.jacobian else None)


@functools.cache
def _engines() -> dict[str, Callable]:
    """Each engine's function by name (imported on first use)."""
    from . import forward, numeric, reverse, symbolic

    return {"forward": forward.forward, "reverse": reverse.reverse, "symbolic": symbolic.symbolic, "numeric": numeric.numeric}


def run_engine(name: str, graph: Graph, values, outputs=None, wrt=None, **options) -> Derivatives:
    from ..errors import InputError

    engine = _engines().get(name)
    if engine is None:
        raise InputError(f"unknown engine {name!r}: use {', '.join(ENGINE_NAMES)}")
    try:
        return engine(graph, values, outputs=outputs, wrt=wrt, **options)
    except KeyError as error:  # a value the caller left out, found missing on the way
        missing = error.args[0] if error.args else None
        if isinstance(missing, str) and missing in graph.input_names and missing not in values:
            raise InputError(f"no value for the input {missing!r}", graph.input_named(missing).span) from None
        raise
