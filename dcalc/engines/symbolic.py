"""Symbolic differentiation: the derivative rules applied to graph nodes.

The user's graph is copied into a graph that simplifies as it builds; a reverse
sweep over it with node-valued cotangents then yields, for each input, a node
whose expression is the derivative. Because every node is hash-consed, the
derivative shares subexpressions with the function and with itself, so it grows
linearly with the function instead of swelling. The result lives in the same
graph as the function, so it can be differentiated again (``--order 2``).
"""

from __future__ import annotations

import numpy as np

from ..errors import DerivativeError
from ..evaluation import evaluate
from ..graph import COMPILING, Graph, Node, depends_on
from . import Derivatives, batch_shape, resolve, timed
from .rules import backward


# Derivative nodes are built into a graph shared by every thread (the copy cached on
# the user's graph): one thread builds at a time (graph.COMPILING, the lock compiling
# takes too, so the two never wait on each other), and what it built is cached.


def derivative_graph(graph: Graph) -> tuple[Graph, dict[int, Node]]:
    """A simplifying copy of ``graph`` (cached on it) and the map from its nodes to the copy's.
    The copy keeps the names the user gave values (``graph.names``)."""
    if graph.simplify:
        # A derivative graph is its own: it grows with every derivative taken, so only
        # the latest identity map is kept.
        cached = graph._cache.get("symbolic-identity")
        if cached is None or len(cached) != len(graph.nodes):
            cached = graph._cache["symbolic-identity"] = {node.index: node for node in graph.nodes}
        return graph, cached
    return graph.cached(("symbolic-copy", len(graph.nodes)), lambda: _simplifying_copy(graph))


def _simplifying_copy(graph: Graph) -> tuple[Graph, dict[int, Node]]:
    copy = Graph(simplify=True)
    mapping = graph.copy_nodes(graph.nodes, copy)
    for node in graph.nodes:  # the user's names, so derivatives can be written with them
        name = graph.names.get(node.index)
        if name is not None:
            copy.names.setdefault(mapping[node.index].index, name)
    copy.set_outputs([mapping[node.index] for node in graph.outputs], graph.output_names)
    return copy, mapping


def gradient_nodes(output: Node, wrt: list[Node], seed=None) -> list[Node]:
    """d output / d each of ``wrt``, as nodes of the output's (simplifying) graph.
    An array output needs a ``seed`` (a cotangent of its shape); by default the
    output must be a scalar and the seed is 1."""
    graph = output.graph
    if seed is None and output.shape != ():
        raise DerivativeError(
            f"the symbolic derivative of an array output (shape {output.shape}) is taken one component at a time; "
            "use grad or jacobian for its Jacobian",
            output.span,
        )
    nodes = graph.ancestors([output])
    adjoint: dict[int, Node] = {output.index: graph.const(1.0 if seed is None else seed)}
    # The same sweep as reverse mode, with nodes for values: rules build nodes.
    backward(nodes, adjoint, lambda node: list(node.inputs), lambda node: node, "symbolic", needed=depends_on(nodes, wrt))
    zero = {}
    results = []
    for node in wrt:
        derivative = adjoint.get(node.index)
        if derivative is None:
            if node.shape not in zero:
                zero[node.shape] = graph.const(np.zeros(node.shape) if node.shape else 0.0)
            derivative = zero[node.shape]
        results.append(derivative)
    return results


def jacobian_nodes(output: Node, wrt: list[Node]) -> list[list[Node]]:
    """For each component of ``output`` (row-major), the nodes of its gradient."""
    if output.shape == ():
        return [gradient_nodes(output, wrt)]
    rows = []
    for flat in range(output.size):
        seed = np.zeros(output.size)
        seed[flat] = 1.0
        rows.append(gradient_nodes(output, wrt, seed.reshape(output.shape)))
    return rows


def derivative(graph: Graph, wrt: str, order: int = 1, output: Node | None = None) -> Node:
    """The ``order``-th derivative of an output (the first by default) with respect to ``wrt``."""
    with COMPILING:
        copy, mapping = derivative_graph(graph)
        node = mapping[(output or graph.outputs[0]).index]
        variable = copy.input_named(wrt)
        for _ in range(order):
            (node,) = gradient_nodes(node, [variable])
    return node


def _jacobian_rows(graph: Graph, outputs: list[Node], wrt_nodes: list[Node]):
    """The copy, its variables, and per output the rows of jacobian_nodes: built once
    (under the lock) and cached on the copy."""
    with COMPILING:
        copy, mapping = derivative_graph(graph)
        variables = [copy.input_named(node.params["name"]) for node in wrt_nodes]
        key = ("jacobian-rows", tuple(mapping[node.index].index for node in outputs), tuple(node.index for node in variables))
        rows_of = copy.cached(key, lambda: [jacobian_nodes(mapping[node.index], variables) for node in outputs])
    return copy, variables, rows_of


@timed
def symbolic(graph: Graph, values, outputs=None, wrt=None, xp=np, batch_ndim: int = 0, memory: int | None = None) -> Derivatives:
    """``memory`` is taken as the other engines take it; one evaluation of the
    derivative graph is not split into chunks."""
    outputs, output_names, wrt_nodes = resolve(graph, outputs, wrt)
    copy, variables, rows_of = _jacobian_rows(graph, outputs, wrt_nodes)
    batch = batch_shape(graph, values, batch_ndim)
    targets = [target for rows in rows_of for row in rows for target in row]
    # The value comes from the user's graph: simplifying x - x to 0 must not hide
    # that x is NaN there.
    result_values = [xp.broadcast_to(value, node.shape + batch) for node, value in zip(outputs, evaluate(graph, values, outputs=outputs, xp=xp, batch_ndim=batch_ndim))]
    computed = iter(evaluate(copy, values, outputs=targets, xp=xp, batch_ndim=batch_ndim) if targets else [])
    jacobian, nodes = {}, {}
    for name, node, rows in zip(output_names, outputs, rows_of):
        blocks = [[] for _ in variables]
        for row in rows:
            for position, (variable, target) in enumerate(zip(variables, row)):
                blocks[position].append(xp.broadcast_to(next(computed), variable.shape + batch))
        for variable, block, row_nodes in zip(variables, blocks, zip(*rows)):
            key = (name, variable.params["name"])
            jacobian[key] = xp.reshape(xp.stack(block), node.shape + variable.shape + batch)
            nodes[key] = row_nodes[0] if node.shape == () else list(row_nodes)
    return Derivatives(
        "symbolic",
        output_names,
        [node.params["name"] for node in wrt_nodes],
        result_values,
        jacobian,
        details={"nodes": nodes, "graph": copy},
        batch_ndim=len(batch),
    ).detach(values, xp)
