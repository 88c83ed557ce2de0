"""Expression swell, measured: the size of symbolic derivatives against the function's.

Reverse-mode rules applied to hash-consed nodes share subexpressions, so the
derivative graph should grow linearly with the function. Prints nodes in the
function, nodes in function + derivative graph, the ratio, the size of the
derivative written out as a tree (what naive symbolic differentiation prints),
and the time.

    python bench/swell.py
"""

from __future__ import annotations

import time

from dcalc import parse_program
from dcalc.engines.symbolic import derivative_graph, gradient_nodes
from dcalc.printer import expanded_size

CASES = [
    ("sin nested 40 deep", "sin(" * 40 + "x" + ")" * 40),
    ("sin nested 400 deep", "sin(" * 400 + "x" + ")" * 400),
    ("product x1*...*x30, gradient", "*".join(f"x{k}" for k in range(1, 31))),
    ("product x1*...*x300, gradient", "*".join(f"x{k}" for k in range(1, 301))),
    ("Domke's f", "exp(exp(x) + exp(x)^2) + sin(exp(x) + exp(x)^2)"),
]


# Rows for bench/run.py's closing table: (figure, measured, target, met).
SUMMARY: list[tuple[str, str, str, bool]] = []


def main() -> None:
    print(f"{'function':32} {'f nodes':>8} {'with df':>8} {'ratio':>6} {'df as a tree':>13} {'time':>9}")
    for label, text in CASES:
        graph = parse_program(text)
        start = time.perf_counter()
        copy, mapping = derivative_graph(graph)
        derivatives = gradient_nodes(mapping[graph.outputs[0].index], list(copy.inputs))
        seconds = time.perf_counter() - start
        function = len(graph.ancestors(graph.outputs))
        total = len(copy.ancestors(derivatives))
        tree = max(expanded_size(node, cap=10**15) for node in derivatives)
        print(f"{label:32} {function:8d} {total:8d} {total / function:6.2f} {tree:13.3g} {seconds * 1e3:7.1f} ms")
        # Shared nodes keep a derivative a small multiple of its function, however deep.
        SUMMARY.append((f"symbolic swell: {label}", f"{total / function:.1f}x the function's nodes", "<= 4x", total / function <= 4))


if __name__ == "__main__":
    main()
