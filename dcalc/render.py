"""Renderers: engines and the graph give data, these turn it into tables and JSON.

Node numbering follows the AD lectures: with n inputs, the inputs are
v_{1-n} ... v_0 (for two inputs v₋₁ = x₁, v₀ = x₂), and the operations are
v_1 ... v_N in evaluation order. Constants are written inline, not numbered.
"""

from __future__ import annotations

import copy
import math
from typing import Any, Iterable

import numpy as np

from .errors import counted
from .graph import Graph, Node
from .printer import LECTURE, PLAIN, SUBSCRIPTS, SUPERSCRIPTS, format_number, latex_array, to_infix


def v_name(number: int, ascii: bool = False, accent: str = "") -> str:
    """v₋₁, v₀, v₁ ...; with ``ascii``: v_-1. ``accent`` is 'dot' or 'bar'."""
    if ascii:
        prefix = {"": "v", "dot": "vdot", "bar": "vbar"}[accent]
        return f"{prefix}_{number}"
    mark = {"": "", "dot": "\u0307", "bar": "\u0304"}[accent]
    return f"v{mark}{str(number).translate(SUBSCRIPTS)}"


def lecture_numbers(graph: Graph, nodes: Iterable[Node] | None = None) -> dict[int, int]:
    """Node index -> lecture number, for inputs and operations (not constants)."""
    nodes = list(graph.nodes if nodes is None else nodes)
    numbers = {}
    count = len(graph.inputs)
    for position, node in enumerate(graph.inputs):
        numbers[node.index] = position + 1 - count
    step = 0
    for node in nodes:
        if node.is_input or node.is_const:
            continue
        step += 1
        numbers[node.index] = step
    return numbers


def definition(node: Node, numbers: dict[int, int], ascii: bool = False) -> str:
    """One Wengert-list line's right-hand side in v-notation: ``ln v₋₁``, ``v₋₁ × v₀``."""

    def leaf(operand: Node):
        if operand is node:
            return None
        number = numbers.get(operand.index)
        return None if number is None else v_name(number, ascii)

    return to_infix(node, leaf, PLAIN if ascii else LECTURE)


def shorten(text: str, width: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def unclipped(table):
    """The table with cells that do not fit folded onto more lines, not cut short with
    an ellipsis: a number must never lose digits without a word (nor --ascii output
    gain a '…')."""
    for column in table.columns:
        column.overflow = "fold"
    return table


# Rows beyond which print_table lays out a table's rows itself.
LONG_TABLE = 200


def print_table(console, table) -> None:
    """Print a rich Table (built with show_edge=False, pad_edge=False, as ours are).
    rich lays out about 2,500 rows a second, so the Wengert list of a 10^5-line
    program took 40 s. A longer table whose cells are one-line plain text that fits
    the console without folding has its title, header and first row laid out by rich
    (its columns pinned to the widths the rows need) and the other rows here, as rich
    lays them out (tests/test_trace.py compares the two). Tables with settings this
    layout does not follow are left to rich."""
    from rich.cells import cell_len

    rows = list(zip(*[list(column.cells) for column in table.columns]))
    if len(rows) <= LONG_TABLE or not _simply_laid_out(table) or not all(isinstance(cell, str) and cell.isprintable() for row in rows for cell in row):
        console.print(table)
        return
    lengths = [[cell_len(cell) for cell in row] for row in rows]
    widths = [max(cell_len(str(column.header)) if table.show_header else 0, *column_lengths) for column, column_lengths in zip(table.columns, zip(*lengths))]
    rule = table.box.mid_vertical if table.box is not None else ""
    if sum(widths) + (2 + len(rule)) * (len(widths) - 1) > console.width:
        console.print(table)
        return
    head = copy.copy(table)
    head.columns = [column.copy() for column in table.columns]  # copies without cells
    for column, width, cell in zip(head.columns, widths, rows[0]):
        column._cells = [cell]
        column.min_width = width
    head.rows = table.rows[:1]
    console.print(head)
    # Cells padded by one space, but not at the table's edges; rules between them.
    right = [column.justify == "right" for column in table.columns]
    before = [""] + [" "] * (len(widths) - 1)
    after = [" "] * (len(widths) - 1) + [""]

    def line(row, row_lengths) -> str:
        return rule.join(
            start + (" " * (width - length) + cell if flush else cell + " " * (width - length)) + end
            for cell, length, width, flush, start, end in zip(row, row_lengths, widths, right, before, after)
        )

    write = console.file.write
    for start in range(1, len(rows), 1000):
        write("".join(line(row, row_lengths) + "\n" for row, row_lengths in zip(rows[start : start + 1000], lengths[start : start + 1000])))


def _simply_laid_out(table) -> bool:
    """Whether print_table's layout is rich's for this table: no edge, no edge
    padding, one space of padding, no lines, leading, caption, footer or expansion,
    rows of no style or section, columns justified left or right with no style or
    set width."""
    settings = (table.show_edge, table.pad_edge, table.show_lines, table.leading, table.caption, table.show_footer, table.expand, table.width, table.row_styles)
    columns = all(
        column.justify in ("left", "right") and not column.style and column.width is None and column.ratio is None and column.max_width is None
        for column in table.columns
    )
    rows = all(not row.end_section and not row.style for row in table.rows)
    return not any(settings) and tuple(table.padding) == (0, 1, 0, 1) and columns and rows


def describe_shape(shape: tuple, ascii: bool = False) -> str:
    return "scalar" if shape == () else ("x" if ascii else "×").join(str(size) for size in shape)


def show_table(graph: Graph, values: dict[int, Any] | None = None, ascii: bool = False, full: bool = False):
    """The Wengert list as a rich Table."""
    from rich.table import Table

    numbers = lecture_numbers(graph)
    has_arrays = any(node.shape for node in graph.nodes)
    from rich import box

    table = Table(title="Wengert list", title_justify="left", show_edge=False, pad_edge=False, box=box.ASCII if ascii else box.HEAVY_HEAD)
    table.add_column("node", no_wrap=True)
    table.add_column("name")
    table.add_column("op")
    table.add_column("definition")
    table.add_column("stands for")
    if has_arrays:
        table.add_column("shape")
    if values is not None:
        table.add_column("value", justify="right")
    for node in graph.nodes:
        number = numbers.get(node.index)
        if number is None:
            continue
        name = graph.name_of(node) or ""
        if node.is_input:
            row = [v_name(number, ascii), name, "input", name, name]
        else:
            source = node.span.snippet if node.span is not None else to_infix(node)
            row = [v_name(number, ascii), name, node.op, definition(node, numbers, ascii), source if full else shorten(source)]
        if has_arrays:
            row.append(describe_shape(node.shape, ascii))
        if values is not None:
            row.append(format_value(values[node.index], digits=None if full else 6, ascii=ascii))
        table.add_row(*row)
    return unclipped(table)


def output_lines(graph: Graph, ascii: bool = False) -> list[str]:
    """``y = v₅`` lines for the outputs."""
    numbers = lecture_numbers(graph)
    lines = []
    for name, node in zip(graph.output_names, graph.outputs):
        number = numbers.get(node.index)
        target = v_name(number, ascii) if number is not None else to_infix(node)
        lines.append(f"{name} = {target}")
    return lines


def format_value(value, digits: int | None = None, limit: int = 8, ascii: bool = False, one_line: bool = False) -> str:
    """A number in full precision, or a short rendering of an array (a matrix's rows on
    lines of their own unless ``one_line``: a table's cell, a message)."""
    array = np.asarray(value)
    if array.ndim == 0:
        return format_number(array.item(), digits)
    if array.size > limit:
        flat = ", ".join(format_number(item, digits or 6) for item in array.ravel()[:limit])
        return f"array {describe_shape(array.shape, ascii)} [{flat}, {'...' if ascii else '…'}]"
    text = np.array2string(array, separator=", ", formatter={"float_kind": lambda item: format_number(item, digits)})
    return text.replace("\n", "") if one_line else text


def to_json(value) -> Any:
    """Numbers and nested lists; non-finite numbers as the strings "nan", "inf", "-inf"
    (JSON has no literal for them)."""
    array = np.asarray(value)
    if array.ndim == 0:
        number = array.item()
        if isinstance(number, complex):
            return {"real": to_json(number.real), "imag": to_json(number.imag)}
        number = float(number)
        return number if math.isfinite(number) else format_number(number)
    return [to_json(item) for item in array]


# ---- gradients ------------------------------------------------------------------------


def partial_label(output: str, input_name: str, ascii: bool = False, order: int = 1, latex: bool = False) -> str:
    """∂y/∂x (dy/dx in ASCII, a fraction in LaTeX); ∂²y/∂x² for the second derivative."""
    if latex:
        from .printer import latex_name

        power = "" if order == 1 else f"^{{{order}}}"
        return rf"\frac{{\partial{power} {latex_name(output)}}}{{\partial {latex_name(input_name)}{power}}}"
    power = "" if order == 1 else (f"^{order}" if ascii else str(order).translate(SUPERSCRIPTS))
    return f"d{power}{output}/d{input_name}{power}" if ascii else f"∂{power}{output}/∂{input_name}{power}"


def mixed_label(output: str, first: str, second: str, ascii: bool = False) -> str:
    """∂²y/∂x ∂z (d2y/dx dz in ASCII): a second derivative, one input at a time."""
    return f"d2{output}/d{first} d{second}" if ascii else f"∂²{output}/∂{first} ∂{second}"


def block_table(label: str, block, full: bool = False, ascii: bool = False, digits: int = 6):
    """A derivative block as a table titled with its label and shape (every digit with ``full``)."""
    return array_table(block, digits=None if full else digits, full=full, title=f"{label}  (shape {describe_shape(np.shape(block), ascii)})", ascii=ascii)


def format_seconds(seconds: float, ascii: bool = False) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} {'us' if ascii else 'µs'}"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def engines_table(runs, ascii: bool = False, full: bool = False):
    """Engine × partials, with the largest relative difference to the reference and time."""
    from rich.table import Table

    from rich import box

    reference = runs[0].result
    table = Table(show_edge=False, pad_edge=False, title_justify="left", box=box.ASCII if ascii else box.HEAVY_HEAD)
    several = len(reference.output_names) > 1
    if several:
        table.add_column("output")
    table.add_column("engine")
    for name in reference.input_names:
        header = partial_label("", name, ascii) if several else partial_label(reference.output_names[0], name, ascii)
        table.add_column(header, justify="right")
    table.add_column("max rel diff", justify="right")
    table.add_column("agrees", justify="center")
    table.add_column("time", justify="right")
    # The full values are printed above the table; here 10 digits show where engines part.
    limit, digits = (10**9, None) if full else (4, 10)
    for output in reference.output_names:
        for run in runs:
            row = [output] if several else []
            row.append(run.name)
            if run.result is None:
                row += ["n/a"] * len(reference.input_names) + ["", "", ""]
                row[len(row) - 3] = run.failure or ""
                table.add_row(*row)
                continue
            if run.result.projections is not None:  # no partials: the Jacobian along directions
                count = run.result.direction_count
                row += [f"along {count} random directions"] + [""] * (len(reference.input_names) - 1)
            else:
                for name in reference.input_names:
                    value = format_value(run.result.jacobian[(output, name)], digits=digits, limit=limit, ascii=ascii)
                    if run.result.error is not None:
                        value += f" {'+-' if ascii else '±'} {format_value(np.max(run.result.error[(output, name)]), digits=2)}"
                    row.append(value)
            if run is runs[0]:
                row += ["reference", "", format_seconds(run.result.seconds, ascii)]
            else:
                if run.agrees is None:  # no finite value to compare
                    difference, mark = "n/a", "n/a"
                else:
                    difference = format_number(run.max_rel_diff, digits=2)
                    mark = ("yes" if ascii else "✓") if run.agrees else ("NO" if ascii else "✗ NO")
                row += [difference, mark, format_seconds(run.result.seconds, ascii)]
            table.add_row(*row)
    return unclipped(table)


def gradient_json(runs) -> dict:
    """``value``, ``gradient`` (by input; by output then input for several outputs) and ``engines``."""
    reference = runs[0].result
    outputs = reference.output_names

    def gradient_of(result):
        if len(outputs) == 1:
            return {name: to_json(result.jacobian[(outputs[0], name)]) for name in result.input_names}
        return {output: {name: to_json(result.jacobian[(output, name)]) for name in result.input_names} for output in outputs}

    values = [to_json(value) for value in reference.values]
    data = {
        "value": values[0] if len(values) == 1 else dict(zip(outputs, values)),
        "gradient": gradient_of(reference),
        "reference_engine": reference.engine,
        "engines": {},
    }
    for run in runs:
        if run.result is None:
            data["engines"][run.name] = {"error": run.failure}
            continue
        entry = {"max_rel_diff": run.max_rel_diff, "agrees": run.agrees, "seconds": run.result.seconds}
        if run.result.projections is not None:
            # The Jacobian applied to random directions (the inputs have too many
            # components for whole Jacobians), compared with the reference's.
            # (The directions themselves are as large as the gradient: their count and seed
            # say how dcalc.engines.numeric.exact_directions made them.)
            from .compare import PROJECTION_SEED

            entry["directions"] = {"count": run.result.direction_count, "seed": PROJECTION_SEED}
            entry["projections"] = {output: to_json(value) for output, value in run.result.projections.items()}
            if run.result.error is not None:
                entry["error_estimate"] = {output: to_json(run.result.error[output]) for output in outputs}
        else:
            entry["gradient"] = gradient_of(run.result)
            if run.result.error is not None:
                entry["error_estimate"] = gradient_of(type(run.result)(
                    run.result.engine, run.result.output_names, run.result.input_names, run.result.values, run.result.error
                ))
        if run.result.error is not None:
            entry["method"] = run.result.details.get("method")
            entry["evaluations"] = run.result.details.get("evaluations")
        data["engines"][run.name] = entry
    return data


# ---- traces -----------------------------------------------------------------------------


def _trace_value(row, digits: int, full: bool, notation: str = "unicode", one_line: bool = False) -> str:
    value = np.asarray(row.value)
    limit = 10**9 if full else 6
    text = format_value(value, digits=digits, limit=limit, ascii=notation == "ascii", one_line=one_line)
    if value.ndim and not full and value.size <= limit:  # a longer one is summarised with its shape already
        text = f"{describe_shape(value.shape, notation == 'ascii')}: {text}"
    if notation == "unicode":
        text = text.replace("-", "−")
    return text


def trace_tables(traces, notation: str = "unicode", digits: int = 4, full: bool = False):
    """One rich Table per trace: node, definition (and the specific rule), value."""
    from rich.table import Table

    tables = []
    for trace in traces:
        has_rule = any(row.rule is not None for row in trace.rows)
        table = Table(title=trace.title, title_justify="left", show_edge=False, pad_edge=False, show_header=False, box=None)
        table.add_column("node", no_wrap=True)
        table.add_column("definition")
        if has_rule:
            table.add_column("rule")
        table.add_column("value", no_wrap=True)
        for row in trace.rows:
            cells = [row.label.in_notation(notation), "= " + row.definition.in_notation(notation)]
            if has_rule:
                cells.append("= " + row.rule.in_notation(notation) if row.rule is not None else "")
            cells.append("= " + _trace_value(row, digits, full, notation))
            table.add_row(*cells)
        tables.append(unclipped(table))
    return tables


def trace_markdown(traces, notation: str = "unicode", digits: int = 4, full: bool = False) -> str:
    lines = []
    for trace in traces:
        has_rule = any(row.rule is not None for row in trace.rows)
        lines.append(f"### {trace.title}\n")
        header = ["node", "definition"] + (["rule"] if has_rule else []) + ["value"]
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "|".join(["---"] * len(header)) + "|")
        for row in trace.rows:
            cells = [row.label.in_notation(notation), row.definition.in_notation(notation)]
            if has_rule:
                cells.append(row.rule.in_notation(notation) if row.rule is not None else "")
            cells.append(_trace_value(row, digits, full, notation, one_line=True))  # a row of the table is one line
            lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
        lines.append("")
    return "\n".join(lines)


def trace_latex(traces, digits: int = 4, full: bool = False) -> str:
    blocks = []
    for trace in traces:
        has_rule = any(row.rule is not None for row in trace.rows)
        columns = "l" * (4 if has_rule else 3)
        rows = []
        for row in trace.rows:
            value = latex_array(np.asarray(row.value), digits, 10**9 if full else 6)
            cells = [row.label.latex, "= " + row.definition.latex]
            if has_rule:
                cells.append("= " + row.rule.latex if row.rule is not None else "")
            cells.append("= " + value)
            rows.append("  " + " & ".join(cells) + r" \\")
        blocks.append(f"% {trace.title}\n\\begin{{array}}{{{columns}}}\n" + "\n".join(rows) + "\n\\end{array}")
    return "\n\n".join(blocks)


def trace_json(traces) -> dict:
    return {
        "traces": [
            {
                "title": trace.title,
                "rows": [
                    {
                        "node": row.label.ascii,
                        "definition": row.definition.ascii,
                        **({"rule": row.rule.ascii} if row.rule is not None else {}),
                        "value": to_json(row.value),
                        "shape": list(np.shape(row.value)),
                    }
                    for row in trace.rows
                ],
            }
            for trace in traces
        ]
    }


# ---- check reports ---------------------------------------------------------------------------

STATUS_STYLE = {"pass": "green", "FAIL": "bold red", "not differentiable here": "yellow", "not finite": "yellow", "error": "bold red"}


def check_table(results):
    """file:line, check, status, the worst difference and the limit it was judged
    against; the messages of checks that did not pass follow in ``check_details``."""
    from rich.table import Table
    from rich.text import Text

    table = Table(show_edge=False, pad_edge=False)
    table.add_column("where", overflow="fold")
    table.add_column("check", overflow="fold")
    table.add_column("status", no_wrap=True)
    table.add_column("worst", justify="right", no_wrap=True)
    table.add_column("limit", justify="right", no_wrap=True)
    for result in results:
        table.add_row(
            _shorter_path(result.path) + f":{result.line}",
            result.name,
            Text(result.status, style=STATUS_STYLE.get(result.status, "")),
            "" if result.worst is None else format_number(result.worst, digits=2),
            "" if result.limit is None else format_number(result.limit, digits=2),
        )
    return unclipped(table)


def _shorter_path(path: str) -> str:
    """A path relative to the current folder when it lies under it."""
    import os

    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def check_details(results) -> list[str]:
    """One line per check that did not pass (where, what, and why), and a note for one that
    passed with something to say (engines checked along directions)."""
    return [
        f"{'note' if result.status == 'pass' else result.status}: {result.location}: {result.name}: {result.message}"
        for result in results
        if result.status != "pass" or result.message
    ]


def check_json(reports) -> dict:
    from .checking import counts, summary

    results = [result for report in reports for result in report.results]
    errors = sum(report.error is not None for report in reports)
    return {
        "summary": summary(results, errors),
        "counts": counts(results, errors),
        "checks": [
            {
                "file": result.path,
                "line": result.line,
                "check": result.name,
                "status": result.status,
                "worst": result.worst,
                "limit": result.limit,
                "message": result.message,
            }
            for result in results
        ],
        "errors": [{"file": report.path, "message": report.error.render()} for report in reports if report.error is not None],
        "updated": [change for report in reports for change in report.changes],
    }


def junit_xml(reports) -> str:
    """JUnit XML in the xunit2 shape pytest writes: one testcase per check."""
    import socket
    import xml.etree.ElementTree as ET
    from datetime import datetime, timezone

    results = [result for report in reports for result in report.results]
    failures = sum(result.status == "FAIL" for result in results)
    errors = sum(result.status == "error" for result in results) + sum(report.error is not None for report in reports)
    skipped = sum(result.status in ("not differentiable here", "not finite") for result in results)
    suites = ET.Element("testsuites", name="dcalc check")
    suite = ET.SubElement(
        suites,
        "testsuite",
        name="dcalc",
        errors=str(errors),
        failures=str(failures),
        skipped=str(skipped),
        tests=str(len(results) + sum(report.error is not None for report in reports)),
        time=f"{sum(result.seconds for result in results):.3f}",
        timestamp=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        hostname=socket.gethostname(),
    )
    for report in reports:
        classname = report.path.replace("/", ".").removesuffix(".dcalc")
        if report.error is not None:
            case = ET.SubElement(suite, "testcase", classname=classname, name="read sample file", time="0.000")
            ET.SubElement(case, "error", message=report.error.message).text = report.error.render()
        for result in report.results:
            case = ET.SubElement(suite, "testcase", classname=classname, name=result.name, time=f"{result.seconds:.3f}")
            text = f"{result.location}: {result.name}: {result.message}"
            if result.status == "FAIL":
                ET.SubElement(case, "failure", message=result.message or "FAIL").text = text
            elif result.status == "error":
                ET.SubElement(case, "error", message=result.message.splitlines()[0] if result.message else "error").text = text
            elif result.status != "pass":
                ET.SubElement(case, "skipped", type="pytest.skip", message=f"{result.status}: {result.message}").text = text
    ET.indent(suites)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def github_annotations(reports) -> str:
    """Workflow commands GitHub Actions shows on the sample file's line."""

    def escape(text: str) -> str:
        return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")

    lines = []
    for report in reports:
        if report.error is not None:
            line = report.error.span.line if report.error.span is not None else 1
            lines.append(f"::error file={report.path},line={line}::{escape(report.error.message)}")
        for result in report.results:
            if result.status in ("FAIL", "error"):
                lines.append(f"::error file={result.path},line={result.line}::{escape(result.name + ': ' + result.message)}")
            elif result.status != "pass":
                lines.append(f"::warning file={result.path},line={result.line}::{escape(result.name + ': ' + result.status + ': ' + result.message)}")
    return "".join(line + "\n" for line in lines)



# ---- arrays as tables --------------------------------------------------------------------

ARRAY_LIMIT = 8  # rows shown before an ellipsis
COLUMN_LIMIT = 6  # columns: six numbers of 6 digits fit an 80-column terminal


def labelled_matrix(entries: list[list], names: list[str], digits: int | None = 10, title: str | None = None, ascii: bool = False, rows: list[str] | None = None):
    """A matrix of numbers whose columns are named ``names`` and rows ``rows`` (the
    same names by default: the Hessian over scalar inputs; a Jacobian's outputs), as a
    rich Table."""
    from rich.table import Table

    from rich import box

    table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False, box=box.ASCII if ascii else box.HEAVY_HEAD)
    table.add_column("", no_wrap=True)
    for name in names:
        table.add_column(name, justify="right", no_wrap=True)
    for name, row in zip(names if rows is None else rows, entries):
        table.add_row(name, *[format_number(float(entry), digits) for entry in row])
    return unclipped(table)


def array_table(value, digits: int | None = 10, full: bool = False, title: str | None = None, ascii: bool = False):
    """A vector or matrix as an aligned rich Table (higher ranks: the matrix of the
    last two axes for each leading index, labelled [i, j] on its first row),
    truncated with ellipses beyond ARRAY_LIMIT unless full."""
    from rich.table import Table

    array = np.asarray(value, dtype=float)
    leading = array.shape[:-2]  # each index of these labels a block of array.shape[-2] rows
    if array.ndim == 0:
        array = array.reshape(1, 1)
    elif array.ndim == 1:
        array = array.reshape(1, -1)
    elif array.ndim > 2:
        array = array.reshape(-1, array.shape[-1])
    rows, columns = array.shape
    block_rows = rows // max(math.prod(leading), 1)

    def label(row: int, previous: int | None) -> list[str]:
        """The leading index, on a block's first row shown, and which row that is when
        an ellipsis left out the ones above it (none below rank 3)."""
        if not leading:
            return []
        block, within = divmod(row, block_rows)
        if previous is not None and previous // block_rows == block:
            return [""]
        index = "[" + ", ".join(str(int(index)) for index in np.unravel_index(block, leading)) + "]"
        return [index + (f" row {within}" if within else "")]

    def shown(count, limit):
        if full:
            return list(range(count))
        if count <= limit + 1:  # an ellipsis for one row would hide it and save no line
            return list(range(count))
        half = limit // 2
        return list(range(half)) + [None] + list(range(count - half, count))

    table = Table(title=title, title_justify="left", show_header=False, box=None, pad_edge=False)
    column_indices = shown(columns, COLUMN_LIMIT)
    if leading:
        table.add_column(no_wrap=True)
    for _ in column_indices:
        table.add_column(justify="right", no_wrap=True)
    previous = None
    for row in shown(rows, ARRAY_LIMIT):
        if row is None:
            table.add_row(*[""] * len(leading[:1]), *[(":" if ascii else "⋮") if column is not None else ("." if ascii else "⋱") for column in column_indices])
            continue
        table.add_row(*label(row, previous), *[("..." if ascii else "…") if column is None else format_number(array[row, column], digits) for column in column_indices])
        previous = row
    return unclipped(table)


def hessian_json(result, full_value) -> dict:
    data = {"value": to_json(full_value), "engine": result.engine, "inputs": result.inputs}
    if len(result.inputs) == 1:
        name = result.inputs[0]
        data["hessian"] = to_json(result.blocks[(name, name)])
    else:
        data["hessian"] = {first: {second: to_json(result.blocks[(first, second)]) for second in result.inputs} for first in result.inputs}
    data["symmetric"] = result.asymmetry() <= 1e-12
    data["asymmetry"] = result.asymmetry()
    return data


# ---- many points -------------------------------------------------------------------------------


def batch_table(report, ascii: bool = False):
    """Each value and partial over the points: least, greatest, mean, points not finite."""
    from rich import box
    from rich.table import Table

    title = f"{counted(report.count, 'point')} from {report.origin}"
    table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False, box=box.ASCII if ascii else box.HEAVY_HEAD)
    for header in ("", "min", "max", "mean", "not finite"):
        table.add_column(header, justify="left" if not header else "right")
    for quantity in report.quantities:
        label = quantity.output if quantity.input is None else partial_label(quantity.output, quantity.input, ascii)
        cells = [format_number(value, digits=10) if quantity.entries else "n/a" for value in (quantity.minimum, quantity.maximum, quantity.mean)]
        table.add_row(label, *cells, str(quantity.nonfinite))
    return unclipped(table)


def _points(indices: list[int], total: int) -> str:
    """"point 3" or "points 2, 4, ..." (the first few of ``total``)."""
    shown = ", ".join(str(index) for index in indices)
    return ("point " if total == 1 else "points ") + shown + (", ..." if total > len(indices) else "")


def batch_lines(report, ascii: bool = False) -> list[str]:
    """How the engines compared over the points, and where values are not finite
    (points are numbered from 0, in the order of the file)."""
    lines = []
    for tally in report.engines:
        if tally.failure is not None:
            lines.append(f"{tally.name}: {tally.failure}")
        elif tally.disagreeing:
            lines.append(
                f"{tally.name}: DISAGREES with {report.reference} at {tally.disagreeing:,} of {counted(report.count, 'point')} "
                f"({_points(tally.first_disagreeing, tally.disagreeing)})"
            )
        elif tally.name == "numeric":
            lines.append(f"{tally.name}: within its error estimate of {report.reference} at every finite point ({format_seconds(tally.seconds, ascii)} summed over its chunks)")
        else:
            lines.append(f"{tally.name}: agrees with {report.reference} at every finite point (max rel diff {tally.worst:.2g}; {format_seconds(tally.seconds, ascii)} summed over its chunks)")
    if report.nonfinite:
        lines.append(f"not finite at {report.nonfinite:,} of {counted(report.count, 'point')} ({_points(report.first_nonfinite, report.nonfinite)})")
    if report.zero_times_infinity:
        share = f"{report.zero_times_infinity:,} of {counted(report.count, 'point')}"
        lines.append(f"0·∞ taken as 0 at {share}, not compared between engines ({_points(report.first_zero_times_infinity, report.zero_times_infinity)})")
    return lines


def batch_json(report) -> dict:
    return {
        "points": report.count,
        "source": report.origin,
        "reference_engine": report.reference,
        "summary": {
            (quantity.output if quantity.input is None else partial_label(quantity.output, quantity.input, ascii=True)): {
                "min": quantity.minimum if quantity.entries else None,
                "max": quantity.maximum if quantity.entries else None,
                "mean": quantity.mean if quantity.entries else None,
                "not_finite": quantity.nonfinite,
            }
            for quantity in report.quantities
        },
        "engines": {
            tally.name: (
                {"error": tally.failure}
                if tally.failure is not None
                else {
                    "agrees": tally.disagreeing == 0,
                    "disagreeing_points": tally.disagreeing,
                    "first_disagreeing": tally.first_disagreeing,
                    ("worst_excess" if tally.name == "numeric" else "max_rel_diff"): tally.worst,
                    "seconds": tally.seconds,
                }
            )
            for tally in report.engines
        },
        "not_finite": {"points": report.nonfinite, "first": report.first_nonfinite},
        "zero_times_infinity": {"points": report.zero_times_infinity, "first": report.first_zero_times_infinity},
        "chunk": report.chunk,
        "threads": report.workers,
    }


def derivative_size(nodes) -> str:
    """How big derivative expressions are: their operations (shared parts once), and
    how many they would be written out as trees."""
    from .printer import expanded_size

    if not nodes:
        return "no derivative"
    graph = nodes[0].graph
    operations = sum(1 for node in graph.ancestors(nodes) if not (node.is_input or node.is_const))
    cap = 10**12
    tree = sum(expanded_size(node, cap=cap) for node in nodes)
    written = f"more than {cap:,}" if tree >= cap else f"{tree:,}"
    return f"the derivative has {counted(operations, 'operation')} ({written} written out as a tree)"
