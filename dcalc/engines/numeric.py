"""Finite differences, with an error estimate for every component.

Three separate pieces, as in numdifftools:

- the steps (:func:`base_steps`): per input component, from its magnitude and
  the floating-point precision, made exactly representable;
- the difference formulas (central, forward, one-sided, complex step);
- extrapolation (:func:`richardson`): a Richardson table over a geometric
  sequence of steps, each entry with an estimate of its truncation and
  rounding error; the entry with the smallest estimate wins.

All perturbed points go through the evaluator as one batch (a trailing axis).
A step that leaves the function's domain (the value there is not finite while
the value at the point is) is not used: the table drops it, and if no central
step is left the one-sided differences that stay inside the domain are used.
So ln(x) at x = 0.05 works.
"""

from __future__ import annotations

import numpy as np

from ..errors import DerivativeError
from ..evaluate import evaluate
from ..graph import Graph
from . import Derivatives, resolve, timed

EPS = float(np.finfo(float).eps)
METHODS = ("richardson", "central", "forward", "complex")
RICHARDSON_STEPS = 6  # 12 evaluations per input component
# Relative size of the first step of each method.
BASE = {"richardson": EPS ** (1 / 7) * 4, "central": EPS ** (1 / 3), "forward": EPS**0.5, "complex": 1e-20}
# How much rounding noise one evaluation of f carries, in units of eps * |f|.
NOISE_ULPS = 8.0
# Extra rounds with smaller steps for components whose estimate stays poor.
RETRIES = 3


def base_steps(center: np.ndarray, method: str) -> np.ndarray:
    """The first step for each component: relative to its magnitude (at least 1/8,
    so steps near zero are not absurdly small), rounded so x + h is exact."""
    scale = np.maximum(np.abs(center), 0.125)
    step = BASE[method] * scale
    if method == "complex":
        return step
    with np.errstate(invalid="ignore"):  # an infinite point gives a NaN step, and NaN derivatives
        return (center + step) - center


def _geometric(h0: np.ndarray, count: int) -> np.ndarray:
    """h0, h0/2, h0/4, ...: shape (components, count); halving keeps them exact."""
    return h0[:, None] / 2.0 ** np.arange(count)[None, :]


def richardson(estimates: np.ndarray, noise: np.ndarray, order: int, valid: np.ndarray):
    """Extrapolate estimates made with steps h, h/2, h/4, ... (last axis).

    ``order`` is the power of the leading error term (2 for central, 1 for
    one-sided differences; each level removes the next one). Returns the best
    entry per component and its error estimate: the change from the lower-order
    entry it improves on, plus its rounding noise amplified by the extrapolation.
    """
    best = np.full(estimates.shape[:-1], np.nan)
    best_error = np.full(estimates.shape[:-1], np.inf)
    if estimates.shape[-1] > 1:
        # Level 0: the finer of two plain differences, judged by the whole change
        # between them (its true error is only a part of that, so this is safe).
        change = np.abs(estimates[..., :-1] - estimates[..., 1:]) + noise[..., 1:]
        ok = valid[..., :-1] & valid[..., 1:]
        best, best_error = _pick(best, best_error, estimates[..., 1:], np.where(ok, change, np.inf))
    table, table_noise, table_valid = estimates, noise, valid
    for level in range(1, estimates.shape[-1]):
        # Halving the step shrinks the removed error term by 2^(order*level).
        factor = 2.0 ** (order * level)
        finer, coarser = table[..., 1:], table[..., :-1]
        extrapolated = finer + (finer - coarser) / (factor - 1)
        amplified = table_noise[..., 1:] * (factor + 1) / (factor - 1)
        ok = table_valid[..., 1:] & table_valid[..., :-1]
        error = np.abs(extrapolated - finer) + amplified
        best, best_error = _pick(best, best_error, extrapolated, np.where(ok & np.isfinite(extrapolated), error, np.inf))
        table, table_noise, table_valid = extrapolated, amplified, ok
    return best, best_error


def _pick(best, best_error, candidates, errors):
    """Keep, per component, whichever candidate has the smallest error estimate."""
    index = np.argmin(errors, axis=-1)
    chosen_error = np.take_along_axis(errors, index[..., None], -1)[..., 0]
    chosen = np.take_along_axis(candidates, index[..., None], -1)[..., 0]
    better = chosen_error < best_error
    return np.where(better, chosen, best), np.where(better, chosen_error, best_error)


def _batched(values, wrt_nodes, offsets, perturbation: np.ndarray) -> dict:
    """Input values with a trailing batch axis: the point plus each perturbation
    (``perturbation`` has shape (components, points))."""
    points = perturbation.shape[1]
    batched = {}
    for name, value in values.items():
        batched[name] = np.broadcast_to(np.asarray(value)[..., None], np.shape(value) + (points,))
    for node, (start, stop) in zip(wrt_nodes, offsets):
        name = node.params["name"]
        center = np.asarray(values[name], dtype=perturbation.dtype)
        block = perturbation[start:stop].reshape(node.shape + (points,))
        batched[name] = center[..., None] + block
    return batched


@timed
def numeric(graph: Graph, values, outputs=None, wrt=None, method: str = "richardson", xp=np) -> Derivatives:
    if method not in METHODS:
        raise DerivativeError(f"unknown finite-difference method {method!r}: use one of {', '.join(METHODS)}")
    outputs, output_names, wrt_nodes = resolve(graph, outputs, wrt)
    offsets, start = [], 0
    for node in wrt_nodes:
        offsets.append((start, start + node.size))
        start += node.size
    components = start
    center = np.concatenate([np.ravel(np.asarray(values[node.params["name"]], dtype=float)) for node in wrt_nodes]) if wrt_nodes else np.zeros(0)
    f0 = [np.asarray(value, dtype=float) for value in evaluate(graph, values, outputs, xp)]

    scales = _rounding_scales(graph, values, outputs)
    rounds = 1
    if method == "complex":
        derivative, error = _complex_step(graph, values, outputs, wrt_nodes, offsets, center, f0)
    else:
        derivative, error, rounds = _differences(graph, values, outputs, wrt_nodes, offsets, center, f0, method, scales)

    jacobian, errors = {}, {}
    for name, node, rows, row_errors in zip(output_names, outputs, derivative, error):
        for input_node, (first, last) in zip(wrt_nodes, offsets):
            key = (name, input_node.params["name"])
            jacobian[key] = rows[..., first:last].reshape(node.shape + input_node.shape)
            errors[key] = row_errors[..., first:last].reshape(node.shape + input_node.shape)
    # Forward differences evaluate both sides too (the minus side backs up a domain edge).
    evaluations = {"richardson": 2 * RICHARDSON_STEPS, "central": 4, "forward": 4, "complex": 1}[method]
    return Derivatives(
        "numeric",
        output_names,
        [node.params["name"] for node in wrt_nodes],
        f0,
        jacobian,
        error=errors,
        details={
            "method": method,
            "evaluations_per_component": evaluations * rounds,
            "evaluations": evaluations * rounds * components + 1,
        },
    )


def _rounding_scales(graph: Graph, values, outputs) -> list[float]:
    """Per output, the largest intermediate value on its path. Rounding in f is
    proportional to its intermediates, not to f: near a cancellation (y - x^2 at
    Rosenbrock's minimum) f is tiny while its error is not. Inputs are left out:
    perturbed inputs are exact."""
    from ..evaluate import evaluate_all

    trace = evaluate_all(graph, values, outputs)
    scales = []
    for output in outputs:
        largest = 0.0
        for node in graph.ancestors([output]):
            if node.is_input or node.is_const:
                continue
            magnitude = np.abs(np.asarray(trace[node.index], dtype=complex if np.iscomplexobj(trace[node.index]) else float))
            finite = magnitude[np.isfinite(magnitude)]
            if finite.size:
                largest = max(largest, float(finite.max()))
        scales.append(largest)
    return scales


def _differences(graph, values, outputs, wrt_nodes, offsets, center, f0, method, scales):
    """Differences with the base steps; where that leaves a component with a poor
    estimate (a singularity or domain edge close by), again with steps 32 times
    smaller, keeping whichever estimate is better."""
    h0 = base_steps(center, method)
    derivatives, errors = _differences_once(graph, values, outputs, wrt_nodes, offsets, center, f0, method, h0, scales)
    rounds = 1
    for _ in range(RETRIES):
        poor = np.zeros(center.size, dtype=bool)
        for derivative, error, scale in zip(derivatives, errors, scales):
            # Poor: worse than 1e-8 of the partial or of the largest partial of the
            # output, and above the rounding floor (a partial of exactly 0 is fine).
            largest = float(np.max(np.abs(derivative[np.isfinite(derivative)]), initial=0.0))
            threshold = 1e-8 * np.maximum(np.abs(derivative), largest) + 1e2 * EPS * scale
            poor |= np.any(~(error <= threshold), axis=tuple(range(error.ndim - 1)))
        if not poor.any():
            break
        h0 = np.where(poor, ((center + h0 / 32) - center), h0)
        retried, retried_errors = _differences_once(graph, values, outputs, wrt_nodes, offsets, center, f0, method, h0, scales)
        rounds += 1
        for k, (derivative, error) in enumerate(zip(retried, retried_errors)):
            better = error < errors[k]
            derivatives[k] = np.where(better, derivative, derivatives[k])
            errors[k] = np.where(better, error, errors[k])
    return derivatives, errors, rounds


def _differences_once(graph, values, outputs, wrt_nodes, offsets, center, f0, method, h0, scales):
    """Central (with Richardson extrapolation or a plain pair) or forward differences."""
    components = center.size
    count = RICHARDSON_STEPS if method == "richardson" else 2
    if method != "richardson":
        steps = h0[:, None] * np.array([2.0, 1.0])[None, :]  # h and 2h, smaller last
    else:
        steps = _geometric(h0, count)
    # Points: for each component j, step s and side (+, -): index (j*count + s)*2 + side.
    points = components * count * 2
    perturbation = np.zeros((components, points))
    index = np.arange(components)
    for s in range(count):
        perturbation[index, (index * count + s) * 2] = steps[:, s]
        perturbation[index, (index * count + s) * 2 + 1] = -steps[:, s]
    plus_step = (center[:, None] + steps) - center[:, None]
    minus_step = center[:, None] - (center[:, None] - steps)
    sampled = evaluate(graph, _batched(values, wrt_nodes, offsets, perturbation), outputs, batch_ndim=1)
    derivatives, errors = [], []
    for node, value, center_value, scale in zip(outputs, sampled, f0, scales):
        table = np.broadcast_to(np.asarray(value, dtype=float), node.shape + (points,)).reshape(node.shape + (components, count, 2))
        plus, minus = table[..., 0], table[..., 1]
        base = center_value[..., None, None]
        center_ok = np.isfinite(base)
        plus_ok, minus_ok = np.isfinite(plus), np.isfinite(minus)
        order = 2
        with np.errstate(all="ignore"):
            central = (plus - minus) / (plus_step + minus_step)
            noise = NOISE_ULPS * EPS * (np.maximum(np.abs(plus), scale) + np.maximum(np.abs(minus), scale)) / (plus_step + minus_step)
            if method == "forward":
                central = (plus - base) / plus_step
                noise = NOISE_ULPS * EPS * (np.maximum(np.abs(plus), scale) + np.maximum(np.abs(base), scale)) / plus_step
                plus_ok, minus_ok, order = plus_ok & center_ok, np.ones_like(minus_ok), 1
            best, best_error = richardson(central, noise, order, plus_ok & minus_ok)
            # Where no central step stayed inside the domain: one-sided differences.
            for side, side_ok, step in ((plus, plus_ok, plus_step), (minus, minus_ok, -minus_step)):
                one_sided = (side - base) / step
                side_noise = NOISE_ULPS * EPS * (np.maximum(np.abs(side), scale) + np.maximum(np.abs(base), scale)) / np.abs(step)
                fallback, fallback_error = richardson(one_sided, side_noise, 1, side_ok & center_ok)
                use = ~np.isfinite(best_error) & np.isfinite(fallback_error)
                best = np.where(use, fallback, best)
                best_error = np.where(use, fallback_error, best_error)
        derivatives.append(best)
        errors.append(best_error)
    return derivatives, errors


def _complex_step(graph, values, outputs, wrt_nodes, offsets, center, f0):
    """f'(x) = Im f(x + ih) / h: no subtraction, so no cancellation, for analytic f."""
    for node in graph.ancestors(outputs):
        if not (node.is_input or node.is_const) and not node.prim.complex_analytic:
            raise DerivativeError(
                f"the complex-step method needs complex-analytic operations, and {node.op} is not one", node.span
            )
    components = center.size
    steps = base_steps(center, "complex")
    perturbation = np.zeros((components, components), dtype=complex)
    perturbation[np.arange(components), np.arange(components)] = 1j * steps
    sampled = evaluate(graph, _batched(values, wrt_nodes, offsets, perturbation), outputs, batch_ndim=1)
    derivatives, errors = [], []
    for node, value, center_value in zip(outputs, sampled, f0):
        table = np.broadcast_to(np.asarray(value), node.shape + (components,))
        derivative = np.imag(table) / steps
        # Outside the real domain (ln(-1)) the complex value is not the real one plus
        # an infinitesimal: there is no derivative there.
        real = np.asarray(center_value, dtype=float)[..., None]
        with np.errstate(invalid="ignore"):
            inside = np.isfinite(real) & (np.abs(np.real(table) - real) <= 1e-8 * np.maximum(np.abs(real), 1e-300))
        derivative = np.where(inside, derivative, np.nan)
        derivatives.append(derivative)
        # With h this small the truncation error (h^2 f'''/6) vanishes; what is left is rounding.
        errors.append(np.where(inside, NOISE_ULPS * EPS * np.abs(derivative), np.inf))
    return derivatives, errors


def one_sided(graph: Graph, values, outputs=None, wrt=None) -> dict:
    """Right and left derivatives by one-sided differences with Richardson
    extrapolation: what a function has on each side of a kink.

    Returns ``{(output, input): (right, left)}``, each shaped output + input; NaN
    where a side has no derivative (the function jumps there).
    """
    outputs, output_names, wrt_nodes = resolve(graph, outputs, wrt)
    offsets, start = [], 0
    for node in wrt_nodes:
        offsets.append((start, start + node.size))
        start += node.size
    center = np.concatenate([np.ravel(np.asarray(values[node.params["name"]], dtype=float)) for node in wrt_nodes])
    components, count = center.size, RICHARDSON_STEPS
    steps = _geometric(base_steps(center, "richardson"), count)
    perturbation = np.zeros((components, components * count * 2))
    index = np.arange(components)
    for s in range(count):
        perturbation[index, (index * count + s) * 2] = steps[:, s]
        perturbation[index, (index * count + s) * 2 + 1] = -steps[:, s]
    f0 = evaluate(graph, values, outputs)
    sampled = evaluate(graph, _batched(values, wrt_nodes, offsets, perturbation), outputs, batch_ndim=1)
    results = {}
    for name, node, value, center_value in zip(output_names, outputs, sampled, f0):
        table = np.broadcast_to(np.asarray(value, dtype=float), node.shape + (perturbation.shape[1],))
        table = table.reshape(node.shape + (components, count, 2))
        base = np.asarray(center_value, dtype=float)[..., None, None]
        sides = []
        with np.errstate(all="ignore"):
            for side, sign in ((table[..., 0], 1.0), (table[..., 1], -1.0)):
                quotient = (side - base) / (sign * steps)
                noise = NOISE_ULPS * EPS * (np.abs(side) + np.abs(base)) / steps
                best, error = richardson(quotient, noise, 1, np.isfinite(side) & np.isfinite(base))
                # No convergence (a jump, as sign has at 0): no one-sided derivative.
                sides.append(np.where(error <= 1e-6 * np.maximum(np.abs(best), 1.0), best, np.nan))
        for input_node, (first, last) in zip(wrt_nodes, offsets):
            shape = node.shape + input_node.shape
            results[(name, input_node.params["name"])] = tuple(side[..., first:last].reshape(shape) for side in sides)
    return results
