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


def max_rel_diff(reference: Derivatives, other: Derivatives) -> float:
    """Largest difference of any partial, relative to the largest partial of the
    same output (so a partial that is 0 in one engine and 1e-17 in another is not
    a relative difference of 1)."""
    worst = 0.0
    for output in reference.output_names:
        expected = [np.asarray(reference.jacobian[(output, name)], dtype=float) for name in reference.input_names]
        got = [np.asarray(other.jacobian[(output, name)], dtype=float) for name in reference.input_names]
        scale = max((float(np.max(np.abs(block), initial=0.0)) for block in expected), default=0.0)
        for a, b in zip(expected, got):
            with np.errstate(invalid="ignore"):
                difference = np.abs(a - b)
            if difference.size == 0:
                continue
            if not np.all(np.isfinite(difference)):
                same_nonfinite = np.array_equal(a, b, equal_nan=True)
                if not same_nonfinite:
                    return float("inf")
                continue
            worst = max(worst, float(np.max(difference)) / scale if scale > 0 else float(np.max(difference)))
    return worst


def within_estimate(reference: Derivatives, numeric: Derivatives) -> bool:
    """Whether every finite-difference partial is within its own error estimate of the reference."""
    for key, value in numeric.jacobian.items():
        error = numeric.error[key]
        if not np.all(np.abs(np.asarray(value) - np.asarray(reference.jacobian[key])) <= error):
            return False
    return True


def _finite(result: Derivatives) -> bool:
    return all(np.all(np.isfinite(value)) for value in result.values) and all(
        np.all(np.isfinite(block)) for block in result.jacobian.values()
    )


def run_engines(graph, values, engines=ENGINE_NAMES, wrt=None, outputs=None, method: str = "richardson") -> list[EngineRun]:
    """Run each engine; the first is the reference the others are compared with.
    An engine that cannot handle the problem is recorded, not raised, unless it is
    the reference."""
    runs: list[EngineRun] = []
    reference = None
    for name in engines:
        options = {"method": method} if name == "numeric" else {}
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
