"""Running several engines on one problem and judging how well they agree.

The exact engines (forward, reverse, symbolic) must agree to rounding; the
finite-difference engine is judged against its own error estimate, so no
tolerance is guessed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .engines import ENGINE_NAMES, Derivatives, run_engine
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


def max_rel_diff(reference: Derivatives, other: Derivatives) -> float:
    """Largest difference of any partial, relative to the largest partial of the
    same output (so a partial that is 0 in one engine and 1e-17 in another is not
    a relative difference of 1)."""
    worst = 0.0
    for _, blocks in compared(reference, other):
        scale = max((float(np.max(np.abs(expected), initial=0.0)) for expected, _, _ in blocks), default=0.0)
        for expected, got, _ in blocks:
            with np.errstate(invalid="ignore"):
                difference = np.abs(expected - got)
            if difference.size == 0:
                continue
            if not np.all(np.isfinite(difference)):
                if not np.array_equal(expected, got, equal_nan=True):
                    return float("inf")
                continue
            worst = max(worst, float(np.max(difference)) / scale if scale > 0 else float(np.max(difference)))
    return worst


def beyond_estimate(reference: Derivatives, numeric: Derivatives) -> float:
    """How many times its own error estimate the numeric engine is off (0 when within)."""
    worst = 0.0
    for _, blocks in compared(reference, numeric):
        for expected, got, error in blocks:
            with np.errstate(invalid="ignore"):
                difference = np.abs(got - expected)
            error = np.asarray(error)
            outside = ~(difference <= error)
            if np.any(outside):
                with np.errstate(all="ignore"):
                    ratio = difference[outside] / np.maximum(np.broadcast_to(error, difference.shape)[outside], 1e-300)
                worst = max(worst, float(np.max(np.where(np.isnan(ratio), np.inf, ratio))))
    return worst


def within_estimate(reference: Derivatives, numeric: Derivatives) -> bool:
    """Whether every finite-difference result is within its own error estimate of the reference."""
    return beyond_estimate(reference, numeric) == 0.0


def _finite(result: Derivatives) -> bool:
    return all(np.all(np.isfinite(value)) for value in result.values) and all(
        np.all(np.isfinite(block)) for block in result.jacobian.values()
    )


# Forward mode and finite differences take a pass per input component. Beyond this much
# work (elements read and written, all passes together) they are checked along random
# directions instead: the Jacobian applied to each, against the reference's.
FULL_WORK_LIMIT = 5e7
PROJECTION_COUNT = 8
PROJECTION_SEED = 0


def work_per_pass(graph, outputs) -> int:
    """Elements an evaluation reads and writes: each operation's operands and result."""
    return sum(node.size + sum(operand.size for operand in node.inputs) for node in graph.ancestors(outputs))


def projected(graph, engine: str, wrt_nodes, outputs, method: str = "richardson") -> bool:
    """Whether ``engine`` should work along directions rather than give the whole Jacobian."""
    if engine not in ("forward", "numeric"):
        return False
    passes = sum(node.size for node in wrt_nodes)
    if engine == "numeric":
        from .engines.numeric import RICHARDSON_STEPS

        passes *= {"richardson": 2 * RICHARDSON_STEPS, "central": 4, "forward": 4, "complex": 1}.get(method, 1)
    return passes * work_per_pass(graph, outputs) > FULL_WORK_LIMIT


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


def run_engines(graph, values, engines=ENGINE_NAMES, wrt=None, outputs=None, method: str = "richardson") -> list[EngineRun]:
    """Run each engine; the first is the reference the others are compared with.
    An engine that cannot handle the problem is recorded, not raised, unless it is
    the reference."""
    runs: list[EngineRun] = []
    reference = None
    shared: dict = {}
    for name in engines:
        options = engine_options(graph, values, name, wrt, outputs, method, shared) if reference is not None else ({"method": method} if name == "numeric" else {})
        try:
            result = run_engine(name, graph, values, outputs=outputs, wrt=wrt, **options)
        except DcalcError as error:
            if reference is None:
                raise
            runs.append(EngineRun(name, None, failure=error.message))
            continue
        run = EngineRun(name, result)
        if reference is None:
            reference = result
            run.max_rel_diff = 0.0
            run.agrees = True
        else:
            run.max_rel_diff = max_rel_diff(reference, result)
            if not _finite(reference):
                run.agrees = None  # at a non-finite point there is nothing to agree on; it is reported as such
            elif name == "numeric" and reference.engine != "numeric":
                run.agrees = within_estimate(reference, result)
            else:
                run.agrees = run.max_rel_diff <= EXACT_AGREEMENT
        runs.append(run)
    return runs


def directional(graph, values, direction: dict, wrt: list[str]) -> dict:
    """Forward mode along one direction, checked against reverse mode:
    ``{output: (forward JVP, reverse gradient · direction)}``."""
    from .engines.forward import forward
    from .engines.reverse import reverse
    from .errors import InputError, UnknownNameError, suggest

    for name in direction:
        if name not in wrt:
            raise UnknownNameError(
                f"the direction has a component for {name!r}, which is not an input differentiated here (inputs: {', '.join(wrt)})",
                hint=suggest(name, wrt),
            )
    for name in wrt:
        if name not in direction:
            raise InputError(f"the direction has no component for {name!r}", hint="give one for every input differentiated: --dir " + ",".join(f"{n}=..." for n in wrt))
        if direction[name].shape != graph.input_named(name).shape:
            raise InputError(f"the direction for {name!r} has shape {direction[name].shape}, but the input has shape {graph.input_named(name).shape}")
    along = forward(graph, values, wrt=wrt, direction=direction)
    gradient = reverse(graph, values, wrt=wrt)
    results = {}
    for output in along.output_names:
        dotted = sum(np.tensordot(gradient.jacobian[(output, name)], direction[name], axes=direction[name].ndim) for name in wrt)
        results[output] = (along.jacobian[(output, "direction")], dotted)
    return results
