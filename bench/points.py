"""The gradient at 10^6 points, against hand-written NumPy, in the same run.

The lecture example ln(x1) + x1 x2 - sin(x2) and its gradient (1/x1 + x2, x1 - cos x2)
at a million seeded random points: hand-written NumPy evaluates each formula over the
whole arrays; dcalc's reverse mode (dcalc.points.at_points) pushes chunks of up to 64 MiB
of values (2^18 points) through the graph on a pool of threads. Both give the value and both partials at
every point; times are the best of several runs. Target (Speed issue): dcalc <= 0.5 x
the hand-written time.

A third figure is the same formulas written out by hand in dcalc's chunk size on as
many threads, with NumPy's sin and cos: the floor for anything built on NumPy's ufuncs
as they are. NumPy's float64 sin and cos are libm's scalar code, two thirds of that
time; where its float64 tan is SIMD code (AVX-512), dcalc takes both from tan
(dcalc/trig.py) and goes below that floor.

    python bench/points.py
"""

from __future__ import annotations

import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from timing import interleaved

import dcalc
from dcalc.engines import resolve
from dcalc.points import at_points, chunking
from dcalc.trig import simd_tan

POINTS = 10**6
TARGET = 0.5


def data(count: int = POINTS, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.uniform(0.5, 3.0, count), rng.uniform(-3.0, 3.0, count)


def by_hand(x1, x2):
    """The value and the gradient, written out."""
    return np.log(x1) + x1 * x2 - np.sin(x2), 1 / x1 + x2, x1 - np.cos(x2)


def by_hand_in_chunks(x1, x2, size: int, workers: int):
    """The same formulas written out for chunks of ``size`` points on ``workers``
    threads, into the result arrays, with four scratch arrays per thread: the least
    any scheme using NumPy's own sin and cos (libm's scalar code) spends here."""
    count = len(x1)
    results = [np.empty(count) for _ in range(3)]
    scratch = threading.local()

    def chunk(start: int) -> None:
        a, b = x1[start : start + size], x2[start : start + size]
        buffers = getattr(scratch, "buffers", None)
        if buffers is None or len(buffers[0]) != len(a):
            buffers = scratch.buffers = [np.empty(len(a)) for _ in range(4)]
        t0, t1, t2, t3 = buffers
        value, d1, d2 = (result[start : start + size] for result in results)
        np.log(a, out=t0)
        np.add(t0, np.multiply(a, b, out=t1), out=t0)
        np.subtract(t0, np.sin(b, out=t1), out=value)  # ln(x1) + x1 x2 - sin(x2)
        np.add(b, np.divide(1.0, a, out=t2), out=d1)  # 1/x1 + x2
        np.subtract(a, np.cos(b, out=t3), out=d2)  # x1 - cos(x2)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(chunk, range(0, count, size)))
    return results


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
    # The hand-written chunks go in dcalc's own chunk size and on as many threads.
    nodes, _, wrt_nodes = resolve(graph, None, None)
    size, workers, _ = chunking(graph, ("reverse",), wrt_nodes, nodes, None, None, np, POINTS)
    floor = by_hand_in_chunks(x1, x2, size, workers)
    agree = agree and all(np.array_equal(mine, theirs) for mine, theirs in zip(floor, (value, d1, d2)))
    theirs_time, floor_time, ours_time = interleaved(
        lambda: by_hand(x1, x2), lambda: by_hand_in_chunks(x1, x2, size, workers), lambda: at_points("reverse", graph, values), rounds=3
    )
    ratio, floor_ratio = ours_time / theirs_time, floor_time / theirs_time
    print(f"ln(x1)+x1*x2-sin(x2): value and gradient at {POINTS:,} points ({size:,} a chunk, {workers} threads)")
    print(f"hand-written NumPy                      {theirs_time * 1e3:8.2f} ms")
    print(f"hand-written NumPy, chunked, threaded   {floor_time * 1e3:8.2f} ms   ratio {floor_ratio:.2f}: NumPy's sin and cos in dcalc's chunks")
    print(f"dcalc reverse mode, chunked             {ours_time * 1e3:8.2f} ms   ratio {ratio:.2f}   (target <= {TARGET})")
    print(f"dcalc / the same in chunks              {ours_time / floor_time:8.2f}        results agree: {'yes' if agree else 'NO'}   (sin and cos through tan: {'yes' if simd_tan() else 'no, NumPy has no SIMD tan here'})")
    SUMMARY.append((f"gradient at {POINTS:,} points / hand-written NumPy", f"{ratio:.2f} (same in chunks {floor_ratio:.2f})", f"<= {TARGET}", agree and ratio <= TARGET))
    return 0 if agree and ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
