"""Pictures: the graph as DOT/Mermaid/SVG/PNG and the plot of f and f′."""

import shutil
import struct

import numpy as np
import pytest

import dcalc
from dcalc.drawing import braille_canvas, sample

GOLDEN_DOT = "golden/domke.dot"


def test_domke_dot_golden(cli, program_path):
    from pathlib import Path

    result = cli("graph", str(program_path("domke.wl")))
    assert result.exit_code == 0, result.output
    assert result.stdout == (Path(__file__).parent / GOLDEN_DOT).read_text(encoding="utf-8")


def test_dot_shares_subexpressions_once(cli):
    result = cli("graph", "exp(exp(x) + exp(x)^2) + sin(exp(x) + exp(x)^2)")
    body = result.stdout
    assert body.count("exp v₀") == 1  # exp(x) is one node
    assert body.count("v₁ + v₂") == 1  # so is exp(x) + exp(x)^2
    assert body.count("->") == 8


def test_graph_with_values_and_adjoints(cli):
    result = cli("graph", "ln(x1)+x1*x2-sin(x2)", "--at", "x1=2,x2=5", "--format", "mermaid")
    assert result.exit_code == 0
    assert 'n0["v₋₁ = x1<br/>value 2<br/>adjoint 5.5"]' in result.stdout
    assert "adjoint 1.716" in result.stdout
    assert result.stdout.startswith("flowchart LR")


def test_svg_needs_graphviz_or_says_how(cli, tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    result = cli("graph", "x^2", "--format", "svg")
    assert result.exit_code == 2
    assert "Graphviz" in result.stderr and "apt-get install graphviz" in result.stderr


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed (.ci/run installs it)")
def test_svg_and_png_through_graphviz(cli, tmp_path):
    result = cli("graph", "ln(x1)+x1*x2-sin(x2)", "--format", "svg")
    assert result.exit_code == 0 and "<svg" in result.stdout
    target = tmp_path / "graph.png"
    result = cli("graph", "ln(x1)+x1*x2-sin(x2)", "--at", "x1=2,x2=5", "--format", "png", "-o", str(target))
    assert result.exit_code == 0, result.output
    data = target.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert width > 50 and height > 50


def test_plot_extremes_line_up_with_sin_and_cos():
    data = sample(dcalc.parse_program("sin(x)"), {}, "x", -3.0, 3.0, points=600)
    cells, owner, low, high, clipped = braille_canvas(data, width=60, height=20)
    assert low == pytest.approx(-1.0, abs=1e-3) and high == pytest.approx(1.0, abs=1e-3) and not clipped

    def top_column(curve):
        for row in range(len(cells)):
            columns = [column for column in range(60) if owner[row][column] == curve]
            if columns:
                return columns
        return []

    # Cell width in x: 6 / 60 = 0.1. sin peaks at pi/2, cos at 0.
    sin_top = np.mean(top_column(0)) * 0.1 - 3 + 0.05
    cos_top = np.mean(top_column(1)) * 0.1 - 3 + 0.05
    assert sin_top == pytest.approx(np.pi / 2, abs=0.25)
    assert cos_top == pytest.approx(0.0, abs=0.25)


def test_plot_draws_two_labelled_curves(cli):
    result = cli("plot", "sin(x)", "--wrt", "x", "--range", "-3:3")
    assert result.exit_code == 0, result.output
    assert "y(x)" in result.stdout and "dy/dx" in result.stdout
    assert any(0x2800 < ord(char) <= 0x28FF for char in result.stdout)
    # no colour to tell the curves apart (a pipe): the derivative is drawn in dots
    assert "· dy/dx" in result.stdout and result.stdout.count("·") > 20


def test_plot_leaves_gaps_where_not_finite(cli):
    data = sample(dcalc.parse_program("ln(x)"), {}, "x", -1.0, 1.0, points=200)
    assert np.isnan(data.f[0]) and np.isfinite(data.f[-1])
    result = cli("plot", "ln(x)", "--range", "-1:1")
    assert result.exit_code == 0, result.output
    assert "y is not finite for x in -1 … " in result.stdout


def test_a_pole_does_not_squash_the_plot():
    # 1/x and -1/x^2 near 0 reach -160,000: every other value would sit on one line.
    data = sample(dcalc.parse_program("1/x"), {}, "x", -1.0, 1.0, points=400)
    _, _, low, high, clipped = braille_canvas(data, width=40, height=10)
    assert clipped and -1000 < low < -10 and 10 < high < 1000
    middle = data.f[(np.abs(data.x) > 0.2)]
    assert np.all((middle > low) & (middle < high))  # away from the pole, all of f is drawn


def test_plot_png(cli, tmp_path):
    pytest.importorskip("matplotlib", reason="PNG plots need the optional [plot] extra (.ci/run installs it)")
    target = tmp_path / "f.png"
    result = cli("plot", "sin(x)", "--range", "-3:3", "-o", str(target))
    assert result.exit_code == 0, result.output
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_png_without_matplotlib_says_how(cli, tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    result = cli("plot", "sin(x)", "-o", str(tmp_path / "f.png"))
    assert result.exit_code == 2 and "pip install 'dcalc[plot]'" in result.stderr


def test_plot_errors(cli):
    assert cli("plot", "sin(x)", "--range", "3:-3").exit_code == 2
    result = cli("plot", "x*y", "--range", "0:1")
    assert result.exit_code == 2 and "--wrt" in result.stderr
    result = cli("plot", "x*y", "--wrt", "x", "--range", "0:1")
    assert result.exit_code == 2 and "no value for the input 'y'" in result.stderr
    result = cli("plot", "x*y", "--wrt", "x", "--at", "y=2", "--range", "0:1")
    assert result.exit_code == 0


def test_a_narrow_smooth_peak_is_drawn_whole_and_undefined_stretches_are_named(cli):
    data = sample(dcalc.parse_program("tanh(50*x)"), {}, "x", -1.0, 1.0, points=400)
    _, _, _, high, clipped = braille_canvas(data, width=40, height=10)
    assert not clipped and high == pytest.approx(data.derivative.max())  # the peak of 50 is not cut
    result = cli("plot", "sqrt(1-x^2)", "--range", "-3:3")
    assert "y is not finite for x in -3 … -1.0" in result.stdout and ", 1.0" in result.stdout
