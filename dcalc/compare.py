"""Running several engines on one problem and judging how well they agree.

The exact engines (forward, reverse, symbolic) must agree to rounding; the
finite-difference engine is judged against its own error estimate, so no
tolerance is guessed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .engines import ENGINE_NAMES, Derivatives, run_engine, same_values
from .errors import DcalcError

# Exact engines differ only by rounding: a few ulps per operation on the path.
EXACT_AGREEMENT = 1e-12


@dataclass
class EngineRun:
    name: str
    result: Derivatives | None
    failure: str | None = None
    max_rel_diff: float | None = None
    agrees: bool | None = None
    # Per point (over the point axes of a batch; 0-d for one point): whether it agrees
    # there (None for the reference), and the relative difference, or for the numeric
    # engine how many times its estimate it is off.
    agrees_at: np.ndarray | None = None
    measure: np.ndarray | None = None


def compared(reference: Derivatives, other: Derivatives):
    """(output, [(expected, got, error)]) per output: the blocks of every input, or, when
    ``other`` holds projections, the reference's Jacobian applied to the same directions."""
    if other.projections is not None:
        expected = reference.project(other.directions)
        for output in reference.output_names:
            error = other.error[output] if other.error is not None else None
            yield output, [(np.asarray(expected[output], dtype=float), np.asarray(other.projections[output], dtype=float), error)]
        return
    for output in reference.output_names:
        yield output, [
            (
                np.asarray(reference.jacobian[(output, name)], dtype=float),
                np.asarray(other.jacobian[(output, name)], dtype=float),
                other.error[(output, name)] if other.error is not None else None,
            )
            for name in reference.input_names
        ]


def _over_own_axes(array: np.ndarray, batch_ndim: int) -> np.ndarray:
    """The largest entry over every axis but the trailing point axes."""
    axes = tuple(range(array.ndim - batch_ndim))
    return np.max(array, axis=axes, initial=0.0) if axes else array


def relative_differences(reference: Derivatives, other: Derivatives, pairs: list | None = None) -> np.ndarray:
    """Per point (an array over the point axes; 0-d for one point): the largest
    difference of any partial, relative to the largest partial of the same output at
    that point (so a partial that is 0 in one engine and 1e-17 in another is not a
    relative difference of 1). Infinite where one engine's value is not finite and the
    other's differs. ``pairs``: list(compared(reference, other)), when at hand."""
    batch = reference.batch_ndim
    worst = np.zeros(())
    for _, blocks in compared(reference, other) if pairs is None else pairs:
        scale = np.zeros(())
        for expected, _, _ in blocks:
            with np.errstate(invalid="ignore"):
                scale = np.maximum(scale, _over_own_axes(np.where(np.isfinite(expected), np.abs(expected), 0.0), batch))
        for expected, got, _ in blocks:
            if expected.size == 0:
                continue
            with np.errstate(invalid="ignore"):
                difference = np.abs(expected - got)
            same = same_values(expected, got)
            difference = np.where(same, 0.0, np.where(np.isfinite(difference), difference, np.inf))
            largest = _over_own_axes(difference, batch)
            with np.errstate(invalid="ignore", divide="ignore"):
                worst = np.maximum(worst, np.where(scale > 0, largest / np.where(scale > 0, scale, 1.0), largest))
    return worst


def max_rel_diff(reference: Derivatives, other: Derivatives) -> float:
    """The largest of :func:`relative_differences` over all points."""
    return float(np.max(relative_differences(reference, other), initial=0.0))


def estimate_excess(reference: Derivatives, numeric: Derivatives, pairs: list | None = None) -> np.ndarray:
    """Per point: how many times its own error estimate the numeric engine is off
    (0 where within). ``pairs`` as for relative_differences."""
    batch = reference.batch_ndim
    worst = np.zeros(())
    for _, blocks in compared(reference, numeric) if pairs is None else pairs:
        for expected, got, error in blocks:
            with np.errstate(invalid="ignore"):
                difference = np.abs(got - expected)
            error = np.broadcast_to(np.asarray(error, dtype=float), difference.shape)
            with np.errstate(all="ignore"):
                ratio = np.where(difference <= error, 0.0, difference / np.maximum(error, 1e-300))
            ratio = np.where(np.isnan(ratio), np.inf, ratio)
            worst = np.maximum(worst, _over_own_axes(ratio, batch))
    return worst


def beyond_estimate(reference: Derivatives, numeric: Derivatives) -> float:
    """How many times its own error estimate the numeric engine is off (0 when within)."""
    return float(np.max(estimate_excess(reference, numeric), initial=0.0))


def finite_points(result: Derivatives) -> np.ndarray:
    """Per point: whether the values and every partial are finite there."""
    batch = result.batch_ndim
    finite = np.ones((), dtype=bool)
    for array in [*result.values, *result.jacobian.values()]:
        array = np.asarray(array)
        axes = tuple(range(array.ndim - batch))
        finite = finite & (np.all(np.isfinite(array), axis=axes) if axes else np.isfinite(array))
    return finite


# Forward mode and finite differences take a pass per input component. Beyond this much
# work (elements read and written, all passes together) they are checked along random
# directions instead: the Jacobian applied to each, against the reference's.
FULL_WORK_LIMIT = 5e7
# Beyond this much, such an engine run alone is announced before the wait (some seconds).
LONG_WORK = 5e9
PROJECTION_COUNT = 8
PROJECTION_SEED = 0


def work_per_pass(graph, outputs) -> int:
    """Elements an evaluation reads and writes: each operation's operands and result."""
    return sum(node.size + sum(operand.size for operand in node.inputs) for node in graph.ancestors(outputs))


def passes_of(engine: str, wrt_nodes, method: str = "richardson") -> int:
    """Evaluations of f forward mode or finite differences make for a whole Jacobian:
    one per input component (numeric: as many as its method takes)."""
    passes = sum(node.size for node in wrt_nodes)
    if engine == "numeric":
        from .engines.numeric import evaluations

        passes *= evaluations(method)
    return passes


def jacobian_work(graph, engine: str, wrt_nodes, outputs, method: str = "richardson") -> int:
    """Elements read and written, all passes together, where ``engine`` takes a pass per
    input component for the whole Jacobian (forward mode, finite differences); else 0."""
    if engine not in ("forward", "numeric"):
        return 0
    return passes_of(engine, wrt_nodes, method) * work_per_pass(graph, outputs)


def projected(graph, engine: str, wrt_nodes, outputs, method: str = "richardson") -> bool:
    """Whether ``engine`` should work along directions rather than give the whole Jacobian."""
    return jacobian_work(graph, engine, wrt_nodes, outputs, method) > FULL_WORK_LIMIT


def engine_options(graph, values, engine: str, wrt=None, outputs=None, method: str = "richardson", cache: dict | None = None) -> dict:
    """The options ``engine`` runs with in a comparison: the finite-difference method, and
    the directions when the whole Jacobian would cost too much (the same directions for
    every engine that needs them, kept in ``cache``)."""
    from .engines import resolve

    options = {"method": method} if engine == "numeric" else {}
    nodes, _, wrt_nodes = resolve(graph, outputs, wrt)
    if projected(graph, engine, wrt_nodes, nodes, method):
        cache = {} if cache is None else cache
        if "directions" not in cache:
            from .engines.numeric import exact_directions

            cache["directions"] = exact_directions(graph, values, [node.params["name"] for node in wrt_nodes], PROJECTION_COUNT, PROJECTION_SEED)
        options["directions"] = cache["directions"]
    return options


def run_engines(
    graph,
    values,
    engines=ENGINE_NAMES,
    wrt=None,
    outputs=None,
    method: str = "richardson",
    batch_ndim: int = 0,
    memory: int | None = None,
    xp=np,
) -> list[EngineRun]:
    """Run each engine; the first is the reference the others are compared with.
    An engine that cannot handle the problem is recorded, not raised, unless it is
    the reference. On a batch of points (``batch_ndim`` trailing point axes) the
    engines agree where every point where the reference is finite agrees. The
    engines run on ``xp``'s arrays (``values`` are that already); results come back
    to the host."""
    from .backend import result_to_host
    from .engines import resolve

    runs: list[EngineRun] = []
    reference = None
    finite = None
    shared: dict = {}
    nodes, _, wrt_nodes = resolve(graph, outputs, wrt)
    for name in engines:
        options = {"method": method} if name == "numeric" else {}
        if reference is not None:
            if batch_ndim:
                if projected(graph, name, wrt_nodes, nodes, method):
                    components = sum(node.size for node in wrt_nodes)
                    runs.append(EngineRun(name, None, failure=f"not run on many points: {components} input components each (check one point)"))
                    continue
            else:
                options = engine_options(graph, values, name, wrt, outputs, method, shared)
        try:
            if memory is not None:
                options["memory"] = memory
            result = result_to_host(run_engine(name, graph, values, outputs=outputs, wrt=wrt, batch_ndim=batch_ndim, xp=xp, **options))
        except DcalcError as error:
            if reference is None:
                raise
            runs.append(EngineRun(name, None, failure=error.message))
            continue
        run = EngineRun(name, result)
        if reference is None:
            reference, finite = result, finite_points(result)
            run.max_rel_diff, run.agrees = 0.0, True
        else:
            numeric = name == "numeric" and reference.engine != "numeric"
            pairs = list(compared(reference, result))  # the projections made once
            differences = relative_differences(reference, result, pairs)
            run.measure = estimate_excess(reference, result, pairs) if numeric else differences
            run.agrees_at = run.measure <= (0.0 if numeric else EXACT_AGREEMENT)
            if batch_ndim:
                run.max_rel_diff = float(np.max(np.where(finite, differences, 0.0), initial=0.0))
                run.agrees = bool(np.all(run.agrees_at | ~finite))
            else:
                run.max_rel_diff = float(differences)
                # at a non-finite point there is nothing to agree on; it is reported as such
                run.agrees = bool(run.agrees_at) if bool(finite) else None
        runs.append(run)
    return runs


def check_direction(graph, direction: dict, wrt: list[str], origin: str = "the direction") -> None:
    """Refuse a direction that does not give exactly one finite array, of the input's
    shape, for every input differentiated."""
    from .errors import InputError, UnknownNameError, suggest

    for name in direction:
        if name not in wrt:
            raise UnknownNameError(
                f"{origin} has a component for {name!r}, which is not an input differentiated here (inputs: {', '.join(wrt)})",
                hint=suggest(name, wrt),
            )
    for name in wrt:
        if name not in direction:
            raise InputError(f"{origin} has no component for {name!r}", hint="give one for every input differentiated: --dir " + ",".join(f"{n}=..." for n in wrt))
        shape = graph.input_named(name).shape
        if np.shape(direction[name]) != shape:
            raise InputError(f"{origin} for {name!r} has shape {np.shape(direction[name])}, but the input has shape {shape}")
        if not np.all(np.isfinite(direction[name])):
            raise InputError(f"{origin} for {name!r} is not finite: a direction needs finite entries")


def directional(graph, values, direction: dict, wrt: list[str]) -> dict:
    """Forward mode along one direction, checked against reverse mode:
    ``{output: (forward JVP, reverse gradient · direction)}``."""
    from .engines.forward import forward
    from .engines.reverse import reverse

    check_direction(graph, direction, wrt)
    along = forward(graph, values, wrt=wrt, direction=direction)
    gradient = reverse(graph, values, wrt=wrt)
    results = {}
    for output in along.output_names:
        dotted = sum(np.tensordot(gradient.jacobian[(output, name)], direction[name], axes=direction[name].ndim) for name in wrt)
        results[output] = (along.jacobian[(output, "direction")], dotted)
    return results
