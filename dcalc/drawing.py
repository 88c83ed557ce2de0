"""Pictures: the computational graph as DOT or Mermaid, and f with f′ as a plot.

Drawing the graph: one box per input, one ellipse per operation (constants are
written into their users' labels), an edge from each operand to its result;
shared subexpressions are one node, since the graph has them once. With values,
each node also shows its value and its adjoint from a reverse pass.

Plotting: f and f′ sampled over a range (f′ from the symbolic derivative,
evaluated on the whole grid at once), drawn in the terminal with braille dots
(2×4 per character cell) or, with matplotlib, as a PNG. Points where either is
not finite are left out, so the curves show gaps.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from dataclasses import dataclass

import numpy as np

from .errors import InputError
from .files import atomic_write
from .graph import Graph, Node
from .printer import format_number
from .render import definition, lecture_numbers, v_name


@dataclass
class NodeLabel:
    node: Node
    title: str  # "v₁ = ln v₋₁"
    value: str | None = None
    adjoint: str | None = None


def node_labels(graph: Graph, values=None, ascii: bool = False, digits: int = 4) -> list[NodeLabel]:
    """What each drawn node says; with values, its value and adjoint (d output / d node)."""
    nodes = graph.ancestors(graph.outputs) if graph.outputs else graph.nodes
    numbers = lecture_numbers(graph)
    computed, adjoints = {}, {}
    if values is not None and graph.outputs:
        from .engines.reverse import reverse

        record: list = []
        output = graph.outputs[0]
        if output.shape == ():
            reverse(graph, values, outputs=[output], record=record)
            adjoints[output.index] = 1.0
        else:
            from .evaluation import evaluate_all

            record = [("primal", graph.nodes[index], value) for index, value in evaluate_all(graph, values).items()]
        for entry in record:
            if entry[0] == "primal":
                computed[entry[1].index] = np.asarray(entry[2])[..., 0] if np.ndim(entry[2]) else entry[2]
            else:
                adjoints[entry[1].index] = np.asarray(entry[5])[..., 0]
    labels = []
    for node in nodes:
        if node.is_const:
            continue
        name = v_name(numbers[node.index], ascii)
        body = node.params["name"] if node.is_input else definition(node, numbers, ascii)
        label = NodeLabel(node, f"{name} = {body}")
        if node.index in computed:
            label.value = _short(computed[node.index], digits)
            label.adjoint = _short(adjoints.get(node.index, 0.0), digits)
        labels.append(label)
    return labels


def _short(value, digits: int) -> str:
    array = np.asarray(value)
    if array.ndim == 0:
        return format_number(array.item(), digits)
    return f"array {'×'.join(map(str, array.shape))}"


def _edges(labels: list[NodeLabel]) -> list[tuple[int, int]]:
    drawn = {label.node.index for label in labels}
    edges = []
    for label in labels:
        for operand in label.node.inputs:
            if operand.index in drawn:
                edges.append((operand.index, label.node.index))
    return edges


def to_dot(graph: Graph, values=None, ascii: bool = False) -> str:
    labels = node_labels(graph, values, ascii)
    outputs = {node.index: name for name, node in zip(graph.output_names, graph.outputs)}
    lines = ["digraph dcalc {", "  rankdir=LR;", '  node [fontname="Helvetica", fontsize=11];']
    for label in labels:
        text = label.title
        if label.value is not None:
            text += f"\\nvalue {label.value}\\nadjoint {label.adjoint}"
        if label.node.index in outputs:
            text = f"{outputs[label.node.index]} = " + text
        style = 'shape=box, style=filled, fillcolor="#dbeafe"' if label.node.is_input else "shape=ellipse"
        if label.node.index in outputs:
            style = 'shape=ellipse, style="filled,bold", fillcolor="#fef3c7"'
        lines.append(f'  n{label.node.index} [label="{_dot_escape(text)}", {style}];')
    for source, target in _edges(labels):
        lines.append(f"  n{source} -> n{target};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dot_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\\\\n", "\\n")


def to_mermaid(graph: Graph, values=None, ascii: bool = False) -> str:
    labels = node_labels(graph, values, ascii)
    outputs = {node.index: name for name, node in zip(graph.output_names, graph.outputs)}
    lines = ["flowchart LR"]
    for label in labels:
        text = label.title
        if label.node.index in outputs:
            text = f"{outputs[label.node.index]} = " + text
        if label.value is not None:
            text += f"<br/>value {label.value}<br/>adjoint {label.adjoint}"
        text = text.replace('"', "#quot;")
        shape = ('["', '"]') if label.node.is_input else ('("', '")')
        lines.append(f"  n{label.node.index}{shape[0]}{text}{shape[1]}")
    for source, target in _edges(labels):
        lines.append(f"  n{source} --> n{target}")
    return "\n".join(lines) + "\n"


def render_with_graphviz(dot: str, image_format: str) -> bytes:
    """SVG or PNG bytes from Graphviz's ``dot`` program."""
    program = shutil.which("dot")
    if program is None:
        raise InputError(
            f"{image_format} output needs Graphviz's dot program, which is not installed",
            hint="install Graphviz (Debian/Ubuntu: apt-get install graphviz; macOS: brew install graphviz), "
            "or use --format dot or --format mermaid",
        )
    completed = subprocess.run([program, f"-T{image_format}"], input=dot.encode("utf-8"), capture_output=True, timeout=120)
    if completed.returncode != 0:
        raise InputError(f"Graphviz failed: {completed.stderr.decode('utf-8', 'replace').strip()}")
    return completed.stdout


# ---- plots --------------------------------------------------------------------------------


@dataclass
class PlotData:
    x: np.ndarray
    f: np.ndarray
    derivative: np.ndarray
    wrt: str
    output: str


def sample(graph: Graph, values, wrt: str, low: float, high: float, points: int = 400, output=None) -> PlotData:
    """f and f′ on an even grid, the whole grid in one evaluation of each (f: ``output``,
    the first by default)."""
    from .engines.symbolic import derivative
    from .evaluation import evaluate

    output = graph.outputs[0] if output is None else output
    if output.shape != () or graph.input_named(wrt).shape != ():
        raise InputError("plot draws a scalar function of a scalar input")
    grid = np.linspace(low, high, points)
    at = {name: value for name, value in values.items() if name != wrt}
    at[wrt] = grid
    (f,) = evaluate(graph, at, outputs=[output])
    slope = derivative(graph, wrt, output=output)
    (df,) = evaluate(slope.graph, at, outputs=[slope])
    f = np.broadcast_to(np.asarray(f, dtype=float), grid.shape).copy()
    df = np.broadcast_to(np.asarray(df, dtype=float), grid.shape).copy()
    df[~np.isfinite(f)] = np.nan  # no slope where there is no function (ln(x) at x < 0)
    return PlotData(grid, f, df, wrt, graph.output_names[graph.outputs.index(output)])


BRAILLE_BASE = 0x2800
# Braille dot bits by (column, row) inside a 2×4 cell.
BRAILLE_BITS = [[0x01, 0x02, 0x04, 0x40], [0x08, 0x10, 0x20, 0x80]]


def y_range(curves) -> tuple[float, float, bool]:
    """The values the plot spans, and whether some are left out: all finite ones, unless
    a pole (1/x at 0: a spike, several times its neighbours) would squash the rest into
    a line; then the 2nd to 98th percentile, widened by a tenth. A narrow smooth peak
    (tanh(50x)') is drawn whole."""
    finite = np.concatenate([curve[np.isfinite(curve)] for curve in curves])
    if finite.size == 0:
        raise InputError("f and its derivative are not finite anywhere in this range")
    low, high = float(finite.min()), float(finite.max())
    inner_low, inner_high = (float(value) for value in np.percentile(finite, [2, 98]))
    spread = inner_high - inner_low
    clipped = spread > 0 and high - low > OUTLIER_SPREAD * spread and any(_spike(curve) for curve in curves)
    if clipped:
        low, high = inner_low - spread / 10, inner_high + spread / 10
    if high - low < 1e-12 * max(1.0, abs(high)):
        low, high = low - 1.0, high + 1.0
    return low, high, clipped


# A pole's values are left out when they spread this many times wider than the middle
# 96% of all values, and its largest is this many times its neighbours' (1/x^2: 9).
OUTLIER_SPREAD = 10
SPIKE = 2.5


def _spike(curve) -> bool:
    """Whether the curve's largest |value| stands far above the samples two steps away,
    as at a pole (whose two nearest samples, one each side, may be alike: 1/x); a
    smooth peak's are near it."""
    magnitude = np.where(np.isfinite(curve), np.abs(curve), 0.0)
    top = int(np.argmax(magnitude))
    beside = [magnitude[index] for index in (top - 2, top + 2) if 0 <= index < magnitude.size]
    return bool(magnitude[top] > SPIKE * max(beside, default=0.0))


def braille_canvas(data: PlotData, width: int = 72, height: int = 20):
    """Character cells for the two curves: returns (cells, owner, y_low, y_high, clipped),
    where cells[r][c] is a braille bit mask and owner[r][c] is 0 (f), 1 (f′) or -1."""
    curves = [data.f, data.derivative]
    y_low, y_high, clipped = y_range(curves)
    dots_x, dots_y = width * 2, height * 4
    cells = [[0] * width for _ in range(height)]
    owner = [[-1] * width for _ in range(height)]
    columns = np.clip(((data.x - data.x[0]) / (data.x[-1] - data.x[0]) * (dots_x - 1)).round().astype(int), 0, dots_x - 1)
    for curve_index in (1, 0):  # f last, so it wins cells it shares with f′
        curve = curves[curve_index]
        with np.errstate(invalid="ignore"):
            rows = ((y_high - curve) / (y_high - y_low) * (dots_y - 1)).round()
            inside = np.isfinite(curve) & (rows >= 0) & (rows <= dots_y - 1)
        for column, row, ok in zip(columns, rows, inside):
            if not ok:
                continue
            row = int(row)
            cell_row, cell_column = row // 4, column // 2
            cells[cell_row][cell_column] |= BRAILLE_BITS[column % 2][row % 4]
            owner[cell_row][cell_column] = curve_index
    return cells, owner, y_low, y_high, clipped


def terminal_plot(data: PlotData, width: int = 72, height: int = 20, colour: bool = True):
    """A rich Text with the braille plot, a y scale and a legend. Without ``colour``
    (output to a file or pipe) f′ is drawn in dots (·), which tell it from f's braille."""
    from rich.text import Text

    cells, owner, y_low, y_high, clipped = braille_canvas(data, width, height)
    colours = ["cyan", "magenta"]
    marks = ["⣿", "⣿" if colour else "·"]
    text = Text()
    for row in range(height):
        scale = format_number(y_high, 4) if row == 0 else format_number(y_low, 4) if row == height - 1 else ""
        text.append(f"{scale:>10} ┤")
        for column in range(width):
            mask = cells[row][column]
            if mask:
                curve = owner[row][column]
                text.append(chr(BRAILLE_BASE + mask) if curve == 0 or colour else marks[1], style=colours[curve])
            else:
                text.append(" ")
        text.append("\n")
    left, right = format_number(data.x[0], 4), format_number(data.x[-1], 4)
    text.append(" " * 11 + "└" + "─" * width + "\n")
    text.append(" " * 12 + left + " " * max(1, width - len(left) - len(right)) + right + "\n")
    text.append(" " * 12)
    text.append(f"{marks[0]} ", style=colours[0])
    text.append(f"{data.output}({data.wrt})   ")
    text.append(f"{marks[1]} ", style=colours[1])
    text.append(f"d{data.output}/d{data.wrt}\n")
    runs = _runs(data.x, ~np.isfinite(data.f))
    if runs:
        where = ", ".join(f"{format_number(low, 4)} … {format_number(high, 4)}" for low, high in runs[:3]) + (" …" if len(runs) > 3 else "")
        text.append(f"{data.output} is not finite for {data.wrt} in {where}\n")
    if clipped:
        text.append(f"values beyond {format_number(y_low, 4)} … {format_number(y_high, 4)} are left out, so the rest stays readable\n")
    return text


def _runs(x, flagged) -> list[tuple[float, float]]:
    """The stretches of x (first and last point of each) where ``flagged`` holds."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], flagged.astype(np.int8), [0]])))
    return [(float(x[start]), float(x[stop - 1])) for start, stop in zip(edges[::2], edges[1::2])]


def save_png(data: PlotData, path: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise InputError("PNG plots need matplotlib", hint="pip install 'dcalc[plot]'") from None
    figure, axes = plt.subplots(figsize=(7, 4.2), dpi=120)
    # Matplotlib leaves gaps at NaN; infinities become NaN so they are gaps too.
    axes.plot(data.x, np.where(np.isfinite(data.f), data.f, np.nan), label=f"{data.output}({data.wrt})")
    axes.plot(data.x, np.where(np.isfinite(data.derivative), data.derivative, np.nan), label=f"d{data.output}/d{data.wrt}")
    axes.axhline(0, color="0.8", linewidth=0.8)
    low, high, clipped = y_range([data.f, data.derivative])
    if clipped:  # as the terminal plot: a pole's values would squash the rest
        axes.set_ylim(low, high)
    axes.set_xlabel(data.wrt)
    axes.legend()
    figure.tight_layout()
    image = io.BytesIO()
    figure.savefig(image, format="png")  # a path would gain ".png" and be written in place
    plt.close(figure)
    atomic_write(path, image.getvalue())
