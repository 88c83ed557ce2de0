"""Second derivatives: Hessians and Hessian-vector products.

The gradient is first built as graph nodes (the symbolic engine's reverse sweep,
sharing everything with the function), then differentiated again:

- forward-over-reverse (the default): forward mode over the gradient nodes, every
  input direction at once; with a ``direction``, one pass gives H v without
  forming H;
- symbolic: the gradient nodes differentiated symbolically once more;
- numeric: finite differences of the gradient, with error estimates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DerivativeError, InputError
from ..graph import COMPILING, Graph
from .symbolic import derivative_graph, gradient_nodes

HESSIAN_ENGINES = ("forward", "symbolic", "numeric")


@dataclass
class Hessian:
    engine: str
    value: object
    inputs: list[str]
    # (input i, input j) -> d^2 f / d x_i d x_j, shaped x_i.shape + x_j.shape
    blocks: dict[tuple[str, str], np.ndarray]
    error: dict[tuple[str, str], np.ndarray] | None = None

    def matrix(self) -> np.ndarray:
        """All blocks as one square matrix over the flattened inputs."""
        sizes = [int(np.prod(self.blocks[(name, name)].shape[: self.blocks[(name, name)].ndim // 2])) for name in self.inputs]
        return np.block(
            [
                [np.reshape(self.blocks[(first, second)], (sizes[i], sizes[j])) for j, second in enumerate(self.inputs)]
                for i, first in enumerate(self.inputs)
            ]
        )

    def asymmetry(self) -> float:
        """Largest |H - H^T|, relative to the largest |H|: rounding only, if symmetric."""
        matrix = self.matrix()
        scale = float(np.max(np.abs(matrix), initial=0.0))
        difference = float(np.max(np.abs(matrix - matrix.T), initial=0.0))
        return difference / scale if scale > 0 else difference


def _gradient(graph: Graph, output, wrt):
    output = output or graph.outputs[0]
    if output.shape != ():
        raise DerivativeError(f"a Hessian is of a scalar output; this one has shape {output.shape}", output.span)
    with COMPILING:
        copy, mapping = derivative_graph(graph)
        variables = [copy.input_named(name) for name in wrt]
        return copy, mapping[output.index], gradient_nodes(mapping[output.index], variables)


def hessian(graph: Graph, values, wrt: list[str] | None = None, engine: str = "forward", output=None, xp=np) -> Hessian:
    """The Hessian of a scalar output with respect to ``wrt`` (all inputs by default);
    ``values`` are arrays of ``xp``, the Hessian comes back on the host."""
    from ..backend import to_host
    from ..evaluation import evaluate
    from . import run_engine

    if engine not in HESSIAN_ENGINES:
        raise InputError(f"unknown Hessian engine {engine!r}: use forward (forward-over-reverse), symbolic or numeric")
    wrt = list(graph.input_names if wrt is None else wrt)
    copy, function, gradient = _gradient(graph, output, wrt)
    (value,) = map(to_host, evaluate(graph, values, outputs=[output or graph.outputs[0]], xp=xp))
    # The gradient's Jacobian, by the engine asked for (the symbolic one differentiates
    # the gradient's nodes once more).
    result = run_engine(engine, copy, values, outputs=gradient, wrt=wrt, xp=xp)
    blocks, errors = {}, {} if result.error is not None else None
    for position, first in enumerate(wrt):
        for second in wrt:
            blocks[(first, second)] = to_host(result.jacobian[(f"out{position}", second)])
            if errors is not None:
                errors[(first, second)] = to_host(result.error[(f"out{position}", second)])
    name = {"forward": "forward-over-reverse"}.get(engine, engine)
    return Hessian(name, value, wrt, blocks, errors)


def hessian_vector(graph: Graph, values, direction: dict, wrt: list[str] | None = None, output=None, xp=np) -> dict[str, np.ndarray]:
    """H v by forward mode over the gradient: one pass, H never formed."""
    from ..backend import to_host
    from .forward import forward

    wrt = list(graph.input_names if wrt is None else wrt)
    copy, _, gradient = _gradient(graph, output, wrt)
    result = forward(copy, values, outputs=gradient, wrt=wrt, direction=direction, xp=xp)
    return {name: to_host(result.jacobian[(f"out{position}", "direction")]) for position, name in enumerate(wrt)}
