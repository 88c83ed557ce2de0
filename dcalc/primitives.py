"""The primitive table: every op dcalc knows, declared once.

Each entry says how to evaluate the op on arrays, its shape rule, how it is
written (infix symbol or function name, LaTeX), where its arguments may be
sampled for tests (``domain``: per argument, a tuple of ``(low, high)``
intervals), a plain NumPy reference, and whether it is complex-analytic.
Adding an op means adding one entry here and nothing in the engines; the tests
in tests/test_primitives.py are driven by this table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import ShapeError
from .graph import CONST, INPUT, PREC_ADD, PREC_MUL, PREC_NEG, PREC_POW, Primitive

TABLE: dict[str, Primitive] = {"input": INPUT, "const": CONST}
# User-facing function names (names and aliases) -> primitive.
FUNCTIONS: dict[str, Primitive] = {}

ANY = ((-3.0, 3.0),)
POSITIVE = ((0.05, 5.0),)
AWAY_FROM_ZERO = ((-3.0, -0.2), (0.2, 3.0))
OPEN_UNIT = ((-0.95, 0.95),)


@dataclass(frozen=True)
class Ufunc:
    """Evaluate through the array namespace's function of this name (np.sin, cupy.sin...)."""

    function: str

    def __call__(self, xp, *args):
        return getattr(xp, self.function)(*args)


def define(prim: Primitive, *, function: bool = True) -> Primitive:
    """Put a primitive in the table and, when users may call it by name, in FUNCTIONS."""
    TABLE[prim.name] = prim
    if function:
        for name in (prim.name, *prim.aliases):
            FUNCTIONS[name] = prim
    return prim


def unary(name, numpy_name=None, *, domain=ANY, latex=None, reference=None, **options) -> Primitive:
    numpy_name = numpy_name or name
    return define(
        Primitive(
            name,
            Ufunc(numpy_name),
            1,
            domain=(domain,),
            latex=latex if latex is not None else rf"\operatorname{{{name}}}",
            reference=reference or getattr(np, numpy_name),
            **options,
        )
    )


def binary_function(name, numpy_name, *, domain=(ANY, ANY), latex=None, **options) -> Primitive:
    return define(
        Primitive(
            name,
            Ufunc(numpy_name),
            2,
            domain=domain,
            latex=latex or rf"\operatorname{{{name}}}",
            reference=getattr(np, numpy_name),
            **options,
        )
    )


# ---- arithmetic ---------------------------------------------------------------

add = define(Primitive("add", Ufunc("add"), 2, infix="+", precedence=PREC_ADD, domain=(ANY, ANY), reference=np.add), function=False)
sub = define(Primitive("sub", Ufunc("subtract"), 2, infix="-", precedence=PREC_ADD, domain=(ANY, ANY), reference=np.subtract), function=False)
mul = define(Primitive("mul", Ufunc("multiply"), 2, infix="*", precedence=PREC_MUL, domain=(ANY, ANY), reference=np.multiply), function=False)
div = define(Primitive("div", Ufunc("divide"), 2, infix="/", precedence=PREC_MUL, domain=(ANY, AWAY_FROM_ZERO), reference=np.divide), function=False)
neg = define(Primitive("neg", Ufunc("negative"), 1, infix="-", precedence=PREC_NEG, domain=(ANY,), reference=np.negative), function=False)
# x^y for real y and variable exponents; the base is sampled positive so any exponent is defined.
power = define(
    Primitive("pow", Ufunc("power"), 2, infix="^", precedence=PREC_POW, domain=(((0.2, 3.0),), ((-2.5, 2.5),)), reference=np.power)
)


# ---- elementary functions -----------------------------------------------------

sin = unary("sin", latex=r"\sin")
cos = unary("cos", latex=r"\cos")
tan = unary("tan", domain=((-1.2, 1.2),), latex=r"\tan")
asin = unary("asin", "arcsin", domain=OPEN_UNIT, latex=r"\arcsin", aliases=("arcsin",))
acos = unary("acos", "arccos", domain=OPEN_UNIT, latex=r"\arccos", aliases=("arccos",))
atan = unary("atan", "arctan", latex=r"\arctan", aliases=("arctan",))
sinh = unary("sinh", latex=r"\sinh")
cosh = unary("cosh", latex=r"\cosh")
tanh = unary("tanh", latex=r"\tanh")
asinh = unary("asinh", "arcsinh", aliases=("arcsinh",), latex=r"\operatorname{arsinh}")
acosh = unary("acosh", "arccosh", domain=((1.05, 5.0),), aliases=("arccosh",), latex=r"\operatorname{arcosh}")
atanh = unary("atanh", "arctanh", domain=OPEN_UNIT, aliases=("arctanh",), latex=r"\operatorname{artanh}")
exp = unary("exp", latex=r"\exp")
expm1 = unary("expm1")
ln = unary("ln", "log", domain=POSITIVE, latex=r"\ln")
log1p = unary("log1p", domain=((-0.9, 5.0),))
log2 = unary("log2", domain=POSITIVE, latex=r"\log_2")
log10 = unary("log10", domain=POSITIVE, latex=r"\log_{10}")
sqrt = unary("sqrt", domain=POSITIVE, latex=r"\sqrt")
# cbrt has no complex form in NumPy, and its derivative is infinite at 0.
cbrt = unary("cbrt", domain=AWAY_FROM_ZERO, complex_analytic=False, latex=r"\sqrt[3]")
# Kinks at 0: sampled away from them.
absolute = unary("abs", "absolute", domain=AWAY_FROM_ZERO, complex_analytic=False, latex=r"\operatorname{abs}")
sign = unary("sign", domain=AWAY_FROM_ZERO, complex_analytic=False, latex=r"\operatorname{sign}")


def _sigmoid(xp, x):
    """1 / (1 + e^-x) without overflow: e^-|x| is at most 1."""
    if xp.iscomplexobj(x):
        return 1 / (1 + xp.exp(-x))
    small = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + small), small / (1 + small))


def _softplus(xp, x):
    """ln(1 + e^x) without overflow: ln(1 + e^-|x|) + max(x, 0)."""
    if xp.iscomplexobj(x):
        return xp.log1p(xp.exp(x))
    return xp.log1p(xp.exp(-xp.abs(x))) + xp.maximum(x, 0)


def _relu(xp, x):
    return xp.maximum(x, 0.0)


sigmoid = define(
    Primitive("sigmoid", _sigmoid, 1, domain=(((-6.0, 6.0),),), latex=r"\sigma", reference=lambda x: 1 / (1 + np.exp(-x)))
)
softplus = define(
    Primitive("softplus", _softplus, 1, domain=(((-6.0, 6.0),),), latex=r"\operatorname{softplus}", reference=lambda x: np.logaddexp(0.0, x))
)
relu = define(
    Primitive(
        "relu",
        _relu,
        1,
        domain=(AWAY_FROM_ZERO,),
        complex_analytic=False,
        latex=r"\operatorname{relu}",
        reference=lambda x: np.where(x > 0, x, 0.0),
    )
)

# Elementwise functions of two arguments.
minimum = binary_function("min", "minimum", complex_analytic=False, aliases=("minimum",))
maximum = binary_function("max", "maximum", complex_analytic=False, aliases=("maximum",))
# atan2(y, x) jumps across the negative x axis; y is sampled away from it.
atan2 = binary_function("atan2", "arctan2", domain=(AWAY_FROM_ZERO, ANY), complex_analytic=False, aliases=("arctan2",))
hypot = binary_function("hypot", "hypot", domain=(AWAY_FROM_ZERO, ANY), complex_analytic=False)
FUNCTIONS["pow"] = power


# ---- linear algebra -----------------------------------------------------------


def _matmul_shape(shapes, params):
    """NumPy's matmul: vectors are promoted and dropped again, leading axes broadcast."""
    left, right = shapes
    if not left or not right:
        raise ShapeError(f"@ needs vectors or matrices, got shapes {left} and {right}; use * for scalars")
    inner_left = left[-1]
    inner_right = right[0] if len(right) == 1 else right[-2]
    if inner_left != inner_right:
        raise ShapeError(
            f"shapes {left} and {right} do not fit a matrix product: "
            f"{inner_left} columns on the left, {inner_right} rows on the right"
        )
    rows = left[:-1][-1:] if len(left) >= 2 else ()
    columns = right[-1:] if len(right) >= 2 else ()
    try:
        stack = tuple(np.broadcast_shapes(left[:-2], right[:-2]))
    except ValueError:
        raise ShapeError(f"the stacked shapes {left} and {right} do not broadcast") from None
    return stack + rows + columns


matmul = define(
    Primitive(
        "matmul",
        Ufunc("matmul"),
        2,
        shape_rule=_matmul_shape,
        elementwise=False,
        infix="@",
        precedence=PREC_MUL,
        complex_analytic=True,
        reference=np.matmul,
    ),
    function=False,
)

# Constants a program may use unless it gives the name a value of its own.
CONSTANTS = {"pi": float(np.pi), "e": float(np.e)}

INFIX = {"+": add, "-": sub, "*": mul, "/": div, "@": matmul, "^": power, "**": power}
