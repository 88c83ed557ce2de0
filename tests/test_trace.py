"""Trace tables: the lecture's numbers and notation, from the engines' own passes."""

import json
from pathlib import Path

import pytest

import dcalc
from dcalc.trace import forward_trace, reverse_trace

GOLDEN = Path(__file__).parent / "golden"
LECTURE = "ln(x1)+x1*x2-sin(x2)"


def lines(text):
    return [line.rstrip() for line in text.rstrip("\n").splitlines()]


@pytest.mark.parametrize(
    "mode, golden, extra",
    [("forward", "lecture_forward.txt", ["--wrt", "x1"]), ("reverse", "lecture_reverse.txt", [])],
)
def test_lecture_traces_golden(cli, mode, golden, extra):
    result = cli("trace", LECTURE, "--at", "x1=2,x2=5", "--mode", mode, *extra)
    assert result.exit_code == 0, result.output
    assert lines(result.stdout) == lines((GOLDEN / golden).read_text(encoding="utf-8"))


def values(trace):
    return [float(row.value) for row in trace.rows]


def test_forward_trace_numbers_are_the_lectures():
    problem = dcalc.load(LECTURE, "x1=2,x2=5")
    primal, tangent = forward_trace(problem.graph, problem.values, "x1")
    assert values(primal) == pytest.approx([2, 5, 0.693, 10, -0.959, 10.693, 11.652, 11.652], abs=6e-4)
    assert values(tangent) == pytest.approx([1, 0, 0.5, 5, 0, 5.5, 5.5, 5.5], abs=1e-15)
    texts = [f"{row.label.unicode} = {row.definition.unicode}" for row in tangent.rows]
    assert texts[:5] == ["v̇₋₁ = ẋ₁", "v̇₀ = ẋ₂", "v̇₁ = v̇₋₁ / v₋₁", "v̇₂ = v̇₋₁ × v₀ + v̇₀ × v₋₁", "v̇₃ = v̇₀ × cos v₀"]
    assert texts[-1] == "ẏ = v̇₅"


def test_reverse_trace_numbers_and_accumulation():
    problem = dcalc.load(LECTURE, "x1=2,x2=5")
    _, adjoint = reverse_trace(problem.graph, problem.values)
    rows = [(row.label.ascii, float(row.value)) for row in adjoint.rows]
    assert rows[:5] == [("vbar_5", 1.0), ("vbar_4", 1.0), ("vbar_3", -1.0), ("vbar_1", 1.0), ("vbar_2", 1.0)]
    assert rows[5][0] == "vbar_0" and rows[5][1] == pytest.approx(-0.284, abs=5e-4)
    assert rows[6] == ("vbar_-1", 5.0)
    assert rows[7][0] == "vbar_0" and rows[7][1] == pytest.approx(1.716, abs=5e-4)
    assert rows[8] == ("vbar_-1", 5.5)
    assert rows[9:] == [("bar_x1", 5.5), ("bar_x2", 1.7163378145367738)]
    accumulated = adjoint.rows[8]
    assert accumulated.definition.unicode == "v̄₋₁ + v̄₁ ∂v₁/∂v₋₁"
    assert accumulated.rule.unicode == "v̄₋₁ + v̄₁ / v₋₁"
    assert adjoint.rows[2].rule.unicode == "v̄₅ × (−1)"


def test_trace_is_what_the_engine_computed_at_this_point(cli):
    first = json.loads(cli("trace", LECTURE, "--at", "x1=2,x2=5", "--mode", "reverse", "--format", "json").stdout)
    second = json.loads(cli("trace", LECTURE, "--at", "x1=3,x2=5", "--mode", "reverse", "--format", "json").stdout)
    assert first["traces"][0]["rows"][0]["value"] == 2.0 and second["traces"][0]["rows"][0]["value"] == 3.0
    last_first, last_second = first["traces"][1]["rows"][-2], second["traces"][1]["rows"][-2]
    assert last_first["node"] == last_second["node"] == "bar_x1"
    assert last_first["value"] == 5.5 and last_second["value"] == pytest.approx(5 + 1 / 3, rel=1e-15)


def test_ascii_markdown_latex_formats(cli):
    result = cli("trace", LECTURE, "--at", "x1=2,x2=5", "--mode", "reverse", "--ascii", "--format", "markdown")
    assert "| vbar_-1 | vbar_-1 + vbar_1 dv_1/dv_-1 | vbar_-1 + vbar_1/v_-1 | 5.5 |" in result.stdout
    result = cli("trace", LECTURE, "--at", "x1=2,x2=5", "--wrt", "x1", "--format", "latex")
    assert r"\dot{v}_{2} & = \dot{v}_{-1} \cdot v_{0} + \dot{v}_{0} \cdot v_{-1} & = 5 \\" in result.stdout
    result = cli("trace", LECTURE, "--at", "x1=2,x2=5", "--wrt", "x1", "--precision", "8")
    assert "11.652071" in result.stdout


def test_array_program_traces_with_shapes(cli):
    result = cli("trace", "sum_ = s * x", "--at", "x=[1,2,3],s=2", "--wrt", "s", "--format", "json")
    data = json.loads(result.stdout)
    tangent = data["traces"][1]["rows"]
    assert tangent[-1]["value"] == [1.0, 2.0, 3.0] and tangent[-1]["shape"] == [3]


def test_trace_errors(cli):
    result = cli("trace", LECTURE, "--at", "x1=2,x2=5")
    assert result.exit_code == 2 and "--wrt x1 or --wrt x2" in result.stderr
    result = cli("trace", LECTURE, "--at", "x1=2,x2=5", "--mode", "sideways")
    assert result.exit_code == 2 and "unknown mode" in result.stderr


LONG_PROGRAM = "\n".join(["t0 = x*\ty"] + [f"t{i} = sin(x) * t{i - 1} + {i}" for i in range(1, 300)])


@pytest.mark.parametrize(
    "args",
    [
        ["show", "{program}"],
        ["show", "{program}", "--full"],  # the tab in the first line is in a cell
        ["show", "{program}", "--ascii", "--at", "x=0.5,y=2"],
        ["trace", "{program}", "--at", "x=0.5,y=2", "--mode", "reverse"],
        ["trace", "{program}", "--at", "x=0.5,y=2", "--mode", "forward", "--wrt", "y", "--ascii"],
    ],
)
@pytest.mark.parametrize("columns", [None, "60"])
def test_long_tables_are_laid_out_as_rich_lays_them_out(cli, tmp_path, monkeypatch, args, columns):
    # print_table lays out the rows of a long table itself (rich is slow on them); the
    # text must be rich's own, and a table too wide for the console is left to rich.
    from dcalc import render

    program = tmp_path / "long.txt"
    program.write_text(LONG_PROGRAM)
    args = [argument.replace("{program}", str(program)) for argument in args]
    if columns:
        monkeypatch.setenv("COLUMNS", columns)
    outputs = []
    for threshold in (10**9, 10):
        monkeypatch.setattr(render, "LONG_TABLE", threshold)
        result = cli(*args)
        assert result.exit_code == 0, result.output[-2000:]
        outputs.append(result.stdout)
    assert outputs[0] == outputs[1]
    assert outputs[0].count("\n") > 300


def test_latex_accents_sit_on_the_letter_not_its_subscript(cli):
    result = cli("trace", "ln(x1)+x1*x2-sin(x2)", "--at", "x1=2,x2=5", "--wrt", "x1", "--format", "latex")
    assert result.exit_code == 0, result.output
    assert r"\dot{x}_{1}" in result.stdout and r"\dot{x_{1}}" not in result.stdout
    reverse = cli("trace", "ln(x1)+x1*x2-sin(x2)", "--at", "x1=2,x2=5", "--mode", "reverse", "--format", "latex")
    assert r"\bar{x}_{2}" in reverse.stdout


def test_latex_traces_of_arrays_are_latex(cli):
    result = cli("trace", "sum(W @ x)", "--at", "W=[[1,2],[3,4]],x=[1,1]", "--mode", "reverse", "--format", "latex")
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert text.isascii()  # no typeset ×, −, ₁ from the terminal notation
    for line in text.splitlines():  # one row a line: no array broken over two
        assert not line.strip() or line.startswith(("%", "\\begin{array}", "\\end{array}")) or line.endswith("\\\\"), line
    assert r"= \left[\begin{array}{rr} 1 & 2 \\ 3 & 4 \end{array}\right]" in text
    # sum's adjoint: v̄ spread, a column
    assert r"= \bar{v}_{2} \mathbf{1}_{2} & = \left[\begin{array}{r} 1 \\ 1 \end{array}\right]" in text
    wide = cli("trace", "sum(x)", "--at", "x=randn(2, 12)", "--wrt", "x", "--format", "latex", "--full").stdout
    assert r"\begin{array}{" + "r" * 12 + "} " in wide and "bmatrix" not in wide  # 12 columns: amsmath's bmatrix stops at 10
    markdown = cli("trace", "sum(W @ x)", "--at", "W=[[1,2],[3,4]],x=[1,1]", "--format", "markdown", "--wrt", "x").stdout
    assert "| v₋₁ | W | 2×2: [[1, 2], [3, 4]] |" in markdown.splitlines()
    big = cli("trace", "x * 1e-7", "--at", "x=1e300", "--wrt", "x", "--format", "latex").stdout
    assert r"1 \times 10^{300}" in big and r"10^{-7}" in big


def test_trace_saves_to_a_file(cli, tmp_path):
    for fmt, start in (("table", "Forward Primal Trace"), ("latex", "% Forward Primal Trace"), ("json", "{")):
        target = tmp_path / f"trace.{fmt}"
        result = cli("trace", LECTURE, "--at", "x1=2,x2=5", "--wrt", "x1", "--format", fmt, "-o", str(target))
        assert result.exit_code == 0 and result.stdout == "" and f"wrote {target}" in result.stderr
        text = target.read_text(encoding="utf-8")
        assert text.startswith(start) and all(line == line.rstrip() for line in text.splitlines())
    assert "v̇₋₁" in (tmp_path / "trace.table").read_text(encoding="utf-8")  # a file is UTF-8

