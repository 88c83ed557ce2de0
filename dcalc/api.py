"""The library's front door: text and values in, a graph ready for the engines out."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Mapping

import numpy as np

from .errors import DomainError, InputError
from .evaluation import check_inputs, evaluate, evaluate_all
from .graph import Graph
from .program import parse_program
from .values import parse_at


@dataclass
class Problem:
    """A function (its graph) and the point it is looked at."""

    graph: Graph
    values: dict[str, Any]
    warnings: list[str] = field(default_factory=list)

    def evaluate(self) -> list:
        return evaluate(self.graph, self.values)

    @cached_property
    def trace(self) -> dict:
        """Every node's value at the point (by node index), worked out once for the checks."""
        return evaluate_all(self.graph, self.values)

    def nonfinite_report(self, outputs=None) -> DomainError | None:
        """Where a NaN or infinity in the outputs first arose, as an error to show."""
        from .diagnose import value_problem

        return value_problem(self.graph, self.values, outputs)

    def problem(self, outputs=None, wrt=None, derivatives=None) -> DomainError | None:
        """The first trouble at this point: a value that is not finite, an ill-conditioned
        operation, or a derivative that is not finite (see dcalc/diagnose.py)."""
        from .diagnose import point_problem

        return point_problem(self.graph, self.values, outputs, wrt, derivatives, trace=self.trace)


def load(text: str, at: str | list[str] | Mapping[str, Any] = (), origin: str = "<expression>", seed: int = 0) -> Problem:
    """Parse ``text`` (an expression or a program) and bind the values given ``at``.

    ``at`` is --at text (``"x1=2,x2=5"``, ``"A=randn(3, 4)"``), a list of such
    texts, or a mapping of names to numbers or arrays; ``seed`` seeds randn/rand.
    """
    if not isinstance(text, str):
        raise InputError(f"the function to load is text, such as \"x^2 + 1\", not {type(text).__name__}")
    if isinstance(at, Mapping):
        values = {name: _real_array(name, value) for name, value in at.items()}
    else:
        values = parse_at(at, seed=seed) if at else {}
    graph = parse_program(text, origin, given=values.keys(), shapes={name: value.shape for name, value in values.items()})
    return bind(graph, values)


def _real_array(name: str, value) -> np.ndarray:
    """A value given from Python as a float array, or an error naming what it is instead."""
    try:
        array = np.asarray(value)
        if value is None or array.dtype.kind in "USVc" or np.iscomplexobj(array):  # text, bytes, complex
            raise TypeError
        return array.astype(float)  # numbers of any kind, Decimal and Fraction too
    except (TypeError, ValueError):
        raise InputError(f"the value of {name!r} is not a real number or array of them: {value!r}") from None


def bind(graph: Graph, values: Mapping[str, Any]) -> Problem:
    """The graph at the point ``values`` (checked against its inputs)."""
    from .primitives import CONSTANTS

    bound, warnings = check_inputs(graph, values)
    for name in graph.input_names:
        if name in CONSTANTS:  # given a value (check_inputs saw to that), pi is an input, not 3.14159...
            warnings.append(f"{name!r} is given a value, so here it is an input, not the constant {name} = {CONSTANTS[name]:.6g}")
    return Problem(graph, bound, warnings)
