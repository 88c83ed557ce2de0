"""Parsing and building long programs: lines per second for 10^4 and 10^5 lines.

The programs are random straight-line scalar code, seeded, of the kind a
tracer writes: `t17 = t3 * t12`, `t18 = sin(t9)`, ... over ten inputs.
Parse (text to tree, `dcalc.parser.parse`) and build (tree to graph,
`dcalc.program.build`) are timed separately and together, each the best of a
few runs in this process; the 10^5-line program's reverse-mode gradient is
timed too. Target (Issue 7): parse, build and gradient of 10^5 lines under
10 s, judged on this process's CPU time so that other load on the machine does
not count (the wall time is printed beside it).

    python bench/parse_rate.py
"""

from __future__ import annotations

import random
import sys
import time

from timing import best_of

from dcalc.engines import run_engine
from dcalc.parser import parse
from dcalc.program import build

TARGET_SECONDS = 10.0
INPUTS = 10
BINARY = ["+", "-", "*"]
UNARY = ["sin", "cos", "exp", "tanh", "sqrt", "ln"]


def random_program(lines: int, seed: int = 0) -> str:
    """``lines`` statements; each reads two earlier names (or one, through a
    function), mostly recent ones, so values stay finite and the program deep."""
    rng = random.Random(seed)
    names = [f"x{k}" for k in range(INPUTS)]
    statements = []
    for index in range(lines):
        def operand():
            if rng.random() < 0.1:
                return names[rng.randrange(INPUTS)]
            return names[max(0, len(names) - 1 - int(rng.expovariate(1 / 20)))]

        if rng.random() < 0.3:
            function = rng.choice(UNARY)
            # sqrt and ln of a square plus one stay defined wherever they are.
            argument = f"{operand()}^2 + 1" if function in ("sqrt", "ln") else operand()
            statements.append(f"t{index} = {function}({argument})")
        else:
            statements.append(f"t{index} = {operand()} {rng.choice(BINARY)} {operand()}")
        names.append(f"t{index}")
    return "\n".join(statements) + "\n"


# Rows for bench/run.py's closing table: (figure, measured, target, met).
SUMMARY: list[tuple[str, str, str, bool]] = []


def main() -> int:
    status = 0
    print(f"{'lines':>7} {'parse':>14} {'build':>14} {'parse + build':>16}")
    for lines, repeats in ((10**4, 5), (10**5, 2)):
        text = random_program(lines)
        tree = parse(text, "<bench>")
        parse_time = best_of(lambda: parse(text, "<bench>"), repeats)
        build_time = best_of(lambda: build(tree, text, "<bench>"), repeats)
        total = parse_time + build_time
        print(
            f"{lines:7d} {lines / parse_time:9.0f} l/s {lines / build_time:9.0f} l/s {lines / total:11.0f} l/s"
            f"   ({parse_time:.2f} s + {build_time:.2f} s)"
        )
        SUMMARY.append((f"parse + build, {lines:,} lines", f"{lines / total:,.0f} lines/s", "", True))
    values = {f"x{k}": 0.1 * (k + 1) for k in range(INPUTS)}

    def whole():
        return run_engine("reverse", build(parse(text, "<bench>"), text, "<bench>"), values)

    start = time.perf_counter()
    cpu = best_of(whole, 1, clock=time.process_time)
    wall = time.perf_counter() - start
    print(f"10^5 lines: parse + build + reverse-mode gradient {cpu:.2f} s CPU, {wall:.2f} s wall   (target < {TARGET_SECONDS:g} s)")
    if cpu >= TARGET_SECONDS:
        status = 1
    SUMMARY.append(("parse + build + gradient, 10^5 lines", f"{cpu:.2f} s CPU", f"< {TARGET_SECONDS:g} s", cpu < TARGET_SECONDS))
    return status


if __name__ == "__main__":
    sys.exit(main())
