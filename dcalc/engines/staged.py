"""Reverse mode staged: the sweep recorded once as a graph, then evaluated like any graph.

Over many points the interpretive sweep (plan.pull_cotangents) spends its time in
the interpreter, a rule call per edge per chunk. Recording the same sweep once, with
graph nodes for cotangents, gives a graph whose schedule computes the value and the
gradient in one loop of NumPy calls, the very operations the sweep would make: the
copy is not simplified (only hash-consed), the seed is the UNIT 1 that rules scale by
for free, and products are IEEE's (a chunk whose gradient is not finite is redone by
the interpretive sweep with guarded rules). This is what JAX's jit does with grad, and
what makes a million points cost less than hand-written NumPy: each chunk is a short
run of ufuncs in cache, written straight into the result arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..evaluation import Schedule, compile_graph
from ..graph import Graph, Node, depends_on
from .rules import UNIT, backward


@dataclass
class Stage:
    graph: Graph  # the copy the sweep was recorded in
    values: list[Node]  # the outputs, in the copy
    gradient: list[Node]  # d output / d input for each input asked for


def stage(graph: Graph, output: Node, wrt: list[Node]) -> Stage:
    """The reverse sweep for a scalar output, recorded as nodes (cached on the graph)."""
    key = ("stage", len(graph.nodes), output.index, tuple(node.index for node in wrt))
    return graph.cached(key, lambda: _stage(graph, output, wrt))


def _stage(graph: Graph, output: Node, wrt: list[Node]) -> Stage:
    copy = Graph(simplify=False)
    # The output's ancestors, and the inputs asked for that it does not depend on.
    needed = graph.ancestors([output])
    mapping = graph.copy_nodes(needed + [node for node in wrt if node not in needed], copy)
    top = mapping[output.index]
    nodes = copy.ancestors([top])
    variables = [mapping[node.index] for node in wrt]
    adjoint: dict = {top.index: UNIT}
    # On nodes the guarded and plain rules build the same products: IEEE's, at run time.
    backward(nodes, adjoint, lambda node: list(node.inputs), lambda node: node, "reverse", needed=depends_on(nodes, variables))
    # A derivative the sweep never turned into a node (1, or ones spread by a sum) is a constant.
    gradient = [_as_node(copy, adjoint.get(variable.index, 0.0)) for variable in variables]
    exact, mapping = _exactly_simpler(copy, [top, *gradient])
    return Stage(exact, [mapping[top.index]], [mapping[node.index] for node in gradient])


def _number(node: Node, value: float) -> bool:
    """A constant that is ``value`` everywhere (a number, or an array of it: the sweep
    spreads a sum's unit cotangent into an array of ones)."""
    return node.is_const and bool(np.all(np.asarray(node.value) == value))


def _exactly_simpler(graph: Graph, roots: list[Node]) -> tuple[Graph, dict[int, Node]]:
    """A copy with the rewrites IEEE arithmetic makes exact (so the numbers are the
    sweep's own): x*1 = x, x*(-1) = -x, a + (-b) = a - b, a - (-b) = a + b, --x = x,
    x/1 = x, and a shape-only op (sum_to, broadcast_to, reshape) to the shape it has = x
    (the 1 and -1 may be arrays of them, of at most x's shape). The sweep writes d(a - c)/dc times cos as
    (-1)*cos, then adds it: two passes over the points where one subtraction will do."""
    from .. import primitives as P

    simpler = Graph(simplify=False)

    def rewrite(node: Node, args: list[Node]) -> Node | None:
        name, made = node.op, None
        if name == "mul":
            for one, other in ((args[0], args[1]), (args[1], args[0])):
                if other.shape == node.shape and _number(one, 1.0):
                    made = other
                elif other.shape == node.shape and _number(one, -1.0):
                    made = simpler.apply(P.neg, (other,))
                if made is not None:
                    break
        elif name == "div" and _number(args[1], 1.0) and args[0].shape == node.shape:
            made = args[0]
        elif node.prim.shape_only and args[0].shape == node.shape:
            made = args[0]
        elif name == "neg" and args[0].op == "neg":
            made = args[0].inputs[0]
        elif name == "add" and args[1].op == "neg" and args[1].inputs[0].shape == args[1].shape:
            made = simpler.apply(P.sub, (args[0], args[1].inputs[0]))
        elif name == "add" and args[0].op == "neg" and args[0].inputs[0].shape == args[0].shape:
            made = simpler.apply(P.sub, (args[1], args[0].inputs[0]))
        elif name == "sub" and args[1].op == "neg" and args[1].inputs[0].shape == args[1].shape:
            made = simpler.apply(P.add, (args[0], args[1].inputs[0]))
        return made

    return simpler, graph.copy_nodes(graph.ancestors(roots), simpler, rewrite)


def _as_node(graph: Graph, value) -> Node:
    if isinstance(value, Node):
        return value
    return graph.const(np.asarray(value, dtype=float) if np.ndim(value) else float(value))


def schedule_of(staged: Stage, xp, batch_ndim: int) -> Schedule:
    """The schedule computing the value and then every gradient node (its output slots, in that order)."""
    return compile_graph(staged.graph, [*staged.values, *staged.gradient], xp, batch_ndim)
