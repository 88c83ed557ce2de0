"""dcalc: a derivative calculator and gradient checker.

    >>> import dcalc
    >>> problem = dcalc.load("ln(x1)+x1*x2-sin(x2)", "x1=2,x2=5")
    >>> float(problem.evaluate()[0])
    11.652071455223084

The pipeline is text -> graph (dcalc.program) -> engines -> renderers; see
docs/ARCHITECTURE.md. Names are imported on first use, so ``import dcalc`` is cheap.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "load": "dcalc.api",
    "Problem": "dcalc.api",
    "parse_program": "dcalc.program",
    "parse_at": "dcalc.values",
    "evaluate": "dcalc.evaluation",
    "Graph": "dcalc.graph",
    "Node": "dcalc.graph",
    "to_infix": "dcalc.printer",
    "to_matrix": "dcalc.printer",
    "DcalcError": "dcalc.errors",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'dcalc' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
