"""Timing helpers shared by the benchmarks."""

from __future__ import annotations

import time


def best_of(function, repeats: int = 7) -> float:
    """The shortest of ``repeats`` runs, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def interleaved(first, second, rounds: int = 5, repeats: int = 3) -> tuple[float, float]:
    """The best times of two functions, measured in alternating rounds so that both see
    the same machine (another process's load falls on both)."""
    firsts, seconds = [], []
    for _ in range(rounds):
        firsts.append(best_of(first, repeats))
        seconds.append(best_of(second, repeats))
    return min(firsts), min(seconds)
