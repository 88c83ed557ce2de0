"""The front end on long texts: time and memory per character to parse, build,
evaluate and print, at 10^5 and 10^6 characters, and how they grow.

    python bench/limits.py [--chars 1000000]

Targets: linear growth, i.e. ten times the text takes at most 15 times the time
(quadratic work would take 100 times), and at most 1.5 KB of memory per character.
These figures set DCALC_MAX_CHARS (dcalc/parser.py): at its 4,000,000 characters
the worst text here needs about 5 GB, and a 10 MB one would need about 14.
Each measurement runs in a fresh process, so peak memory is its own.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

TIME_RATIO_TARGET = 15.0
BYTES_PER_CHARACTER_TARGET = 1536


def dense_sum(chars: int) -> str:
    return "+".join(["x"] * (chars // 2))


def terms(chars: int, write) -> str:
    pieces, length, index = [], 0, 0
    while length < chars:
        pieces.append(write(index))
        length += len(pieces[-1]) + 3
        index += 1
    return " + ".join(pieces)


SHAPES = {
    "x+x+...+x": dense_sum,
    "polynomial": lambda chars: terms(chars, lambda k: f"{k % 97 + 0.25}*x{k % 10}^{k % 4}"),
    "calls": lambda chars: terms(chars, lambda k: f"sin(x{k % 10}*{k})"),
    "nested (...)": lambda chars: "(" * (chars // 2 - 2) + "x+1" + ")" * (chars // 2 - 2),
    "nested sin(...)": lambda chars: "sin(" * (chars // 5) + "x" + ")" * (chars // 5),
}


def measure(shape: str, chars: int) -> dict:
    """In this process: the stages' seconds and the peak memory above the start."""
    from dcalc.evaluation import evaluate
    from dcalc.parser import parse
    from dcalc.printer import to_infix
    from dcalc.program import build

    text = SHAPES[shape](chars)
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    seconds = {}
    start = time.perf_counter()
    tree = parse(text, "<bench>")
    seconds["parse"] = time.perf_counter() - start
    start = time.perf_counter()
    graph = build(tree, text, "<bench>")
    seconds["build"] = time.perf_counter() - start
    start = time.perf_counter()
    evaluate(graph, {name: 0.5 for name in graph.input_names})
    seconds["evaluate"] = time.perf_counter() - start
    start = time.perf_counter()
    printed = to_infix(graph.outputs[0])
    seconds["print"] = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {"chars": len(text), "nodes": len(graph.nodes), "printed": len(printed), "seconds": seconds, "bytes": (peak - baseline) * 1024}


def in_fresh_process(shape: str, chars: int) -> dict:
    environment = {**os.environ, "DCALC_MAX_CHARS": str(10 * chars)}  # measure past the limit too
    completed = subprocess.run([sys.executable, __file__, "--child", shape, str(chars)], capture_output=True, text=True, check=True, env=environment)
    return json.loads(completed.stdout)


# Rows for bench/run.py's closing table: (figure, measured, target, met).
SUMMARY: list[tuple[str, str, str, bool]] = []


def main(argv: list[str] | None = None) -> int:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--chars", type=int, default=1_000_000, help="the longer text's length (the shorter is a tenth)")
    options.add_argument("--child", nargs=2, metavar=("SHAPE", "CHARS"), help=argparse.SUPPRESS)
    arguments = options.parse_args(argv)
    if arguments.child:
        print(json.dumps(measure(arguments.child[0], int(arguments.child[1]))))
        return 0
    large = arguments.chars
    small = large // 10
    print(f"{'text':16} {'chars':>9} {'nodes':>8} {'parse':>7} {'build':>7} {'eval':>7} {'print':>7} {'total':>7} {'µs/char':>8} {'B/char':>7} {'x10 time':>8}")
    status = 0
    worst_ratio = worst_memory = 0.0
    for shape in SHAPES:
        runs = [in_fresh_process(shape, small), in_fresh_process(shape, large)]
        totals = [sum(run["seconds"].values()) for run in runs]
        ratio = (totals[1] / runs[1]["chars"]) / (totals[0] / runs[0]["chars"]) * 10  # time for 10x the characters
        for run, total in zip(runs, totals):
            stages = run["seconds"]
            per_char = run["bytes"] / run["chars"]
            print(
                f"{shape:16} {run['chars']:>9,} {run['nodes']:>8,} {stages['parse']:>6.2f}s {stages['build']:>6.2f}s "
                f"{stages['evaluate']:>6.2f}s {stages['print']:>6.2f}s {total:>6.2f}s {total / run['chars'] * 1e6:>8.1f} {per_char:>7.0f}"
                + (f" {ratio:>8.1f}" if run is runs[1] else "")
            )
        worst_bytes = runs[1]["bytes"] / runs[1]["chars"]
        worst_ratio, worst_memory = max(worst_ratio, ratio), max(worst_memory, worst_bytes)
        if ratio > TIME_RATIO_TARGET or worst_bytes > BYTES_PER_CHARACTER_TARGET:
            print(f"  MISSED: {shape} grows {ratio:.1f}x for 10x the text (target {TIME_RATIO_TARGET}) or takes {worst_bytes:.0f} B/char (target {BYTES_PER_CHARACTER_TARGET})")
            status = 1
    print(f"targets: x10 time <= {TIME_RATIO_TARGET}, memory <= {BYTES_PER_CHARACTER_TARGET} B/char")
    SUMMARY.append(("front end on 10x the text: time, worst memory", f"{worst_ratio:.1f}x, {worst_memory:.0f} B/char", f"<= {TIME_RATIO_TARGET}x, <= {BYTES_PER_CHARACTER_TARGET}", status == 0))
    return status


if __name__ == "__main__":
    sys.exit(main())
