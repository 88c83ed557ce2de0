"""What a new user meets at the edges: misspelt options, files in the wrong place or
of the wrong kind, shapes that do not fit, output that must stay ASCII, and the
notes that say what a result leaves out."""

import json

import numpy as np
import pytest

import dcalc
from dcalc.compare import run_engines


def test_a_misspelt_long_option_is_named_with_the_closest_ones(cli):
    result = cli("grad", "x^2", "--at", "x=1", "--enigne", "all")
    assert result.exit_code == 2
    assert "no such option: --enigne" in result.output and "did you mean --engine?" in result.output


def test_an_option_a_command_lacks_is_refused_by_name(cli):
    result = cli("eval", "x^2", "--at", "x=1", "--wrt", "x")
    assert result.exit_code == 2 and "no such option: --wrt" in result.output


@pytest.mark.parametrize(
    "args, value",
    [
        (("-x^2", "--at", "x=3"), "-9"),
        (("--at", "x=--3", "x^2"), "9"),
        (("--at=x=3", "-x^2"), "-9"),
        (("--x1", "--at", "x1=2"), "2"),  # an expression that looks like a long option
        (("--x-y", "--at", "x=1,y=2"), "-1"),
        # a minus before letters that are short options: -h is --help, -a is --at, -e is --engine
        (("-sinh(x)", "--at", "x=0"), "-0"),
        (("--at", "x=0", "-hypot(x,1)"), "-1"),
        (("-tanh(x)", "--at", "x=0"), "-0"),
        (("-a*x", "--at", "x=2,a=3"), "-6"),
        (("-exp(x)", "-a", "x=0"), "-1"),
        # a short option with its value attached is still that option
        (("x*y", "-ax=2,y=3"), "6"),
    ],
)
def test_input_and_values_that_start_with_a_dash_are_still_taken(cli, args, value):
    result = cli("eval", *args)
    assert result.exit_code == 0, result.output
    assert result.stdout.split("=")[-1].strip() == value


def test_hessian_direction_of_the_wrong_shape_is_an_input_error(cli):
    result = cli("hessian", "x^2*y", "--at", "x=1,y=2", "--dir", "x=[1,2],y=0")
    assert result.exit_code == 2
    assert "--dir for 'x' has shape (2,), but the input has shape ()" in result.stderr


def test_hessian_vector_product_prints_the_value_and_each_block(cli):
    result = cli("hessian", "x^2*y", "--at", "x=1,y=2", "--dir", "x=1,y=0")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "f = 2"
    # H = [[2y, 2x], [2x, 0]] at (1, 2); H (1, 0) = (4, 2)
    assert "(H v) for x = 4" in result.stdout and "(H v) for y = 2" in result.stdout


def test_save_at_one_point_writes_npz_and_refuses_other_names(cli, tmp_path):
    for name in ("one.csv", "one"):
        result = cli("grad", "x*y", "--at", "x=1,y=2", "--save", str(tmp_path / name))
        assert result.exit_code == 2 and "--save at one point writes .npz files" in result.stderr
        assert not (tmp_path / name).exists() and not (tmp_path / "one.npz").exists()
    assert cli("grad", "x*y", "--at", "x=1,y=2", "--save", str(tmp_path / "one.npz")).exit_code == 0
    with np.load(tmp_path / "one.npz") as saved:
        assert float(saved["f"]) == 2.0 and float(saved["df/dx"]) == 2.0 and float(saved["df/dy"]) == 1.0


def test_save_never_overwrites_the_points_it_reads(cli, tmp_path):
    points = tmp_path / "points.csv"
    points.write_text("x,y\n1,2\n3,4\n", encoding="utf-8")
    for target in (points, tmp_path / "." / "points.csv"):
        result = cli("grad", "x*y", "--points", str(points), "--save", str(target))
        assert result.exit_code == 2 and "which this run reads" in result.stderr
    assert points.read_text(encoding="utf-8") == "x,y\n1,2\n3,4\n"


@pytest.mark.parametrize(
    "text, where",
    [
        ("x,y\n1,2\n\n3,abc\n", "line 4, column 2: 'abc' is not a number"),
        ("x,y\n1,2\n3,4,5\n", "line 3 has 3 cells, where 2 are expected"),
        ("x,y\n1,2\n,5\n", "line 3, column 1: an empty cell is not a number"),
    ],
)
def test_a_bad_csv_row_is_named_by_line_and_column(cli, tmp_path, text, where):
    points = tmp_path / "points.csv"
    points.write_text(text, encoding="utf-8")
    result = cli("grad", "x*y", "--points", str(points))
    assert result.exit_code == 2 and where in result.stderr
    assert "usecols" not in result.stderr and "Traceback" not in result.output


def test_a_bad_value_file_row_is_named_by_line_and_column(cli, tmp_path):
    (tmp_path / "x.txt").write_text("1 2\n3 x\n", encoding="utf-8")
    result = cli("eval", "sum(x)", "--at", f"x=@{tmp_path / 'x.txt'}")
    assert result.exit_code == 2 and "line 2, column 2: 'x' is not a number" in result.stderr


def test_a_file_that_is_not_numpy_is_not_called_pickled(cli, tmp_path):
    garbage = tmp_path / "g.npy"
    garbage.write_bytes(np.random.default_rng(3).bytes(200))
    result = cli("eval", "sum(x)", "--at", f"x=@{garbage}")
    assert result.exit_code == 2 and "is not a NumPy file" in result.stderr
    pickled = tmp_path / "o.npy"
    np.save(pickled, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    result = cli("eval", "sum(x)", "--at", f"x=@{pickled}")
    assert result.exit_code == 2 and "holds pickled objects" in result.stderr


def test_array_program_without_values_hints_at_giving_them(cli):
    result = cli("diff", "sum(W@x)", "--wrt", "x")
    assert result.exit_code == 2
    assert "given no value with --at is taken to be a number" in result.stderr
    assert cli("diff", "sum(W@x)", "--wrt", "x", "--at", "W=randn(2,3),x=randn(3)").exit_code == 0


def test_ascii_output_is_ascii(cli, tmp_path):
    points = tmp_path / "points.csv"
    points.write_text("x\n1\n2\n", encoding="utf-8")
    for args in (
        ("grad", "sum(W@x)", "--at", "W=randn(30,30),x=randn(30)", "--ascii"),
        ("show", "sum(W@x)", "--at", "W=randn(30,30),x=randn(30)", "--ascii"),
        ("trace", "sum(W@x)", "--at", "W=randn(3,3),x=randn(3)", "--wrt", "x", "--ascii"),
        ("grad", "x^2", "--points", str(points), "--ascii"),
    ):
        result = cli(*args)
        assert result.exit_code == 0, result.output
        assert result.stdout.isascii(), [line for line in result.stdout.splitlines() if not line.isascii()][:3]


def test_trace_says_how_an_array_input_is_seeded_and_which_output_it_follows(cli, tmp_path):
    result = cli("trace", "sum(W@x)", "--at", "W=randn(3,3),x=randn(3)", "--wrt", "x")
    assert result.exit_code == 0 and "its tangent is seeded with ones" in result.stderr
    program = tmp_path / "two.txt"
    program.write_text("a = x*y\nb = a+1\nreturn a, b\n", encoding="utf-8")
    result = cli("trace", str(program), "--at", "x=1,y=2", "--mode", "reverse")
    assert result.exit_code == 0 and "this traces the output a; --output picks another (b)" in result.stderr


def test_partial_figures_leave_out_points_where_the_value_is_not_finite(cli, tmp_path):
    points = tmp_path / "points.csv"
    points.write_text("x\n-1\n2\n4\n", encoding="utf-8")
    result = cli("grad", "ln(x)", "--points", str(points), "--json")
    assert result.exit_code == 0, result.output
    partial = json.loads(result.stdout)["summary"]["dy/dx"]
    # at x = -1 ln is NaN while 1/x = -1 is finite; the figures are from x = 2 and 4
    assert partial["min"] == 0.25 and partial["max"] == 0.5 and partial["mean"] == pytest.approx(0.375, rel=1e-15)


def test_diff_order_two_explains_what_it_gives(cli):
    result = cli("diff", "x^2*y", "--order", "2", "--wrt", "x,y")
    assert result.exit_code == 0 and "dcalc hessian gives the mixed ones too" in result.stderr
    result = cli("diff", "sum(x^3)", "--order", "2", "--at", "x=[1,2]")
    assert result.exit_code == 2 and "x has shape (2,)" in result.stderr and "dcalc hessian" in result.stderr


def test_a_function_without_inputs_has_no_partials_to_compare(cli):
    result = cli("diff", "2+3")
    assert result.exit_code == 2 and "this function has no inputs" in result.stderr
    result = cli("grad", "2+3")
    assert result.exit_code == 0 and result.stdout.strip() == "y = 5" and "no partials to compare" in result.stderr


def test_one_sided_derivatives_are_shown_without_rounding_noise(cli):
    result = cli("grad", "max(x, 2*x-1)", "--at", "x=1")
    assert "right 2, left 1" in result.stderr


def test_numeric_agrees_on_a_long_chain_of_sums():
    """x + x + ... + x gathers a rounding at each of its 999 additions: the numeric
    engine's error estimate must cover them rather than call reverse mode wrong."""
    for terms, value in ((1000, 0.1), (3000, 0.37)):
        problem = dcalc.load("+".join(f"x*{k % 7 + 1}" for k in range(terms)), {"x": value})
        runs = run_engines(problem.graph, problem.values, ("reverse", "numeric"))
        assert runs[1].agrees is True, (terms, runs[1].max_rel_diff)


def test_a_healthy_value_near_overflow_is_not_called_ill_conditioned(cli):
    result = cli("grad", "exp(x)", "--at", "x=709", "--strict")
    assert result.exit_code == 0, result.output
    assert "ill-conditioned" not in result.stderr


def test_complex_and_empty_point_files_are_refused(cli, tmp_path):
    np.savez(tmp_path / "complex.npz", x=np.array([1 + 2j, 3j]))
    np.savez(tmp_path / "empty.npz", x=np.zeros((0,)))
    np.save(tmp_path / "complex.npy", np.array([1 + 2j, 3j]))
    result = cli("grad", "x^2", "--points", str(tmp_path / "complex.npz"))
    assert result.exit_code == 2 and "holds complex numbers" in result.stderr
    result = cli("grad", "x^2", "--points", str(tmp_path / "empty.npz"))
    assert result.exit_code == 2 and "holds no points" in result.stderr
    result = cli("eval", "sum(x)", "--at", f"x=@{tmp_path / 'complex.npy'}")
    assert result.exit_code == 2 and "holds complex numbers" in result.stderr


def test_save_never_overwrites_a_file_the_values_come_from(cli, tmp_path):
    weights = tmp_path / "w.npz"
    np.savez(weights, W=np.ones((2, 3)))
    result = cli("grad", "sum(W@x)", "--at", f"W=@{weights}:W,x=[1,2,3]", "--save", str(weights))
    assert result.exit_code == 2 and "which this run reads" in result.stderr
    with np.load(weights) as kept:
        assert kept.files == ["W"]
    sample = tmp_path / "s.dcalc"
    sample.write_text("function: x^2\nat p: x=3\nvalue = 9\n", encoding="utf-8")
    assert cli("check", str(sample), "--junit", str(sample)).exit_code == 2
    assert cli("graph", str(sample), "-o", str(sample)).exit_code == 2
    assert sample.read_text(encoding="utf-8") == "function: x^2\nat p: x=3\nvalue = 9\n"


def test_a_misspelt_option_before_the_input_is_named_too(cli):
    result = cli("grad", "--enigne", "all", "x^2", "--at", "x=1")
    assert result.exit_code == 2 and "no such option: --enigne" in result.output


def test_cells_that_do_not_fit_are_folded_not_cut_short(cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "60")
    result = cli("grad", "ln(x1)+x1*x2-sin(x2)", "--at", "x1=2,x2=5", "--ascii")
    assert result.exit_code == 0 and result.stdout.isascii()
    assert "…" not in result.stdout and "..." not in result.stdout


@pytest.mark.parametrize(
    "text, points",
    [
        ("x,y\n1,2\n# a comment\n3,4\n5,6\n", 3),
        ("# x,y\n1,2\n3,4\n", 2),  # np.savetxt's header
        ("# made by hand\nx,y\n1,2\n", 1),
    ],
)
def test_comment_lines_in_a_csv_of_points_are_no_points(cli, tmp_path, text, points):
    path = tmp_path / "points.csv"
    path.write_text(text, encoding="utf-8")
    result = cli("eval", "x*y", "--points", str(path), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["points"] == points


def test_a_bad_row_after_a_comment_is_named_by_its_own_line(cli, tmp_path):
    path = tmp_path / "points.csv"
    path.write_text("x,y\n1,2\n# a comment\n3,x\n", encoding="utf-8")
    result = cli("grad", "x*y", "--points", str(path))
    assert result.exit_code == 2 and "line 4, column 2: 'x' is not a number" in result.stderr


def test_a_directional_derivative_is_not_saved_silently(cli, tmp_path):
    result = cli("grad", "x*y", "--at", "x=1,y=2", "--dir", "x=1,y=0", "--save", str(tmp_path / "d.npz"))
    assert result.exit_code == 2 and "give one of them" in result.stderr


def test_short_options_with_their_values_attached(cli, tmp_path):
    plotted = cli("plot", "x^2", "-r-1:1", "--width", "20", "--height", "4")
    assert plotted.exit_code == 0 and ["-1", "1"] in [line.split() for line in plotted.stdout.splitlines()]  # the range it was given
    drawn = cli("graph", "x*y", f"-o{tmp_path / 'g.dot'}")
    assert drawn.exit_code == 0 and (tmp_path / "g.dot").read_text().startswith("digraph")
    partial = cli("grad", "x*y*z", "-wx,y", "--at", "x=1,y=2,z=3", "--json")
    assert partial.exit_code == 0 and set(json.loads(partial.stdout)["gradient"]) == {"x", "y"}
