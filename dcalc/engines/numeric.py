"""Finite differences, with an error estimate for every derivative.

Three separate pieces, as in numdifftools:

- the steps (:func:`base_steps`): per input component, from its magnitude and
  the floating-point precision, made exactly representable;
- the difference formulas (central, forward, one-sided, complex step);
- extrapolation (:func:`richardson`): a Richardson table over a geometric
  sequence of steps, each entry with an estimate of its truncation and
  rounding error; the entry with the smallest estimate wins.

Two ways to perturb the point:

- one component at a time, which gives the whole Jacobian (12 evaluations per
  component with Richardson extrapolation);
- along K directions (``directions``), which gives the Jacobian applied to each
  (projections, J v): what is affordable when the input has tens of thousands of
  components. :func:`exact_directions` makes directions along which every
  perturbed point is exactly representable, so the steps are what they claim.

All perturbed points go through the evaluator as batches on a trailing axis, in
chunks that fit the memory budget. Values may carry trailing point axes (many
points at once); each point gets its own steps and error estimates.

A step that leaves the function's domain (the value there is not finite while
the value at the point is) is not used: the table drops it, and if no central
step is left the one-sided differences that stay inside the domain are used.
So ln(x) at x = 0.05 works.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import DerivativeError
from ..evaluation import evaluate, evaluate_all
from ..graph import Graph, array_namespace
from . import DEFAULT_MEMORY, Derivatives, batch_shape, chunk_size, resolve, split_directions, timed, with_engine_axis

EPS = float(np.finfo(float).eps)
METHODS = ("richardson", "central", "forward", "complex")
RICHARDSON_STEPS = 6  # 12 evaluations per input component
# Relative size of the first step of each method.
BASE = {"richardson": EPS ** (1 / 7) * 4, "central": EPS ** (1 / 3), "forward": EPS**0.5, "complex": 1e-20}
# How much rounding noise one evaluation of f carries, in units of eps * |f|.
NOISE_ULPS = 8.0
# The rounding scale below which eps * scale would be less than the smallest subnormal.
SUBNORMAL_FLOOR = float(np.finfo(float).smallest_subnormal) / EPS
# Extra rounds with smaller steps for derivatives whose estimate stays poor (a domain
# edge or singularity close by: log1p at -1 + 1e-7 needs steps 3e6 times smaller).
RETRIES = 8
SHRINK = 32.0  # each retry's steps are this much smaller


def base_steps(center: np.ndarray, method: str) -> np.ndarray:
    """The first step for each component: relative to its magnitude (at least 1/8,
    so steps near zero are not absurdly small), rounded by exact_steps."""
    xp = array_namespace((center,))
    scale = xp.maximum(xp.abs(center), 0.125)
    step = BASE[method] * scale
    if method == "complex":
        return step
    return exact_steps(center, step)


def exact_steps(center, step):
    """``step`` rounded so that x + h and x - h are exact for it and for each of its
    halvings (RICHARDSON_STEPS levels): a whole number of 2^(levels - 1) units in the
    last place of |x| + h (where x + h crosses a power of two, an odd last bit of x
    can still round; the quotients divide by the steps taken, so that only costs
    symmetry). Then a central difference is symmetric; a step rounded
    on one side only (x + h - x != x - (x - h)) leaves an error of (a - b)/2 f'',
    which beside a singularity is far larger than the rest (acos 1e-10 from 1: 1e-4).
    A step smaller than that unit is only rounded so x + h is exact."""
    xp = array_namespace((center,))
    with np.errstate(invalid="ignore", over="ignore"):  # an infinite point gives a NaN step, and NaN derivatives
        reach = xp.abs(center) + step
        unit = (xp.nextafter(reach, xp.asarray(np.inf)) - reach) * 2.0 ** (RICHARDSON_STEPS - 1)
        whole = xp.round(step / unit) * unit
        return xp.where(whole >= unit, whole, (center + step) - center)


def _geometric(h0: np.ndarray, count: int) -> np.ndarray:
    """h0, h0/2, h0/4, ...: shape h0.shape + (count,); exact_steps keeps them exact."""
    return array_namespace((h0,)).stack([h0 / 2.0**level for level in range(count)], axis=-1)


def richardson(estimates: np.ndarray, noise: np.ndarray, order: int, valid: np.ndarray):
    """Extrapolate estimates made with steps h, h/2, h/4, ... (last axis).

    ``order`` is the power of the leading error term (2 for central, 1 for
    one-sided differences; each level removes the next one). Returns the best
    entry per derivative and its error estimate: the change from the lower-order
    entry it improves on, plus its rounding noise amplified by the extrapolation.
    """
    xp = array_namespace((estimates,))
    best = xp.full(estimates.shape[:-1], xp.nan)
    best_error = xp.full(estimates.shape[:-1], xp.inf)
    if estimates.shape[-1] > 1:
        # Level 0: the finer of two plain differences, judged by the whole change
        # between them (its true error is only a part of that, so this is safe).
        change = xp.abs(estimates[..., :-1] - estimates[..., 1:]) + noise[..., 1:]
        ok = valid[..., :-1] & valid[..., 1:]
        best, best_error = _pick(best, best_error, estimates[..., 1:], xp.where(ok, change, xp.inf))
    table, table_noise, table_valid = estimates, noise, valid
    for level in range(1, estimates.shape[-1]):
        # Halving the step shrinks the removed error term by 2^(order*level).
        factor = 2.0 ** (order * level)
        finer, coarser = table[..., 1:], table[..., :-1]
        extrapolated = finer + (finer - coarser) / (factor - 1)
        amplified = table_noise[..., 1:] * (factor + 1) / (factor - 1)
        ok = table_valid[..., 1:] & table_valid[..., :-1]
        error = xp.abs(extrapolated - finer) + amplified
        best, best_error = _pick(best, best_error, extrapolated, xp.where(ok & xp.isfinite(extrapolated), error, xp.inf))
        table, table_noise, table_valid = extrapolated, amplified, ok
    with np.errstate(invalid="ignore", divide="ignore"):
        changes = _changes(estimates)
    all_valid = xp.all(valid, axis=-1)
    best_error = xp.maximum(best_error, _unconverged_spread(changes, noise, all_valid, order))
    # Converging as a power of h that no level of the table removes: the finest
    # difference plus the changes still to come (Aitken's extrapolation), wrong by at
    # most their sum.
    tail = _slow_tail(changes, all_valid)
    slow = tail != 0
    if bool(xp.any(slow)):
        best = xp.where(slow, estimates[..., -1] + tail, best)
        best_error = xp.where(slow, xp.abs(tail) + noise[..., -1], best_error)
    return best, best_error


def _changes(estimates):
    """The change from each plain difference to the next finer one, and each change as
    a fraction of the one before (signed; the caller holds np.errstate)."""
    steps = estimates[..., 1:] - estimates[..., :-1]
    return steps, steps[..., 1:] / steps[..., :-1]


def _unconverged_spread(changes, noise, all_valid, order: int):
    """Where the plain differences do not converge as the step shrinks, their spread;
    else 0. Extrapolation assumes steps small enough for the function's curvature:
    then each change between successive differences is about 2^-order of the one
    before. Where the steps are too large (sin(1e7 x) with steps of 1e-3, thousands
    of periods wide) the differences jump about, two entries of the table can agree
    by chance, and that agreement would pass for a tiny error (-821 ± 0.2 for
    4.8e6). Converging: every change within rounding noise, or at most twice the
    expected fraction of the one before (less is fine: where the third derivative
    is 0, the changes shrink as h^4). ``changes``: ``_changes`` of the differences;
    ``all_valid``: whether all of them are."""
    steps, ratios = changes
    xp = array_namespace((steps,))
    if steps.shape[-1] < 2:
        return xp.zeros(steps.shape[:-1])
    expected = 2.0**-order
    with np.errstate(invalid="ignore", divide="ignore"):
        steps, ratios = xp.abs(steps), xp.abs(ratios)
        within_noise = steps <= 4 * (noise[..., 1:] + noise[..., :-1])
        steady = (ratios <= expected * 2) | within_noise[..., 1:] | within_noise[..., :-1]
        judged = all_valid & xp.all(xp.isfinite(steps), axis=-1)
        return xp.where(judged & ~xp.all(steady, axis=-1), xp.max(steps, axis=-1), 0.0)


def _slow_tail(changes, all_valid):
    """Where the plain differences converge steadily as a power of h that the table
    does not remove, the error still left in the finest: else 0. Richardson's table
    removes whole powers of h; an error that shrinks as a lower power (x*sqrt(x) at
    0, one-sided: as h^0.5, each change 0.71 of the one before) is extrapolated with
    the wrong factors and its error underestimated (4.1e-9 ± 5.6e-11 for 0), and no
    level removes a power that is not a whole number (h^1.5, h^2.5). Changes in one
    direction, each a steady fraction 2^-p of the one before, with p below 0.8 or at
    least 0.2 away from the whole numbers, are such a power law; the changes still
    to come then sum to about the last one times r/(1 - r), r the last fraction
    (signed: the limit is the finest difference plus it). ``changes``, ``all_valid``:
    as for ``_unconverged_spread``."""
    steps, ratios = changes  # a positive ratio: the same direction
    xp = array_namespace((steps,))
    if steps.shape[-1] < 3:
        return xp.zeros(steps.shape[:-1])
    with np.errstate(invalid="ignore", divide="ignore"):
        # As a power of h that is no whole number: h^0.5, h^1.5, h^2.5, ...
        power = -xp.log2(xp.where(ratios > 0, ratios, xp.nan))
        fractional = (power < 0.8) | (xp.abs(power - xp.round(power)) >= 0.2)
        slow = xp.all(fractional & (ratios > 0) & (ratios < 1.0), axis=-1)
        # Steady, as a power law's are (rounding noise would scatter them).
        steady = xp.max(ratios, axis=-1) < 1.25 * xp.min(ratios, axis=-1)
        judged = all_valid & slow & steady
        rate = ratios[..., -1]
        return xp.where(judged, steps[..., -1] * rate / (1.0 - rate), 0.0)


def _pick(best, best_error, candidates, errors):
    """Keep, per derivative, whichever candidate has the smallest error estimate."""
    xp = array_namespace((errors,))
    index = xp.argmin(errors, axis=-1)
    chosen_error = xp.take_along_axis(errors, index[..., None], -1)[..., 0]
    chosen = xp.take_along_axis(candidates, index[..., None], -1)[..., 0]
    better = chosen_error < best_error
    return xp.where(better, chosen, best), xp.where(better, chosen_error, best_error)


# ---- the point, flattened ----------------------------------------------------------------


class Point:
    """The inputs differentiated, flattened: ``center`` has shape batch + (C,), one
    entry per input component; ``offsets`` says which entries belong to which input."""

    def __init__(self, graph: Graph, values, wrt_nodes, batch: tuple, xp=np):
        self.graph, self.values, self.nodes, self.batch, self.xp = graph, values, wrt_nodes, batch, xp
        self.offsets, start = [], 0
        for node in wrt_nodes:
            self.offsets.append((start, start + node.size))
            start += node.size
        self.components = start
        blocks = []
        for node in wrt_nodes:
            value = xp.broadcast_to(xp.asarray(values[node.params["name"]], dtype=float), node.shape + batch)
            blocks.append(xp.moveaxis(xp.reshape(value, (node.size,) + batch), 0, -1))
        self.center = xp.concatenate(blocks, axis=-1) if blocks else xp.zeros(batch + (0,))

    def evaluate(self, outputs, perturbed, every: bool = False):
        """The outputs at points given by ``perturbed``: a function of an input's
        (start, stop) giving that block of values at every point, batch + (size, P).
        Returns arrays shaped output.shape + batch + (P,); with ``every``, also each
        node's value on the way (by node index)."""
        xp = self.xp
        batched = with_engine_axis(self.values, self.graph, xp)
        for node, (start, stop) in zip(self.nodes, self.offsets):
            block = perturbed(start, stop)  # batch + (size, P)
            points = block.shape[-1]
            block = xp.moveaxis(block, -2, 0)  # (size,) + batch + (P,)
            batched[node.params["name"]] = xp.reshape(block, node.shape + self.batch + (points,))
        ndim = len(self.batch) + 1
        trace = evaluate_all(self.graph, batched, outputs, xp, batch_ndim=ndim) if every else None
        found = [trace[node.index] for node in outputs] if every else evaluate(self.graph, batched, outputs, xp, batch_ndim=ndim)
        found = [xp.broadcast_to(xp.asarray(value), node.shape + xp.shape(value)[len(node.shape) :]) for node, value in zip(outputs, found)]
        return (found, trace) if every else found


def _table(value, shape: tuple, batch: tuple, directions: int, count: int, sides: int) -> np.ndarray:
    """Evaluations (output.shape + batch + (P,)) as output.shape + batch + (directions, count, sides)."""
    xp = array_namespace((value,))
    points = directions * count * sides
    value = xp.broadcast_to(xp.asarray(value), tuple(shape) + tuple(batch) + (points,))
    return value.reshape(tuple(shape) + tuple(batch) + (directions, count, sides))


# ---- the engine -----------------------------------------------------------------------------


def evaluations(method: str) -> int:
    """Evaluations of f per direction (before any retry with smaller steps)."""
    return 1 if method == "complex" else 2 * (RICHARDSON_STEPS if method == "richardson" else 2)


@timed
def numeric(
    graph: Graph,
    values,
    outputs=None,
    wrt=None,
    method: str = "richardson",
    xp=np,
    directions: dict | None = None,
    batch_ndim: int = 0,
    memory: int = DEFAULT_MEMORY,
) -> Derivatives:
    """The Jacobian by finite differences (or, with ``directions``, per input an array
    of shape input.shape + (K,), the Jacobian applied to each direction)."""
    if method not in METHODS:
        raise DerivativeError(f"unknown finite-difference method {method!r}: use one of {', '.join(METHODS)}")
    outputs, output_names, wrt_nodes = resolve(graph, outputs, wrt)
    if method == "complex":
        _refuse_non_analytic(graph, outputs)
    batch = batch_shape(graph, values, batch_ndim)
    point = Point(graph, values, wrt_nodes, batch, xp)
    # f at the point itself, through the same (array) evaluation as the perturbed points.
    at_point = evaluate(graph, with_engine_axis(values, graph, xp), outputs, xp, batch_ndim=len(batch) + 1)
    f0 = [xp.broadcast_to(xp.asarray(value, dtype=float), node.shape + batch + (1,))[..., 0] for node, value in zip(outputs, at_point)]
    along = None
    if directions is not None:
        along = xp.concatenate(
            [xp.reshape(xp.asarray(directions[node.params["name"]], dtype=float), (node.size, -1)) for node in wrt_nodes], axis=0
        ) if wrt_nodes else xp.zeros((0, 0))
    count = along.shape[1] if along is not None else point.components
    scales = _rounding_scales(graph, values, outputs, batch, xp)
    per_point_items = sum(node.size for node in graph.ancestors(outputs)) + point.components
    per_round = evaluations(method)
    step = chunk_size(count, 16 * per_round * per_point_items * max(math.prod(batch), 1), memory) if count else 1
    derivative_parts: list[list] = [[] for _ in outputs]
    error_parts: list[list] = [[] for _ in outputs]
    most_rounds, spent = 1, 0  # the most rounds of steps a chunk took; evaluations in all
    for start in range(0, count, step):
        stop = min(count, start + step)
        chunk = _Chunk(point, start, stop, along, method)
        rounds = 1
        if method == "complex":
            found, errors = chunk.complex_step(outputs, f0)
        else:
            found, errors, rounds = chunk.differences(outputs, f0, scales)
        most_rounds = max(most_rounds, rounds)
        spent += per_round * rounds * (stop - start)
        for position in range(len(outputs)):
            derivative_parts[position].append(found[position])
            error_parts[position].append(errors[position])

    result = Derivatives("numeric", output_names, [node.params["name"] for node in wrt_nodes], f0, {}, error={}, batch_ndim=len(batch))
    for name, node, parts, error_pieces in zip(output_names, outputs, derivative_parts, error_parts):
        empty = xp.zeros(node.shape + batch + (0,))
        derivative = xp.concatenate(parts, axis=-1) if parts else empty
        error = xp.concatenate(error_pieces, axis=-1) if error_pieces else empty
        if along is None:
            shapes = [input_node.shape for input_node in wrt_nodes]
            blocks = zip(split_directions(derivative, shapes, node.shape, batch, xp), split_directions(error, shapes, node.shape, batch, xp))
            for input_node, (block, error_block) in zip(wrt_nodes, blocks):
                key = (name, input_node.params["name"])
                result.jacobian[key], result.error[key] = block, error_block
        else:
            if result.projections is None:
                result.projections, result.directions = {}, directions
            result.projections[name] = xp.moveaxis(derivative, -1, len(node.shape))
            result.error[name] = xp.moveaxis(error, -1, len(node.shape))
    result.details = {
        "method": method,
        # the most any component (direction) took: its chunk's rounds of steps
        "evaluations_per_component" if along is None else "evaluations_per_direction": per_round * most_rounds,
        "evaluations": spent + 1,
    }
    return result.detach(values, xp)


def _refuse_non_analytic(graph: Graph, outputs) -> None:
    for node in graph.ancestors(outputs):
        if not (node.is_input or node.is_const) and not node.prim.complex_analytic:
            raise DerivativeError(f"the complex-step method needs complex-analytic operations, and {node.op} is not one", node.span)


def _rounding_scales(graph: Graph, values, outputs, batch: tuple, xp=np) -> list[np.ndarray]:
    """Per output (and point), the size of the rounding in f: the root sum of squares
    of the intermediates on its path (each node's largest entry). Rounding in f is
    proportional to its intermediates, not to f: near a cancellation (y - x^2 at
    Rosenbrock's minimum) f is tiny while its error is not, and a long chain of sums
    (x + x + ... + x) gathers a rounding at every step. Inputs are left out:
    perturbed inputs are exact. Below the normal numbers a result rounds to a whole
    number of the smallest subnormal, however small it is: that is the floor."""
    trace = evaluate_all(graph, values, outputs, xp, batch_ndim=len(batch))
    scales = []
    for output in outputs:
        size = xp.zeros(batch)
        for magnitude in _magnitudes(graph, output, trace, xp):
            size = xp.hypot(size, magnitude)  # no overflow on the way
        scales.append(xp.maximum(size, SUBNORMAL_FLOOR))
    return scales


def _magnitudes(graph: Graph, output, trace: dict, xp, part=None):
    """For each operation ``output`` depends on (inputs and constants left out), its
    largest finite |value| (or |part(value)|) at each point. For a sum of terms
    (``Primitive.sums``: dot(w, x) near 0 while its terms are not) that is the size of
    its terms: the op on its operands' absolute values."""
    for node in graph.ancestors([output]):
        if node.is_input or node.is_const or node.size == 0:
            continue
        value = xp.asarray(trace[node.index])
        magnitude = xp.abs(value if part is None else part(value))
        if part is None and node.prim.sums:
            with np.errstate(all="ignore"):
                terms = xp.abs(node.prim.impl(xp, *[xp.abs(xp.asarray(trace[operand.index])) for operand in node.inputs], **node.params))
            magnitude = xp.where(xp.isfinite(terms), xp.maximum(terms, magnitude), magnitude)  # terms that overflow: the value alone
        magnitude = xp.where(xp.isfinite(magnitude), magnitude, 0.0)
        yield xp.max(magnitude, axis=tuple(range(len(node.shape)))) if node.shape else magnitude


class _Chunk:
    """Directions ``start:stop``: components of the point (``along`` None) or columns
    of ``along`` (C, K), each perturbed on its own set of points."""

    def __init__(self, point: Point, start: int, stop: int, along, method: str):
        self.point, self.start, self.stop, self.along, self.method = point, start, stop, along, method
        self.count = stop - start

    def first_steps(self) -> np.ndarray:
        """batch + (directions,): the first step of each direction."""
        xp = self.point.xp
        center = self.point.center
        if self.along is None:
            return base_steps(center[..., self.start : self.stop], self.method)
        first = PROJECTION_STEP if self.method != "complex" else BASE["complex"]
        return xp.full(self.point.batch + (self.count,), first)

    def perturbed(self, steps: np.ndarray, sides: tuple):
        """A function of an input's (start, stop) giving its block of values at every
        point: batch + (size, P) for P = directions x levels x sides, in that order."""
        point, start, stop, xp = self.point, self.start, self.stop, self.point.xp
        levels = steps.shape[-1]
        signs = xp.array(sides)

        def block(first: int, last: int):
            center = point.center[..., first:last]  # batch + (size,)
            points = self.count * levels * len(sides)
            if self.along is not None:
                # x + s t_k u_k for every direction k, level and side
                moves = self.along[first:last, start:stop]  # (size, K)
                delta = moves[:, :, None, None] * steps[..., None, :, :, None] * signs  # batch + (size, K, levels, sides)
                return center[..., None] + delta.reshape(delta.shape[:-3] + (points,))
            values = xp.repeat(center[..., None], points, axis=-1)
            if self.method == "complex":
                values = values.astype(complex)
            low, high = max(first, start), min(last, stop)
            if low < high:
                rows = xp.arange(low, high)
                for level in range(levels):
                    for side_index, sign in enumerate(sides):
                        columns = ((rows - start) * levels + level) * len(sides) + side_index
                        values[..., rows - first, columns] = center[..., rows - first] + sign * steps[..., rows - start, level]
            return values

        return block

    # ---- differences ------------------------------------------------------------------------

    def differences(self, outputs, f0, scales):
        """Differences with the first steps; where a derivative's estimate stays poor (a
        singularity or domain edge close by), again with steps SHRINK times smaller (near
        0, straight down to the point's own scale), keeping whichever estimate is better."""
        xp = self.point.xp
        h0 = self.first_steps()
        if self.along is None:
            center = self.point.center[..., self.start : self.stop]
            # Near 0 the first steps are 1/8's (base_steps), far coarser than the point
            # itself: sqrt at 1e-20 needs steps of 1e-22. There the retries go straight
            # to the point's own scale.
            own = BASE[self.method] * xp.abs(center)
        derivatives, errors = self._differences_once(outputs, f0, scales, h0)
        rounds = 1
        for _ in range(RETRIES):
            poor = xp.zeros(h0.shape, dtype=bool)
            for node, derivative, error, scale in zip(outputs, derivatives, errors, scales):
                # Poor: worse than 1e-8 of the derivative or of the largest derivative of
                # the output, and above the rounding floor (exactly 0 is fine).
                magnitude = xp.where(xp.isfinite(derivative), xp.abs(derivative), 0.0)
                largest = xp.max(magnitude, axis=tuple(range(len(node.shape))) + (-1,), keepdims=True) if magnitude.size else magnitude
                threshold = 1e-8 * xp.maximum(xp.abs(derivative), largest) + 1e2 * EPS * scale[..., None]
                poor |= xp.any(~(error <= threshold), axis=tuple(range(len(node.shape))))
            if not poor.any():
                break
            if self.along is None:
                step = xp.where((own > 0) & (own < h0 / SHRINK), own, h0 / SHRINK)
                smaller = exact_steps(center, step)
            else:
                smaller = h0 / SHRINK  # powers of two: exact along exact_directions
            h0 = xp.where(poor, smaller, h0)
            retried, retried_errors = self._differences_once(outputs, f0, scales, h0)
            rounds += 1
            for k, (derivative, error) in enumerate(zip(retried, retried_errors)):
                # The smaller error wins, unless the two estimates cannot both be right:
                # then the coarser steps were the unresolved ones (sqrt at 1e-300: 160 ± 31
                # from steps of 1e-3, against 5e149 ± 1e136 from steps of 1e-302).
                with np.errstate(invalid="ignore"):
                    apart = xp.abs(derivative - derivatives[k]) > error + errors[k]
                better = (error < errors[k]) | (apart & xp.isfinite(error))
                derivatives[k] = xp.where(better, derivative, derivatives[k])
                errors[k] = xp.where(better, error, errors[k])
        return derivatives, errors, rounds

    def _differences_once(self, outputs, f0, scales, h0):
        """Central (with Richardson extrapolation or a plain pair) or forward differences."""
        method, point, xp = self.method, self.point, self.point.xp
        if method == "richardson":
            steps = _geometric(h0, RICHARDSON_STEPS)
        else:
            steps = h0[..., None] * xp.array([2.0, 1.0])  # 2h and h, smaller last
        levels = steps.shape[-1]
        sampled = point.evaluate(outputs, self.perturbed(steps, (1.0, -1.0)))
        if self.along is None:
            center = point.center[..., self.start : self.stop, None]
            plus_step, minus_step = (center + steps) - center, center - (center - steps)
        else:
            plus_step = minus_step = steps
        derivatives, errors = [], []
        for node, value, center_value, scale in zip(outputs, sampled, f0, scales):
            table = _table(value, node.shape, point.batch, self.count, levels, 2)
            plus, minus = table[..., 0], table[..., 1]
            base = center_value[..., None, None]
            scale = scale[..., None, None]
            center_ok = xp.isfinite(base)
            plus_ok, minus_ok = xp.isfinite(plus), xp.isfinite(minus)
            order = 2
            with np.errstate(all="ignore"):
                central = (plus - minus) / (plus_step + minus_step)
                noise = NOISE_ULPS * EPS * (xp.maximum(xp.abs(plus), scale) + xp.maximum(xp.abs(minus), scale)) / (plus_step + minus_step)
                if method == "forward":
                    central = (plus - base) / plus_step
                    noise = NOISE_ULPS * EPS * (xp.maximum(xp.abs(plus), scale) + xp.maximum(xp.abs(base), scale)) / plus_step
                    plus_ok, minus_ok, order = plus_ok & center_ok, xp.ones_like(minus_ok), 1
                best, best_error = richardson(central, noise, order, plus_ok & minus_ok)
                # Where no central step stayed inside the domain: one-sided differences.
                for side, side_ok, step in ((plus, plus_ok, plus_step), (minus, minus_ok, -minus_step)):
                    one_sided_quotient = (side - base) / step
                    side_noise = NOISE_ULPS * EPS * (xp.maximum(xp.abs(side), scale) + xp.maximum(xp.abs(base), scale)) / xp.abs(step)
                    fallback, fallback_error = richardson(one_sided_quotient, side_noise, 1, side_ok & center_ok)
                    use = ~xp.isfinite(best_error) & xp.isfinite(fallback_error)
                    best = xp.where(use, fallback, best)
                    best_error = xp.where(use, fallback_error, best_error)
            derivatives.append(best)
            errors.append(best_error)
        return derivatives, errors

    # ---- complex step ----------------------------------------------------------------------

    def complex_step(self, outputs, f0):
        """f'(x) = Im f(x + ih) / h: no subtraction, so no cancellation, for analytic f."""
        point, xp = self.point, self.point.xp
        steps = self.first_steps()[..., None]  # batch + (directions, 1)
        sampled, trace = point.evaluate(outputs, self.perturbed(1j * steps, (1.0,)), every=True)
        derivatives, errors = [], []
        for node, value, center_value in zip(outputs, sampled, f0):
            table = _table(value, node.shape, point.batch, self.count, 1, 1)[..., 0, 0]
            derivative = xp.imag(table) / steps[..., 0]
            # Outside the real domain (ln(-1)) the complex value is not the real one plus
            # an infinitesimal: there is no derivative there.
            real = xp.asarray(center_value, dtype=float)[..., None]
            with np.errstate(invalid="ignore"):
                inside = xp.isfinite(real) & (xp.abs(xp.real(table) - real) <= 1e-8 * xp.maximum(xp.abs(real), 1e-300))
            derivative = xp.where(inside, derivative, xp.nan)
            derivatives.append(derivative)
            # With h this small the truncation error (h^2 f'''/6) vanishes; what is left is
            # rounding, in proportion to the largest derivative on the way (a sum of many
            # terms rounds like its terms, not like its total).
            tangents = _largest_on_path(point.graph, node, trace, xp.imag, xp) / steps[..., 0]
            errors.append(xp.where(inside, NOISE_ULPS * EPS * xp.maximum(xp.abs(derivative), tangents), xp.inf))
        return derivatives, errors


def _largest_on_path(graph: Graph, output, trace: dict, part, xp=np) -> np.ndarray:
    """Per point (batch + (P,)): the largest |part(value)| of the operations ``output`` depends on."""
    largest = 0.0
    for magnitude in _magnitudes(graph, output, trace, xp, part):
        largest = xp.maximum(largest, magnitude)
    return xp.asarray(largest)


# ---- directions along which every step is exact -----------------------------------------------

# The first step along a direction, relative to each component's scale: a power of two, so
# that every step (halvings, retries 32 times smaller) is one too.
PROJECTION_STEP = 2.0**-6


def exact_directions(graph: Graph, values, wrt: list[str], count: int, seed: int = 0) -> dict[str, np.ndarray]:
    """``count`` random directions (per input, shape input.shape + (count,)) along which
    finite differences are exact in their inputs: component i moves by ±s_i t, where
    s_i is the power of two at or above max(|x_i|, 1/8) and t runs over the engine's
    steps (powers of two). x_i ± s_i t is then exact unless it crosses into the next
    binade with an odd last bit; such a component is left out of that direction (0),
    so the steps of the differences are exactly what they say."""
    from ..backend import to_host

    rng = np.random.default_rng(seed)
    nodes = [graph.input_named(name) for name in wrt]
    center = np.concatenate([np.ravel(np.asarray(to_host(values[node.params["name"]]), dtype=float)) for node in nodes]) if nodes else np.zeros(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = 2.0 ** np.ceil(np.log2(np.maximum(np.abs(center), 0.125)))
    scale = np.where(np.isfinite(scale), scale, 1.0)
    signs = rng.choice([-1.0, 1.0], size=(center.size, count))
    steps = PROJECTION_STEP / 2.0 ** np.arange(RICHARDSON_STEPS) / SHRINK ** np.arange(RETRIES + 1)[:, None]
    moves = scale[:, None] * steps.ravel()[None, :]  # (C, every step)
    with np.errstate(invalid="ignore"):
        exact = np.all(((center[:, None] + moves) - center[:, None] == moves) & ((center[:, None] - moves) - center[:, None] == -moves), axis=1)
    directions = signs * (scale * exact)[:, None]
    result, offset = {}, 0
    for node in nodes:
        result[node.params["name"]] = directions[offset : offset + node.size].reshape(node.shape + (count,))
        offset += node.size
    return result


# ---- one-sided derivatives at a kink --------------------------------------------------------------


# How closely one_sided resolves a one-sided derivative (relative; absolute below 1).
ONE_SIDED_TOLERANCE = 1e-6


def one_sided(graph: Graph, values, outputs=None, wrt=None) -> dict:
    """Right and left derivatives by one-sided differences with Richardson
    extrapolation: what a function has on each side of a kink.

    Returns ``{(output, input): (right, left)}``, each shaped output + input; NaN
    where a side has no derivative (the function jumps there).
    """
    outputs, output_names, wrt_nodes = resolve(graph, outputs, wrt)
    point = Point(graph, values, wrt_nodes, ())
    chunk = _Chunk(point, 0, point.components, None, "richardson")
    steps = _geometric(chunk.first_steps(), RICHARDSON_STEPS)
    sampled = point.evaluate(outputs, chunk.perturbed(steps, (1.0, -1.0)))
    f0 = evaluate(graph, values, outputs)
    results = {}
    for name, node, value, center_value in zip(output_names, outputs, sampled, f0):
        table = _table(value, node.shape, (), point.components, RICHARDSON_STEPS, 2)
        base = np.asarray(center_value, dtype=float)[..., None, None]
        sides = []
        with np.errstate(all="ignore"):
            for side, sign in ((table[..., 0], 1.0), (table[..., 1], -1.0)):
                quotient = (side - base) / (sign * steps)
                noise = NOISE_ULPS * EPS * (np.abs(side) + np.abs(base)) / steps
                best, error = richardson(quotient, noise, 1, np.isfinite(side) & np.isfinite(base))
                # No convergence (a jump, as sign has at 0): no one-sided derivative.
                sides.append(np.where(error <= ONE_SIDED_TOLERANCE * np.maximum(np.abs(best), 1.0), best, np.nan))
        for input_node, (first, last) in zip(wrt_nodes, point.offsets):
            shape = node.shape + input_node.shape
            results[(name, input_node.params["name"])] = tuple(side[..., first:last].reshape(shape) for side in sides)
    return results
