"""Domains and special values (Issue 8): each trouble is reported at the node where it
first arose (line, sub-expression, what the op was given), as a warning by default and
as an error with --strict; a NaN or infinity never shows up as an ordinary gradient
entry without that report; kinks give their one-sided derivatives."""

import json

import numpy as np
import pytest

import dcalc
from dcalc.checking import FAIL
from dcalc.engines import run_engine

# (program, point, what the report says, where: (line, column, sub-expression))
CASES = [
    ("ln(x)", "x=-1", "ln gives a value that is not finite here (at x=-1)", (1, 1, "ln(x)")),
    ("sqrt(x) * 2", "x=-1", "sqrt gives a value that is not finite here (at x=-1)", (1, 1, "sqrt(x)")),
    ("1/x + x", "x=0", "div gives a value that is not finite here (at x=0)", (1, 1, "1/x")),
    ("x^y", "x=0,y=0", "the derivative is not finite: pow has an infinite derivative here (at x=0, y=0)", (1, 1, "x^y")),
    ("x^y", "x=-2,y=2", "the derivative is not finite: pow has no finite derivative (NaN) here (at x=-2, y=2)", (1, 1, "x^y")),
    ("x^y", "x=0,y=-1", "pow gives a value that is not finite here (at x=0, y=-1)", (1, 1, "x^y")),
    ("exp(x) - x", "x=1000", "exp gives a value that is not finite here (at x=1000)", (1, 1, "exp(x)")),
    ("tan(x)", "x=pi/2", "tan is ill-conditioned here (at x=1.5707963267948966)", (1, 1, "tan(x)")),
    ("acos(x) + x", "x=2", "acos gives a value that is not finite here (at x=2)", (1, 1, "acos(x)")),
    ("atan(exp(x))", "x=800", "exp gives a value that is not finite here (at x=800); the output stays finite", (1, 6, "exp(x)")),
    ("sqrt(x) + y", "x=0,y=1", "the derivative is not finite: sqrt has an infinite derivative here (at x=0)", (1, 1, "sqrt(x)")),
    ("z = x - 2\nw = 3 * ln(z)", "x=1", "ln gives a value that is not finite here (at x - 2 = -1)", (2, 9, "ln(z)")),
    # a statement written twice: the operand is the first, not the op's own call
    ("t = x - 1\nt = ln(t)\nt = ln(t)", "x=2", "ln gives a value that is not finite here (at ln(t) = 0)", (3, 5, "ln(t)")),
    ("sum(sqrt(A))", "A=[[1,0],[4,9]]", "sqrt has an infinite derivative here (at A[0, 1]=0)", (1, 5, "sqrt(A)")),
    # both modes take 0 * inf as 0 (forward: the tangent of x^2 is 0; reverse: the edge 2x is 0), and say so
    ("sqrt(x^2+y^2)", "x=0,y=0", "the chain rule meets 0·∞: sqrt has an infinite derivative here (at x^2+y^2 = 0), times a zero", (1, 1, "sqrt(x^2+y^2)")),
    ("sqrt(x)*sqrt(x)", "x=0", "the chain rule meets 0·∞: sqrt has an infinite derivative here (at x=0)", (1, 1, "sqrt(x)")),
    # log(x, b) is ln(x)/ln(b): its operands are written out, not named by the call
    ("log(x, b)", "x=8,b=1", "div gives a value that is not finite here (at ln(x) = 2.0794415416798357, ln(b) = 0)", (1, 1, "log(x, b)")),
]


@pytest.mark.parametrize("text, at, message, where", CASES, ids=[f"{case[0]} at {case[1]}" for case in CASES])
def test_trouble_is_a_warning_at_its_node(cli, text, at, message, where):
    line, column, snippet = where
    result = cli("grad", "-", "--at", at, "--engine", "reverse", input=text)
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith("warning: ") and message in result.stderr, result.stderr
    assert f"--> <stdin>:{line}:{column}" in result.stderr and snippet in result.stderr


@pytest.mark.parametrize("text, at, message, where", CASES, ids=[f"{case[0]} at {case[1]}" for case in CASES])
def test_trouble_is_an_error_with_strict(cli, text, at, message, where):
    result = cli("grad", "-", "--at", at, "--strict", input=text)
    assert result.exit_code == 2 and result.stderr.startswith("domain error: ") and message in result.stderr
    assert "Traceback" not in result.output and result.stdout == ""


# The cases whose value or gradient has a NaN or infinity (not the ill-conditioned
# tan, nor atan(exp(x)), whose output survives the overflow).
NOT_FINITE = [case for case in CASES if "ill-conditioned" not in case[2] and "stays finite" not in case[2] and "0·∞" not in case[2]]


@pytest.mark.parametrize("text, at, message, where", NOT_FINITE, ids=[f"{case[0]} at {case[1]}" for case in NOT_FINITE])
def test_no_nan_or_infinity_in_a_gradient_without_the_report(cli, text, at, message, where):
    result = cli("grad", "-", "--at", at, "--json", input=text)
    data = json.loads(result.stdout)
    gradient = np.concatenate([np.ravel(np.array(value, dtype=object)) for value in data["gradient"].values()])
    value = np.ravel(np.array(data["value"], dtype=object))
    strange = [entry for entry in (*gradient, *value) if isinstance(entry, str)]  # "nan", "inf", "-inf"
    assert strange, data
    assert message.split(" (")[0] in data["not_finite"]["message"], data
    assert data["not_finite"]["line"] == where[0] and data["not_finite"]["expression"] == where[2]


@pytest.mark.parametrize(
    "text, at, expected, noted",
    [
        ("x*sqrt(x)", {"x": 0.0}, {"x": 0.0}, True),  # x^1.5: the zero factor x stays small nearby
        ("c*sqrt(y)", {"c": 0.0, "y": 0.0}, {"c": 0.0, "y": 0.0}, True),  # c is held at 0 while y moves
        ("sqrt(x^2)", {"x": 0.0}, {"x": 0.0}, True),  # |x|: 0 is its smallest subgradient
        # No zero meets the infinite slope (forward mode's seeds have zeros, so it may note a redo).
        ("x + sqrt(y)", {"x": 1.0, "y": 0.0}, {"x": 1.0, "y": np.inf}, None),
    ],
)
def test_forward_and_reverse_mode_agree_where_the_chain_rule_meets_zero_times_infinity(text, at, expected, noted):
    problem = dcalc.load(text, at)
    for engine in ("reverse", "forward"):
        for values in (problem.values, {name: np.full(3, value) for name, value in problem.values.items()}):  # scalar tape and arrays
            batch = 1 if np.ndim(next(iter(values.values()))) else 0
            result = run_engine(engine, problem.graph, values, batch_ndim=batch)
            for name, want in expected.items():
                got = result.jacobian[(problem.graph.output_names[0], name)]
                assert np.all(got == want), (engine, name, got)
            if noted:
                assert result.zero_times_infinity, engine


def test_zero_times_infinity_is_named_and_not_judged_by_check(checked):
    statuses = checked("function: sqrt(x)*sqrt(x) + 3*y\nat zero: x=0, y=1\nvalue = 0\nd/dy = 3\nd/dx = 1\n")
    assert statuses["zero: value"][0] == "FAIL"  # 3, not 0: goldens are still judged
    assert statuses["zero: d/dy"][0] == "pass"  # 0·∞ met only d/dx's path
    for name in ("zero: engines agree", "zero: d/dx"):
        assert statuses[name][0] == "not differentiable here" and "the chain rule meets 0·∞" in statuses[name][1]


def test_zero_times_infinity_spoils_only_partials_that_meet_the_infinite_slope(checked):
    # Both outputs are swept together, so the redo changes b's block too; b never meets sqrt.
    program = "function {\n  a = sum(sqrt(x)*sqrt(x)) + y\n  b = 2*y*x\n  return a, b\n}\n"
    statuses = {name: status for name, (status, _) in checked(program + "at p: x=[0,1], y=1\nd/dx[b] = [[2, 0], [0, 2]]\nd/dy[a] = 1\nd/dx[a] = [0, 2]\n").items()}
    assert statuses["p: d/dx[b]"] == statuses["p: d/dy[a]"] == "pass"
    assert statuses["p: d/dx[a]"] == statuses["p: engines agree"] == "not differentiable here"


def test_eval_and_check_report_and_strict(cli, tmp_path):
    result = cli("eval", "ln(x)", "--at", "x=-1")
    assert result.exit_code == 0 and "warning: ln gives a value that is not finite" in result.stderr
    assert cli("eval", "ln(x)", "--at", "x=-1", "--strict").exit_code == 2
    sample = tmp_path / "edge.dcalc"
    sample.write_text("function: sqrt(x) + y\nat zero: x=0, y=1\n")
    loose = json.loads(cli("check", str(sample), "--json").stdout)
    assert {check["status"] for check in loose["checks"]} == {"not finite"}
    strict = cli("check", str(sample), "--json", "--strict")
    assert strict.exit_code == 1
    failed = [check for check in json.loads(strict.stdout)["checks"] if check["status"] == FAIL]
    assert failed and "sqrt has an infinite derivative" in failed[0]["message"]


def test_many_points_name_the_first_troubled_one(cli, tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("x\n4\n1\n0\n9\n")
    result = cli("grad", "sqrt(x)", "--points", str(path))
    assert result.exit_code == 0 and "not finite at 1 of 4 points (point 2)" in result.stdout
    assert "warning: at point 2, the derivative is not finite: sqrt has an infinite derivative here (at x=0)" in result.stderr
    strict = cli("grad", "sqrt(x)", "--points", str(path), "--strict")
    assert strict.exit_code == 2 and "1 of 4 points are not finite; at the first (point 2)" in strict.stderr


@pytest.mark.parametrize(
    "text, at, right, left",
    [
        ("abs(x)", "x=0", "right 1", "left -1"),
        ("relu(x)", "x=0", "right 1", "left 0"),
        # each input moved alone: raising x (or y) past the tie moves max, lowering it does not
        ("max(x, y)", "x=1,y=1", "df/dx: right 1, left 0", "df/dy: right 1, left 0"),
        ("min(x, y)", "x=1,y=1", "df/dx: right 0, left 1", "df/dy: right 0, left 1"),
        ("sign(x)", "x=0", "right none (a jump)", "left none (a jump)"),
        # a reduction's tie: the largest entry is shared, raising either one moves the max
        ("max(x)", "x=[1,3,3]", "right [0, 1, 1]", "left [0, 0, 0]"),
        ("min(x)", "x=[2,1,1]", "right [0, 0, 0]", "left [0, 1, 1]"),
    ],
)
def test_kinks_give_one_sided_derivatives(cli, text, at, right, left):
    result = cli("grad", text, "--at", at)
    assert result.exit_code == 0, result.output
    assert "not differentiable here" in result.stderr and right in result.stderr and left in result.stderr


def test_every_op_at_its_kink_is_named():
    from dcalc.diagnose import kink_status

    graph = dcalc.parse_program("abs(x) + relu(y) + max(x, y) + max([x, 1])")
    status = kink_status(graph, {"x": 0.0, "y": 0.0})
    assert status.startswith("abs (abs(x) at line 1), relu (relu(y) at line 1) and max (max(x, y) at line 1) are at their kinks")
    assert kink_status(graph, {"x": 1.0, "y": 2.0}) is not None  # max([x, 1]): x ties with 1
    assert kink_status(graph, {"x": 3.0, "y": 2.0}) is None


def test_a_derivative_too_long_to_read_is_summarised(cli, tmp_path):
    import dcalc
    from dcalc.engines import run_engine
    from dcalc.evaluation import evaluate

    program = "\n".join(["a0 = x"] + [f"a{k} = sin(a{k - 1}) * a{k - 1} + x" for k in range(1, 800)])
    result = cli("diff", "-", "--wrt", "x", input=program)
    assert result.exit_code == 0
    shown = result.stdout.splitlines()
    assert shown[0].startswith("# the derivative has") and "operations" in shown[0] and len(shown) < 20
    assert max(len(line) for line in shown) < 400 and "lines left out" in result.stdout
    assert len(cli("diff", "-", "--wrt", "x", "--full", input=program).stdout.splitlines()) > 1000
    target = tmp_path / "d.txt"
    saved = cli("diff", "-", "--wrt", "x", "--save", str(target), input=program)
    assert saved.exit_code == 0 and f"written to {target}" in saved.stdout
    again = dcalc.parse_program(target.read_text())
    (value,) = evaluate(again, {"x": 0.3})
    problem = dcalc.load(program, {"x": 0.3})
    assert float(value) == pytest.approx(float(run_engine("reverse", problem.graph, problem.values).jacobian[("a799", "x")]), rel=1e-12)


def test_a_slope_that_is_not_finite_counts_only_on_the_way_of_the_derivatives_asked_for(cli):
    result = cli("hessian", "y^2 + sqrt(x)", "--at", "x=0,y=1", "--wrt", "y", "--strict")
    assert result.exit_code == 0 and "not finite" not in result.stderr
    named = cli("grad", "sqrt(x) + sqrt(y^2)", "--at", "x=0,y=0", "--wrt", "y")
    assert "sqrt has an infinite derivative here (at y^2 = 0)" in named.stderr


@pytest.mark.parametrize("text, point, kink", [("abs(x)^2", "x=0", False), ("abs(x)*abs(y)", "x=0,y=0", False), ("relu(x)*y", "x=0,y=2", True), ("abs(x)", "x=0", True)])
def test_an_op_at_its_kink_is_reported_only_where_a_slope_differs_on_two_sides(cli, text, point, kink):
    result = cli("grad", text, "--at", point)
    assert result.exit_code == 0
    assert ("not differentiable here" in result.stderr) == kink, result.stderr


def test_a_tie_at_the_other_extreme_is_no_kink():
    from dcalc.diagnose import kink_status

    graph = dcalc.parse_program("max(x) + min(z)", given=["x", "z"], shapes={"x": (3,), "z": (3,)})
    assert kink_status(graph, {"x": np.array([1.0, 1.0, 3.0]), "z": np.array([1.0, 3.0, 3.0])}) is None
    assert kink_status(graph, {"x": np.array([3.0, 1.0, 3.0]), "z": np.array([1.0, 3.0, 3.0])}) is not None


@pytest.mark.parametrize("text", ["abs(x)*y", "abs(x)*x + y"])  # the second has a gradient at 0, but no Hessian
def test_hessian_at_a_kink_warns(cli, text):
    result = cli("hessian", text, "--at", "x=0,y=2")
    assert result.exit_code == 0
    assert result.stderr.startswith("warning: the Hessian may not exist here: abs (abs(x) at line 1) is at its kink")
    assert "warning" not in cli("hessian", text, "--at", "x=1,y=2").stderr
    assert "warning" not in cli("hessian", text, "--at", "x=0,y=2", "--wrt", "y").stderr  # d²/dy² exists


def test_hessian_warns_only_of_kinks_in_the_output_it_differentiates(cli):
    program = "y = x^2*w\nz = abs(x)\nreturn y, z\n"
    assert "Hessian may not exist" not in cli("hessian", "-", "--at", "x=0,w=1", input=program).stderr
    assert "abs (abs(x) at line 2) is at its kink" in cli("hessian", "-", "--at", "x=0,w=1", "--output", "z", input=program).stderr


def test_zero_times_infinity_is_no_disagreement_and_is_reported_over_points(cli, tmp_path):
    # Symbolic mode's NaN at 0 is not held against it: no engine can be held to a derivative there.
    result = cli("grad", "sqrt(x^2+y^2)", "--at", "x=0,y=0")
    assert result.exit_code == 0 and "the chain rule meets 0·∞" in result.stderr
    # The same where an ill-conditioned operation is the problem reported first.
    result = cli("grad", "sqrt(x)*sqrt(x) + ((1e16 + y) - 1e16)", "--at", "x=0,y=1")
    assert result.exit_code == 0 and "disagree" not in result.stderr, result.stderr
    points = tmp_path / "p.csv"
    points.write_text("x\n1\n0\n4\n0\n")
    result = cli("grad", "sqrt(x)*sqrt(x)", "--points", str(points), "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["zero_times_infinity"] == {"points": 2, "first": [1, 3]}
    result = cli("grad", "sqrt(x)*sqrt(x)", "--points", str(points))
    assert result.exit_code == 0 and "0·∞ taken as 0 at 2 of 4 points" in result.stdout
    assert "at point 1, the chain rule meets 0·∞" in result.stderr
    strict = cli("grad", "sqrt(x)*sqrt(x)", "--points", str(points), "--strict")
    assert strict.exit_code == 2 and "2 of 4 points take 0·∞ as 0" in strict.stderr


def test_at_points_marks_the_points_where_zero_times_infinity_was_taken():
    from dcalc.points import at_points

    problem = dcalc.load("sqrt(x)*sqrt(x) + y", {"x": 0.0, "y": 1.0})
    x = np.ones(20_000)
    x[[3, 15_000]] = 0.0
    for engine in ("reverse", "forward"):
        result = at_points(engine, problem.graph, {"x": x, "y": np.ones(20_000)})
        assert list(np.flatnonzero(result.zero_times_infinity_at)) == [3, 15_000], engine
        assert result.jacobian[("f", "x")][2] == 1.0 and result.jacobian[("f", "x")][3] == 0.0

