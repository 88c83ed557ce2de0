"""Edge cases found in review: each one once ended in a crash or a wrong number."""

import json

import numpy as np
import pytest

import dcalc
from dcalc.engines import ENGINE_NAMES, run_engine
from dcalc.engines.numeric import evaluations
from dcalc.primitives import _matmul


def test_array_constants_line_up_with_the_numeric_batch(cli):
    # The constant's length once equalled the batch size and broadcast against it.
    for size in (2, 12):
        constant = "[" + ", ".join(str(k) for k in range(1, size + 1)) + "]"
        result = cli("grad", f"{constant}*x", "--at", "x=1", "--engine", "numeric", "--json")
        assert result.exit_code == 0, result.output
        # The output is a vector, so the numeric "gradient" is d out_k / dx = k.
        assert json.loads(result.stdout)["gradient"]["x"] == pytest.approx(list(range(1, size + 1)), rel=1e-10)


def test_division_by_a_literal_zero_is_inf_not_a_crash(cli):
    result = cli("grad", "x/0", "--at", "x=1", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["value"] == "inf"
    assert cli("trace", "x/0", "--at", "x=1").exit_code == 0


@pytest.mark.parametrize("left, right", [((2, 3, 4), (4, 5)), ((4,), (2, 4, 5)), ((3, 2, 3, 4), (2, 4, 1))])
@pytest.mark.parametrize("batch", [1, 2, 3])
def test_batched_matmul_of_stacked_operands(left, right, batch):
    rng = np.random.default_rng(3)
    a = rng.normal(size=left + (batch,))
    b = rng.normal(size=right + (batch,))
    got = _matmul(np, a, b, (len(left), len(right)))
    expected = np.stack([np.matmul(a[..., k], b[..., k]) for k in range(batch)], axis=-1)
    np.testing.assert_allclose(got, expected, rtol=1e-13)


def test_long_expressions_are_expressions(cli):
    text = "+".join(["x"] * 400)
    result = cli("eval", text, "--at", "x=1", "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["value"] == 400.0


def test_symbolic_value_is_the_functions_even_where_simplification_would_hide_nan():
    problem = dcalc.load("ln(x) - ln(x) + 0*ln(y)", {"x": -1.0, "y": 0.0})
    result = run_engine("symbolic", problem.graph, problem.values)
    assert np.isnan(result.values[0])


def test_latex_and_traces_with_array_constants(cli):
    result = cli("trace", "x*[1,2]", "--at", "x=1", "--wrt", "x", "--format", "latex")
    assert result.exit_code == 0 and "[1, 2]" not in result.stdout  # the constant as LaTeX, a column
    assert r"v_{0} \cdot \left[\begin{array}{r} 1 \\ 2 \end{array}\right]" in result.stdout
    # A symbolic derivative of a vector output is refused with a message, not a crash.
    result = cli("diff", "x*[1,2]", "--wrt", "x", "--latex")
    assert result.exit_code == 2 and "array output" in result.stderr


def test_trace_definitions_are_as_written():
    from dcalc.trace import forward_trace

    problem = dcalc.load("a = x*1; b = a^1; c = b*0 + 3*x", {"x": 2.0})
    primal, _ = forward_trace(problem.graph, problem.values, "x")
    definitions = [row.definition.ascii for row in primal.rows]
    assert "v_0*1" in definitions and "v_1^1" in definitions and "v_2*0" in definitions


def test_first_level_error_estimates_are_safe_for_forward_differences():
    rng = np.random.default_rng(11)
    problem = dcalc.load("cos(10*x)", {"x": 1.0})
    outside = 0
    for x in rng.uniform(-3, 3, size=200):
        values = {"x": np.asarray(x)}
        numeric = run_engine("numeric", problem.graph, values, method="forward")
        exact = -10 * np.sin(10 * x)
        outside += abs(float(numeric.jacobian[("y", "x")]) - exact) > float(numeric.error[("y", "x")])
    assert outside == 0


def test_a_chance_agreement_of_unresolved_differences_is_no_estimate():
    # sin(1e7 x) at 0.3: the first steps (about 7e-3) span 10^4 periods, and two
    # entries of the Richardson table agreed by chance: -821 ± 0.2 for 4.8e6.
    problem = dcalc.load("sin(1e7*x)", {"x": 0.3})
    numeric = run_engine("numeric", problem.graph, problem.values)
    found, error = float(numeric.jacobian[("y", "x")]), float(numeric.error[("y", "x")])
    exact = 1e7 * np.cos(3e6)
    assert abs(found - exact) <= error <= 1e-6 * abs(exact)


@pytest.mark.parametrize("frequency", [1e3, 1e4, 1e5, 1e6])
def test_error_estimates_are_mostly_honest_where_the_first_steps_span_many_periods(frequency):
    # Before the convergence check 6, 39, 78 and 139 of these 200 points had an
    # estimate off by more than its error. What remains is aliasing: steps near whole
    # numbers of periods sample a smooth, slower function, which no check of the
    # samples can tell from the real one.
    xs = np.random.default_rng(5).uniform(0.1, 3, size=200)
    problem = dcalc.load(f"sin({frequency:g}*x)", {"x": 1.0})
    numeric = run_engine("numeric", problem.graph, {"x": xs}, batch_ndim=1)
    off = np.abs(numeric.jacobian[("y", "x")] - frequency * np.cos(frequency * xs))
    assert np.count_nonzero(off > numeric.error[("y", "x")]) <= 20


@pytest.mark.parametrize("text, x", [("1/(1+x^2)", 1.0), ("exp(-x^2)", 1.5**0.5), ("x^5 + x", 0.0)])
def test_differences_converging_faster_than_expected_need_no_retry(text, x):
    # Where the third derivative is 0 the changes shrink as h^4, not h^2: converging all the same.
    problem = dcalc.load(text, {"x": x})
    result = run_engine("numeric", problem.graph, problem.values)
    assert result.details["evaluations"] == evaluations("richardson") + 1
    assert float(result.error[("y", "x")]) <= 1e-11


def test_zero_partials_do_not_trigger_retries():
    problem = dcalc.load("sin(x) + 0*y", {"x": 0.3, "y": 2.0})
    result = run_engine("numeric", problem.graph, problem.values)
    assert result.details["evaluations"] == 2 * evaluations("richardson") + 1


def test_non_finite_points_are_not_called_disagreements(cli):
    result = cli("grad", "x^2", "--at", "x=inf", "--json")
    data = json.loads(result.stdout)
    assert all(entry.get("agrees") is None for name, entry in data["engines"].items() if name != "reverse")
    assert "disagree" not in result.stderr


def test_printed_infinite_constants_parse_back(cli):
    printed = cli("diff", "x*1e400", "--wrt", "x").stdout.strip()
    assert printed == "inf"
    assert json.loads(cli("eval", printed, "--json").stdout)["value"] == "inf"


def test_unknown_method_is_bad_input(cli):
    result = cli("grad", "x^2", "--at", "x=1", "--method", "bogus")
    assert result.exit_code == 2 and "unknown method 'bogus'" in result.stderr


def test_every_engine_on_an_empty_program_output_of_a_constant():
    problem = dcalc.load("x*0 + 2", {"x": 1.0})
    for name in ENGINE_NAMES:
        assert float(run_engine(name, problem.graph, problem.values).jacobian[("y", "x")]) == 0.0
