"""The four engines. Each takes a graph, values for its inputs, the outputs and
the inputs to differentiate with respect to, and returns :class:`Derivatives`.

- forward:  tangents pushed along with the primal, every input direction at once.
- reverse:  one primal pass keeping values, then adjoints in reverse order.
- symbolic: the rules applied to graph nodes: a derivative graph, then evaluated.
- numeric:  finite differences with extrapolation and an error estimate.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ..graph import Graph, Node

ENGINE_NAMES = ("reverse", "forward", "symbolic", "numeric")


@dataclass
class Derivatives:
    """What an engine found: output values and d output / d input for each pair."""

    engine: str
    output_names: list[str]
    input_names: list[str]
    values: list[Any]
    # (output name, input name) -> array of shape output.shape + input.shape
    jacobian: dict[tuple[str, str], Any]
    # Same keys, for engines that estimate their own error (numeric).
    error: dict[tuple[str, str], Any] | None = None
    seconds: float = 0.0
    details: dict = field(default_factory=dict)

    def gradient(self, output: str | None = None) -> dict[str, Any]:
        """d output / d input for every input (the first output by default)."""
        output = output or self.output_names[0]
        return {name: self.jacobian[(output, name)] for name in self.input_names}


def split_directions(array, shapes: list[tuple], leading: tuple) -> list:
    """Split the trailing direction axis of ``array`` (shape leading + (D,)) into one
    block per input, each reshaped to leading + that input's shape."""
    blocks = []
    offset = 0
    for shape in shapes:
        size = math.prod(shape)
        block = array[..., offset : offset + size]
        blocks.append(np.reshape(block, tuple(leading) + tuple(shape)))
        offset += size
    return blocks


def seed_identity(shapes: list[tuple], dtype=float) -> list:
    """One seed per input: shape input.shape + (D,), together an identity over all
    D = sum of sizes components, so one pass carries every direction."""
    total = sum(math.prod(shape) for shape in shapes)
    seeds = []
    offset = 0
    for shape in shapes:
        size = math.prod(shape)
        seed = np.zeros((size, total), dtype=dtype)
        seed[np.arange(size), offset + np.arange(size)] = 1.0
        seeds.append(seed.reshape(tuple(shape) + (total,)))
        offset += size
    return seeds


def timed(function: Callable) -> Callable:
    def run(*args, **kwargs) -> Derivatives:
        start = time.perf_counter()
        result = function(*args, **kwargs)
        result.seconds = time.perf_counter() - start
        return result

    run.__name__ = function.__name__
    run.__doc__ = function.__doc__
    return run


def resolve(graph: Graph, outputs, wrt) -> tuple[list[Node], list[str], list[Node]]:
    # The graph's own outputs go by their names; outputs passed in are out0, out1, ...
    names = graph.output_names if outputs is None else [f"out{k}" for k in range(len(outputs))]
    outputs = list(graph.outputs if outputs is None else outputs)
    wrt_nodes = list(graph.inputs) if wrt is None else [graph.input_named(name) for name in wrt]
    return outputs, list(names), wrt_nodes


def run_engine(name: str, graph: Graph, values, outputs=None, wrt=None, **options) -> Derivatives:
    from . import forward, numeric, reverse, symbolic

    engine = {"forward": forward.forward, "reverse": reverse.reverse, "symbolic": symbolic.symbolic, "numeric": numeric.numeric}[name]
    return engine(graph, values, outputs=outputs, wrt=wrt, **options)
