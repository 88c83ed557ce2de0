"""The command line: arguments in, library calls, renderers out.

Data goes to stdout; messages and warnings to stderr. A :class:`DcalcError`
ends the command with its message and exit status 2, never a traceback.

Start-up time matters here (a one-shot `dcalc grad` is mostly start-up), so
heavy modules are imported inside the commands that use them. There is no
``from __future__ import annotations``: typer resolves string annotations with
``eval`` twice per parameter when it builds the commands, 7 ms of every run.
"""

import contextlib
import errno
import functools
import gc
import os
import re
import sys
from pathlib import Path
from typing import Annotated, List, Optional

import typer

from .errors import DcalcError, InputError, counted

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
# I/O errors of the system, not of dcalc (a full disk, a failing or read-only device):
# said as such, exit 2. Any other OSError is taken for a bug.
SYSTEM_ERRORS = frozenset(getattr(errno, name) for name in ("ENOSPC", "EDQUOT", "EIO", "EFBIG", "EROFS") if hasattr(errno, name))
PROGRAM_SUFFIXES = re.compile(r"[\w./\\-]+\.(?:txt|wl|dcalc|prog)")

InputArgument = Annotated[
    str,
    typer.Argument(
        metavar="INPUT",
        help="An expression (\"ln(x1)+x1*x2-sin(x2)\"), a file holding an expression or a program, a sample file (.dcalc: its function, and its first point where --at gives no value), or - for standard input.",
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
PointsOption = Annotated[
    Optional[str],
    typer.Option(
        "--points",
        metavar="FILE",
        help="Many points at once: a .csv (one row per point; a header names the inputs), a .npy of rows, "
        "or an .npz of arrays whose first axis runs over the points. Prints a summary; --save writes every point.",
    ),
]
InputsOption = Annotated[
    Optional[str], typer.Option("--inputs", metavar="NAME,...", help="The inputs a --points file's columns hold, in order (a .csv without a header, a .npy).")
]
BackendOption = Annotated[
    str, typer.Option("--backend", metavar="NAME", help="numpy (the CPU, the default) or cupy (a GPU; pip install 'dcalc\\[gpu]').")
]
StrictOption = Annotated[
    bool, typer.Option("--strict", help="A value or derivative that is not finite (ln(-1), 1/0, sqrt at 0) is an error (exit 2), not a warning.")
]
MemoryOption = Annotated[
    str, typer.Option("--memory", metavar="SIZE", help="Working memory the engines may use before they split the work into chunks: 512M, 2G, ...")
]


def parse_memory(text: str) -> int:
    """512M, 2G, 100k, 1e9 (bytes) -> a number of bytes."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][0-9]+)?)\s*([kKmMgGtT]?)[iI]?[bB]?\s*", text)
    if not match:
        raise InputError(f"--memory {text!r} is not a size: write 512M, 2G or a number of bytes")
    number = float(match.group(1)) * 1024 ** " kmgt".index(match.group(2).lower() or " ")
    if number < 1024 * 1024:
        raise InputError(f"--memory {text!r} is less than 1M: too little to work in")
    return int(number)


def _stderr():
    from rich.console import Console

    return Console(stderr=True, markup=False, highlight=False, emoji=False, soft_wrap=True)


# Output going to a file or a pipe is not squeezed into 80 columns (rich's default
# there): tables of long numbers stay one line per row. COLUMNS still rules.
PIPED_WIDTH = 200


def _stdout():
    from rich.console import Console

    width = None
    if "COLUMNS" not in os.environ and not sys.stdout.isatty():
        width = PIPED_WIDTH
    return Console(markup=False, highlight=False, emoji=False, soft_wrap=True, width=width)


def report_error(error: DcalcError) -> None:
    _stderr().print(error.render(), style="red", markup=False)


def warn(message: str) -> None:
    _stderr().print(f"warning: {message}", style="yellow", markup=False)


LONG_OPTION = re.compile(r"--[A-Za-z][A-Za-z0-9-]+(?:=.*)?", re.DOTALL)
SHORT_OPTION = re.compile(r"-[A-Za-z]")
# What a short option cluster never holds and an expression after a minus often does
# ("-sinh(x)", "-a*x"): click would read -s -i -n -h, and -h is --help.
EXPRESSION_CHARACTERS = frozenset("()[]^*/+-,. ")
# What no value of an option holds: "-exp(x)" is an expression, "-r-1:1" is --range -1:1.
ONLY_IN_EXPRESSIONS = frozenset("(*^")


class Command(typer.core.TyperCommand):
    """A command that takes an argument starting with '-' that is no option ("-x^2",
    "--x1") as INPUT, yet refuses a misspelt long option (--asci) by name, with the
    closest ones, when INPUT is given elsewhere on the line, instead of calling it
    an unexpected extra argument."""

    def parse_args(self, ctx, args):
        takes_value = {}
        for param in self.get_params(ctx):
            if param.param_type_name == "option":
                for name in (*param.opts, *param.secondary_opts):
                    takes_value[name] = not (param.is_flag or param.count)
        unknown, positional, kept, expressions, letters = [], 0, [], [], []
        tokens = iter(args)
        for token in tokens:
            if token == "--":
                rest = list(tokens)
                positional += len(rest)
                kept += [token, *rest]
                break
            name = token.split("=", 1)[0]
            if name in takes_value:
                kept.append(token)
                if takes_value[name] and "=" not in token:
                    kept += [value for value in [next(tokens, None)] if value is not None]  # its value, whatever it looks like
            elif LONG_OPTION.fullmatch(token):
                unknown.append(name)
                kept.append(token)
            else:
                positional += 1
                if SHORT_OPTION.fullmatch(token):  # "-o": an option, or the expression -o
                    letters.append(token)
                (expressions if _negated_expression(token, takes_value) else kept).append(token)
        if letters and positional > 1:  # with INPUT given too, "-o" was meant as an option
            ctx.fail(f"no such option: {letters[0]}")
        if unknown and positional:  # INPUT is given elsewhere: these are meant as options
            from difflib import get_close_matches

            close = get_close_matches(unknown[0], [known for known in takes_value if known.startswith("--")], n=3, cutoff=0.6)
            ctx.fail(f"no such option: {unknown[0]}" + (f" (did you mean {' or '.join(close)}?)" if close else ""))
        if expressions:  # after "--", where nothing is read as an option
            args = kept + ([] if "--" in kept else ["--"]) + expressions
        return super().parse_args(ctx, args)


def _negated_expression(token: str, takes_value: dict) -> bool:
    """Whether a token that starts with one '-' is an expression ("-sinh(x)", "-a*x"), not
    short options ("-wx,y", "-oout.png", "-r-1:1": an option with its value attached)."""
    if token[:1] != "-" or token[1:2] == "-" or "=" in token:
        return False
    if takes_value.get(token[:2]):
        return not ONLY_IN_EXPRESSIONS.isdisjoint(token[2:])
    return not EXPRESSION_CHARACTERS.isdisjoint(token[1:])


def command(name: str, **options):
    """Register a command whose dcalc errors become a message and exit status 2.
    An argument that starts with '-' but is no option ("-x^2") is taken as INPUT."""
    options.setdefault("context_settings", {"ignore_unknown_options": True})
    options.setdefault("cls", Command)

    def register(function):
        @functools.wraps(function)
        def run(*args, **kwargs):
            files = sys.modules.get(f"{__package__}.files")
            if files is not None:  # what an earlier command (in this process) read is not this one's
                files.forget_reads()
            try:
                return function(*args, **kwargs)
            except DcalcError as error:
                report_error(error)
                raise typer.Exit(EXIT_BAD_INPUT) from None
            except MemoryError:
                _stderr().print("error: not enough memory for this input (with --memory, a smaller budget makes the engines work in smaller chunks)", style="red", markup=False)
                raise typer.Exit(EXIT_BAD_INPUT) from None
            except RecursionError:
                _stderr().print("error: the input is nested too deeply", style="red", markup=False)
                raise typer.Exit(EXIT_BAD_INPUT) from None
            except (typer.Exit, typer.Abort, KeyboardInterrupt, BrokenPipeError):
                raise
            except Exception as error:  # a bug in dcalc: say so plainly, without a traceback
                if os.environ.get("DCALC_DEBUG"):
                    raise
                if isinstance(error, OSError) and error.errno in SYSTEM_ERRORS:  # not a bug: the system's trouble
                    where = f" ({error.filename})" if error.filename else ""
                    _stderr().print(f"error: {error.strerror}{where}", style="red", markup=False)
                    raise typer.Exit(EXIT_BAD_INPUT) from None
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
    path = Path(argument) if "\n" not in argument and len(argument) < 4096 else None  # else an expression
    if path is not None and _path_is(path, Path.is_file):
        try:
            data = path.read_bytes()
        except OSError as error:
            raise InputError(f"cannot read {argument}: {error.strerror}") from None
        from .files import note_read

        note_read(path)
        if not PROGRAM_SUFFIXES.fullmatch(argument) and "/" not in argument:
            # An expression that happens to name a file: say which was read.
            note(f"reading the file {argument} (write ./{argument} to silence this, or rename the file)")
        return _decode(data, argument), argument
    if PROGRAM_SUFFIXES.fullmatch(argument):
        raise InputError(f"no such file: {argument}")
    if path is not None and "/" in argument and _path_is(path, Path.is_dir):
        raise InputError(f"{argument} is a folder, not a file or an expression")
    return argument, "<expression>"


def _path_is(path: Path, test) -> bool:
    """Whether ``test`` (Path.is_file, Path.is_dir) holds of the path INPUT may name."""
    try:
        return test(path)
    except OSError:  # a name too long for the file system is an expression
        return False


def _decode(data: bytes, origin: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputError(f"{origin} is not UTF-8 text: byte 0x{data[error.start]:02x} at offset {error.start}") from None


def note(message: str) -> None:
    _stderr().print(f"note: {message}", style="dim", markup=False)


def build_input(source: str, values: dict):
    """INPUT's graph, built with the names and shapes of ``values``, and the values.
    A sample file (.dcalc) gives its function, and its first point the values that
    ``values`` leaves out (a note says which)."""
    from .parser import is_sample
    from .program import parse_program

    text, origin = read_source(source)
    if not is_sample(text):
        return parse_program(text, origin, given=values.keys(), shapes={name: value.shape for name, value in values.items()}), values
    from .checking import function_graph, parse_sample

    folder = Path(origin).resolve().parent if origin not in ("<stdin>", "<expression>") else Path.cwd()
    sample = parse_sample(text, origin, folder)
    point = sample.points[0]
    missing = [name for name in point.values if name not in values]
    if missing:
        note(f"values of {', '.join(missing)} from the point '{point.name}' of {origin} (line {point.line}); --at gives others")
        values = {**{name: point.values[name] for name in missing}, **values}
    return function_graph(sample, values), values


def given_values(at, seed: int, at_file: str | None, one_point: bool = True) -> dict:
    """The values --at and --at-file give (a name given by both is an error). With
    ``one_point``, an .npz whose arrays look like rows of points gets a note."""
    from .values import load_point_file, parse_at

    values = parse_at(at, seed=seed) if at else {}
    if at_file:
        from_file = load_point_file(at_file)
        leading = {value.shape[:1] for value in from_file.values()}
        if one_point and Path(at_file).suffix.lower() == ".npz" and len(from_file) > 1 and len(leading) == 1 and next(iter(leading)):
            note(f"{at_file} is read as one point (its arrays as the inputs' values); for one point per row, use --points {at_file}")
        for name, value in from_file.items():
            if name in values:
                raise InputError(f"{name!r} is given a value twice (in --at and in {at_file})")
            values[name] = value
    return values


def load_problem(source: str, at, seed: int = 0, at_file: str | None = None):
    from .api import bind

    problem = bind(*build_input(source, given_values(at, seed, at_file)))
    for message in problem.warnings:
        warn(message)
    return problem


# Files that can only hold many points (rows), whichever option names them.
POINT_SUFFIXES = (".csv", ".npy")


def points_file(points: str | None, at_file: str | None) -> str | None:
    """The file of many points: --points, or an --at-file that can only hold rows."""
    if at_file and Path(at_file).suffix.lower() in POINT_SUFFIXES:
        if points:
            raise InputError(f"give the points once: --points {points} or --at-file {at_file}")
        return at_file
    return points


def load_batch(source: str, at, seed: int, at_file: str | None, points_path: str, inputs: str | None):
    """INPUT's graph, the file of points, and the values every point shares."""
    import numpy as np

    from .evaluation import check_inputs
    from .points import read_points

    values = given_values(at, seed, at_file if at_file != points_path else None, one_point=False)
    names = None if inputs is None else [name.strip() for name in inputs.split(",")]
    points = read_points(points_path, names)
    for name in points.shapes:
        if name in values:
            raise InputError(f"{name!r} is given a value twice (in --at and in {points_path})")
    shaped = {**values, **{name: np.zeros(shape) for name, shape in points.shapes.items()}}
    graph, given = build_input(source, shaped)
    inputs_named = ", ".join(graph.input_names) or "none"
    unused = [name for name in points.shapes if name not in graph.input_names]
    arrays = points_path.lower().endswith(".npz")  # named arrays; other files have columns
    kind = "array" if arrays else "column"
    if graph.input_names and len(unused) == len(points.shapes):
        raise InputError(
            f"{points_path} gives none of the inputs of this function ({inputs_named}): its {kind}s are {', '.join(unused)}",
            hint="name its arrays after the inputs" if arrays else "name the columns after the inputs in a header line, or name them in order with --inputs",
        )
    for name in unused:
        warn(f"{points_path} has a{'n' * arrays} {kind} {name!r}, which is not an input of this function (inputs: {inputs_named})")
    _, warnings = check_inputs(graph, {name: value for name, value in given.items() if name not in points.shapes or name in graph.input_names})
    for message in warnings:
        warn(message)
    shared = {name: given[name] for name in graph.input_names if name not in points.shapes}
    return graph, points, shared


def run_points(graph, points, shared, engines, names, method: str, memory: int, save: str | None, xp=None):
    """Every engine at every point, with a progress bar on a terminal, written to --save."""
    from .points import Writer, result_columns, run_batch

    writer = Writer(save, result_columns(graph, points, engines, names), points.count) if save is not None else None
    try:
        with progress_bar(f"{points.count} points", points.count, sys.stderr.isatty()) as advance:
            report = run_batch(graph, points, shared, engines, names, method, memory, writer=writer, progress=advance, xp=xp)
    except BaseException:
        if writer is not None:
            writer.discard()
        raise
    if writer is not None:
        writer.close()
    return report


def print_batch(report, as_json: bool, ascii_: bool, strict: bool = False) -> None:
    from .render import batch_json, batch_lines, batch_table

    if as_json:
        print_json(batch_json(report))
    else:
        console = _stdout()
        console.print(batch_table(report, ascii=ascii_))
        for line in batch_lines(report, ascii_):
            console.print(line, markup=False)
    for found, count, first, what in (
        (report.where_nonfinite, report.nonfinite, report.first_nonfinite, "are not finite"),
        (report.where_zero_times_infinity, report.zero_times_infinity, report.first_zero_times_infinity, "take 0·∞ as 0 (not compared between engines)"),
    ):
        if found is not None and strict:
            found.message = f"{count} of {counted(report.count, 'point')} {what}; at the first (point {first[0]}): {found.message}"
            raise found
        if found is not None and not as_json:
            _stderr().print(found.render("warning", f"at point {first[0]}, "), style="yellow", markup=False)


def report_problem(problem, strict: bool, derivatives: bool = True, wrt=None, result=None, outputs=None):
    """The first trouble at the point (a value that is not finite, an ill-conditioned
    operation, with ``derivatives`` a derivative that is not finite; ``result``: an
    engine's result already at hand; ``outputs``: those looked at, all by default): a
    warning, or with --strict an error (exit 2). Returns it."""
    found = problem.problem(outputs, wrt=wrt, derivatives=result) if derivatives else problem.nonfinite_report(outputs)
    if found is not None:
        if strict:
            found.hint = found.hint or "an error because of --strict; without it, a warning"
            raise found
        _stderr().print(found.render("warning"), style="yellow", markup=False)
    return found


def problem_json(found) -> dict:
    """For --json: {"not_finite": where a NaN or infinity arose (message, line,
    sub-expression)}, or nothing when none did."""
    if found is None:
        return {}
    span = found.span
    return {"not_finite": {"message": found.message, "line": span.line if span else None, "column": span.column if span else None, "expression": span.snippet if span else None}}


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
    points: PointsOption = None,
    inputs: InputsOption = None,
    memory: MemoryOption = "512M",
    save: Annotated[Optional[str], typer.Option("--save", "-o", metavar="FILE", help="With --points: write every point's inputs and values (.npz or .csv).")] = None,
    backend: BackendOption = "numpy",
    strict: StrictOption = False,
) -> None:
    """Evaluate INPUT at a point (or, with --points, at many)."""
    from .backend import array_module, to_device, to_host
    from .engines import all_finite
    from .evaluation import evaluate
    from .render import format_value, to_json

    xp = array_module(backend)
    budget = parse_memory(memory)  # checked at one point too, where it is not needed
    many = points_file(points, at_file)
    if many:
        graph, source_points, shared = load_batch(source, at, seed, at_file, many, inputs)
        print_batch(run_points(graph, source_points, shared, (), None, "richardson", budget, save, xp), as_json, False, strict)
        return
    if save is not None:
        raise InputError("eval --save writes the values at many points: give them with --points")
    problem = load_problem(source, at, seed, at_file)
    values = [to_host(value) for value in evaluate(problem.graph, to_device(problem.values, xp), xp=xp)]
    # Where a NaN or infinity arose is searched for only when there is one.
    found = None if all_finite(values) else report_problem(problem, strict, derivatives=False)
    names = problem.graph.output_names
    if as_json:
        value = to_json(values[0]) if len(values) == 1 else {name: to_json(item) for name, item in zip(names, values)}
        print_json({"value": value, **problem_json(found)})
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
    save: Annotated[Optional[str], typer.Option("--save", "-o", metavar="FILE", help="Write the list to FILE instead of standard output.")] = None,
) -> None:
    """Print INPUT's Wengert list: v₋₁, v₀ for the inputs, v₁ … v_N for the operations."""
    from .evaluation import evaluate_all
    from .render import output_lines, print_table, show_table

    if at:
        problem = load_problem(source, at)
        graph, values = problem.graph, evaluate_all(problem.graph, problem.values, problem.graph.nodes)
    else:
        graph, values = load_function(source, None)[0], None
    with _saved_to(save):
        console = _stdout()
        print_table(console, show_table(graph, values, ascii=ascii_, full=full))
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
    save: Annotated[
        Optional[str], typer.Option("--save", "-o", metavar="FILE", help="Write the value and every partial to an .npz file (with --points: .npz or .csv, every point).")
    ] = None,
    points: PointsOption = None,
    inputs: InputsOption = None,
    memory: MemoryOption = "512M",
    backend: BackendOption = "numpy",
    strict: StrictOption = False,
) -> None:
    """The value and the gradient (the Jacobian for several outputs) of INPUT at a point, or at many.

    With --points: a summary over the points, and every point's with --save."""
    from .backend import array_module, to_device

    from .compare import run_engines
    from .engines import ENGINE_NAMES
    from .engines.numeric import METHODS
    from .render import block_table, engines_table, format_value, gradient_json, partial_label

    if engine not in (*ENGINE_NAMES, "all"):
        raise InputError(f"unknown engine {engine!r}: use reverse, forward, symbolic, numeric or all")
    if method not in METHODS:
        raise InputError(f"unknown method {method!r}: use {', '.join(METHODS)}")
    budget = parse_memory(memory)
    xp = array_module(backend)
    engines = ENGINE_NAMES if engine == "all" else (engine,)
    many = points_file(points, at_file)
    if many:
        if direction:
            raise InputError("--dir takes one point: give it with --at, not --points")
        graph, source_points, shared = load_batch(source, at, seed, at_file, many, inputs)
        report = run_points(graph, source_points, shared, engines, _names(wrt, graph), method, budget, save, xp)
        print_batch(report, as_json, ascii_, strict)
        if not report.agrees:
            raise typer.Exit(1)
        return
    problem = load_problem(source, at, seed, at_file)
    graph = problem.graph
    names = _names(wrt, graph)
    if direction:
        if save is not None:
            raise InputError("--save writes the value and every partial; --dir prints one directional derivative: give one of them")
        report_problem(problem, strict, wrt=names)
        if engine != "all":
            note(f"--dir takes forward mode's J v and reverse mode's gradient {'.' if ascii_ else '·'} v; --engine {engine} is not used")
        _directional(problem, names, direction, as_json, ascii_)
        return
    _warn_of_passes(graph, engine, names, method)
    runs = run_engines(graph, to_device(problem.values, xp), engines, wrt=names, method=method, memory=budget, xp=xp)
    found = report_problem(problem, strict, wrt=names, result=runs[0].result)
    from .diagnose import kink_status

    kink = kink_status(graph, problem.values, problem.trace, runs[0].result)
    if kink is not None:
        warn(f"not differentiable here: {kink}")
    if kink is not None or runs[0].result.zero_times_infinity:
        # Not a disagreement: at a kink, or where the chain rule took 0·∞ as 0, there
        # is no derivative the engines could be held to.
        for run in runs[1:]:
            run.agrees = None
    disagreeing = [run.name for run in runs[1:] if run.result is not None and run.agrees is False]
    if save is not None:
        _save_npz(save, runs[0].result)
    if as_json:
        print_json({**gradient_json(runs), **problem_json(found)})
        if disagreeing:
            raise typer.Exit(1)
        return
    reference = runs[0].result
    import numpy as np

    console = _stdout()
    for name, value in zip(reference.output_names, reference.values):
        console.print(f"{name} = {format_value(value, limit=10**9 if full else 8, ascii=ascii_)}", markup=False)
    for output in reference.output_names:
        for name in reference.input_names:
            block = reference.jacobian[(output, name)]
            if np.ndim(block) == 0:
                console.print(f"{partial_label(output, name, ascii_)} = {format_value(block, ascii=ascii_)}", markup=False)
            else:  # vectors and matrices as aligned tables
                console.print(block_table(partial_label(output, name, ascii_), block, full, ascii_))
    if not reference.input_names:
        note("this function has no inputs, so it has no partials to compare")
    elif len(runs) > 1:
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

    from .files import check_target
    from .render import partial_label

    check_target(path, (".npz",), option="--save at one point")
    arrays = {name: np.asarray(value) for name, value in zip(result.output_names, result.values)}
    arrays.update({partial_label(output, name, ascii=True): np.asarray(block) for (output, name), block in result.jacobian.items()})
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    write_output(path, buffer.getvalue())


def _directional(problem, names, direction, as_json, ascii_: bool = False) -> None:
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
        console.print(f"directional derivative of {output} (forward mode) = {format_value(along, ascii=ascii_)}", markup=False)
        console.print(f"gradient {'.' if ascii_ else '·'} direction (reverse mode)  = {format_value(dotted, ascii=ascii_)}", markup=False)


def _warn_of_passes(graph, engine: str, names, method: str) -> None:
    """A note, before the wait, where forward mode or finite differences alone must make
    more passes than a comparison would let them (one per input component)."""
    from .compare import LONG_WORK, PROJECTION_COUNT, jacobian_work, passes_of
    from .engines import resolve

    outputs, _, wrt_nodes = resolve(graph, None, names)
    if jacobian_work(graph, engine, wrt_nodes, outputs, method) > LONG_WORK:
        components = sum(node.size for node in wrt_nodes)
        note(
            f"{engine} mode makes a pass per input component: {components:,} of them, {passes_of(engine, wrt_nodes, method):,} evaluations in all, which may take long; "
            f"reverse mode gives the gradient in one pass, and --engine all checks {engine} mode along {PROJECTION_COUNT} random directions"
        )


def _scalar_matrix(console, blocks: dict, rows: list[str], columns: list[str], title: str, full: bool, ascii_: bool):
    """The blocks (by (row, column) name) as one labelled matrix where every one is a
    scalar and the matrix fits the terminal; None otherwise (squeezed, its numbers
    would lose digits: the caller shows a block at a time instead)."""
    import numpy as np

    from .render import labelled_matrix

    if not all(np.ndim(block) == 0 for block in blocks.values()):
        return None
    entries = [[blocks[(row, column)] for column in columns] for row in rows]
    table = labelled_matrix(entries, columns, digits=None if full else 10, title=title, ascii=ascii_, rows=rows)
    return None if console.measure(table, options=console.options.update_width(10**6)).maximum > console.width else table


@command("jacobian")
def jacobian_command(
    source: InputArgument,
    at: AtOption = None,
    at_file: AtFileOption = None,
    engine: Annotated[Optional[str], typer.Option("--engine", "-e", help="forward, reverse, symbolic or numeric; by default forward when there are fewer input components than output components, reverse otherwise.")] = None,
    wrt: WrtOption = None,
    as_json: JsonOption = False,
    full: Annotated[bool, typer.Option("--full", help="Show whole matrices.")] = False,
    ascii_: AsciiOption = False,
    seed: Annotated[int, typer.Option("--seed", help="Seed for randn(...) and rand(...) in --at values.")] = 0,
    memory: MemoryOption = "512M",
    backend: BackendOption = "numpy",
    strict: StrictOption = False,
) -> None:
    """The Jacobian of INPUT's outputs, by the cheaper AD mode for its shape."""
    from .backend import array_module, result_to_host, to_device
    from .engines import ENGINE_NAMES, run_engine

    from .render import block_table, partial_label, to_json

    problem = load_problem(source, at, seed, at_file)
    graph = problem.graph
    names = _names(wrt, graph) or graph.input_names
    inputs = sum(graph.input_named(name).size for name in names)
    outputs = sum(node.size for node in graph.outputs)
    if engine is None:
        engine = "forward" if inputs < outputs else "reverse"
        reason = f"{engine} mode: {counted(inputs, 'input component')}, {counted(outputs, 'output component')}"
    elif engine not in ENGINE_NAMES:
        raise InputError(f"unknown engine {engine!r}: use forward, reverse, symbolic or numeric")
    else:
        reason = f"{engine} (chosen with --engine)"
    xp = array_module(backend)
    result = result_to_host(run_engine(engine, graph, to_device(problem.values, xp), wrt=names, xp=xp, memory=parse_memory(memory)))
    found = report_problem(problem, strict, wrt=names, result=result)
    if as_json:
        print_json(
            {
                "value": {name: to_json(value) for name, value in zip(result.output_names, result.values)},
                "jacobian": {out: {name: to_json(result.jacobian[(out, name)]) for name in result.input_names} for out in result.output_names},
                "engine": engine,
                "why": reason,
                **problem_json(found),
            }
        )
        return
    console = _stdout()
    console.print(f"engine: {reason}", markup=False)
    # Scalars: one matrix, outputs by inputs.
    matrix = _scalar_matrix(console, result.jacobian, result.output_names, result.input_names, partial_label("(row)", "(column)", ascii_), full, ascii_)
    if matrix is not None:
        console.print(matrix)
        return
    for out in result.output_names:
        for name in result.input_names:
            console.print(block_table(partial_label(out, name, ascii_), result.jacobian[(out, name)], full, ascii_))


@command("hessian")
def hessian_command(
    source: InputArgument,
    at: AtOption = None,
    at_file: AtFileOption = None,
    engine: Annotated[str, typer.Option("--engine", "-e", help="forward (forward-over-reverse, the default), symbolic, or numeric (finite differences of the gradient).")] = "forward",
    wrt: WrtOption = None,
    direction: Annotated[Optional[List[str]], typer.Option("--dir", metavar="NAME=VALUE,...", help="Print the Hessian-vector product H v instead of H.")] = None,
    output: Annotated[Optional[str], typer.Option("--output", help="Which output (the first by default).")] = None,
    as_json: JsonOption = False,
    full: Annotated[bool, typer.Option("--full", help="Show whole matrices, every digit.")] = False,
    ascii_: AsciiOption = False,
    seed: Annotated[int, typer.Option("--seed", help="Seed for randn(...) and rand(...) in --at values.")] = 0,
    backend: BackendOption = "numpy",
    strict: StrictOption = False,
) -> None:
    """The Hessian of INPUT's (scalar) output, and whether it is symmetric to rounding."""
    from .backend import array_module, to_device
    from .compare import check_direction
    from .engines.second import hessian, hessian_vector
    import numpy as np

    from .render import block_table, format_value, hessian_json, mixed_label, to_json
    from .values import parse_at

    problem = load_problem(source, at, seed, at_file)
    graph = problem.graph
    names = _names(wrt, graph) or graph.input_names
    target, output = chosen_output(graph, output, "differentiates")
    report_problem(problem, strict, wrt=names, outputs=[target])

    def warn_of_kinks():
        from .diagnose import at_their_kinks, ops_at_kinks

        kinks = ops_at_kinks(graph, problem.values, problem.trace, names, outputs=[target])
        if kinks:  # even where the gradient exists (abs(x)*x at 0), its own slope jumps
            warn(f"the Hessian may not exist here: {at_their_kinks(kinks)}, where second derivatives jump")

    xp = array_module(backend)
    if direction:
        vector = parse_at(direction, origin="--dir", seed=seed)
        check_direction(graph, vector, names, origin="--dir")
        product = hessian_vector(graph, to_device(problem.values, xp), vector, names, output=target, xp=xp)
        warn_of_kinks()
        value = problem.evaluate()[graph.outputs.index(target)]
        if as_json:
            print_json({"value": to_json(value), "engine": "forward-over-reverse", "hessian_vector_product": {name: to_json(value) for name, value in product.items()}})
            return
        console = _stdout()
        console.print(f"{output} = {format_value(value)}", markup=False)
        console.print(f"H v, the Hessian of {output} times the direction v given by --dir:", markup=False)
        for name, value in product.items():
            console.print(f"  (H v) for {name} = {format_value(value, limit=10**9 if full else 8)}", markup=False)
        return
    result = hessian(graph, to_device(problem.values, xp), names, engine, output=target, xp=xp)
    warn_of_kinks()
    if as_json:
        print_json(hessian_json(result, result.value))
        return
    console = _stdout()
    console.print(f"{output} = {format_value(result.value, ascii=ascii_)}")
    console.print(f"engine: {result.engine}")
    matrix = _scalar_matrix(console, result.blocks, names, names, mixed_label(output, "(row)", "(column)", ascii_), full, ascii_)
    if matrix is not None:
        console.print(matrix)
    else:
        for first in names:
            for second in names:
                block = result.blocks[(first, second)]
                console.print(block_table(mixed_label(output, first, second, ascii_), block, full, ascii_, digits=10 if np.shape(block) == () else 6))
    asymmetry = result.asymmetry()
    verdict = "symmetric to rounding" if asymmetry <= 1e-12 else "NOT symmetric"
    transposed = "H - H^T" if ascii_ else "H - Hᵀ"
    console.print(f"{verdict}: largest |{transposed}| is {asymmetry:.2g} of the largest entry")


def load_function(source: str, at):
    """INPUT's graph built with the shapes of whatever values are given (all, some or
    none; they may also shadow pi and e), and those values."""
    from .errors import ShapeError
    from .values import parse_at

    given = parse_at(at) if at else {}
    try:
        return build_input(source, given)
    except ShapeError as error:
        if error.hint is None and "()" in str(error.args[0]):
            error.hint = "an input given no value with --at is taken to be a number; give vectors and matrices values: --at x=[1,2,3],W=randn(2,3)"
        raise


def one_input(graph, wrt: str | None, purpose: str, candidates: list[str] | None = None) -> str:
    """The one input --wrt names, or the only candidate when --wrt is left out."""
    names = _names(wrt, graph)
    if names:
        if len(names) != 1:
            raise InputError(f"{purpose}: give one name to --wrt")
        return names[0]
    candidates = graph.input_names if candidates is None else candidates
    if not graph.input_names:
        raise InputError(f"{purpose}: this function has no inputs, so it has no derivatives")
    if len(candidates) != 1:
        raise InputError(f"{purpose}: say which input with --wrt {' or --wrt '.join(candidates or graph.input_names)}")
    return candidates[0]


def output_node(graph, output: str | None):
    """The output --output names (None for the first)."""
    if output is None:
        return None
    if output not in graph.output_names:
        from .errors import UnknownNameError, suggest

        raise UnknownNameError(f"no output named {output!r} (outputs: {', '.join(graph.output_names)})", hint=suggest(output, graph.output_names))
    return graph.outputs[graph.output_names.index(output)]


def chosen_output(graph, output: str | None, doing: str, option: str = "--output picks another"):
    """The output --output names, or the first, with a note naming the others when
    there are several ("this traces the output a; --output picks another (b)"), and its name."""
    node = output_node(graph, output)
    if node is None:
        node = graph.outputs[0]
        if len(graph.outputs) > 1:
            note(f"this {doing} the output {graph.output_names[0]}; {option} ({', '.join(graph.output_names[1:])})")
    return node, graph.output_names[graph.outputs.index(node)]


@command("diff")
def diff_command(
    source: InputArgument,
    wrt: WrtOption = None,
    order: Annotated[int, typer.Option("--order", "-n", min=1, max=10, help="Differentiate this many times.")] = 1,
    latex: Annotated[bool, typer.Option("--latex", help="Print LaTeX.")] = False,
    plain: Annotated[
        bool, typer.Option("--plain", help="Print text in dcalc's language, which parses back (arrays print in matrix notation otherwise).")
    ] = False,
    at: AtOption = None,
    output: Annotated[Optional[str], typer.Option("--output", help="Which output to differentiate (the first by default).")] = None,
    full: Annotated[bool, typer.Option("--full", help="Print a derivative however long it is.")] = False,
    save: Annotated[Optional[str], typer.Option("--save", "-o", metavar="FILE", help="Write the whole derivative to FILE; print only its size.")] = None,
) -> None:
    """The symbolic derivative of INPUT, simplified; large ones name their shared parts.

    Derivatives of array programs print in matrix notation (A x, Aᵀ, ⊙, Σ₁) with the
    program's own names for its values; --plain prints text that parses back. One too
    long to read is summarised (--full prints it, --save writes it)."""
    from .engines.symbolic import derivative
    from .printer import matrix_lines, with_lets
    from .render import derivative_size, partial_label

    if latex and plain:
        raise InputError("--latex and --plain are two ways of printing: give one")
    # --at is optional here: values give the inputs' shapes and may shadow pi and e.
    graph, _ = load_function(source, at)
    _refuse_output_as_file(save, graph, "the derivative", "differentiates")
    names = _names(wrt, graph) or [one_input(graph, None, "differentiate with respect to which input")]
    target, output_name = chosen_output(graph, output, "differentiates")
    for name in names:
        shape = graph.input_named(name).shape
        if order > 1 and shape != ():
            raise InputError(
                f"diff --order {order} differentiates with respect to a number, but {name} has shape {shape}",
                hint="dcalc hessian gives every second derivative of a scalar function of arrays",
            )
    nodes = [derivative(graph, name, order, target) for name in names]
    lines: list[str] = []
    matrix = not plain and any(node.shape != () for node in graph.ancestors([target]))
    if matrix and not (latex or _unicode_ok()):
        note("standard output takes no Unicode, so this is plain text (--plain) rather than matrix notation")
        matrix = False
    if matrix:
        labels = [partial_label(output_name, name, order=order, latex=latex) for name in names]
        lines = list(matrix_lines(nodes, labels, latex=latex))
    else:
        for name, node in zip(names, nodes):
            lets, expression = with_lets(node, latex=latex)
            if len(names) > 1:
                power = "" if order == 1 else f"^{order}"
                lines.append(f"# d{power}/d{name}{power}")
            lines += [f"{let_name} = {let_expression}" for let_name, let_expression in lets] + [expression]
    _print_long(lines, lambda: derivative_size(nodes), full, save)
    if order == 2 and len(names) > 1:
        note(f"these are ∂²/∂{names[0]}² and the like; dcalc hessian gives the mixed ones too (∂²/∂{names[0]}∂{names[1]})")


# A derivative longer than this is summarised rather than printed (megabytes help nobody).
SHOWN_CHARACTERS = 20_000
SHOWN_LINES = 12
SHOWN_LINE = 300  # characters of one shown line


def _shortened(line: str) -> str:
    if len(line) <= SHOWN_LINE:
        return line
    return f"{line[:SHOWN_LINE]} … ({len(line) - SHOWN_LINE} more characters)"


def _print_long(lines: list[str], size, full: bool, save: str | None) -> None:
    """The lines, or with ``save`` their size (``size()`` describes the derivative:
    worked out only for these messages)."""
    console = _stdout()
    characters = sum(len(line) + 1 for line in lines)
    if save is not None:
        write_output(save, "\n".join(lines) + "\n")
        console.print(f"# {size()}; {counted(len(lines), 'line')}, {counted(characters, 'character')} written to {save}", markup=False)
        return
    if full or characters <= SHOWN_CHARACTERS:
        for line in lines:
            console.print(line, markup=False)
        return
    console.print(f"# {size()}; written out it takes {counted(len(lines), 'line')}, {counted(characters, 'character')}: the first and last {SHOWN_LINES // 2} lines", markup=False)
    console.print("# (--full prints them all, --save FILE writes them)", markup=False)
    for line in lines[: SHOWN_LINES // 2]:
        console.print(_shortened(line), markup=False)
    if len(lines) > SHOWN_LINES:
        console.print(f"# ... {len(lines) - SHOWN_LINES} lines left out ...", markup=False)
    for line in lines[max(SHOWN_LINES // 2, len(lines) - SHOWN_LINES // 2) :]:
        console.print(_shortened(line), markup=False)


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
    output: Annotated[Optional[str], typer.Option("--output", help="Which output to trace (the first by default).")] = None,
    save: Annotated[Optional[str], typer.Option("--save", "-o", metavar="FILE", help="Write the trace to FILE instead of standard output.")] = None,
) -> None:
    """The primal, tangent and adjoint trace tables of AD lectures, from the engines' own passes."""
    from .render import print_table, trace_json, trace_latex, trace_markdown, trace_tables
    from .trace import forward_trace, reverse_trace

    problem = load_problem(source, at, 0, at_file)
    graph = problem.graph
    if mode not in ("forward", "reverse"):
        raise InputError(f"unknown mode {mode!r}: use forward or reverse")
    if output_format not in ("table", "markdown", "latex", "json"):
        raise InputError(f"unknown format {output_format!r}: use table, markdown, latex or json")
    _refuse_output_as_file(save, graph, "the trace", "traces")
    target, _ = chosen_output(graph, output, "traces")
    from .graph import gc_paused

    with gc_paused():  # a long program's trace makes millions of objects and no garbage cycles
        if mode == "forward":
            name = one_input(graph, wrt, "a forward trace follows one input's tangent")
            if graph.input_named(name).shape != ():
                note(f"{name} is an array: its tangent is seeded with ones, so the trace follows the derivative along all of its components at once (dcalc grad gives each partial)")
            report_problem(problem, False, wrt=[name], outputs=[target])
            traces = forward_trace(graph, problem.values, name, target)
        else:
            report_problem(problem, False, outputs=[target])
            traces = reverse_trace(graph, problem.values, target)
        notation = "ascii" if ascii_ or not (save or _unicode_ok()) else "unicode"  # a saved file is UTF-8
        with _saved_to(save):
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
                    print_table(console, table)


def _refuse_output_as_file(save: str | None, graph, what: str, doing: str) -> None:
    """Refuse --save NAME where NAME is one of the program's outputs and no file name
    (-o once picked an output): --output NAME does that."""
    if save is not None and save in graph.output_names and "." not in save:
        raise InputError(f"-o {save} writes {what} to a file named {save!r}, which is an output of the program", hint=f"--output {save} {doing} that output (-o is --save)")


@contextlib.contextmanager
def _saved_to(path: str | None):
    """What is printed to standard output inside, written to ``path`` instead (at the
    end, atomically), with a note saying so; nothing changes where path is None."""
    if path is None:
        yield
        return
    import io

    from .files import check_target

    check_target(path)  # before the work, not after it
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        yield
    text = "\n".join(line.rstrip() for line in buffer.getvalue().split("\n"))  # a table's padding
    write_output(path, text)
    _stderr().print(f"wrote {path}", markup=False)


def write_output(path: str, data: bytes | str) -> None:
    from .files import atomic_write

    atomic_write(path, data.encode("utf-8") if isinstance(data, str) else data)


@command("graph")
def graph_command(
    source: InputArgument,
    at: AtOption = None,
    output_format: Annotated[str, typer.Option("--format", "-f", help="dot, mermaid, svg or png (svg and png need Graphviz).")] = "dot",
    output_file: Annotated[Optional[str], typer.Option("--save", "-o", metavar="FILE", help="Write to this file instead of standard output.")] = None,
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
                raise InputError("a PNG is binary: give a file with --save graph.png")
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
    output_file: Annotated[Optional[str], typer.Option("--save", "-o", metavar="FILE", help="Save a PNG here (needs matplotlib: pip install 'dcalc\\[plot]').")] = None,
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
    target, _ = chosen_output(graph, None, "plots", option="the others are not drawn")
    data = sample(graph, given, name, low, high, points=max(2 * width, 400), output=target)
    if output_file is not None:
        save_png(data, output_file)
        _stderr().print(f"wrote {output_file}", markup=False)
        return
    console = _stdout()
    console.print(terminal_plot(data, width, height, colour=console.color_system is not None))


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
    strict: Annotated[bool, typer.Option("--strict", help="A point where a value or derivative is not finite fails, rather than being reported apart.")] = False,
) -> None:
    """Run every check of the sample files: engines agree, goldens, claims.

    Exit status: 0 all pass, 1 a check failed, 2 a file could not be read."""
    from .checking import exit_status, find_samples, summary
    from .render import check_details, check_json, check_table, github_annotations, junit_xml

    if accept and not update:
        raise InputError("--accept goes with --update: it lets an update that changed goldens exit 0")
    files = find_samples(paths)
    if not files:
        raise InputError(f"no .dcalc files in {', '.join(paths)}")
    from .files import note_read

    for file in files:  # read in other processes with -j: --junit must not replace one
        note_read(file)
    options = {"random_points": random_points, "seed": seed, "update": update, "allow_outside": allow_outside, "strict": strict}
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
    from .graph import end_start_up

    end_start_up()  # the files are parsed one by one, some in other processes: start-up is over
    run = partial(check_file, **options)
    show_progress = sys.stderr.isatty() and len(files) > 3
    if jobs > 1 and len(files) > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(run, str(path)) for path in files]
            return _collect(futures, show_progress, lambda future: future.result())
    return _collect([str(path) for path in files], show_progress, run)


def _collect(items, show_progress: bool, finish):
    reports = []
    with progress_bar("checking", len(items), show_progress) as advance:
        for item in items:
            reports.append(finish(item))
            advance(1)
    return reports


@contextlib.contextmanager
def progress_bar(label: str, total: int, shown: bool):
    """``advance(n)`` for a transient rich progress bar on stderr (a no-op unless ``shown``)."""
    if not shown:
        yield lambda count: None
        return
    from rich.progress import Progress

    with Progress(console=_stderr(), transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda count: bar.advance(task, count)


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
    # What is imported by now (typer) lives until exit: frozen, the collector's
    # passes skip it. A command then starts with the collector paused until its
    # input is parsed (graph.pause_start_up), and later passes skip what that made.
    gc.freeze()
    # typer makes a click command of every registered command before it reads the
    # arguments (5 ms); `dcalc NAME ...` needs only NAME's (`dcalc --help` lists all).
    named = sys.argv[1] if len(sys.argv) > 1 else None
    every = list(app.registered_commands)
    chosen = [info for info in every if info.name == named]
    if chosen:
        app.registered_commands[:] = chosen
        from .graph import end_start_up, pause_start_up

        pause_start_up()
    try:
        app()
    finally:
        app.registered_commands[:] = every
        if chosen:
            end_start_up()
