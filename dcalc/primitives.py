"""The primitive table: every op dcalc knows, declared once.

Each entry says how to evaluate the op on arrays, its shape rule, how it is
written (infix symbol or function name, LaTeX), where its arguments may be
sampled for tests (``domain``: per argument, a tuple of ``(low, high)``
intervals), a plain NumPy reference, and whether it is complex-analytic.
Adding an op means adding one entry here and nothing in the engines; the tests
in tests/test_primitives.py are driven by this table.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass

import numpy as np

from . import trig
from .errors import ShapeError, counted
from .graph import CONST, PREC_ADD, PREC_ATOM, PREC_MUL, PREC_NEG, PREC_POW, TABLE, Node, Primitive, array_namespace
from .printer import TRANSPARENT, Form

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
    writes_into = True  # takes out= (compiled schedules write into arrays they keep)

    def __call__(self, xp, *args, out=None):
        """``out``: an array to write the result into (a slice of a result held elsewhere)."""
        if out is None:
            return getattr(xp, self.function)(*args)
        return getattr(xp, self.function)(*args, out=out)


def fused(impl):
    """Mark an impl ``(xp, *args, out=None)`` made of a few ufunc calls in a row that
    write into one array: it takes ``out=`` as a ufunc does, so compiled schedules
    reuse its result's memory too."""
    impl.writes_into = True
    return impl


def define(prim: Primitive, *, function: bool = True) -> Primitive:
    """Put a primitive in the table and, when users may call it by name, in FUNCTIONS."""
    prim.writes_into = getattr(prim.impl, "writes_into", False)
    if prim.writes_into:
        prim.fresh = True  # a ufunc's result is a new array
    # One elementwise ufunc call reads each element before it writes it (NumPy sees to
    # any overlap): its result may go into an operand's array.
    prim.in_place = prim.elementwise and isinstance(prim.impl, Ufunc)
    TABLE[prim.name] = prim
    if function:
        for name in (prim.name, *prim.aliases):
            FUNCTIONS[name] = prim
    return prim


def unary(name, numpy_name=None, *, domain=ANY, latex=None, reference=None, impl=None, **options) -> Primitive:
    """``impl``: in place of NumPy's function ``numpy_name`` (an impl that takes out=)."""
    numpy_name = numpy_name or name
    return define(
        Primitive(
            name,
            impl or Ufunc(numpy_name),
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
# Each op is followed by its partial derivatives, one per argument, written in
# dcalc's own ops so they work on arrays and on graph nodes alike (and so can be
# differentiated again). ``out`` is the op's own value, often the cheapest form.


def arithmetic(name, numpy_name, arity, infix, precedence, domain, partials, **options) -> Primitive:
    """An infix arithmetic op (not callable by name)."""
    return define(
        Primitive(
            name,
            Ufunc(numpy_name),
            arity,
            infix=infix,
            precedence=precedence,
            domain=domain,
            reference=getattr(np, numpy_name),
            partials=partials,
            **options,
        ),
        function=False,
    )


# d(x + y) = dx + dy; d(x - y) = dx - dy; d(-x) = -dx
add = arithmetic("add", "add", 2, "+", PREC_ADD, (ANY, ANY), (1, 1), commutative=True, latex_form="{0} + {1}")
sub = arithmetic("sub", "subtract", 2, "-", PREC_ADD, (ANY, ANY), (1, -1), latex_form="{0} - {1}")
neg = arithmetic("neg", "negative", 1, "-", PREC_NEG, (ANY,), (-1,))


def mul_partial_left(x, y, out):  # d(x y)/dx = y
    return y


def mul_partial_right(x, y, out):  # d(x y)/dy = x
    return x


mul = arithmetic(
    "mul", "multiply", 2, "*", PREC_MUL, (ANY, ANY), (mul_partial_left, mul_partial_right), commutative=True, latex_form=r"{0} \cdot {1}"
)


def div_partial_left(x, y, out):  # d(x/y)/dx = 1/y
    return 1 / y


def div_partial_right(x, y, out):  # d(x/y)/dy = -x/y^2 = -(x/y)/y
    return -out / y


div = arithmetic(
    "div",
    "divide",
    2,
    "/",
    PREC_MUL,
    (ANY, AWAY_FROM_ZERO),
    (div_partial_left, div_partial_right),
    latex_form=r"\frac{{{0}}}{{{1}}}",
    latex_bare=(0, 1),
    latex_precedence=PREC_ATOM,
)


def pow_partial_base(x, y, out):  # d(x^y)/dx = y x^(y-1), 0 where y is 0
    # x^0 is 1 everywhere, 0^0 included, so it has no slope (0 * 0^-1 would be NaN).
    # A variable exponent that is 0 at x = 0 is seen on arrays only: a derivative graph
    # has no node for "0 where y is 0", and gives NaN there.
    if _is_zero(y):
        return 0
    slope = y * x ** (y - 1)
    if isinstance(slope, Node) or not np.ndim(y):
        return slope
    return array_namespace((slope,)).where(y == 0, 0.0, slope)


def pow_partial_exponent(x, y, out):  # d(x^y)/dy = x^y ln x, 0 where x^y is 0 (0^y for y > 0)
    return xlogy(out, x)


def _is_zero(value) -> bool:
    """A number, or a constant node, that is 0."""
    if isinstance(value, Node):
        return value.is_const and np.ndim(value.value) == 0 and value.value == 0
    return isinstance(value, (int, float)) and value == 0


# x^y for real y and variable exponents; the base is sampled positive so any exponent is defined.
power = arithmetic(
    "pow",
    "power",
    2,
    "^",
    PREC_POW,
    (((0.2, 3.0),), ((-2.5, 2.5),)),
    (pow_partial_base, pow_partial_exponent),
    latex_form="{{{0}}}^{{{1}}}",
    latex_bare=(1,),
)


# ---- elementary functions -----------------------------------------------------


def d_sin(x, out):  # d/dx sin x = cos x
    return cos(x)


def d_cos(x, out):  # d/dx cos x = -sin x
    return -sin(x)


def d_tan(x, out):  # d/dx tan x = 1 + tan^2 x
    return 1 + out * out


def d_asin(x, out):  # d/dx asin x = 1/sqrt(1 - x^2)
    return 1 / sqrt(one_minus_square(x))


def d_acos(x, out):  # d/dx acos x = -1/sqrt(1 - x^2)
    return -1 / sqrt(one_minus_square(x))


def d_atan(x, out):  # d/dx atan x = 1/(1 + x^2)
    return 1 / (1 + x * x)


def d_sinh(x, out):  # d/dx sinh x = cosh x
    return cosh(x)


def d_cosh(x, out):  # d/dx cosh x = sinh x
    return sinh(x)


def d_tanh(x, out):  # d/dx tanh x = sech^2 x (1 - tanh^2 x loses it where tanh x rounds to 1)
    return sech2(x)


def d_asinh(x, out):  # d/dx asinh x = 1/sqrt(x^2 + 1)
    return 1 / sqrt(x * x + 1)


def d_acosh(x, out):  # d/dx acosh x = 1/sqrt(x^2 - 1), as 1/(sqrt(x-1) sqrt(x+1)) to keep digits near 1
    return 1 / (sqrt(x - 1) * sqrt(x + 1))


def d_atanh(x, out):  # d/dx atanh x = 1/(1 - x^2)
    return 1 / one_minus_square(x)


def d_exp(x, out):  # d/dx e^x = e^x
    return out


def d_expm1(x, out):  # d/dx (e^x - 1) = e^x, not out + 1, which is 0 where e^x - 1 rounds to -1
    return exp(x)


def d_ln(x, out):  # d/dx ln x = 1/x
    return 1 / x


def d_log1p(x, out):  # d/dx ln(1 + x) = 1/(1 + x)
    return 1 / (1 + x)


def d_log2(x, out):  # d/dx log2 x = 1/(x ln 2)
    return 1 / (x * ln(_as_operand(x, 2.0)))


def d_log10(x, out):  # d/dx log10 x = 1/(x ln 10)
    return 1 / (x * ln(_as_operand(x, 10.0)))


def _as_operand(like, value):
    """A constant in the form ``like`` has: a node of its graph, or a plain number."""
    return like.graph.const(value) if isinstance(like, Node) else value


def d_sqrt(x, out):  # d/dx sqrt x = 1/(2 sqrt x)
    return 0.5 / out


def d_cbrt(x, out):  # d/dx x^(1/3) = 1/(3 x^(2/3))
    return 1 / (3 * (out * out))


def d_abs(x, out):  # d/dx |x| = sign x (0 at the kink: the mean of -1 and 1)
    return sign(x)


def d_sigmoid(x, out):  # d/dx s(x) = s(x) s(-x) (s(x) (1 - s(x)) loses it where s(x) rounds to 1)
    return sigmoid_slope(x)


def d_softplus(x, out):  # d/dx ln(1 + e^x) = s(x)
    return sigmoid(x)


def d_relu(x, out):  # d/dx max(x, 0) = step(x) (1/2 at the kink)
    return heaviside(x)



def _through_tan(by_tan, name: str):
    """An impl that takes ``by_tan`` (dcalc.trig) where that is faster, else NumPy's ``name``."""
    otherwise = Ufunc(name)

    def impl(xp, x, out=None):
        if trig.worth_it(xp, x, out):
            return by_tan(x, out)
        return otherwise(xp, x, out=out)

    return fused(impl)


@fused
def _cos_given_sin(xp, x, sine, out=None):
    """cos x where the schedule has sin x already (sin's derivative is cos: every
    gradient through a sin has both): the division and one tangent that remain."""
    if trig.worth_it(xp, x, out) and type(sine) is np.ndarray and sine.dtype == np.float64 and sine.shape == x.shape:
        return trig.cos_from_sin(x, sine, out)
    return cos.impl(xp, x, out=out)  # the table's own: through tan, or NumPy's


# sin and cos of large arrays go through NumPy's SIMD tan where it has one (dcalc.trig).
sin = unary("sin", latex=r"\sin", partials=(d_sin,), impl=_through_tan(trig.sin_by_tan, "sin"), scratch=1)
cos = unary("cos", latex=r"\cos", partials=(d_cos,), impl=_through_tan(trig.cos_by_tan, "cos"), given=(sin, _cos_given_sin), scratch=2)
tan = unary("tan", domain=((-1.2, 1.2),), latex=r"\tan", partials=(d_tan,))
asin = unary("asin", "arcsin", domain=OPEN_UNIT, latex=r"\arcsin", aliases=("arcsin",), partials=(d_asin,))
acos = unary("acos", "arccos", domain=OPEN_UNIT, latex=r"\arccos", aliases=("arccos",), partials=(d_acos,))
atan = unary("atan", "arctan", latex=r"\arctan", aliases=("arctan",), partials=(d_atan,))
sinh = unary("sinh", latex=r"\sinh", partials=(d_sinh,))
cosh = unary("cosh", latex=r"\cosh", partials=(d_cosh,))
tanh = unary("tanh", latex=r"\tanh", partials=(d_tanh,))
asinh = unary("asinh", "arcsinh", aliases=("arcsinh",), latex=r"\operatorname{arsinh}", partials=(d_asinh,))
acosh = unary("acosh", "arccosh", domain=((1.05, 5.0),), aliases=("arccosh",), latex=r"\operatorname{arcosh}", partials=(d_acosh,))
atanh = unary("atanh", "arctanh", domain=OPEN_UNIT, aliases=("arctanh",), latex=r"\operatorname{artanh}", partials=(d_atanh,))
exp = unary("exp", latex=r"\exp", partials=(d_exp,), latex_form="e^{{{0}}}", latex_bare=(0,), latex_precedence=PREC_POW)
expm1 = unary("expm1", partials=(d_expm1,))
ln = unary("ln", "log", domain=POSITIVE, latex=r"\ln", partials=(d_ln,))
log1p = unary("log1p", domain=((-0.9, 5.0),), partials=(d_log1p,))
log2 = unary("log2", domain=POSITIVE, latex=r"\log_2", partials=(d_log2,))
log10 = unary("log10", domain=POSITIVE, latex=r"\log_{10}", partials=(d_log10,))
sqrt = unary("sqrt", domain=POSITIVE, latex_form=r"\sqrt{{{0}}}", latex_bare=(0,), partials=(d_sqrt,))
# cbrt has no complex form in NumPy, and its derivative is infinite at 0.
cbrt = unary("cbrt", domain=AWAY_FROM_ZERO, complex_analytic=False, latex_form=r"\sqrt[3]{{{0}}}", latex_bare=(0,), partials=(d_cbrt,))
# Kinks at 0: sampled away from them. At the kink itself the rules give the mean
# of the one-sided derivatives.
def at_zero(x):
    """The kink of abs, sign, relu and the step: the argument is 0."""
    return x == 0


def at_tie(x, y):
    """The kink of min and max: the arguments are equal."""
    return x == y


def _shared_extreme(extreme):
    """The kink of max(x) (or min(x)) over axes: two entries share the largest (or
    smallest) value, and the derivative splits between them."""

    def kink(x, axes, source):
        if not axes:
            return np.zeros(np.shape(x), dtype=bool)
        return np.sum(x == extreme(x, axis=axes, keepdims=True), axis=axes) > 1

    return kink


absolute = unary(
    "abs", "absolute", domain=AWAY_FROM_ZERO, complex_analytic=False, latex_form=r"\left|{0}\right|", latex_bare=(0,), partials=(d_abs,), kink=at_zero
)
sign = unary("sign", domain=AWAY_FROM_ZERO, complex_analytic=False, latex=r"\operatorname{sign}", partials=(0,), kink=at_zero)


def _heaviside(xp, x):
    """The unit step: 0 below 0, 1 above, 1/2 at 0."""
    return xp.heaviside(x, 0.5)


heaviside = define(
    Primitive(
        "heaviside",
        _heaviside,
        1,
        domain=(AWAY_FROM_ZERO,),
        complex_analytic=False,
        latex=r"\operatorname{H}",
        reference=lambda x: np.heaviside(x, 0.5),
        partials=(0,),
        aliases=("step",),
        kink=at_zero,
    )
)


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
    Primitive(
        "sigmoid",
        _sigmoid,
        1,
        domain=(((-6.0, 6.0),),),
        latex=r"\sigma",
        reference=lambda x: 1 / (1 + np.exp(-x)),
        partials=(d_sigmoid,),
    )
)
softplus = define(
    Primitive(
        "softplus",
        _softplus,
        1,
        domain=(((-6.0, 6.0),),),
        latex=r"\operatorname{softplus}",
        reference=lambda x: np.logaddexp(0.0, x),
        partials=(d_softplus,),
    )
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
        partials=(d_relu,),
        kink=at_zero,
    )
)


# ---- slopes that keep their digits ----------------------------------------------
# The partials of tanh, sigmoid, asin, acos and atanh as ops of their own: the textbook
# forms (1 - tanh^2, s (1 - s), 1 - x^2) lose every digit where tanh or s rounds to 1
# or x^2 to 1, and these ops' own partials keep second derivatives exact as well
# (the product rule on (1 - x)(1 + x) would cancel near 0). Not functions of the
# language: they print as the forms they stand for, which parse back.


def _into(value):
    """Where the next ufunc of a fused impl may write: the array itself, or None for a
    number (NumPy gives numbers, not arrays, for 0-d operands)."""
    return value if getattr(value, "ndim", 0) else None


def _sech2(xp, x, out=None):
    c = xp.cosh(x, out=out)
    c = xp.multiply(c, c, out=_into(c))
    return xp.divide(1.0, c, out=_into(c))  # 0 where cosh overflows, as it should be


def _sigmoid_slope(xp, x, out=None):
    c = xp.multiply(x, 0.5, out=out)  # s(x) s(-x) = 1/(4 cosh^2(x/2)), for either sign
    c = xp.cosh(c, out=_into(c))
    c = xp.multiply(c, c, out=_into(c))
    return xp.divide(0.25, c, out=_into(c))


def _one_minus_square(xp, x, out=None):
    room = 1.0 + x
    result = xp.subtract(1.0, x, out=out)
    return xp.multiply(result, room, out=_into(result))  # exact near |x| = 1, where 1 - x^2 is not


def d_sech2(x, out):  # d/dx sech^2 x = -2 tanh x sech^2 x
    return -2 * tanh(x) * out


def d_sigmoid_slope(x, out):  # d/dx s(x) s(-x) = s(x) s(-x) (1 - 2 s(x)) = -s(x) s(-x) tanh(x/2)
    return -(out * tanh(0.5 * x))


def d_one_minus_square(x, out):  # d/dx (1 - x^2) = -2x
    return -2 * x


def _sech2_matrix_form(node, notation):
    if notation.latex:
        return Form(r"\frac{{1}}{{\cosh\left({0}\right)^{{2}}}}", PREC_ATOM, delimited=(0,))
    return Form("1/cosh({0})²", PREC_MUL, "div", delimited=(0,))


def _one_minus_square_matrix_form(node, notation):
    return Form("1 - {0}" + notation.power(2, len(node.shape) >= 2), PREC_ADD, atoms=(0,))


sech2 = define(
    Primitive(
        "sech2",
        fused(_sech2),
        1,
        domain=(((-6.0, 6.0),),),
        reference=lambda x: 1 / np.cosh(x) ** 2,
        partials=(d_sech2,),
        text_form=lambda params: "1/cosh({0})^2",
        precedence=PREC_MUL,
        latex_form=r"\operatorname{{sech}}^{{2}}\left({0}\right)",
        latex_bare=(0,),
        latex_precedence=PREC_ATOM,
        matrix_form=_sech2_matrix_form,
    ),
    function=False,
)
sigmoid_slope = define(
    Primitive(
        "sigmoid_slope",
        fused(_sigmoid_slope),
        1,
        domain=(((-6.0, 6.0),),),
        reference=lambda x: np.exp(-np.abs(x)) / (1 + np.exp(-np.abs(x))) ** 2,  # another way to the same
        partials=(d_sigmoid_slope,),
        text_form=lambda params: "sigmoid({0})*sigmoid(-{0})",
        precedence=PREC_MUL,
        latex_form=r"\sigma\left({0}\right) \sigma\left(-{0}\right)",
        latex_precedence=PREC_MUL,
    ),
    function=False,
)
one_minus_square = define(
    Primitive(
        "one_minus_square",
        fused(_one_minus_square),
        1,
        reference=lambda x: (1 - x) * (1 + x),
        domain=(ANY,),
        partials=(d_one_minus_square,),
        text_form=lambda params: "1 - {0}^2",
        precedence=PREC_ADD,
        latex_form="1 - {0}^{{2}}",
        latex_precedence=PREC_ADD,
        matrix_form=_one_minus_square_matrix_form,
    ),
    function=False,
)

def min_partial_left(x, y, out):  # d min(x, y)/dx = 1 where x < y (1/2 at a tie)
    return heaviside(y - x)


def min_partial_right(x, y, out):
    return heaviside(x - y)


def max_partial_left(x, y, out):  # d max(x, y)/dx = 1 where x > y (1/2 at a tie)
    return heaviside(x - y)


def max_partial_right(x, y, out):
    return heaviside(y - x)


def atan2_partial_y(y, x, out):  # d atan2(y, x)/dy = x/(x^2 + y^2)
    return x / (x * x + y * y)


def atan2_partial_x(y, x, out):  # d atan2(y, x)/dx = -y/(x^2 + y^2)
    return -y / (x * x + y * y)


def hypot_partial_left(x, y, out):  # d sqrt(x^2 + y^2)/dx = x/hypot
    return x / out


def hypot_partial_right(x, y, out):
    return y / out


# Elementwise functions of two arguments.
minimum = binary_function(
    "min", "minimum", complex_analytic=False, aliases=("minimum",), commutative=True, partials=(min_partial_left, min_partial_right), kink=at_tie
)
maximum = binary_function(
    "max", "maximum", complex_analytic=False, aliases=("maximum",), commutative=True, partials=(max_partial_left, max_partial_right), kink=at_tie
)
# atan2(y, x) jumps across the negative x axis; y is sampled away from it.
atan2 = binary_function(
    "atan2", "arctan2", domain=(AWAY_FROM_ZERO, ANY), complex_analytic=False, aliases=("arctan2",), partials=(atan2_partial_y, atan2_partial_x)
)
hypot = binary_function(
    "hypot", "hypot", domain=(AWAY_FROM_ZERO, ANY), complex_analytic=False, commutative=True, partials=(hypot_partial_left, hypot_partial_right)
)


def _xlogy(xp, a, b):
    """a ln b, and 0 where a is 0 and b is not NaN, whatever ln b is (ln 0 included):
    the limit of a ln b as a goes to 0, as SciPy's and PyTorch's xlogy take it."""
    return xp.where((a == 0) & (b == b), 0.0, a * xp.log(b))[()]


def _xlogy_scalar(a: float, b: float) -> float:
    # math.log raises at b <= 0; NumPy's impl then answers, as for ln.
    return 0.0 if a == 0.0 and b == b else a * math.log(b)


def xlogy_partial_left(a, b, out):  # d(a ln b)/da = ln b
    return ln(b)


def xlogy_partial_right(a, b, out):  # d(a ln b)/db = a/b
    return a / b


# x^y's derivative along y is xlogy(x^y, x): 0 where x^y is 0, so 0^y has slope 0 for y > 0.
xlogy = define(
    Primitive(
        "xlogy",
        _xlogy,
        2,
        domain=(ANY, POSITIVE),
        latex=r"\operatorname{xlogy}",
        reference=lambda a, b: a * np.log(b),
        partials=(xlogy_partial_left, xlogy_partial_right),
    )
)
FUNCTIONS["pow"] = power

# Forms on Python floats for the fast path of scalar programs (evaluation.compile_scalar).
# Each gives what the NumPy impl gives, NaN and signed zeros included.


def _sigmoid_scalar(x: float) -> float:
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    small = math.exp(x)  # NaN lands here too, and stays NaN
    return small / (1.0 + small)


def _softplus_scalar(x: float) -> float:
    return math.log1p(math.exp(-abs(x))) + (x if x > 0.0 else 0.0)


def _maximum_scalar(x: float, y: float) -> float:  # as np.maximum: NaN wins, ties give y
    return x if (x > y or x != x) else y


def _minimum_scalar(x: float, y: float) -> float:
    return x if (x < y or x != x) else y


def _relu_scalar(x: float) -> float:
    return _maximum_scalar(x, 0.0)


def _sech2_scalar(x: float) -> float:
    c = math.cosh(x)  # raises past 710: NumPy's impl then gives 0
    return 1.0 / (c * c)


def _sigmoid_slope_scalar(x: float) -> float:
    c = math.cosh(0.5 * x)  # raises past 1420: NumPy's impl then gives 0
    return 0.25 / (c * c)


def _one_minus_square_scalar(x: float) -> float:
    return (1.0 - x) * (1.0 + x)


for _prim, _function in {
    add: operator.add, sub: operator.sub, mul: operator.mul, div: operator.truediv, neg: operator.neg,
    power: math.pow, sin: math.sin, cos: math.cos, tan: math.tan, asin: math.asin, acos: math.acos,
    atan: math.atan, sinh: math.sinh, cosh: math.cosh, tanh: math.tanh, asinh: math.asinh,
    acosh: math.acosh, atanh: math.atanh, exp: math.exp, expm1: math.expm1, ln: math.log,
    log1p: math.log1p, log2: math.log2, log10: math.log10, sqrt: math.sqrt, absolute: abs,
    atan2: math.atan2, hypot: math.hypot, sigmoid: _sigmoid_scalar, softplus: _softplus_scalar,
    relu: _relu_scalar, maximum: _maximum_scalar, minimum: _minimum_scalar, xlogy: _xlogy_scalar,
    sech2: _sech2_scalar, sigmoid_slope: _sigmoid_slope_scalar, one_minus_square: _one_minus_square_scalar,
}.items():
    _prim.scalar = _function


# ---- broadcasting -------------------------------------------------------------
# Explicit forms of NumPy's broadcasting, which derivative rules need: a tangent
# of a smaller shape is spread to the output's shape, and a cotangent is summed
# back over the broadcast axes. Arrays carry trailing batch axes after ``source``.


def _broadcast_to(xp, x, shape, source):
    batch = xp.shape(x)[len(source) :]
    lead = (1,) * (len(shape) - len(source))
    return xp.broadcast_to(xp.reshape(x, lead + xp.shape(x)), tuple(shape) + batch)


def _summed_axes(shape, source) -> tuple:
    """The axes of ``source`` that summing down to ``shape`` adds up: the leading
    extra ones and those where ``shape`` has length 1."""
    extra = len(source) - len(shape)
    return tuple(range(extra)) + tuple(extra + k for k, size in enumerate(shape) if size == 1 and source[extra + k] != 1)


def _sum_to(xp, x, shape, source):
    batch = xp.shape(x)[len(source) :]
    axes = _summed_axes(shape, source)
    summed = xp.sum(x, axis=axes) if axes else x
    return xp.reshape(summed, tuple(shape) + batch)


def _filled_literal(shape, number: str) -> str:
    """A list literal of the shape with every entry ``number``: [[1, 1], [1, 1]]."""
    text = number
    for size in reversed(shape):
        text = "[" + ", ".join([text] * size) + "]"
    return text


# The language has no broadcast_to or sum_to; printed text (which must parse back)
# writes them with what it has. Multiplying by ones is exact, NaN and -0 included.
def _broadcast_to_text(params) -> str:
    """x spread to the shape: x times ones over the axes it is spread along."""
    shape, source = params["shape"], params["source"]
    padded = (1,) * (len(shape) - len(source)) + tuple(source)
    return "({0}*" + _filled_literal(tuple(size if padded[k] == 1 else 1 for k, size in enumerate(shape)), "1") + ")"


def _sum_to_text(params) -> str:
    """sum over the summed axes, reshaped where length-1 axes are kept."""
    shape, source = tuple(params["shape"]), tuple(params["source"])
    axes = _summed_axes(shape, source)
    summed = f"sum({{0}}, {axes})"
    kept = tuple(size for axis, size in enumerate(source) if axis not in axes)
    return summed if kept == shape else f"reshape({summed}, {shape})"


def _target_shape(shapes, params):
    return tuple(params["shape"])


def broadcast_to_jvp(tangent, x, out=None, node=None):
    return broadcast_to(tangent, shape=node.params["shape"], source=node.params["source"])


def broadcast_to_vjp(cotangent, x, out=None, node=None):
    return sum_to(cotangent, shape=node.params["source"], source=node.params["shape"])


def sum_to_jvp(tangent, x, out=None, node=None):
    return sum_to(tangent, shape=node.params["shape"], source=node.params["source"])


def sum_to_vjp(cotangent, x, out=None, node=None):
    return broadcast_to(cotangent, shape=node.params["source"], source=node.params["shape"])


broadcast_to = define(
    Primitive(
        "broadcast_to",
        _broadcast_to,
        1,
        shape_rule=_target_shape,
        elementwise=False,
        jvp=(broadcast_to_jvp,),
        vjp=(broadcast_to_vjp,),
        text_form=_broadcast_to_text,
        latex_form=lambda params: "{0} \\mathbf{{1}}_{{" + r" \times ".join(str(size) for size in params["shape"]) + "}}",
        latex_precedence=PREC_MUL,
        shape_only=True,
    ),
    function=False,
)
sum_to = define(
    Primitive(
        "sum_to",
        _sum_to,
        1,
        shape_rule=_target_shape,
        elementwise=False,
        jvp=(sum_to_jvp,),
        vjp=(sum_to_vjp,),
        text_form=_sum_to_text,
        sums=True,
        shape_only=True,
    ),
    function=False,
)


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
            f"{counted(inner_left, 'column')} on the left, {counted(inner_right, 'row')} on the right"
        )
    rows = left[:-1][-1:] if len(left) >= 2 else ()
    columns = right[-1:] if len(right) >= 2 else ()
    try:
        stack = tuple(np.broadcast_shapes(left[:-2], right[:-2]))
    except ValueError:
        raise ShapeError(f"the stacked shapes {left} and {right} do not broadcast") from None
    return stack + rows + columns


def _matmul_ranks(shapes, params):
    return {**params, "ranks": (len(shapes[0]), len(shapes[1]))}


def _matmul(xp, a, b, ranks):
    """NumPy's matmul on node axes, with any trailing batch axes carried along."""
    rank_a, rank_b = ranks
    batch_a, batch_b = xp.ndim(a) - rank_a, xp.ndim(b) - rank_b
    if batch_a == 0 and batch_b == 0:
        return xp.matmul(a, b)
    batch = max(batch_a, batch_b)
    if all(size == 1 for size in xp.shape(a)[rank_a:] + xp.shape(b)[rank_b:]):
        # One point (the engines' length-1 direction axis): a plain BLAS product.
        # Indexing the length-1 axes away keeps transposed views as views (no copy).
        product = xp.matmul(a[(Ellipsis,) + (0,) * batch_a], b[(Ellipsis,) + (0,) * batch_b])
        return product.reshape(xp.shape(product) + (1,) * batch)
    stack = max(rank_a, rank_b, 2) - 2  # leading stacked-matrix axes of the wider operand

    def batch_first(array, rank, own_batch):
        """Batch axes to the front, then the stack axes padded to the common depth,
        so NumPy's broadcasting lines batch up with batch and stack with stack."""
        moved = xp.moveaxis(array, tuple(range(rank, rank + own_batch)), tuple(range(own_batch)))
        shape = xp.shape(moved)
        own_stack = max(rank - 2, 0)
        return xp.reshape(moved, (1,) * (batch - own_batch) + shape[:own_batch] + (1,) * (stack - own_stack) + shape[own_batch:])

    left = batch_first(a, rank_a, batch_a)
    right = batch_first(b, rank_b, batch_b)
    if rank_a == 1:
        left = left[..., None, :]
    if rank_b == 1:
        right = right[..., :, None]
    product = xp.matmul(left, right)
    if rank_b == 1:
        product = product[..., 0]
    if rank_a == 1:
        product = product[..., 0] if rank_b == 1 else product[..., 0, :]
    return xp.moveaxis(product, tuple(range(batch)), tuple(range(xp.ndim(product) - batch, xp.ndim(product))))


matmul = define(
    Primitive(
        "matmul",
        _matmul,
        2,
        shape_rule=_matmul_shape,
        prepare=_matmul_ranks,
        elementwise=False,
        fresh=True,
        infix="@",
        precedence=PREC_MUL,
        latex_form="{0} {1}",
        complex_analytic=True,
        reference=np.matmul,
        sums=True,
    ),
    function=False,
)

# Constants a program may use unless it gives the name a value of its own.
CONSTANTS = {"pi": float(np.pi), "e": float(np.e), "inf": float("inf"), "nan": float("nan")}

INFIX = {"+": add, "-": sub, "*": mul, "/": div, "@": matmul, "^": power, "**": power}


# ---- for table-driven tests and random programs ------------------------------------


def sample_arguments(prim: Primitive, rng, count: int) -> list:
    """``count`` points inside the primitive's declared domain: one array per argument."""
    arguments = []
    for intervals in prim.domain:
        choice = rng.integers(len(intervals), size=count)
        lows = np.array([intervals[k][0] for k in choice])
        highs = np.array([intervals[k][1] for k in choice])
        arguments.append(rng.uniform(lows, highs))
    return arguments


def call_text(prim: Primitive, names) -> str:
    """How the language writes the primitive applied to these names."""
    if prim.infix and prim.arity == 2:
        return f"{names[0]} {prim.infix} {names[1]}"
    if prim.infix:
        return f"{prim.infix}{names[0]}"
    return f"{prim.name}({', '.join(names)})"


# ---- tensors: axes, reductions, matrix products ------------------------------------
# Impls address node axes from the front, so trailing batch axes ride along.


def _transpose(xp, x, perm):
    return xp.transpose(x, tuple(perm) + tuple(range(len(perm), xp.ndim(x))))


def _transpose_shape(shapes, params):
    (shape,) = shapes
    perm = params["perm"]
    if sorted(perm) != list(range(len(shape))):
        raise ShapeError(f"transpose of shape {shape} needs a permutation of {len(shape)} axes, got {perm}")
    return tuple(shape[axis] for axis in perm)


def _transpose_prepare(shapes, params):
    """transpose(A) and A.T reverse the axes unless a permutation is given."""
    if "perm" not in params or params["perm"] is None:
        return {**params, "perm": tuple(reversed(range(len(shapes[0]))))}
    return {**params, "perm": tuple(params["perm"])}


def transpose_jvp(tangent, x, out=None, node=None):
    return transpose(tangent, perm=node.params["perm"])


def transpose_vjp(cotangent, x, out=None, node=None):
    inverse = tuple(sorted(range(len(node.params["perm"])), key=lambda axis: node.params["perm"][axis]))
    return transpose(cotangent, perm=inverse)


transpose = define(
    Primitive(
        "transpose",
        _transpose,
        1,
        shape_rule=_transpose_shape,
        prepare=_transpose_prepare,
        elementwise=False,
        static=("perm",),
        jvp=(transpose_jvp,),
        vjp=(transpose_vjp,),
        latex_form="{0}^{{\\top}}",
        latex_precedence=PREC_POW,
        written=lambda params: [] if params["perm"] == tuple(reversed(range(len(params["perm"])))) else [str(params["perm"])],
    )
)


def _reshape(xp, x, shape, source):
    return xp.reshape(x, tuple(shape) + xp.shape(x)[len(source) :])


def _reshape_prepare(shapes, params):
    shape = params["shape"]
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    size = math.prod(shapes[0])
    if -1 in shape:
        known = math.prod(dim for dim in shape if dim != -1)
        shape = tuple(size // known if dim == -1 and known else dim for dim in shape)
    return {"shape": shape, "source": tuple(shapes[0])}


def _reshape_shape(shapes, params):
    if math.prod(params["shape"]) != math.prod(shapes[0]):
        raise ShapeError(f"cannot reshape {shapes[0]} ({math.prod(shapes[0])} elements) to {params['shape']}")
    return params["shape"]


def reshape_jvp(tangent, x, out=None, node=None):
    return reshape(tangent, shape=node.params["shape"], source=node.params["source"])


def reshape_vjp(cotangent, x, out=None, node=None):
    return reshape(cotangent, shape=node.params["source"], source=node.params["shape"])


reshape = define(
    Primitive(
        "reshape",
        _reshape,
        1,
        shape_rule=_reshape_shape,
        prepare=_reshape_prepare,
        elementwise=False,
        static=("shape",),
        jvp=(reshape_jvp,),
        vjp=(reshape_vjp,),
        written=lambda params: [str(params["shape"])],
        shape_only=True,
    )
)


def _reduction_prepare(shapes, params):
    """axis: None (all), an int or a tuple, negative allowed -> sorted positive axes.
    (Rules build reductions with ``axes`` already prepared; those stay.)"""
    if "axes" in params:
        return {"axes": tuple(params["axes"]), "source": tuple(shapes[0])}
    rank = len(shapes[0])
    axis = params.get("axis")
    axes = tuple(range(rank)) if axis is None else ((axis,) if isinstance(axis, int) else tuple(axis))
    for item in axes:
        if not -rank <= item < rank:
            raise ShapeError(f"axis {item} is out of range for shape {shapes[0]}")
    return {"axes": tuple(sorted(item % rank for item in axes)), "source": tuple(shapes[0])}


def _reduced_shape(shapes, params):
    return tuple(size for axis, size in enumerate(shapes[0]) if axis not in params["axes"])


def _kept_shape(node) -> tuple:
    """The input's shape with the reduced axes kept as 1: where a cotangent spreads back."""
    return tuple(1 if axis in node.params["axes"] else size for axis, size in enumerate(node.params["source"]))


def _sum(xp, x, axes, source):
    return xp.sum(x, axis=axes) if axes else x


def _mean(xp, x, axes, source):
    return xp.mean(x, axis=axes) if axes else x


def _spread(value, node):
    """A value of the reduced shape, spread back over the input's shape."""
    reduced = tuple(size for axis, size in enumerate(node.params["source"]) if axis not in node.params["axes"])
    if not reduced:  # a number: spread as it is, with no axes of length 1 first
        return broadcast_to(value, shape=node.params["source"], source=())
    kept = reshape(value, shape=_kept_shape(node), source=reduced)
    return broadcast_to(kept, shape=node.params["source"], source=_kept_shape(node))


def sum_jvp(tangent, x, out=None, node=None):
    return sum_(tangent, axes=node.params["axes"], source=node.params["source"])


def sum_vjp(cotangent, x, out=None, node=None):  # d sum(x)/dx_i = 1
    return _spread(cotangent, node)


def _written_axes(params) -> list[str]:
    """sum(A) for all axes, sum(A, (0,)) for some: text that parses back."""
    return [] if len(params["axes"]) == len(params["source"]) else [str(params["axes"])]


def over_axes(name, impl, jvp, vjp, *, keeps_shape=False, function=True, **options) -> Primitive:
    """An op over some axes (all by default): sum, mean, logsumexp, softmax, max, min.
    The axis is a trailing call argument or axis=; prepare turns it into sorted
    positive ``axes`` and records the input's shape as ``source``."""
    return define(
        Primitive(
            name,
            impl,
            1,
            shape_rule=(lambda shapes, params: shapes[0]) if keeps_shape else _reduced_shape,
            prepare=_reduction_prepare,
            elementwise=False,
            static=("axis",),
            jvp=(jvp,),
            vjp=(vjp,),
            written=_written_axes,
            **options,
        ),
        function=function,
    )


def _count(node) -> float:
    return float(math.prod(node.params["source"][axis] for axis in node.params["axes"]))


def mean_jvp(tangent, x, out=None, node=None):
    return mean(tangent, axes=node.params["axes"], source=node.params["source"])


def mean_vjp(cotangent, x, out=None, node=None):  # d mean(x)/dx_i = 1/n
    return _spread(cotangent, node) / _count(node)


sum_ = over_axes("sum", _sum, sum_jvp, sum_vjp, latex=r"\sum", sums=True)
mean = over_axes("mean", _mean, mean_jvp, mean_vjp, latex=r"\operatorname{mean}", sums=True)


# Matrix products: d(A @ B) = dA @ B + A @ dB. Cotangents go back through the
# transposed partner; a vector operand (promoted and dropped as NumPy does) makes
# that an outer product, and a broadcast stack is summed back to the operand.


def _matrix_transpose(value, rank: int):
    perm = tuple(range(rank - 2)) + (rank - 1, rank - 2)
    return transpose(value, perm=perm)


def matmul_jvp_left(tangent, a, b, out=None, node=None):
    return matmul(tangent, b, ranks=node.params["ranks"])


def matmul_jvp_right(tangent, a, b, out=None, node=None):
    return matmul(a, tangent, ranks=node.params["ranks"])


def matmul_vjp_left(cotangent, a, b, out=None, node=None):
    rank_a, rank_b = node.params["ranks"]
    a_shape, b_shape, out_shape = node.inputs[0].shape, node.inputs[1].shape, node.shape
    if rank_a == 1 and rank_b == 1:  # a . b
        return cotangent * b
    if rank_b == 1:  # (.., m, n) @ (n,): dA = ct[..., :, None] b
        column = reshape(cotangent, shape=out_shape + (1,), source=out_shape)
        return sum_to(column * b, shape=a_shape, source=out_shape + b_shape)
    if rank_a == 1:  # (n,) @ (.., n, k): da = B ct, ct taken as (a stack of) columns
        column = reshape(cotangent, shape=out_shape + (1,), source=out_shape)
        product = matmul(b, column, ranks=(rank_b, len(out_shape) + 1))
        stacked = out_shape[:-1] + a_shape
        return sum_to(reshape(product, shape=stacked, source=stacked + (1,)), shape=a_shape, source=stacked)
    product = matmul(cotangent, _matrix_transpose(b, rank_b), ranks=(len(out_shape), rank_b))
    return sum_to(product, shape=a_shape, source=out_shape[:-1] + (a_shape[-1],))


def matmul_vjp_right(cotangent, a, b, out=None, node=None):
    rank_a, rank_b = node.params["ranks"]
    a_shape, b_shape, out_shape = node.inputs[0].shape, node.inputs[1].shape, node.shape
    if rank_a == 1 and rank_b == 1:
        return cotangent * a
    if rank_a == 1:  # (n,) @ (.., n, k): dB = a[:, None] ct[..., None, :]
        row = reshape(cotangent, shape=out_shape[:-1] + (1, out_shape[-1]), source=out_shape)
        column = reshape(a, shape=a_shape + (1,), source=a_shape)
        full = out_shape[:-1] + (a_shape[0], out_shape[-1])
        return sum_to(column * row, shape=b_shape, source=full)
    if rank_b == 1:  # (.., m, n) @ (n,): db = A^T ct, ct taken as (a stack of) columns
        column = reshape(cotangent, shape=out_shape + (1,), source=out_shape)
        product = matmul(_matrix_transpose(a, rank_a), column, ranks=(rank_a, len(out_shape) + 1))
        stacked = out_shape[:-1] + b_shape
        return sum_to(reshape(product, shape=stacked, source=stacked + (1,)), shape=b_shape, source=stacked)
    product = matmul(_matrix_transpose(a, rank_a), cotangent, ranks=(rank_a, len(out_shape)))
    return sum_to(product, shape=b_shape, source=out_shape[:-2] + (b_shape[-2], out_shape[-1]))


matmul.jvp = (matmul_jvp_left, matmul_jvp_right)
matmul.vjp = (matmul_vjp_left, matmul_vjp_right)
FUNCTIONS["sum"] = sum_


# ---- stable log-sum-exp and softmax --------------------------------------------------


def _keep(xp, value, axes):
    """A reduced value with its reduced axes put back as length 1 (node axes first)."""
    return xp.expand_dims(value, axes) if axes else value


def _logsumexp(xp, x, axes, source):
    """log sum exp x = m + log sum exp(x - m), m the largest (finite) entry: no overflow."""
    if not axes:
        return x
    largest = xp.max(x, axis=axes)
    largest = xp.where(xp.isfinite(largest), largest, 0.0)
    return xp.log(xp.sum(xp.exp(x - _keep(xp, largest, axes)), axis=axes)) + largest


def _softmax(xp, x, axes, source):
    """exp(x - m) / sum exp(x - m) over the axes: no overflow."""
    if not axes:
        return xp.ones_like(x)
    largest = xp.max(x, axis=axes, keepdims=True)
    shifted = xp.exp(x - xp.where(xp.isfinite(largest), largest, 0.0))
    return shifted / xp.sum(shifted, axis=axes, keepdims=True)


def logsumexp_jvp(tangent, x, out=None, node=None):  # d lse = sum(softmax(x) dx)
    weights = softmax(x, axes=node.params["axes"], source=node.params["source"])
    return sum_(weights * tangent, axes=node.params["axes"], source=node.params["source"])


def logsumexp_vjp(cotangent, x, out=None, node=None):  # dx = softmax(x) * ct
    return softmax(x, axes=node.params["axes"], source=node.params["source"]) * _spread(cotangent, node)


def _softmax_linear(direction, out, node):
    """The softmax Jacobian (symmetric) applied: s * (v - sum(s v))."""
    weighted = sum_(out * direction, axes=node.params["axes"], source=node.params["source"])
    return out * (direction - _spread(weighted, node))


def softmax_jvp(tangent, x, out=None, node=None):
    return _softmax_linear(tangent, out, node)


def softmax_vjp(cotangent, x, out=None, node=None):
    return _softmax_linear(cotangent, out, node)


# m + ln Σ exp(x - m) may cancel to near 0 while m does not; logsumexp(|x|) >= |m| bounds it.
logsumexp = over_axes("logsumexp", _logsumexp, logsumexp_jvp, logsumexp_vjp, sums=True)
softmax = over_axes("softmax", _softmax, softmax_jvp, softmax_vjp, keeps_shape=True)


# ---- indexing and slicing (0-based, negative from the end) ------------------------------


def _index_key(key) -> tuple:
    """The hashable key (ints and ("slice", start, stop, step)) as NumPy's index."""
    return tuple(slice(*item[1:]) if isinstance(item, tuple) else item for item in key)


def _index(xp, x, key, source):
    return x[_index_key(key)]


def _index_shape(shapes, params):
    try:
        return np.empty(shapes[0], dtype=np.int8)[_index_key(params["key"])].shape
    except IndexError as error:
        raise ShapeError(f"index {_written_key(params['key'])} does not fit shape {shapes[0]}: {error}") from None


def _index_prepare(shapes, params):
    return {"key": tuple(params["key"]), "source": tuple(shapes[0])}


def _unindex(xp, x, key, source):
    """A cotangent of the indexed part, put back into zeros of the source shape."""
    batch = xp.shape(x)[len(_index_shape([source], {"key": key})) :]
    full = xp.zeros(tuple(source) + batch, dtype=x.dtype if hasattr(x, "dtype") else float)
    full[_index_key(key)] = x
    return full


def _written_key(key) -> str:
    parts = []
    for item in key:
        if isinstance(item, tuple):
            start, stop, step = item[1:]
            text = f"{'' if start is None else start}:{'' if stop is None else stop}"
            parts.append(text + (f":{step}" if step is not None else ""))
        else:
            parts.append(str(item))
    return "[" + ", ".join(parts) + "]"


def _chosen_positions(key, source) -> list[list[int]]:
    """For each axis of the source, the positions the key takes, in the order taken."""
    positions = []
    for axis, size in enumerate(source):
        item = key[axis] if axis < len(key) else ("slice", None, None, None)
        positions.append(list(range(size))[slice(*item[1:])] if isinstance(item, tuple) else [item % size])
    return positions


def _unindex_text(params) -> str:
    """unindex in the language, so printed text parses back: a number of a vector as a
    list ([0, v, 0]); otherwise the part with its indexed axes kept as length 1, padded
    along each axis with zeros by concat (exact, as unindex is)."""
    key, source = params["key"], tuple(params["source"])
    positions = _chosen_positions(key, source)
    if len(source) == 1 and not isinstance(key[0], tuple):
        return "[" + ", ".join("{0}" if position in positions[0] else "0" for position in range(source[0])) + "]"
    kept = tuple(len(chosen) for chosen in positions)
    text = "{0}" if kept == _index_shape([source], {"key": key}) else f"reshape({{0}}, {kept})"
    shape = list(kept)
    for axis, chosen in enumerate(positions):
        size = source[axis]
        if chosen == list(range(size)):
            continue
        lead = ":, " * axis
        if chosen[0] > chosen[-1]:  # a negative step: reversed, the part's order is increasing
            text, chosen = f"{text}[{lead}::-1]", chosen[::-1]
        if chosen == list(range(chosen[0], chosen[-1] + 1)):
            runs = [(chosen[0], len(chosen), text)]
        else:  # a step: each position on its own
            runs = [(position, 1, f"{text}[{lead}{j}:{j + 1}]") for j, position in enumerate(chosen)]
        pieces, reached = [], 0
        for first, length, piece in runs + [(size, 0, None)]:
            if first > reached:
                pieces.append(_filled_literal(shape[:axis] + [first - reached] + shape[axis + 1 :], "0"))
            if piece is not None:
                pieces.append(piece)
            reached = first + length
        text = "concat(" + ", ".join(pieces) + (f", axis={axis}" if axis else "") + ")"
        shape[axis] = size
    return text


def index_jvp(tangent, x, out=None, node=None):
    return index(tangent, key=node.params["key"], source=node.params["source"])


def index_vjp(cotangent, x, out=None, node=None):
    return unindex(cotangent, key=node.params["key"], source=node.params["source"])


def unindex_jvp(tangent, x, out=None, node=None):
    return unindex(tangent, key=node.params["key"], source=node.params["source"])


def unindex_vjp(cotangent, x, out=None, node=None):
    return index(cotangent, key=node.params["key"], source=node.params["source"])


index = define(
    Primitive(
        "index",
        _index,
        1,
        shape_rule=_index_shape,
        prepare=_index_prepare,
        elementwise=False,
        jvp=(index_jvp,),
        vjp=(index_vjp,),
        text_form=lambda params: "{0}" + _written_key(params["key"]),
        # Braced, so an operand with a subscript of its own (v_{-1}) gets no double subscript.
        latex_form=lambda params: "{{{0}}}_{{" + _written_key(params["key"])[1:-1] + "}}",
    ),
    function=False,
)
unindex = define(
    Primitive(
        "unindex",
        _unindex,
        1,
        shape_rule=lambda shapes, params: tuple(params["source"]),
        elementwise=False,
        jvp=(unindex_jvp,),
        vjp=(unindex_vjp,),
        text_form=_unindex_text,
    ),
    function=False,
)


# ---- functions of the language made of the ops above -------------------------------------
# Each takes graph nodes and the static arguments, and builds the expression.


def outer_of(a, b):
    """outer(a, b)[i, j] = a[i] b[j]"""
    return reshape(a, shape=a.shape + (1,)) * reshape(b, shape=(1,) + b.shape)


def norm_of(x):
    """The Euclidean (Frobenius) norm: sqrt(sum(x^2))."""
    return sqrt(sum_(x * x))


COMPOSITES = {"outer": (outer_of, 2), "norm": (norm_of, 1)}
FUNCTIONS["dot"] = matmul


# ---- max and min reductions ----------------------------------------------------------------
# max(A) and max(A, axis=0) reduce; max(a, b) with two arguments stays elementwise. The
# cotangent goes to the largest entries, shared equally between ties.


def _is_equal(xp, a, b):
    return (a == b).astype(float)


is_equal = define(
    Primitive(
        "is_equal",
        _is_equal,
        2,
        partials=(0, 0),
        complex_analytic=False,
        reference=lambda a, b: (a == b).astype(float),
        # In the language: 1 - |sign(a - b)| (the same for finite a and b).
        text_form=lambda params: "(1 - abs(sign({0} - {1})))",
    ),
    function=False,
)


def _amax(xp, x, axes, source):
    return xp.max(x, axis=axes) if axes else x


def _amin(xp, x, axes, source):
    return xp.min(x, axis=axes) if axes else x


def _extreme_weights(x, out, node):
    """1/k at the k entries equal to the extreme, 0 elsewhere."""
    mask = is_equal(x, _spread(out, node))
    return mask / _spread(sum_(mask, axes=node.params["axes"], source=node.params["source"]), node)


def extreme_jvp(tangent, x, out=None, node=None):
    return sum_(_extreme_weights(x, out, node) * tangent, axes=node.params["axes"], source=node.params["source"])


def extreme_vjp(cotangent, x, out=None, node=None):
    return _extreme_weights(x, out, node) * _spread(cotangent, node)


def _extreme_text(name):
    """Written as the language writes the reduction: max(A) or max(A, axis=(0,))."""

    def form(params):
        axes = _written_axes(params)
        return f"{name}({{0}}" + (f", axis={axes[0]})" if axes else ")")

    return form


amax = over_axes("amax", _amax, extreme_jvp, extreme_vjp, function=False, called="max", text_form=_extreme_text("max"), latex=r"\max", kink=_shared_extreme(np.max))
amin = over_axes("amin", _amin, extreme_jvp, extreme_vjp, function=False, called="min", text_form=_extreme_text("min"), latex=r"\min", kink=_shared_extreme(np.min))
# One argument (or an axis): the reduction; two arguments: elementwise.
REDUCING_FORMS = {"max": amax, "min": amin, "maximum": amax, "minimum": amin}


# ---- stacking and joining -----------------------------------------------------------------


def _stack(xp, *arrays, count):
    return xp.stack(xp.broadcast_arrays(*arrays), axis=0)


def _stack_shape(shapes, params):
    if len(set(shapes)) > 1:
        raise ShapeError(f"stacked values must have one shape; got {', '.join(map(str, shapes))}")
    return (len(shapes),) + tuple(shapes[0])


def stack_jvp_at(position):
    def rule(tangent, *args, out=None, node=None):
        return unindex(tangent, key=(position,), source=node.shape)

    return rule


def stack_vjp_at(position):
    def rule(cotangent, *args, out=None, node=None):
        return index(cotangent, key=(position,), source=node.shape)

    return rule


class _PerPosition(tuple):
    """Rules for any number of operands: entry i is made on demand."""

    def __new__(cls, make):
        instance = super().__new__(cls, ())
        instance.make = make
        return instance

    def __len__(self):
        return 1 << 30

    def __getitem__(self, position):
        return self.make(position)


stack = define(
    Primitive(
        "stack",
        _stack,
        -1,
        shape_rule=_stack_shape,
        prepare=lambda shapes, params: {"count": len(shapes)},
        # Written as the list literal it came from: [a, b, c].
        text_form=lambda params: "[" + ", ".join("{%d}" % k for k in range(params["count"])) + "]",
        elementwise=False,
        jvp=_PerPosition(stack_jvp_at),
        vjp=_PerPosition(stack_vjp_at),
    ),
    function=False,
)


def _concat(xp, *arrays, axis, sizes):
    return xp.concatenate(arrays, axis=axis)


def _concat_prepare(shapes, params):
    axis = params.get("axis", 0) or 0
    rank = len(shapes[0])
    if not -rank <= axis < rank:
        raise ShapeError(f"axis {axis} is out of range for shape {shapes[0]}")
    axis %= rank
    return {"axis": axis, "sizes": tuple(shape[axis] for shape in shapes)}


def _concat_shape(shapes, params):
    axis = params["axis"]
    rest = {shape[:axis] + shape[axis + 1 :] for shape in shapes}
    if len(rest) > 1 or len({len(shape) for shape in shapes}) > 1:
        raise ShapeError(f"cannot join shapes {', '.join(map(str, shapes))} along axis {axis}")
    shape = list(shapes[0])
    shape[axis] = sum(params["sizes"])
    return tuple(shape)


def _concat_key(node, position):
    start = sum(node.params["sizes"][:position])
    return (("slice", None, None, None),) * node.params["axis"] + (("slice", start, start + node.params["sizes"][position], None),)


def concat_jvp_at(position):
    def rule(tangent, *args, out=None, node=None):
        return unindex(tangent, key=_concat_key(node, position), source=node.shape)

    return rule


def concat_vjp_at(position):
    def rule(cotangent, *args, out=None, node=None):
        return index(cotangent, key=_concat_key(node, position), source=node.shape)

    return rule


concat = define(
    Primitive(
        "concat",
        _concat,
        -1,
        shape_rule=_concat_shape,
        prepare=_concat_prepare,
        elementwise=False,
        static=("axis",),
        jvp=_PerPosition(concat_jvp_at),
        vjp=_PerPosition(concat_vjp_at),
        written=lambda params: [f"axis={params['axis']}"] if params["axis"] else [],
    )
)


def diag_of(x):
    """diag(v): the matrix with v on its diagonal; diag(A): A's diagonal."""
    if len(x.shape) == 1:
        return reshape(x, shape=x.shape + (1,)) * x.graph.const(np.eye(x.shape[0]))
    if len(x.shape) == 2 and x.shape[0] == x.shape[1]:
        return sum_(x * x.graph.const(np.eye(x.shape[0])), axis=1)
    raise ShapeError(f"diag takes a vector or a square matrix, not shape {x.shape}")


def trace_of(x):
    """The sum of a square matrix's diagonal."""
    if len(x.shape) != 2 or x.shape[0] != x.shape[1]:
        raise ShapeError(f"trace takes a square matrix, not shape {x.shape}")
    return sum_(diag_of(x))


COMPOSITES.update({"diag": (diag_of, 1), "trace": (trace_of, 1)})


# ---- the product reduction ------------------------------------------------------------------
# d prod(x)/dx_i is the product of the other entries of x_i's group (the entries reduced
# together). prod(x)/x_i would be NaN at a zero, so the product of the others is an op of
# its own, computed without division. With directions it gives its own derivatives:
# prod_others(x, v_1, ..., v_k)_i is the sum, over distinct j_1, ..., j_k other than i,
# of v_1[j_1] ... v_k[j_k] times the product of the entries other than i, j_1, ..., j_k.
# That is prod's derivative tensor of order k + 1 contracted with the directions, and the
# tensor is symmetric in all its indices. So the derivative in x adds a direction, in v_m
# replaces v_m, and a VJP is the JVP with the cotangent in that slot: derivatives of every
# order stay exact at zeros.


def _groups_first(xp, x, axes, source):
    """x with its reduced axes moved to the front and flattened into one axis (the
    entries of a group), then the kept axes and any batch axes."""
    moved = xp.moveaxis(xp.asarray(x), tuple(axes), tuple(range(len(axes))))
    return xp.reshape(moved, (math.prod(source[axis] for axis in axes),) + xp.shape(moved)[len(axes) :])


def _groups_back(xp, flat, axes, source):
    """The inverse of _groups_first."""
    moved = xp.reshape(flat, tuple(source[axis] for axis in axes) + xp.shape(flat)[1:])
    return xp.moveaxis(moved, tuple(range(len(axes))), tuple(axes))


def _with_batch_rank(xp, x, rank):
    """x with length-1 batch axes appended up to ``rank``: batch axes line up from the front."""
    x = xp.asarray(x)
    return xp.reshape(x, xp.shape(x) + (1,) * (rank - xp.ndim(x)))


def _exclusive_dual_products(xp, entries, directions):
    """prod_{j < i} (x_j + sum_m v_m[j] eps_m) for each i, where eps_m^2 = 0: one array
    (stacked over i) per subset of the eps, bit m of its index standing for eps_m."""
    subsets = 1 << len(directions)
    running = [xp.ones_like(entries[0])] + [xp.zeros_like(entries[0])] * (subsets - 1)
    stacked = []
    for j in range(xp.shape(entries)[0]):
        stacked.append(running)
        # (p + ...)(x_j + sum_m v_m[j] eps_m): coefficient s gains p[s] x_j and, for each
        # eps_m in s, p[s without eps_m] v_m[j].
        running = [
            running[subset] * entries[j]
            + sum(running[subset ^ (1 << m)] * direction[j] for m, direction in enumerate(directions) if subset >> m & 1)
            for subset in range(subsets)
        ]
    return [xp.stack([row[subset] for row in stacked]) for subset in range(subsets)]


def _prod_others(xp, x, *directions, axes, source):
    """prod_{j != i} x_j over each group, and with directions its derivatives along them
    (see above): products taken from both ends, never divided."""
    rank = max(xp.ndim(value) for value in (x, *directions))
    arrays = xp.broadcast_arrays(*(_with_batch_rank(xp, value, rank) for value in (x, *directions)))
    entries, *directions = (_groups_first(xp, value, axes, source) for value in arrays)
    if xp.shape(entries)[0] == 0:
        return xp.zeros_like(arrays[0]) if directions else xp.ones_like(arrays[0])
    if not directions:  # (x_0 ... x_{i-1}) (x_{i+1} ... x_{n-1}), exclusive cumulative products
        one = xp.ones_like(entries[:1])
        before = xp.concatenate([one, xp.cumprod(entries[:-1], axis=0)])
        after = xp.flip(xp.concatenate([one, xp.cumprod(xp.flip(entries[1:], axis=0), axis=0)]), axis=0)
        return _groups_back(xp, before * after, axes, source)
    before = _exclusive_dual_products(xp, entries, directions)
    reversed_products = _exclusive_dual_products(xp, xp.flip(entries, axis=0), [xp.flip(v, axis=0) for v in directions])
    after = [xp.flip(part, axis=0) for part in reversed_products]
    # The coefficient of eps_1 ... eps_k in before * after.
    every = len(before) - 1
    product = sum(before[subset] * after[every ^ subset] for subset in range(len(before)))
    return _groups_back(xp, product, axes, source)


def _prod_others_shape(shapes, params):
    if len(set(shapes)) > 1:
        raise ShapeError(f"prod_others needs operands of one shape; got {', '.join(map(str, shapes))}")
    return shapes[0]


def prod_others_rule_at(position):
    """The JVP rule for operand ``position``; the derivative tensor being symmetric, it
    is the VJP rule too, with the cotangent for the tangent."""

    def rule(tangent, x, *directions, out=None, node=None):
        if position == 0:
            directions = (*directions, tangent)
        else:
            directions = directions[: position - 1] + (tangent,) + directions[position:]
        return prod_others(x, *directions, axes=node.params["axes"], source=node.params["source"])

    return rule


prod_others = define(
    Primitive(
        "prod_others",
        _prod_others,
        -1,
        shape_rule=_prod_others_shape,
        prepare=_reduction_prepare,
        elementwise=False,
        jvp=_PerPosition(prod_others_rule_at),
        vjp=_PerPosition(prod_others_rule_at),
        static=("axis",),
        # Callable, so printed derivatives of prod parse back: prod_others(x, axis=(0,)).
        written=lambda params: [f"axis={axes}" for axes in _written_axes(params)],
        latex=r"\operatorname{prod\_others}",
    ),
)


def _prod(xp, x, axes, source):
    return xp.prod(x, axis=axes) if axes else x


def prod_jvp(tangent, x, out=None, node=None):  # d prod(x) = sum_i (prod_{j != i} x_j) dx_i
    axes, source = node.params["axes"], node.params["source"]
    return sum_(prod_others(x, axes=axes, source=source) * tangent, axes=axes, source=source)


def prod_vjp(cotangent, x, out=None, node=None):  # dx_i = ct prod_{j != i} x_j
    return prod_others(x, axes=node.params["axes"], source=node.params["source"]) * _spread(cotangent, node)


prod = over_axes("prod", _prod, prod_jvp, prod_vjp, latex=r"\prod")

# ---- matrix notation ----------------------------------------------------------------------
# How derivatives of array programs are written for people (dcalc diff): each form takes
# the node and the notation (printer.MatrixNotation: Unicode or LaTeX pieces) and gives a
# printer.Form, or None to write the node as the language does.


def _size_one(node) -> bool:
    return math.prod(node.shape) == 1


def _mul_matrix_form(node, notation):
    """s A for a scalar s; f² for f*f; g xᵀ for a column times a vector (an outer
    product); a ⊙ b for the elementwise product of arrays."""
    a, b = node.inputs
    shown_a, shown_b = notation.shown(a), notation.shown(b)
    if a is b and len(shown_a.shape) <= 1:
        return Form("{0}" + notation.power(2, False), PREC_POW, atoms=(0,), operands=(shown_a,))
    if _size_one(shown_a) or _size_one(shown_b):
        # The scalar first (a number first of two scalars): s A, 2 x.
        a_first = _size_one(shown_a) and not (_size_one(shown_b) and shown_b.is_const)
        scalar, other = (shown_a, shown_b) if a_first else (shown_b, shown_a)
        return Form("{0} {1}", PREC_MUL, "scale", operands=(scalar, other))
    if len(node.shape) == 2:
        rows, columns = node.shape
        for column, row in ((a, b), (b, a)):
            if column.shape == (rows, 1) and row.shape in ((columns,), (1, columns)):
                shown_row = notation.shown(row)
                mark = notation.transposed if len(shown_row.shape) == 1 else ""
                return Form("{0} {1}" + mark, PREC_MUL, "matmul", atoms=(1,) if mark else (), operands=(notation.shown(column), shown_row))
    return Form("{0}" + notation.hadamard + "{1}", PREC_MUL, "hadamard")


def _matmul_matrix_form(node, notation):
    """A x, A B; a vector on the left is a row (xᵀ A, xᵀ y); a reshaped vector is
    written as the vector, with ᵀ where it stands as a row."""
    rank_a, rank_b = node.params["ranks"]
    a, b = node.inputs
    row_left = rank_a == 1 or (a.shape[-2] == 1 and len(notation.shown(a).shape) == 1)
    row_right = rank_b >= 2 and b.shape[-2] == 1 and len(notation.shown(b).shape) == 1
    mark = notation.transposed
    template = "{0}" + (mark if row_left else "") + " {1}" + (mark if row_right else "")
    atoms = tuple(position for position, row in ((0, row_left), (1, row_right)) if row)
    return Form(template, PREC_MUL, "matmul", atoms=atoms)


def _pow_matrix_form(node, notation):
    """f², x⁻¹; A⊙² for a matrix. Other exponents as the language writes them."""
    base, exponent = node.inputs
    if not (exponent.is_const and np.ndim(exponent.value) == 0 and float(exponent.value).is_integer() and abs(exponent.value) < 1000):
        return None
    return Form("{0}" + notation.power(int(exponent.value), len(base.shape) >= 2), PREC_POW, atoms=(0,), operands=(base,))


def _transpose_matrix_form(node, notation):
    perm = node.params["perm"]
    if perm == tuple(reversed(range(len(perm)))):
        return Form("{0}" + notation.transposed, PREC_POW, atoms=(0,))
    return Form(notation.call("transpose", "{0}", str(perm)), PREC_ATOM, delimited=(0,))


def _reshape_matrix_form(node, notation):
    """Adding or dropping length-1 axes is not written: a vector serves as a column."""
    if [size for size in node.params["source"] if size != 1] == [size for size in node.shape if size != 1]:
        return TRANSPARENT
    return Form(notation.call("reshape", "{0}", str(node.shape)), PREC_ATOM, delimited=(0,))


def _sum_matrix_form(node, notation):
    axes = node.params["axes"]
    return notation.sum_over(None if len(axes) == len(node.params["source"]) else axes)


def _sum_to_matrix_form(node, notation):
    """Σ over the axes summed; the length-1 axes it keeps are not written."""
    axes = _summed_axes(node.params["shape"], node.params["source"])
    return notation.sum_over(None if len(axes) == len(node.params["source"]) else axes)


def _broadcast_to_matrix_form(node, notation):
    """s 𝟏 for a scalar spread over an array, x 𝟏ᵀ for a column spread over the
    columns of a matrix, 𝟏 xᵀ for a row spread over its rows (𝟏: ones)."""
    (x,) = node.inputs
    shown = notation.shown(x)
    if _size_one(x):
        return Form("{0} " + notation.ones, PREC_MUL, "scale", operands=(shown,))
    padded = (1,) * (len(node.shape) - len(x.shape)) + x.shape
    if len(node.shape) == 2 and padded == (node.shape[0], 1):
        return Form("{0} " + notation.ones + notation.transposed, PREC_MUL, "matmul", operands=(shown,))
    if len(node.shape) == 2 and padded == (1, node.shape[1]):
        mark = notation.transposed if len(shown.shape) == 1 else ""
        return Form(notation.ones + " {0}" + mark, PREC_MUL, "matmul", atoms=(0,) if mark else (), operands=(shown,))
    return None


def _const_matrix_form(node, notation):
    """𝟏 and 𝟎 for arrays of ones and zeros (the derivative of sum(A) is 𝟏)."""
    value = node.value
    if np.ndim(value) == 0 or np.size(value) < 2 or not np.all(value == np.ravel(value)[0]):
        return None
    if np.ravel(value)[0] == 1:
        return Form(notation.ones, PREC_ATOM)
    if np.ravel(value)[0] == 0:
        return Form(notation.zeros, PREC_ATOM)
    return None


def _is_equal_matrix_form(node, notation):
    """[a = b]: 1 where equal, 0 elsewhere (Iverson's bracket)."""
    return Form(notation.iverson(), PREC_ATOM, delimited=(0, 1))


mul.matrix_form = _mul_matrix_form
matmul.matrix_form = _matmul_matrix_form
power.matrix_form = _pow_matrix_form
transpose.matrix_form = _transpose_matrix_form
reshape.matrix_form = _reshape_matrix_form
sum_.matrix_form = _sum_matrix_form
sum_to.matrix_form = _sum_to_matrix_form
broadcast_to.matrix_form = _broadcast_to_matrix_form
is_equal.matrix_form = _is_equal_matrix_form
CONST.matrix_form = _const_matrix_form
