"""Reverse mode: one primal pass that keeps every value, then adjoints from the
outputs back to the inputs, each node's cotangent sent to its operands by its VJP
rules and summed where a node has several uses.

Several outputs (or an array output) take a batch of cotangents: a trailing
axis of length M, seeded with an identity, so one backward pass gives every row
of the Jacobian.
"""

from __future__ import annotations

import numpy as np

from ..graph import Graph
from . import Derivatives, resolve, seed_identity, timed
from .rules import backward, depends_on


@timed
def reverse(graph: Graph, values, outputs=None, wrt=None, xp=np, record: list | None = None) -> Derivatives:
    """``record``, when given a list, receives ``("primal", node, value)`` for each
    node of the primal pass, then ``("adjoint", operand, node, position,
    contribution, total)`` for each cotangent sent, in the order sent: the trace."""
    outputs, output_names, wrt_nodes = resolve(graph, outputs, wrt)
    nodes = graph.ancestors(outputs)
    primal: dict[int, object] = {}
    with np.errstate(all="ignore"):
        for node in nodes:
            if node.is_input:
                primal[node.index] = xp.asarray(values[node.params["name"]])[..., None]
            elif node.is_const:
                value = node.value
                # NumPy scalars, not Python floats: 1/0 in a rule is then inf, not an exception.
                primal[node.index] = xp.asarray(value)[..., None] if isinstance(value, np.ndarray) else np.float64(value)
            else:
                primal[node.index] = node.prim.impl(xp, *[primal[operand.index] for operand in node.inputs], **node.params)
            if record is not None:
                record.append(("primal", node, primal[node.index]))

        seeds = seed_identity([node.shape for node in outputs])
        count = seeds[0].shape[-1]
        adjoint: dict[int, object] = {}
        for node, seed in zip(outputs, seeds):
            adjoint[node.index] = adjoint[node.index] + seed if node.index in adjoint else xp.asarray(seed)
        backward(
            nodes,
            adjoint,
            lambda node: [primal[operand.index] for operand in node.inputs],
            lambda node: primal[node.index],
            "reverse",
            record,
            needed=None if record is not None else depends_on(nodes, wrt_nodes),
        )
    result_values = [primal[node.index][..., 0] if np.ndim(primal[node.index]) else primal[node.index] for node in outputs]
    jacobian = {}
    for input_node in wrt_nodes:
        gradient = adjoint.get(input_node.index)
        if gradient is None:
            gradient = np.zeros(input_node.shape + (count,))
        gradient = np.broadcast_to(gradient, input_node.shape + (count,))
        # Row block of each output: move the cotangent axis to the front.
        offset = 0
        for name, node in zip(output_names, outputs):
            size = node.size
            block = np.moveaxis(gradient[..., offset : offset + size], -1, 0)
            jacobian[(name, input_node.params["name"])] = block.reshape(node.shape + input_node.shape)
            offset += size
    return Derivatives("reverse", output_names, [node.params["name"] for node in wrt_nodes], result_values, jacobian)
