"""Derivatives of array programs in matrix notation (dcalc diff): the program's own
names for its values, ⊙, ᵀ, juxtaposed matrix products, Σ over axes; LaTeX in the same
notation; --plain text that parses back; scalar derivatives printed as before."""

from pathlib import Path

import numpy as np
import pytest

import dcalc
from dcalc.engines import run_engine
from dcalc.evaluation import evaluate

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def in_the_checkout(monkeypatch):
    """Sample paths as a user in the checkout writes them (samples/...)."""
    monkeypatch.chdir(ROOT)


TANH_LAYER = "z = A @ x + b\nf = tanh(z)\ne = y - f\nL = 0.5 * sum(e^2)\n"
TANH_AT = "A=randn(4,3),x=randn(3),b=randn(4),y=randn(4)"


def diff(cli, *args, program=None):
    result = cli("diff", *args, input=program)
    assert result.exit_code == 0, result.output
    return result.stdout.strip().splitlines()


def problem_of(source, at, program=None):
    """The function of a program text, or of a sample file, at the point ``at``."""
    from dcalc.api import bind
    from dcalc.checking import function_graph, read_sample
    from dcalc.values import parse_at

    if program is not None:
        return dcalc.load(program, at)
    values = parse_at(at)
    return bind(function_graph(read_sample(source), values), values)


def plain_matches_reverse_mode(cli, source, at, wrt, program=None):
    """The --plain derivative parses back and gives reverse mode's numbers."""
    problem = problem_of(source, at, program)
    gradient = run_engine("reverse", problem.graph, problem.values).gradient()
    printed = "\n".join(diff(cli, source, "--wrt", wrt, "--at", at, "--plain", program=program))
    again = dcalc.parse_program(printed, shapes={name: value.shape for name, value in problem.values.items()})
    (value,) = evaluate(again, {name: problem.values[name] for name in again.input_names})
    np.testing.assert_allclose(value, gradient[wrt], rtol=1e-13, err_msg=printed)


def test_tanh_layer_in_matrix_notation_with_the_programs_names(cli):
    # L = 1/2 |y - f|^2, f = tanh(z), z = A x + b: dL/df = f - y, df/dz = sech^2 z (not
    # 1 - f^2, which loses every digit where f rounds to 1), so dL/db = (f - y) ⊙ sech²(z),
    # dL/dA = dL/db xᵀ and dL/dx = Aᵀ dL/db.
    lines = diff(cli, "-", "--wrt", "b,A,x", "--at", TANH_AT, program=TANH_LAYER)
    assert lines == [
        "z = A x + b",
        "f = tanh(z)",
        "∂L/∂b = (f - y) ⊙ (1/cosh(z)²)",
        "∂L/∂A = ((f - y) ⊙ (1/cosh(z)²)) xᵀ",
        "∂L/∂x = Aᵀ ((f - y) ⊙ (1/cosh(z)²))",
    ]
    for wrt in ("b", "A", "x"):
        plain_matches_reverse_mode(cli, "-", TANH_AT, wrt, program=TANH_LAYER)


def test_a_value_the_derivative_does_not_use_is_not_defined(cli):
    # dL/db does not need e; dL/dy = e does.
    assert not any(line.startswith("e =") for line in diff(cli, "-", "--wrt", "b", "--at", TANH_AT, program=TANH_LAYER))
    assert diff(cli, "-", "--wrt", "y", "--at", TANH_AT, program=TANH_LAYER) == ["z = A x + b", "f = tanh(z)", "e = y - f", "∂L/∂y = e"]


def test_batched_affine_bias_sums_over_the_batch(cli):
    # Y[I, N] = W[I, J] V[J, N] + B[I]: dL/dB = Σ over N (axis 1) of dL/dY = 2 Y.
    lines = diff(cli, "samples/batched_affine.dcalc", "--wrt", "B,W,V")
    assert lines == ["Y = W V + B", "∂L/∂B = Σ₁(2 Y)", "∂L/∂W = 2 Y Vᵀ", "∂L/∂V = Wᵀ (2 Y)"]
    at = "W=randn(3,2),V=randn(2,4),B=randn(3,1)"
    for wrt in ("B", "W", "V"):
        plain_matches_reverse_mode(cli, "samples/batched_affine.dcalc", at, wrt)


def test_quadratic_form(cli):
    # d(xᵀ A x)/dx = A x + Aᵀ x; d/dA = x xᵀ (a column times a row, not x ⊙ x).
    assert diff(cli, "x @ (A @ x)", "--wrt", "x,A", "--at", "A=randn(3,3),x=randn(3)") == ["∂y/∂x = A x + Aᵀ x", "∂y/∂A = x xᵀ"]
    for wrt in ("x", "A"):
        plain_matches_reverse_mode(cli, "-", "A=randn(3,3),x=randn(3)", wrt, program="x @ (A @ x)")


def test_logistic_regression(cli):
    # L = mean(softplus(z) - t z), z = X w + c: dL/dz = (sigmoid(z) - t)/5, dL/dw = Xᵀ dL/dz,
    # dL/dc = the sum of dL/dz over the batch.
    lines = diff(cli, "samples/logistic_regression.dcalc", "--wrt", "w,c")
    assert lines[0] == "z = X w + c"
    assert lines[1].startswith("∂L/∂w = Xᵀ (") and "sigmoid(z)" in lines[1]
    assert lines[2].startswith("∂L/∂c = Σ(")
    at = "X=randn(5,3),w=randn(3),c=0.3,t=[1,0,0,1,1]"
    for wrt in ("w", "c", "X"):
        plain_matches_reverse_mode(cli, "samples/logistic_regression.dcalc", at, wrt)


def test_latex_in_matrix_notation(cli):
    lines = diff(cli, "-", "--wrt", "A", "--at", TANH_AT, "--latex", program=TANH_LAYER)
    assert lines == [
        "z = A x + b",
        r"f = \tanh\left(z\right)",
        r"\frac{\partial L}{\partial A} = \left(\left(f - y\right) \odot \frac{1}{\cosh\left(z\right)^{2}}\right) x^{\top}",
    ]
    assert diff(cli, "samples/batched_affine.dcalc", "--wrt", "B", "--latex")[-1] == (
        r"\frac{\partial L}{\partial B} = \sum_{\mathrm{axis}\,1} \left(2 Y\right)"
    )
    everything = "\n".join(diff(cli, "samples/mlp_multiclass.dcalc", "--wrt", "W,M,x", "--latex"))
    assert r"\cosh" in everything and r"^{\top}" in everything and "reshape" not in everything
    assert r"\odot" in diff(cli, "sum(x * exp(y))", "--wrt", "y", "--at", "x=randn(3),y=randn(3)", "--latex")[-1]


def test_reshapes_stay_where_a_column_meets_a_row(cli):
    # reshape(x, (3, 1)) + y spreads x down the columns: written as x it would read as a vector sum.
    lines = diff(cli, "sum(exp(reshape(x, (3, 1)) + y))", "--wrt", "x", "--at", "x=randn(3),y=randn(4)")
    assert lines == ["∂f/∂x = Σ₁(exp(reshape(x, (3, 1)) + y))"]


def test_spread_values_and_squares_of_matrices(cli):
    # d sum(sum(A, 1) x)/dA = x 1ᵀ (x down every column); d (exp(sum x) s)/dx = exp(sum x) s 1.
    assert diff(cli, "sum(sum(A, 1) * x)", "--wrt", "A", "--at", "A=randn(3,4),x=randn(3)") == ["∂y/∂A = x 𝟏ᵀ"]
    assert diff(cli, "L = exp(sum(x))", "--wrt", "x", "--at", "x=randn(3)") == ["L = exp(Σ(x))", "∂L/∂x = L 𝟏"]
    # d sum(A B)/dA_ij = sum over l of B_jl: ones (2 x 4) times Bᵀ.
    assert diff(cli, "sum(A @ B)", "--wrt", "A", "--at", "A=randn(2,3),B=randn(3,4)") == ["∂y/∂A = 𝟏 Bᵀ"]
    # A² would read as the matrix product A A; the elementwise square is A⊙².
    assert diff(cli, "sum(A^3)", "--wrt", "A", "--at", "A=randn(2,2)") == ["∂y/∂A = 3 A⊙²"]


def test_scalar_derivatives_print_as_before(cli, program_path):
    assert diff(cli, "x^2 + 1") == ["2*x"]
    assert diff(cli, "ln(x1)+x1*x2-sin(x2)", "--wrt", "x2") == ["x1 - cos(x2)"]
    assert diff(cli, "ln(x1)+x1*x2-sin(x2)", "--wrt", "x1", "--latex") == [r"x_{2} + \frac{1}{x_{1}}"]
    # A scalar program with named values: no names, no labels; the same text as --plain.
    source = str(program_path("domke.wl"))
    assert diff(cli, source, "--wrt", "x") == diff(cli, source, "--wrt", "x", "--plain")
    assert not any("∂" in line for line in diff(cli, source, "--wrt", "x"))


def test_shared_parts_do_not_take_the_programs_names(cli):
    program = "t1 = A @ x\nt2 = sin(t1) * exp(t1) / (1 + t1^2)\ne = t2 - y\nL = sum(e^2 * exp(t1)) + e^2 @ cos(w)\n"
    lines = diff(cli, "-", "--wrt", "x", "--at", "A=randn(3,3),x=randn(3),y=randn(3),w=randn(3)", program=program)
    defined = [line.split(" = ")[0] for line in lines[:-1]]
    assert defined[:2] == ["t1", "u1"] and len(defined) == len(set(defined))
    assert all(name in ("t1", "t2", "e") or name.startswith("u") for name in defined)


def test_e_the_constant_is_not_written_as_the_programs_e(cli):
    lines = diff(cli, "e = exp(x) * 2.718281828459045; L = sum(e)", "--wrt", "x", "--at", "x=randn(3)")
    assert lines == ["∂L/∂x = (2.718281828459045 𝟏) ⊙ exp(x)"]


def test_latex_and_plain_together_is_an_error(cli):
    result = cli("diff", "x^2", "--latex", "--plain")
    assert result.exit_code == 2 and "--latex and --plain" in result.stderr


def test_sample_from_standard_input_in_matrix_notation(cli, sample_path):
    text = sample_path("quadratic_form.dcalc").read_text()
    assert diff(cli, "-", "--wrt", "A", program=text) == ["∂y/∂A = x xᵀ"]


def test_library_prints_matrix_notation_without_names():
    from dcalc.engines.symbolic import derivative

    graph = dcalc.parse_program(TANH_LAYER, shapes={"A": (4, 3), "x": (3,), "b": (4,), "y": (4,)})
    assert dcalc.to_matrix(derivative(graph, "b")) == "(tanh(A x + b) - y) ⊙ (1/cosh(A x + b)²)"


def test_without_unicode_the_plain_text_is_printed(cli, monkeypatch):
    import dcalc.cli

    monkeypatch.setattr(dcalc.cli, "_unicode_ok", lambda: False)
    result = cli("diff", "samples/batched_affine.dcalc", "--wrt", "B")
    assert result.exit_code == 0 and result.stdout.strip() == "reshape(sum(2*(W @ V + B), (1,)), (3, 1))"
    assert "plain text (--plain)" in result.stderr
