"""Vectors and matrices: every engine agrees on array programs over many shapes,
broadcast ones included, and reverse mode undoes broadcasting by summing."""

import re

import numpy as np
import pytest

import dcalc
from dcalc.compare import max_rel_diff
from dcalc.engines import ENGINE_NAMES, run_engine
from dcalc.engines.second import hessian

# ---- every tensor op over several shapes, from one table ----------------------------------

# op -> programs that use it, each run at several shapes of its inputs: vectors,
# matrices, stacked matrices and operands that broadcast. Keys are the primitive
# table's tensor ops and the language's functions made of them (dot, outer, norm,
# diag, trace); the ops that only derivative rules build (broadcast_to, sum_to,
# unindex, prod_others) are reached through the rows that need them.
# test_every_tensor_primitive_has_a_case keeps this table complete.
V, M, S = (3,), (2, 3), (2, 3, 2)  # a vector, a matrix, a stack of matrices
OPS = {
    "matmul": [
        (
            "A @ B",
            [
                {"A": (3,), "B": (3,)},
                {"A": (2, 3), "B": (3,)},
                {"A": (3,), "B": (3, 4)},
                {"A": (2, 3), "B": (3, 4)},
                {"A": (2, 2, 3), "B": (3,)},
                {"A": (3,), "B": (2, 3, 4)},
                {"A": (2, 2, 3), "B": (3, 4)},
                {"A": (2, 3), "B": (2, 3, 4)},
                {"A": (2, 2, 3), "B": (2, 3, 4)},
                {"A": (2, 1, 2, 3), "B": (3, 3, 2)},  # stacks that broadcast against each other
            ],
        ),
        ("A.T @ A", [{"A": (3, 2)}, {"A": (2, 2)}, {"A": (4, 1)}]),
    ],
    "dot": [("dot(x, y)", [{"x": (3,), "y": (3,)}, {"x": (2, 3), "y": (3,)}, {"x": (3,), "y": (3, 2)}])],
    "transpose": [
        ("transpose(A)", [{"A": V}, {"A": M}, {"A": S}]),
        ("transpose(A, (1, 0, 2))", [{"A": S}, {"A": (3, 1, 2)}]),
        ("A.T * x", [{"A": (2, 3), "x": (2,)}, {"A": (2, 3), "x": (3, 1)}]),
    ],
    "reshape": [
        ("reshape(A, (2, -1))", [{"A": (6,)}, {"A": M}, {"A": S}]),
        ("reshape(A, (3, 2)) @ x", [{"A": M, "x": (2,)}, {"A": (6,), "x": (2,)}]),
    ],
    "sum": [
        ("sum(A)", [{"A": ()}, {"A": V}, {"A": M}, {"A": S}]),
        ("sum(A, 0)", [{"A": V}, {"A": M}, {"A": S}]),
        ("sum(A, (0, -1))", [{"A": M}, {"A": S}]),
        ("sum(A * x, axis=1)", [{"A": M, "x": (3,)}, {"A": S, "x": (3, 1)}]),
    ],
    "mean": [
        ("mean(A)", [{"A": V}, {"A": M}, {"A": S}]),
        ("mean(A, -1)", [{"A": M}, {"A": S}]),
        ("mean(A + x, (0, 2))", [{"A": S, "x": (2,)}, {"A": S, "x": (3, 1)}]),
    ],
    "prod": [
        ("prod(A)", [{"A": ()}, {"A": V}, {"A": M}, {"A": S}]),
        ("prod(A, 0)", [{"A": V}, {"A": M}, {"A": S}]),
        ("prod(A, (0, 1))", [{"A": M}, {"A": S}]),
        ("prod(A, axis=1)", [{"A": M}, {"A": S}]),
        ("prod(A * x, 1)", [{"A": M, "x": (3,)}, {"A": M, "x": (2, 1)}, {"A": S, "x": ()}]),
    ],
    "amax": [
        ("max(A)", [{"A": V}, {"A": M}, {"A": S}]),
        ("max(A, axis=0)", [{"A": M}, {"A": S}]),
        ("max(A - x, axis=(0, 2))", [{"A": S, "x": (2,)}, {"A": S, "x": ()}]),
    ],
    "amin": [
        ("min(A)", [{"A": V}, {"A": M}, {"A": S}]),
        ("min(A, axis=-1)", [{"A": M}, {"A": S}]),
        ("min(A * x, axis=(1, 2))", [{"A": S, "x": (3, 1)}]),
    ],
    "logsumexp": [
        ("logsumexp(A)", [{"A": V}, {"A": M}, {"A": S}]),
        ("logsumexp(A, 1)", [{"A": M}, {"A": S}]),
        ("logsumexp(A + x, (0, 2))", [{"A": S, "x": (3, 1)}]),
    ],
    "softmax": [
        ("softmax(A)", [{"A": V}, {"A": M}, {"A": S}]),
        ("softmax(A, 0) * B", [{"A": M, "B": M}, {"A": S, "B": (3, 2)}]),
        ("softmax(A * x, (1, 2))", [{"A": S, "x": (2,)}]),
    ],
    "index": [
        ("A[0]", [{"A": V}, {"A": M}, {"A": S}]),
        ("A[-1, 1:]", [{"A": M}, {"A": S}]),
        ("A[1:3, ::2]", [{"A": (4, 5)}, {"A": (3, 3, 2)}]),
        ("x[1] * x[-1] + sum(A[0, :])", [{"x": V, "A": M}, {"x": (2, 2), "A": S}]),
        ("A[::-1] * x", [{"A": M, "x": (3,)}, {"A": (3, 2), "x": (3, 1)}]),
    ],
    "stack": [
        ("[x, x*y, 2] * z", [{"x": (), "y": (), "z": (3,)}]),
        ("[A, sin(B)]", [{"A": V, "B": V}, {"A": M, "B": M}, {"A": S, "B": S}]),
    ],
    "concat": [
        ("concat(x, y)", [{"x": (2,), "y": (3,)}, {"x": (1,), "y": (1,)}, {"x": (2, 3), "y": (1, 3)}]),
        ("concat(A, B, axis=-1)", [{"A": (2, 1), "B": M}, {"A": (2, 3, 1), "B": S}]),
    ],
    "outer": [("outer(x, y)", [{"x": (3,), "y": (2,)}, {"x": (1,), "y": (4,)}, {"x": (4,), "y": (4,)}])],
    "norm": [("norm(A)", [{"A": V}, {"A": M}, {"A": S}])],
    "diag": [("diag(A)", [{"A": (3,)}, {"A": (1,)}, {"A": (3, 3)}, {"A": (2, 2)}])],
    "trace": [("trace(A)", [{"A": (3, 3)}, {"A": (1, 1)}]), ("trace(A @ B)", [{"A": (2, 3), "B": (3, 2)}])],
    # NumPy's broadcasting in elementwise ops: forward mode spreads tangents with
    # broadcast_to, reverse mode sums cotangents back with sum_to.
    "broadcast_to": [
        (
            "A * x",
            [
                {"A": M, "x": (3,)},
                {"A": M, "x": (2, 1)},
                {"A": S, "x": (3, 1)},
                {"A": (1, 3), "x": (2, 1)},  # both operands broadcast
                {"A": (), "x": M},
            ],
        ),
        ("A + c - s", [{"A": M, "c": (3,), "s": ()}, {"A": S, "c": (1, 2), "s": (2, 1, 1)}]),
    ],
    "sum_to": [("sum(sin(A) * B)", [{"A": M, "B": (3,)}, {"A": (3, 1), "B": (1, 2)}, {"A": S, "B": ()}])],
    # The cotangent of a part, put back in place (the rules of index, stack and concat).
    "unindex": [("sum(A[1:, 0] * x)", [{"A": (3, 2), "x": (2,)}, {"A": (2, 2, 2), "x": (1, 2)}, {"A": (4, 1), "x": ()}])],
    # The derivative of prod: products of the other entries of each group.
    "prod_others": [("prod(sin(A), (0, 2)) * x", [{"A": S, "x": (3,)}, {"A": (1, 2, 3), "x": (2,)}, {"A": (3, 1, 1), "x": (1,)}])],
}
# Programs from the references, with the ops working together.
PROGRAMS = [
    ("e = y - tanh(A @ x + b); L = 0.5*sum(e^2)", {"A": (3, 4), "x": (4,), "b": (3,), "y": (3,)}),
    ("q = x @ (A @ x)", {"x": (3,), "A": (3, 3)}),
    ("f = W @ tanh(M @ x); L = logsumexp(f) - f[2]", {"M": (6, 5), "x": (5,), "W": (4, 6)}),
    ("Y = W @ V + B; L = sum(Y * Y)", {"W": (3, 2), "V": (2, 5), "B": (3, 1)}),
    ("max(A, axis=0) * min(A, axis=1)[0] + prod(A, 0)", {"A": (3, 4)}),
]
CASES = [(text, shapes) for rows in OPS.values() for text, shape_sets in rows for shapes in shape_sets] + PROGRAMS


def case_id(case) -> str:
    text, shapes = case
    return f"{text} at " + ", ".join(f"{name}{shape}" for name, shape in shapes.items())


def point(shapes, seed=0):
    rng = np.random.default_rng(seed)
    return {name: rng.normal(size=shape) for name, shape in shapes.items()}


@pytest.mark.parametrize("text, shapes", CASES, ids=[case_id(case) for case in CASES])
def test_every_engine_agrees_on_array_programs(text, shapes):
    problem = dcalc.load(text, point(shapes))
    reference = run_engine("reverse", problem.graph, problem.values)
    for name in ENGINE_NAMES[1:]:
        result = run_engine(name, problem.graph, problem.values)
        for key, block in reference.jacobian.items():
            output = problem.graph.outputs[problem.graph.output_names.index(key[0])]
            assert result.jacobian[key].shape == output.shape + problem.graph.input_named(key[1]).shape
        if name == "numeric":
            for key, block in result.jacobian.items():
                assert np.all(np.abs(block - reference.jacobian[key]) <= result.error[key]), key
        else:
            assert max_rel_diff(reference, result) <= 1e-12, name


def scalar_program(text: str) -> str:
    """The program's output taken to one number through a nonlinearity, h = sum(sin(out)),
    so that its Hessian sends every op's derivative rules through a second differentiation."""
    assigned = re.match(r"\s*(\w+)\s*=(?!=)", text.rsplit(";", 1)[-1])
    if assigned is None:
        return f"out = {text}; h = sum(sin(out))"
    return f"{text}; h = sum(sin({assigned.group(1)}))"


@pytest.mark.parametrize("text, shapes", CASES, ids=[case_id(case) for case in CASES])
def test_every_hessian_engine_agrees_on_array_programs(text, shapes):
    problem = dcalc.load(scalar_program(text), point(shapes, seed=1))
    symbolic = hessian(problem.graph, problem.values, engine="symbolic")
    scale = float(np.max(np.abs(symbolic.matrix())))
    assert scale > 0
    forward_over_reverse = hessian(problem.graph, problem.values, engine="forward")
    assert float(np.max(np.abs(forward_over_reverse.matrix() - symbolic.matrix()))) <= 1e-12 * scale
    numeric = hessian(problem.graph, problem.values, engine="numeric")
    for key, block in numeric.blocks.items():
        assert np.all(np.abs(block - symbolic.blocks[key]) <= numeric.error[key]), key


def test_tanh_layer_matches_the_hand_derivation():
    values = point({"A": (3, 4), "x": (4,), "b": (3,), "y": (3,)}, seed=4)
    problem = dcalc.load("e = y - tanh(A @ x + b); L = 0.5*sum(e^2)", values)
    gradient = run_engine("reverse", problem.graph, problem.values).gradient()
    f = np.tanh(values["A"] @ values["x"] + values["b"])
    e = values["y"] - f
    np.testing.assert_allclose(gradient["b"], -(e * (1 - f**2)), rtol=1e-13)
    np.testing.assert_allclose(gradient["A"], np.outer(-(e * (1 - f**2)), values["x"]), rtol=1e-13)


def test_broadcast_bias_gradient_sums_over_the_batch():
    # Y[I, N] = W[I, J] V[J, N] + B[I]: the gradient w.r.t. B is the sum over N of the output adjoint.
    values = point({"W": (3, 2), "V": (2, 5), "B": (3, 1)}, seed=2)
    problem = dcalc.load("Y = W @ V + B; L = sum(Y * Y)", values)
    gradient = run_engine("reverse", problem.graph, problem.values).gradient()
    Y = values["W"] @ values["V"] + values["B"]
    assert gradient["B"].shape == (3, 1)
    np.testing.assert_allclose(gradient["B"], (2 * Y).sum(axis=1, keepdims=True), rtol=1e-13)


def test_quadratic_form_gradient_is_a_plus_a_transpose_times_x():
    values = point({"x": (3,), "A": (3, 3)}, seed=5)
    problem = dcalc.load("q = x @ (A @ x)", values)
    gradient = run_engine("reverse", problem.graph, problem.values).gradient()
    np.testing.assert_allclose(gradient["x"], (values["A"] + values["A"].T) @ values["x"], rtol=1e-13)


def test_reduction_axis_errors(cli):
    for reduction in ("sum", "prod"):
        result = cli("eval", f"{reduction}(A, 2)", "--at", "A=[[1,2],[3,4]]")
        assert result.exit_code == 2 and "axis 2 is out of range for shape (2, 2)" in result.stderr
    result = cli("eval", "A.X", "--at", "A=[[1,2],[3,4]]")
    assert result.exit_code == 2 and "the only one is .T" in result.stderr
    result = cli("eval", "reshape(A, (3, 1))", "--at", "A=[[1,2],[3,4]]")
    assert result.exit_code == 2 and "cannot reshape (2, 2)" in result.stderr


def test_grad_of_an_array_program_through_the_cli(cli):
    import json

    result = cli("grad", "L = 0.5*sum((A @ x - y)^2)", "--at", "A=[[1,2],[3,4]],x=[1,-1],y=[0,1]", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    A, x, y = np.array([[1.0, 2], [3, 4]]), np.array([1.0, -1]), np.array([0.0, 1])
    residual = A @ x - y
    np.testing.assert_allclose(data["gradient"]["x"], A.T @ residual, rtol=1e-14)
    np.testing.assert_allclose(data["gradient"]["A"], np.outer(residual, x), rtol=1e-14)
    assert all(entry["agrees"] for entry in data["engines"].values())


def ops_used(text, shapes, monkeypatch) -> set[str]:
    """The ops of the program's graph, and every op a derivative rule applies (to
    arrays or to nodes) while the exact engines differentiate it."""
    from dcalc.graph import Primitive

    used = set()
    call = Primitive.__call__

    def recording(prim, *args, **params):
        used.add(prim.name)
        return call(prim, *args, **params)

    problem = dcalc.load(text, point(shapes))
    used |= {node.op for node in problem.graph.nodes}
    with monkeypatch.context() as patch:
        patch.setattr(Primitive, "__call__", recording)
        for engine in ("forward", "reverse", "symbolic"):
            run_engine(engine, problem.graph, problem.values)
    return used


def test_every_tensor_primitive_has_a_case(monkeypatch):
    """Every tensor op of the primitive table, and every function of the language made
    of them, has a row in OPS that runs at three shapes or more and uses it."""
    from dcalc import primitives

    tensor_ops = {name for name, prim in primitives.TABLE.items() if not prim.elementwise} - {"input", "const"}
    functions = {name for name, prim in primitives.FUNCTIONS.items() if not prim.elementwise} | set(primitives.COMPOSITES)
    assert tensor_ops | functions <= set(OPS), (tensor_ops | functions) - set(OPS)
    for name, rows in OPS.items():
        assert sum(len(shape_sets) for _, shape_sets in rows) >= 3, name
        for text, shape_sets in rows:
            if name in tensor_ops:
                assert name in ops_used(text, shape_sets[0], monkeypatch), (name, text)
            else:  # a function made of other ops (outer, norm...), or another name of one (dot)
                assert f"{name}(" in text, (name, text)


def test_logsumexp_and_softmax_do_not_overflow():
    values = {"x": np.array([1000.0, 1000.0, -1000.0])}
    problem = dcalc.load("logsumexp(x) + sum(softmax(x) * x)", values)
    result = run_engine("reverse", problem.graph, problem.values)
    assert np.isfinite(result.values[0]) and np.all(np.isfinite(result.jacobian[("y", "x")]))
    assert float(result.values[0]) == pytest.approx(1000 + np.log(2) + 1000, rel=1e-15)


def test_printed_tensor_expressions_parse_back():
    from dcalc.evaluation import evaluate
    from dcalc.printer import to_infix

    shapes = {"A": (3, 4), "x": (4,)}
    text = "A[1:, ::2] * 2 + sum(A, 1)[0] + logsumexp(A @ x) + reshape(A, (4, 3))[0, 1]"
    graph = dcalc.parse_program(text, shapes=shapes)
    again = dcalc.parse_program(to_infix(graph.outputs[0]), shapes=shapes)
    values = point(shapes, seed=9)
    np.testing.assert_array_equal(evaluate(graph, values)[0], evaluate(again, values)[0])


# ---- prod: derivatives exact where entries are zero ----------------------------------------
# d prod(x)/dx_i is the product of the other entries, d^2 prod(x)/dx_i dx_k the product of
# the entries other than i and k (0 for i = k). prod(x)/x_i would be NaN at a zero.

# (x, gradient, Hessian), worked out by hand from the products above.
ZEROS = [
    # One zero: only x_1's gradient survives (2*3*5); the Hessian pairs x_1 with each other
    # entry (H01 = 3*5, H12 = 2*5, H13 = 2*3), all other pairs keep the zero.
    ([2.0, 0.0, 3.0, 5.0], [0.0, 30.0, 0.0, 0.0], [[0, 15, 0, 0], [15, 0, 10, 6], [0, 10, 0, 0], [0, 6, 0, 0]]),
    # Two zeros in one product: every gradient entry keeps a zero; only the pair of the
    # two zeros, H13 = 2*3, does not.
    ([2.0, 0.0, 3.0, 0.0], [0.0, 0.0, 0.0, 0.0], [[0, 0, 0, 0], [0, 0, 0, 6], [0, 0, 0, 0], [0, 6, 0, 0]]),
]


@pytest.mark.parametrize("x, gradient, second", ZEROS, ids=["one zero", "two zeros"])
def test_prod_gradient_and_hessian_at_zeros(x, gradient, second):
    problem = dcalc.load("prod(x)", {"x": np.array(x)})
    for name in ENGINE_NAMES:
        result = run_engine(name, problem.graph, problem.values)
        if name == "numeric":
            assert np.all(np.abs(result.jacobian[("y", "x")] - gradient) <= result.error[("y", "x")])
        else:  # products of small integers: exact
            np.testing.assert_array_equal(result.jacobian[("y", "x")], gradient)
    for engine in ("forward", "symbolic"):
        np.testing.assert_array_equal(hessian(problem.graph, problem.values, engine=engine).matrix(), second)
    numeric = hessian(problem.graph, problem.values, engine="numeric")
    assert np.all(np.abs(numeric.matrix() - np.array(second)) <= numeric.error[("x", "x")])


def test_prod_along_an_axis_at_zeros():
    # prod(A, axis=1) of [[2, 0, 3], [0, 4, 0]] is [0, 0]. Row 0 has one zero: its gradient
    # is [0*3, 2*3, 2*0]; row 1 has two: every product of the others in it keeps a zero.
    A = np.array([[2.0, 0.0, 3.0], [0.0, 4.0, 0.0]])
    expected = np.zeros((2, 2, 3))
    expected[0, 0] = [0.0, 6.0, 0.0]
    problem = dcalc.load("prod(A, axis=1)", {"A": A})
    for name in ENGINE_NAMES:
        result = run_engine(name, problem.graph, problem.values)
        np.testing.assert_array_equal(result.values[0], [0.0, 0.0])
        if name == "numeric":
            assert np.all(np.abs(result.jacobian[("y", "A")] - expected) <= result.error[("y", "A")])
        else:
            np.testing.assert_array_equal(result.jacobian[("y", "A")], expected)


def test_hessian_of_prod_of_a_vector_is_the_product_of_the_other_two():
    x = np.random.default_rng(11).normal(size=5)
    expected = np.array([[0.0 if i == k else np.prod(np.delete(x, [i, k])) for k in range(5)] for i in range(5)])
    problem = dcalc.load("prod(x)", {"x": x})
    scale = np.max(np.abs(expected))
    for engine in ("forward", "symbolic"):
        # Products of three numbers, in another order than np.prod's: a few ulps.
        np.testing.assert_allclose(hessian(problem.graph, problem.values, engine=engine).matrix(), expected, rtol=0, atol=1e-14 * scale)
    numeric = hessian(problem.graph, problem.values, engine="numeric")
    assert np.all(np.abs(numeric.matrix() - expected) <= numeric.error[("x", "x")])


def test_prod_has_derivatives_of_every_order_at_zero():
    # prod([x, x, x, y]) = x^3 y: at x = 0 the derivatives in x are 0, 0, 6y, then 0.
    from dcalc.engines.symbolic import derivative
    from dcalc.evaluation import evaluate

    graph = dcalc.parse_program("prod([x, x, x, y])")
    at = {"x": 0.0, "y": 1.5}
    for order, expected in enumerate([0.0, 0.0, 9.0, 0.0, 0.0], start=1):
        node = derivative(graph, "x", order=order)
        (value,) = evaluate(node.graph, at, outputs=[node])
        assert float(value) == expected, order


def test_prod_goes_through_the_complex_step():
    values = point({"A": (2, 3, 2), "x": (3,)}, seed=3)
    problem = dcalc.load("prod(sin(A), (0, 2)) @ x", values)
    exact = run_engine("reverse", problem.graph, problem.values)
    complex_step = run_engine("numeric", problem.graph, problem.values, method="complex")
    # The complex step has no subtraction: it agrees with the exact engines to rounding.
    assert max_rel_diff(exact, complex_step) <= 1e-14


def test_prod_prints_and_parses_back():
    from dcalc.evaluation import evaluate
    from dcalc.printer import to_infix, to_latex

    shapes = {"A": (2, 3, 2)}
    for text, printed in [("prod(A)", "prod(A)"), ("prod(A, 0)", "prod(A, (0,))"), ("prod(A, axis=(-1, 1))", "prod(A, (1, 2))")]:
        graph = dcalc.parse_program(text, shapes=shapes)
        assert to_infix(graph.outputs[0]) == printed
        again = dcalc.parse_program(printed, shapes=shapes)
        values = point(shapes, seed=8)
        np.testing.assert_array_equal(evaluate(graph, values)[0], evaluate(again, values)[0])
        assert to_latex(graph.outputs[0]).startswith(r"\prod")


# ---- Jacobians and Hessians ----------------------------------------------------------------

QUADRATIC = "x @ (A @ x)"
A_TEXT = "A=[[1,2,0],[0,1,-1],[4,0,1]]"


@pytest.mark.parametrize("engine", ["forward", "symbolic", "numeric"])
def test_hessian_of_a_quadratic_form_is_a_plus_a_transpose(cli, engine):
    import json

    result = cli("hessian", QUADRATIC, "--at", f"x=[1,2,3],{A_TEXT}", "--wrt", "x", "--engine", engine, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    A = np.array([[1.0, 2, 0], [0, 1, -1], [4, 0, 1]])
    tolerance = 1e-7 if engine == "numeric" else 1e-15
    np.testing.assert_allclose(data["hessian"], A + A.T, rtol=tolerance, atol=tolerance)
    assert data["symmetric"] is True and data["value"] == pytest.approx(np.array([1, 2, 3.0]) @ A @ np.array([1, 2, 3.0]))


def test_hessian_vector_product_without_forming_h(cli):
    import json

    result = cli("hessian", QUADRATIC, "--at", f"x=[1,2,3],{A_TEXT}", "--wrt", "x", "--dir", "x=[0,1,-1]", "--json")
    A = np.array([[1.0, 2, 0], [0, 1, -1], [4, 0, 1]])
    np.testing.assert_allclose(json.loads(result.stdout)["hessian_vector_product"]["x"], (A + A.T) @ np.array([0, 1.0, -1]), rtol=1e-15)


def test_hessians_of_the_lecture_function_agree():
    from dcalc.engines.second import hessian

    problem = dcalc.load("ln(x1)+x1*x2-sin(x2)", "x1=2,x2=5")
    expected = np.array([[-0.25, 1.0], [1.0, np.sin(5.0)]])
    for engine in ("forward", "symbolic", "numeric"):
        result = hessian(problem.graph, problem.values, engine=engine)
        np.testing.assert_allclose(result.matrix(), expected, rtol=1e-9, atol=1e-12)
        assert result.asymmetry() <= 1e-12


def test_jacobian_picks_the_cheaper_mode(cli):
    import json

    wide = json.loads(cli("jacobian", "A @ x", "--at", "A=randn(5, 2),x=[1,2]", "--wrt", "x", "--json").stdout)
    assert wide["engine"] == "forward" and "2 input components, 5 output" in wide["why"]
    tall = json.loads(cli("jacobian", "A @ x", "--at", "A=randn(2, 5),x=randn(5)", "--json").stdout)
    assert tall["engine"] == "reverse"
    forced = json.loads(cli("jacobian", "A @ x", "--at", "A=randn(2, 5),x=randn(5)", "--engine", "symbolic", "--json").stdout)
    np.testing.assert_allclose(forced["jacobian"]["y"]["x"], tall["jacobian"]["y"]["x"], rtol=1e-15)
    assert np.array(tall["jacobian"]["y"]["A"]).shape == (2, 2, 5)


def test_grad_saves_arrays_and_shows_tables(cli, tmp_path):
    target = tmp_path / "grads.npz"
    result = cli("grad", "sum(A*A)", "--at", "A=randn(12, 12)", "--engine", "reverse", "--save", str(target))
    assert result.exit_code == 0 and "⋮" in result.stdout and "(shape 12×12)" in result.stdout
    with np.load(target) as saved:
        assert saved["dy/dA"].shape == (12, 12)
        np.testing.assert_allclose(saved["dy/dA"], 2 * np.random.default_rng(0).standard_normal((12, 12)), rtol=1e-15)


# Programs, their --at values, and the inputs to differentiate by: the tanh layer, the
# batched affine map whose bias is broadcast over the batch (its gradient sums over it),
# and broadcasts the other way (a reduction's gradient spreads a value over an array).
CLI_PRINTED_CASES = [
    ("z = A @ x + b\nf = tanh(z)\ne = y - f\nL = 0.5 * sum(e^2)\n", "A=randn(4,3),x=randn(3),b=randn(4),y=randn(4)", "b,A,x"),
    ("Y = W @ V + B; L = sum(Y * Y)", "W=randn(3,2),V=randn(2,4),B=randn(3,1)", "B,W,V"),
    ("L = sum((S @ B + c)^2)", "S=randn(2,3,4),B=randn(4,5),c=randn(5)", "c,S,B"),
    ("L = sum(tanh(A + c))", "A=randn(3,4),c=randn(3,1)", "c,A"),
    ("L = sum(sum(A, 1) * x) + exp(sum(x)) * s", "A=randn(3,4),x=randn(3),s=0.5", "A,x,s"),
]


@pytest.mark.parametrize("program, at, wrt", CLI_PRINTED_CASES, ids=[case[0].split("\n")[0] for case in CLI_PRINTED_CASES])
def test_symbolic_tensor_derivatives_read_like_maths_and_parse_back(cli, program, at, wrt):
    from dcalc.evaluation import evaluate

    problem = dcalc.load(program, at)
    gradient = run_engine("reverse", problem.graph, problem.values).gradient()
    shapes = {name: value.shape for name, value in problem.values.items()}
    for name in wrt.split(","):
        result = cli("diff", "-", "--wrt", name, "--at", at, "--plain", input=program)
        assert result.exit_code == 0, result.output
        printed = result.stdout.strip()
        assert not any(internal in printed for internal in ("broadcast_to", "sum_to", "unindex", "source=")), printed
        again = dcalc.parse_program(printed, shapes=shapes)
        (value,) = evaluate(again, {input_name: problem.values[input_name] for input_name in again.input_names})
        np.testing.assert_allclose(value, gradient[name], rtol=1e-13, err_msg=printed)


def test_plain_tanh_layer_derivative_is_written_out():
    program = "z = A @ x + b\nf = tanh(z)\ne = y - f\nL = 0.5 * sum(e^2)\n"
    graph = dcalc.parse_program(program, shapes={"A": (4, 3), "x": (3,), "b": (4,), "y": (4,)})
    from dcalc.engines.symbolic import derivative
    from dcalc.printer import to_infix

    # dL/db = (f - y) sech^2(A x + b), f = tanh(A x + b), with d tanh = 1/cosh^2 as the table states it.
    assert to_infix(derivative(graph, "b")) == "(tanh(A @ x + b) - y)*(1/cosh(A @ x + b)^2)"


# Derivatives whose graphs keep ops the language has no word for (sum_to from a broadcast
# bias, broadcast_to from a reduction, unindex from indexing, is_equal from max/min).
PRINTED_CASES = [
    ("z = A @ x + b\nf = tanh(z)\ne = y - f\nL = 0.5 * sum(e^2)", {"A": (4, 3), "x": (3,), "b": (4,), "y": (4,)}),
    ("Y = W @ V + B; L = sum(Y * Y)", {"W": (3, 2), "V": (2, 4), "B": (3, 1)}),
    ("sum((S @ B + c)^2)", {"S": (2, 3, 4), "B": (4, 5), "c": (5,)}),
    ("sum(A + c) * sum(A * c)", {"A": (3, 4), "c": (3, 1)}),
    ("sum(sum(A, 1) * x)", {"A": (3, 4), "x": (3,)}),
    ("L = exp(sum(x)) * s", {"x": (3,), "s": ()}),
    ("x @ (A @ x)", {"x": (3,), "A": (3, 3)}),
    ("z = X @ w + c\nL = mean(softplus(z) - t * z)", {"X": (5, 3), "w": (3,), "c": (), "t": (5,)}),
    ("x[1] * x[-1]", {"x": (3,)}),
    ("sum(A[1:3, ::2] * B) + sum(A[::-2, 1] * b)", {"A": (4, 5), "B": (2, 3), "b": (2,)}),
    ("sum(S[1, :, 2:4] * B) + sum(S[-1] * C)", {"S": (2, 3, 5), "B": (3, 2), "C": (3, 5)}),
    ("max(A) * min(A, axis=0) @ x", {"A": (3, 4), "x": (4,)}),
    ("norm(A)", {"A": (2, 3)}),
    ("sum(prod(A, 0) * x) + prod(x)", {"A": (3, 4), "x": (4,)}),
]


@pytest.mark.parametrize("text, shapes", PRINTED_CASES, ids=[case[0].split("\n")[-1] for case in PRINTED_CASES])
def test_printed_derivatives_are_the_language_and_parse_back(text, shapes):
    from dcalc.engines.symbolic import derivative
    from dcalc.evaluation import evaluate
    from dcalc.printer import with_lets

    values = point(shapes, seed=3)
    problem = dcalc.load(text, values)
    gradient = run_engine("reverse", problem.graph, problem.values).gradient()
    for name in problem.graph.input_names:
        lets, expression = with_lets(derivative(problem.graph, name))
        printed = "\n".join([f"{let} = {value}" for let, value in lets] + [expression])
        assert not any(internal in printed for internal in ("broadcast_to", "sum_to", "unindex", "is_equal", "source=")), printed
        again = dcalc.parse_program(printed, shapes=shapes)
        (value,) = evaluate(again, {input_name: values[input_name] for input_name in again.input_names})
        assert np.shape(value) == gradient[name].shape, (name, printed)
        # The printed text repeats the derivative graph's operations in the same order,
        # so only rounding of the evaluator's own kernels could differ.
        np.testing.assert_allclose(value, gradient[name], rtol=1e-13, atol=1e-15 * np.max(np.abs(gradient[name])), err_msg=printed)


def test_latex_writes_indices_and_axes():
    from dcalc.printer import to_latex

    graph = dcalc.parse_program("x[1] * sum(A, 0)[2] + max(A)", shapes={"x": (3,), "A": (2, 3)})
    assert to_latex(graph.outputs[0]) == r"{x}_{1} \cdot {\sum\left(A, (0,)\right)}_{2} + \max\left(A\right)"
