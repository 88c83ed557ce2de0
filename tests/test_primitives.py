"""Every primitive evaluates like NumPy on its domain, driven by the table.

A new primitive is tested here without new test code: the table gives its name,
arity, the intervals its arguments may be sampled from, and a NumPy reference.
"""

import numpy as np
import pytest

import dcalc
from dcalc import parse_program, primitives
from dcalc.engines import run_engine
from dcalc.evaluation import evaluate

# Elementwise primitives, tested on points of their domain; the tensor primitives
# are driven over shapes in tests/test_tensors.py.
CALLABLE = sorted(
    {prim.name: prim for prim in primitives.FUNCTIONS.values() if prim.elementwise}.values(), key=lambda prim: prim.name
)
INFIX = [primitives.TABLE[name] for name in ("add", "sub", "mul", "div", "pow", "neg")]


@pytest.mark.parametrize("prim", CALLABLE + INFIX, ids=lambda prim: prim.name)
def test_primitive_matches_numpy(prim):
    rng = np.random.default_rng(20261122)
    arguments = primitives.sample_arguments(prim, rng, 64)
    names = [f"a{k}" for k in range(prim.arity)]
    graph = parse_program(primitives.call_text(prim, names))
    # The whole batch of points goes through the evaluator at once.
    (ours,) = evaluate(graph, dict(zip(names, arguments)))
    expected = prim.reference(*arguments)
    assert ours.shape == expected.shape
    # Same ufunc for most; the stable sigmoid/softplus forms differ from the
    # naive reference by a few ulps.
    np.testing.assert_allclose(ours, expected, rtol=4e-15, atol=0)


@pytest.mark.parametrize("prim", CALLABLE + INFIX, ids=lambda prim: prim.name)
def test_primitive_declares_its_domain(prim):
    assert len(prim.domain) == prim.arity
    for intervals in prim.domain:
        assert intervals and all(low < high for low, high in intervals)


@pytest.mark.parametrize("name", ["sigmoid", "softplus"])
def test_stable_forms_do_not_overflow(name):
    graph = parse_program(f"{name}(x)")
    (values,) = evaluate(graph, {"x": np.array([-1000.0, 0.0, 1000.0])})
    assert np.all(np.isfinite(values))
    expected = {"sigmoid": [0.0, 0.5, 1.0], "softplus": [0.0, np.log(2.0), 1000.0]}[name]
    np.testing.assert_allclose(values, expected, rtol=1e-15, atol=0)


def test_aliases_reach_the_same_primitive():
    for alias, name in [("arcsin", "asin"), ("arctan2", "atan2"), ("maximum", "max")]:
        assert primitives.FUNCTIONS[alias] is primitives.TABLE[name]


def test_matmul_shapes():
    graph = parse_program("A @ x", shapes={"A": (2, 3), "x": (3,)})
    A = np.arange(6.0).reshape(2, 3)
    x = np.array([1.0, -1.0, 2.0])
    np.testing.assert_array_equal(evaluate(graph, {"A": A, "x": x})[0], A @ x)


SCALAR_FORMS = sorted((prim for prim in primitives.TABLE.values() if prim.scalar is not None), key=lambda prim: prim.name)
SPECIAL = [0.0, -0.0, 1.0, -1.0, 1e300, -1e300, 1000.0, -1000.0, float("inf"), float("-inf"), float("nan")]


@pytest.mark.parametrize("prim", SCALAR_FORMS, ids=lambda prim: prim.name)
def test_scalar_forms_give_what_the_array_impl_gives(prim):
    """The float fast path (evaluation.compile_scalar) must not change a value: on the
    domain and at special values (where math raises and NumPy's impl answers), the
    float form and the impl agree, NaN and infinities included."""
    from itertools import product

    from dcalc.evaluation import scalar_step

    rng = np.random.default_rng(7)
    sampled = zip(*primitives.sample_arguments(prim, rng, 32))
    special = product(SPECIAL, repeat=prim.arity)
    fallback = lambda *args: prim.impl(np, *args)  # noqa: E731
    for arguments in [*sampled, *special]:
        arguments = [float(argument) for argument in arguments]
        with np.errstate(all="ignore"):
            expected = float(prim.impl(np, *[np.float64(argument) for argument in arguments]))
        got = scalar_step(prim.scalar, fallback, *arguments)
        if np.isnan(expected):
            assert np.isnan(got), (arguments, got)
        else:
            # libm and NumPy's vectorised loops may round transcendental functions differently.
            assert got == pytest.approx(expected, rel=4 * np.finfo(float).eps, abs=0), (arguments, got, expected)


def _d(x: float):
    from decimal import Decimal

    return Decimal(x)  # the float's exact value


# Derivatives where the usual formula cancels: 1 - tanh^2, s (1 - s), 1 - x^2 and
# expm1 + 1 lose every digit in these tails; references to 50 digits (decimal).
TAILS = [
    ("tanh", 20.0, lambda x: 4 / (x.exp() + (-x).exp()) ** 2),
    ("sigmoid", 40.0, lambda x: (-x).exp() / (1 + (-x).exp()) ** 2),
    ("sigmoid", -40.0, lambda x: (-x).exp() / (1 + (-x).exp()) ** 2),
    ("expm1", -40.0, lambda x: x.exp()),
    ("acos", 0.9999999999, lambda x: -1 / (1 - x * x).sqrt()),
    ("asin", -0.9999999999, lambda x: 1 / (1 - x * x).sqrt()),
    ("atanh", 0.999999999999, lambda x: 1 / (1 - x * x)),
]


@pytest.mark.parametrize("name, x, exact", TAILS, ids=[f"{case[0]} at {case[1]}" for case in TAILS])
def test_derivatives_keep_their_digits_in_the_tails(name, x, exact):
    from decimal import localcontext

    problem = dcalc.load(f"{name}(x)", {"x": x})
    with localcontext() as context:
        context.prec = 50
        truth = float(exact(_d(x)))
    for engine in ("reverse", "forward", "symbolic"):
        got = float(run_engine(engine, problem.graph, problem.values).jacobian[("y", "x")])
        assert abs(got - truth) <= 1e-14 * abs(truth), (engine, got, truth)


# Second derivatives in the tails: the slopes' own partials keep them (the product rule
# on (1 - x)(1 + x) would cancel near 0; 1/cosh^2 differentiated as a quotient is
# inf/inf past x = 710).
SECOND = [
    ("asin", 1e-10, 1e-10),  # x/(1 - x^2)^(3/2)
    ("atanh", 1e-17, 2e-17),  # 2x/(1 - x^2)^2
    ("acos", 1e-10, -1e-10),
    ("tanh", 720.0, 0.0),  # -2 tanh sech^2: underflows to 0
    ("sigmoid", 1e-9, -1.25e-10),  # -s(x) s(-x) tanh(x/2) = -x/8 near 0
]


@pytest.mark.parametrize("name, x, exact", SECOND, ids=[f"{case[0]} at {case[1]}" for case in SECOND])
def test_second_derivatives_keep_their_digits(name, x, exact):
    from dcalc.engines.second import hessian

    problem = dcalc.load(f"{name}(x)", {"x": x})
    for engine in ("forward", "symbolic"):
        got = float(hessian(problem.graph, problem.values, ["x"], engine).matrix()[0, 0])
        assert abs(got - exact) <= 1e-14 * abs(exact), (engine, got)

