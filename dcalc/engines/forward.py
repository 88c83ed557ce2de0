"""Forward mode: each node's tangent is computed right after its value.

The full Jacobian needs one tangent per input component; they travel together
as a trailing axis of length D (the seeds form an identity), so there is one
pass, not a Python loop per input. ``direction`` gives a single tangent instead:
a Jacobian-vector product (a directional derivative).
"""

from __future__ import annotations

import numpy as np

from ..graph import Graph
from . import Derivatives, resolve, seed_identity, split_directions, timed
from .rules import jvp


@timed
def forward(
    graph: Graph, values, outputs=None, wrt=None, direction: dict | None = None, xp=np, record: list | None = None
) -> Derivatives:
    """``record``, when given a list, receives ``(node, primal, tangent)`` for each
    node in the order computed (tangent None where it is zero): the forward trace."""
    outputs, output_names, wrt_nodes = resolve(graph, outputs, wrt)
    shapes = [node.shape for node in wrt_nodes]
    if direction is None:
        seeds = seed_identity(shapes)
    else:
        seeds = [np.asarray(direction[node.params["name"]], dtype=float)[..., None] for node in wrt_nodes]
    tangent_of = {node.index: xp.asarray(seed) for node, seed in zip(wrt_nodes, seeds)}
    primal: dict[int, object] = {}
    tangent: dict[int, object] = {}
    with np.errstate(all="ignore"):
        for node in graph.ancestors(outputs):
            if node.is_input:
                # A trailing axis of length 1 lines the primal up with the tangents' direction axis.
                primal[node.index] = xp.asarray(values[node.params["name"]])[..., None]
                tangent[node.index] = tangent_of.get(node.index)
            elif node.is_const:
                value = node.value
                # NumPy scalars, not Python floats: 1/0 in a rule is then inf, not an exception.
                primal[node.index] = xp.asarray(value)[..., None] if isinstance(value, np.ndarray) else np.float64(value)
                tangent[node.index] = None
            else:
                args = [primal[operand.index] for operand in node.inputs]
                out = node.prim.impl(xp, *args, **node.params)
                primal[node.index] = out
                tangent[node.index] = jvp(node, [tangent[operand.index] for operand in node.inputs], args, out, "forward")
            if record is not None:
                record.append((node, primal[node.index], tangent[node.index]))
    count = seeds[0].shape[-1] if seeds else 0
    result_values, jacobian = [], {}
    for name, node in zip(output_names, outputs):
        value = primal[node.index]
        result_values.append(value[..., 0] if np.ndim(value) else value)
        derivative = tangent[node.index]
        if derivative is None:
            derivative = np.zeros(node.shape + (count,))
        derivative = np.broadcast_to(derivative, node.shape + (count,))
        if direction is None:
            for input_node, block in zip(wrt_nodes, split_directions(derivative, shapes, node.shape)):
                jacobian[(name, input_node.params["name"])] = block
        else:  # one derivative along the direction, under its own key
            jacobian[(name, "direction")] = derivative[..., 0]
    input_names = ["direction"] if direction is not None else [node.params["name"] for node in wrt_nodes]
    return Derivatives("forward", output_names, input_names, result_values, jacobian)
