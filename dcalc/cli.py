"""The command line: arguments in, library calls, renderers out.

Data goes to stdout; messages and warnings to stderr. A :class:`DcalcError`
ends the command with its message and exit status 2, never a traceback.

Start-up time matters here (a one-shot `dcalc grad` is mostly start-up), so
heavy modules are imported inside the commands that use them. There is no
``from __future__ import annotations``: typer resolves string annotations with
``eval`` twice per parameter when it builds the commands, 7 ms of every run.
"""

import functools
import gc
import os
import re
import sys
from pathlib import Path
from typing import Annotated, List, Optional

import typer

from .errors import DcalcError, InputError

app = typer.Typer(
    name="dcalc",
    help="Differentiate maths: expressions and straight-line programs, with four engines that check each other.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 3
PROGRAM_SUFFIXES = re.compile(r"[\w./\\-]+\.(?:txt|wl|dcalc|prog)")

InputArgument = Annotated[
    str,
    typer.Argument(
        metavar="INPUT",
        help="An expression (\"ln(x1)+x1*x2-sin(x2)\"), a file holding an expression or a program, or - for standard input.",
        show_default=False,
    ),
]
AtOption = Annotated[
    Optional[List[str]],
    typer.Option(
        "--at",
        "-a",
        metavar="NAME=VALUE,...",
        help="Values of the inputs: x1=2,x2=5 (repeatable). Values may be numbers, lists [1,2], constant expressions (pi/4) or @file.npy.",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
AtFileOption = Annotated[
    Optional[str],
    typer.Option("--at-file", metavar="FILE", help="Values for many inputs at once: a .json object of names, or an .npz of named arrays."),
]
AsciiOption = Annotated[bool, typer.Option("--ascii", help="Write v_-1 instead of v₋₁.")]


def _stderr():
    from rich.console import Console

    return Console(stderr=True, highlight=False, emoji=False, soft_wrap=True)


def _stdout():
    from rich.console import Console

    return Console(highlight=False, emoji=False, soft_wrap=True)


def report_error(error: DcalcError) -> None:
    _stderr().print(error.render(), style="red", markup=False)


def warn(message: str) -> None:
    _stderr().print(f"warning: {message}", style="yellow", markup=False)


def command(name: str, **options):
    """Register a command whose dcalc errors become a message and exit status 2.
    An argument that starts with '-' but is no option ("-x^2") is taken as INPUT."""
    options.setdefault("context_settings", {"ignore_unknown_options": True})

    def register(function):
        @functools.wraps(function)
        def run(*args, **kwargs):
            try:
                return function(*args, **kwargs)
            except DcalcError as error:
                report_error(error)
                raise typer.Exit(EXIT_BAD_INPUT) from None
            except MemoryError:
                _stderr().print("error: not enough memory for this input", style="red", markup=False)
                raise typer.Exit(EXIT_BAD_INPUT) from None
            except RecursionError:
                _stderr().print("error: the input is nested too deeply", style="red", markup=False)
                raise typer.Exit(EXIT_BAD_INPUT) from None
            except (typer.Exit, typer.Abort, KeyboardInterrupt):
                raise
            except Exception as error:  # a bug in dcalc: say so plainly, without a traceback
                if os.environ.get("DCALC_DEBUG"):
                    raise
                _stderr().print(
                    f"internal error: {type(error).__name__}: {error}\n"
                    "This is a bug in dcalc; run again with DCALC_DEBUG=1 for the traceback.",
                    style="red",
                    markup=False,
                )
                raise typer.Exit(EXIT_INTERNAL) from None

        return app.command(name, **options)(run)

    return register


def read_source(argument: str) -> tuple[str, str]:
    """The text of INPUT and where it came from: standard input, a file, or the argument itself."""
    if argument == "-":
        return _decode(sys.stdin.buffer.read(), "<stdin>"), "<stdin>"
    path = Path(argument)
    if "\n" not in argument and len(argument) < 4096 and _is_file(path):
        try:
            data = path.read_bytes()
        except OSError as error:
            raise InputError(f"cannot read {argument}: {error.strerror}") from None
        if not PROGRAM_SUFFIXES.fullmatch(argument) and "/" not in argument:
            # An expression that happens to name a file: say which was read.
            _stderr().print(f"note: reading the file {argument} (write ./{argument} to silence this, or rename the file)", style="dim", markup=False)
        return _decode(data, argument), argument
    if PROGRAM_SUFFIXES.fullmatch(argument):
        raise InputError(f"no such file: {argument}")
    return argument, "<expression>"


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # a name too long for the file system is an expression
        return False


def _decode(data: bytes, origin: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputError(f"{origin} is not UTF-8 text: byte 0x{data[error.start]:02x} at offset {error.start}") from None


def load_problem(source: str, at, seed: int = 0, at_file: str | None = None):
    from .api import load
    from .values import load_point_file, parse_at

    text, origin = read_source(source)
    values = parse_at(at, seed=seed) if at else {}
    if at_file:
        for name, value in load_point_file(at_file).items():
            if name in values:
                raise InputError(f"{name!r} is given a value twice (in --at and in {at_file})")
            values[name] = value
    problem = load(text, values, origin, seed=seed)
    for message in problem.warnings:
        warn(message)
    return problem


def warn_nonfinite(problem) -> None:
    report = problem.nonfinite_report()
    if report is not None:
        _stderr().print(report.render().replace("domain error:", "warning:", 1), style="yellow", markup=False)


def print_json(data) -> None:
    """Strict JSON: non-finite numbers become the strings "nan", "inf", "-inf"."""
    import json

    sys.stdout.write(json.dumps(_finite_json(data), indent=2, allow_nan=False) + "\n")


def _finite_json(data):
    import math

    if isinstance(data, float) and not math.isfinite(data):
        return "nan" if math.isnan(data) else ("inf" if data > 0 else "-inf")
    if isinstance(data, dict):
        return {key: _finite_json(value) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return [_finite_json(value) for value in data]
    return data


# ---- commands ---------------------------------------------------------------------


@command("eval")
def eval_command(
    source: InputArgument,
    at: AtOption = None,
    at_file: AtFileOption = None,
    as_json: JsonOption = False,
    seed: Annotated[int, typer.Option("--seed", help="Seed for randn(...) and rand(...) in --at values.")] = 0,
) -> None:
    """Evaluate INPUT at a point."""
    from .render import format_value, to_json

    problem = load_problem(source, at, seed, at_file)
    values = problem.evaluate()
    warn_nonfinite(problem)
    names = problem.graph.output_names
    if as_json:
        value = to_json(values[0]) if len(values) == 1 else {name: to_json(item) for name, item in zip(names, values)}
        print_json({"value": value})
        return
    console = _stdout()
    for name, value in zip(names, values):
        console.print(f"{name} = {format_value(value, limit=10**9)}", markup=False)


@command("show")
def show_command(
    source: InputArgument,
    at: AtOption = None,
    ascii_: AsciiOption = False,
    full: Annotated[bool, typer.Option("--full", help="Do not shorten long sub-expressions or values.")] = False,
) -> None:
    """Print INPUT's Wengert list: v₋₁, v₀ for the inputs, v₁ … v_N for the operations."""
    from .evaluate import evaluate_all
    from .render import output_lines, show_table

    if at:
        problem = load_problem(source, at)
        graph, values = problem.graph, evaluate_all(problem.graph, problem.values, problem.graph.nodes)
    else:
        graph, values = load_function(source, None)[0], None
    console = _stdout()
    console.print(show_table(graph, values, ascii=ascii_, full=full))
    for line in output_lines(graph, ascii=ascii_):
        console.print(line, markup=False)


EngineChoice = Annotated[
    str,
    typer.Option(
        "--engine",
        "-e",
        help="reverse, forward, symbolic, numeric, or all (the default: reverse, with the other three beside it).",
    ),
]
WrtOption = Annotated[
    Optional[str], typer.Option("--wrt", "-w", metavar="NAME,...", help="Differentiate with respect to these inputs only.")
]
MethodOption = Annotated[
    str, typer.Option("--method", help="Finite differences: richardson (default), central, forward or complex (step).")
]


def _names(text: str | None, graph) -> list[str] | None:
    """--wrt x1,x2 -> the names, checked against the graph's inputs."""
    from .errors import UnknownNameError, suggest

    if text is None:
        return None
    names = [name.strip() for name in text.split(",")]
    if not all(names):
        raise InputError(f"--wrt {text!r} has an empty name: give input names separated by commas")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise InputError(f"--wrt names {repeated[0]!r} twice")
    for name in names:
        if name not in graph.input_names:
            raise UnknownNameError(
                f"--wrt names {name!r}, which is not an input (inputs: {', '.join(graph.input_names) or 'none'})",
                hint=suggest(name, graph.input_names),
            )
    return names


@command("grad")
def grad_command(
    source: InputArgument,
    at: AtOption = None,
    at_file: AtFileOption = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed for randn(...) and rand(...) in --at values.")] = 0,
    engine: EngineChoice = "all",
    wrt: WrtOption = None,
    direction: Annotated[
        Optional[List[str]],
        typer.Option("--dir", metavar="NAME=VALUE,...", help="A direction: print the directional derivative (a JVP) along it."),
    ] = None,
    method: MethodOption = "richardson",
    as_json: JsonOption = False,
    ascii_: AsciiOption = False,
    full: Annotated[bool, typer.Option("--full", help="Show whole arrays.")] = False,
    save: Annotated[Optional[str], typer.Option("--save", metavar="FILE.npz", help="Write the value and every partial to an .npz file.")] = None,
) -> None:
    """The value and the gradient (the Jacobian for several outputs) of INPUT at a point."""
    from .compare import run_engines
    from .engines import ENGINE_NAMES
    from .errors import InputError
    from .render import engines_table, format_value, gradient_json, partial_label

    problem = load_problem(source, at, seed, at_file)
    graph = problem.graph
    names = _names(wrt, graph)
    if engine not in (*ENGINE_NAMES, "all"):
        raise InputError(f"unknown engine {engine!r}: use reverse, forward, symbolic, numeric or all")
    from .engines.numeric import METHODS

    if method not in METHODS:
        raise InputError(f"unknown method {method!r}: use {', '.join(METHODS)}")
    warn_nonfinite(problem)
    if direction:
        _directional(problem, names, direction, as_json)
        return
    engines = ENGINE_NAMES if engine == "all" else (engine,)
    runs = run_engines(graph, problem.values, engines, wrt=names, method=method)
    if any(node.prim.kink is not None for node in graph.nodes):  # only such ops have kinks
        from .checking import KINK, point_status

        special = point_status(graph, problem.values)
        if special is not None and special[0] == KINK:
            # Not a disagreement: at a kink there is no derivative to agree on.
            warn(f"not differentiable here: {special[1]}")
            for run in runs[1:]:
                run.agrees = None
    disagreeing = [run.name for run in runs[1:] if run.result is not None and run.agrees is False]
    if save:
        _save_npz(save, runs[0].result)
    if as_json:
        print_json(gradient_json(runs))
        if disagreeing:
            raise typer.Exit(1)
        return
    reference = runs[0].result
    import numpy as np

    from .render import array_table

    console = _stdout()
    for name, value in zip(reference.output_names, reference.values):
        console.print(f"{name} = {format_value(value, limit=10**9 if full else 8)}", markup=False)
    for output in reference.output_names:
        for name in reference.input_names:
            block = reference.jacobian[(output, name)]
            if np.ndim(block) == 0:
                console.print(f"{partial_label(output, name, ascii_)} = {format_value(block)}", markup=False)
            else:  # vectors and matrices as aligned tables
                console.print(array_table(block, digits=None if full else 6, full=full, title=f"{partial_label(output, name, ascii_)}  (shape {np.shape(block)})"))
    if len(runs) > 1:
        console.print()
        console.print(engines_table(runs, ascii=ascii_, full=full))
        if disagreeing:
            warn(f"{', '.join(disagreeing)} disagree{'s' if len(disagreeing) == 1 else ''} with {runs[0].name}")
    if disagreeing:
        raise typer.Exit(1)


def _save_npz(path: str, result) -> None:
    """The value(s) and every partial, keyed "y" and "dy/dx", written safely."""
    import io

    import numpy as np

    arrays = {name: np.asarray(value) for name, value in zip(result.output_names, result.values)}
    arrays.update({f"d{output}/d{name}": np.asarray(block) for (output, name), block in result.jacobian.items()})
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    write_output(path, buffer.getvalue())


def _directional(problem, names, direction, as_json) -> None:
    from .compare import directional
    from .render import format_value, to_json
    from .values import parse_at

    graph = problem.graph
    results = directional(graph, problem.values, parse_at(direction, origin="--dir"), names or graph.input_names)
    if as_json:
        values = problem.evaluate()
        print_json(
            {
                "value": to_json(values[0]) if len(values) == 1 else dict(zip(graph.output_names, map(to_json, values))),
                "directional_derivative": {output: to_json(pair[0]) for output, pair in results.items()},
                "reverse_dot_direction": {output: to_json(pair[1]) for output, pair in results.items()},
            }
        )
        return
    console = _stdout()
    for output, (along, dotted) in results.items():
        console.print(f"directional derivative of {output} (forward mode) = {format_value(along)}", markup=False)
        console.print(f"gradient · direction (reverse mode)  = {format_value(dotted)}", markup=False)


@command("jacobian")
def jacobian_command(
    source: InputArgument,
    at: AtOption = None,
    at_file: AtFileOption = None,
    engine: Annotated[Optional[str], typer.Option("--engine", "-e", help="forward, reverse, symbolic or numeric; by default forward when there are fewer input components than output components, reverse otherwise.")] = None,
    wrt: WrtOption = None,
    as_json: JsonOption = False,
    full: Annotated[bool, typer.Option("--full", help="Show whole matrices.")] = False,
    seed: Annotated[int, typer.Option("--seed", help="Seed for randn(...) and rand(...) in --at values.")] = 0,
) -> None:
    """The Jacobian of INPUT's outputs, by the cheaper AD mode for its shape."""
    from .engines import ENGINE_NAMES, run_engine
    from .render import array_table, partial_label, to_json

    problem = load_problem(source, at, seed, at_file)
    graph = problem.graph
    names = _names(wrt, graph) or graph.input_names
    inputs = sum(graph.input_named(name).size for name in names)
    outputs = sum(node.size for node in graph.outputs)
    if engine is None:
        engine = "forward" if inputs < outputs else "reverse"
        reason = f"{engine} mode: {inputs} input component{'s' * (inputs != 1)}, {outputs} output component{'s' * (outputs != 1)}"
    elif engine not in ENGINE_NAMES:
        raise InputError(f"unknown engine {engine!r}: use forward, reverse, symbolic or numeric")
    else:
        reason = f"{engine} (chosen with --engine)"
    result = run_engine(engine, graph, problem.values, wrt=names)
    if as_json:
        print_json(
            {
                "value": {name: to_json(value) for name, value in zip(result.output_names, result.values)},
                "jacobian": {out: {name: to_json(result.jacobian[(out, name)]) for name in result.input_names} for out in result.output_names},
                "engine": engine,
                "why": reason,
            }
        )
        return
    console = _stdout()
    console.print(f"engine: {reason}", markup=False)
    for out in result.output_names:
        for name in result.input_names:
            block = result.jacobian[(out, name)]
            console.print(array_table(block, digits=None if full else 6, full=full, title=f"{partial_label(out, name)}  (shape {block.shape})"))


@command("hessian")
def hessian_command(
    source: InputArgument,
    at: AtOption = None,
    at_file: AtFileOption = None,
    engine: Annotated[str, typer.Option("--engine", "-e", help="forward (forward-over-reverse, the default), symbolic, or numeric (finite differences of the gradient).")] = "forward",
    wrt: WrtOption = None,
    direction: Annotated[Optional[List[str]], typer.Option("--dir", metavar="NAME=VALUE,...", help="Print the Hessian-vector product H v instead of H.")] = None,
    as_json: JsonOption = False,
    full: Annotated[bool, typer.Option("--full", help="Show whole matrices.")] = False,
    seed: Annotated[int, typer.Option("--seed", help="Seed for randn(...) and rand(...) in --at values.")] = 0,
) -> None:
    """The Hessian of INPUT's (scalar) output, and whether it is symmetric to rounding."""
    from .engines.second import hessian, hessian_vector
    from .render import array_table, format_value, hessian_json, to_json
    from .values import parse_at

    problem = load_problem(source, at, seed, at_file)
    graph = problem.graph
    names = _names(wrt, graph) or graph.input_names
    if direction:
        vector = parse_at(direction, origin="--dir", seed=seed)
        for name in vector:
            if name not in names:
                raise InputError(f"--dir gives a component for {name!r}, which is not an input differentiated here")
        missing = [name for name in names if name not in vector]
        if missing:
            raise InputError(f"--dir has no component for {missing[0]!r}")
        product = hessian_vector(graph, problem.values, vector, names)
        if as_json:
            print_json({"value": to_json(problem.evaluate()[0]), "hessian_vector_product": {name: to_json(value) for name, value in product.items()}})
            return
        for name, value in product.items():
            _stdout().print(f"(H v) for {name} = {format_value(value, limit=10**9 if full else 8)}", markup=False)
        return
    result = hessian(graph, problem.values, names, engine)
    if as_json:
        print_json(hessian_json(result, result.value))
        return
    console = _stdout()
    console.print(f"{graph.output_names[0]} = {format_value(result.value)}", markup=False)
    console.print(f"engine: {result.engine}", markup=False)
    for first in names:
        for second in names:
            block = result.blocks[(first, second)]
            console.print(array_table(block, digits=None if full else 6, full=full, title=f"∂²/∂{first}∂{second}  (shape {block.shape})"))
    asymmetry = result.asymmetry()
    verdict = "symmetric to rounding" if asymmetry <= 1e-12 else "NOT symmetric"
    console.print(f"{verdict}: largest |H - Hᵀ| is {asymmetry:.2g} of the largest entry", markup=False)


def load_function(source: str, at):
    """INPUT's graph built with the shapes of whatever values are given (all, some or
    none; they may also shadow pi and e), and those values."""
    from .program import parse_program
    from .values import parse_at

    given = parse_at(at) if at else {}
    text, origin = read_source(source)
    graph = parse_program(text, origin, given=given.keys(), shapes={name: value.shape for name, value in given.items()})
    return graph, given


def one_input(graph, wrt: str | None, purpose: str, candidates: list[str] | None = None) -> str:
    """The one input --wrt names, or the only candidate when --wrt is left out."""
    names = _names(wrt, graph)
    if names:
        if len(names) != 1:
            raise InputError(f"{purpose}: give one name to --wrt")
        return names[0]
    candidates = graph.input_names if candidates is None else candidates
    if len(candidates) != 1:
        from .errors import UnknownNameError

        choices = " or --wrt ".join(graph.input_names) if graph.input_names else "NAME (this function has no inputs)"
        raise UnknownNameError(f"{purpose}: say which input with --wrt {choices}")
    return candidates[0]


def output_node(graph, output: str | None):
    """The output --output names (None for the first)."""
    if output is None:
        return None
    if output not in graph.output_names:
        from .errors import UnknownNameError, suggest

        raise UnknownNameError(f"no output named {output!r} (outputs: {', '.join(graph.output_names)})", hint=suggest(output, graph.output_names))
    return graph.outputs[graph.output_names.index(output)]


@command("diff")
def diff_command(
    source: InputArgument,
    wrt: WrtOption = None,
    order: Annotated[int, typer.Option("--order", "-n", min=1, max=10, help="Differentiate this many times.")] = 1,
    latex: Annotated[bool, typer.Option("--latex", help="Print LaTeX.")] = False,
    at: AtOption = None,
    output: Annotated[Optional[str], typer.Option("--output", "-o", help="Which output to differentiate (the first by default).")] = None,
) -> None:
    """The symbolic derivative of INPUT, simplified; large ones name their shared parts."""
    from .engines.symbolic import derivative
    from .printer import with_lets

    # --at is optional here: values give the inputs' shapes and may shadow pi and e.
    graph, _ = load_function(source, at)
    names = _names(wrt, graph) or [one_input(graph, None, "differentiate with respect to which input")]
    target = output_node(graph, output)
    console = _stdout()
    for name in names:
        node = derivative(graph, name, order, target)
        lets, expression = with_lets(node, latex=latex)
        if len(names) > 1:
            power = "" if order == 1 else f"^{order}"
            console.print(f"# d{power}/d{name}{power}", markup=False)
        for let_name, let_expression in lets:
            console.print(f"{let_name} = {let_expression}", markup=False)
        console.print(expression, markup=False)


def _unicode_ok() -> bool:
    """Whether standard output can show v̇₋₁; if not, traces fall back to ASCII."""
    encoding = getattr(sys.stdout, "encoding", None) or "ascii"
    try:
        "v̇₋₁ v̄₀ ∂ × −".encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True


@command("trace")
def trace_command(
    source: InputArgument,
    at: AtOption = None,
    at_file: AtFileOption = None,
    mode: Annotated[str, typer.Option("--mode", "-m", help="forward (primal and tangent traces) or reverse (primal and adjoint traces).")] = "forward",
    wrt: Annotated[Optional[str], typer.Option("--wrt", "-w", help="The input whose tangent is seeded with 1 (forward mode).")] = None,
    output_format: Annotated[str, typer.Option("--format", "-f", help="table, markdown, latex or json.")] = "table",
    ascii_: AsciiOption = False,
    precision: Annotated[int, typer.Option("--precision", "-p", min=1, max=17, help="Significant digits of the values.")] = 4,
    full: Annotated[bool, typer.Option("--full", help="Show array values in full.")] = False,
    output: Annotated[Optional[str], typer.Option("--output", "-o", help="Which output to trace (the first by default).")] = None,
) -> None:
    """The primal, tangent and adjoint trace tables of AD lectures, from the engines' own passes."""
    from .render import trace_json, trace_latex, trace_markdown, trace_tables
    from .trace import forward_trace, reverse_trace

    problem = load_problem(source, at, 0, at_file)
    graph = problem.graph
    if mode not in ("forward", "reverse"):
        raise InputError(f"unknown mode {mode!r}: use forward or reverse")
    if output_format not in ("table", "markdown", "latex", "json"):
        raise InputError(f"unknown format {output_format!r}: use table, markdown, latex or json")
    target = output_node(graph, output)
    if mode == "forward":
        name = one_input(graph, wrt, "a forward trace follows one input's tangent")
        traces = forward_trace(graph, problem.values, name, target)
    else:
        traces = reverse_trace(graph, problem.values, target)
    notation = "ascii" if ascii_ or not _unicode_ok() else "unicode"
    if output_format == "json":
        print_json(trace_json(traces))
    elif output_format == "latex":
        sys.stdout.write(trace_latex(traces, digits=precision, full=full) + "\n")
    elif output_format == "markdown":
        sys.stdout.write(trace_markdown(traces, notation, digits=precision, full=full))
    else:
        console = _stdout()
        for index, table in enumerate(trace_tables(traces, notation, digits=precision, full=full)):
            if index:
                console.print()
            console.print(table)


def write_output(path: str, data: bytes | str) -> None:
    from .files import atomic_write

    atomic_write(path, data.encode("utf-8") if isinstance(data, str) else data)


@command("graph")
def graph_command(
    source: InputArgument,
    at: AtOption = None,
    output_format: Annotated[str, typer.Option("--format", "-f", help="dot, mermaid, svg or png (svg and png need Graphviz).")] = "dot",
    output_file: Annotated[Optional[str], typer.Option("--output", "-o", help="Write to this file instead of standard output.")] = None,
    ascii_: AsciiOption = False,
) -> None:
    """Draw INPUT's computational graph; with --at, each node shows its value and adjoint."""
    from .drawing import render_with_graphviz, to_dot, to_mermaid

    if output_format not in ("dot", "mermaid", "svg", "png"):
        raise InputError(f"unknown format {output_format!r}: use dot, mermaid, svg or png")
    if at:
        problem = load_problem(source, at)
        graph, values = problem.graph, problem.values
    else:
        graph, values = load_function(source, None)[0], None
    if output_format == "mermaid":
        data: bytes | str = to_mermaid(graph, values, ascii_)
    else:
        data = to_dot(graph, values, ascii_)
        if output_format in ("svg", "png"):
            if output_format == "png" and output_file is None:
                raise InputError("a PNG is binary: give a file with -o graph.png")
            data = render_with_graphviz(data, output_format)
    if output_file is not None:
        write_output(output_file, data)
    elif isinstance(data, bytes):
        sys.stdout.buffer.write(data)
    else:
        sys.stdout.write(data)


@command("plot")
def plot_command(
    source: InputArgument,
    wrt: Annotated[Optional[str], typer.Option("--wrt", "-w", help="The input along the horizontal axis.")] = None,
    value_range: Annotated[str, typer.Option("--range", "-r", help="LOW:HIGH of that input.")] = "-3:3",
    at: AtOption = None,
    output_file: Annotated[Optional[str], typer.Option("--output", "-o", help="Save a PNG here (needs matplotlib: pip install 'dcalc[plot]').")] = None,
    width: Annotated[int, typer.Option("--width", min=10, max=400, help="Plot width in characters.")] = 72,
    height: Annotated[int, typer.Option("--height", min=4, max=200, help="Plot height in lines.")] = 20,
) -> None:
    """Plot INPUT and its derivative over a range, in the terminal or as a PNG."""
    import numpy as np

    from .drawing import sample, save_png, terminal_plot

    low_high = value_range.split(":")
    try:
        low, high = (float(part) for part in low_high)
    except ValueError:
        raise InputError(f"--range {value_range!r} is not LOW:HIGH, e.g. -3:3") from None
    if not (np.isfinite(low) and np.isfinite(high) and low < high):
        raise InputError(f"--range {value_range!r}: LOW must be less than HIGH, both finite")
    graph, given = load_function(source, at)
    free = [name for name in graph.input_names if name not in given]
    name = one_input(graph, wrt, "plot along which input", candidates=free)
    missing = [other for other in graph.input_names if other not in given and other != name]
    if missing:
        raise InputError(f"no value for the input {missing[0]!r}", hint="give the other inputs with --at")
    data = sample(graph, given, name, low, high, points=max(2 * width, 400))
    if output_file is not None:
        save_png(data, output_file)
        _stderr().print(f"wrote {output_file}", markup=False)
        return
    _stdout().print(terminal_plot(data, width, height))


@command("check")
def check_command(
    paths: Annotated[List[str], typer.Argument(metavar="PATH...", help="Sample files (.dcalc) and folders (searched recursively; folders named 'failing' are skipped unless named).")],
    as_json: JsonOption = False,
    junit: Annotated[Optional[str], typer.Option("--junit", metavar="FILE", help="Also write a JUnit XML report (the xunit2 shape pytest writes).")] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, help="Check files in this many processes.")] = 1,
    random_points: Annotated[int, typer.Option("--random", min=0, help="Also check every claim at this many seeded random points.")] = 0,
    seed: Annotated[int, typer.Option("--seed", help="Seed for --random.")] = 0,
    update: Annotated[bool, typer.Option("--update", help="Write the current values into the expected lines (exit 1 if any changed).")] = False,
    accept: Annotated[bool, typer.Option("--accept", help="With --update: exit 0 even when goldens changed.")] = False,
    allow_outside: Annotated[bool, typer.Option("--allow-outside", help="Let samples read data files outside their own folder.")] = False,
) -> None:
    """Run every check of the sample files: engines agree, goldens, claims. Exit 0 all
    pass, 1 a check failed, 2 a file could not be read."""
    from .checking import exit_status, find_samples, summary
    from .render import check_details, check_json, check_table, github_annotations, junit_xml

    files = find_samples(paths)
    if not files:
        raise InputError(f"no .dcalc files in {', '.join(paths)}")
    options = {"random_points": random_points, "seed": seed, "update": update, "allow_outside": allow_outside}
    reports = _run_checks(files, options, jobs)
    results = [result for report in reports for result in report.results]
    errors = [report for report in reports if report.error is not None]
    if junit:
        write_output(junit, junit_xml(reports))
    if os.environ.get("GITHUB_ACTIONS") == "true":
        sys.stdout.write(github_annotations(reports))
    for report in errors:
        report_error(report.error)
    if as_json:
        print_json(check_json(reports))
    else:
        console = _stdout()
        if results:
            console.print(check_table(results))
            for line in check_details(results):
                console.print(line, markup=False, style=None)
        for report in reports:
            for change in report.changes:
                console.print(f"updated {change}", markup=False)
        console.print(summary(results, len(errors)), markup=False)
    status = exit_status(reports)
    changed = any(report.changes for report in reports)
    if update and changed and not accept and status == 0:
        status = 1
    if status:
        raise typer.Exit(status)


def _run_checks(files, options, jobs):
    """Check each file, in parallel with -j; a progress bar on stderr for long runs
    when stderr is a terminal."""
    from functools import partial

    from .checking import check_file

    run = partial(check_file, **options)
    show_progress = sys.stderr.isatty() and len(files) > 3
    if jobs > 1 and len(files) > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(run, str(path)) for path in files]
            return _collect(futures, show_progress, lambda future: future.result())
    return _collect([str(path) for path in files], show_progress, run)


def _collect(items, show_progress: bool, finish):
    if not show_progress:
        return [finish(item) for item in items]
    from rich.progress import Progress

    reports = []
    with Progress(console=_stderr(), transient=True) as progress:
        task = progress.add_task("checking", total=len(items))
        for item in items:
            reports.append(finish(item))
            progress.advance(task)
    return reports


def version_callback(value: bool) -> None:
    if value:
        from . import __version__

        typer.echo(f"dcalc {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        Optional[bool], typer.Option("--version", callback=version_callback, is_eager=True, help="Print the version and exit.")
    ] = None,
) -> None:
    """dcalc: a derivative calculator and gradient checker."""


def main() -> None:
    # What is imported by now lives until exit: frozen, the cycle collector stops
    # walking it again and again while the command imports NumPy, Lark and rich
    # (10-15 ms of a one-shot `dcalc grad`).
    gc.freeze()
    # typer makes a click command of every registered command before it reads the
    # arguments (5 ms); `dcalc NAME ...` needs only NAME's (`dcalc --help` lists all).
    named = sys.argv[1] if len(sys.argv) > 1 else None
    every = list(app.registered_commands)
    chosen = [info for info in every if info.name == named]
    if chosen:
        app.registered_commands[:] = chosen
    try:
        app()
    finally:
        app.registered_commands[:] = every
