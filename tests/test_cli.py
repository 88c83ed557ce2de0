"""The command line as a user meets it: values, JSON, tables, and every error kind
answered with a message and exit status 2, never a traceback."""

import inspect
import json
import math
import os
import subprocess
import sys

import numpy as np

import dcalc
import pytest

LECTURE = "ln(x1)+x1*x2-sin(x2)"


def test_eval_lecture_example_json(cli):
    result = cli("eval", LECTURE, "--at", "x1=2,x2=5", "--json")
    assert result.exit_code == 0, result.output
    value = json.loads(result.stdout)["value"]
    assert abs(value - 11.652071455223084) <= 1e-15 * 11.652071455223084


def test_eval_prints_full_precision(cli):
    result = cli("eval", LECTURE, "--at", "x1=2", "--at", "x2=5")
    assert result.exit_code == 0
    assert result.stdout.strip() == "y = 11.652071455223084"


def test_eval_program_file_and_stdin(cli, program_text, program_path):
    result = cli("eval", str(program_path("load.wl")), "--at", "x=1,a=2,b=3", "--json")
    assert json.loads(result.stdout) == {"value": 12.0}
    result = cli("eval", "-", "--at", "x=0.5", "--json", input=program_text("domke.wl"))
    closed = cli("eval", program_text("domke_closed_form.wl").splitlines()[-1], "--at", "x=0.5", "--json")
    assert json.loads(result.stdout)["value"] == json.loads(closed.stdout)["value"]


def test_eval_several_outputs_and_arrays(cli):
    result = cli("eval", "a = exp(x); b = a^2; return a, b", "--at", "x=0", "--json")
    assert json.loads(result.stdout) == {"value": {"a": 1.0, "b": 1.0}}
    result = cli("eval", "A @ x", "--at", "A=[[1,2],[3,4]],x=[1,-1]", "--json")
    assert json.loads(result.stdout) == {"value": [-1.0, -1.0]}


def test_at_values_go_through_the_grammar(cli):
    # Commas inside lists and calls do not split the assignment list.
    result = cli("eval", "x*y + sum_", "--at", "x=[1, 2],y=2^-1,sum_=-1e-3", "--json")
    assert json.loads(result.stdout)["value"] == pytest.approx([0.499, 0.999], rel=1e-15)


@pytest.mark.parametrize("number", ["2", "2.", ".5", "-1e-3", "+3", "1_000.5", "1E5", "-inf", "nan"])
def test_at_accepts_float_syntax(cli, number):
    result = cli("eval", "x", "--at", f"x={number}", "--json")
    assert result.exit_code == 0, result.output
    expected = float(number)
    got = json.loads(result.stdout)["value"]
    if np.isnan(expected):
        assert got == "nan"
    elif np.isinf(expected):
        assert got == "-inf"
    else:
        assert got == expected


def test_show_numbers_as_the_lecture(cli):
    result = cli("show", LECTURE)
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    rows = {line.split()[0]: line for line in lines if line.startswith("v")}
    assert "ln v₋₁" in rows["v₁"]
    assert "v₋₁ × v₀" in rows["v₂"]
    assert "sin v₀" in rows["v₃"]
    assert "v₁ + v₂" in rows["v₄"]
    assert "v₄ − v₃" in rows["v₅"] and "ln(x1)+x1*x2-sin(x2)" in rows["v₅"]
    assert lines[-1] == "y = v₅"


def test_show_with_values_and_ascii(cli, program_text):
    result = cli("show", "-", "--at", "x=1,a=2,b=3", "--ascii", input=program_text("load.wl"))
    assert result.exit_code == 0
    rows = {line.split()[0]: line for line in result.stdout.splitlines() if line.startswith("v")}
    assert rows.keys() == {"v_-2", "v_-1", "v_0", "v_1", "v_2", "v_3"}
    assert rows["v_3"].rstrip().endswith("12")
    assert "y = v_3" in result.stdout


def test_python_dash_m_runs_the_cli():
    completed = subprocess.run(
        [sys.executable, "-m", "dcalc", "eval", "x^2 + 1", "--at", "x=3", "--json"], capture_output=True, text=True, timeout=60
    )
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout) == {"value": 10.0}


# ---- errors: the whole catalogue of bad input is tests/test_bad_input.py -----------


def assert_bad_input(result, *fragments):
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


def test_syntax_error_shows_line_caret_and_expected(cli):
    result = cli("eval", "x1 + * x2", "--at", "x1=1,x2=2")
    assert_bad_input(result, "syntax error", "unexpected '*'", "expected an expression", "x1 + * x2")
    caret_line = [line for line in result.stderr.splitlines() if line.strip().endswith("^")][0]
    assert caret_line.index("^") == caret_line.index("|") + 2 + len("x1 + ")


def test_messages_show_colons_as_written(cli):
    # rich would turn :smile: into an emoji; a file name must stay as the user wrote it.
    assert_bad_input(cli("eval", "x", "--at", "x=@:smile:.npy"), "no such file: :smile:.npy", "x=@:smile:.npy")


def test_value_files(cli, tmp_path):
    np.save(tmp_path / "w.npy", np.array([1.0, 2.0]))
    np.savez(tmp_path / "both.npz", a=np.array([3.0]), b=np.array([[1.0, 2.0]]))
    (tmp_path / "v.csv").write_text("1,2\n3,4\n")
    result = cli("eval", "sum_", "--at", f"sum_=@{tmp_path / 'w.npy'}", "--json")
    assert json.loads(result.stdout)["value"] == [1.0, 2.0]
    result = cli("eval", "q", "--at", f"q=@{tmp_path / 'both.npz'}:b", "--json")
    assert json.loads(result.stdout)["value"] == [[1.0, 2.0]]
    result = cli("eval", "q", "--at", f"q=@{tmp_path / 'v.csv'}", "--json")
    assert json.loads(result.stdout)["value"] == [[1.0, 2.0], [3.0, 4.0]]
    assert_bad_input(cli("eval", "q", "--at", f"q=@{tmp_path / 'both.npz'}"), "holds several arrays")


def test_domain_problem_is_reported_with_its_node(cli):
    result = cli("eval", "x + ln(x - 3)", "--at", "x=1")
    assert result.exit_code == 0
    assert "warning: ln gives a value that is not finite" in result.stderr
    assert "ln(x - 3)" in result.stderr


def test_one_shot_grad_imports_only_what_it_needs():
    # Start-up is most of a one-shot run (bench/startup.py times it): a smooth
    # function at plain numbers needs neither a random generator nor kink checks.
    script = (
        "import sys\n"
        "from dcalc.cli import main\n"
        "sys.argv = ['dcalc', 'grad', 'ln(x1)+x1*x2-sin(x2)', '--at', 'x1=2,x2=5', '--json']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "modules = sorted(sys.modules)\n"
        "import json\n"
        "print(json.dumps(modules), file=sys.stderr)\n"
    )
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    gradient = json.loads(completed.stdout)["gradient"]
    # d/dx1 = 1/x1 + x2, d/dx2 = x1 - cos(x2)
    assert gradient == {"x1": pytest.approx(1 / 2 + 5, rel=1e-15), "x2": pytest.approx(2 - math.cos(5), rel=1e-15)}
    modules = set(json.loads(completed.stderr.strip().splitlines()[-1]))
    assert "dcalc.engines.symbolic" in modules  # all four engines ran
    assert "numpy.random" not in modules and "dcalc.checking" not in modules


def test_help_lists_every_command_and_each_command_has_its_own():
    # main() builds only the command that is run: the overview must still list all.
    listing = subprocess.run([sys.executable, "-m", "dcalc", "--help"], capture_output=True, text=True, timeout=60)
    assert listing.returncode == 0, listing.stderr
    for name in ("eval", "show", "grad", "jacobian", "hessian", "diff", "trace", "graph", "plot", "check"):
        assert f" {name} " in listing.stdout, name
    grad = subprocess.run([sys.executable, "-m", "dcalc", "grad", "--help"], capture_output=True, text=True, timeout=60)
    assert grad.returncode == 0 and "dcalc grad" in grad.stdout and "--wrt" in grad.stdout


def test_real_process_errors_have_no_traceback():
    completed = subprocess.run([sys.executable, "-m", "dcalc", "eval", "sin(x", "--at", "x=1"], capture_output=True, text=True, timeout=60)
    assert completed.returncode == 2
    assert "Traceback" not in completed.stderr
    assert "never closed" in completed.stderr


def test_at_file_json_and_npz(cli, tmp_path):
    (tmp_path / "point.json").write_text('{"x1": 2, "x2": 5}')
    result = cli("grad", "ln(x1)+x1*x2-sin(x2)", "--at-file", str(tmp_path / "point.json"), "--json", "--engine", "reverse")
    assert json.loads(result.stdout)["gradient"] == {"x1": 5.5, "x2": 1.7163378145367738}
    np.savez(tmp_path / "point.npz", A=np.eye(2), x=np.array([1.0, 2.0]))
    result = cli("eval", "A @ x", "--at-file", str(tmp_path / "point.npz"), "--json")
    assert json.loads(result.stdout)["value"] == [1.0, 2.0]
    result = cli("eval", "x", "--at-file", str(tmp_path / "point.npz"), "--at", "x=1")
    assert result.exit_code == 2 and "given a value twice" in result.stderr
    (tmp_path / "list.json").write_text("[1, 2]")
    assert cli("eval", "x", "--at-file", str(tmp_path / "list.json")).exit_code == 2


def test_seed_changes_generated_values_and_repeats(cli):
    def value(*extra):
        return json.loads(cli("grad", "sum(A)", "--at", "A=randn(3)", "--engine", "reverse", "--json", *extra).stdout)["value"]

    assert value() == value() == value("--seed", "0")
    assert value("--seed", "1") != value()


# ---- sample files (.dcalc) as INPUT ---------------------------------------------------------


def test_sample_file_as_input_uses_its_first_point(cli, sample_path):
    lecture = str(sample_path("lecture.dcalc"))
    result = cli("eval", lecture, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["value"] == pytest.approx(11.652071455223084, rel=1e-15)
    assert f"values of x1, x2 from the point 'lecture' of {lecture} (line 6)" in result.stderr
    # --at gives other values, the point the rest: d/dx1 = 1/x1 + x2, d/dx2 = x1 - cos x2 at (2, 0).
    result = cli("grad", lecture, "--at", "x2=0", "--engine", "reverse", "--json")
    assert json.loads(result.stdout)["gradient"] == {"x1": pytest.approx(0.5, rel=1e-15), "x2": pytest.approx(1.0, rel=1e-15)}
    assert "values of x1 from" in result.stderr


@pytest.mark.parametrize("command", [("show",), ("graph",), ("trace", "--mode", "reverse"), ("grad",), ("jacobian",), ("diff", "--wrt", "B")])
def test_every_command_reads_sample_files(cli, sample_path, command):
    # The program needs the point's shapes: W @ V of scalars would be a shape error.
    result = cli(command[0], str(sample_path("batched_affine.dcalc")), *command[1:])
    assert result.exit_code == 0, result.output


def test_sample_from_standard_input(cli, sample_path):
    text = sample_path("batched_affine.dcalc").read_text()
    from_stdin = cli("eval", "-", "--json", input=text)
    from_file = cli("eval", str(sample_path("batched_affine.dcalc")), "--json")
    assert from_stdin.exit_code == 0 and json.loads(from_stdin.stdout) == json.loads(from_file.stdout)
    assert "of <stdin> (line 10)" in from_stdin.stderr


def test_broken_sample_is_a_syntax_error_with_its_line(cli, tmp_path):
    broken = tmp_path / "broken.dcalc"
    broken.write_text("function: x^2\nat p: x=\n")
    result = cli("eval", str(broken))
    assert result.exit_code == 2 and "broken.dcalc:2" in result.stderr and "Traceback" not in result.output


def test_each_command_summary_is_one_paragraph_without_line_breaks():
    # The overview lists each command's first paragraph with its line breaks kept.
    from dcalc.cli import app

    for command in app.registered_commands:
        summary = inspect.cleandoc(command.callback.__doc__).split("\n\n")[0]
        assert "\n" not in summary, command.name


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
def test_a_full_disk_is_reported_as_such_not_as_a_bug():
    with open("/dev/full", "w") as full:
        completed = subprocess.run([sys.executable, "-m", "dcalc", "grad", "x^2", "--at", "x=1"], stdout=full, stderr=subprocess.PIPE, text=True, timeout=60)
    assert completed.returncode == 2
    assert "No space left on device" in completed.stderr and "bug" not in completed.stderr and "Traceback" not in completed.stderr


def test_an_os_error_that_is_no_trouble_of_the_system_is_still_a_bug(cli, monkeypatch):
    import io

    from dcalc import render

    def broken(*args, **kwargs):
        raise io.UnsupportedOperation("not readable")  # an OSError with no errno: dcalc's mistake

    monkeypatch.setattr(render, "show_table", broken)
    result = cli("show", "x^2")
    assert result.exit_code == 3 and "internal error: UnsupportedOperation" in result.stderr


def test_array_values_starting_with_nan_or_inf_are_shown_in_tables(cli):
    # rich read "[nan, 2]" as a markup tag and printed nothing in its place.
    result = cli("grad", "sum(x*x)", "--at", "x=[nan,1]")
    assert result.exit_code == 0, result.output
    assert "[nan, 2]" in result.stdout
    result = cli("show", "exp(x)", "--at", "x=[inf,1]")
    assert result.exit_code == 0 and "[inf, 1]" in result.stdout and "[inf, 2.71828]" in result.stdout
    result = cli("trace", "sum(exp(x))", "--at", "x=[inf,1]")
    assert result.exit_code == 0 and "[inf, 2.718" in result.stdout


def test_engines_table_has_no_difference_to_show_where_nothing_is_finite(cli):
    result = cli("grad", "sqrt(x)", "--at", "x=-1")
    rows = [line for line in result.stdout.splitlines() if line.startswith(("forward", "symbolic", "numeric"))]
    assert len(rows) == 3
    for row in rows:
        cells = [cell.strip() for cell in row.replace("┃", "│").split("│")]
        assert cells[2:4] == ["n/a", "n/a"], row


def test_hessian_over_scalar_inputs_is_one_labelled_matrix(cli):
    result = cli("hessian", LECTURE, "--at", "x1=2,x2=5", "--full")
    assert result.exit_code == 0, result.output
    rows = {cells[0]: cells[1:] for cells in ([cell.strip() for cell in line.split("│")] for line in result.stdout.splitlines() if "│" in line)}
    assert [float(value) for value in rows["x1"]] == [-1 / 4, 1.0]
    assert float(rows["x2"][0]) == 1.0 and abs(float(rows["x2"][1]) - math.sin(5)) <= 1e-15
    assert "symmetric to rounding" in result.stdout
    ascii_ = cli("hessian", "sum(x*x)*y", "--at", "x=[1,2],y=3", "--ascii")
    assert ascii_.exit_code == 0 and ascii_.stdout.isascii()
    assert "d2f/dx dy  (shape 2)" in ascii_.stdout and "|H - H^T|" in ascii_.stdout


def test_jacobian_of_scalars_is_one_matrix_outputs_by_inputs(cli):
    result = cli("jacobian", "-", "--at", "x=1,y=2", input="a = x*y\nb = sin(x) + y^2\nreturn a, b\n")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[1] == "∂(row)/∂(column)"
    assert lines[2].split() == ["┃", "x", "┃", "y"]
    assert lines[4].split() == ["a", "│", "2", "│", "1"] and lines[5].split() == ["b", "│", f"{math.cos(1):.10g}", "│", "4"]


def test_jacobian_blocks_of_rank_three_and_more_are_labelled_by_leading_index(cli):
    result = cli("jacobian", "A @ x", "--at", "A=[[1,2],[3,4]],x=[1,1]", "--ascii")
    assert result.exit_code == 0 and result.stdout.isascii()
    lines = result.stdout.splitlines()
    start = lines.index("dy/dA  (shape 2x2x2)")
    assert [line.split() for line in lines[start + 1 : start + 5]] == [["[0]", "1", "1"], ["0", "0"], ["[1]", "0", "0"], ["1", "1"]]


def test_a_hessian_matrix_too_wide_for_the_console_is_printed_an_entry_at_a_time(cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "60")
    result = cli("hessian", "sin(a*b)*exp(c-d)*cos(e+f)/3", "--at", "a=.3,b=.7,c=.1,d=.2,e=.5,f=.9")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    entry = lines[lines.index("∂²y/∂a ∂c  (shape scalar)") + 1]
    assert entry.strip() == "0.03509658771"  # ten digits, none lost to a squeezed column


def test_commands_that_take_one_output_say_which_of_several(cli, tmp_path):
    program = tmp_path / "two.txt"
    program.write_text("a = x*y\nb = sin(x) + y^2\nreturn a, b\n")
    plotted = cli("plot", str(program), "--wrt", "x", "--at", "y=1", "--width", "20", "--height", "5")
    assert plotted.exit_code == 0 and "note: this plots the output a; the others are not drawn (b)" in plotted.stderr
    differentiated = cli("diff", str(program), "--wrt", "x")
    assert differentiated.stdout.strip() == "y" and "--output picks another (b)" in differentiated.stderr
    assert cli("diff", str(program), "--wrt", "x", "--output", "b").stdout.strip() == "cos(x)"
    second = cli("hessian", str(program), "--at", "x=1,y=2", "--output", "b", "--json")
    assert second.exit_code == 0, second.output
    hessian = json.loads(second.stdout)["hessian"]
    assert hessian["x"]["x"] == -math.sin(1.0) and hessian["y"]["y"] == 2.0 and hessian["x"]["y"] == 0.0


def test_an_ellipsis_never_hides_a_single_row(cli):
    result = cli("jacobian", "A @ x", "--at", "A=[[1,2],[3,4],[5,6]],x=[1,1]", "--ascii")
    lines = result.stdout.splitlines()
    start = lines.index("dy/dA  (shape 3x3x2)")
    block = lines[start + 1 : start + 10]
    assert not any(":" in line for line in block)
    assert [line.split() for line in block[3:5]] == [["[1]", "0", "0"], ["1", "1"]]  # the row an ellipsis had hidden


def test_a_trace_reports_a_value_that_is_not_finite(cli):
    result = cli("trace", "ln(x)", "--at", "x=-1", "--mode", "reverse")
    assert result.exit_code == 0 and "warning: ln gives a value that is not finite here (at x=-1)" in result.stderr


def test_directional_derivative_in_ascii_and_the_engine_it_does_not_use(cli):
    result = cli("grad", "x*y", "--at", "x=1,y=2", "--dir", "x=1,y=1", "--ascii", "--engine", "numeric")
    assert result.exit_code == 0 and result.stdout.isascii() and result.stderr.isascii()
    assert "gradient . direction (reverse mode)  = 3" in result.stdout and "--engine numeric is not used" in result.stderr


def test_o_is_save_in_every_command_that_writes_a_file(cli, tmp_path):
    assert cli("grad", "x^2", "--at", "x=3", "-o", str(tmp_path / "g.npz")).exit_code == 0
    assert dict(np.load(tmp_path / "g.npz")) == {"y": 9.0, "dy/dx": 6.0}
    result = cli("diff", "x^2", "-o", str(tmp_path / "d.txt"))
    assert (tmp_path / "d.txt").read_text() == "2*x\n"
    assert "1 line, 4 characters written to" in result.stdout
    assert cli("graph", "x^2", "-o", str(tmp_path / "g.dot")).exit_code == 0
    assert (tmp_path / "g.dot").read_text().startswith("digraph")
    result = cli("hessian", "x^2", "--at", "x=1", "-o", "y")  # hessian writes no file; --output NAME picks an output
    assert result.exit_code == 2 and "no such option: -o" in result.output


def test_a_long_run_of_finite_differences_is_announced(capsys):
    from dcalc.cli import _warn_of_passes
    from dcalc.engines.numeric import evaluations

    graph = dcalc.parse_program("sum(tanh(M @ x))", shapes={"M": (300, 400), "x": (400,)})
    _warn_of_passes(graph, "numeric", ["M"], "richardson")
    components = 300 * 400
    assert f"{components:,} of them, {components * evaluations('richardson'):,} evaluations in all" in capsys.readouterr().err
    _warn_of_passes(graph, "numeric", ["x"], "richardson")  # 400 components: no wait worth a note
    assert capsys.readouterr().err == ""

