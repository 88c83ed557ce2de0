"""The four engines agree with each other, with hand-derived derivatives, and
with the references' worked examples."""

import json
import math
import subprocess
import sys

import numpy as np
import pytest

import dcalc
from dcalc import parse_program, primitives
from dcalc.engines import ENGINE_NAMES, run_engine
from dcalc.engines.forward import forward
from dcalc.engines.reverse import reverse
from dcalc.engines.symbolic import derivative, derivative_graph
from dcalc.errors import DerivativeError
from dcalc.evaluation import evaluate
from dcalc.printer import to_infix

LECTURE = "ln(x1)+x1*x2-sin(x2)"
EXACT = ("forward", "reverse", "symbolic")


def engines_at(text, **point):
    problem = dcalc.load(text, point)
    return {name: run_engine(name, problem.graph, problem.values) for name in ENGINE_NAMES}


def relative(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


def test_lecture_example_every_engine():
    results = engines_at(LECTURE, x1=2.0, x2=5.0)
    expected = {"x1": 5.5, "x2": 1.7163378145367738}
    for name, result in results.items():
        assert float(result.values[0]) == pytest.approx(11.652071455223084, rel=1e-15)
        tolerance = 1e-11 if name == "numeric" else 1e-15
        for input_name, value in expected.items():
            assert relative(result.jacobian[("y", input_name)], value) <= tolerance, name


def domke_derivative(x):
    # Domke's hand-derived df/dx (his eq. 2.2).
    a = math.exp(x)
    inner = a + a * a
    return math.exp(inner) * (a + 2 * a * a) + math.cos(inner) * (a + 2 * a * a)


@pytest.mark.parametrize("x", [-1.0, 0.0, 0.5, 1.0])
@pytest.mark.parametrize("sample", ["domke.wl", "domke_closed_form.wl"])
def test_domke_matches_the_hand_derivation(program_text, sample, x):
    results = engines_at(program_text(sample), x=x)
    expected = domke_derivative(x)
    for name, result in results.items():
        got = float(result.jacobian[(result.output_names[0], "x")])
        if name == "numeric":
            assert abs(got - expected) <= float(result.error[(result.output_names[0], "x")])
            assert relative(got, expected) <= 1e-11
        else:
            assert relative(got, expected) <= 1e-13, name


def test_load_program_derivatives(program_text):
    results = engines_at(program_text("load.wl"), x=1.0, a=2.0, b=3.0)
    for result in results.values():
        gradient = result.gradient()
        assert gradient["a"] == pytest.approx(1.0 + 3.0, rel=1e-12)  # x + b
        assert gradient["b"] == pytest.approx(1.0 + 2.0, rel=1e-12)  # x + a
        assert gradient["x"] == pytest.approx(2 * 1.0 + 2.0 + 3.0, rel=1e-12)


@pytest.mark.parametrize(
    "text, wrt, printed",
    [
        (LECTURE, "x1", {"1/x1 + x2", "x2 + 1/x1"}),
        (LECTURE, "x2", {"x1 - cos(x2)"}),
        ("x^2 + 1", "x", {"2*x"}),
        ("2^x", "x", {"2^x*ln(2)"}),  # a constant base that is not 0: xlogy(2^x, 2) is written as a product
        ("x^y", "y", {"xlogy(x^y, x)"}),
        ("t0 = load('x'); t1 = load('a'); t2 = t0 + t1; t3 = load('b'); t4 = t0 + t3; t5 = t2 * t4; y = t5", "a", {"x + b"}),
        ("t0 = load('x'); t1 = load('a'); t2 = t0 + t1; t3 = load('b'); t4 = t0 + t3; t5 = t2 * t4; y = t5", "b", {"x + a"}),
    ],
)
def test_symbolic_derivatives_print_simply(text, wrt, printed):
    assert to_infix(derivative(parse_program(text), wrt)) in printed


def test_second_derivative_and_order():
    graph = parse_program("x^3")
    assert to_infix(derivative(graph, "x", order=2)) == "6*x"
    assert to_infix(derivative(graph, "x", order=3)) == "6"
    assert to_infix(derivative(graph, "x", order=4)) == "0"


def test_printed_derivative_parses_back_to_the_same_numbers():
    graph = parse_program(LECTURE)
    for wrt in ("x1", "x2"):
        node = derivative(graph, wrt)
        reparsed = parse_program(to_infix(node))
        at = {"x1": 2.0, "x2": 5.0}
        (direct,) = evaluate(node.graph, at, outputs=[node])
        (again,) = evaluate(reparsed, {name: at[name] for name in reparsed.input_names})
        assert float(direct) == float(again)


# ---- table-driven: every primitive -----------------------------------------------------

# Every elementwise primitive the language can write (by name or as an operator).
DIFFERENTIABLE = sorted(
    {
        prim.name: prim
        for prim in primitives.TABLE.values()
        if prim.partials is not None and prim.arity > 0 and (prim in primitives.FUNCTIONS.values() or prim.infix)
    }.values(),
    key=lambda prim: prim.name,
)


def sample_points(prim, seed, count):
    """Points inside the primitive's domain, one list of arguments per point."""
    arguments = primitives.sample_arguments(prim, np.random.default_rng(seed), count)
    return [list(map(float, point)) for point in zip(*arguments)]


@pytest.mark.parametrize("prim", DIFFERENTIABLE, ids=lambda prim: prim.name)
def test_first_derivatives_agree(prim):
    names = [f"a{k}" for k in range(prim.arity)]
    graph = parse_program(primitives.call_text(prim, names))
    for point in sample_points(prim, seed=sum(map(ord, prim.name)), count=12):
        values = dict(zip(names, point))
        results = {name: run_engine(name, graph, values) for name in ENGINE_NAMES}
        reference = results["reverse"]
        for name in names:
            key = ("y", name)
            exact = float(reference.jacobian[key])
            for engine in ("forward", "symbolic"):
                assert relative(results[engine].jacobian[key], exact) <= 1e-12, (engine, point)
            numeric = results["numeric"]
            assert abs(float(numeric.jacobian[key]) - exact) <= float(numeric.error[key]), point


UNARY = [prim for prim in DIFFERENTIABLE if prim.arity == 1]


@pytest.mark.parametrize("prim", UNARY, ids=lambda prim: prim.name)
def test_second_derivatives_agree(prim):
    """d²/dx² three ways: symbolic twice; forward and reverse over the symbolic first
    derivative; and finite differences of the first derivative within their estimate."""
    graph = parse_program(f"{prim.name}(x)" if not prim.infix else "-x")
    first = derivative(graph, "x")
    second = derivative(graph, "x", order=2)
    copy, _ = derivative_graph(graph)
    for (x,) in sample_points(prim, seed=7 + len(prim.name), count=8):
        at = {"x": x}
        (symbolic_value,) = evaluate(copy, at, outputs=[second])
        forward_value = forward(copy, at, outputs=[first], wrt=["x"]).jacobian[("out0", "x")]
        reverse_value = reverse(copy, at, outputs=[first], wrt=["x"]).jacobian[("out0", "x")]
        numeric = run_engine("numeric", copy, at, outputs=[first], wrt=["x"])
        scale = max(abs(float(symbolic_value)), 1e-300)
        assert abs(float(forward_value) - float(symbolic_value)) <= 1e-12 * scale
        assert abs(float(reverse_value) - float(symbolic_value)) <= 1e-12 * scale
        assert abs(float(numeric.jacobian[("out0", "x")]) - float(symbolic_value)) <= float(numeric.error[("out0", "x")])


# ---- behaviours the engines promise ---------------------------------------------------


def test_zero_tangents_are_skipped_not_multiplied():
    # y never reaches the output; sign has a zero derivative: both give exact zeros.
    problem = dcalc.load("sign(x)*0 + 2*x + sign(y)", {"x": 1.5, "y": 3.0})
    for name in EXACT:
        result = run_engine(name, problem.graph, problem.values)
        # An input is named y, so the output is called f.
        assert float(result.jacobian[("f", "y")]) == 0.0
        assert float(result.jacobian[("f", "x")]) == 2.0


@pytest.mark.parametrize(
    "text, point, expected",
    [
        ("0^x", {"x": 2.0}, {"x": 0.0}),  # 0^x is 0 for every x > 0
        ("x^y", {"x": 0.0, "y": 2.0}, {"x": 0.0, "y": 0.0}),
        ("x^0", {"x": 0.0}, {"x": 0.0}),  # 1 everywhere, 0^0 included
        ("x^y", {"x": 2.0, "y": 3.0}, {"x": 12.0, "y": 8.0 * math.log(2.0)}),
    ],
)
def test_a_power_of_zero_has_the_slope_of_its_neighbourhood(text, point, expected):
    # d(x^y)/dy = x^y ln x is 0 where x^y is 0 (xlogy), not 0 * ln 0 = NaN.
    results = engines_at(text, **point)
    output = results["reverse"].output_names[0]
    for name in EXACT:
        for variable, slope in expected.items():
            assert float(results[name].jacobian[(output, variable)]) == pytest.approx(slope, rel=1e-14, abs=0.0), name
    for variable, slope in expected.items():
        assert float(results["numeric"].jacobian[(output, variable)]) == pytest.approx(slope, rel=1e-9, abs=1e-9)


def test_a_power_of_zero_over_many_points():
    graph = parse_program("x^y")
    points = {"x": np.array([0.0, 0.0, 2.0, -2.0]), "y": np.array([2.0, 0.5, 3.0, 2.0])}
    for name in EXACT:
        result = run_engine(name, graph, points, batch_ndim=1)
        along_y = result.jacobian[("f", "y")]
        assert along_y[:2].tolist() == [0.0, 0.0] and along_y[2] == pytest.approx(8 * math.log(2.0), rel=1e-14)
        assert math.isnan(along_y[3]), name  # (-2)^y is not real for y near 2: ln(-2) is NaN


@np.errstate(all="ignore")
def test_xlogy_is_zero_where_its_factor_is():
    assert [float(primitives.xlogy(a, b)) for a, b in ((0.0, 0.0), (0.0, 5.0), (2.0, 1.0))] == [0.0, 0.0, 0.0]
    assert float(primitives.xlogy(2.0, math.e)) == 2.0 and float(primitives.xlogy(1.0, 0.0)) == -math.inf
    assert math.isnan(float(primitives.xlogy(0.0, math.nan))) and math.isnan(float(primitives.xlogy(1.0, -1.0)))
    assert primitives.TABLE["xlogy"].scalar(0.0, 0.0) == 0.0


def test_missing_rule_names_op_argument_and_engine():
    from dcalc.graph import Graph, Primitive

    # An op declared without derivative rules (None: no rule for that argument).
    floor = Primitive("floor", lambda xp, x: xp.floor(x), 1, partials=(None,))
    graph = Graph()
    x = graph.input("x")
    graph.set_outputs([graph.apply(floor, (x,))], ["y"])
    for engine in ("forward", "reverse", "symbolic"):
        with pytest.raises(DerivativeError) as caught:
            run_engine(engine, graph, {"x": np.asarray(1.5)})
        message = caught.value.message
        assert "floor" in message and "argument 1" in message and engine in message


def test_forward_mode_seeds_all_directions_in_one_pass():
    problem = dcalc.load("x*y*z", {"x": 2.0, "y": 3.0, "z": 5.0})
    result = forward(problem.graph, problem.values)
    assert [float(result.jacobian[("f", name)]) for name in "xyz"] == [15.0, 10.0, 6.0]  # y is an input, so the output is f


def test_directional_derivative_is_gradient_dot_direction():
    problem = dcalc.load(LECTURE, {"x1": 2.0, "x2": 5.0})
    direction = {"x1": np.array(0.6), "x2": np.array(-0.8)}
    along = forward(problem.graph, problem.values, direction=direction).jacobian[("y", "direction")]
    assert float(along) == pytest.approx(0.6 * 5.5 - 0.8 * 1.7163378145367738, rel=1e-15)


def test_reverse_mode_jacobian_of_several_outputs():
    problem = dcalc.load("a = x*y; b = sin(x) + y^2; return a, b", {"x": 0.7, "y": -1.3})
    for name in ENGINE_NAMES:
        result = run_engine(name, problem.graph, problem.values)
        tolerance = 1e-10 if name == "numeric" else 1e-15
        assert relative(result.jacobian[("a", "x")], -1.3) <= tolerance
        assert relative(result.jacobian[("a", "y")], 0.7) <= tolerance
        assert relative(result.jacobian[("b", "x")], math.cos(0.7)) <= tolerance
        assert relative(result.jacobian[("b", "y")], -2.6) <= tolerance


def test_reverse_mode_folds_a_node_read_once_into_its_reader(monkeypatch):
    """tanh(a*b): the product is read by tanh alone, so the sweep goes from tanh straight
    to a and b, weighing tanh'(a b) b and tanh'(a b) a."""
    from dcalc.engines import scalar

    swept = []
    plain_sweep = scalar.reverse_sweep
    monkeypatch.setattr(scalar, "reverse_sweep", lambda backward, *rest: swept.append(backward) or plain_sweep(backward, *rest))
    problem = dcalc.load("t = tanh(a*b)\nu = sin(t + a)\nreturn u*t", {"a": 0.3, "b": -1.7})
    result = run_engine("reverse", problem.graph, problem.values)
    tape = scalar.compile_tape(problem.graph, problem.graph.outputs, problem.graph.inputs, "reverse")
    assert swept == [tape.folded] and len(tape.folded) < len(tape.backward)
    t = math.tanh(0.3 * -1.7)
    u = math.sin(t + 0.3)
    slope = 1 - t * t  # tanh'
    du_dt = math.cos(t + 0.3)
    d_dt = u + t * du_dt  # d(u t)/dt, u depending on t
    assert relative(result.jacobian[("y", "a")], d_dt * slope * -1.7 + t * du_dt) <= 1e-15
    assert relative(result.jacobian[("y", "b")], d_dt * slope * 0.3) <= 1e-15


def test_an_output_read_once_is_not_folded():
    # a is read by b alone, but the sweep for d a/dx starts at a.
    problem = dcalc.load("a = sin(x)\nb = exp(a)\nreturn a, b", {"x": 0.7})
    result = run_engine("reverse", problem.graph, problem.values)
    assert relative(result.jacobian[("a", "x")], math.cos(0.7)) <= 1e-15
    assert relative(result.jacobian[("b", "x")], math.exp(math.sin(0.7)) * math.cos(0.7)) <= 1e-15


@pytest.mark.parametrize(
    "text, b, slope",
    [
        # The folded weight 1e-170 * 1e-170 would underflow to 0; the plain sweep sends
        # 1e300 on, then 1e130, then 1e-40: df/db.
        ("1e150*(1e150*(1e-170*(1e-170*b)))", 1.0, 1e-40),
        # 1e170 * 1e170 would overflow; the plain sweep sends 1e-300, 1e-130, 1e40.
        ("1e-150*(1e-150*(1e170*(1e170*b)))", 1e-300, 1e40),
        ("1e300 * (1e-200 * (1e-200 * (1e-200 * b)))", 1.0, 1e-300),
    ],
)
def test_folding_nodes_loses_nothing_to_underflow_or_overflow(text, b, slope):
    problem = dcalc.load(text, {"b": b})
    result = run_engine("reverse", problem.graph, problem.values)
    assert relative(result.jacobian[("y", "b")], slope) <= 1e-14


@pytest.mark.parametrize("point", [0.05, 1e-3])
def test_numeric_steps_stay_inside_the_domain(point):
    found, _ = numeric_at("ln(x)", {"x": point})
    assert relative(found, 1 / point) <= 1e-10


def numeric_at(text: str, point: dict, name: str = "x") -> tuple[float, float]:
    """The numeric engine's partial of ``text`` for ``name`` at ``point``, and its error estimate."""
    problem = dcalc.load(text, point)
    result = run_engine("numeric", problem.graph, problem.values)
    key = (problem.graph.output_names[0], name)
    return float(result.jacobian[key]), float(result.error[key])


@pytest.mark.parametrize(
    "text, x, exact",
    [
        ("sqrt(x - 0.0499)", 0.05, 0.5 / math.sqrt(0.05 - 0.0499)),
        ("sqrt(x)", 1e-8, 0.5e4),
        ("ln(x)", 1e-12, 1e12),
        ("1/x", 1e-9, -1e18),
        ("sqrt(x)", 1e-20, 0.5e10),
        ("sqrt(x)", 1e-300, 0.5e150),
    ],
)
def test_numeric_near_a_domain_edge(text, x, exact):
    # The first steps (about 3e-3) leave the domain on one side and are far too coarse
    # on the other: sqrt(x) at 1e-8 gave 157.6 ± 30 for 5000 with three retries. The
    # retries go on shrinking the steps while the estimate stays poor, near 0 straight
    # to the point's own scale, and an estimate from smaller steps that the coarser
    # one's error cannot reach replaces it (at 1e-300: 160 ± 31, against 5e149).
    got, error = numeric_at(text, {"x": x})
    assert abs(got - exact) <= error <= 1e-6 * abs(exact)


@pytest.mark.parametrize(
    "text, at, exact, largest",
    [
        ("x*sqrt(x)", 0.0, 0.0, 1e-7),  # one-sided differences shrink as h^0.5
        ("x^1.25", 0.0, 0.0, 1e-3),  # as h^0.25
        ("x^2.5", 0.0, 0.0, 1e-20),  # as h^1.5, which no level of the table removes
        ("abs(x)^2.5*sign(x)", 0.0, 0.0, 1e-20),  # central differences, as h^1.5
    ],
)
def test_numeric_error_covers_differences_that_converge_as_a_fractional_power(text, at, exact, largest):
    got, error = numeric_at(text, {"x": at})
    assert abs(got - exact) <= error <= largest


@pytest.mark.parametrize(
    "text, at, rtol",
    [
        ("acos(x)", 0.9999999999, 1e-12),  # 1e-10 from the edge: steps rounded on one side only left 1e-9 here
        ("atanh(x)", 0.999999999999, 1e-10),
        ("log1p(x)", -0.9999999, 1e-12),
    ],
)
def test_numeric_steps_are_symmetric_beside_a_singularity(text, at, rtol):
    problem = dcalc.load(text, {"x": at})
    exact = float(run_engine("reverse", problem.graph, problem.values).jacobian[("y", "x")])
    got, error = numeric_at(text, {"x": at})
    assert abs(got - exact) <= min(error, rtol * abs(exact))


def test_numeric_error_is_at_least_the_subnormal_rounding():
    got, error = numeric_at("x*y", {"x": 1e-320, "y": 1e-320})
    assert abs(got - 1e-320) <= error < 1e-318


def test_complex_step_is_exact_to_rounding_and_refuses_non_analytic_ops():
    problem = dcalc.load(LECTURE, {"x1": 2.0, "x2": 5.0})
    result = run_engine("numeric", problem.graph, problem.values, method="complex")
    assert relative(result.jacobian[("y", "x2")], 1.7163378145367738) <= 1e-15
    problem = dcalc.load("abs(x)", {"x": 2.0})
    with pytest.raises(DerivativeError, match="abs is not"):
        run_engine("numeric", problem.graph, problem.values, method="complex")


@pytest.mark.parametrize("method, tolerance", [("central", 1e-9), ("forward", 1e-6)])
def test_plain_difference_methods(method, tolerance):
    problem = dcalc.load(LECTURE, {"x1": 2.0, "x2": 5.0})
    result = run_engine("numeric", problem.graph, problem.values, method=method)
    assert relative(result.jacobian[("y", "x1")], 5.5) <= tolerance
    assert abs(float(result.jacobian[("y", "x1")]) - 5.5) <= float(result.error[("y", "x1")])


# ---- expression swell is measured --------------------------------------------------------


def derivative_size(text, wrt):
    graph = parse_program(text)
    copy, mapping = derivative_graph(graph)
    function_nodes = len(graph.ancestors(graph.outputs))
    from dcalc.engines.symbolic import gradient_nodes

    nodes = gradient_nodes(mapping[graph.outputs[0].index], [copy.input_named(name) for name in wrt])
    return function_nodes, len(copy.ancestors(nodes))


def test_nested_sin_derivative_is_linear_in_size():
    function, total = derivative_size("sin(" * 40 + "x" + ")" * 40, ["x"])
    assert total <= 4 * function


def test_product_gradient_is_linear_in_size():
    names = [f"x{k}" for k in range(1, 31)]
    function, total = derivative_size("*".join(names), names)
    assert total <= 4 * function


# ---- the command line ---------------------------------------------------------------


def test_grad_json_has_every_engine(cli):
    result = cli("grad", LECTURE, "--at", "x1=2,x2=5", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["value"] == pytest.approx(11.652071455223084, rel=1e-15)
    assert data["gradient"] == {"x1": 5.5, "x2": 1.7163378145367738}
    assert set(data["engines"]) == set(ENGINE_NAMES)
    for name, entry in data["engines"].items():
        assert entry["agrees"] is True
        assert entry["max_rel_diff"] <= (1e-11 if name == "numeric" else 1e-15)
    assert set(data["engines"]["numeric"]["error_estimate"]) == {"x1", "x2"}


def test_grad_table_and_engine_choice(cli):
    result = cli("grad", LECTURE, "--at", "x1=2,x2=5")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[:3] == ["y = 11.652071455223084", "∂y/∂x1 = 5.5", "∂y/∂x2 = 1.7163378145367738"]
    for name in ENGINE_NAMES:
        assert any(line.startswith(name) for line in lines)
    result = cli("grad", LECTURE, "--at", "x1=2,x2=5", "--engine", "forward", "--wrt", "x2", "--json")
    data = json.loads(result.stdout)
    assert data["gradient"] == {"x2": 1.7163378145367738} and list(data["engines"]) == ["forward"]


def test_grad_directional(cli):
    result = cli("grad", LECTURE, "--at", "x1=2,x2=5", "--dir", "x1=1,x2=0", "--json")
    data = json.loads(result.stdout)
    assert data["directional_derivative"]["y"] == 5.5 == data["reverse_dot_direction"]["y"]


def test_grad_bad_engine_and_wrt(cli):
    result = cli("grad", LECTURE, "--at", "x1=2,x2=5", "--engine", "magic")
    assert result.exit_code == 2 and "unknown engine 'magic'" in result.stderr
    result = cli("grad", LECTURE, "--at", "x1=2,x2=5", "--wrt", "x3")
    assert result.exit_code == 2 and "did you mean" in result.stderr


def test_diff_command(cli):
    assert cli("diff", LECTURE, "--wrt", "x2").stdout.strip() == "x1 - cos(x2)"
    assert cli("diff", "x^2+1").stdout.strip() == "2*x"
    assert cli("diff", "x^2+1", "--order", "2").stdout.strip() == "2"
    assert cli("diff", LECTURE, "--wrt", "x2", "--latex").stdout.strip() == r"x_{1} - \cos\left(x_{2}\right)"
    result = cli("diff", LECTURE)
    assert result.exit_code == 2 and "--wrt x1 or --wrt x2" in result.stderr


def test_diff_names_shared_parts_of_large_derivatives(cli):
    result = cli("diff", "sin(" * 40 + "x" + ")" * 40)
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "t1 = sin(x)"
    assert all(len(line) < 400 for line in lines)


def test_library_misuse_gets_dcalc_errors_that_name_the_mistake():
    from dcalc.engines import run_engine
    from dcalc.errors import InputError, UnknownNameError

    graph = dcalc.parse_program("x*y")
    with pytest.raises(InputError, match="unknown engine 'bogus'"):
        run_engine("bogus", graph, {"x": 1.0, "y": 2.0})
    for engine in ("reverse", "forward", "symbolic", "numeric"):
        with pytest.raises(InputError, match="no value for the input 'y'"):
            run_engine(engine, graph, {"x": 1.0})
    with pytest.raises(UnknownNameError, match="'q' is not an input of this function"):
        graph.input_named("q")


def test_the_package_evaluate_is_the_function_whatever_was_imported_first():
    code = "import dcalc.evaluation, dcalc; g = dcalc.parse_program('x^2'); print(float(dcalc.evaluate(g, {'x': 3.0})[0]))"
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "9.0"


@pytest.mark.parametrize("value", ["abc", "3", ["1", "2"], b"3", None, 1j, np.array([1 + 2j]), {"a": 1}])
def test_load_refuses_values_that_are_not_real_numbers(value):
    with pytest.raises(dcalc.DcalcError, match="the value of 'x' is not a real number"):
        dcalc.load("x^2", {"x": value})


def test_load_takes_numbers_of_any_kind():
    from decimal import Decimal
    from fractions import Fraction

    assert float(dcalc.load("x^2", {"x": Decimal("1.5")}).evaluate()[0]) == 2.25
    assert float(dcalc.load("x^2", {"x": Fraction(1, 2)}).evaluate()[0]) == 0.25
    assert float(dcalc.load("x + 0", {"x": 2**70}).evaluate()[0]) == 2.0**70


def test_load_takes_text():
    with pytest.raises(dcalc.DcalcError, match="the function to load is text"):
        dcalc.load(123, "x=1")
