"""The gradient at 10^6 points, against hand-written NumPy, in the same run.

The lecture example ln(x1) + x1 x2 - sin(x2) and its gradient (1/x1 + x2, x1 - cos x2)
at a million seeded random points: hand-written NumPy evaluates each formula over the
whole arrays; dcalc's reverse mode (dcalc.points.at_points) pushes cache-sized chunks
through the graph on a pool of threads. Both give the value and both partials at
every point; times are the best of several runs. Target (Speed issue): dcalc <= 0.5 x
the hand-written time.

    python bench/points.py
"""

from __future__ import annotations

import sys

import numpy as np
from timing import interleaved

import dcalc
from dcalc.points import at_points

POINTS = 10**6
TARGET = 0.5


def data(count: int = POINTS, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.uniform(0.5, 3.0, count), rng.uniform(-3.0, 3.0, count)


def by_hand(x1, x2):
    """The value and the gradient, written out."""
    return np.log(x1) + x1 * x2 - np.sin(x2), 1 / x1 + x2, x1 - np.cos(x2)


# Rows for bench/run.py's closing table: (figure, measured, target, met).
SUMMARY: list[tuple[str, str, str, bool]] = []


def main() -> int:
    x1, x2 = data()
    graph = dcalc.parse_program("ln(x1)+x1*x2-sin(x2)")
    values = {"x1": x1, "x2": x2}
    result = at_points("reverse", graph, values)
    value, d1, d2 = by_hand(x1, x2)
    agree = (
        np.allclose(result.values[0], value, rtol=1e-14, atol=1e-14)
        and np.allclose(result.jacobian[("y", "x1")], d1, rtol=1e-14, atol=1e-14)
        and np.allclose(result.jacobian[("y", "x2")], d2, rtol=1e-14, atol=1e-14)
    )
    theirs_time, ours_time = interleaved(lambda: by_hand(x1, x2), lambda: at_points("reverse", graph, values), rounds=3)
    ratio = ours_time / theirs_time
    print(f"ln(x1)+x1*x2-sin(x2): value and gradient at {POINTS:,} points")
    print(f"hand-written NumPy            {theirs_time * 1e3:8.2f} ms")
    print(f"dcalc reverse mode, chunked   {ours_time * 1e3:8.2f} ms")
    print(f"ratio dcalc / hand-written    {ratio:8.2f}   (target <= {TARGET})   results agree: {'yes' if agree else 'NO'}")
    SUMMARY.append((f"gradient at {POINTS:,} points / hand-written NumPy", f"{ratio:.2f}", f"<= {TARGET}", agree and ratio <= TARGET))
    return 0 if agree and ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
