"""The command line: arguments in, library calls, renderers out.

Data goes to stdout; messages and warnings to stderr. A :class:`DcalcError`
ends the command with its message and exit status 2, never a traceback.
"""

from __future__ import annotations

import functools
import json
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
AsciiOption = Annotated[bool, typer.Option("--ascii", help="Write v_-1 instead of v₋₁.")]


def _stderr():
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def _stdout():
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def report_error(error: DcalcError) -> None:
    _stderr().print(error.render(), style="red", markup=False)


def warn(message: str) -> None:
    _stderr().print(f"warning: {message}", style="yellow", markup=False)


def command(name: str, **options):
    """Register a command whose dcalc errors become a message and exit status 2."""

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
    if "\n" not in argument and len(argument) < 4096 and path.is_file():
        try:
            data = path.read_bytes()
        except OSError as error:
            raise InputError(f"cannot read {argument}: {error.strerror}") from None
        return _decode(data, argument), argument
    if PROGRAM_SUFFIXES.fullmatch(argument):
        raise InputError(f"no such file: {argument}")
    return argument, "<expression>"


def _decode(data: bytes, origin: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputError(f"{origin} is not UTF-8 text: byte 0x{data[error.start]:02x} at offset {error.start}") from None


def load_problem(source: str, at):
    from .api import load

    text, origin = read_source(source)
    problem = load(text, at or (), origin)
    for message in problem.warnings:
        warn(message)
    return problem


def warn_nonfinite(problem) -> None:
    report = problem.nonfinite_report()
    if report is not None:
        _stderr().print(report.render().replace("domain error:", "warning:", 1), style="yellow", markup=False)


def print_json(data) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


# ---- commands ---------------------------------------------------------------------


@command("eval")
def eval_command(source: InputArgument, at: AtOption = None, as_json: JsonOption = False) -> None:
    """Evaluate INPUT at a point."""
    from .render import format_value, to_json

    problem = load_problem(source, at)
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
    from .program import parse_program
    from .render import output_lines, show_table

    if at:
        problem = load_problem(source, at)
        graph, values = problem.graph, evaluate_all(problem.graph, problem.values, problem.graph.nodes)
    else:
        text, origin = read_source(source)
        graph, values = parse_program(text, origin), None
    console = _stdout()
    console.print(show_table(graph, values, ascii=ascii_, full=full))
    for line in output_lines(graph, ascii=ascii_):
        console.print(line, markup=False)


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
    app()
