"""Timing helpers shared by the benchmarks."""

from __future__ import annotations

import time


def best_of(function, repeats: int = 7, clock=time.perf_counter) -> float:
    """The shortest of ``repeats`` runs, in seconds of ``clock``."""
    times = []
    for _ in range(repeats):
        start = clock()
        function()
        times.append(clock() - start)
    return min(times)


def interleaved(*functions, rounds: int = 5, repeats: int = 3) -> list[float]:
    """The best time of each function, measured in alternating rounds so that all see
    the same machine (another process's load falls on each)."""
    best = [float("inf")] * len(functions)
    for _ in range(rounds):
        for position, function in enumerate(functions):
            best[position] = min(best[position], best_of(function, repeats))
    return best
