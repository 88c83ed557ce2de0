"""Many points from a file: every engine over all of them in chunks, a summary, every
point written with --save, and clear messages for files that cannot be read."""

import json

import numpy as np
import pytest

import dcalc

LECTURE = "ln(x1)+x1*x2-sin(x2)"


def lecture_points(count: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.uniform(0.5, 3.0, count), rng.uniform(-3.0, 3.0, count)


def by_hand(x1, x2):
    return np.log(x1) + x1 * x2 - np.sin(x2), 1 / x1 + x2, x1 - np.cos(x2)


@pytest.fixture
def csv_points(tmp_path):
    x1, x2 = lecture_points(10_000)
    path = tmp_path / "points.csv"
    np.savetxt(path, np.c_[x1, x2], delimiter=",", header="x1,x2", comments="")
    return path, x1, x2


def test_summary_of_every_quantity_over_the_points(cli, csv_points):
    path, x1, x2 = csv_points
    result = cli("grad", LECTURE, "--points", str(path), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["points"] == 10_000
    for label, expected in zip(("y", "dy/dx1", "dy/dx2"), by_hand(x1, x2)):
        summary = data["summary"][label]
        assert summary["min"] == pytest.approx(expected.min(), rel=1e-13)
        assert summary["max"] == pytest.approx(expected.max(), rel=1e-13)
        assert summary["mean"] == pytest.approx(expected.mean(), rel=1e-12)
        assert summary["not_finite"] == 0
    for engine in ("forward", "symbolic", "numeric"):
        assert data["engines"][engine]["agrees"] is True and data["engines"][engine]["disagreeing_points"] == 0


def test_save_writes_every_point(cli, csv_points, tmp_path):
    path, x1, x2 = csv_points
    target = tmp_path / "out.npz"
    result = cli("grad", LECTURE, "--points", str(path), "--engine", "reverse", "--save", str(target))
    assert result.exit_code == 0, result.output
    value, d1, d2 = by_hand(x1, x2)
    with np.load(target) as saved:
        np.testing.assert_array_equal(saved["x1"], x1)
        # y cancels to near 0 at some points: its terms' rounding (1e-16) is the bound there.
        np.testing.assert_allclose(saved["y"], value, rtol=1e-14, atol=1e-15)
        np.testing.assert_allclose(saved["dy/dx1"], d1, rtol=1e-14)
        np.testing.assert_allclose(saved["dy/dx2"], d2, rtol=1e-14, atol=1e-15)
    table = tmp_path / "out.csv"
    result = cli("grad", LECTURE, "--points", str(path), "--engine", "all", "--save", str(table))
    assert result.exit_code == 0, result.output
    header = table.read_text().splitlines()[0].split(",")
    assert header[:5] == ["x1", "x2", "y", "dy/dx1", "dy/dx2"] and "numeric:dy/dx2" in header
    rows = np.loadtxt(table, delimiter=",", skiprows=1)
    assert rows.shape == (10_000, len(header))
    np.testing.assert_allclose(rows[:, 3], d1, rtol=1e-14)
    np.testing.assert_allclose(rows[:, header.index("forward:dy/dx2")], d2, rtol=1e-13, atol=1e-14)


def test_chunks_and_threads_do_not_change_the_results(csv_points):
    from dcalc.points import read_points, run_batch
    from dcalc.trig import SMALLEST

    path, x1, x2 = csv_points
    graph = dcalc.parse_program(LECTURE)
    small = run_batch(graph, read_points(str(path)), {}, ("reverse", "forward"), memory=2**22, workers=2)
    whole = run_batch(graph, read_points(str(path)), {}, ("reverse", "forward"), memory=2**30, workers=1)
    assert small.chunk < whole.chunk  # several chunks on two threads
    # (Chunks of SMALLEST points or more take sin and cos the same way: dcalc.trig.)
    assert small.chunk >= SMALLEST
    for first, second in zip(small.quantities, whole.quantities):
        assert (first.minimum, first.maximum) == (second.minimum, second.maximum)
        assert first.mean == pytest.approx(second.mean, rel=1e-14)


def test_array_inputs_per_point_and_shared_values(cli, tmp_path):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(50, 3))
    np.savez(tmp_path / "rows.npz", x=x)
    A = [[1.0, 2.0, 0.0], [0.0, 1.0, -1.0]]
    target = tmp_path / "out.npz"
    result = cli("grad", "L = sum(tanh(A @ x))", "--points", str(tmp_path / "rows.npz"), "--at", f"A={A}", "--save", str(target))
    assert result.exit_code == 0, result.output
    A = np.array(A)
    with np.load(target) as saved:
        slope = 1 / np.cosh(x @ A.T) ** 2  # (50, 2): sech^2, as accurate as the engines' own
        np.testing.assert_allclose(saved["dL/dx"], slope @ A, rtol=1e-13)
        np.testing.assert_allclose(saved["dL/dA"], slope[:, :, None] * x[:, None, :], rtol=1e-13)


def test_points_where_values_are_not_finite_are_named(cli, tmp_path):
    path = tmp_path / "some.csv"
    path.write_text("x\n1\n2\n-1\n0.5\n0\n3\n")
    result = cli("grad", "ln(x)*x", "--points", str(path))
    assert result.exit_code == 0, result.output
    assert "not finite at 2 of 6 points (points 2, 4)" in result.stdout
    assert "ln gives a value that is not finite" in result.stderr and "x=-1" in result.stderr


def test_npy_columns_are_named_with_inputs(cli, tmp_path):
    x1, x2 = lecture_points(100)
    np.save(tmp_path / "rows.npy", np.c_[x1, x2])
    result = cli("eval", LECTURE, "--points", str(tmp_path / "rows.npy"), "--inputs", "x1,x2", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["summary"]["y"]["max"] == pytest.approx(by_hand(x1, x2)[0].max(), rel=1e-14)
    # an --at-file that can only hold rows is read as points too
    result = cli("eval", LECTURE, "--at-file", str(tmp_path / "rows.npy"), "--inputs", "x1,x2", "--json")
    assert json.loads(result.stdout)["points"] == 100


def test_quoted_column_names_in_a_csv_header(cli, tmp_path):
    path = tmp_path / "quoted.csv"
    path.write_text('"x1", "x2"\n2,5\n1,0\n')
    result = cli("grad", LECTURE, "--points", str(path), "--engine", "reverse", "--save", str(tmp_path / "out.npz"))
    assert result.exit_code == 0, result.output
    with np.load(tmp_path / "out.npz") as saved:
        np.testing.assert_allclose(saved["dy/dx1"], [1 / 2 + 5, 1 + 0], rtol=1e-15)


@pytest.mark.parametrize(
    "content, options, message",
    [
        ("1,2\n3,4\n", [], "has no header line: name its 2 columns, in order, with --inputs"),
        ("1,2\n3,4\n", ["--inputs", "x1"], "has 2 columns, but --inputs names 1"),
        ("x1,x2\n1,2\n3,oops\n", [], "line 3, column 2: 'oops' is not a number"),
        ("x1,x1\n1,2\n", [], "names the column 'x1' twice"),
        ("x1,x2\n", [], "has a header but no points"),
        ("x1,2x\n1,2\n", [], "'2x', which is not an input name"),
    ],
)
def test_unreadable_point_files(cli, tmp_path, content, options, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    result = cli("grad", LECTURE, "--points", str(path), *options)
    assert result.exit_code == 2 and message in result.stderr, result.output
    assert "Traceback" not in result.output


def test_a_value_given_twice_and_a_column_that_is_no_input(cli, tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("x1,x2,z\n1,2,3\n")
    result = cli("grad", LECTURE, "--points", str(path), "--at", "x1=2")
    assert result.exit_code == 2 and "'x1' is given a value twice (in --at and in" in result.stderr
    result = cli("grad", LECTURE, "--points", str(path))
    assert result.exit_code == 0 and "has a column 'z', which is not an input" in result.stderr


def test_a_file_that_gives_none_of_the_inputs_is_refused(cli, csv_points):
    path = csv_points[0]
    result = cli("grad", "x^2", "--at", "x=1", "--points", str(path))
    assert result.exit_code == 2
    assert "gives none of the inputs of this function (x): its columns are x1, x2" in result.stderr
    assert "Traceback" not in result.output and "internal error" not in result.stderr


def test_values_and_partials_that_no_point_reaches_are_spread_over_the_points(csv_points):
    # The command line refuses such a file (above); the library takes it, x from the shared values.
    from dcalc.points import read_points, run_batch

    path, x1, _ = csv_points
    graph = dcalc.parse_program("x^2")
    report = run_batch(graph, read_points(str(path)), {"x": np.float64(3.0)}, engines=("reverse", "forward", "numeric"))
    value, partial = report.quantities
    assert (value.count, value.minimum, value.maximum) == (len(x1), 9.0, 9.0)
    assert (partial.count, partial.minimum, partial.maximum) == (len(x1), 6.0, 6.0)
    assert all(tally.disagreeing == 0 and tally.failure is None for tally in report.engines)


def test_disagreement_at_some_points_is_reported_with_the_points():
    """An op whose forward rule is wrong for negative arguments: reverse and forward part
    there, and the report names those points."""
    from dcalc.graph import Graph, Primitive
    from dcalc.points import PointSource, run_batch
    from dcalc.primitives import Ufunc

    right = lambda x, out: 2 * x  # noqa: E731  d(x^2)/dx
    square = Primitive("square", Ufunc("square"), 1, partials=(right,))
    graph = Graph()
    x = graph.input("x")
    graph.set_outputs([graph.apply(square, (x,))], ["y"])
    x_values = np.array([1.0, -2.0, 3.0, -4.0])
    source = PointSource("test", 4, {"x": ()}, lambda size: iter([(0, {"x": x_values})]))
    assert run_batch(graph, source, {}, ("reverse", "forward")).agrees
    square.jvp, square.partials = (lambda tangent, x, out=None, node=None: tangent * 2 * abs(x),), None
    square.vjp = (lambda cotangent, x, out=None, node=None: cotangent * 2 * x,)
    graph._cache.clear()
    report = run_batch(graph, source, {}, ("reverse", "forward"))
    assert not report.agrees and report.engines[0].disagreeing == 2 and report.engines[0].first_disagreeing == [1, 3]


def test_numeric_estimate_covers_the_rounding_of_a_sum_that_cancels(tmp_path):
    # dot(w, x) near 0 rounds like its terms w_i x_i: its error estimate must say so
    # (it had been sized by the result, and 0.3% of random points "disagreed").
    from dcalc.points import read_points, run_batch

    rng = np.random.default_rng(7)
    path = tmp_path / "wx.npz"
    np.savez(path, w=rng.standard_normal((20_000, 3)), x=rng.standard_normal((20_000, 3)))
    for text in ("dot(w, x)", "sum(w * x)", "w @ x", "logsumexp(w) + 0*x", "logsumexp(w + x)"):
        graph = dcalc.parse_program(text, given=["w", "x"], shapes={"w": (3,), "x": (3,)})
        report = run_batch(graph, read_points(str(path)), {}, engines=("reverse", "numeric"))
        (numeric,) = report.engines
        assert numeric.disagreeing == 0, (text, numeric.first_disagreeing)
